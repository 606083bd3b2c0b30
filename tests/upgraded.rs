//! Framing without the HTTP/1.1 handshake: `Connection::from_upgraded_*`
//! (both roles, leftover bytes, timers, subprotocol, permessage-deflate),
//! the public deflate negotiation, and the RFC 8441 extended CONNECT
//! helpers on header lists as HTTP/2 clients send them (lower-case names,
//! pseudo-headers first; RFC 8441 §5.1's example).

mod common;
use common::*;
use hybi::handshake::h2::{ConnectError, ConnectRequest};
use hybi::{Accept, Config, Connection, Instant, MessageKind, Negotiated, Role, State, UsageError};

fn upgraded(role: Role, config: Config, negotiated: Negotiated) -> Connection {
    match role {
        Role::Server => Connection::from_upgraded_server(config, negotiated, NOW),
        Role::Client => {
            Connection::from_upgraded_client(config, negotiated, CountingEntropy(7), NOW)
        }
    }
    .unwrap()
}

// ---- from_upgraded ----

#[test]
fn starts_open_and_frames_at_once_in_both_roles() {
    for role in [Role::Server, Role::Client] {
        let mut conn = upgraded(role, Config::default(), Negotiated::new());
        assert_eq!(conn.state(), State::Open);
        assert_eq!(conn.role(), role);
        assert_eq!(conn.subprotocol(), None);
        // Nothing queued: no handshake bytes of our own.
        assert_eq!(take_output(&mut conn).0, b"");
        conn.send_text("hi").unwrap();
        let (out, _) = take_output(&mut conn);
        assert_eq!(decode_frames(&out), vec![(0x81, b"hi".to_vec())]);
        // A client masks, a server does not (RFC 6455 §5.1).
        assert_eq!(out[1] & 0x80 != 0, role == Role::Client);
        let events = feed_chunks(&mut conn, &text_frame(role, true, b"yo"), 1);
        assert_eq!(merge(events), vec![text("yo")]);
    }
}

#[test]
fn leftover_bytes_are_frames_in_any_chunking() {
    // What hyper may have read past the 101: two frames and half a third.
    let input = cat(&[
        text_frame(Role::Server, true, b"one"),
        binary_frame(Role::Server, true, b"two"),
        close_frame(Role::Server, Some(1000), b""),
    ]);
    let outcome = feed_all_ways(
        || upgraded(Role::Server, Config::default(), Negotiated::new()),
        &input,
    );
    assert_eq!(
        outcome.events,
        vec![
            text("one"),
            binary(b"two"),
            close(1000, ""),
            closed_clean(1000)
        ]
    );
}

#[test]
fn subprotocol_is_reported() {
    let conn = upgraded(
        Role::Client,
        Config::default(),
        Negotiated::new().with_subprotocol("chat"),
    );
    assert_eq!(conn.subprotocol(), Some("chat"));
}

#[test]
fn a_client_masks_with_its_entropy_a_server_does_not_mask() {
    let mut client = Connection::from_upgraded_client(
        Config::default(),
        Negotiated::new(),
        CountingEntropy(0x10),
        NOW,
    )
    .unwrap();
    let mut server =
        Connection::from_upgraded_server(Config::default(), Negotiated::new(), NOW).unwrap();
    client.send(MessageKind::Binary, b"x", true).unwrap();
    server.send(MessageKind::Binary, b"x", true).unwrap();
    let (from_client, _) = take_output(&mut client);
    let (from_server, _) = take_output(&mut server);
    // RFC 6455 §5.3: the client's frame carries its key (from the entropy),
    // the server's none.
    assert_eq!(&from_client[..6], &[0x82, 0x81, 0x10, 0x11, 0x12, 0x13]);
    assert_eq!(from_server, [0x82, 0x01, b'x']);
}

#[test]
fn no_handshake_deadline_keepalive_from_now() {
    let mut config = Config::default();
    config.keepalive_interval = Some(core::time::Duration::from_secs(10));
    let start = Instant::from_micros(5_000_000);
    let mut conn = Connection::from_upgraded_server(config, Negotiated::new(), start).unwrap();
    // The next deadline is the keepalive, 10 s after `now`, not the 30 s
    // handshake deadline.
    assert_eq!(conn.poll_timeout(), Some(Instant::from_micros(15_000_000)));
    conn.handle_timeout(Instant::from_micros(15_000_000));
    let frames = decode_frames(&take_output(&mut conn).0);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 0x89, "a keepalive Ping");
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use hybi::DeflateConfig;

    fn config() -> Config {
        let mut config = Config::default();
        config.deflate = Some(DeflateConfig::default());
        config
    }

    #[test]
    fn negotiated_on_both_sides_then_round_trips() {
        // The server negotiates the client's offer with the public API; the
        // client checks the answer with the public API; both engines start
        // from what they agreed.
        let client_config = DeflateConfig::default();
        let offer = client_config.offer();
        let (server_params, answer) = DeflateConfig::default()
            .negotiate([offer.as_str()])
            .unwrap();
        let client_params = client_config
            .verify_answer([answer.as_str()])
            .unwrap()
            .unwrap();
        let mut server = upgraded(
            Role::Server,
            config(),
            Negotiated::new().with_deflate(server_params),
        );
        let mut client = upgraded(
            Role::Client,
            config(),
            Negotiated::new().with_deflate(client_params),
        );
        assert_eq!(server.deflate(), Some(server_params));
        let message = "a compressible message, a compressible message, again and again".repeat(4);
        client.send_text(&message).unwrap();
        let (wire, _) = take_output(&mut client);
        assert!(wire.len() < message.len(), "compressed on the wire");
        assert_eq!(wire[0] & 0x40, 0x40, "RSV1 set");
        let events = merge(feed_chunks(&mut server, &wire, 7));
        assert_eq!(events, vec![text(&message)]);
    }

    #[test]
    fn deflate_params_need_a_deflate_config() {
        let (params, _) = DeflateConfig::default()
            .negotiate(["permessage-deflate"])
            .unwrap();
        let err = Connection::from_upgraded_server(
            Config::default(),
            Negotiated::new().with_deflate(params),
            NOW,
        )
        .unwrap_err();
        assert_eq!(err, UsageError::DeflateNotConfigured);
    }

    #[test]
    fn public_negotiation_declines_and_fails_as_the_http1_path() {
        let deflate = DeflateConfig::default();
        // A server declines what it cannot read (RFC 7692 §7) ...
        assert_eq!(deflate.negotiate(["permessage-deflate; bogus"]), None);
        assert_eq!(deflate.negotiate(["x-webkit-deflate-frame"]), None);
        // ... and a client fails on an answer it did not allow (§7.1).
        assert!(deflate
            .verify_answer(["permessage-deflate; server_max_window_bits"])
            .is_err());
        assert_eq!(deflate.verify_answer(["other-extension"]), Ok(None));
    }
}

// ---- RFC 8441 extended CONNECT ----

/// RFC 8441 §5.1's example request, as an HTTP/2 stack decodes it.
const RFC8441_REQUEST: [(&str, &str); 9] = [
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "https"),
    (":path", "/chat"),
    (":authority", "server.example.com"),
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate"),
    ("sec-websocket-version", "13"),
    ("origin", "http://www.example.com"),
];

/// A decoded HEADERS list.
type HeaderList = Vec<(&'static str, &'static str)>;

/// RFC 8441 §5.1's request with `change` applied: `Some(value)` replaces
/// (or appends) `name`, `None` removes it.
fn with(change: &[(&'static str, Option<&'static str>)]) -> HeaderList {
    let mut list: Vec<(&str, &str)> = RFC8441_REQUEST.to_vec();
    for &(name, value) in change {
        match (list.iter().position(|(n, _)| *n == name), value) {
            (Some(i), Some(v)) => list[i].1 = v,
            (Some(i), None) => {
                list.remove(i);
            }
            (None, Some(v)) => list.push((name, v)),
            (None, None) => {}
        }
    }
    list
}

#[test]
fn rfc8441_example_is_valid() {
    let request = ConnectRequest::parse(RFC8441_REQUEST).unwrap();
    assert_eq!(request.scheme(), "https");
    assert_eq!(request.authority(), "server.example.com");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), None);
    assert_eq!(request.origin(), Some("http://www.example.com"));
    assert_eq!(
        request.subprotocols().collect::<Vec<_>>(),
        ["chat", "superchat"]
    );
    assert_eq!(
        request.extensions().collect::<Vec<_>>(),
        ["permessage-deflate"]
    );
    assert_eq!(request.header("Sec-WebSocket-Version"), Some("13"));
}

/// The RFC 8441 example's header list size as RFC 9113 §6.5.2 counts it:
/// name + value + 32 per field, pseudo-headers included.
fn list_size(list: &[(&str, &str)]) -> usize {
    list.iter().map(|(n, v)| n.len() + v.len() + 32).sum()
}

#[test]
fn the_handshake_limits_hold_for_http2_as_for_http1() {
    let request = ConnectRequest::parse(RFC8441_REQUEST).unwrap();
    let exact = list_size(&RFC8441_REQUEST);
    let mut config = Config::default();
    // At the limit: accepted; one byte under it: 431.
    config.max_handshake_size = exact;
    assert_eq!(request.check_limits(config.handshake_settings()), Ok(()));
    config.max_handshake_size = exact - 1;
    let error = request
        .check_limits(config.handshake_settings())
        .unwrap_err();
    assert_eq!(error, ConnectError::TooLarge);
    assert_eq!(error.http_status(), 431);
    // Four regular fields: at most four allowed, not three.
    config.max_handshake_size = exact;
    config.max_headers = 4;
    assert_eq!(request.check_limits(config.handshake_settings()), Ok(()));
    config.max_headers = 3;
    assert_eq!(
        request.check_limits(config.handshake_settings()),
        Err(ConnectError::TooLarge)
    );
    // The defaults hold a long cookie out.
    let cookie = "c".repeat(20_000);
    let long = with(&[("cookie", Some(Box::leak(cookie.into_boxed_str())))]);
    let request = ConnectRequest::parse(long).unwrap();
    assert_eq!(
        request.check_limits(Config::default().handshake_settings()),
        Err(ConnectError::TooLarge)
    );
}

#[test]
fn rfc8441_example_answer() {
    // RFC 8441 §5.1: ":status = 200", "sec-websocket-protocol = chat".
    let request = ConnectRequest::parse(RFC8441_REQUEST).unwrap();
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = None;
    }
    let answer = request
        .accept(
            &Accept::new().subprotocol("chat"),
            config.handshake_settings(),
        )
        .unwrap();
    assert_eq!(
        answer.headers().collect::<Vec<_>>(),
        [(":status", "200"), ("sec-websocket-protocol", "chat")]
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.negotiated().subprotocol(), Some("chat"));
    // Never Sec-WebSocket-Accept (RFC 8441 §5).
    assert!(answer.headers().all(|(n, _)| n != "sec-websocket-accept"));
}

#[cfg(feature = "deflate")]
#[test]
fn rfc8441_answer_negotiates_deflate_as_http1() {
    let request = ConnectRequest::parse(with(&[(
        "sec-websocket-extensions",
        Some("permessage-deflate; client_max_window_bits"),
    )]))
    .unwrap();
    let mut config = Config::default();
    config.deflate = Some(hybi::DeflateConfig::default());
    let answer = request
        .accept(
            &Accept::new().header("X-Trace", "1"),
            config.handshake_settings(),
        )
        .unwrap();
    // The same element the HTTP/1.1 path would answer.
    let (params, element) = hybi::DeflateConfig::default()
        .negotiate(["permessage-deflate; client_max_window_bits"])
        .unwrap();
    assert_eq!(
        answer.headers().collect::<Vec<_>>(),
        [
            (":status", "200"),
            ("sec-websocket-extensions", element.as_str()),
            ("x-trace", "1"),
        ]
    );
    assert_eq!(answer.negotiated().deflate(), Some(params));
    let conn = Connection::from_upgraded_server(config, answer.into_negotiated(), NOW).unwrap();
    assert_eq!(conn.deflate(), Some(params));
}

#[test]
fn answer_refuses_unoffered_subprotocol_and_reserved_headers() {
    let request = ConnectRequest::parse(RFC8441_REQUEST).unwrap();
    let config = Config::default();
    assert_eq!(
        request
            .accept(
                &Accept::new().subprotocol("mqtt"),
                config.handshake_settings()
            )
            .unwrap_err(),
        UsageError::SubprotocolNotOffered
    );
    for name in [
        "Connection",
        "upgrade",
        "sec-websocket-accept",
        "Transfer-Encoding",
        "bad name",
    ] {
        assert_eq!(
            request
                .accept(
                    &Accept::new().header(name, "x"),
                    config.handshake_settings()
                )
                .unwrap_err(),
            UsageError::InvalidHeader,
            "{name}"
        );
    }
    assert_eq!(
        request
            .accept(
                &Accept::new().header("x-a", "line\r\nbreak"),
                config.handshake_settings()
            )
            .unwrap_err(),
        UsageError::InvalidHeader
    );
    // An extension of the application's own may be answered, as on HTTP/1.1.
    let answer = request
        .accept(
            &Accept::new().header("Sec-WebSocket-Extensions", "x-mine"),
            config.handshake_settings(),
        )
        .unwrap();
    assert!(answer
        .headers()
        .any(|h| h == ("sec-websocket-extensions", "x-mine")));
}

#[test]
fn each_rule_has_its_error_and_status() {
    use ConnectError::*;
    let cases: Vec<(HeaderList, ConnectError, u16)> = vec![
        (with(&[(":method", Some("GET"))]), NotConnect, 400),
        (with(&[(":method", Some("connect"))]), NotConnect, 400),
        (with(&[(":method", None)]), NotConnect, 400),
        (with(&[(":protocol", None)]), MissingProtocol, 400),
        (
            with(&[(":protocol", Some("webtransport"))]),
            UnsupportedProtocol,
            501,
        ),
        (with(&[(":scheme", None)]), MissingPseudoHeader, 400),
        (with(&[(":path", None)]), MissingPseudoHeader, 400),
        (with(&[(":path", Some(""))]), MissingPseudoHeader, 400),
        (with(&[(":authority", None)]), MissingPseudoHeader, 400),
        (with(&[(":scheme", Some("ws"))]), InvalidTarget, 400),
        (with(&[(":path", Some("*"))]), InvalidTarget, 400),
        (
            with(&[("sec-websocket-version", None)]),
            UnsupportedVersion,
            400,
        ),
        (
            with(&[("sec-websocket-version", Some("8"))]),
            UnsupportedVersion,
            400,
        ),
        // RFC 9113 §8.2.2: connection-specific fields make it malformed.
        (with(&[("connection", Some("upgrade"))]), Malformed, 400),
        (with(&[("upgrade", Some("websocket"))]), Malformed, 400),
        (with(&[("te", Some("gzip"))]), Malformed, 400),
        // RFC 9113 §8.2.1: upper case, bad values.
        (with(&[("Origin", Some("http://a"))]), Malformed, 400),
        (with(&[("x-a", Some(" padded"))]), Malformed, 400),
        (with(&[("x-a", Some("nul\0"))]), Malformed, 400),
        // RFC 9113 §8.3: order, duplicates, unknown pseudo-headers.
        (with(&[(":status", Some("200"))]), Malformed, 400),
    ];
    for (list, error, status) in cases {
        let got = ConnectRequest::parse(list.iter().copied()).unwrap_err();
        assert_eq!(got, error, "{list:?}");
        assert_eq!(got.http_status(), status, "{list:?}");
    }
    // A pseudo-header after a regular one, and a repeated one.
    let mut late = RFC8441_REQUEST.to_vec();
    late.push((":path", "/again"));
    assert_eq!(ConnectRequest::parse(late).unwrap_err(), Malformed);
    let mut twice = RFC8441_REQUEST.to_vec();
    twice.insert(1, (":method", "CONNECT"));
    assert_eq!(ConnectRequest::parse(twice).unwrap_err(), Malformed);
    // Two version fields.
    let mut versions = RFC8441_REQUEST.to_vec();
    versions.push(("sec-websocket-version", "13"));
    assert_eq!(
        ConnectRequest::parse(versions).unwrap_err(),
        UnsupportedVersion
    );
    assert_eq!(
        UnsupportedVersion.response_headers(),
        &[("sec-websocket-version", "13")]
    );
}

#[test]
fn lenient_where_the_rfcs_are() {
    // :protocol is an upgrade token, compared case-insensitively; no key is
    // needed and one sent is ignored; http for ws://; a query is split off.
    let list = with(&[
        (":protocol", Some("WebSocket")),
        (":scheme", Some("http")),
        (":path", Some("/chat?room=1")),
        ("sec-websocket-key", Some("not even base64")),
        ("te", Some("trailers")),
        ("sec-websocket-protocol", Some("a b, ok")),
    ]);
    let request = ConnectRequest::parse(list).unwrap();
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(request.target(), "/chat?room=1");
    // Only token names are offers, as on HTTP/1.1.
    assert_eq!(request.subprotocols().collect::<Vec<_>>(), ["ok"]);
    // Minimal: no origin, no extensions, no subprotocols.
    let minimal = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/"),
        (":authority", "h"),
        ("sec-websocket-version", "13"),
    ];
    let request = ConnectRequest::parse(minimal).unwrap();
    assert_eq!(request.origin(), None);
    let answer = request
        .accept(&Accept::new(), Config::default().handshake_settings())
        .unwrap();
    assert_eq!(answer.headers().collect::<Vec<_>>(), [(":status", "200")]);
}

#[test]
fn rfc8441_stream_carries_rfc6455_frames() {
    // After the 200, both ends frame over the stream as over TCP.
    let request = ConnectRequest::parse(RFC8441_REQUEST).unwrap();
    let answer = request
        .accept(
            &Accept::new().subprotocol("superchat"),
            Config::default().handshake_settings(),
        )
        .unwrap();
    let mut server = upgraded(Role::Server, Config::default(), answer.into_negotiated());
    let mut client = upgraded(
        Role::Client,
        Config::default(),
        Negotiated::new().with_subprotocol("superchat"),
    );
    client.send(MessageKind::Binary, b"\x00\x01", true).unwrap();
    let (wire, _) = take_output(&mut client);
    let events = feed_chunks(&mut server, &wire, 3);
    assert_eq!(merge(events), vec![binary(b"\x00\x01")]);
    assert_eq!(server.subprotocol(), Some("superchat"));
}

// ---- the adapters' from_upgraded ----

/// A transport with canned input that records what is written.
#[cfg(feature = "std")]
struct Canned {
    input: std::io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}

#[cfg(feature = "std")]
/// No read timeouts: deadlines run when a read returns.
impl hybi::io::blocking::Transport for Canned {}

impl std::io::Read for Canned {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

#[cfg(feature = "std")]
impl std::io::Write for Canned {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "std")]
#[test]
fn blocking_from_upgraded_reads_leftover_first() {
    use hybi::io::blocking::WebSocket;
    use hybi::io::Message;
    // Leftover larger than the adapter's 64 KiB read chunk.
    let big = vec![7u8; 100_000];
    let leftover = cat(&[
        binary_frame(Role::Server, true, &big),
        text_frame(Role::Server, true, b"first"),
    ]);
    let stream = Canned {
        input: std::io::Cursor::new(cat(&[
            text_frame(Role::Server, true, b"second"),
            close_frame(Role::Server, Some(1000), b""),
        ])),
        output: Vec::new(),
    };
    let mut ws = WebSocket::from_upgraded(
        stream,
        Role::Server,
        Config::default(),
        Negotiated::new().with_subprotocol("chat"),
        &leftover,
    )
    .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    assert_eq!(ws.read().unwrap(), Some(Message::Text("first".into())));
    assert_eq!(ws.read().unwrap(), Some(Message::Text("second".into())));
    assert!(matches!(ws.read().unwrap(), Some(Message::Close(_))));
    assert_eq!(ws.read().unwrap(), None);
    assert!(ws.closed().unwrap().clean);
    // The Close reply, unmasked from a server.
    let frames = decode_frames(&ws.get_ref().output);
    assert_eq!(frames, vec![(0x88, vec![0x03, 0xe8])]);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_from_upgraded_client_masks_and_reads_leftover_first() {
    use hybi::io::tokio::WebSocketStream;
    use hybi::io::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    let leftover = text_frame(Role::Client, true, b"early");
    let mut ws = WebSocketStream::from_upgraded(
        ours,
        Role::Client,
        Config::default(),
        Negotiated::new(),
        &leftover,
    )
    .unwrap();
    let deadline = std::time::Duration::from_secs(10);
    tokio::time::timeout(deadline, async {
        theirs
            .write_all(&text_frame(Role::Client, true, b"late"))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("early".into())
        );
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("late".into())
        );
        ws.send(Message::Text("hi".into())).await.unwrap();
        let mut frame = [0u8; 2 + 4 + 2];
        theirs.read_exact(&mut frame).await.unwrap();
        assert_eq!(frame[0], 0x81);
        assert_eq!(frame[1], 0x80 | 2, "a client masks (RFC 6455 §5.3)");
        let key = [frame[2], frame[3], frame[4], frame[5]];
        assert_eq!([frame[6] ^ key[0], frame[7] ^ key[1]], *b"hi");
    })
    .await
    .expect("deadline");
}
