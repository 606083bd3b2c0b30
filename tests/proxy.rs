//! Clients behind an HTTP CONNECT proxy (RFC 9110 §9.3.6): a small proxy
//! written here with std threads tunnels to a hybi echo server, and the
//! blocking and tokio `connect` go through it (ws://, and wss:// with the
//! `rustls` features), with and without Basic credentials (RFC 9110
//! §11.7). Refusals (407, 502), a proxy that hangs up, and bytes of the
//! server's answer in the same write as the proxy's, are checked too; then
//! the proxy URL and environment rules, without touching the process
//! environment (tests run in parallel threads).
//!
//! Every thread serves one connection and ends by itself; every socket has
//! a timeout, so no test can hang.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hybi::handshake::{ProxyConnect, ProxyError};
use hybi::io::blocking::WebSocket;
use hybi::io::{Connector, Error, Message, Proxy};
use hybi::{ClientRequest, CloseCode, Config, Connection, Decision, Event};

use common::{header_value, take_output, CountingEntropy, NOW};

/// How long any socket or accept waits before the test fails instead of
/// hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

/// "user:pass" in base64 (RFC 7617 §2).
const USER_PASS: &str = "Basic dXNlcjpwYXNz";

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Accepts one connection, giving up after `TIMEOUT` (a client that failed
/// before connecting must not leave the thread waiting for ever).
fn accept_one(listener: &TcpListener) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                stream.set_write_timeout(Some(TIMEOUT)).unwrap();
                return Some(stream);
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    None
}

/// What the proxy does after reading the CONNECT request.
#[derive(Clone, Copy)]
enum Mode {
    /// Tunnel to the requested authority, after checking the credentials
    /// if some are required (407 otherwise).
    Tunnel { auth: Option<&'static str> },
    /// Write these bytes in one write and tunnel nothing.
    Answer(&'static [u8]),
    /// Close the connection without answering.
    HangUp,
}

/// What the proxy saw of the client's CONNECT request.
#[derive(Debug, Default)]
struct Seen {
    request_line: String,
    host: String,
    authorization: Option<String>,
}

/// A one-connection CONNECT proxy on 127.0.0.1.
fn start_proxy(mode: Mode) -> (u16, JoinHandle<Seen>) {
    let (listener, port) = listener();
    let handle = thread::spawn(move || {
        let Some(mut client) = accept_one(&listener) else {
            return Seen::default();
        };
        let head = read_head(&mut client);
        let text = String::from_utf8(head.clone()).unwrap();
        let seen = Seen {
            request_line: text.lines().next().unwrap_or_default().to_string(),
            host: header_value(&head, "Host"),
            authorization: text
                .lines()
                .find_map(|l| l.strip_prefix("Proxy-Authorization: "))
                .map(str::to_string),
        };
        match mode {
            Mode::HangUp => {}
            Mode::Answer(bytes) => answer_and_drain(client, bytes),
            Mode::Tunnel { auth } if auth.is_some() && seen.authorization.as_deref() != auth => {
                answer_and_drain(
                    client,
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
                );
            }
            Mode::Tunnel { .. } => {
                let target = seen.request_line.split(' ').nth(1).unwrap().to_string();
                let server = TcpStream::connect(target).unwrap();
                server.set_read_timeout(Some(TIMEOUT)).unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                pipe(client, server);
            }
        }
        seen
    });
    (port, handle)
}

/// Reads up to the end of an HTTP head, byte by byte so nothing after it
/// is taken.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

/// Writes `bytes`, then reads until the client goes away, so the close
/// never resets bytes the client has not read yet.
fn answer_and_drain(mut client: TcpStream, bytes: &[u8]) {
    client.write_all(bytes).unwrap();
    let _ = client.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
}

/// Copies bytes both ways until each side has closed its half.
fn pipe(client: TcpStream, server: TcpStream) {
    let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = thread::spawn(move || copy(client2, server2));
    copy(server, client);
    up.join().unwrap();
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A WebSocket echo server for one connection: the Host header of the
/// upgrade request it accepted.
fn echo_server() -> (u16, JoinHandle<String>) {
    serve_echo(|tcp| tcp)
}

/// An echo server for one connection over `wrap(tcp)` (TLS, or nothing).
fn serve_echo<S, W>(wrap: W) -> (u16, JoinHandle<String>)
where
    S: hybi::io::blocking::Transport,
    W: FnOnce(TcpStream) -> S + Send + 'static,
{
    let (listener, port) = listener();
    let handle = thread::spawn(move || {
        let Some(tcp) = accept_one(&listener) else {
            return String::new();
        };
        let mut host = String::new();
        let mut ws = WebSocket::accept_with(wrap(tcp), Config::default(), |request| {
            host = request.host().to_string();
            Decision::accept()
        })
        .unwrap();
        echo(&mut ws);
        host
    });
    (port, handle)
}

fn echo<S: hybi::io::blocking::Transport>(ws: &mut WebSocket<S>) {
    while let Ok(Some(message)) = ws.read() {
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            ws.send(message).unwrap();
        }
    }
}

/// One text message there and back, and a clean close.
fn exchange<S: hybi::io::blocking::Transport>(ws: &mut WebSocket<S>) {
    ws.send_text("through the tunnel").unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::Text("through the tunnel".into()))
    );
    ws.close(CloseCode::NORMAL, "done").unwrap();
    while ws.read().unwrap().is_some() {}
    assert!(ws.closed().unwrap().clean);
}

fn proxy_at(port: u16) -> Proxy {
    Proxy::new(&format!("http://127.0.0.1:{port}")).unwrap()
}

// ---- Blocking connect through the proxy ----

#[test]
fn blocking_ws_through_the_proxy() {
    let (server_port, server) = echo_server();
    let (proxy_port, proxy) = start_proxy(Mode::Tunnel { auth: None });
    let url = format!("ws://127.0.0.1:{server_port}/echo");
    let request = ClientRequest::new(&url).unwrap();
    let mut ws = Connector::from_request(request)
        .proxy(Some(proxy_at(proxy_port).clone()))
        .connect()
        .unwrap();
    ws.get_ref().tcp().set_read_timeout(Some(TIMEOUT)).unwrap();
    // The TCP connection is to the proxy; the WebSocket is to the target.
    assert_eq!(ws.get_ref().tcp().peer_addr().unwrap().port(), proxy_port);
    exchange(&mut ws);
    // The proxy's thread ends when both sides have closed.
    drop(ws);
    let seen = proxy.join().unwrap();
    let authority = format!("127.0.0.1:{server_port}");
    assert_eq!(seen.request_line, format!("CONNECT {authority} HTTP/1.1"));
    assert_eq!(seen.host, authority);
    assert_eq!(seen.authorization, None);
    assert_eq!(server.join().unwrap(), authority);
}

#[test]
fn blocking_ws_with_basic_credentials_from_the_url() {
    let (server_port, server) = echo_server();
    let (proxy_port, proxy) = start_proxy(Mode::Tunnel {
        auth: Some(USER_PASS),
    });
    let proxy_url = format!("http://user:pass@127.0.0.1:{proxy_port}/");
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{server_port}/")).unwrap();
    let via = Proxy::new(&proxy_url).unwrap();
    let mut ws = Connector::from_request(request)
        .proxy(Some(via.clone()))
        .connect()
        .unwrap();
    ws.get_ref().tcp().set_read_timeout(Some(TIMEOUT)).unwrap();
    exchange(&mut ws);
    drop(ws);
    assert_eq!(
        proxy.join().unwrap().authorization.as_deref(),
        Some(USER_PASS)
    );
    server.join().unwrap();
}

/// Percent-escapes in the URL's userinfo are decoded before encoding.
#[test]
fn percent_encoded_credentials_are_decoded() {
    let (proxy_port, proxy) = start_proxy(Mode::Answer(b"HTTP/1.1 403 Forbidden\r\n\r\n"));
    let via = Proxy::new(&format!("http://us%40er:p%3Ass@127.0.0.1:{proxy_port}")).unwrap();
    let request = ClientRequest::new("ws://example.test/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(via.clone()))
        .connect()
        .unwrap_err();
    assert!(matches!(error, Error::Proxy(ProxyError::Refused(403))));
    // base64("us@er:p:ss")
    assert_eq!(
        proxy.join().unwrap().authorization.as_deref(),
        Some("Basic dXNAZXI6cDpzcw==")
    );
}

#[test]
fn missing_credentials_are_a_407() {
    let (proxy_port, proxy) = start_proxy(Mode::Tunnel {
        auth: Some(USER_PASS),
    });
    let request = ClientRequest::new("ws://example.test/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(proxy_at(proxy_port).clone()))
        .connect()
        .unwrap_err();
    match error {
        Error::Proxy(e) => {
            assert_eq!(e, ProxyError::AuthenticationRequired);
            assert_eq!(e.status(), Some(407));
        }
        other => panic!("expected a 407, got {other:?}"),
    }
    let seen = proxy.join().unwrap();
    assert_eq!(seen.request_line, "CONNECT example.test:80 HTTP/1.1");
}

#[test]
fn wrong_credentials_are_a_407() {
    let (proxy_port, proxy) = start_proxy(Mode::Tunnel {
        auth: Some(USER_PASS),
    });
    let via = proxy_at(proxy_port).basic_auth("user", "wrong");
    let request = ClientRequest::new("ws://example.test/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(via.clone()))
        .connect()
        .unwrap_err();
    assert!(matches!(
        error,
        Error::Proxy(ProxyError::AuthenticationRequired)
    ));
    proxy.join().unwrap();
}

#[test]
fn a_502_is_a_refusal_with_its_status() {
    let (proxy_port, proxy) = start_proxy(Mode::Answer(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\nunreachable",
    ));
    let request = ClientRequest::new("ws://nowhere.test:9/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(proxy_at(proxy_port).clone()))
        .connect()
        .unwrap_err();
    assert!(matches!(error, Error::Proxy(ProxyError::Refused(502))));
    assert!(error.to_string().contains("502"), "{error}");
    proxy.join().unwrap();
}

#[test]
fn a_proxy_hanging_up_is_an_unexpected_eof() {
    let (proxy_port, proxy) = start_proxy(Mode::HangUp);
    let request = ClientRequest::new("ws://example.test/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(proxy_at(proxy_port).clone()))
        .connect()
        .unwrap_err();
    match error {
        Error::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("expected an EOF, got {other:?}"),
    }
    proxy.join().unwrap();
}

/// The proxy's 200 and the server's answer in one write: the bytes after
/// the 200 reach the WebSocket engine, which reports the server's 403 with
/// its body.
#[test]
fn bytes_after_the_200_reach_the_websocket_handshake() {
    let (proxy_port, proxy) = start_proxy(Mode::Answer(
        b"HTTP/1.1 200 Connection established\r\n\r\n\
          HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    ));
    let request = ClientRequest::new("ws://example.test/").unwrap();
    let error = Connector::from_request(request)
        .proxy(Some(proxy_at(proxy_port).clone()))
        .connect()
        .unwrap_err();
    match error {
        Error::Rejected(rejection) => {
            assert_eq!(rejection.status, 403);
            assert_eq!(rejection.body, b"no");
        }
        other => panic!("expected the server's 403, got {other:?}"),
    }
    proxy.join().unwrap();
}

/// The same at the sans-IO level with a real 101: the proxy's answer is
/// consumed by `ProxyConnect`, the rest opens the WebSocket.
#[test]
fn sans_io_200_and_101_in_one_read() {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut tunnel = ProxyConnect::for_request(&request);
    let mut connect = Vec::new();
    tunnel.write_request(&mut connect).unwrap();
    assert!(connect.starts_with(b"CONNECT server.example.com:80 HTTP/1.1\r\n"));

    let mut client =
        Connection::client(Config::default(), request, CountingEntropy(0), NOW).unwrap();
    let (upgrade, _) = take_output(&mut client);
    let key = header_value(&upgrade, "Sec-WebSocket-Key");
    let mut input = format!(
        "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        hybi::accept_key(key.as_bytes()).as_str()
    )
    .into_bytes();
    let answer = tunnel.handle_input(&input).unwrap();
    assert!(answer.established);
    assert_eq!(answer.consumed, b"HTTP/1.1 200 OK\r\n\r\n".len());
    let out = client.handle_input(&mut input[answer.consumed..], NOW);
    assert!(
        matches!(out.event, Some(Event::Accepted(_))),
        "{:?}",
        out.event
    );
}

// ---- Tokio connect through the proxy ----

#[cfg(feature = "tokio")]
mod tokio_client {
    use super::*;

    async fn exchange_async(
        mut ws: hybi::io::tokio::WebSocketStream<hybi::io::AsyncMaybeTlsStream>,
    ) {
        ws.send(Message::Text("async tunnel".into())).await.unwrap();
        let reply = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap();
        assert_eq!(
            reply.unwrap().unwrap(),
            Message::Text("async tunnel".into())
        );
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        while let Some(message) = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap() {
            message.unwrap();
        }
        assert!(ws.closed().unwrap().clean);
    }

    #[tokio::test]
    async fn tokio_ws_through_the_proxy_with_credentials() {
        let (server_port, server) = echo_server();
        let (proxy_port, proxy) = start_proxy(Mode::Tunnel {
            auth: Some(USER_PASS),
        });
        let via = proxy_at(proxy_port).basic_auth("user", "pass");
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{server_port}/a")).unwrap();
        let connect = Connector::from_request(request)
            .proxy(Some(via.clone()))
            .connect_async();
        let ws = tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ws.get_ref().tcp().peer_addr().unwrap().port(), proxy_port);
        exchange_async(ws).await;
        let seen = tokio::task::spawn_blocking(move || proxy.join().unwrap())
            .await
            .unwrap();
        assert_eq!(
            seen.request_line,
            format!("CONNECT 127.0.0.1:{server_port} HTTP/1.1")
        );
        assert_eq!(seen.authorization.as_deref(), Some(USER_PASS));
        let host = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
        assert_eq!(host, format!("127.0.0.1:{server_port}"));
    }

    /// The error of an async connect to ws://example.test/ through a proxy
    /// in `mode`, once the proxy's thread has ended.
    async fn async_error(mode: Mode) -> Error {
        let (proxy_port, proxy) = start_proxy(mode);
        let request = ClientRequest::new("ws://example.test/").unwrap();
        let via = proxy_at(proxy_port);
        let connect = Connector::from_request(request)
            .proxy(Some(via.clone()))
            .connect_async();
        let error = tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap()
            .unwrap_err();
        tokio::task::spawn_blocking(move || proxy.join().unwrap())
            .await
            .unwrap();
        error
    }

    #[tokio::test]
    async fn tokio_407_without_credentials() {
        let error = async_error(Mode::Tunnel {
            auth: Some(USER_PASS),
        })
        .await;
        assert!(matches!(
            error,
            Error::Proxy(ProxyError::AuthenticationRequired)
        ));
    }

    #[tokio::test]
    async fn tokio_bytes_after_the_200_reach_the_websocket_handshake() {
        let error = async_error(Mode::Answer(
            b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ))
        .await;
        assert!(
            matches!(&error, Error::Rejected(r) if r.status == 404),
            "{error:?}"
        );
    }
}

// ---- wss:// through the proxy: CONNECT, then TLS in the tunnel ----

#[cfg(feature = "rustls")]
mod tls {
    use std::sync::Arc;

    use rustls::{ClientConfig, ServerConnection, StreamOwned};

    use super::*;
    use crate::common::certificate;

    /// A TLS WebSocket echo server for one connection: its port, the Host
    /// it saw, and a client configuration that trusts it.
    pub(super) fn tls_echo_server() -> (u16, JoinHandle<String>, Arc<ClientConfig>) {
        let (server_config, client_config) = certificate(&["127.0.0.1"]);
        let (port, handle) = serve_echo(move |tcp| {
            StreamOwned::new(ServerConnection::new(server_config).unwrap(), tcp)
        });
        (port, handle, client_config)
    }

    #[test]
    fn blocking_wss_through_the_proxy() {
        let (server_port, server, client_config) = tls_echo_server();
        let (proxy_port, proxy) = start_proxy(Mode::Tunnel {
            auth: Some(USER_PASS),
        });
        let via = proxy_at(proxy_port).basic_auth("user", "pass");
        let request = ClientRequest::new(&format!("wss://127.0.0.1:{server_port}/")).unwrap();
        let mut ws = Connector::from_request(request)
            .tls(client_config)
            .proxy(Some(via.clone()))
            .connect()
            .unwrap();
        assert!(ws.get_ref().is_tls());
        ws.get_ref().tcp().set_read_timeout(Some(TIMEOUT)).unwrap();
        exchange(&mut ws);
        drop(ws);
        let authority = format!("127.0.0.1:{server_port}");
        assert_eq!(
            proxy.join().unwrap().request_line,
            format!("CONNECT {authority} HTTP/1.1")
        );
        assert_eq!(server.join().unwrap(), authority);
    }

    /// A TLS server never speaks first, so bytes after the 200 cannot be
    /// its own: refused rather than fed to TLS or dropped.
    #[test]
    fn bytes_after_the_200_before_tls_are_refused() {
        let (proxy_port, proxy) = start_proxy(Mode::Answer(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03"));
        let (_, client_config) = certificate(&["127.0.0.1"]);
        let request = ClientRequest::new("wss://127.0.0.1:9/").unwrap();
        let error = Connector::from_request(request)
            .tls(client_config)
            .proxy(Some(proxy_at(proxy_port)))
            .connect()
            .unwrap_err();
        match error {
            Error::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
            other => panic!("expected InvalidData, got {other:?}"),
        }
        proxy.join().unwrap();
    }

    #[cfg(feature = "tokio-rustls")]
    #[tokio::test]
    async fn tokio_wss_through_the_proxy() {
        let (server_port, server, client_config) = tls_echo_server();
        let (proxy_port, proxy) = start_proxy(Mode::Tunnel { auth: None });
        let request = ClientRequest::new(&format!("wss://127.0.0.1:{server_port}/")).unwrap();
        let via = proxy_at(proxy_port);
        let connect = Connector::from_request(request)
            .tls(client_config)
            .proxy(Some(via.clone()))
            .connect_async();
        let mut ws = tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap()
            .unwrap();
        assert!(ws.get_ref().is_tls());
        ws.send(Message::Binary(vec![1, 2, 3])).await.unwrap();
        let reply = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap();
        assert_eq!(reply.unwrap().unwrap(), Message::Binary(vec![1, 2, 3]));
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        while let Some(message) = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap() {
            message.unwrap();
        }
        drop(ws);
        tokio::task::spawn_blocking(move || {
            proxy.join().unwrap();
            server.join().unwrap();
        })
        .await
        .unwrap();
    }
}

// ---- Proxy URLs ----

#[test]
fn proxy_urls() {
    let p = Proxy::new("http://proxy.example:3128").unwrap();
    assert_eq!((p.host(), p.port()), ("proxy.example", 3128));
    // No scheme means http://; no port means 80; a trailing slash is fine.
    let p = Proxy::new("proxy.example").unwrap();
    assert_eq!((p.host(), p.port()), ("proxy.example", 80));
    let p = Proxy::new("HTTP://[::1]:8080/").unwrap();
    assert_eq!((p.host(), p.port()), ("::1", 8080));
    for unsupported in ["https://proxy:443", "socks5://proxy:1080", "socks5h://p"] {
        assert_eq!(
            Proxy::new(unsupported),
            Err(ProxyError::UnsupportedScheme),
            "{unsupported}"
        );
    }
    for invalid in [
        "",
        "http://",
        "http://proxy:0",
        "http://proxy:99999",
        "http://proxy:port",
        "http://proxy/path",
        "http://pro xy",
        "http://proxy\r\nX: y",
        "http://u%zz@proxy",
        "http://[::1",
    ] {
        assert_eq!(
            Proxy::new(invalid),
            Err(ProxyError::InvalidUrl),
            "{invalid:?}"
        );
    }
}

#[test]
fn debug_never_shows_the_password() {
    let p = Proxy::new("http://alice:hunter2@proxy:3128").unwrap();
    let shown = format!("{p:?}");
    assert!(
        shown.contains("alice") && !shown.contains("hunter2"),
        "{shown}"
    );
}

// ---- The environment, through a lookup function ----

fn env_proxy(url: &str, vars: &[(&str, &str)]) -> Option<(String, u16)> {
    let request = ClientRequest::new(url).unwrap();
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    Proxy::from_env_vars(&request, lookup)
        .unwrap()
        .map(|p| (p.host().to_string(), p.port()))
}

fn via(host: &str, port: u16) -> Option<(String, u16)> {
    Some((host.to_string(), port))
}

#[test]
fn env_picks_the_variable_for_the_scheme() {
    let vars = [("HTTPS_PROXY", "secure:1"), ("HTTP_PROXY", "plain:2")];
    assert_eq!(env_proxy("wss://example.com/", &vars), via("secure", 1));
    assert_eq!(env_proxy("ws://example.com/", &vars), via("plain", 2));
    // Lower case first, as curl reads them.
    let vars = [("https_proxy", "lower:1"), ("HTTPS_PROXY", "upper:2")];
    assert_eq!(env_proxy("wss://example.com/", &vars), via("lower", 1));
    // Nothing set, or set empty: direct. ALL_PROXY is not read.
    assert_eq!(env_proxy("wss://example.com/", &[]), None);
    assert_eq!(
        env_proxy("wss://example.com/", &[("HTTPS_PROXY", " ")]),
        None
    );
    assert_eq!(
        env_proxy("ws://example.com/", &[("ALL_PROXY", "all:3")]),
        None
    );
    // A wss:// target does not use HTTP_PROXY, nor ws:// HTTPS_PROXY.
    assert_eq!(
        env_proxy("wss://example.com/", &[("http_proxy", "p:1")]),
        None
    );
    assert_eq!(
        env_proxy("ws://example.com/", &[("https_proxy", "p:1")]),
        None
    );
}

/// httpoxy: in a CGI program HTTP_PROXY comes from the request's `Proxy:`
/// header, so it is ignored there; http_proxy still counts.
#[test]
fn env_ignores_upper_case_http_proxy_under_cgi() {
    let cgi = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "evil:1")];
    assert_eq!(env_proxy("ws://example.com/", &cgi), None);
    let cgi = [("REQUEST_METHOD", "GET"), ("http_proxy", "good:1")];
    assert_eq!(env_proxy("ws://example.com/", &cgi), via("good", 1));
}

#[test]
fn env_never_proxies_loopback() {
    let vars = [("HTTPS_PROXY", "p:1"), ("HTTP_PROXY", "p:1")];
    for url in [
        "ws://localhost/",
        "ws://LOCALHOST:8080/",
        "ws://app.localhost/",
        "wss://127.0.0.1/",
        "wss://127.1.2.3:9/",
        "ws://[::1]/",
    ] {
        assert_eq!(env_proxy(url, &vars), None, "{url}");
    }
    assert_eq!(env_proxy("ws://localhost.example/", &vars), via("p", 1));
}

#[test]
fn env_with_a_bad_proxy_url_is_an_error_not_a_direct_connection() {
    let request = ClientRequest::new("wss://example.com/").unwrap();
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| "https://p:443".to_string());
    assert_eq!(
        Proxy::from_env_vars(&request, vars),
        Err(ProxyError::UnsupportedScheme)
    );
}

/// NO_PROXY: `url` is proxied (true) or not with `no_proxy` set.
fn proxied(url: &str, no_proxy: &str) -> bool {
    let vars = [
        ("HTTPS_PROXY", "p:1"),
        ("HTTP_PROXY", "p:1"),
        ("NO_PROXY", no_proxy),
    ];
    env_proxy(url, &vars).is_some()
}

#[test]
fn no_proxy_rules() {
    // `*` alone: nothing is proxied.
    assert!(!proxied("wss://example.com/", "*"));
    assert!(!proxied("wss://example.com/", "a.test, * "));
    // Names match themselves and their subdomains, case-insensitively,
    // with or without a leading dot or `*.`.
    for entry in [
        "example.com",
        ".example.com",
        "*.example.com",
        "EXAMPLE.COM",
    ] {
        assert!(!proxied("wss://example.com/", entry), "{entry}");
        assert!(!proxied("wss://a.b.Example.com/", entry), "{entry}");
        assert!(proxied("wss://badexample.com/", entry), "{entry}");
        assert!(proxied("wss://example.com.evil/", entry), "{entry}");
    }
    // Lists: commas, spaces, empty entries.
    assert!(!proxied("wss://b.test/", "a.test, ,b.test"));
    assert!(proxied("wss://c.test/", "a.test, ,b.test"));
    // Ports: an entry with a port applies to that port only (wss:// is 443).
    assert!(!proxied("wss://example.com/", "example.com:443"));
    assert!(proxied("wss://example.com/", "example.com:8443"));
    assert!(!proxied("ws://example.com:8080/", "example.com:8080"));
    // IP literals match exactly, IPv6 with or without brackets, never as
    // suffixes.
    assert!(!proxied("wss://10.1.2.3/", "10.1.2.3"));
    assert!(proxied("wss://10.1.2.3/", "2.3"));
    assert!(proxied("wss://110.1.2.3/", "10.1.2.3"));
    assert!(!proxied("wss://[2001:db8::1]/", "2001:db8::1"));
    assert!(!proxied("wss://[2001:db8::1]/", "[2001:db8::1]"));
    assert!(!proxied("wss://[2001:db8::1]:8443/", "[2001:db8::1]:8443"));
    assert!(proxied("wss://[2001:db8::1]/", "[2001:db8::1]:8443"));
    assert!(proxied("wss://[2001:db8::2]/", "2001:db8::1"));
    // Entries that are no host at all are skipped, without panicking.
    for odd in ["ämple.com", "example.com:x", "[::1", ":", ".", "*.", "ü"] {
        assert!(proxied("wss://example.com/", odd), "{odd}");
    }
    // Lower case no_proxy first.
    let vars = [
        ("HTTPS_PROXY", "p:1"),
        ("no_proxy", "a.test"),
        ("NO_PROXY", "*"),
    ];
    assert_eq!(env_proxy("wss://b.test/", &vars), via("p", 1));
}
