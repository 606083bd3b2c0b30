//! The `axum` feature's extractor, `hybi::io::axum::WebSocketUpgrade`, in a
//! real axum 0.8 server (`axum::serve`) on loopback, with real clients:
//!
//! * examples/axum_server.rs (its `app()`), HTTP/1.1: hybi's tokio client
//!   agrees on the subprotocol and permessage-deflate, gets its messages
//!   echoed (large compressible ones too) and its Ping answered, and closes
//!   cleanly; Python `websockets` does the same and finds the route's 1 MiB
//!   message limit enforced with 1009 (skipped with a line when websockets
//!   is not installed, unless `HYBI_INTEROP=1`).
//! * HTTP/2 extended CONNECT (RFC 8441) through axum: the `h2` crate sends
//!   the CONNECT with `:protocol websocket` to `axum::serve`, gets the 200
//!   with the subprotocol and the deflate answer, and a sans-IO hybi client
//!   frames over the HTTP/2 stream; refusals are the engine's (400 with
//!   `sec-websocket-version: 13`, 501 for another `:protocol`).
//! * Requests that are not valid upgrades get the engine's answers (426
//!   with `Sec-WebSocket-Version: 13`, 400), through `UpgradeRejection`.
//! * A handler of the test's own: `request()` before and on the socket
//!   (target, headers, offered subprotocols), the server's order of
//!   preference among the subprotocols, and the `Config` given reaching the
//!   connection (deflate off, a message limit).
//!
//! Every wait has a deadline; the servers are tasks dropped with each
//! test's runtime, and the Python child is killed past its deadline.

#[path = "../examples/axum_server.rs"]
// Reason: the example's `main` is not called here, only its `app`.
#[allow(dead_code)]
mod axum_server;
#[path = "support/h2.rs"]
mod h2_peer;
#[path = "support/python.rs"]
mod python;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant as Clock};

use axum::response::Response;
use axum::routing::any;
use axum::Router;
use h2_peer::{connect, deflate_config, echo_over_h2, h2_client, refusals_over_h2};
use hybi::io::axum::{WebSocket, WebSocketUpgrade};
use hybi::io::tokio::WebSocketStream;
use hybi::io::Message;
use hybi::{ClientRequest, CloseCode, Config};
use python::python_has;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(20);

/// Serves `app` with `axum::serve` on a free loopback port.
async fn serve(app: Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

async fn tokio_client(port: u16, protocols: &[&str], config: Config) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws"))
        .unwrap()
        .subprotocols(protocols);
    WebSocketStream::connect(request, tcp, config)
        .await
        .unwrap()
}

// ---- HTTP/1.1, the example's app ----

#[tokio::test]
async fn http1_hybi_client_echoes_with_subprotocol_and_deflate() {
    timeout(DEADLINE, async {
        let port = serve(axum_server::app()).await;
        let mut ws = tokio_client(port, &["other", "echo"], deflate_config()).await;
        assert_eq!(ws.subprotocol(), Some("echo"));
        assert!(ws.deflate().is_some(), "permessage-deflate agreed");
        let response = ws.response().unwrap();
        assert_eq!(response.status, 101);
        assert!(response.header("sec-websocket-extensions").is_some());
        for message in [
            Message::Text("hello, axum".into()),
            Message::Text("compress me ".repeat(20_000)),
            Message::Binary((0..=255).collect()),
            Message::Binary(Vec::new()),
        ] {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), message);
        }
        ws.send(Message::Ping(b"ping".to_vec())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(b"ping".to_vec())
        );
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        while let Some(message) = ws.next().await {
            message.unwrap();
        }
        let closed = ws.closed().unwrap();
        assert!(closed.clean, "{closed:?}");
        assert_eq!(closed.code, CloseCode::NORMAL);
    })
    .await
    .expect("deadline");
}

/// Sends a raw HTTP/1.1 request and returns the answer's head, lower-cased.
async fn raw_answer(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "EOF before the answer");
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[tokio::test]
async fn http1_bad_upgrades_get_the_engine_answers() {
    timeout(DEADLINE, async {
        let port = serve(axum_server::app()).await;
        // RFC 6455 §4.4: a version we do not speak is a 426 naming ours.
        let head = raw_answer(
            port,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await;
        assert!(head.starts_with("http/1.1 426"), "{head}");
        assert!(head.contains("sec-websocket-version: 13"), "{head}");
        // No Sec-WebSocket-Key: 400 (RFC 6455 §4.2.1).
        let head = raw_answer(
            port,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert!(head.starts_with("http/1.1 400"), "{head}");
        // The page is still a page.
        let head = raw_answer(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/html"), "{head}");
    })
    .await
    .expect("deadline");
}

/// Runs tests/interop/axum_client.py against `url`, killed past the
/// deadline; returns whether it passed and what it printed.
fn run_python_client(url: String) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/axum_client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(url)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let err = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Clock::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Clock::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let printed = [out.join().unwrap(), err.join().unwrap()]
        .concat()
        .join("\n");
    (status.is_some_and(|s| s.success()), printed)
}

#[tokio::test]
async fn http1_python_websockets_client() {
    if !python_has("websockets.sync.client", "python websockets") {
        return;
    }
    let port = serve(axum_server::app()).await;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (passed, printed) = tokio::task::spawn_blocking(move || run_python_client(url))
        .await
        .unwrap();
    assert!(passed, "{printed}");
    assert!(printed.contains("PASS"), "{printed}");
    assert!(printed.contains("ok: Close 1009 for 2 MiB"), "{printed}");
}

// ---- A handler of the test's own ----

/// Offers `v1` and `v2`; this server prefers `v2`, checks what the
/// extractor saw, and runs with a 64-byte message limit and no deflate.
async fn checking_handler(ws: WebSocketUpgrade) -> Response {
    let request = ws.request().clone();
    assert_eq!(request.path(), "/ws");
    assert_eq!(request.target, "/ws?room=7");
    assert_eq!(request.subprotocols, ["v1", "v2"]);
    assert_eq!(request.header("x-client"), Some(&b"test"[..]));
    let mut config = Config::default();
    config.max_message_size = 64;
    ws.protocols(["v2", "v1"])
        .config(config)
        .on_upgrade(|mut socket: WebSocket| async move {
            // The socket keeps the request, as `accept_with` does.
            let request = socket.request().unwrap().clone();
            let target = Message::Text(request.target.clone());
            if socket.send(target).await.is_err() {
                return;
            }
            while let Some(message) = socket.next().await {
                if let Ok(message @ Message::Text(_)) = message {
                    let _ = socket.send(message).await;
                }
            }
        })
}

#[tokio::test]
async fn the_extractor_keeps_the_request_prefers_its_own_order_and_applies_the_config() {
    timeout(DEADLINE, async {
        let port = serve(Router::new().route("/ws", any(checking_handler))).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws?room=7"))
            .unwrap()
            .subprotocols(&["v1", "v2"])
            .headers(&[("X-Client", "test")]);
        // The client offers deflate; the handler's Config has none.
        let mut ws = WebSocketStream::connect(request, tcp, deflate_config())
            .await
            .unwrap();
        assert_eq!(ws.subprotocol(), Some("v2"));
        assert!(
            ws.deflate().is_none(),
            "the handler's config has no deflate"
        );
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("/ws?room=7".into())
        );
        ws.send(Message::Text("short".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("short".into())
        );
        // Over the handler's 64-byte limit: the server fails with 1009.
        ws.send(Message::Text("x".repeat(100))).await.unwrap();
        let close = ws.next().await.unwrap().unwrap();
        assert!(
            matches!(&close, Message::Close(Some(frame)) if frame.code == CloseCode::TOO_BIG),
            "{close:?}"
        );
    })
    .await
    .expect("deadline");
}

// ---- HTTP/2 extended CONNECT (RFC 8441) through axum ----

#[tokio::test]
async fn http2_extended_connect_through_axum_echoes() {
    timeout(DEADLINE, async {
        let port = serve(axum_server::app()).await;
        echo_over_h2(port, &"over an HTTP/2 stream through axum, ".repeat(20)).await;
    })
    .await
    .expect("deadline");
}

#[tokio::test]
async fn http2_refusals_through_axum() {
    timeout(DEADLINE, async {
        let port = serve(axum_server::app()).await;
        refusals_over_h2(port).await;
    })
    .await
    .expect("deadline");
}

/// A handler whose `Config` allows only short handshakes.
async fn small_handshake_handler(ws: WebSocketUpgrade) -> Response {
    let mut config = Config::default();
    config.max_handshake_size = 256;
    ws.config(config).on_upgrade(|_socket| async {})
}

#[tokio::test]
async fn the_configs_handshake_limit_refuses_with_the_engine_answer() {
    timeout(DEADLINE, async {
        let app = Router::new().route("/ws", any(small_handshake_handler));
        let port = serve(app).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let long = "c".repeat(300);
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws"))
            .unwrap()
            .headers(&[("Cookie", long.as_str())]);
        let result = WebSocketStream::connect(request, tcp, Config::default()).await;
        match result {
            // RFC 6585 §5: Request Header Fields Too Large.
            Err(hybi::io::Error::Rejected(response)) => assert_eq!(response.status, 431),
            other => panic!("expected a 431, got {:?}", other.map(|_| ())),
        }
        // The same limit over HTTP/2 (RFC 8441): 431, before any upgrade.
        let mut send = h2_client(port).await;
        let mut request = connect(port, "websocket", "13");
        request
            .headers_mut()
            .insert("cookie", http::HeaderValue::from_str(&long).unwrap());
        let (response, _stream) = send.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 431);
    })
    .await
    .expect("deadline");
}
