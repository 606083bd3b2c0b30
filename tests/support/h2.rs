//! An RFC 8441 client over the `h2` crate, shared by the tests of the two
//! servers that take WebSockets over HTTP/2 (examples/hyper_server.rs and
//! the axum extractor): a real extended CONNECT (HPACK-encoded,
//! `:protocol websocket`), then a sans-IO hybi client framing over the
//! HTTP/2 stream.

use std::time::Duration;

use bytes::Bytes;
use hybi::{
    CloseCode, Config, Connection, DeflateConfig, Event, Instant, MessageKind, Negotiated,
    OsEntropy, State, Transmit,
};
use tokio::net::TcpStream;

/// A client `Config` offering permessage-deflate.
pub fn deflate_config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    config
}

/// An h2 client connection, once the server's SETTINGS allowed extended
/// CONNECT (RFC 8441 §3).
pub async fn h2_client(port: u16) -> h2::client::SendRequest<Bytes> {
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

/// An RFC 8441 §5.1 style request for `/ws`.
pub fn connect(port: u16, protocol: &'static str, version: &str) -> http::Request<()> {
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

/// Opens a WebSocket over HTTP/2 to an echo server on `port` and checks
/// the 200 (the subprotocol `echo`, no `sec-websocket-accept`, a deflate
/// answer the client accepts); sends `message`, closes, and checks the
/// echo and a clean close.
pub async fn echo_over_h2(port: u16, message: &str) {
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
}

/// The refusals an RFC 8441 server owes: version 8 gets 400 with
/// `sec-websocket-version: 13` (RFC 6455 §4.4), another `:protocol` 501
/// (RFC 9220 §3).
pub async fn refusals_over_h2(port: u16) {
    let mut send = h2_client(port).await;
    let (response, _stream) = send
        .send_request(connect(port, "websocket", "8"), true)
        .unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    let mut send = send.ready().await.unwrap();
    let (response, _stream) = send
        .send_request(connect(port, "webtransport", "13"), true)
        .unwrap();
    assert_eq!(response.await.unwrap().status(), 501);
}
