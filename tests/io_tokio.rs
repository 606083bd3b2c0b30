//! The tokio adapter over real loopback TCP: echo of every size, the
//! handshake hook, rejections, pings answered by a reader alone, the
//! `Stream` + `Sink` traits, split halves in two tasks, backpressure against
//! a peer that stops reading, both closing directions, protocol errors, and
//! interop with the blocking adapter. Every spawned task serves one
//! connection and ends by itself; every wait has a safety net.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hybi::io::tokio::WebSocketStream;
use hybi::io::{CloseFrame, Error, Message};
use hybi::{Accept, Decision};
use hybi::{ClientRequest, CloseCode, Config, MessageKind, ProtocolError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A broken test fails after this instead of hanging.
const SAFETY: Duration = Duration::from_secs(20);

async fn within<F: Future>(f: F) -> F::Output {
    timeout(SAFETY, f).await.expect("safety timeout")
}

async fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

async fn client(port: u16, path: &str) -> WebSocketStream<TcpStream> {
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}{path}")).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    within(WebSocketStream::connect(request, stream, Config::default()))
        .await
        .unwrap()
}

/// What an echo server saw: the peer's Close and how the connection ended.
type Seen = (Option<CloseFrame>, hybi::Closed);

/// Accepts one connection on `/echo` (choosing subprotocol "chat" when
/// offered), echoes every data message until the end.
fn echo_server(listener: TcpListener) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = WebSocketStream::accept_with(stream, Config::default(), |request| {
            assert_eq!(request.path(), "/echo");
            let accept = Accept::new().header("Set-Cookie", "id=1");
            match request.offers_subprotocol("chat") {
                true => accept.subprotocol("chat").into(),
                false => accept.into(),
            }
        })
        .await
        .unwrap();
        let mut close = None;
        while let Some(message) = ws.next().await {
            match message.unwrap() {
                message @ (Message::Text(_) | Message::Binary(_)) => {
                    ws.send(message).await.unwrap()
                }
                Message::Close(frame) => close = frame,
                _ => {}
            }
        }
        (close, ws.closed().unwrap())
    }))
}

const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

fn binary(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Text of exactly `size` bytes, mostly multi-byte characters.
fn text(size: usize) -> String {
    let mut text: String = "héllo 😀 ".chars().cycle().take(size).collect();
    while text.len() > size {
        text.pop();
    }
    while text.len() < size {
        text.push('x');
    }
    text
}

#[tokio::test]
async fn echo_of_every_size_fragments_ping_and_close() {
    let (listener, port) = bind().await;
    let server = echo_server(listener);

    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/echo"))
        .unwrap()
        .subprotocols(&["superchat", "chat"]);
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut ws = within(WebSocketStream::connect(request, stream, Config::default()))
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));

    within(async {
        for size in SIZES {
            let message = Message::Binary(binary(size));
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), message, "binary {size}");
            let message = Message::Text(text(size));
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), message, "text {size}");
        }

        ws.send_fragment(MessageKind::Text, "frag".as_bytes(), false)
            .await
            .unwrap();
        ws.send_fragment(MessageKind::Text, "mé".as_bytes(), false)
            .await
            .unwrap();
        ws.send_fragment(MessageKind::Text, "nted".as_bytes(), true)
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("fragménted".into())
        );
        let big = binary(3 << 20);
        for chunk in big.chunks(1 << 20) {
            ws.send_fragment(MessageKind::Binary, chunk, false)
                .await
                .unwrap();
        }
        ws.send_fragment(MessageKind::Binary, &[], true)
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(big));

        ws.send(Message::Ping(b"are you there".to_vec()))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(b"are you there".to_vec())
        );

        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: String::new()
            }))
        );
        // The client waits for the server to close the transport (§7.1.1).
        assert!(ws.next().await.is_none());
        assert!(ws.next().await.is_none());
    })
    .await;
    let closed = ws.closed().unwrap();
    assert!(closed.clean);
    assert_eq!(closed.code, CloseCode::NORMAL);

    let (seen, server_closed) = within(server).await.unwrap();
    assert_eq!(
        seen,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        })
    );
    assert!(server_closed.clean);
}

#[tokio::test]
async fn hook_rejects_and_client_sees_status_headers_and_body() {
    let (listener, port) = bind().await;
    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let result = WebSocketStream::accept_with(stream, Config::default(), |request| {
            assert_eq!(request.path(), "/private");
            Decision::reject(403, "no entry")
        })
        .await;
        assert!(matches!(result, Err(Error::Refused(403))), "{result:?}");
    }));
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/private")).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    match within(WebSocketStream::connect(request, stream, Config::default())).await {
        Err(Error::Rejected(rejection)) => {
            assert_eq!(rejection.status, 403);
            assert_eq!(rejection.body, b"no entry");
            assert_eq!(
                rejection.header("content-type"),
                Some(&b"text/plain; charset=utf-8"[..])
            );
        }
        other => panic!("{other:?}"),
    }
    within(server).await.unwrap();
}

// ---- A raw peer, for what a WebSocket client would hide ----

/// Performs a client handshake by hand; returns the response head.
async fn raw_handshake(port: u16) -> (TcpStream, String) {
    let mut raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    // Byte by byte, so no frame byte is read with the head.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(raw.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    (raw, head)
}

/// A masked client frame with a short payload.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Reads one server frame: (first byte, payload).
async fn read_frame(raw: &mut TcpStream) -> (u8, Vec<u8>) {
    let first = raw.read_u8().await.unwrap();
    let second = raw.read_u8().await.unwrap();
    assert_eq!(second & 0x80, 0, "server frames are not masked");
    let len = match second & 0x7f {
        126 => u64::from(raw.read_u16().await.unwrap()),
        127 => raw.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let mut payload = vec![0; len as usize];
    raw.read_exact(&mut payload).await.unwrap();
    (first, payload)
}

/// The application only reads; the peer's Ping is answered anyway. Run
/// over a whole stream and over a read half whose write half sits idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_while_the_application_only_reads() {
    for split in [false, true] {
        let (listener, port) = bind().await;
        let server = tokio::spawn(within(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let ws = WebSocketStream::accept(stream, Config::default())
                .await
                .unwrap();
            let mut seen = Vec::new();
            if split {
                let (mut read, _idle_writer) = ws.split();
                while let Some(message) = read.next().await {
                    seen.push(message.unwrap());
                }
                assert!(read.closed().unwrap().clean);
            } else {
                let mut ws = ws;
                while let Some(message) = ws.next().await {
                    seen.push(message.unwrap());
                }
                assert!(ws.closed().unwrap().clean);
            }
            seen
        }));

        within(async {
            let (mut raw, _) = raw_handshake(port).await;
            raw.write_all(&masked(0x89, b"hi")).await.unwrap();
            assert_eq!(read_frame(&mut raw).await, (0x8a, b"hi".to_vec()));
            raw.write_all(&masked(0x88, &1000u16.to_be_bytes()))
                .await
                .unwrap();
            assert_eq!(
                read_frame(&mut raw).await,
                (0x88, 1000u16.to_be_bytes().to_vec())
            );
            // The server shuts the transport after the closing handshake.
            let mut rest = Vec::new();
            raw.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        })
        .await;
        let seen = within(server).await.unwrap();
        assert_eq!(
            seen,
            [
                Message::Ping(b"hi".to_vec()),
                Message::Close(Some(CloseFrame {
                    code: CloseCode::NORMAL,
                    reason: String::new()
                }))
            ],
            "split: {split}"
        );
    }
}

#[tokio::test]
async fn peer_protocol_error_is_reported_after_the_close_is_sent() {
    let (listener, port) = bind().await;
    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap();
        let error = ws.next().await.unwrap().unwrap_err();
        assert!(
            matches!(error, Error::Protocol(ProtocolError::ReservedOpcode)),
            "{error}"
        );
        assert!(ws.next().await.is_none());
        let closed = ws.closed().unwrap();
        assert!(!closed.clean);
        assert_eq!(closed.error, Some(ProtocolError::ReservedOpcode));
    }));
    within(async {
        let (mut raw, _) = raw_handshake(port).await;
        // A frame with reserved opcode 3.
        raw.write_all(&[0x83, 0x80, 1, 2, 3, 4]).await.unwrap();
        let (first, payload) = read_frame(&mut raw).await;
        assert_eq!(first, 0x88, "a Close frame");
        assert_eq!(&payload[..2], &1002u16.to_be_bytes());
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    })
    .await;
    within(server).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_traits() {
    // On the whole stream.
    let (listener, port) = bind().await;
    let server = echo_server(listener);
    let mut ws = client(port, "/echo").await;
    within(async {
        SinkExt::send(&mut ws, Message::Text("one".into()))
            .await
            .unwrap();
        assert_eq!(
            StreamExt::next(&mut ws).await.unwrap().unwrap(),
            Message::Text("one".into())
        );
        let messages: Vec<Message> = (0..10).map(|i| Message::Binary(binary(i * 1000))).collect();
        let mut source = futures_util::stream::iter(messages.clone()).map(Ok);
        ws.send_all(&mut source).await.unwrap();
        for expected in &messages {
            assert_eq!(&StreamExt::next(&mut ws).await.unwrap().unwrap(), expected);
        }
        ws.feed(Message::Text("fed".into())).await.unwrap();
        SinkExt::flush(&mut ws).await.unwrap();
        assert_eq!(
            StreamExt::next(&mut ws).await.unwrap().unwrap(),
            Message::Text("fed".into())
        );
        // Close with 1000; reading completes the handshake.
        SinkExt::close(&mut ws).await.unwrap();
        assert_eq!(
            StreamExt::next(&mut ws).await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: String::new()
            }))
        );
        assert!(StreamExt::next(&mut ws).await.is_none());
        assert!(futures_util::stream::FusedStream::is_terminated(&ws));
    })
    .await;
    assert!(ws.closed().unwrap().clean);
    let (seen, _) = within(server).await.unwrap();
    assert_eq!(seen.unwrap().code, CloseCode::NORMAL);

    // Through `futures`' own split, as tokio-tungstenite code does it.
    let (listener, port) = bind().await;
    let server = echo_server(listener);
    let (mut sink, mut stream) = StreamExt::split(client(port, "/echo").await);
    let writer = tokio::spawn(within(async move {
        for i in 0..100 {
            sink.send(Message::Text(format!("m{i}"))).await.unwrap();
        }
        sink.close().await.unwrap();
    }));
    within(async {
        for i in 0..100 {
            assert_eq!(
                stream.next().await.unwrap().unwrap(),
                Message::Text(format!("m{i}"))
            );
        }
        assert!(matches!(
            stream.next().await,
            Some(Ok(Message::Close(Some(_))))
        ));
        assert!(stream.next().await.is_none());
    })
    .await;
    within(writer).await.unwrap();
    let (_, closed) = within(server).await.unwrap();
    assert!(closed.clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_send_and_receive_from_two_tasks() {
    const COUNT: usize = 1000;
    let (listener, port) = bind().await;
    let server = echo_server(listener);
    let (mut read, mut write) = client(port, "/echo").await.split();

    let writer = tokio::spawn(within(async move {
        for i in 0..COUNT {
            // Sizes vary so some messages take several writes.
            let body = format!("{i}:{}", "x".repeat(i * 37 % 5000));
            write.send(Message::Text(body)).await.unwrap();
        }
        write.close(CloseCode::NORMAL, "done").await.unwrap();
        write
    }));
    let reader = tokio::spawn(within(async move {
        let mut received = 0;
        while let Some(message) = read.next().await {
            match message.unwrap() {
                Message::Text(text) => {
                    let (index, _) = text.split_once(':').unwrap();
                    assert_eq!(index.parse::<usize>().unwrap(), received);
                    assert_eq!(
                        text.len(),
                        format!("{received}:").len() + received * 37 % 5000
                    );
                    received += 1;
                }
                Message::Close(frame) => assert_eq!(frame.unwrap().code, CloseCode::NORMAL),
                other => panic!("{other:?}"),
            }
        }
        (read, received)
    }));
    let write = within(writer).await.unwrap();
    let (read, received) = within(reader).await.unwrap();
    assert_eq!(received, COUNT);
    assert_eq!(read.buffered_output(), 0);
    let ws = read.reunite(write).unwrap();
    assert!(ws.closed().unwrap().clean);
    let (seen, closed) = within(server).await.unwrap();
    assert_eq!(seen.unwrap().reason, "done");
    assert!(closed.clean);
}

#[tokio::test]
async fn reunite_refuses_halves_of_different_connections() {
    let (listener_a, port_a) = bind().await;
    let (listener_b, port_b) = bind().await;
    let server_a = echo_server(listener_a);
    let server_b = echo_server(listener_b);
    let (read_a, write_a) = client(port_a, "/echo").await.split();
    let (read_b, write_b) = client(port_b, "/echo").await.split();
    let Err(hybi::io::tokio::ReuniteError(read_a, write_b)) = read_a.reunite(write_b) else {
        panic!("reunited halves of two connections");
    };
    for (read, write) in [(read_a, write_a), (read_b, write_b)] {
        let mut ws = read.reunite(write).unwrap();
        within(async {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            while ws.next().await.is_some() {}
        })
        .await;
        assert!(ws.closed().unwrap().clean);
    }
    within(server_a).await.unwrap();
    within(server_b).await.unwrap();
}

/// A peer that stops reading: sends wait, the engine's output stays near
/// the high-water mark, and everything flows again once the peer reads,
/// including the Pong the read half owes meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_when_the_peer_stops_reading() {
    const CHUNK: usize = 256 * 1024;
    const HIGH_WATER: usize = 1 << 20;
    let (listener, port) = bind().await;
    let (stalled_tx, stalled_rx) = oneshot::channel();

    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap();
        let (mut read, mut write) = ws.split();
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(message) = read.next().await {
                seen.push(message.unwrap());
            }
            assert!(read.closed().unwrap().clean);
            seen
        });

        // 100 MiB in 256 KiB messages cannot all go to a peer that reads
        // nothing: `feed` (poll_ready, start_send, no flush) waits at the
        // high-water mark.
        let mut sent = 0usize;
        let attempt = timeout(Duration::from_secs(1), async {
            for _ in 0..400 {
                write.feed(Message::Binary(vec![7; CHUNK])).await.unwrap();
                sent += 1;
            }
        })
        .await;
        assert!(
            attempt.is_err(),
            "100 MiB went to a peer that reads nothing"
        );
        let buffered = write.buffered_output();
        assert!(
            buffered <= HIGH_WATER + CHUNK + 14,
            "{buffered} bytes queued"
        );
        // A send waits too: until there is room, then until it is written.
        // At most its one message is added to the engine's output.
        let big = timeout(
            Duration::from_millis(300),
            write.send(Message::Binary(vec![7; 16 << 20])),
        )
        .await;
        assert!(big.is_err(), "a 16 MiB send completed");
        let after = write.buffered_output();
        assert!(after <= buffered + (16 << 20) + 14, "{after} bytes queued");
        stalled_tx.send(sent).unwrap();

        // The peer reads again: what is queued goes out.
        write.flush().await.unwrap();
        (reader.await.unwrap(), sent)
    }));

    let (mut raw, _) = raw_handshake(port).await;
    let sent = within(stalled_rx).await.unwrap();
    assert!(sent * CHUNK < 64 << 20, "sent {sent} chunks");
    let received = within(async {
        // A Ping while our output is stuck: the read half owes a Pong.
        raw.write_all(&masked(0x89, b"still there?")).await.unwrap();
        let mut received = 0usize;
        let mut ponged = false;
        loop {
            let (first, payload) = read_frame(&mut raw).await;
            match first {
                0x82 => {
                    assert!(payload.iter().all(|&b| b == 7));
                    received += payload.len();
                }
                0x8a => {
                    assert_eq!(payload, b"still there?");
                    ponged = true;
                    raw.write_all(&masked(0x88, &1000u16.to_be_bytes()))
                        .await
                        .unwrap();
                }
                0x88 => break,
                other => panic!("frame {other:#x}"),
            }
        }
        assert!(ponged);
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        received
    })
    .await;
    let (seen, sent) = within(server).await.unwrap();
    // Every message fed, and the 16 MiB one if the cut-off send queued it.
    let fed = sent * CHUNK;
    assert!(
        received == fed || received == fed + (16 << 20),
        "{received} vs {fed}"
    );
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], Message::Ping(b"still there?".to_vec()));
    assert!(matches!(seen[1], Message::Close(_)));
}

#[tokio::test]
async fn server_closes_first_and_both_ends_see_the_end() {
    let (listener, port) = bind().await;
    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap();
        ws.send(Message::Text("last words".into())).await.unwrap();
        ws.close(CloseCode::GOING_AWAY, "shutting down")
            .await
            .unwrap();
        // Sending after the Close is refused.
        assert!(matches!(
            ws.send(Message::Text("more".into())).await,
            Err(Error::Usage(hybi::UsageError::NotOpen))
        ));
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: String::new()
            }))
        );
        assert!(ws.next().await.is_none());
        ws.closed().unwrap()
    }));
    let mut ws = client(port, "/").await;
    within(async {
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("last words".into())
        );
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "shutting down".into()
            }))
        );
        assert!(ws.next().await.is_none());
    })
    .await;
    let closed = ws.closed().unwrap();
    assert!(closed.clean);
    assert_eq!(closed.code, CloseCode::GOING_AWAY);
    let server_closed = within(server).await.unwrap();
    assert!(server_closed.clean);
    assert_eq!(server_closed.code, CloseCode::GOING_AWAY);
}

#[tokio::test]
async fn peer_that_vanishes_ends_the_stream() {
    let (listener, port) = bind().await;
    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("bye".into())
        );
        assert!(ws.next().await.is_none());
        ws.closed().unwrap()
    }));
    let mut ws = client(port, "/").await;
    ws.send(Message::Text("bye".into())).await.unwrap();
    drop(ws);
    let closed = within(server).await.unwrap();
    assert!(!closed.clean);
    assert_eq!(closed.code, CloseCode::ABNORMAL);
}

#[tokio::test]
async fn blocking_client_against_tokio_server() {
    let (listener, port) = bind().await;
    let server = echo_server(listener);
    let client = tokio::task::spawn_blocking(move || {
        use hybi::io::blocking::WebSocket;
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(SAFETY)).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/echo"))
            .unwrap()
            .subprotocols(&["chat"]);
        let mut ws = WebSocket::connect(request, stream, Config::default()).unwrap();
        assert_eq!(ws.subprotocol(), Some("chat"));
        for size in SIZES {
            let payload = binary(size);
            ws.send_binary(&payload).unwrap();
            assert_eq!(ws.read().unwrap(), Some(Message::Binary(payload)));
        }
        ws.send_text("héllo").unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::Text("héllo".into())));
        ws.ping(b"p").unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::Pong(b"p".to_vec())));
        ws.close(CloseCode::NORMAL, "done").unwrap();
        assert!(matches!(ws.read().unwrap(), Some(Message::Close(_))));
        assert_eq!(ws.read().unwrap(), None);
        ws.closed().unwrap()
    });
    let closed = within(client).await.unwrap();
    assert!(closed.clean);
    let (seen, server_closed) = within(server).await.unwrap();
    assert_eq!(seen.unwrap().reason, "done");
    assert!(server_closed.clean);
}

/// Both ends split, both writing and reading at once over small socket
/// buffers, with Pings mixed in: every write hits a full transport many
/// times, so each half relies on the other's wakeups. Each side closes once
/// it has sent everything and received everything (closing earlier would
/// end the peer's sending, as RFC 6455 says).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_ends_split_with_traffic_both_ways() {
    use hybi::io::tokio::{WsReadHalf, WsWriteHalf};
    use tokio::io::{AsyncRead, AsyncWrite};

    const COUNT: usize = 200;
    const SIZE: usize = 64 * 1024;

    /// Sends COUNT messages with a Ping after every tenth, then closes once
    /// the reader got all of the peer's.
    async fn write_all<S: AsyncRead + AsyncWrite + Unpin>(
        mut write: WsWriteHalf<S>,
        tag: u8,
        all_received: oneshot::Receiver<()>,
    ) {
        for i in 0..COUNT {
            write.send(Message::Binary(vec![tag; SIZE])).await.unwrap();
            if i % 10 == 0 {
                write.send(Message::Ping(vec![tag])).await.unwrap();
            }
        }
        all_received.await.unwrap();
        // The peer may have closed first; then its Close was answered.
        match write.close(CloseCode::NORMAL, "").await {
            Ok(())
            | Err(Error::Usage(hybi::UsageError::NotOpen | hybi::UsageError::CloseAlreadySent)) => {
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Counts the peer's messages until the end; pongs answer our pings.
    async fn read_all<S: AsyncRead + AsyncWrite + Unpin>(
        mut read: WsReadHalf<S>,
        peer: u8,
        ours: u8,
        all_received: oneshot::Sender<()>,
    ) -> usize {
        let mut all_received = Some(all_received);
        let mut count = 0;
        while let Some(message) = read.next().await {
            match message.unwrap() {
                Message::Binary(bytes) => {
                    assert_eq!(bytes, vec![peer; SIZE]);
                    count += 1;
                    if count == COUNT {
                        all_received.take().unwrap().send(()).unwrap();
                    }
                }
                Message::Ping(payload) => assert_eq!(payload, [peer]),
                Message::Pong(payload) => assert_eq!(payload, [ours]),
                Message::Close(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(read.closed().unwrap().clean);
        count
    }

    let (listener, port) = bind().await;
    let server = tokio::spawn(within(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, write) = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap()
            .split();
        let (done_tx, done_rx) = oneshot::channel();
        let writer = tokio::spawn(write_all(write, b's', done_rx));
        let count = read_all(read, b'c', b's', done_tx).await;
        writer.await.unwrap();
        count
    }));

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let (read, write) = within(WebSocketStream::connect(request, stream, Config::default()))
        .await
        .unwrap()
        .split();
    let (done_tx, done_rx) = oneshot::channel();
    let writer = tokio::spawn(within(write_all(write, b'c', done_rx)));
    let count = within(read_all(read, b's', b'c', done_tx)).await;
    within(writer).await.unwrap();
    assert_eq!(count, COUNT);
    assert_eq!(within(server).await.unwrap(), COUNT);
}
