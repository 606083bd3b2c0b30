//! RFC 6455 §4: the opening handshake, through the `Connection` only, in
//! both roles: the server reading requests and answering them (§4.2), the
//! client writing its request and checking the answer (§4.1), version
//! negotiation (§4.4), and a client and a server talking to each other.
//! Every vector comes from /work/shared/rfc/VECTORS.md or the RFC text.

mod common;
use common::*;
use hybi::{
    accept_key, Accept, ClientRequest, CloseCode, Config, Connection, Entropy, Event, MessageKind,
    OsEntropy, ProtocolError, ProtocolError::*, Reject, Role, State, UsageError,
};

// ---- helpers ----

/// The lines of the RFC 6455 §1.2 request (RFC_REQUEST), for variants.
const RFC_LINES: [&str; 8] = [
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
];

/// The full 101 of VECTORS.md's example exchange (RFC 6455 §1.3).
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";

/// §5.7: a masked text frame "Hello" (key 37 fa 21 3d), as a client sends it.
const MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

/// §5.7: an unmasked text frame "Hello", as a server sends it.
const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];

/// An HTTP head from its lines: each ends with CRLF, then an empty line.
fn head(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The RFC request with the line starting with `prefix` replaced by `line`,
/// or removed with `None`.
fn rfc_with(prefix: &str, line: Option<&str>) -> Vec<u8> {
    assert!(
        RFC_LINES.iter().any(|l| l.starts_with(prefix)),
        "no line starts with {prefix}"
    );
    let lines: Vec<&str> = RFC_LINES
        .iter()
        .filter_map(|l| {
            if l.starts_with(prefix) {
                line
            } else {
                Some(*l)
            }
        })
        .collect();
    head(&lines)
}

/// The RFC request with extra header lines before its empty line.
fn rfc_plus(extra: &[&str]) -> Vec<u8> {
    let mut lines = RFC_LINES.to_vec();
    lines.extend_from_slice(extra);
    head(&lines)
}

/// The status code of an HTTP response.
fn status_of(response: &[u8]) -> u16 {
    let text = std::str::from_utf8(&response[..12]).unwrap();
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
    text[9..12].parse().unwrap()
}

/// (head including its empty line, body) of an HTTP response.
fn split_response(response: &[u8]) -> (String, Vec<u8>) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of head")
        + 4;
    (
        String::from_utf8(response[..end].to_vec()).unwrap(),
        response[end..].to_vec(),
    )
}

/// Whether an HTTP head holds a header line `name: value` (name compared
/// case-insensitively, value exactly).
fn has_header(head: &str, name: &str, value: &str) -> bool {
    head.split("\r\n").any(|line| {
        line.split_once(':')
            .is_some_and(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim() == value)
    })
}

/// How a connection ends that never opened or was dropped without a Close
/// and without a protocol error: RFC 6455 §7.1.5, code 1006, not clean.
fn closed_1006() -> Ev {
    Ev::Closed {
        code: 1006,
        clean: false,
        error: None,
    }
}

/// A server fed `input` in `chunk`-byte pieces.
fn server_fed(config: Config, input: &[u8], chunk: usize) -> (Connection, Vec<Ev>) {
    let mut server = Connection::server(config, hybi::Instant::ZERO);
    let events = feed_chunks(&mut server, input, chunk);
    (server, events)
}

/// Feeds `input` whole to a new server and runs `f` on the Request view.
fn with_request<R>(input: &[u8], f: impl FnOnce(&hybi::Request<'_>) -> R) -> (Connection, R) {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut buf = input.to_vec();
    let result = {
        let out = server.handle_input(&mut buf, NOW);
        assert_eq!(out.consumed, input.len());
        match out.event {
            Some(Event::Request(request)) => f(&request),
            other => panic!("expected a Request, got {other:?}"),
        }
    };
    (server, result)
}

/// A request the server must refuse by itself: fed whole and one byte at a
/// time, it must give exactly `failed(error)`, an answer with `status` whose
/// body is the error's description, a shutdown, and then discard input.
/// Returns the answer's head.
fn assert_refused(config: Config, request: &[u8], error: ProtocolError, status: u16) -> String {
    let mut heads = Vec::new();
    for chunk in [request.len(), 1] {
        let (mut server, events) = server_fed(config.clone(), request, chunk);
        assert_eq!(events, vec![failed(error)], "chunk {chunk}");
        assert_eq!(server.state(), State::Closed);
        assert_eq!(server.error(), Some(error));
        let (out, shutdown) = take_output(&mut server);
        assert_eq!(status_of(&out), status, "{}", String::from_utf8_lossy(&out));
        let (head, body) = split_response(&out);
        assert_eq!(body, error.as_str().as_bytes());
        assert!(
            has_header(&head, "Content-Length", &body.len().to_string()),
            "{head}"
        );
        assert!(shutdown, "the server shuts the transport after refusing");
        // Nothing after the failure is processed (§7.1.7).
        let mut more = RFC_REQUEST.to_vec();
        let again = server.handle_input(&mut more, NOW);
        assert_eq!(again.consumed, RFC_REQUEST.len());
        assert!(again.event.is_none());
        assert_eq!(take_output(&mut server), (Vec::new(), false));
        heads.push(head);
    }
    assert_eq!(heads[0], heads[1], "whole vs one byte at a time");
    heads.pop().unwrap()
}

/// An entropy source that hands out `nonce` first (the Sec-WebSocket-Key),
/// then counts up (masking keys).
struct FixedNonce {
    nonce: Vec<u8>,
    next: u8,
}

impl Entropy for FixedNonce {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = if self.nonce.is_empty() {
                self.next = self.next.wrapping_add(1);
                self.next
            } else {
                self.nonce.remove(0)
            };
        }
    }
}

/// Decodes padded standard base64 (the alphabet of RFC 4648 §4).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if text.len() % 4 != 0 {
        return None;
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in body.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

/// A client for `request` (CountingEntropy from `seed`), with its request
/// bytes taken. Returns the connection, the request and its key.
fn client_for(request: ClientRequest, seed: u8) -> (Connection, Vec<u8>, String) {
    let mut client = Connection::client(
        Config::default(),
        request,
        CountingEntropy(seed),
        hybi::Instant::ZERO,
    )
    .unwrap();
    let (bytes, shutdown) = take_output(&mut client);
    assert!(!shutdown);
    let key = header_value(&bytes, "Sec-WebSocket-Key");
    (client, bytes, key)
}

/// A client offering "chat" and "superchat" and the permessage-deflate
/// extension, its request taken; returns it with its key.
fn chat_client() -> (Connection, String) {
    let request = ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .subprotocols(&["chat", "superchat"])
        .extensions(&["permessage-deflate; client_max_window_bits"]);
    let (client, _, key) = client_for(request, 0);
    (client, key)
}

/// A 101 for `key` with extra header lines.
fn response_101(key: &str, extra: &[&str]) -> Vec<u8> {
    let accept = format!(
        "Sec-WebSocket-Accept: {}",
        accept_key(key.as_bytes()).as_str()
    );
    let mut lines = vec![
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept,
    ];
    lines.extend_from_slice(extra);
    head(&lines)
}

/// A response the chat client must fail on: fed whole and one byte at a
/// time, exactly `failed(error)`, nothing written after the request, and a
/// shutdown (§4.1: "the client MUST _Fail the WebSocket Connection_").
fn assert_client_fails(response: impl Fn(&str) -> Vec<u8>, error: ProtocolError) {
    for chunk in [usize::MAX, 1] {
        let (mut client, key) = chat_client();
        let input = response(&key);
        let events = feed_chunks(&mut client, &input, chunk.min(input.len()));
        assert_eq!(events, vec![failed(error)], "chunk {chunk}");
        assert_eq!(client.state(), State::Closed);
        assert_eq!(client.error(), Some(error));
        assert_eq!(client.subprotocol(), None);
        // §7.1.7: no Close frame before the connection is established.
        assert_eq!(take_output(&mut client), (Vec::new(), true));
    }
}

// ---- server: reading the request (§4.2.1) ----

// RFC 6455 §1.2 / §4.2.1: the example request, fed whole.
#[test]
fn server_reads_rfc_request_whole() {
    assert_eq!(head(&RFC_LINES), RFC_REQUEST);
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut buf = RFC_REQUEST.to_vec();
    let out = server.handle_input(&mut buf, NOW);
    assert_eq!(out.consumed, RFC_REQUEST.len());
    let ev = Ev::from_event(&out.event.expect("a Request event"));
    assert_eq!(
        ev,
        Ev::Request {
            target: "/chat".into()
        }
    );
    assert_eq!(server.state(), State::Handshaking);
    assert_eq!(server.role(), Role::Server);
    assert_eq!(server.subprotocol(), None);
    // Nothing is answered before the application decides.
    assert_eq!(take_output(&mut server), (Vec::new(), false));
}

// RFC 6455 §1.2 / §4.2.1: the same request one byte at a time: every byte
// is consumed, and the Request comes with the last one.
#[test]
fn server_reads_rfc_request_one_byte_at_a_time() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut buf = RFC_REQUEST.to_vec();
    let last = buf.len() - 1;
    for i in 0..buf.len() {
        let out = server.handle_input(&mut buf[i..i + 1], NOW);
        assert_eq!(out.consumed, 1, "byte {i}");
        match out.event {
            None => assert!(i < last, "no Request after the last byte"),
            Some(Event::Request(r)) => {
                assert_eq!(i, last, "Request before the end of the head");
                assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
            }
            Some(other) => panic!("{other:?}"),
        }
    }
    let (_, events) = server_fed(Config::default(), RFC_REQUEST, 1);
    assert_eq!(
        events,
        vec![Ev::Request {
            target: "/chat".into()
        }]
    );
}

// RFC 6455 §4.2.1 / §5.7: a frame pipelined after the request in the same
// input is not part of the head; after accept() it is read as a frame.
#[test]
fn server_request_with_pipelined_frame() {
    let mut input = RFC_REQUEST.to_vec();
    input.extend_from_slice(&MASKED_HELLO);
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let out = server.handle_input(&mut input, NOW);
    assert_eq!(
        out.consumed,
        RFC_REQUEST.len(),
        "stops at the end of the head"
    );
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    let rest = &mut input[RFC_REQUEST.len()..];
    let out = server.handle_input(rest, NOW);
    assert_eq!(out.consumed, MASKED_HELLO.len());
    assert_eq!(Ev::from_event(&out.event.unwrap()), text("Hello"));
    assert_eq!(drain(&mut server), vec![]);
    let (bytes, shutdown) = take_output(&mut server);
    assert!(bytes.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(!shutdown);
}

// RFC 6455 §4.2.2 / §6.2: frames belong to an open connection, so none is
// read before the server's handshake is sent; Event::Request doc: "until
// then the connection consumes no input".
#[test]
fn server_consumes_nothing_while_awaiting_decision() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut req = RFC_REQUEST.to_vec();
    assert!(server.handle_input(&mut req, NOW).event.is_some());
    for _ in 0..3 {
        let mut frame = MASKED_HELLO.to_vec();
        let out = server.handle_input(&mut frame, NOW);
        assert_eq!(out.consumed, 0);
        assert!(out.event.is_none());
        // The frame was not unmasked in place either.
        assert_eq!(frame, MASKED_HELLO);
    }
    assert_eq!(server.state(), State::Handshaking);
    assert_eq!(take_output(&mut server), (Vec::new(), false));
    // Still pending: accept works and the frame is then read.
    server.accept(Accept::new()).unwrap();
    let mut frame = MASKED_HELLO.to_vec();
    let out = server.handle_input(&mut frame, NOW);
    assert_eq!(out.consumed, MASKED_HELLO.len());
    assert_eq!(Ev::from_event(&out.event.unwrap()), text("Hello"));
}

// RFC 6455 §4.2.1 items 1-10 / §4.2.2 step 4: what the server learns from
// the request, through the Request view.
#[test]
fn server_request_view_getters() {
    let input = head(&[
        "GET /chat?room=1&x=2 HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Protocol: v2.chat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
        "Cookie: session=abc",
        "Sec-WebSocket-Version: 13",
    ]);
    let (_, ()) = with_request(&input, |r| {
        assert_eq!(r.target(), "/chat?room=1&x=2");
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.query(), Some("room=1&x=2"));
        assert_eq!(r.host(), "server.example.com");
        assert_eq!(r.origin(), Some("http://example.com"));
        assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        // §11.3.4: several lines form one list, in order of preference.
        assert_eq!(
            r.subprotocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v2.chat"]
        );
        assert_eq!(
            r.extensions().collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits", "x-foo"]
        );
        // RFC 6455 §4.2.1 note: header names are case-insensitive (RFC 2616).
        assert_eq!(r.header("cookie"), Some(&b"session=abc"[..]));
        assert_eq!(r.header("COOKIE"), Some(&b"session=abc"[..]));
        assert_eq!(r.header("sec-websocket-version"), Some(&b"13"[..]));
        assert_eq!(r.header("Authorization"), None);
        assert!(r.offers_subprotocol("superchat"));
        assert!(!r.offers_subprotocol("Chat"));
        assert_eq!(r.headers().count(), 10);
        assert_eq!(
            r.headers().next(),
            Some(("Host", &b"server.example.com"[..]))
        );
    });
    // The RFC request: no query, no extensions.
    let (_, ()) = with_request(RFC_REQUEST, |r| {
        assert_eq!(r.query(), None);
        assert_eq!(r.extensions().count(), 0);
        assert_eq!(r.subprotocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    });
}

// ---- server: accepting (§4.2.2 step 5) ----

// VECTORS.md "Full example exchange" (RFC 6455 §1.2/§1.3): byte for byte.
#[test]
fn server_accept_chat_writes_vectors_101_exactly() {
    let (mut server, offered) = with_request(RFC_REQUEST, |r| r.offers_subprotocol("chat"));
    assert!(offered);
    server.accept(Accept::new().subprotocol("chat")).unwrap();
    assert_eq!(server.subprotocol(), Some("chat"));
    assert_eq!(server.state(), State::Open);
    let (bytes, shutdown) = take_output(&mut server);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(RFC_RESPONSE)
    );
    assert_eq!(bytes, RFC_RESPONSE);
    assert!(!shutdown);
    // Open: data can be sent now, unmasked (§5.1).
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server).0, UNMASKED_HELLO);
}

// RFC 6455 §4.2.2 /subprotocol/: "null" is allowed; then no
// Sec-WebSocket-Protocol header is sent.
#[test]
fn server_accept_without_subprotocol() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    server.accept(Accept::new()).unwrap();
    assert_eq!(server.subprotocol(), None);
    let (bytes, _) = take_output(&mut server);
    assert_eq!(
        bytes,
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"[..]
    );
}

// RFC 6455 §4.2.2 /subprotocol/: "The value chosen MUST be derived from the
// client's handshake". A wrong choice is refused with nothing written.
#[test]
fn server_accept_unoffered_subprotocol_is_refused_then_can_accept() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    for bad in ["mqtt", "Chat", "chat, superchat", ""] {
        assert_eq!(
            server.accept(Accept::new().subprotocol(bad)),
            Err(UsageError::SubprotocolNotOffered),
            "{bad:?}"
        );
        assert_eq!(server.buffered_output(), 0);
        assert_eq!(server.state(), State::Handshaking);
        assert_eq!(server.subprotocol(), None);
    }
    server
        .accept(Accept::new().subprotocol("superchat"))
        .unwrap();
    assert_eq!(server.subprotocol(), Some("superchat"));
    let (bytes, _) = take_output(&mut server);
    let (head, body) = split_response(&bytes);
    assert!(has_header(&head, "Sec-WebSocket-Protocol", "superchat"));
    assert!(body.is_empty());
}

// RFC 6455 §4.2.2 step 5: "additional header fields, e.g., cookies"; VECTORS
// full example plus a Set-Cookie line.
#[test]
fn server_accept_with_set_cookie_header() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    server
        .accept(
            Accept::new()
                .subprotocol("chat")
                .header("Set-Cookie", "id=42; HttpOnly"),
        )
        .unwrap();
    let (bytes, _) = take_output(&mut server);
    let mut expected = RFC_RESPONSE[..RFC_RESPONSE.len() - 2].to_vec();
    expected.extend_from_slice(b"Set-Cookie: id=42; HttpOnly\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&expected)
    );
}

// RFC 6455 §4.2.2 step 5 (extra header fields in the 101) and RFC 7230
// §3.2 (no CR/LF in a field): Accept::header doc, a header with CR/LF or one
// the handshake sets itself is refused rather than sent.
#[test]
fn server_accept_with_invalid_extra_header_writes_nothing() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    for (name, value) in [
        ("X-Evil", "a\r\nSet-Cookie: x=1"),
        ("X Evil", "a"),
        ("Sec-WebSocket-Accept", "forged"),
    ] {
        assert_eq!(
            server.accept(Accept::new().header(name, value)),
            Err(UsageError::InvalidHeader),
            "{name:?}: {value:?}"
        );
        assert_eq!(server.buffered_output(), 0);
    }
    server.accept(Accept::new()).unwrap();
    assert!(take_output(&mut server).0.starts_with(b"HTTP/1.1 101 "));
}

// VECTORS.md "Sec-WebSocket-Key -> Sec-WebSocket-Accept": every pair, through
// a server Connection (RFC 6455 §4.2.2 step 5.4).
#[test]
fn server_accept_values_match_vectors() {
    for (key, expected) in [
        ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
        ("5fTJ1LTuh3RKjSJxydyifQ==", "ZUip34t+bCjhkvxxwhmdEOyx9hE="),
        ("uRovscZjNol/umbTt5uKmw==", "rLHCkw/SKsO9GAH/ZSFhBATDKrU="),
    ] {
        let line = format!("Sec-WebSocket-Key: {key}");
        let request = rfc_with("Sec-WebSocket-Key", Some(&line));
        let (mut server, seen) = with_request(&request, |r| r.key().to_string());
        assert_eq!(seen, key);
        server.accept(Accept::new()).unwrap();
        let (bytes, _) = take_output(&mut server);
        assert_eq!(header_value(&bytes, "Sec-WebSocket-Accept"), expected);
    }
}

// VECTORS.md "Real-world request shapes": absolute-form target, Connection
// token list, Upgrade: WebSocket, Cookie/Origin/Extensions (RFC 6455 §4.2.1
// items 1, 3, 4, 7, 9, 10).
#[test]
fn server_accepts_echo_server_shape_absolute_form() {
    let input = head(&[
        "GET ws://echo.websocket.org/?encoding=text HTTP/1.1",
        "Host: echo.websocket.org",
        "Connection: keep-alive, Upgrade",
        "Upgrade: WebSocket",
        "Origin: http://www.websocket.org",
        "Cookie: session=abc; theme=dark",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: uRovscZjNol/umbTt5uKmw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]);
    for chunk in [input.len(), 1] {
        let (_, events) = server_fed(Config::default(), &input, chunk);
        assert_eq!(
            events,
            vec![Ev::Request {
                target: "ws://echo.websocket.org/?encoding=text".into()
            }]
        );
    }
    let (mut server, ()) = with_request(&input, |r| {
        assert_eq!(r.target(), "ws://echo.websocket.org/?encoding=text");
        assert_eq!(r.path(), "/");
        assert_eq!(r.query(), Some("encoding=text"));
        assert_eq!(r.host(), "echo.websocket.org");
        assert_eq!(r.origin(), Some("http://www.websocket.org"));
        assert_eq!(r.header("Cookie"), Some(&b"session=abc; theme=dark"[..]));
        assert_eq!(
            r.extensions().collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits"]
        );
        assert_eq!(r.subprotocols().count(), 0);
    });
    server.accept(Accept::new()).unwrap();
    let (bytes, _) = take_output(&mut server);
    assert_eq!(
        header_value(&bytes, "Sec-WebSocket-Accept"),
        "rLHCkw/SKsO9GAH/ZSFhBATDKrU="
    );
}

// VECTORS.md "Real-world request shapes": browser-like header order and
// case, with permessage-deflate offered (RFC 6455 §4.2.1 items 3, 4: values
// "treated as an ASCII case-insensitive value"; RFC 2616 names).
#[test]
fn server_accepts_browser_shape_any_case() {
    let input = head(&[
        "GET /socket HTTP/1.1",
        "host: localhost:8080",
        "connection: Upgrade",
        "pragma: no-cache",
        "upgrade: websocket",
        "origin: http://localhost:8080",
        "sec-websocket-version: 13",
        "accept-encoding: gzip, deflate, br",
        "sec-websocket-key: 5fTJ1LTuh3RKjSJxydyifQ==",
        "sec-websocket-extensions: permessage-deflate; client_max_window_bits",
    ]);
    let (mut server, ()) = with_request(&input, |r| {
        assert_eq!(r.host(), "localhost:8080");
        assert_eq!(r.origin(), Some("http://localhost:8080"));
        assert_eq!(r.key(), "5fTJ1LTuh3RKjSJxydyifQ==");
        assert_eq!(r.extensions().count(), 1);
    });
    server.accept(Accept::new()).unwrap();
    let (bytes, _) = take_output(&mut server);
    assert_eq!(
        header_value(&bytes, "Sec-WebSocket-Accept"),
        "ZUip34t+bCjhkvxxwhmdEOyx9hE="
    );
    // Uppercase values and a token list in Upgrade are accepted too.
    let input = head(&[
        "GET / HTTP/1.1",
        "HOST: example.com",
        "UPGRADE: WEBSOCKET",
        "CONNECTION: UPGRADE",
        "SEC-WEBSOCKET-KEY: x3JJHMbDL1EzLkh9GBhXDw==",
        "SEC-WEBSOCKET-VERSION: 13",
    ]);
    let (_, events) = server_fed(Config::default(), &input, 1);
    assert_eq!(events, vec![Ev::Request { target: "/".into() }]);
}

// ---- server: rejecting (§4.2.2 steps 2-4) ----

// RFC 6455 §4.2.2 step 4 /origin/: "return an appropriate HTTP error code
// (e.g., 403 Forbidden) and abort the WebSocket handshake"; then the
// connection is closed, never having opened (§7.1.5: 1006).
#[test]
fn server_reject_403_writes_response_then_closes() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    server
        .reject(
            Reject::new(403)
                .header("X-Reason", "origin")
                .body(b"forbidden"),
        )
        .unwrap();
    assert_eq!(server.state(), State::Closed);
    let (bytes, shutdown) = take_output(&mut server);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "HTTP/1.1 403 Forbidden\r\nX-Reason: origin\r\nContent-Length: 9\r\n\
Connection: close\r\n\r\nforbidden"
    );
    assert!(shutdown);
    assert_eq!(drain(&mut server), vec![closed_1006()]);
    assert_eq!(server.error(), None);
    assert_eq!(server.subprotocol(), None);
    // Closed is final: no second event, input discarded, no more commands.
    let mut more = MASKED_HELLO.to_vec();
    let out = server.handle_input(&mut more, NOW);
    assert_eq!(out.consumed, MASKED_HELLO.len());
    assert!(out.event.is_none());
    assert_eq!(
        server.accept(Accept::new()),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(server.send_text("x"), Err(UsageError::NotOpen));
}

// RFC 6455 §4.2.2 step 2: "returning a 401 status code with the corresponding
// |WWW-Authenticate| header field"; a 101 or a 1xx cannot refuse.
#[test]
fn server_reject_with_status_101_or_99_is_invalid() {
    let (mut server, ()) = with_request(RFC_REQUEST, |_| ());
    for status in [101, 99, 100, 199, 600, 0] {
        assert_eq!(
            server.reject(Reject::new(status)),
            Err(UsageError::InvalidStatus),
            "{status}"
        );
        assert_eq!(server.buffered_output(), 0);
        assert_eq!(server.state(), State::Handshaking);
    }
    server
        .reject(Reject::new(401).header("WWW-Authenticate", "Basic realm=\"ws\""))
        .unwrap();
    let (bytes, shutdown) = take_output(&mut server);
    let (head, body) = split_response(&bytes);
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    assert!(has_header(&head, "WWW-Authenticate", "Basic realm=\"ws\""));
    assert!(has_header(&head, "Content-Length", "0"));
    assert!(body.is_empty());
    assert!(shutdown);
}

// ---- server: invalid requests answered automatically (§4.2.1) ----

// RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request"; RFC 9110
// §15.5.6: a 405 carries Allow.
#[test]
fn server_refuses_post_with_405() {
    let head = assert_refused(
        Config::default(),
        &rfc_with("GET", Some("POST /chat HTTP/1.1")),
        MethodNotGet,
        405,
    );
    assert!(has_header(&head, "Allow", "GET"), "{head}");
}

// RFC 6455 §4.2.1 item 1: HTTP/1.1 or higher.
#[test]
fn server_refuses_http_1_0_with_400() {
    assert_refused(
        Config::default(),
        &rfc_with("GET", Some("GET /chat HTTP/1.0")),
        HttpVersionTooOld,
        400,
    );
}

// RFC 6455 §4.2.1 item 2: "A |Host| header field".
#[test]
fn server_refuses_missing_host_with_400() {
    assert_refused(Config::default(), &rfc_with("Host", None), MissingHost, 400);
}

// RFC 6455 §4.2.1 item 3: "An |Upgrade| header field containing the value
// "websocket"".
#[test]
fn server_refuses_missing_upgrade_with_400() {
    assert_refused(
        Config::default(),
        &rfc_with("Upgrade", None),
        MissingUpgrade,
        400,
    );
    assert_refused(
        Config::default(),
        &rfc_with("Upgrade", Some("Upgrade: h2c")),
        MissingUpgrade,
        400,
    );
}

// RFC 6455 §4.2.1 item 4: "A |Connection| header field that includes the
// token "Upgrade"".
#[test]
fn server_refuses_connection_without_upgrade_with_400() {
    assert_refused(
        Config::default(),
        &rfc_with("Connection", Some("Connection: keep-alive")),
        MissingConnectionUpgrade,
        400,
    );
    assert_refused(
        Config::default(),
        &rfc_with("Connection", None),
        MissingConnectionUpgrade,
        400,
    );
}

// RFC 6455 §4.2.1 item 5: a key "that, when decoded, is 16 bytes in length".
#[test]
fn server_refuses_key_not_16_bytes_with_400() {
    for key in [
        // 15 bytes.
        "AAECAwQFBgcICQoLDA0O",
        // 17 bytes.
        "AAECAwQFBgcICQoLDA0ODxA=",
        // Not base64.
        "dGhlIHNhbXBsZSBub25jZQ!!",
        // Empty.
        "",
    ] {
        let line = format!("Sec-WebSocket-Key: {key}");
        assert_refused(
            Config::default(),
            &rfc_with("Sec-WebSocket-Key", Some(&line)),
            InvalidKey,
            400,
        );
    }
}

// RFC 6455 §4.2.1 item 5: the key is required.
#[test]
fn server_refuses_missing_key_with_400() {
    assert_refused(
        Config::default(),
        &rfc_with("Sec-WebSocket-Key", None),
        InvalidKey,
        400,
    );
}

// RFC 6455 §4.2.2 /version/ and §4.4: "send an appropriate HTTP error code
// (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field
// indicating the version(s) the server is capable of understanding".
#[test]
fn server_refuses_version_8_with_426_and_version_13() {
    let head = assert_refused(
        Config::default(),
        &rfc_with("Sec-WebSocket-Version", Some("Sec-WebSocket-Version: 8")),
        UnsupportedVersion,
        426,
    );
    assert!(has_header(&head, "Sec-WebSocket-Version", "13"), "{head}");
    // §4.4's own example version.
    let head = assert_refused(
        Config::default(),
        &rfc_with("Sec-WebSocket-Version", Some("Sec-WebSocket-Version: 25")),
        UnsupportedVersion,
        426,
    );
    assert!(has_header(&head, "Sec-WebSocket-Version", "13"), "{head}");
}

// RFC 6455 §4.2.1 item 6: "A |Sec-WebSocket-Version| header field, with a
// value of 13" is required.
#[test]
fn server_refuses_missing_version_with_426() {
    let head = assert_refused(
        Config::default(),
        &rfc_with("Sec-WebSocket-Version", None),
        UnsupportedVersion,
        426,
    );
    assert!(has_header(&head, "Sec-WebSocket-Version", "13"), "{head}");
}

// RFC 6455 §4.2.1: "including but not limited to any violations of the ABNF
// grammar ... return an HTTP response with an appropriate error code (such as
// 400 Bad Request)". Here: the start of a TLS ClientHello on a plain port.
#[test]
fn server_refuses_garbage_with_400() {
    let garbage = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\r\n\r\n";
    assert_refused(Config::default(), garbage, MalformedHttp, 400);
    assert_refused(
        Config::default(),
        b"HELLO THERE\r\n\r\n",
        MalformedHttp,
        400,
    );
}

// RFC 6455 §10.4 (implementation limits) and RFC 6585 §5 (431): a head that
// does not end within max_handshake_size. Fed one byte at a time, the failure
// comes with the first byte past the cap, never later (nothing beyond the
// cap is stored or waited for), and a head of exactly the cap is accepted.
#[test]
fn server_refuses_head_over_max_handshake_size_with_431() {
    let mut config = Config::default();
    config.max_handshake_size = RFC_REQUEST.len();
    let (_, events) = server_fed(config.clone(), RFC_REQUEST, 1);
    assert_eq!(
        events,
        vec![Ev::Request {
            target: "/chat".into()
        }]
    );

    config.max_handshake_size = RFC_REQUEST.len() - 1;
    assert_refused(config.clone(), RFC_REQUEST, HandshakeTooLarge, 431);
    let mut server = Connection::server(config.clone(), hybi::Instant::ZERO);
    let mut buf = RFC_REQUEST.to_vec();
    for i in 0..config.max_handshake_size {
        let out = server.handle_input(&mut buf[i..i + 1], NOW);
        assert_eq!(out.consumed, 1);
        assert!(out.event.is_none(), "event at byte {i}");
    }
    assert_eq!(take_output(&mut server), (Vec::new(), false));
    let i = config.max_handshake_size;
    let out = server.handle_input(&mut buf[i..i + 1], NOW);
    assert_eq!(
        out.event.map(|e| Ev::from_event(&e)),
        Some(failed(HandshakeTooLarge))
    );
    let (bytes, shutdown) = take_output(&mut server);
    assert_eq!(status_of(&bytes), 431);
    assert!(shutdown);

    // With the default 16 KiB cap, a huge Cookie line sent slowly.
    let cookie = format!("Cookie: {}", "c".repeat(20_000));
    let input = rfc_plus(&[&cookie]);
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut buf = input.clone();
    let mut failed_at = None;
    for i in 0..input.len() {
        let out = server.handle_input(&mut buf[i..i + 1], NOW);
        if let Some(ev) = out.event {
            assert_eq!(Ev::from_event(&ev), failed(HandshakeTooLarge));
            failed_at = Some(i);
            break;
        }
    }
    assert_eq!(
        failed_at,
        Some(16 * 1024),
        "fails at the first byte past the cap"
    );
    assert_eq!(status_of(&take_output(&mut server).0), 431);
}

// RFC 6585 §5 / Config::max_headers: more header lines than allowed is 431;
// exactly the limit is fine.
#[test]
fn server_refuses_more_than_max_headers_with_431() {
    let mut config = Config::default();
    config.max_headers = 8;
    let input = rfc_plus(&["Cookie: a=1"]);
    let (_, events) = server_fed(config.clone(), &input, input.len());
    assert_eq!(
        events,
        vec![Ev::Request {
            target: "/chat".into()
        }]
    );
    let input = rfc_plus(&["Cookie: a=1", "X-Extra: 2"]);
    assert_refused(config, &input, TooManyHeaders, 431);
    // And with the default of 64.
    let extra: Vec<String> = (0..60).map(|i| format!("X-H{i}: {i}")).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    assert_refused(Config::default(), &rfc_plus(&extra), TooManyHeaders, 431);
}

// RFC 6455 §7.1.5: no Close frame was received, so the close code is 1006;
// §4.2.1: a request cut short gets no answer (there is no one to read it).
#[test]
fn server_eof_during_request_closes_1006_without_response() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let half = &RFC_REQUEST[..RFC_REQUEST.len() / 2];
    assert_eq!(feed_chunks(&mut server, half, 5), vec![]);
    server.handle_eof(NOW);
    assert_eq!(drain(&mut server), vec![closed_1006()]);
    assert_eq!(server.state(), State::Closed);
    assert_eq!(take_output(&mut server), (Vec::new(), true));
    // Once only.
    server.handle_eof(NOW);
    assert_eq!(drain(&mut server), vec![]);
}

// RFC 6455 §6.1: "The endpoint MUST ensure the WebSocket connection is in the
// OPEN state"; before the handshake nothing may be sent, in either role.
#[test]
fn send_ping_close_before_handshake_are_not_open() {
    fn check(conn: &mut Connection) {
        let before = conn.buffered_output();
        assert_eq!(conn.send_text("hi"), Err(UsageError::NotOpen));
        assert_eq!(conn.send_binary(b"hi"), Err(UsageError::NotOpen));
        assert_eq!(
            conn.send(MessageKind::Text, b"h", false),
            Err(UsageError::NotOpen)
        );
        assert_eq!(conn.ping(b"p"), Err(UsageError::NotOpen));
        assert_eq!(conn.pong(b"p"), Err(UsageError::NotOpen));
        assert_eq!(
            conn.close(CloseCode::NORMAL, "bye"),
            Err(UsageError::NotOpen)
        );
        assert_eq!(conn.buffered_output(), before);
        assert_eq!(conn.state(), State::Handshaking);
        assert_eq!(conn.close_sent(), None);
    }
    // Server reading the request, then awaiting the decision.
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    check(&mut server);
    let mut req = RFC_REQUEST.to_vec();
    assert!(server.handle_input(&mut req, NOW).event.is_some());
    check(&mut server);
    server.accept(Accept::new()).unwrap();
    assert_eq!(server.send_text("hi"), Ok(()));
    // Client awaiting the response (its request is queued, not yet written).
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(
        Config::default(),
        request,
        CountingEntropy(0),
        hybi::Instant::ZERO,
    )
    .unwrap();
    assert!(client.buffered_output() > 0);
    check(&mut client);
}

// RFC 6455 §4.2.2: one answer per opening handshake; Connection::accept
// doc: "Fails if no request is pending".
#[test]
fn accept_twice_or_before_request_is_no_pending_request() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    assert_eq!(
        server.accept(Accept::new()),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(
        server.reject(Reject::new(403)),
        Err(UsageError::NoPendingRequest)
    );
    let mut req = RFC_REQUEST.to_vec();
    assert!(server.handle_input(&mut req, NOW).event.is_some());
    server.accept(Accept::new()).unwrap();
    let len = server.buffered_output();
    assert_eq!(
        server.accept(Accept::new()),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(
        server.reject(Reject::new(403)),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(server.buffered_output(), len, "no second answer written");
    assert_eq!(server.state(), State::Open);
}

// RFC 6455 §4.2.2: only a server answers a handshake; UsageError::
// NoPendingRequest doc: "or on a client".
#[test]
fn accept_on_client_is_no_pending_request() {
    let (mut client, key) = chat_client();
    assert_eq!(
        client.accept(Accept::new()),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(
        client.reject(Reject::new(403)),
        Err(UsageError::NoPendingRequest)
    );
    // Also once open.
    let input = response_101(&key, &[]);
    assert_eq!(
        feed_chunks(&mut client, &input, input.len()),
        vec![Ev::Accepted {
            status: 101,
            protocol: None
        }]
    );
    assert_eq!(
        client.accept(Accept::new()),
        Err(UsageError::NoPendingRequest)
    );
    assert_eq!(take_output(&mut client), (Vec::new(), false));
}

// ---- client: the request (§4.1) ----

// RFC 6455 §4.1 items 1-12: the request line and every header.
#[test]
fn client_request_has_every_header() {
    let request = ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .origin("http://example.com")
        .subprotocols(&["chat", "superchat"])
        .extensions(&["permessage-deflate; client_max_window_bits"])
        .headers(&[("Cookie", "session=abc")]);
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.port(), 80);
    assert!(!request.is_secure());
    let (client, bytes, key) = client_for(request, 0);
    assert_eq!(client.role(), Role::Client);
    assert_eq!(client.state(), State::Handshaking);
    let text = String::from_utf8(bytes.clone()).unwrap();
    // Item 2: GET, HTTP/1.1; item 3: the /resource name/.
    assert!(text.starts_with("GET /chat HTTP/1.1\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"));
    // Item 4: Host without the default port.
    assert_eq!(header_value(&bytes, "Host"), "server.example.com");
    // Items 5, 6.
    assert_eq!(header_value(&bytes, "Upgrade"), "websocket");
    assert_eq!(header_value(&bytes, "Connection"), "Upgrade");
    // Item 7: base64 of the 16 nonce bytes 00 01 .. 0f (CountingEntropy(0)).
    assert_eq!(key, "AAECAwQFBgcICQoLDA0ODw==");
    assert_eq!(base64_decode(&key), Some((0u8..16).collect()));
    // Items 8-11.
    assert_eq!(header_value(&bytes, "Origin"), "http://example.com");
    assert_eq!(header_value(&bytes, "Sec-WebSocket-Version"), "13");
    assert_eq!(
        header_value(&bytes, "Sec-WebSocket-Protocol"),
        "chat, superchat"
    );
    assert_eq!(
        header_value(&bytes, "Sec-WebSocket-Extensions"),
        "permessage-deflate; client_max_window_bits"
    );
    // Item 12: other headers.
    assert_eq!(header_value(&bytes, "Cookie"), "session=abc");
    // Exactly those lines: request line, 9 headers, empty line.
    assert_eq!(text.matches("\r\n").count(), 11, "{text}");
}

// RFC 6455 §4.1 item 4: "/host/ plus optionally ":" followed by /port/ (when
// not using the default port)"; item 3: the resource name keeps its query.
#[test]
fn client_request_host_port_and_query() {
    let request = ClientRequest::new("ws://server.example.com:8080/chat?room=1").unwrap();
    assert_eq!(request.port(), 8080);
    let (_, bytes, _) = client_for(request, 0);
    assert!(bytes.starts_with(b"GET /chat?room=1 HTTP/1.1\r\n"));
    assert_eq!(header_value(&bytes, "Host"), "server.example.com:8080");
    assert!(!String::from_utf8_lossy(&bytes).contains("Origin"));
    assert!(!String::from_utf8_lossy(&bytes).contains("Sec-WebSocket-Protocol"));

    let request = ClientRequest::new("wss://example.com:443").unwrap();
    assert!(request.is_secure());
    let (_, bytes, _) = client_for(request, 0);
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\n"));
    assert_eq!(header_value(&bytes, "Host"), "example.com");
}

// RFC 6455 §4.1 item 7: "a randomly selected 16-byte value that has been
// base64-encoded"; "The nonce MUST be selected randomly for each connection".
#[test]
fn client_key_is_16_bytes_and_depends_on_entropy() {
    let make = |seed: u8| {
        let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
        client_for(request, seed).2
    };
    let a = make(0);
    let b = make(100);
    assert_eq!(a, "AAECAwQFBgcICQoLDA0ODw==");
    assert_eq!(b, "ZGVmZ2hpamtsbW5vcHFycw==");
    assert_eq!(base64_decode(&b), Some((100u8..116).collect()));
    assert_ne!(a, b);
    assert_eq!(
        a,
        make(0),
        "same seed, same key: the key comes from entropy"
    );
}

// RFC 6455 §4.1 item 7 / §10.3: with OS entropy two connections get
// different keys.
#[test]
fn client_keys_from_os_entropy_differ() {
    let make = || {
        let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
        let mut client = Connection::client(
            Config::default(),
            request,
            OsEntropy::new(),
            hybi::Instant::ZERO,
        )
        .unwrap();
        let (bytes, _) = take_output(&mut client);
        header_value(&bytes, "Sec-WebSocket-Key")
    };
    let keys: Vec<String> = (0..4).map(|_| make()).collect();
    for key in &keys {
        assert_eq!(key.len(), 24);
        assert_eq!(base64_decode(key).map(|k| k.len()), Some(16), "{key}");
    }
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

// RFC 6455 §3: only ws:// and wss:// with a host; "Fragment identifiers are
// meaningless in the context of WebSocket URIs and MUST NOT be used".
#[test]
fn client_request_new_rejects_invalid_uris() {
    for uri in [
        "http://server.example.com/chat",
        "https://server.example.com/chat",
        "ws://server.example.com/chat#frag",
        "ws:///chat",
        "ws://",
        "ws://:80/chat",
        "server.example.com/chat",
    ] {
        assert_eq!(
            ClientRequest::new(uri).unwrap_err(),
            UsageError::InvalidUri,
            "{uri}"
        );
    }
    assert!(ClientRequest::new("WS://server.example.com").is_ok());
}

// Connection::client doc: "Fails if the request cannot be written (a header
// with a line break ...)"; RFC 7230 §3.2: field values have no CR or LF.
#[test]
fn client_header_injection_is_refused() {
    let make = |request: ClientRequest| {
        Connection::client(
            Config::default(),
            request,
            CountingEntropy(0),
            hybi::Instant::ZERO,
        )
        .unwrap_err()
    };
    let base = || ClientRequest::new("ws://server.example.com/chat").unwrap();
    assert_eq!(
        make(base().headers(&[("X", "a\r\nb")])),
        UsageError::InvalidHeader
    );
    assert_eq!(
        make(base().headers(&[("X", "a\nb")])),
        UsageError::InvalidHeader
    );
    assert_eq!(
        make(base().headers(&[("X\r\nEvil", "b")])),
        UsageError::InvalidHeader
    );
    assert_eq!(
        make(base().origin("http://a\r\nX: y")),
        UsageError::InvalidHeader
    );
    // A header the handshake sets itself.
    assert_eq!(
        make(base().headers(&[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")])),
        UsageError::InvalidHeader
    );
    // §4.1 item 10: subprotocols are tokens.
    assert_eq!(
        make(base().subprotocols(&["a b"])),
        UsageError::InvalidToken
    );
}

// ---- client: the response (§4.1) ----

// RFC 6455 §4.1: a verified 101 establishes the connection; the _Subprotocol
// In Use_ is the server's Sec-WebSocket-Protocol. VECTORS.md full example
// from the client's side: the nonce "the sample nonce" gives the RFC key.
#[test]
fn client_accepts_vectors_full_example() {
    let request = ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .origin("http://example.com")
        .subprotocols(&["chat", "superchat"]);
    let entropy = FixedNonce {
        nonce: b"the sample nonce".to_vec(),
        next: 0,
    };
    let mut client =
        Connection::client(Config::default(), request, entropy, hybi::Instant::ZERO).unwrap();
    let (bytes, _) = take_output(&mut client);
    assert_eq!(
        header_value(&bytes, "Sec-WebSocket-Key"),
        "dGhlIHNhbXBsZSBub25jZQ=="
    );
    let mut input = RFC_RESPONSE.to_vec();
    let out = client.handle_input(&mut input, NOW);
    assert_eq!(out.consumed, RFC_RESPONSE.len());
    match out.event {
        Some(Event::Accepted(r)) => {
            assert_eq!(r.status(), 101);
            assert_eq!(r.reason(), "Switching Protocols");
            assert_eq!(r.subprotocol(), Some("chat"));
            assert_eq!(
                r.header("sec-websocket-accept"),
                Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
            );
            assert_eq!(r.extensions().count(), 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.state(), State::Open);
    assert_eq!(client.subprotocol(), Some("chat"));
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(take_output(&mut client), (Vec::new(), false));
    // Open: the client's frames are masked (§5.3).
    client.send_text("Hello").unwrap();
    let sent = decode_frames(&take_output(&mut client).0);
    assert_eq!(sent, vec![(0x81, b"Hello".to_vec())]);
}

// RFC 6455 §4.1: a verified 101 with a subprotocol and an accepted
// extension, fed whole and one byte at a time.
#[test]
fn client_accepts_verified_101_any_split() {
    for chunk in [usize::MAX, 1] {
        let (mut client, key) = chat_client();
        let input = response_101(
            &key,
            &[
                "Sec-WebSocket-Protocol: superchat",
                "Sec-WebSocket-Extensions: permessage-deflate",
            ],
        );
        let events = feed_chunks(&mut client, &input, chunk.min(input.len()));
        assert_eq!(
            events,
            vec![Ev::Accepted {
                status: 101,
                protocol: Some("superchat".into())
            }],
            "chunk {chunk}"
        );
        assert_eq!(client.state(), State::Open);
        assert_eq!(client.subprotocol(), Some("superchat"));
        assert_eq!(client.error(), None);
        assert_eq!(take_output(&mut client), (Vec::new(), false));
    }
}

// RFC 6455 §4.1 / §5: frames sent right after the 101, in the same input,
// are not lost: the Accepted event consumes only the head.
#[test]
fn client_101_followed_by_frames_in_same_input() {
    let (mut client, key) = chat_client();
    let head = response_101(&key, &["Sec-WebSocket-Protocol: chat"]);
    let mut input = head.clone();
    input.extend_from_slice(&UNMASKED_HELLO);
    input.extend_from_slice(&ping_frame(Role::Client, b"hi"));
    let out = client.handle_input(&mut input, NOW);
    assert_eq!(out.consumed, head.len());
    assert_eq!(
        Ev::from_event(&out.event.unwrap()),
        Ev::Accepted {
            status: 101,
            protocol: Some("chat".into())
        }
    );
    let mut pos = head.len();
    let mut events = Vec::new();
    loop {
        let out = client.handle_input(&mut input[pos..], NOW);
        pos += out.consumed;
        match out.event {
            Some(ev) => events.push(Ev::from_event(&ev)),
            None => break,
        }
    }
    assert_eq!(pos, input.len());
    assert_eq!(events, vec![text("Hello"), Ev::Ping(b"hi".to_vec())]);
    // The automatic Pong (§5.5.2) is masked.
    let sent = decode_frames(&take_output(&mut client).0);
    assert_eq!(sent, vec![(0x8a, b"hi".to_vec())]);
    // The same through feed_chunks, whole and byte by byte.
    for chunk in [input.len(), 1] {
        let (mut client, key) = chat_client();
        let mut input = response_101(&key, &[]);
        input.extend_from_slice(&UNMASKED_HELLO);
        let events = merge(feed_chunks(&mut client, &input, chunk));
        assert_eq!(
            events,
            vec![
                Ev::Accepted {
                    status: 101,
                    protocol: None
                },
                text("Hello")
            ],
            "chunk {chunk}"
        );
    }
}

// RFC 6455 §4.1 step 4 / VECTORS.md negative vector: for key
// x3JJHMbDL1EzLkh9GBhXDw== the value HSmrc0sM1YUkAGmm50PpG2HaGWk= must be
// rejected; HSmrc0sMlYUkAGmm5OPpG2HaGWk= accepted.
#[test]
fn client_rejects_vectors_negative_accept_value() {
    let nonce = base64_decode("x3JJHMbDL1EzLkh9GBhXDw==").unwrap();
    let run = |accept: &str| {
        let entropy = FixedNonce {
            nonce: nonce.clone(),
            next: 0,
        };
        let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
        let mut client =
            Connection::client(Config::default(), request, entropy, hybi::Instant::ZERO).unwrap();
        let (bytes, _) = take_output(&mut client);
        assert_eq!(
            header_value(&bytes, "Sec-WebSocket-Key"),
            "x3JJHMbDL1EzLkh9GBhXDw=="
        );
        let line = format!("Sec-WebSocket-Accept: {accept}");
        let input = head(&[
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            &line,
        ]);
        let events = feed_chunks(&mut client, &input, input.len());
        (events, take_output(&mut client))
    };
    let (events, output) = run("HSmrc0sM1YUkAGmm50PpG2HaGWk=");
    assert_eq!(events, vec![failed(AcceptMismatch)]);
    assert_eq!(output, (Vec::new(), true));
    let (events, output) = run("HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    assert_eq!(
        events,
        vec![Ev::Accepted {
            status: 101,
            protocol: None
        }]
    );
    assert_eq!(output, (Vec::new(), false));
}

// RFC 6455 §4.1 step 4, VECTORS.md negative vector style: the right value
// with one character changed, at every position, fails the connection.
#[test]
fn client_rejects_accept_with_one_character_changed() {
    let (_, key) = chat_client();
    let right = accept_key(key.as_bytes()).as_str().to_string();
    assert_eq!(right, "Bz3qJYTGdOe8gUSpLosEdiLKDrk=");
    for i in [0, 8, 13, 26, 27] {
        let mut wrong = right.clone().into_bytes();
        wrong[i] = if wrong[i] == b'A' { b'B' } else { b'A' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_client_fails(
            |_| {
                let line = format!("Sec-WebSocket-Accept: {wrong}");
                head(&[
                    "HTTP/1.1 101 Switching Protocols",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    &line,
                ])
            },
            AcceptMismatch,
        );
    }
    // §4.1 step 4: "ignoring any leading and trailing whitespace".
    let (mut client, key) = chat_client();
    let line = format!(
        "Sec-WebSocket-Accept:   {}  ",
        accept_key(key.as_bytes()).as_str()
    );
    let input = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &line,
    ]);
    assert_eq!(
        feed_chunks(&mut client, &input, input.len()),
        vec![Ev::Accepted {
            status: 101,
            protocol: None
        }]
    );
}

// RFC 6455 §4.1 step 4: "If the response lacks a |Sec-WebSocket-Accept|
// header field ... the client MUST _Fail the WebSocket Connection_".
#[test]
fn client_rejects_missing_accept() {
    assert_client_fails(
        |_| {
            head(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
            ])
        },
        AcceptMismatch,
    );
}

// RFC 6455 §4.1 step 2: "If the response lacks an |Upgrade| header field or
// the |Upgrade| header field contains a value that is not an ASCII
// case-insensitive match for the value "websocket"".
#[test]
fn client_rejects_missing_upgrade() {
    let response = |upgrade: Option<&'static str>| {
        move |key: &str| {
            let accept = format!(
                "Sec-WebSocket-Accept: {}",
                accept_key(key.as_bytes()).as_str()
            );
            let mut lines = vec!["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade"];
            lines.extend(upgrade);
            lines.push(&accept);
            head(&lines)
        }
    };
    assert_client_fails(response(None), MissingUpgrade);
    assert_client_fails(response(Some("Upgrade: h2c")), MissingUpgrade);
    assert_client_fails(response(Some("Upgrade: web socket")), MissingUpgrade);
}

// RFC 6455 §4.1 step 3: "If the response lacks a |Connection| header field or
// the |Connection| header field doesn't contain a token that is an ASCII
// case-insensitive match for the value "Upgrade"".
#[test]
fn client_rejects_connection_without_upgrade() {
    let response = |connection: Option<&'static str>| {
        move |key: &str| {
            let accept = format!(
                "Sec-WebSocket-Accept: {}",
                accept_key(key.as_bytes()).as_str()
            );
            let mut lines = vec!["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket"];
            lines.extend(connection);
            lines.push(&accept);
            head(&lines)
        }
    };
    assert_client_fails(
        response(Some("Connection: keep-alive")),
        MissingConnectionUpgrade,
    );
    assert_client_fails(response(None), MissingConnectionUpgrade);
}

// RFC 6455 §4.1 step 6: a subprotocol "that was not present in the client's
// handshake" fails the connection.
#[test]
fn client_rejects_unoffered_subprotocol() {
    assert_client_fails(
        |key| response_101(key, &["Sec-WebSocket-Protocol: mqtt"]),
        UnofferedSubprotocol,
    );
    // §4.3: the server's value is one token, not the offered list.
    assert_client_fails(
        |key| response_101(key, &["Sec-WebSocket-Protocol: chat, superchat"]),
        UnofferedSubprotocol,
    );
    // A client that offered none.
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let (mut client, _, key) = client_for(request, 0);
    let input = response_101(&key, &["Sec-WebSocket-Protocol: chat"]);
    assert_eq!(
        feed_chunks(&mut client, &input, input.len()),
        vec![failed(UnofferedSubprotocol)]
    );
    assert_eq!(client.subprotocol(), None);
}

// RFC 6455 §4.1 step 5: an extension "that was not present in the client's
// handshake" fails the connection.
#[test]
fn client_rejects_unoffered_extension() {
    assert_client_fails(
        |key| response_101(key, &["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
        UnofferedExtension,
    );
    assert_client_fails(
        |key| {
            response_101(
                key,
                &["Sec-WebSocket-Extensions: permessage-deflate, x-foo"],
            )
        },
        UnofferedExtension,
    );
}

// RFC 6455 §4.1: "all header field names in both HTTP requests and HTTP
// responses are case-insensitive"; steps 2 and 3 compare the Upgrade and
// Connection values ASCII case-insensitively, Connection as a token list.
#[test]
fn client_accepts_any_case_headers_and_values() {
    let (mut client, key) = chat_client();
    let accept = format!(
        "sec-websocket-accept: {}",
        accept_key(key.as_bytes()).as_str()
    );
    let input = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "UPGRADE: WebSocket",
        "connection: keep-alive, UPGRADE",
        &accept,
        "SEC-WEBSOCKET-PROTOCOL: chat",
    ]);
    assert_eq!(
        feed_chunks(&mut client, &input, 1),
        vec![Ev::Accepted {
            status: 101,
            protocol: Some("chat".into())
        }]
    );
    assert_eq!(client.state(), State::Open);
    assert_eq!(client.subprotocol(), Some("chat"));
}

// RFC 6455 §4.1 step 1: "If the status code received from the server is not
// 101, the client handles the response per HTTP [RFC2616] procedures. In
// particular, the client might perform authentication if it receives a 401".
// The body arrives in a later chunk than the head.
#[test]
fn client_401_with_body_in_later_chunk_is_rejected() {
    let (mut client, _) = chat_client();
    let mut head = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ws\"\r\n\
Content-Length: 12\r\n\r\n"
        .to_vec();
    let len = head.len();
    let out = client.handle_input(&mut head, NOW);
    assert_eq!(out.consumed, len);
    assert!(out.event.is_none(), "no Rejected before the body");
    assert_eq!(client.state(), State::Handshaking);
    let mut body = b"login ".to_vec();
    let out = client.handle_input(&mut body, NOW);
    assert_eq!(out.consumed, 6);
    assert!(out.event.is_none());
    let mut body = b"needed".to_vec();
    let out = client.handle_input(&mut body, NOW);
    assert_eq!(out.consumed, 6);
    match out.event {
        Some(Event::Rejected { response, body }) => {
            assert_eq!(response.status(), 401);
            assert_eq!(response.reason(), "Unauthorized");
            assert_eq!(
                response.header("www-authenticate"),
                Some(&b"Basic realm=\"ws\""[..])
            );
            assert_eq!(body, b"login needed");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(drain(&mut client), vec![closed_1006()]);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.error(), None);
    assert_eq!(client.subprotocol(), None);
    assert_eq!(take_output(&mut client), (Vec::new(), true));
    // The same, one byte at a time through feed_chunks.
    let (mut client, _) = chat_client();
    let input = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nlogin needed";
    assert_eq!(
        feed_chunks(&mut client, input, 1),
        vec![
            Ev::Rejected {
                status: 401,
                body: b"login needed".to_vec()
            },
            closed_1006()
        ]
    );
}

// RFC 6455 §10.4 (implementation limits) on §4.1 step 1's non-101 answer:
// Event::Rejected doc, "body holds the start of the response body, up to
// Config::max_rejection_body bytes".
#[test]
fn client_rejection_body_is_cut_at_max_rejection_body() {
    let body: Vec<u8> = (0..100u8).collect();
    let mut input = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n".to_vec();
    input.extend_from_slice(&body);
    for chunk in [input.len(), 1] {
        let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
        let mut config = Config::default();
        config.max_rejection_body = 10;
        let mut client =
            Connection::client(config, request, CountingEntropy(0), hybi::Instant::ZERO).unwrap();
        let _ = take_output(&mut client);
        assert_eq!(
            feed_chunks(&mut client, &input, chunk),
            vec![
                Ev::Rejected {
                    status: 500,
                    body: body[..10].to_vec()
                },
                closed_1006()
            ],
            "chunk {chunk}"
        );
        assert_eq!(take_output(&mut client), (Vec::new(), true));
    }
}

// RFC 6455 §4.2.2 step 3 / §4.1 step 1: "the server might redirect the client
// using a 3xx status code (but clients are not required to follow them)".
#[test]
fn client_302_redirect_exposes_location() {
    let (mut client, _) = chat_client();
    let mut input =
        b"HTTP/1.1 302 Found\r\nLocation:  ws://other.example.com/chat \r\nContent-Length: 0\r\n\r\n"
            .to_vec();
    let out = client.handle_input(&mut input, NOW);
    match out.event {
        Some(Event::Rejected { response, body }) => {
            assert_eq!(response.status(), 302);
            assert_eq!(response.location(), Some("ws://other.example.com/chat"));
            assert_eq!(response.subprotocol(), None);
            assert!(body.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(drain(&mut client), vec![closed_1006()]);
    assert_eq!(take_output(&mut client), (Vec::new(), true));
}

// RFC 9112 §6.3 (via RFC 6455 §4.1 step 1, "per HTTP procedures"): without a
// Content-Length the body runs to the end of the connection.
#[test]
fn client_rejection_without_length_completes_on_eof() {
    let (mut client, _) = chat_client();
    let input = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such ";
    assert_eq!(feed_chunks(&mut client, input, 7), vec![]);
    assert_eq!(feed_chunks(&mut client, b"chat", 4), vec![]);
    assert_eq!(client.state(), State::Handshaking);
    client.handle_eof(NOW);
    assert_eq!(
        drain(&mut client),
        vec![
            Ev::Rejected {
                status: 404,
                body: b"no such chat".to_vec()
            },
            closed_1006()
        ]
    );
    assert_eq!(client.state(), State::Closed);
    assert_eq!(take_output(&mut client), (Vec::new(), true));
    assert_eq!(drain(&mut client), vec![]);
}

// RFC 2616 §4.4 item 1 (RFC 9112 §6.3 rule 1), which RFC 6455 §4.1 step 1
// defers to ("the client handles the response per HTTP [RFC2616]
// procedures"): "Any response message which "MUST NOT" include a
// message-body (such as the 1xx, 204, and 304 responses ...) is always
// terminated by the first empty line after the header fields". The head
// alone is the whole rejection: no waiting for a body or for EOF.
#[test]
fn client_204_and_304_rejections_end_at_the_head() {
    for (status, line) in [
        (204, "HTTP/1.1 204 No Content"),
        (304, "HTTP/1.1 304 Not Modified"),
    ] {
        for chunk in [usize::MAX, 1] {
            let (mut client, _) = chat_client();
            let input = head(&[line, "Server: test"]);
            assert_eq!(
                feed_chunks(&mut client, &input, chunk.min(input.len())),
                vec![
                    Ev::Rejected {
                        status,
                        body: Vec::new()
                    },
                    closed_1006()
                ],
                "{line}, chunk {chunk}"
            );
            assert_eq!(client.state(), State::Closed);
            assert_eq!(take_output(&mut client), (Vec::new(), true));
        }
    }
}

// RFC 7230 §3.3.3 item 4 (RFC 9112 §6.3 rule 5), via RFC 6455 §4.1 step 1:
// with "multiple Content-Length header fields having differing field-values
// or a single Content-Length header field having an invalid value ... the
// message framing is invalid"; "If this is a response message received by a
// user agent, the user agent MUST close the connection to the server and
// discard the received response." So: no Rejected event built from a body
// of unknown length, and no waiting for EOF.
#[test]
fn client_rejection_with_invalid_content_length_fails_at_once() {
    for lengths in [
        &["Content-Length: 5", "Content-Length: 7"][..],
        &["Content-Length: abc"][..],
    ] {
        let (mut client, _) = chat_client();
        let mut lines = vec!["HTTP/1.1 401 Unauthorized"];
        lines.extend_from_slice(lengths);
        let mut input = head(&lines);
        input.extend_from_slice(b"hello");
        let events = feed_chunks(&mut client, &input, input.len());
        assert!(
            !events.iter().any(|e| matches!(e, Ev::Rejected { .. })),
            "{lengths:?}: a response with invalid framing was delivered: {events:?}"
        );
        assert!(
            matches!(
                events.as_slice(),
                [Ev::Closed {
                    code: 1006,
                    clean: false,
                    error: Some(_)
                }]
            ),
            "{lengths:?}: expected the connection to fail at once, got {events:?}"
        );
        assert_eq!(client.state(), State::Closed);
        assert_eq!(take_output(&mut client), (Vec::new(), true));
    }
}

// RFC 6455 §4.1: only a 101 continues the handshake; the client sent no
// Expect: 100-continue. The engine's documented choice
// (ProtocolError::UnexpectedInformational) is to fail; note that RFC 2616
// §10.1 says a client "MUST be prepared to accept one or more 1xx status
// responses prior to a regular response" and "MAY" ignore unexpected ones.
#[test]
fn client_100_continue_is_unexpected_informational() {
    assert_client_fails(
        |_| b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        UnexpectedInformational,
    );
}

// RFC 6455 §10.4 / Config::max_handshake_size: a response head that does not
// end within the limit fails the connection.
#[test]
fn client_response_head_over_max_handshake_size() {
    let cookie = format!("Set-Cookie: {}", "c".repeat(20_000));
    assert_client_fails(|key| response_101(key, &[&cookie]), HandshakeTooLarge);
}

// RFC 6455 §7.1.5: the connection closed without a Close frame, code 1006;
// §4.1 point 4 ("If the connection could not be opened").
#[test]
fn client_eof_before_response_closes_1006() {
    let (mut client, key) = chat_client();
    let partial = &response_101(&key, &[])[..20];
    assert_eq!(feed_chunks(&mut client, partial, 3), vec![]);
    client.handle_eof(NOW);
    assert_eq!(drain(&mut client), vec![closed_1006()]);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(take_output(&mut client), (Vec::new(), true));
    // Nothing at all received.
    let (mut client, _) = chat_client();
    client.handle_eof(NOW);
    assert_eq!(drain(&mut client), vec![closed_1006()]);
}

// ---- a client and a server talking (§4.1 + §4.2 + §5) ----

// RFC 6455 §1.3 / §4: the whole opening handshake between the two engines,
// with subprotocol negotiation, then one message each way; the bytes are
// moved in chunks of 1, 7 and all at once.
#[test]
fn client_and_server_handshake_and_exchange() {
    for chunk in [1, 7, usize::MAX] {
        let request = ClientRequest::new("ws://server.example.com:9000/chat?v=2")
            .unwrap()
            .origin("http://example.com")
            .subprotocols(&["chat", "superchat"]);
        let mut client = Connection::client(
            Config::default(),
            request,
            CountingEntropy(9),
            hybi::Instant::ZERO,
        )
        .unwrap();
        let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);

        let (bytes, shutdown) = take_output(&mut client);
        assert!(!shutdown);
        let n = chunk.min(bytes.len());
        assert_eq!(
            feed_chunks(&mut server, &bytes, n),
            vec![Ev::Request {
                target: "/chat?v=2".into()
            }],
            "chunk {chunk}"
        );
        // The server's preference differs from the client's order.
        server
            .accept(Accept::new().subprotocol("superchat"))
            .unwrap();
        let (bytes, shutdown) = take_output(&mut server);
        assert!(!shutdown);
        let n = chunk.min(bytes.len());
        assert_eq!(
            feed_chunks(&mut client, &bytes, n),
            vec![Ev::Accepted {
                status: 101,
                protocol: Some("superchat".into())
            }],
            "chunk {chunk}"
        );
        assert_eq!(client.subprotocol(), Some("superchat"));
        assert_eq!(server.subprotocol(), Some("superchat"));
        assert_eq!(client.state(), State::Open);
        assert_eq!(server.state(), State::Open);

        client.send_text("hello from the client").unwrap();
        let (bytes, _) = take_output(&mut client);
        assert_eq!(bytes[1] & 0x80, 0x80, "client frames are masked");
        let n = chunk.min(bytes.len());
        assert_eq!(
            merge(feed_chunks(&mut server, &bytes, n)),
            vec![text("hello from the client")]
        );

        server.send_binary(&[0, 1, 2, 0xff]).unwrap();
        let (bytes, _) = take_output(&mut server);
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let n = chunk.min(bytes.len());
        assert_eq!(
            merge(feed_chunks(&mut client, &bytes, n)),
            vec![binary(&[0, 1, 2, 0xff])]
        );
        assert_eq!(client.error(), None);
        assert_eq!(server.error(), None);
        assert_eq!(take_output(&mut client), (Vec::new(), false));
        assert_eq!(take_output(&mut server), (Vec::new(), false));
    }
}

// ---- Config::plain_http_requests: a page and a WebSocket on one port ----

const PLAIN_GET: &[u8] =
    b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n";

// §4.2.1: by default a plain GET is not a valid handshake: 400.
#[test]
fn plain_get_is_refused_by_default() {
    let mut server = hybi::Connection::server(hybi::Config::default(), hybi::Instant::ZERO);
    let events = feed_chunks(&mut server, PLAIN_GET, 1);
    assert_eq!(events, vec![failed(hybi::ProtocolError::MissingUpgrade)]);
    let (out, shutdown) = take_output(&mut server);
    assert!(out.starts_with(b"HTTP/1.1 400 "));
    assert!(shutdown);
}

// With the switch on, the application gets the request and serves a page.
#[test]
fn plain_get_is_handed_to_the_application_when_enabled() {
    let mut config = hybi::Config::default();
    config.plain_http_requests = true;
    let mut server = hybi::Connection::server(config, hybi::Instant::ZERO);
    let mut input = PLAIN_GET.to_vec();
    let out = server.handle_input(&mut input, NOW);
    assert_eq!(out.consumed, PLAIN_GET.len());
    match out.event {
        Some(hybi::Event::Request(request)) => {
            assert!(!request.is_websocket());
            assert_eq!(request.path(), "/index.html");
            assert_eq!(request.key(), "");
            assert_eq!(request.header("accept"), Some(&b"text/html"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.accept(hybi::Accept::new()),
        Err(hybi::UsageError::NotAnUpgrade)
    );
    server
        .reject(
            Reject::new(200)
                .header("Content-Type", "text/html")
                .body(b"<p>hi</p>"),
        )
        .unwrap();
    let (out, shutdown) = take_output(&mut server);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: text/html\r\n"));
    assert!(text.contains("Content-Length: 9\r\n"));
    assert!(text.ends_with("\r\n\r\n<p>hi</p>"));
    assert!(shutdown);
    assert_eq!(
        drain(&mut server),
        vec![Ev::Closed {
            code: 1006,
            clean: false,
            error: None
        }]
    );
}

// With the switch on, upgrades still work, and a broken upgrade (Upgrade:
// websocket without a key) is still answered 400 by the engine.
#[test]
fn plain_switch_keeps_upgrades_strict() {
    let mut config = hybi::Config::default();
    config.plain_http_requests = true;
    let mut server = hybi::Connection::server(config.clone(), hybi::Instant::ZERO);
    let mut input = RFC_REQUEST.to_vec();
    match server.handle_input(&mut input, NOW).event {
        Some(hybi::Event::Request(request)) => assert!(request.is_websocket()),
        other => panic!("{other:?}"),
    }
    server.accept(hybi::Accept::new()).unwrap();
    assert_eq!(server.state(), hybi::State::Open);

    let broken = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let mut server = hybi::Connection::server(config, hybi::Instant::ZERO);
    let events = feed_chunks(&mut server, broken, 5);
    assert_eq!(events, vec![failed(hybi::ProtocolError::InvalidKey)]);
    let (out, _) = take_output(&mut server);
    assert!(out.starts_with(b"HTTP/1.1 400 "));
}
