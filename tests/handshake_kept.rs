//! The opening handshake's answers are kept after it, on the std and tokio
//! adapters, end to end over loopback TCP: a client's `response()` is the
//! server's 101 (status and headers, such as the `Set-Cookie` a server's
//! hook added), a server's `request()` is the request it accepted (target,
//! headers, the subprotocols offered in order). Both through the adapters'
//! own `connect`/`accept_with` and through `io::Connector`; neither side
//! has the other's, and a connection built `from_upgraded` has neither.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use hybi::io::blocking::WebSocket;
use hybi::io::tokio::WebSocketStream;
use hybi::io::{Connector, HandshakeRequest, HandshakeResponse, Message};
use hybi::{Accept, ClientRequest, CloseCode, Config, Decision, Negotiated, Role};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The client's request: a path with a query, a cookie, two subprotocols.
fn request(port: u16) -> ClientRequest {
    ClientRequest::new(&format!("ws://127.0.0.1:{port}/room/7?lang=fr"))
        .unwrap()
        .subprotocols(&["chat.v2", "chat.v1"])
        .headers(&[("Cookie", "session=abc"), ("X-Trace", "t-1")])
}

/// The server's decision: `chat.v1` (its own preference) and two headers.
fn decide(request: &hybi::Request<'_>) -> Decision<'static> {
    assert!(request.offers_subprotocol("chat.v1"));
    Accept::new()
        .subprotocol("chat.v1")
        .header("Set-Cookie", "room=7; HttpOnly")
        .header("Server", "hybi-test")
        .into()
}

fn check_response(response: Option<&HandshakeResponse>) {
    let response = response.expect("the client keeps the 101");
    assert_eq!(response.status, 101);
    assert_eq!(
        response.header("set-cookie"),
        Some(&b"room=7; HttpOnly"[..])
    );
    assert_eq!(response.header("SERVER"), Some(&b"hybi-test"[..]));
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some(&b"chat.v1"[..])
    );
    assert!(response.header("sec-websocket-accept").is_some());
    assert!(response.body.is_empty());
    // Every header, in order, names as sent.
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    let cookie = names.iter().position(|n| *n == "Set-Cookie").unwrap();
    let server = names.iter().position(|n| *n == "Server").unwrap();
    assert!(cookie < server, "{names:?}");
}

fn check_request(request: Option<&HandshakeRequest>) {
    let request = request.expect("the server keeps the request");
    assert_eq!(request.target, "/room/7?lang=fr");
    assert_eq!(request.path(), "/room/7");
    assert_eq!(request.header("cookie"), Some(&b"session=abc"[..]));
    assert_eq!(request.header("x-trace"), Some(&b"t-1"[..]));
    assert_eq!(request.subprotocols, ["chat.v2", "chat.v1"]);
    assert!(request.header("sec-websocket-key").is_some());
}

/// hybi's blocking server: checks its own `request()`, echoes until the end.
fn blocking_server(listener: TcpListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut ws = WebSocket::accept_with(stream, Config::default(), decide).unwrap();
        check_request(ws.request());
        assert!(
            ws.response().is_none(),
            "a server has no 101 of its own to keep"
        );
        assert_eq!(ws.subprotocol(), Some("chat.v1"));
        while let Some(message) = ws.read().unwrap() {
            if let Message::Text(_) = message {
                ws.send(message).unwrap();
            }
        }
    })
}

fn blocking_client_round<S: hybi::io::blocking::Transport>(ws: &mut WebSocket<S>) {
    check_response(ws.response());
    assert!(ws.request().is_none(), "a client accepted no request");
    ws.send_text("hi").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("hi".into())));
    // Still there after messages flowed.
    check_response(ws.response());
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.read().unwrap().is_some() {}
    check_response(ws.response());
}

#[test]
fn blocking_client_and_server_keep_the_handshake() {
    let (listener, port) = listener();
    let server = blocking_server(listener);
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut ws = WebSocket::connect(request(port), stream, Config::default()).unwrap();
    blocking_client_round(&mut ws);
    server.join().unwrap();
}

#[test]
fn blocking_connector_keeps_the_101() {
    let (listener, port) = listener();
    let server = blocking_server(listener);
    let mut ws = Connector::from_request(request(port))
        .proxy(None)
        .timeout(IO_TIMEOUT)
        .connect()
        .unwrap();
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(IO_TIMEOUT))
        .unwrap();
    blocking_client_round(&mut ws);
    server.join().unwrap();
}

async fn tokio_server(listener: tokio::net::TcpListener) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = WebSocketStream::accept_with(stream, Config::default(), decide)
        .await
        .unwrap();
    check_request(ws.request());
    assert!(ws.response().is_none());
    while let Some(message) = ws.next().await {
        let message = message.unwrap();
        if let Message::Text(_) = message {
            ws.send(message).await.unwrap();
        }
    }
    check_request(ws.request());
}

async fn tokio_client_round<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    check_response(ws.response());
    assert!(ws.request().is_none());
    ws.send(Message::Text("hi".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("hi".into())
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    while let Some(message) = ws.next().await {
        message.unwrap();
    }
    check_response(ws.response());
}

#[tokio::test]
async fn tokio_client_and_server_keep_the_handshake() {
    tokio::time::timeout(IO_TIMEOUT, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(tokio_server(listener));
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut ws = WebSocketStream::connect(request(port), stream, Config::default())
            .await
            .unwrap();
        tokio_client_round(&mut ws).await;
        server.await.unwrap();
    })
    .await
    .expect("the test's deadline");
}

#[tokio::test]
async fn tokio_connector_keeps_the_101() {
    tokio::time::timeout(IO_TIMEOUT, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(tokio_server(listener));
        let mut ws = Connector::from_request(request(port))
            .proxy(None)
            .connect_async()
            .await
            .unwrap();
        tokio_client_round(&mut ws).await;
        server.await.unwrap();
    })
    .await
    .expect("the test's deadline");
}

#[test]
fn from_upgraded_has_no_handshake_to_keep() {
    let (listener, port) = listener();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let ws = WebSocket::from_upgraded(
        server,
        Role::Server,
        Config::default(),
        Negotiated::new(),
        &[],
    )
    .unwrap();
    assert!(ws.request().is_none());
    assert!(ws.response().is_none());
    drop(client);
}
