//! The engine on caller-provided buffers (`Connection<Fixed>`, issue 7:
//! "the engine runs on caller-provided fixed buffers"): full sessions
//! against the heap engine in both roles, every place a fixed buffer can run
//! out (each with its typed error and, on the wire, its status or close
//! code), and zero heap allocations from the first byte to the last.

mod common;

use common::meter;
use hybi::handshake::BorrowedRequest;
use hybi::storage::{Fixed, FixedBuffers};
use hybi::{
    Accept, ClientRequest, CloseCode, Config, Connection, Entropy, Event, Instant, MessageKind,
    ProtocolError, State, Transmit, UsageError,
};

#[global_allocator]
static GLOBAL: meter::Counting = meter::Counting;

/// A deterministic stand-in for a device RNG (tests only).
struct TestRng(u64);

impl Entropy for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 33) as u8;
        }
    }
}

/// An owned event, to compare.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Request {
        path: String,
        protocols: Vec<String>,
    },
    Accepted {
        protocol: Option<String>,
    },
    Rejected {
        status: u16,
        body: Vec<u8>,
    },
    Data(MessageKind, Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Closed {
        code: u16,
        clean: bool,
        error: Option<ProtocolError>,
    },
}

fn own(event: Event<'_>) -> Ev {
    match event {
        Event::Request(r) => Ev::Request {
            path: r.path().to_string(),
            protocols: r.subprotocols().map(String::from).collect(),
        },
        Event::Accepted(r) => Ev::Accepted {
            protocol: r.subprotocol().map(String::from),
        },
        Event::Rejected { response, body } => Ev::Rejected {
            status: response.status(),
            body: body.to_vec(),
        },
        Event::Data(d) => Ev::Data(d.kind, d.payload.to_vec(), d.fin),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close { code, reason } => Ev::Close(code.map(|c| c.0), reason.to_string()),
        Event::Closed(c) => Ev::Closed {
            code: c.code.0,
            clean: c.clean,
            error: c.error,
        },
        other => panic!("unexpected {other:?}"),
    }
}

/// Everything `from` wants to write, taken in full.
fn take_output<S: hybi::storage::Storage>(from: &mut Connection<S>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Transmit::Bytes(bytes)) = from.poll_transmit() {
        out.extend_from_slice(bytes);
        let n = bytes.len();
        from.transmitted(n);
    }
    out
}

/// Feeds `bytes` to `to` in `chunk`-byte reads and drains its events.
fn feed<S: hybi::storage::Storage>(to: &mut Connection<S>, bytes: &[u8], chunk: usize) -> Vec<Ev> {
    let mut events = Vec::new();
    let mut bytes = bytes.to_vec();
    let mut pos = 0;
    loop {
        let end = (pos + chunk).min(bytes.len());
        let input = to.handle_input(&mut bytes[pos..end], Instant::ZERO);
        let consumed = input.consumed;
        let event = input.event.map(own);
        let waiting = matches!(event, Some(Ev::Request { .. }));
        pos += consumed;
        match event {
            Some(ev) => events.push(ev),
            None if pos >= bytes.len() => break,
            None => {}
        }
        if waiting {
            break;
        }
    }
    while let Some(event) = to.poll_event() {
        events.push(own(event));
    }
    events
}

/// Joins adjacent data chunks of one message, so events compare the same
/// whatever the chunking.
fn merge(events: Vec<Ev>) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for ev in events {
        if let (Some(Ev::Data(k, bytes, fin)), Ev::Data(k2, more, fin2)) = (out.last_mut(), &ev) {
            if !*fin && k == k2 {
                bytes.extend_from_slice(more);
                *fin = *fin2;
                continue;
            }
        }
        out.push(ev);
    }
    out
}

fn heap_client(request: ClientRequest) -> Connection {
    Connection::client(Config::default(), request, TestRng(1), Instant::ZERO).unwrap()
}

fn text(s: &str) -> Ev {
    Ev::Data(MessageKind::Text, s.as_bytes().to_vec(), true)
}

fn binary(b: &[u8]) -> Ev {
    Ev::Data(MessageKind::Binary, b.to_vec(), true)
}

// ---- Full sessions against the heap engine ----

/// RFC 6455 §4 and §5 end to end with a fixed-buffer server: the
/// subprotocol agreed and kept in the handshake buffer, messages both ways
/// (one 40 times larger than any buffer of the server, streamed in), a Ping
/// answered, and the closing handshake (§7.1.2), in several chunkings.
#[test]
fn fixed_server_against_heap_client() {
    for chunk in [1, 7, 4096] {
        let (mut output, mut handshake) = ([0u8; 1024], [0u8; 1024]);
        let buffers = FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        };
        let mut server: Connection<Fixed<'_>> =
            Connection::server_in(Config::default(), buffers, Instant::ZERO);
        let mut client = heap_client(
            ClientRequest::new("ws://device.local/feed")
                .unwrap()
                .subprotocols(&["v1", "v2"]),
        );

        let events = feed(&mut server, &take_output(&mut client), chunk);
        assert_eq!(
            events,
            vec![Ev::Request {
                path: "/feed".into(),
                protocols: vec!["v1".into(), "v2".into()]
            }]
        );
        server.accept(Accept::new().subprotocol("v2")).unwrap();
        assert_eq!(server.subprotocol(), Some("v2"));
        assert_eq!(server.state(), State::Open);
        let events = feed(&mut client, &take_output(&mut server), chunk);
        assert_eq!(
            events,
            vec![Ev::Accepted {
                protocol: Some("v2".into())
            }]
        );

        // Client to server: a small text, a fragmented one, 40 KiB binary.
        let big: Vec<u8> = (0..40 * 1024).map(|i| (i * 7) as u8).collect();
        client.send_text("héllo").unwrap();
        client
            .send(MessageKind::Text, "frag".as_bytes(), false)
            .unwrap();
        client
            .send(MessageKind::Text, "mented".as_bytes(), true)
            .unwrap();
        client.send_binary(&big).unwrap();
        client.ping(b"are you there").unwrap();
        let events = merge(feed(&mut server, &take_output(&mut client), chunk));
        assert_eq!(
            events,
            vec![
                text("héllo"),
                text("fragmented"),
                binary(&big),
                Ev::Ping(b"are you there".to_vec())
            ]
        );

        // Server to client: a text, and the automatic Pong (queued when
        // the output is next polled, so after the text).
        server.send_text("from the device").unwrap();
        let events = merge(feed(&mut client, &take_output(&mut server), chunk));
        assert_eq!(
            events,
            vec![text("from the device"), Ev::Pong(b"are you there".to_vec())]
        );

        // The client closes; the fixed server answers and ends cleanly.
        client.close(CloseCode::NORMAL, "bye").unwrap();
        let events = feed(&mut server, &take_output(&mut client), chunk);
        assert_eq!(
            events,
            vec![
                Ev::Close(Some(1000), "bye".into()),
                Ev::Closed {
                    code: 1000,
                    clean: true,
                    error: None
                }
            ]
        );
        let events = feed(&mut client, &take_output(&mut server), chunk);
        assert_eq!(
            events,
            vec![
                Ev::Close(Some(1000), String::new()),
                Ev::Closed {
                    code: 1000,
                    clean: true,
                    error: None
                }
            ]
        );
        assert_eq!(server.subprotocol(), Some("v2"), "kept to the end");
    }
}

/// RFC 6455 §4.1 from a fixed-buffer client: the request written into the
/// output slice (the same bytes a heap client would write for the same
/// nonce), the 101 verified and its subprotocol kept, masked frames both
/// ways, and a close started by the client (§7.1.1: it then waits for the
/// server to close the transport).
#[test]
fn fixed_client_against_heap_server() {
    let (mut output, mut handshake) = ([0u8; 512], [0u8; 512]);
    let mut rng = TestRng(9);
    let request = BorrowedRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .origin("http://example.com")
        .subprotocols(&["chat", "superchat"])
        .headers(&[("Authorization", "Bearer abc")]);
    let mut client = Connection::client_in(
        Config::default(),
        request,
        &mut rng,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    )
    .unwrap();
    let request_bytes = take_output(&mut client);
    // Byte for byte what the heap engine writes for the same request and RNG.
    let mut heap = Connection::client(
        {
            let mut c = Config::default();
            c.deflate = None;
            c
        },
        ClientRequest::new("ws://example.com:8080/chat?room=1")
            .unwrap()
            .origin("http://example.com")
            .subprotocols(&["chat", "superchat"])
            .headers(&[("Authorization", "Bearer abc")]),
        TestRng(9),
        Instant::ZERO,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(request_bytes.clone()).unwrap(),
        String::from_utf8(take_output(&mut heap)).unwrap()
    );

    let mut server = Connection::server(Config::default(), Instant::ZERO);
    let events = feed(&mut server, &request_bytes, 5);
    assert!(matches!(&events[..], [Ev::Request { path, .. }] if path == "/chat"));
    server
        .accept(Accept::new().subprotocol("superchat"))
        .unwrap();
    server.send_text("welcome").unwrap();
    let events = merge(feed(&mut client, &take_output(&mut server), 3));
    assert_eq!(
        events,
        vec![
            Ev::Accepted {
                protocol: Some("superchat".into())
            },
            text("welcome")
        ]
    );
    assert_eq!(client.subprotocol(), Some("superchat"));

    client.send_binary(&[1, 2, 3]).unwrap();
    client.close(CloseCode::NORMAL, "").unwrap();
    let events = merge(feed(&mut server, &take_output(&mut client), 2));
    assert_eq!(
        events,
        vec![
            binary(&[1, 2, 3]),
            Ev::Close(Some(1000), String::new()),
            Ev::Closed {
                code: 1000,
                clean: true,
                error: None
            }
        ]
    );
    let events = feed(&mut client, &take_output(&mut server), 64);
    assert_eq!(
        events,
        vec![
            Ev::Close(Some(1000), String::new()),
            Ev::Closed {
                code: 1000,
                clean: true,
                error: None
            }
        ]
    );
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.subprotocol(), Some("superchat"));
}

// ---- Running out of room ----

/// A fixed-buffer server on `output` and `handshake`, open with a heap
/// client (both handshake outputs taken).
fn open_fixed_server<'a>(
    config: Config,
    output: &'a mut [u8],
    handshake: &'a mut [u8],
) -> (Connection<Fixed<'a>>, Connection) {
    let buffers = FixedBuffers { output, handshake };
    let mut server = Connection::server_in(config, buffers, Instant::ZERO);
    let mut client = heap_client(ClientRequest::new("ws://h/").unwrap());
    feed(&mut server, &take_output(&mut client), 1024);
    server.accept(Accept::new()).unwrap();
    feed(&mut client, &take_output(&mut server), 1024);
    (server, client)
}

/// RFC 6455 §4.2.1 / §10.4: a request head larger than the handshake
/// buffer is refused with 431 (as a head over `max_handshake_size` is),
/// written into the output buffer, and the connection closes.
#[test]
fn request_head_larger_than_the_handshake_buffer_is_431() {
    let (mut output, mut handshake) = ([0u8; 512], [0u8; 256]);
    let mut server = Connection::server_in(
        Config::default(),
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    );
    let mut client = heap_client(
        ClientRequest::new("ws://h/")
            .unwrap()
            .headers(&[("Cookie", &"x".repeat(300))]),
    );
    let events = feed(&mut server, &take_output(&mut client), 64);
    assert_eq!(
        events,
        vec![Ev::Closed {
            code: 1006,
            clean: false,
            error: Some(ProtocolError::HandshakeTooLarge)
        }]
    );
    let answer = take_output(&mut server);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// A client request that does not fit the output buffer is refused before
/// anything is sent, as `OutputFull`.
#[test]
fn client_request_larger_than_the_output_buffer_is_refused() {
    let (mut output, mut handshake) = ([0u8; 128], [0u8; 512]);
    let mut rng = TestRng(3);
    let result = Connection::client_in(
        Config::default(),
        BorrowedRequest::new("ws://a-rather-long-host-name.example.com/and/a/long/path").unwrap(),
        &mut rng,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    );
    assert_eq!(result.err(), Some(UsageError::OutputFull));
}

/// Invalid request parts are refused exactly as `ClientRequest` refuses
/// them (RFC 6455 §4.1 item 10: subprotocols are unique tokens).
#[test]
fn borrowed_request_is_validated_like_client_request() {
    let mut output = [0u8; 512];
    let mut handshake = [0u8; 512];
    let mut rng = TestRng(3);
    let result = Connection::client_in(
        Config::default(),
        BorrowedRequest::new("ws://h/")
            .unwrap()
            .subprotocols(&["a b"]),
        &mut rng,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    );
    assert_eq!(result.err(), Some(UsageError::InvalidToken));
    assert_eq!(
        BorrowedRequest::new("http://h/").err(),
        Some(UsageError::InvalidUri)
    );
}

/// A frame that does not fit the output slice is `OutputFull` and leaves
/// the queue as it was; once written out, it fits again. A Close still
/// fits when data has filled the buffer (the 278 bytes kept for it), so a
/// connection can always end (§7.1.2).
#[test]
fn output_slice_bounds_frames_and_keeps_room_for_close() {
    let (mut output, mut handshake) = ([0u8; 600], [0u8; 512]);
    let (mut server, mut client) =
        open_fixed_server(Config::default(), &mut output, &mut handshake);

    // 600 - 278 = 322 bytes for data frames.
    assert_eq!(server.send_binary(&[7; 400]), Err(UsageError::OutputFull));
    assert_eq!(server.buffered_output(), 0);
    server.send_binary(&[7; 300]).unwrap();
    assert_eq!(server.send_binary(&[7; 30]), Err(UsageError::OutputFull));
    let events = feed(&mut client, &take_output(&mut server), 1024);
    assert_eq!(events, vec![binary(&[7; 300])]);
    server.send_binary(&[8; 300]).unwrap();
    // Full of data, and a Close with a full-length reason still fits.
    server
        .close(CloseCode::GOING_AWAY, &"r".repeat(123))
        .unwrap();
    let events = feed(&mut client, &take_output(&mut server), 1024);
    assert_eq!(
        events,
        vec![
            binary(&[8; 300]),
            Ev::Close(Some(1001), "r".repeat(123)),
            Ev::Closed {
                code: 1001,
                clean: true,
                error: None
            }
        ]
    );
}

/// RFC 6455 §7.4.1: a message over `max_message_size` fails the connection
/// with 1009 on fixed buffers too, however the data arrived; nothing is
/// buffered, so the limit is the only bound.
#[test]
fn oversized_message_is_1009() {
    let (mut output, mut handshake) = ([0u8; 512], [0u8; 512]);
    let mut config = Config::default();
    config.max_message_size = 1000;
    let (mut server, mut client) = open_fixed_server(config, &mut output, &mut handshake);
    client.send(MessageKind::Binary, &[1; 600], false).unwrap();
    client.send(MessageKind::Binary, &[2; 600], true).unwrap();
    let events = feed(&mut server, &take_output(&mut client), 100);
    assert_eq!(
        events.last(),
        Some(&Ev::Closed {
            code: 1006,
            clean: false,
            error: Some(ProtocolError::MessageTooLarge)
        })
    );
    let events = feed(&mut client, &take_output(&mut server), 1024);
    assert!(
        matches!(events.first(), Some(Ev::Close(Some(1009), _))),
        "{events:?}"
    );
}

/// A client's rejection (RFC 6455 §4.1: any status but 101) is handed out
/// with as much of its body as fits after the head in the handshake slice.
#[test]
fn rejection_body_is_cut_to_the_handshake_slice() {
    let (mut output, mut handshake) = ([0u8; 512], [0u8; 160]);
    let mut rng = TestRng(5);
    let mut client = Connection::client_in(
        Config::default(),
        BorrowedRequest::new("ws://h/").unwrap(),
        &mut rng,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    )
    .unwrap();
    take_output(&mut client);
    let head = "HTTP/1.1 403 Forbidden\r\nContent-Length: 200\r\n\r\n";
    let mut answer = head.as_bytes().to_vec();
    answer.extend_from_slice(&[b'b'; 200]);
    let events = feed(&mut client, &answer, 16);
    assert_eq!(
        events,
        vec![
            Ev::Rejected {
                status: 403,
                body: vec![b'b'; 160 - head.len()]
            },
            Ev::Closed {
                code: 1006,
                clean: false,
                error: None
            }
        ]
    );
}

/// RFC 7692 needs a compressor, which needs a heap: a fixed server with
/// `Config::deflate` set answers a permessage-deflate offer without the
/// extension (RFC 6455 §9.1: the server may decline), and both sides then
/// talk uncompressed.
#[cfg(feature = "deflate")]
#[test]
fn fixed_storage_declines_permessage_deflate() {
    let (mut output, mut handshake) = ([0u8; 1024], [0u8; 1024]);
    let mut config = Config::default();
    config.deflate = Some(hybi::DeflateConfig::default());
    let mut server = Connection::server_in(
        config.clone(),
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    );
    let mut client = Connection::client(
        config,
        ClientRequest::new("ws://h/").unwrap(),
        TestRng(2),
        Instant::ZERO,
    )
    .unwrap();
    feed(&mut server, &take_output(&mut client), 1024);
    server.accept(Accept::new()).unwrap();
    let answer = take_output(&mut server);
    assert!(!String::from_utf8_lossy(&answer)
        .to_ascii_lowercase()
        .contains("permessage-deflate"));
    feed(&mut client, &answer, 1024);
    assert_eq!(client.deflate(), None);
    client.send_text(&"compressible ".repeat(50)).unwrap();
    let events = merge(feed(&mut server, &take_output(&mut client), 1024));
    assert_eq!(events, vec![text(&"compressible ".repeat(50))]);
}

/// Writes everything `from` queued into `sink` without allocating.
fn drain_into<S: hybi::storage::Storage>(from: &mut Connection<S>, sink: &mut [u8]) -> usize {
    let mut len = 0;
    while let Some(Transmit::Bytes(bytes)) = from.poll_transmit() {
        sink[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
        let n = bytes.len();
        from.transmitted(n);
    }
    len
}

/// Feeds `input` whole and counts the events, without allocating.
fn count_events<S: hybi::storage::Storage>(to: &mut Connection<S>, input: &mut [u8]) -> usize {
    let (mut events, mut pos) = (0, 0);
    loop {
        let step = to.handle_input(&mut input[pos..], Instant::ZERO);
        pos += step.consumed;
        match step.event {
            Some(_) => events += 1,
            None => break,
        }
    }
    while to.poll_event().is_some() {
        events += 1;
    }
    events
}

/// The point of fixed storage: not one heap allocation in the engine from
/// the first byte of the handshake to the end of the closing handshake, in
/// either role. The heap peer runs between the metered spans.
#[test]
fn zero_allocations_in_either_role() {
    let mut wire = [0u8; 4096];

    // Server role.
    let (mut output, mut handshake) = ([0u8; 2048], [0u8; 1024]);
    let mut client = heap_client(ClientRequest::new("ws://h/x").unwrap().subprotocols(&["p"]));
    let mut request = take_output(&mut client);
    meter::start();
    let mut server = Connection::server_in(
        Config::default(),
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    );
    assert_eq!(count_events(&mut server, &mut request), 1);
    server.accept(Accept::new().subprotocol("p")).unwrap();
    server.send_text("hello").unwrap();
    let n = drain_into(&mut server, &mut wire);
    assert_eq!(
        meter::stats().peak,
        0,
        "server handshake and send allocated"
    );
    let events = feed(&mut client, &wire[..n], 4096);
    assert_eq!(
        events,
        vec![
            Ev::Accepted {
                protocol: Some("p".into())
            },
            text("hello")
        ]
    );
    client.send_text("world").unwrap();
    client.ping(b"ping").unwrap();
    client.close(CloseCode::NORMAL, "done").unwrap();
    let mut frames = take_output(&mut client);
    meter::start();
    // "world", the Ping, the Close, Closed.
    assert_eq!(count_events(&mut server, &mut frames), 4);
    let n = drain_into(&mut server, &mut wire);
    assert_eq!(meter::stats().peak, 0, "server receive and close allocated");
    assert_eq!(server.state(), State::Closed);
    let events = feed(&mut client, &wire[..n], 4096);
    assert_eq!(events.first(), Some(&Ev::Pong(b"ping".to_vec())));

    // Client role.
    let (mut output, mut handshake) = ([0u8; 1024], [0u8; 1024]);
    let mut rng = TestRng(11);
    let mut peer = Connection::server(Config::default(), Instant::ZERO);
    meter::start();
    let mut fixed_client = Connection::client_in(
        Config::default(),
        BorrowedRequest::new("ws://h/")
            .unwrap()
            .subprotocols(&["p"]),
        &mut rng,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        Instant::ZERO,
    )
    .unwrap();
    let n = drain_into(&mut fixed_client, &mut wire);
    assert_eq!(meter::stats().peak, 0, "client construction allocated");
    feed(&mut peer, &wire[..n], 4096);
    peer.accept(Accept::new().subprotocol("p")).unwrap();
    peer.send_text("hi").unwrap();
    peer.close(CloseCode::NORMAL, "").unwrap();
    let mut answer = take_output(&mut peer);
    meter::start();
    // Accepted, "hi", the Close, Closed (the reply completed the closing
    // handshake).
    assert_eq!(count_events(&mut fixed_client, &mut answer), 4);
    let n = drain_into(&mut fixed_client, &mut wire);
    assert_eq!(meter::stats().peak, 0, "client receive and close allocated");
    assert_eq!(fixed_client.subprotocol(), Some("p"));
    assert!(n > 0, "the Close reply was written");
}

/// What a fixed-buffer connection costs beyond the two slices lent to it:
/// the engine's own state, inline (no heap at all). Printed for the
/// records (`-- --nocapture`), and held under 1 KiB so that growth is a
/// decision, not an accident.
#[test]
fn fixed_connection_footprint() {
    let size = std::mem::size_of::<Connection<Fixed<'static>>>();
    println!("size_of::<Connection<Fixed>>() = {size} B, plus the output and handshake slices");
    assert!(size <= 1024, "Connection<Fixed> grew to {size} bytes");
}
