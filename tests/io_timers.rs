//! The adapters drive the engine's deadlines themselves (no adapter has a
//! timing policy of its own). Tokio's paused clock makes these instant:
//! while every task waits on the network, time jumps to the next sleep.
#![cfg(feature = "tokio")]

use std::io::Read;
use std::time::Duration;

use hybi::io::tokio::WebSocketStream;
use hybi::io::{Error, Message};
use hybi::{ClientRequest, Config, ProtocolError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

// A peer that connects and never sends its request is answered 408 at the
// handshake deadline, by the tokio adapter's own sleep.
#[tokio::test(start_paused = true)]
async fn tokio_server_handshake_deadline() {
    let (listener, port) = listener().await;
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_secs(5));
    let result = WebSocketStream::accept(stream, config).await;
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::HandshakeTimeout))
        ),
        "{:?}",
        result.err()
    );
    let mut answer = Vec::new();
    silent.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

// Keepalive through the tokio adapter: the server pings a silent client,
// the client (reading) answers, and the connection stays up; then a peer
// that stops answering is failed with 1011.
#[tokio::test(start_paused = true)]
async fn tokio_keepalive_pings_and_fails_a_dead_peer() {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut config = Config::default();
        config.keepalive_interval = Some(Duration::from_secs(10));
        config.keepalive_timeout = Duration::from_secs(5);
        let mut ws = WebSocketStream::accept(stream, config).await.unwrap();
        // The raw peer answers the first Ping (its Pong is a message),
        // then goes silent.
        let mut pongs = 0;
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(_))) => pongs += 1,
                Some(Err(Error::Protocol(ProtocolError::KeepaliveTimeout))) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(pongs, 1);
        assert!(ws.next().await.is_none());
    });
    // A raw client: handshake by hand, answer one Ping, then stop.
    let mut raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 129];
    raw.read_exact(&mut head).await.unwrap();
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // The keepalive Ping: 0x89, length 8, an 8-byte counter.
    let mut ping = [0u8; 10];
    raw.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping[..2], &[0x89, 0x08]);
    let mut pong = vec![0x8a, 0x88, 0, 0, 0, 0];
    pong.extend_from_slice(&ping[2..]);
    raw.write_all(&pong).await.unwrap();
    // The next Ping goes unanswered: the server fails with 1011.
    let mut ping2 = [0u8; 10];
    raw.read_exact(&mut ping2).await.unwrap();
    assert_eq!(ping2[0], 0x89);
    let mut close = [0u8; 4];
    raw.read_exact(&mut close).await.unwrap();
    assert_eq!(close[0], 0x88);
    assert_eq!(&close[2..4], &1011u16.to_be_bytes());
    server.await.unwrap();
}

// The blocking adapter lets deadlines fire when the socket's reads time
// out: a client whose server never answers the upgrade gives up at the
// handshake deadline.
#[test]
fn blocking_client_handshake_deadline_via_read_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Read the request, never answer; end when the client gives up.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_millis(200));
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let mut ws = hybi::io::blocking::WebSocket::client(request, stream, config).unwrap();
    let result = loop {
        match ws.handshake(|_| unreachable!()) {
            Err(e) if e.is_would_block() => continue,
            other => break other,
        }
    };
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::HandshakeTimeout))
        ),
        "{result:?}"
    );
    drop(ws);
    server.join().unwrap();
}
