//! examples/hyper_server.rs, run on 127.0.0.1:0: a hyper 1 server hands
//! upgraded connections to `WebSocketStream::from_upgraded`.
//!
//! * HTTP/1.1: hybi's own tokio client connects, agrees on the subprotocol
//!   and permessage-deflate, gets its messages echoed and closes cleanly; a
//!   wrong version gets the engine's 426.
//! * HTTP/2 (RFC 8441): the `h2` crate's client sends a real extended
//!   CONNECT (HPACK-encoded, `:protocol websocket`) to hyper's HTTP/2
//!   server with `enable_connect_protocol`; the 200 is checked, and a
//!   sans-IO hybi client (`Connection::from_upgraded`) frames over the
//!   HTTP/2 stream. Refusals (version 8, `:protocol` other than websocket)
//!   get 400 with `sec-websocket-version: 13` and 501.
//!
//! Every wait has a deadline; the server task is dropped with the runtime.

#[path = "support/h2.rs"]
mod h2_peer;
#[path = "../examples/hyper_server.rs"]
// Reason: the example's `main` is not called here, only its `serve`.
#[allow(dead_code)]
mod hyper_server;

use std::time::Duration;

use h2_peer::{deflate_config, echo_over_h2, refusals_over_h2};
use hybi::io::tokio::WebSocketStream;
use hybi::io::Message;
use hybi::{ClientRequest, CloseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(10);

/// Starts the example's server; returns its port.
async fn start() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(hyper_server::serve(listener));
    port
}

#[tokio::test]
async fn http1_upgrade_echoes_with_subprotocol_and_deflate() {
    timeout(DEADLINE, async {
        let port = start().await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws"))
            .unwrap()
            .subprotocols(&["other", "echo"]);
        let mut ws = WebSocketStream::connect(request, tcp, deflate_config())
            .await
            .unwrap();
        assert_eq!(ws.subprotocol(), Some("echo"));
        assert!(ws.connection().deflate().is_some(), "deflate agreed");
        let long = "compress me ".repeat(100);
        for message in [
            Message::Text("hello".into()),
            Message::Text(long),
            Message::Binary(vec![0, 1, 2]),
        ] {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), message);
        }
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        while let Some(message) = ws.next().await {
            message.unwrap();
        }
        let closed = ws.closed().unwrap();
        assert!(closed.clean, "{closed:?}");
    })
    .await
    .expect("deadline");
}

#[tokio::test]
async fn http1_wrong_version_gets_426() {
    timeout(DEADLINE, async {
        let port = start().await;
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "EOF before the answer");
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 426"), "{head}");
        assert!(head.contains("sec-websocket-version: 13"), "{head}");
    })
    .await
    .expect("deadline");
}

#[tokio::test]
async fn http2_extended_connect_echoes() {
    timeout(DEADLINE, async {
        let port = start().await;
        echo_over_h2(port, &"over an HTTP/2 stream, ".repeat(20)).await;
    })
    .await
    .expect("deadline");
}

#[tokio::test]
async fn http2_refusals() {
    timeout(DEADLINE, async {
        let port = start().await;
        refusals_over_h2(port).await;
    })
    .await
    .expect("deadline");
}
