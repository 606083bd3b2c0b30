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

#[path = "../examples/hyper_server.rs"]
// Reason: the example's `main` is not called here, only its `serve`.
#[allow(dead_code)]
mod hyper_server;

use std::time::Duration;

use bytes::Bytes;
use hybi::io::tokio::WebSocketStream;
use hybi::io::Message;
use hybi::{
    ClientRequest, CloseCode, Config, Connection, DeflateConfig, Event, Instant, MessageKind,
    Negotiated, OsEntropy, State, Transmit,
};
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

fn deflate_config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    config
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

/// An h2 client connection to the example, once the server's SETTINGS
/// allowed extended CONNECT (RFC 8441 §3).
async fn h2_client(port: u16) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut send = send.ready().await.unwrap();
    while !send.is_extended_connect_protocol_enabled() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        send = send.ready().await.unwrap();
    }
    send
}

/// An RFC 8441 §5.1 style request to the example.
fn connect(port: u16, protocol: &'static str, version: &str) -> http::Request<()> {
    http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://127.0.0.1:{port}/ws"))
        .header("sec-websocket-version", version)
        .header("sec-websocket-protocol", "chat, echo")
        .header("sec-websocket-extensions", DeflateConfig::default().offer())
        .header("origin", "http://127.0.0.1")
        .extension(h2::ext::Protocol::from_static(protocol))
        .body(())
        .unwrap()
}

#[tokio::test]
async fn http2_extended_connect_echoes() {
    timeout(DEADLINE, async {
        let port = start().await;
        let mut send = h2_client(port).await;
        let (response, mut stream) = send
            .send_request(connect(port, "websocket", "13"), false)
            .unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &http::HeaderValue| v.to_str().unwrap().to_string())
        };
        assert_eq!(header("sec-websocket-protocol").as_deref(), Some("echo"));
        assert_eq!(header("sec-websocket-accept"), None);
        // The client checks the server's extension answer as on HTTP/1.1.
        let answer = header("sec-websocket-extensions").expect("deflate answered");
        let params = DeflateConfig::default()
            .verify_answer([answer.as_str()])
            .unwrap()
            .unwrap();
        let mut client = Connection::from_upgraded_client(
            deflate_config(),
            Negotiated::new()
                .with_subprotocol("echo")
                .with_deflate(params),
            OsEntropy::new(),
            Instant::ZERO,
        )
        .unwrap();
        let mut body = response.into_body();

        let message = "over an HTTP/2 stream, ".repeat(20);
        client
            .send(MessageKind::Text, message.as_bytes(), true)
            .unwrap();
        client.close(CloseCode::NORMAL, "done").unwrap();
        while let Some(Transmit::Bytes(bytes)) = client.poll_transmit() {
            let n = bytes.len();
            stream
                .send_data(Bytes::copy_from_slice(bytes), false)
                .unwrap();
            client.transmitted(n);
        }

        let mut echoed = Vec::new();
        let mut closed = None;
        while closed.is_none() {
            let mut input = match body.data().await {
                Some(chunk) => {
                    let chunk = chunk.unwrap();
                    let _ = body.flow_control().release_capacity(chunk.len());
                    chunk.to_vec()
                }
                None => {
                    client.handle_eof(Instant::ZERO);
                    Vec::new()
                }
            };
            let mut pos = 0;
            loop {
                let event = client.handle_input(&mut input[pos..], Instant::ZERO);
                pos += event.consumed;
                match event.event {
                    Some(Event::Data(data)) => echoed.extend_from_slice(data.payload),
                    Some(_) => {}
                    None => break,
                }
            }
            // `Closed` is raised by the engine (after the Close, or EOF).
            while let Some(event) = client.poll_event() {
                if let Event::Closed(c) = event {
                    closed = Some(c);
                }
            }
        }
        assert_eq!(String::from_utf8(echoed).unwrap(), message);
        assert!(closed.unwrap().clean);
        assert_eq!(client.state(), State::Closed);
    })
    .await
    .expect("deadline");
}

#[tokio::test]
async fn http2_refusals() {
    timeout(DEADLINE, async {
        let port = start().await;
        let mut send = h2_client(port).await;
        // RFC 6455 §4.4 over HTTP/2: 400 with the version we speak.
        let (response, _stream) = send
            .send_request(connect(port, "websocket", "8"), true)
            .unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        // RFC 9220 §3: an unsupported :protocol is a 501.
        let mut send = send.ready().await.unwrap();
        let (response, _stream) = send
            .send_request(connect(port, "webtransport", "13"), true)
            .unwrap();
        assert_eq!(response.await.unwrap().status(), 501);
    })
    .await
    .expect("deadline");
}
