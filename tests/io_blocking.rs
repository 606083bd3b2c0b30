//! The blocking adapter over real loopback TCP: handshake with a hook,
//! messages both ways, pings, the closing handshake, rejections, protocol
//! errors, and non-blocking sockets that lose nothing on WouldBlock.
//! Every server thread serves one connection and ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use hybi::io::blocking::WebSocket;
use hybi::io::{CloseFrame, Error, Message};
use hybi::{Accept, Decision};
use hybi::{ClientRequest, CloseCode, Config, ProtocolError};

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn client_stream(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A safety net so a broken test fails instead of hanging.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Echoes every data message until the connection ends; returns the close
/// frame it saw.
fn echo_server(listener: TcpListener) -> thread::JoinHandle<Option<CloseFrame>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
            assert_eq!(request.path(), "/echo");
            let accept = Accept::new().header("Set-Cookie", "id=1");
            match request.offers_subprotocol("chat") {
                true => accept.subprotocol("chat").into(),
                false => accept.into(),
            }
        })
        .unwrap();
        let mut close = None;
        while let Some(message) = ws.read().unwrap() {
            match message {
                Message::Text(_) | Message::Binary(_) => ws.send(message).unwrap(),
                Message::Close(frame) => close = frame,
                _ => {}
            }
        }
        assert!(ws.closed().unwrap().clean);
        close
    })
}

#[test]
fn echo_ping_and_close_over_tcp() {
    let (listener, port) = listener();
    let server = echo_server(listener);

    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/echo"))
        .unwrap()
        .subprotocols(&["superchat", "chat"]);
    let mut ws = WebSocket::connect(request, client_stream(port), Config::default()).unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));

    ws.send_text("héllo 😀").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("héllo 😀".into())));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.send_binary(&big).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    ws.send_fragment(hybi::MessageKind::Text, b"frag", false)
        .unwrap();
    ws.send_fragment(hybi::MessageKind::Text, b"mented", true)
        .unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("fragmented".into())));
    ws.ping(b"are you there").unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::Pong(b"are you there".to_vec()))
    );

    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        })))
    );
    // The client waits for the server to close the transport (§7.1.1).
    assert_eq!(ws.read().unwrap(), None);
    let closed = ws.closed().unwrap();
    assert!(closed.clean);
    assert_eq!(closed.code, CloseCode::NORMAL);
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        })
    );
}

#[test]
fn server_hook_rejects_and_client_sees_status_and_body() {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let result = WebSocket::accept_with(stream, Config::default(), |_| {
            Decision::reject(403, "no entry")
        });
        assert!(matches!(result, Err(Error::Refused(403))), "{result:?}");
    });
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    match WebSocket::connect(request, client_stream(port), Config::default()) {
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
    server.join().unwrap();
}

#[test]
fn peer_protocol_error_is_reported_after_the_close_is_sent() {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream, Config::default()).unwrap();
        let error = ws.read().unwrap_err();
        assert!(
            matches!(error, Error::Protocol(ProtocolError::ReservedOpcode)),
            "{error}"
        );
        assert_eq!(ws.read().unwrap(), None);
    });
    // A raw client: a valid handshake, then a frame with reserved opcode 3.
    let mut raw = client_stream(port);
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    raw.write_all(&[0x83, 0x80, 1, 2, 3, 4]).unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    let frame_start = text.find("\r\n\r\n").unwrap() + 4;
    let close = &answer[frame_start..];
    assert_eq!(close[0], 0x88, "a Close frame");
    assert_eq!(&close[2..4], &1002u16.to_be_bytes());
    server.join().unwrap();
}

/// Retries `f` while it reports WouldBlock.
fn retry<T>(mut f: impl FnMut() -> Result<T, Error>) -> T {
    let mut spins = 0u64;
    loop {
        match f() {
            Err(e) if e.is_would_block() => {
                spins += 1;
                assert!(spins < 5_000_000, "no progress");
                thread::yield_now();
            }
            other => return other.unwrap(),
        }
    }
}

#[test]
fn non_blocking_sockets_lose_nothing() {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut ws = WebSocket::server(stream, Config::default());
        retry(|| ws.handshake(|_| Decision::accept()));
        let mut received = Vec::new();
        loop {
            match retry(|| ws.read()) {
                Some(Message::Binary(b)) => {
                    received.push(b.len());
                    // Queued even if the socket is full; flushed by retry.
                    match ws.send_binary(&b) {
                        Err(e) if e.is_would_block() => retry(|| ws.flush()),
                        other => other.unwrap(),
                    }
                }
                Some(_) => {}
                None => return received,
            }
        }
    });

    let stream = client_stream(port);
    stream.set_nonblocking(true).unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let mut ws = WebSocket::client(request, stream, Config::default()).unwrap();
    retry(|| ws.handshake(|_| Decision::accept()));
    let sizes = [0usize, 1, 125, 126, 65535, 65536, 1 << 20];
    for &size in &sizes {
        let payload: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        match ws.send_binary(&payload) {
            Err(e) if e.is_would_block() => retry(|| ws.flush()),
            other => other.unwrap(),
        }
        match retry(|| ws.read()) {
            Some(Message::Binary(echo)) => assert_eq!(echo, payload, "size {size}"),
            other => panic!("{other:?}"),
        }
    }
    match ws.close(CloseCode::NORMAL, "") {
        Err(e) if e.is_would_block() => retry(|| ws.flush()),
        other => other.unwrap(),
    }
    while retry(|| ws.read()).is_some() {}
    assert!(ws.closed().unwrap().clean);
    assert_eq!(server.join().unwrap(), sizes.to_vec());
}

// permessage-deflate through the blocking adapter: agreed on both ends,
// compressed by default, and `send_fragment_with(.., Compression::Off)`
// sends one message plain (RSV1 clear) for an already-compressed payload.
#[cfg(feature = "deflate")]
#[test]
fn deflate_with_a_per_send_opt_out() {
    use hybi::{Compression, DeflateConfig, MessageKind};
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    let (listener, port) = listener();
    let server_config = config.clone();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // Read the raw frames: the first byte of each tells RSV1.
        let mut ws = WebSocket::accept(stream, server_config).unwrap();
        assert!(ws.deflate().is_some());
        let mut raw = ws.get_mut().try_clone().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = Vec::new();
        loop {
            let n = raw.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            // Frames from a client: 2-byte head (+2 for 126) + 4-byte mask.
            let mut pos = 0;
            let mut frames = Vec::new();
            while pos + 2 <= got.len() {
                let len = (got[pos + 1] & 0x7f) as usize;
                let (len, head) = match len {
                    126 if pos + 4 <= got.len() => {
                        (u16::from_be_bytes([got[pos + 2], got[pos + 3]]) as usize, 4)
                    }
                    126 => break,
                    n => (n, 2),
                };
                if pos + head + 4 + len > got.len() {
                    break;
                }
                frames.push(got[pos]);
                pos += head + 4 + len;
            }
            if frames.len() >= 2 {
                return frames;
            }
        }
    });
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let mut ws = WebSocket::connect(request, client_stream(port), config).unwrap();
    assert!(ws.deflate().is_some());
    let text = "compress me, compress me, compress me, compress me, compress me!".repeat(4);
    ws.send_text(&text).unwrap();
    ws.send_fragment_with(MessageKind::Binary, text.as_bytes(), true, Compression::Off)
        .unwrap();
    let firsts = server.join().unwrap();
    assert_eq!(
        &firsts[..2],
        &[0xc1, 0x82],
        "compressed text, then plain binary"
    );
}
