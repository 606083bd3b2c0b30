//! Deadlines hold whatever the caller does, on real loopback sockets and
//! the real clock.
//!
//! * `io::Connector` bounds the whole connect by one deadline (its
//!   `timeout()`, or `Config::handshake_timeout`): a TCP connect that gets
//!   no answer (a listener whose accept queue is full drops the SYN), a
//!   proxy that accepts TCP and never answers CONNECT, a TLS server that
//!   never answers the ClientHello, a WebSocket server that never answers
//!   the upgrade. Each, blocking and on tokio, fails near the 300 ms
//!   deadline with `TimedOut` (or the engine's `HandshakeTimeout`), never
//!   hangs and never reports `WouldBlock` (which would mean "retry").
//! * The blocking adapter bounds each read by the engine's next deadline
//!   (`io::blocking::Transport`), whatever the socket's own read timeout:
//!   with a 60 s timeout set by the caller, the close deadline (300 ms)
//!   still ends the wait for a server that never closes TCP after the
//!   closing handshake, or that never answers the Close; a keepalive Ping
//!   (300 ms) goes out on time; and the caller's timeout is restored.
//! * The tokio adapter does the same with tokio's timer.
//!
//! Bounds: a deadline of 300 ms must have passed (at least 250 ms, the
//! measurement starting just before the call) and the call must return
//! within 5 s, generous for a loaded machine. Every thread is joined; the
//! silent peers end when the client goes away.

#[path = "support/raw.rs"]
mod raw;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use hybi::io::blocking::WebSocket;
use hybi::io::tokio::WebSocketStream;
use hybi::io::{Connector, Error, Message, Proxy};
use hybi::{ClientRequest, CloseCode, Config, ProtocolError};
use raw::{close_payload, frame, hold_until_peer_leaves, listener, read_frame, with_timeouts};

const DEADLINE: Duration = Duration::from_millis(300);
const AT_LEAST: Duration = Duration::from_millis(250);
const AT_MOST: Duration = Duration::from_secs(5);
/// The caller's own socket read timeout, far longer than any deadline.
const LONG: Duration = Duration::from_secs(60);

fn assert_near_deadline(elapsed: Duration) {
    assert!(
        elapsed >= AT_LEAST,
        "returned after {elapsed:?}, before the deadline"
    );
    assert!(elapsed < AT_MOST, "returned after {elapsed:?}");
}

/// A connect that ran out of time: the connector's `TimedOut`, or the
/// engine's handshake deadline if that came first.
fn assert_timed_out<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {}
        Err(Error::Protocol(ProtocolError::HandshakeTimeout)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// A server that accepts one TCP connection and never says a word; it
/// ends when the client goes away.
fn silent_server() -> (u16, thread::JoinHandle<()>) {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        hold_until_peer_leaves(with_timeouts(stream));
    });
    (port, server)
}

/// A listener whose accept queue is full (backlog 0, one connection
/// queued and never accepted): Linux drops further SYNs, so a connect to
/// it waits for an answer that never comes. Kept alive by the returned
/// values.
fn unanswered_listener() -> (SocketAddr, socket2::Socket, TcpStream) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let queued = TcpStream::connect(addr).unwrap();
    (addr, socket, queued)
}

fn connector(url: &str) -> Connector {
    Connector::new(url).unwrap().proxy(None).timeout(DEADLINE)
}

// ---- io::Connector, blocking ----

#[test]
fn blocking_connect_gives_up_on_a_silent_server() {
    let (port, server) = silent_server();
    let start = Instant::now();
    let result = connector(&format!("ws://127.0.0.1:{port}/")).connect();
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    server.join().unwrap();
}

#[test]
fn blocking_connect_deadline_defaults_to_the_handshake_timeout() {
    let (port, server) = silent_server();
    let mut config = Config::default();
    config.handshake_timeout = Some(DEADLINE);
    let start = Instant::now();
    let result = Connector::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .proxy(None)
        .config(config)
        .connect();
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    server.join().unwrap();
}

#[test]
fn blocking_connect_bounds_the_tcp_connect() {
    let (addr, _listener, _queued) = unanswered_listener();
    let start = Instant::now();
    let result = connector(&format!("ws://{addr}/")).connect();
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
}

#[test]
fn blocking_connect_bounds_a_silent_proxy() {
    let (port, proxy) = silent_server();
    let start = Instant::now();
    let result = connector("ws://127.0.0.1:9/")
        .proxy(Some(
            Proxy::new(&format!("http://127.0.0.1:{port}")).unwrap(),
        ))
        .connect();
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    proxy.join().unwrap();
}

#[cfg(feature = "rustls")]
#[test]
fn blocking_connect_bounds_a_silent_tls_server() {
    let (port, server) = silent_server();
    let start = Instant::now();
    let result = connector(&format!("wss://127.0.0.1:{port}/")).connect();
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    server.join().unwrap();
}

// ---- io::Connector, tokio ----

#[tokio::test]
async fn tokio_connect_gives_up_on_a_silent_server() {
    let (port, server) = silent_server();
    let start = Instant::now();
    let result = connector(&format!("ws://127.0.0.1:{port}/"))
        .connect_async()
        .await;
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn tokio_connect_deadline_defaults_to_the_handshake_timeout() {
    let (port, server) = silent_server();
    let mut config = Config::default();
    config.handshake_timeout = Some(DEADLINE);
    let start = Instant::now();
    let result = Connector::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .proxy(None)
        .config(config)
        .connect_async()
        .await;
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn tokio_connect_bounds_the_tcp_connect() {
    let (addr, _listener, _queued) = unanswered_listener();
    let start = Instant::now();
    let result = connector(&format!("ws://{addr}/")).connect_async().await;
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
}

#[tokio::test]
async fn tokio_connect_bounds_a_silent_proxy() {
    let (port, proxy) = silent_server();
    let start = Instant::now();
    let result = connector("ws://127.0.0.1:9/")
        .proxy(Some(
            Proxy::new(&format!("http://127.0.0.1:{port}")).unwrap(),
        ))
        .connect_async()
        .await;
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    tokio::task::spawn_blocking(move || proxy.join().unwrap())
        .await
        .unwrap();
}

#[cfg(feature = "tokio-rustls")]
#[tokio::test]
async fn tokio_connect_bounds_a_silent_tls_server() {
    let (port, server) = silent_server();
    let start = Instant::now();
    let result = connector(&format!("wss://127.0.0.1:{port}/"))
        .connect_async()
        .await;
    assert_near_deadline(start.elapsed());
    assert_timed_out(result);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

// ---- The blocking adapter's reads, bounded by the engine's deadlines ----

/// What the raw server does after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Answers the client's Close, then keeps TCP open (never closes it,
    /// against RFC 6455 §7.1.1) until the client goes away.
    KeepsTcpOpen,
    /// Never answers the client's Close.
    NeverAnswersClose,
    /// Answers each Ping with a Pong (RFC 6455 §5.5.3), and the Close with
    /// a Close, then closes TCP. Returns when the Ping arrived.
    Pongs,
}

fn raw_server(listener: TcpListener, peer: Peer) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut stream = raw::accept(&listener);
        loop {
            let (opcode, payload) = read_frame(&mut stream);
            match (opcode, peer) {
                (0x9, _) => {
                    use std::io::Write;
                    stream.write_all(&frame(0xa, &payload)).unwrap();
                }
                (0x8, Peer::KeepsTcpOpen | Peer::Pongs) => {
                    use std::io::Write;
                    stream
                        .write_all(&frame(0x8, &close_payload(1000, "")))
                        .unwrap();
                    if peer == Peer::Pongs {
                        return;
                    }
                    break;
                }
                (0x8, Peer::NeverAnswersClose) => break,
                other => panic!("unexpected frame {other:?}"),
            }
        }
        hold_until_peer_leaves(stream);
    })
}

/// A blocking client whose socket read timeout is the caller's `timeout`.
fn blocking_client(port: u16, config: Config, timeout: Option<Duration>) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(timeout).unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    WebSocket::connect(request, stream, config).unwrap()
}

fn close_deadline() -> Config {
    let mut config = Config::default();
    config.close_timeout = Some(DEADLINE);
    config
}

#[test]
fn blocking_close_deadline_holds_with_a_long_socket_timeout() {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::KeepsTcpOpen);
    let mut ws = blocking_client(port, close_deadline(), Some(LONG));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    let start = Instant::now();
    assert!(matches!(ws.read().unwrap(), Some(Message::Close(_))));
    // §7.1.1: the client waits for the server to close TCP, at most the
    // close deadline, then closes it itself.
    assert_eq!(ws.read().unwrap(), None);
    assert_near_deadline(start.elapsed());
    let closed = ws.closed().unwrap();
    assert!(closed.clean, "{closed:?}");
    assert_eq!(closed.code, CloseCode::NORMAL);
    assert_eq!(ws.get_ref().read_timeout().unwrap(), Some(LONG));
    drop(ws);
    server.join().unwrap();
}

#[test]
fn blocking_close_deadline_fails_a_peer_that_never_answers_the_close() {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::NeverAnswersClose);
    let mut ws = blocking_client(port, close_deadline(), Some(LONG));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    let start = Instant::now();
    let result = ws.read();
    assert_near_deadline(start.elapsed());
    assert!(
        matches!(result, Err(Error::Protocol(ProtocolError::CloseTimeout))),
        "{result:?}"
    );
    assert_eq!(ws.read().unwrap(), None);
    assert!(!ws.closed().unwrap().clean);
    assert_eq!(ws.get_ref().read_timeout().unwrap(), Some(LONG));
    drop(ws);
    server.join().unwrap();
}

#[test]
fn blocking_close_deadline_holds_through_the_connectors_stream() {
    // The same through `MaybeTlsStream`, whose `Transport` impl bounds the
    // TCP socket underneath.
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::KeepsTcpOpen);
    let mut ws = Connector::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .proxy(None)
        .config(close_deadline())
        .connect()
        .unwrap();
    ws.get_ref().tcp().set_read_timeout(Some(LONG)).unwrap();
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    let start = Instant::now();
    assert!(matches!(ws.read().unwrap(), Some(Message::Close(_))));
    assert_eq!(ws.read().unwrap(), None);
    assert_near_deadline(start.elapsed());
    assert!(ws.closed().unwrap().clean);
    assert_eq!(ws.get_ref().tcp().read_timeout().unwrap(), Some(LONG));
    drop(ws);
    server.join().unwrap();
}

fn keepalive(timeout: Option<Duration>) {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::Pongs);
    let mut config = Config::default();
    config.keepalive_interval = Some(DEADLINE);
    let start = Instant::now();
    let mut ws = blocking_client(port, config, timeout);
    // The read waits for the keepalive Ping to go out and its Pong to come
    // back, whatever the socket's own timeout.
    let message = ws.read().unwrap();
    assert_near_deadline(start.elapsed());
    assert!(matches!(message, Some(Message::Pong(_))), "{message:?}");
    assert_eq!(ws.get_ref().read_timeout().unwrap(), timeout);
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.read().unwrap().is_some() {}
    assert!(ws.closed().unwrap().clean);
    server.join().unwrap();
}

#[test]
fn blocking_keepalive_pings_on_time_with_a_long_socket_timeout() {
    keepalive(Some(LONG));
}

#[test]
fn blocking_keepalive_pings_on_time_with_no_socket_timeout() {
    keepalive(None);
}

// ---- The tokio adapter, on tokio's timer ----

async fn tokio_client(port: u16, config: Config) -> WebSocketStream<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    WebSocketStream::connect(request, stream, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn tokio_close_deadline_ends_the_wait_for_the_tcp_close() {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::KeepsTcpOpen);
    let mut ws = tokio_client(port, close_deadline()).await;
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    let start = Instant::now();
    assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
    assert!(ws.next().await.is_none());
    assert_near_deadline(start.elapsed());
    assert!(ws.closed().unwrap().clean);
    drop(ws);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn tokio_close_deadline_fails_a_peer_that_never_answers_the_close() {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::NeverAnswersClose);
    let mut ws = tokio_client(port, close_deadline()).await;
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    let start = Instant::now();
    let result = ws.next().await;
    assert_near_deadline(start.elapsed());
    assert!(
        matches!(
            result,
            Some(Err(Error::Protocol(ProtocolError::CloseTimeout)))
        ),
        "{result:?}"
    );
    assert!(ws.next().await.is_none());
    drop(ws);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn tokio_keepalive_pings_on_time() {
    let (listener, port) = listener();
    let server = raw_server(listener, Peer::Pongs);
    let mut config = Config::default();
    config.keepalive_interval = Some(DEADLINE);
    let start = Instant::now();
    let mut ws = tokio_client(port, config).await;
    let message = ws.next().await;
    assert_near_deadline(start.elapsed());
    assert!(matches!(message, Some(Ok(Message::Pong(_)))), "{message:?}");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    while let Some(message) = ws.next().await {
        message.unwrap();
    }
    assert!(ws.closed().unwrap().clean);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}
