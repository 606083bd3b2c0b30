//! The embedded-io adapters (`hybi::embedded`) over real loopback TCP,
//! against hybi's own std adapter as the peer: the blocking adapter through
//! `embedded_io_adapters::std::FromStd`, the async one through
//! `embedded_io_adapters::tokio_1::FromTokio`. Each side is a client and a
//! server; each run checks text and binary both ways, a message larger than
//! the read buffer arriving as several `Data` chunks, a Ping answered with
//! its payload, and the closing handshake ending in a clean `Closed`. Then
//! the error paths: a transport error surfaced as `Error::Transport`, an
//! empty read buffer, a rejected upgrade, a handshake deadline raced against
//! the read. And one echo run against Python `websockets` (skipped with a
//! line if it is not installed; required with `HYBI_INTEROP=1`).
//!
//! Every socket has read and write timeouts and every thread is joined, so
//! a broken adapter fails the test instead of hanging it.

#[path = "support/python.rs"]
mod python;

use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use hybi::embedded::{blocking, Error};
use hybi::handshake::BorrowedRequest;
use hybi::io::Message;
use hybi::storage::{FixedBuffers, Storage};
use hybi::Decision;
use hybi::{ClientRequest, CloseCode, Config, Connection, Event, Instant, MessageKind, OsEntropy};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Smaller than `BIG`, so the big message needs several reads.
const READ_BUF: usize = 512;
const BIG: usize = 20_000;

/// The tests' monotonic clock: microseconds since first use.
fn clock() -> Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_micros(origin.elapsed().as_micros() as u64)
}

fn big_payload() -> Vec<u8> {
    (0..BIG).map(|i| (i * 7 % 251) as u8).collect()
}

fn tcp_pair() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn with_timeouts(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// hybi's std server: echoes data messages, records pings, until closed.
/// Returns whether its end was clean.
fn std_echo_server(listener: TcpListener) -> thread::JoinHandle<bool> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws =
            hybi::io::blocking::WebSocket::accept(with_timeouts(stream), Config::default())
                .unwrap();
        while let Some(message) = ws.read().unwrap() {
            if matches!(message, Message::Text(_) | Message::Binary(_)) {
                ws.send(message).unwrap();
            }
        }
        ws.closed().is_some_and(|closed| closed.clean)
    })
}

/// hybi's std client: sends text, the big binary and a Ping, checks the
/// echoes and the Pong, then closes. Returns whether its end was clean.
fn std_client(port: u16) -> thread::JoinHandle<bool> {
    thread::spawn(move || {
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/embedded")).unwrap();
        let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
        let mut ws =
            hybi::io::blocking::WebSocket::connect(request, stream, Config::default()).unwrap();
        ws.send_text("hello, embedded").unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Some(Message::Text("hello, embedded".into()))
        );
        ws.send_binary(&big_payload()).unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::Binary(big_payload())));
        ws.ping(b"are you there").unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Some(Message::Pong(b"are you there".to_vec()))
        );
        ws.close(CloseCode::NORMAL, "bye").unwrap();
        while ws.read().unwrap().is_some() {}
        ws.closed().is_some_and(|closed| closed.clean)
    })
}

/// An event, owned, so the tests can look at it after `next_event`.
#[derive(Debug, PartialEq)]
enum Seen {
    Data(MessageKind, Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseCode>, String),
    Closed { code: CloseCode, clean: bool },
    Other,
}

fn own(event: Event<'_>) -> Seen {
    match event {
        Event::Data(data) => Seen::Data(data.kind, data.payload.to_vec(), data.fin),
        Event::Ping(payload) => Seen::Ping(payload.to_vec()),
        Event::Pong(payload) => Seen::Pong(payload.to_vec()),
        Event::Close { code, reason } => Seen::Close(code, reason.into()),
        Event::Closed(closed) => Seen::Closed {
            code: closed.code,
            clean: closed.clean,
        },
        _ => Seen::Other,
    }
}

/// Reads one whole data message as chunks: (kind, bytes, chunk count).
fn read_message(mut next: impl FnMut() -> Seen) -> (MessageKind, Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut chunks = 0;
    loop {
        match next() {
            Seen::Data(kind, payload, fin) => {
                chunks += 1;
                bytes.extend_from_slice(&payload);
                if fin {
                    return (kind, bytes, chunks);
                }
            }
            other => panic!("expected data, got {other:?}"),
        }
    }
}

fn client_conn(port: u16) -> Connection {
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/embedded")).unwrap();
    Connection::client(Config::default(), request, OsEntropy::new(), clock()).unwrap()
}

#[test]
fn blocking_client_against_std_server() {
    let (listener, port) = tcp_pair();
    let server = std_echo_server(listener);
    let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut buf = [0u8; READ_BUF];
    let mut ws = blocking::WebSocket::new(client_conn(port), FromStd::new(stream), &mut buf, clock);
    ws.handshake(|_| unreachable!("a client is never asked"))
        .unwrap();
    assert_eq!(ws.connection().state(), hybi::State::Open);

    ws.send(MessageKind::Text, b"hello, ", false).unwrap();
    ws.send(MessageKind::Text, b"server", true).unwrap();
    let (kind, text, _) = read_message(|| ws.next_event(own).unwrap());
    assert_eq!(
        (kind, text.as_slice()),
        (MessageKind::Text, &b"hello, server"[..])
    );

    ws.send(MessageKind::Binary, &big_payload(), true).unwrap();
    let (kind, bytes, chunks) = read_message(|| ws.next_event(own).unwrap());
    assert_eq!(kind, MessageKind::Binary);
    assert_eq!(bytes, big_payload());
    // 20,000 bytes through a 512-byte buffer: at least 40 chunks.
    assert!(chunks >= BIG / READ_BUF, "{chunks} chunks");

    ws.ping(b"ping!").unwrap();
    assert_eq!(ws.next_event(own).unwrap(), Seen::Pong(b"ping!".to_vec()));

    ws.close(CloseCode::NORMAL, "done").unwrap();
    // The std server's automatic reply echoes the code (RFC 6455 §5.5.1).
    assert!(matches!(
        ws.next_event(own).unwrap(),
        Seen::Close(Some(CloseCode::NORMAL), _)
    ));
    assert_eq!(
        ws.next_event(own).unwrap(),
        Seen::Closed {
            code: CloseCode::NORMAL,
            clean: true
        }
    );
    // After `Closed`, the connection is over.
    assert!(matches!(ws.next_event(own), Err(Error::Closed)));
    drop(ws);
    assert!(server.join().unwrap(), "the server's end was not clean");
}

#[test]
fn blocking_server_against_std_client() {
    let (listener, port) = tcp_pair();
    let client = std_client(port);
    let (stream, _) = listener.accept().unwrap();
    server_against_std_client(
        Connection::server(Config::default(), clock()),
        stream,
        client,
    );
}

/// The same session with the engine on fixed buffers (no allocation in the
/// engine or the adapter): what a device without a heap runs.
#[test]
fn blocking_fixed_server_against_std_client() {
    let (listener, port) = tcp_pair();
    let client = std_client(port);
    let (stream, _) = listener.accept().unwrap();
    let (mut output, mut handshake) = ([0u8; 2048], [0u8; 1024]);
    let buffers = FixedBuffers {
        output: &mut output,
        handshake: &mut handshake,
    };
    server_against_std_client(
        Connection::server_in(Config::default(), buffers, clock()),
        stream,
        client,
    );
}

fn server_against_std_client<S: Storage>(
    conn: Connection<S>,
    stream: TcpStream,
    client: thread::JoinHandle<bool>,
) {
    let mut buf = [0u8; READ_BUF];
    let mut ws =
        blocking::WebSocket::new(conn, FromStd::new(with_timeouts(stream)), &mut buf, clock);
    let mut path = String::new();
    ws.handshake(|request| {
        path = request.path().to_string();
        Decision::accept()
    })
    .unwrap();
    assert_eq!(path, "/embedded");

    // Echo every chunk as a frame of its own: the client gets whole messages
    // back however they were split here. Stop at `Closed`.
    let mut echo = vec![0u8; READ_BUF];
    let mut big_chunks = 0;
    let mut pings = Vec::new();
    let mut close = None;
    let closed = loop {
        let seen = ws.next_event(|event| match event {
            Event::Data(data) => {
                echo[..data.payload.len()].copy_from_slice(data.payload);
                Ok((data.kind, data.payload.len(), data.fin))
            }
            other => Err(own(other)),
        });
        match seen.unwrap() {
            Ok((kind, len, fin)) => {
                if kind == MessageKind::Binary {
                    big_chunks += 1;
                }
                ws.send(kind, &echo[..len], fin).unwrap();
            }
            Err(Seen::Ping(payload)) => pings.push(payload),
            Err(Seen::Close(code, reason)) => close = Some((code, reason)),
            Err(closed @ Seen::Closed { .. }) => break closed,
            Err(other) => panic!("unexpected {other:?}"),
        }
    };
    assert!(big_chunks >= BIG / READ_BUF, "{big_chunks} chunks");
    assert_eq!(pings, [b"are you there".to_vec()]);
    assert_eq!(close, Some((Some(CloseCode::NORMAL), "bye".to_string())));
    assert_eq!(
        closed,
        Seen::Closed {
            code: CloseCode::NORMAL,
            clean: true
        }
    );
    assert!(
        ws.shutdown_requested(),
        "the server closes the transport first"
    );
    drop(ws);
    assert!(client.join().unwrap(), "the client's end was not clean");
}

/// A transport that takes nothing: every write fails.
struct Broken;

impl embedded_io::ErrorType for Broken {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::ConnectionReset)
    }
}

impl embedded_io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::BrokenPipe)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn blocking_transport_errors_surface() {
    // The client's request cannot be written.
    let mut buf = [0u8; 64];
    let mut ws = blocking::WebSocket::new(client_conn(9), Broken, &mut buf, clock);
    let error = ws.handshake(|_| Decision::accept()).unwrap_err();
    assert_eq!(error, Error::Transport(embedded_io::ErrorKind::BrokenPipe));
    assert_eq!(
        embedded_io::Error::kind(&error),
        embedded_io::ErrorKind::BrokenPipe
    );

    // A server's read fails.
    let conn = Connection::server(Config::default(), clock());
    let mut ws = blocking::WebSocket::new(conn, Broken, &mut buf, clock);
    let error = ws.handshake(|_| Decision::accept()).unwrap_err();
    assert_eq!(
        error,
        Error::Transport(embedded_io::ErrorKind::ConnectionReset)
    );
    assert_eq!(error.to_string(), "transport error: ConnectionReset");

    // A real socket's read timing out is a transport error too, and the
    // same call can be made again once the peer speaks.
    let (listener, port) = tcp_pair();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let mut buf = [0u8; READ_BUF];
    let conn = Connection::server(Config::default(), clock());
    let mut ws = blocking::WebSocket::new(conn, FromStd::new(stream), &mut buf, clock);
    assert!(matches!(
        ws.handshake(|_| Decision::accept()),
        Err(Error::Transport(_))
    ));
    std::io::Write::write_all(
        &mut peer,
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    ws.handshake(|_| Decision::accept()).unwrap();
    assert_eq!(ws.connection().state(), hybi::State::Open);
    // The peer going away is the end of the connection, not an error.
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        ws.next_event(own).unwrap(),
        Seen::Closed {
            code: CloseCode::ABNORMAL,
            clean: false
        }
    );
}

#[test]
fn blocking_empty_buffer_and_rejection() {
    let mut empty = [0u8; 0];
    let conn = Connection::server(Config::default(), clock());
    let mut ws = blocking::WebSocket::new(conn, Broken, &mut empty, clock);
    assert_eq!(
        ws.handshake(|_| Decision::accept()),
        Err(Error::BufferTooSmall)
    );

    // A server that rejects: the handshake ends with `Refused`, and the std
    // client sees the status and body.
    let (listener, port) = tcp_pair();
    let client = thread::spawn(move || {
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/nope")).unwrap();
        let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
        match hybi::io::blocking::WebSocket::connect(request, stream, Config::default()) {
            Err(hybi::io::Error::Rejected(rejection)) => (rejection.status, rejection.body),
            other => panic!("{other:?}"),
        }
    });
    let (stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; READ_BUF];
    let conn = Connection::server(Config::default(), clock());
    let mut ws =
        blocking::WebSocket::new(conn, FromStd::new(with_timeouts(stream)), &mut buf, clock);
    assert!(matches!(
        ws.handshake(|_| Decision::reject(404, "no such socket")),
        Err(Error::Refused(404))
    ));
    drop(ws);
    assert_eq!(client.join().unwrap(), (404, b"no such socket".to_vec()));
}

mod asynch {
    use super::*;
    use embedded_io_adapters::tokio_1::FromTokio;
    use hybi::embedded::asynch;

    async fn connect(port: u16) -> FromTokio<tokio::net::TcpStream> {
        FromTokio::new(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn async_client_against_std_server() {
        let (listener, port) = tcp_pair();
        let server = std_echo_server(listener);
        let run = async {
            let mut buf = [0u8; READ_BUF];
            let mut ws =
                asynch::WebSocket::new(client_conn(port), connect(port).await, &mut buf, clock);
            ws.handshake(|_| unreachable!("a client is never asked"))
                .await
                .unwrap();

            ws.send(MessageKind::Text, "héllo".as_bytes(), true)
                .await
                .unwrap();
            let Seen::Data(MessageKind::Text, text, true) = ws.next_event(own).await.unwrap()
            else {
                panic!("expected the echo")
            };
            assert_eq!(text, "héllo".as_bytes());

            ws.send(MessageKind::Binary, &big_payload(), true)
                .await
                .unwrap();
            let mut bytes = Vec::new();
            let mut chunks = 0;
            loop {
                let Seen::Data(MessageKind::Binary, payload, fin) =
                    ws.next_event(own).await.unwrap()
                else {
                    panic!("expected data")
                };
                chunks += 1;
                bytes.extend_from_slice(&payload);
                if fin {
                    break;
                }
            }
            assert_eq!(bytes, big_payload());
            assert!(chunks >= BIG / READ_BUF, "{chunks} chunks");

            ws.ping(b"async ping").await.unwrap();
            assert_eq!(
                ws.next_event(own).await.unwrap(),
                Seen::Pong(b"async ping".to_vec())
            );

            ws.close(CloseCode::NORMAL, "done").await.unwrap();
            assert!(matches!(
                ws.next_event(own).await.unwrap(),
                Seen::Close(Some(CloseCode::NORMAL), _)
            ));
            assert_eq!(
                ws.next_event(own).await.unwrap(),
                Seen::Closed {
                    code: CloseCode::NORMAL,
                    clean: true
                }
            );
            assert!(matches!(ws.next_event(own).await, Err(Error::Closed)));
        };
        tokio::time::timeout(IO_TIMEOUT, run)
            .await
            .expect("client timed out");
        assert!(server.join().unwrap(), "the server's end was not clean");
    }

    #[tokio::test]
    async fn async_server_against_std_client() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std_client(port);
        let run = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; READ_BUF];
            let conn = Connection::server(Config::default(), clock());
            let mut ws = asynch::WebSocket::new(conn, FromTokio::new(stream), &mut buf, clock);
            ws.handshake(|request| {
                assert_eq!(request.path(), "/embedded");
                Decision::accept()
            })
            .await
            .unwrap();
            let mut echo = vec![0u8; READ_BUF];
            let mut pings = Vec::new();
            let mut chunks = 0;
            loop {
                let seen = ws
                    .next_event(|event| match event {
                        Event::Data(data) => {
                            echo[..data.payload.len()].copy_from_slice(data.payload);
                            Ok((data.kind, data.payload.len(), data.fin))
                        }
                        other => Err(own(other)),
                    })
                    .await
                    .unwrap();
                match seen {
                    Ok((kind, len, fin)) => {
                        chunks += 1;
                        ws.send(kind, &echo[..len], fin).await.unwrap();
                    }
                    Err(Seen::Ping(payload)) => pings.push(payload),
                    Err(Seen::Close(code, reason)) => {
                        assert_eq!((code, reason.as_str()), (Some(CloseCode::NORMAL), "bye"))
                    }
                    Err(closed @ Seen::Closed { .. }) => {
                        assert_eq!(
                            closed,
                            Seen::Closed {
                                code: CloseCode::NORMAL,
                                clean: true
                            }
                        );
                        break;
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            assert!(chunks > BIG / READ_BUF, "{chunks} chunks");
            assert_eq!(pings, [b"are you there".to_vec()]);
        };
        tokio::time::timeout(IO_TIMEOUT, run)
            .await
            .expect("server timed out");
        assert!(client.join().unwrap(), "the client's end was not clean");
    }

    /// The async adapter surfaces transport errors, and a deadline raced
    /// against `next_event` (the embassy `select` pattern, here with tokio)
    /// runs through `handle_timeout`: a close-handshake deadline against a
    /// peer that never answers ends the connection.
    #[tokio::test]
    async fn async_transport_error_and_deadline() {
        // A peer that takes the connection and then says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let run = async {
            let (accepted, stream) = tokio::join!(listener.accept(), connect(port));
            let (peer, _) = accepted.unwrap();
            let mut config = Config::default();
            config.handshake_timeout = Some(Duration::from_millis(100));
            let mut buf = [0u8; READ_BUF];
            let conn = Connection::client(
                config,
                ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap(),
                OsEntropy::new(),
                clock(),
            )
            .unwrap();
            let mut ws = asynch::WebSocket::new(conn, stream, &mut buf, clock);
            let deadline = ws.poll_timeout().expect("a handshake deadline");
            let wait =
                Duration::from_micros(deadline.as_micros().saturating_sub(clock().as_micros()));
            tokio::select! {
                result = ws.handshake(|_| Decision::accept()) => panic!("handshake ended: {result:?}"),
                () = tokio::time::sleep(wait) => {}
            }
            ws.handle_timeout().await.unwrap();
            assert!(matches!(
                ws.handshake(|_| Decision::accept()).await,
                Err(Error::Protocol(hybi::ProtocolError::HandshakeTimeout))
            ));
            drop(peer);

            let mut buf = [0u8; 16];
            let conn = Connection::server(Config::default(), clock());
            let mut ws = asynch::WebSocket::new(conn, AsyncBroken, &mut buf, clock);
            assert_eq!(
                ws.handshake(|_| Decision::accept()).await.unwrap_err(),
                Error::Transport(embedded_io::ErrorKind::ConnectionReset)
            );
        };
        tokio::time::timeout(IO_TIMEOUT, run)
            .await
            .expect("timed out");
    }

    struct AsyncBroken;

    impl embedded_io_async::ErrorType for AsyncBroken {
        type Error = embedded_io::ErrorKind;
    }

    impl embedded_io_async::Read for AsyncBroken {
        async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
            Err(embedded_io::ErrorKind::ConnectionReset)
        }
    }

    impl embedded_io_async::Write for AsyncBroken {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            Ok(buf.len())
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
}

/// Python `websockets` as the echo server (tests/interop/echo_server.py),
/// the blocking embedded adapter as the client: text, a message larger than
/// the read buffer, a Ping, and the close started here. Skipped with a line
/// when Python `websockets` is missing, unless `HYBI_INTEROP=1`.
#[test]
fn blocking_client_against_python_websockets() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    if !python::python_has("websockets.sync.server", "python websockets") {
        return;
    }
    /// Ends the server when the test ends, however it ends: closing its
    /// standard input makes it exit; the kill is for a server that did not.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            drop(self.0.stdin.take());
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Child(
        Command::new("python3")
            .arg(dir.join("echo_server.py"))
            .args(["0", "off"])
            .current_dir(&dir)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let ready = lines.recv_timeout(IO_TIMEOUT).expect("no ready line");
    let port: u16 = ready.strip_prefix("ready ").unwrap().parse().unwrap();

    // The engine on fixed buffers, as on a device without a heap: the
    // output holds the largest frame sent (20,000 bytes) plus the close
    // reserve.
    let stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut buf = [0u8; READ_BUF];
    let (mut output, mut handshake) = (vec![0u8; 24 * 1024], [0u8; 1024]);
    let uri = format!("ws://127.0.0.1:{port}/embedded");
    let mut entropy = OsEntropy::new();
    let conn = Connection::client_in(
        Config::default(),
        BorrowedRequest::new(&uri).unwrap(),
        &mut entropy,
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        clock(),
    )
    .unwrap();
    let mut ws = blocking::WebSocket::new(conn, FromStd::new(stream), &mut buf, clock);
    ws.handshake(|_| Decision::accept()).unwrap();

    ws.send(MessageKind::Text, "中文 😀".as_bytes(), true)
        .unwrap();
    let (kind, text, _) = read_message(|| ws.next_event(own).unwrap());
    assert_eq!(
        (kind, text.as_slice()),
        (MessageKind::Text, "中文 😀".as_bytes())
    );
    ws.send(MessageKind::Binary, &big_payload(), true).unwrap();
    let (kind, bytes, chunks) = read_message(|| ws.next_event(own).unwrap());
    assert_eq!((kind, bytes), (MessageKind::Binary, big_payload()));
    assert!(chunks >= BIG / READ_BUF, "{chunks} chunks");
    ws.ping(b"py").unwrap();
    assert_eq!(ws.next_event(own).unwrap(), Seen::Pong(b"py".to_vec()));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(matches!(
        ws.next_event(own).unwrap(),
        Seen::Close(Some(CloseCode::NORMAL), _)
    ));
    assert_eq!(
        ws.next_event(own).unwrap(),
        Seen::Closed {
            code: CloseCode::NORMAL,
            clean: true
        }
    );
    drop(ws);
    // The server saw the open and our close frame.
    let open = lines.recv_timeout(IO_TIMEOUT).expect("no open line");
    assert!(open.starts_with("open /embedded"), "{open}");
    let closed = lines.recv_timeout(IO_TIMEOUT).expect("no closed line");
    assert_eq!(closed, "closed 1000 bye");
    drop(child);
    reader.join().unwrap();
}
