//! A peer that resets the TCP connection (RST, not FIN), over real loopback
//! sockets: the adapters' reading of a transport's end (`Core::transport_ended`).
//!
//! RFC 6455 §7.1.1 lets the server close TCP as soon as the closing
//! handshake is done, and many servers and proxies (the Autobahn
//! fuzzingserver among them) abort the connection instead of closing it,
//! which the client reads as a reset. After the closing handshake that is
//! the end of the connection, clean, with the codes of the Close frames;
//! before it, it is an error (`ConnectionReset`), reported after every
//! message read before it, and the end follows.
//!
//! The resetting peer is written by hand here (handshake, frames, then
//! `SO_LINGER` 0 and a close, which makes the kernel send RST), so each
//! test chooses exactly when the reset happens:
//!
//! * `AfterReply`: the server sends a message and Close 1000, reads the
//!   client's Close reply, then resets (the Autobahn fuzzingserver's way);
//!   the client is waiting for the TCP close (§7.1.1) and reads the reset.
//! * `AtOnce`: the server sends a message and Close 1000 and resets at once;
//!   the client starts reading only after the reset, so its Close reply
//!   fails to be written (EPIPE/ECONNRESET), which is also the end.
//! * `BeforeClose`: the server sends a message and resets without a Close:
//!   the message, then the error, then the end, unclean 1006.
//! * `PingBeforeClose`: the same with a Ping after the message, read after
//!   the reset: the automatic Pong's write finds the peer gone, and that
//!   error too comes after the Ping, then the end.
//!
//! Each on the blocking adapter, the tokio adapter and the embedded-io
//! blocking adapter (over `embedded_io_adapters::std::FromStd`; two on the
//! async one over `FromTokio`); then the
//! server side: a hybi server whose client resets after its Close reply,
//! sends Close and resets at once, or resets before any Close. Last, a peer
//! that leaves during the opening handshake, both roles, blocking and tokio:
//! a close is `Error::Closed`, a reset `Error::Io(ConnectionReset)`.
//!
//! Every socket has a timeout and every thread is joined, so a broken
//! adapter fails a test instead of hanging it.

#[path = "support/raw.rs"]
mod raw;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use raw::{
    close_payload, frame, listener, masked_frame, read_frame, reset, settle, with_timeouts,
    IO_TIMEOUT,
};

use hybi::io::blocking::WebSocket;
use hybi::io::tokio::WebSocketStream;
use hybi::io::{Error, Message};
use hybi::{ClientRequest, CloseCode, Config, Event, MessageKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    AfterReply,
    AtOnce,
    BeforeClose,
    PingBeforeClose,
}

/// What a clean end looks like, and an unclean one, in the adapters' words.
const CLEAN: [&str; 3] = ["text hello", "close 1000 bye", "end"];
const RESET: [&str; 3] = ["text hello", "error ConnectionReset", "end"];

fn expected(script: Script) -> Vec<&'static str> {
    match script {
        Script::AfterReply | Script::AtOnce => CLEAN.to_vec(),
        Script::BeforeClose => RESET.to_vec(),
        Script::PingBeforeClose => vec!["text hello", "ping", "error ConnectionReset", "end"],
    }
}

/// The resetting server: plays `script` on one connection, then sends on
/// `reset_done` once it has reset.
fn raw_server(
    listener: TcpListener,
    script: Script,
) -> (thread::JoinHandle<()>, mpsc::Receiver<()>) {
    let (done, reset_done) = mpsc::channel();
    let server = thread::spawn(move || {
        let mut stream = raw::accept(&listener);
        let mut out = frame(0x1, b"hello");
        match script {
            Script::AfterReply | Script::AtOnce => {
                out.extend(frame(0x8, &close_payload(1000, "bye")));
            }
            Script::BeforeClose => {}
            Script::PingBeforeClose => out.extend(frame(0x9, b"hb")),
        }
        stream.write_all(&out).unwrap();
        if script == Script::AfterReply {
            // The client's reply: Close 1000 (RFC 6455 §5.5.1 echoes the code).
            let (opcode, payload) = read_frame(&mut stream);
            assert_eq!(opcode, 0x8);
            assert_eq!(&payload[..2], &1000u16.to_be_bytes());
        } else {
            settle();
        }
        reset(stream);
        let _ = done.send(());
    });
    (server, reset_done)
}

/// Waits for the server's reset when the script wants the client to read
/// only after it.
fn wait_for_reset(script: Script, reset_done: &mpsc::Receiver<()>) {
    if script != Script::AfterReply {
        reset_done
            .recv_timeout(IO_TIMEOUT)
            .expect("the server reset");
        settle();
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text {text}"),
        Message::Binary(bytes) => format!("binary {}", bytes.len()),
        Message::Ping(_) => "ping".into(),
        Message::Pong(_) => "pong".into(),
        Message::Close(Some(frame)) => format!("close {} {}", frame.code, frame.reason),
        Message::Close(None) => "close".into(),
    }
}

fn describe_error(error: &Error) -> String {
    match error {
        Error::Io(e) => format!("error {:?}", e.kind()),
        other => format!("error {other}"),
    }
}

/// Reads until the end (at most a few steps), naming each outcome.
fn drain_blocking<S: hybi::io::blocking::Transport>(ws: &mut WebSocket<S>) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..8 {
        match ws.read() {
            Ok(Some(message)) => seen.push(describe(&message)),
            Ok(None) => {
                seen.push("end".into());
                break;
            }
            Err(error) => seen.push(describe_error(&error)),
        }
    }
    seen
}

async fn drain_tokio<S>(ws: &mut WebSocketStream<S>) -> Vec<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut seen = Vec::new();
    for _ in 0..8 {
        match ws.next().await {
            Some(Ok(message)) => seen.push(describe(&message)),
            None => {
                seen.push("end".into());
                break;
            }
            Some(Err(error)) => seen.push(describe_error(&error)),
        }
    }
    seen
}

fn request(port: u16) -> ClientRequest {
    ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap()
}

fn assert_closed(closed: Option<hybi::Closed>, script: Script) {
    let closed = closed.expect("the connection ended");
    match script {
        Script::AfterReply | Script::AtOnce => {
            assert!(closed.clean, "{closed:?}");
            assert_eq!(closed.code, CloseCode::NORMAL);
        }
        Script::BeforeClose | Script::PingBeforeClose => {
            assert!(!closed.clean, "{closed:?}");
            assert_eq!(closed.code, CloseCode::ABNORMAL);
        }
    }
    assert_eq!(closed.error, None);
}

// ---- The client reads a server's reset ----

fn blocking_client(script: Script) {
    let (listener, port) = listener();
    let (server, reset_done) = raw_server(listener, script);
    let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut ws = WebSocket::connect(request(port), stream, Config::default()).unwrap();
    wait_for_reset(script, &reset_done);
    assert_eq!(drain_blocking(&mut ws), expected(script));
    assert_closed(ws.closed(), script);
    server.join().unwrap();
}

#[test]
fn blocking_client_reset_after_its_close_reply_is_a_clean_end() {
    blocking_client(Script::AfterReply);
}

#[test]
fn blocking_client_reset_right_after_the_close_is_a_clean_end() {
    blocking_client(Script::AtOnce);
}

#[test]
fn blocking_client_reset_before_the_close_is_an_error_after_the_message() {
    blocking_client(Script::BeforeClose);
}

#[test]
fn blocking_client_reset_seen_by_the_pong_is_an_error_after_the_ping() {
    blocking_client(Script::PingBeforeClose);
}

async fn tokio_client(script: Script) {
    let (listener, port) = listener();
    let (server, reset_done) = raw_server(listener, script);
    tokio::time::timeout(IO_TIMEOUT, async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut ws = WebSocketStream::connect(request(port), stream, Config::default())
            .await
            .unwrap();
        tokio::task::spawn_blocking(move || wait_for_reset(script, &reset_done))
            .await
            .unwrap();
        assert_eq!(drain_tokio(&mut ws).await, expected(script));
        assert_closed(ws.closed(), script);
    })
    .await
    .expect("the test's deadline");
    server.join().unwrap();
}

#[tokio::test]
async fn tokio_client_reset_after_its_close_reply_is_a_clean_end() {
    tokio_client(Script::AfterReply).await;
}

#[tokio::test]
async fn tokio_client_reset_right_after_the_close_is_a_clean_end() {
    tokio_client(Script::AtOnce).await;
}

#[tokio::test]
async fn tokio_client_reset_before_the_close_is_an_error_after_the_message() {
    tokio_client(Script::BeforeClose).await;
}

#[tokio::test]
async fn tokio_client_reset_seen_by_the_pong_is_an_error_after_the_ping() {
    tokio_client(Script::PingBeforeClose).await;
}

/// The embedded-io blocking adapter's clock.
#[cfg(feature = "embedded-io")]
fn clock() -> hybi::Instant {
    use std::sync::OnceLock;
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(std::time::Instant::now);
    hybi::Instant::from_micros(origin.elapsed().as_micros() as u64)
}

/// Runs `f` on a thread of its own and waits at most twice `IO_TIMEOUT`
/// for it: an adapter that spins (as the embedded one once did on a reset)
/// fails the test instead of hanging it. A thread still spinning then ends
/// with the test process.
#[cfg(feature = "embedded-io")]
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(IO_TIMEOUT * 2)
        .expect("the adapter returned (a panic or a spin otherwise)")
}

#[cfg(feature = "embedded-io")]
fn embedded_client(script: Script) {
    within(move || embedded_client_run(script));
}

#[cfg(feature = "embedded-io")]
fn embedded_client_run(script: Script) {
    use embedded_io_adapters::std::FromStd;
    use hybi::embedded::{blocking, Error as EmbeddedError};
    use hybi::{Connection, OsEntropy};

    let (listener, port) = listener();
    let (server, reset_done) = raw_server(listener, script);
    let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let conn =
        Connection::client(Config::default(), request(port), OsEntropy::new(), clock()).unwrap();
    let mut buf = [0u8; 1024];
    let mut ws = blocking::WebSocket::new(conn, FromStd::new(stream), &mut buf, clock);
    ws.handshake(|_| unreachable!("a client is never asked"))
        .unwrap();
    wait_for_reset(script, &reset_done);
    let mut seen = Vec::new();
    let mut closed = None;
    for _ in 0..8 {
        let step = ws.next_event(|event| name_event(event, &mut closed));
        match step {
            Ok(what) => seen.push(what),
            Err(EmbeddedError::Transport(e)) => seen.push(format!("error {:?}", e.kind())),
            // After `Closed`, every call says the connection is over.
            Err(EmbeddedError::Closed) => break,
            Err(other) => seen.push(format!("error {other}")),
        }
    }
    assert_eq!(seen, expected(script));
    assert_closed(closed, script);
    drop(ws);
    server.join().unwrap();
}

/// An embedded adapter's event in the words of `describe`; `Closed` is
/// kept in `closed`.
#[cfg(feature = "embedded-io")]
fn name_event(event: Event<'_>, closed: &mut Option<hybi::Closed>) -> String {
    match event {
        Event::Data(data) if data.kind == MessageKind::Text && data.fin => {
            format!("text {}", data.text().unwrap_or("?"))
        }
        Event::Ping(_) => "ping".into(),
        Event::Close { code, reason } => format!("close {} {reason}", code.map_or(0, u16::from)),
        Event::Closed(end) => {
            *closed = Some(end);
            "end".into()
        }
        other => format!("{other:?}"),
    }
}

/// The async embedded adapter (over `FromTokio`) shares the blocking one's
/// decisions; the case that made the blocking one spin, and the error case.
#[cfg(feature = "embedded-io-async")]
fn embedded_async_client(script: Script) {
    within(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(embedded_async_client_run(script))
    });
}

#[cfg(feature = "embedded-io-async")]
async fn embedded_async_client_run(script: Script) {
    use embedded_io_adapters::tokio_1::FromTokio;
    use hybi::embedded::{asynch, Error as EmbeddedError};
    use hybi::{Connection, OsEntropy};

    let (listener, port) = listener();
    let (server, reset_done) = raw_server(listener, script);
    tokio::time::timeout(IO_TIMEOUT, async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let conn = Connection::client(Config::default(), request(port), OsEntropy::new(), clock())
            .unwrap();
        let mut buf = [0u8; 1024];
        let mut ws = asynch::WebSocket::new(conn, FromTokio::new(stream), &mut buf, clock);
        ws.handshake(|_| unreachable!("a client is never asked"))
            .await
            .unwrap();
        tokio::task::spawn_blocking(move || wait_for_reset(script, &reset_done))
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut closed = None;
        for _ in 0..8 {
            let step = ws.next_event(|event| name_event(event, &mut closed)).await;
            match step {
                Ok(what) => seen.push(what),
                Err(EmbeddedError::Transport(e)) => seen.push(format!("error {:?}", e.kind())),
                Err(EmbeddedError::Closed) => break,
                Err(other) => seen.push(format!("error {other}")),
            }
        }
        assert_eq!(seen, expected(script));
        assert_closed(closed, script);
    })
    .await
    .expect("the test's deadline");
    server.join().unwrap();
}

#[cfg(feature = "embedded-io-async")]
#[test]
fn embedded_async_client_reset_right_after_the_close_is_a_clean_end() {
    embedded_async_client(Script::AtOnce);
}

#[cfg(feature = "embedded-io-async")]
#[test]
fn embedded_async_client_reset_before_the_close_is_an_error_after_the_message() {
    embedded_async_client(Script::BeforeClose);
}

#[cfg(feature = "embedded-io")]
#[test]
fn embedded_client_reset_after_its_close_reply_is_a_clean_end() {
    embedded_client(Script::AfterReply);
}

#[cfg(feature = "embedded-io")]
#[test]
fn embedded_client_reset_right_after_the_close_is_a_clean_end() {
    embedded_client(Script::AtOnce);
}

#[cfg(feature = "embedded-io")]
#[test]
fn embedded_client_reset_before_the_close_is_an_error_after_the_message() {
    embedded_client(Script::BeforeClose);
}

#[cfg(feature = "embedded-io")]
#[test]
fn embedded_client_reset_seen_by_the_pong_is_an_error_after_the_ping() {
    embedded_client(Script::PingBeforeClose);
}

// ---- A hybi server reads a client's reset ----

/// The resetting client, by hand: the handshake, then per `script`:
/// `AfterReply` reads the server's message and Close, replies and resets;
/// `AtOnce` sends its own Close and resets without waiting for the reply;
/// `BeforeClose` reads the message and resets.
fn raw_client(port: u16, script: Script) -> (thread::JoinHandle<()>, mpsc::Receiver<()>) {
    let (done, reset_done) = mpsc::channel();
    let client = thread::spawn(move || {
        let mut stream = raw::connect(port);
        match script {
            Script::AfterReply => {
                assert_eq!(read_frame(&mut stream), (0x1, b"hello".to_vec()));
                let (opcode, payload) = read_frame(&mut stream);
                assert_eq!((opcode, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
                stream
                    .write_all(&masked_frame(0x8, &close_payload(1000, "bye")))
                    .unwrap();
            }
            Script::AtOnce => {
                stream
                    .write_all(&masked_frame(0x8, &close_payload(1000, "bye")))
                    .unwrap();
            }
            Script::BeforeClose | Script::PingBeforeClose => {
                stream.write_all(&masked_frame(0x1, b"hello")).unwrap();
            }
        }
        settle();
        reset(stream);
        let _ = done.send(());
    });
    (client, reset_done)
}

fn blocking_server(script: Script) {
    let (listener, port) = listener();
    let (client, reset_done) = raw_client(port, script);
    let (stream, _) = listener.accept().unwrap();
    let mut ws = WebSocket::accept(with_timeouts(stream), Config::default()).unwrap();
    let seen = match script {
        Script::AfterReply => {
            // The server starts the closing handshake after a message.
            ws.send_text("hello").unwrap();
            ws.close(CloseCode::NORMAL, "").unwrap();
            drain_blocking(&mut ws)
        }
        Script::AtOnce | Script::BeforeClose | Script::PingBeforeClose => {
            wait_for_reset(script, &reset_done);
            drain_blocking(&mut ws)
        }
    };
    let want: &[&str] = match script {
        Script::AfterReply | Script::AtOnce => &["close 1000 bye", "end"],
        Script::BeforeClose | Script::PingBeforeClose => &RESET,
    };
    assert_eq!(seen, want);
    assert_closed(ws.closed(), script);
    client.join().unwrap();
}

#[test]
fn blocking_server_client_resets_after_its_close_reply() {
    blocking_server(Script::AfterReply);
}

#[test]
fn blocking_server_client_sends_close_and_resets_at_once() {
    blocking_server(Script::AtOnce);
}

#[test]
fn blocking_server_client_resets_before_any_close() {
    blocking_server(Script::BeforeClose);
}

async fn tokio_server(script: Script) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, reset_done) = raw_client(port, script);
    tokio::time::timeout(IO_TIMEOUT, async {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut ws = WebSocketStream::accept(stream, Config::default())
            .await
            .unwrap();
        if script == Script::AfterReply {
            ws.send(Message::Text("hello".into())).await.unwrap();
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        } else {
            tokio::task::spawn_blocking(move || wait_for_reset(script, &reset_done))
                .await
                .unwrap();
        }
        let want: &[&str] = match script {
            Script::AfterReply | Script::AtOnce => &["close 1000 bye", "end"],
            Script::BeforeClose | Script::PingBeforeClose => &RESET,
        };
        assert_eq!(drain_tokio(&mut ws).await, want);
        assert_closed(ws.closed(), script);
    })
    .await
    .expect("the test's deadline");
    client.join().unwrap();
}

#[tokio::test]
async fn tokio_server_client_resets_after_its_close_reply() {
    tokio_server(Script::AfterReply).await;
}

#[tokio::test]
async fn tokio_server_client_sends_close_and_resets_at_once() {
    tokio_server(Script::AtOnce).await;
}

#[tokio::test]
async fn tokio_server_client_resets_before_any_close() {
    tokio_server(Script::BeforeClose).await;
}

// ---- During the opening handshake ----
//
// A peer that leaves before the handshake completes: a close (FIN) is
// `Error::Closed`, a reset the transport's `Error::Io(ConnectionReset)`;
// neither is `Refused` (our hook said no) nor `Rejected` (the server said
// no).

/// How the raw peer leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    Close,
    Reset,
}

fn leave(stream: TcpStream, how: Leave) {
    match how {
        Leave::Close => drop(stream),
        Leave::Reset => reset(stream),
    }
}

/// A server that reads the request and leaves without answering.
fn server_leaving(how: Leave) -> (u16, thread::JoinHandle<()>) {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut stream = with_timeouts(stream);
        raw::read_head(&mut stream);
        leave(stream, how);
    });
    (port, server)
}

/// A client that sends half a request and leaves; joined before the
/// server reads, so the server meets the end.
fn client_leaving(port: u16, how: Leave) {
    let mut stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    settle();
    leave(stream, how);
}

fn assert_left(result: Result<(), Error>, how: Leave) {
    match (how, result) {
        (Leave::Close, Err(Error::Closed)) => {}
        (Leave::Reset, Err(Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        (how, other) => panic!("{how:?}: {other:?}"),
    }
}

fn blocking_handshake(how: Leave) {
    let (port, server) = server_leaving(how);
    let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let result = WebSocket::connect(request(port), stream, Config::default()).map(drop);
    assert_left(result, how);
    server.join().unwrap();

    let (listener, port) = listener();
    client_leaving(port, how);
    let (stream, _) = listener.accept().unwrap();
    settle();
    let result = WebSocket::accept(with_timeouts(stream), Config::default()).map(drop);
    assert_left(result, how);
}

#[test]
fn blocking_peer_closing_during_the_handshake_is_closed() {
    blocking_handshake(Leave::Close);
}

#[test]
fn blocking_peer_resetting_during_the_handshake_is_a_reset() {
    blocking_handshake(Leave::Reset);
}

async fn tokio_handshake(how: Leave) {
    let (port, server) = server_leaving(how);
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let result = tokio::time::timeout(
        IO_TIMEOUT,
        WebSocketStream::connect(request(port), stream, Config::default()),
    )
    .await
    .expect("the test's deadline");
    assert_left(result.map(drop), how);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::task::spawn_blocking(move || client_leaving(port, how))
        .await
        .unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let result = tokio::time::timeout(
        IO_TIMEOUT,
        WebSocketStream::accept(stream, Config::default()),
    )
    .await
    .expect("the test's deadline");
    assert_left(result.map(drop), how);
}

#[tokio::test]
async fn tokio_peer_closing_during_the_handshake_is_closed() {
    tokio_handshake(Leave::Close).await;
}

#[tokio::test]
async fn tokio_peer_resetting_during_the_handshake_is_a_reset() {
    tokio_handshake(Leave::Reset).await;
}
