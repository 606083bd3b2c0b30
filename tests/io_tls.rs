//! The `connect` conveniences over real loopback TCP: plain `ws://`, and
//! `wss://` against a local rustls echo server whose certificate is made in
//! the test (a DNS name, an IPv4 and an IPv6 address), a certificate the
//! default roots refuse, and a port nobody listens on. Every server thread
//! serves a fixed number of connections and ends by itself.

mod common;

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use hybi::io::blocking::WebSocket;
use hybi::io::{CloseFrame, Error, Message};
use hybi::{CloseCode, Config};

/// How long any socket waits before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

fn listener(addr: &str) -> (TcpListener, u16) {
    let listener = TcpListener::bind(addr).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Echoes data messages until the connection ends; the peer's close frame.
fn echo<S: hybi::io::blocking::Transport>(
    ws: &mut WebSocket<S>,
) -> Result<Option<CloseFrame>, Error> {
    let mut close = None;
    while let Some(message) = ws.read()? {
        match message {
            Message::Text(_) | Message::Binary(_) => ws.send(message)?,
            Message::Close(frame) => close = frame,
            _ => {}
        }
    }
    assert!(ws.closed().unwrap().clean);
    Ok(close)
}

/// A plain WebSocket echo server for one connection.
fn plain_echo_server(listener: TcpListener) -> thread::JoinHandle<Option<CloseFrame>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut ws = WebSocket::accept(stream, Config::default()).unwrap();
        echo(&mut ws).unwrap()
    })
}

/// Text, 100 KiB of binary, and a clean close initiated by the client.
fn exchange<S: hybi::io::blocking::Transport>(ws: &mut WebSocket<S>) {
    ws.send_text("héllo 😀").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("héllo 😀".into())));
    let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
    ws.send_binary(&big).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big)));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    // The server's reply repeats the code (RFC 6455 §5.5.1), not the reason.
    match ws.read().unwrap() {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert_eq!(ws.read().unwrap(), None);
    let closed = ws.closed().unwrap();
    assert!(closed.clean);
    assert_eq!(closed.code, CloseCode::NORMAL);
}

fn expect_close(close: Option<CloseFrame>) {
    assert_eq!(
        close,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "done".into()
        })
    );
}

#[test]
fn plain_connect_echoes() {
    let (listener, port) = listener("127.0.0.1:0");
    let server = plain_echo_server(listener);

    let mut ws = hybi::io::connect(&format!("ws://127.0.0.1:{port}/x")).unwrap();
    assert!(!ws.get_ref().is_tls());
    assert!(ws.get_ref().tcp().nodelay().unwrap());
    ws.get_ref().tcp().set_read_timeout(Some(TIMEOUT)).unwrap();
    exchange(&mut ws);
    expect_close(server.join().unwrap());
}

#[test]
fn plain_connect_with_a_request_offers_its_subprotocol() {
    let (listener, port) = listener("127.0.0.1:0");
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
            assert_eq!(request.path(), "/chat");
            // A decision borrows nothing from the request: the choice is
            // made from the server's own list.
            let chosen = ["chat", "superchat"]
                .into_iter()
                .find(|p| request.offers_subprotocol(p))
                .unwrap();
            hybi::Accept::new().subprotocol(chosen).into()
        })
        .unwrap();
        echo(&mut ws).unwrap()
    });

    let request = hybi::ClientRequest::new(&format!("ws://127.0.0.1:{port}/chat?room=1"))
        .unwrap()
        .subprotocols(&["chat"]);
    let mut ws = hybi::io::Connector::from_request(request)
        .connect()
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("chat"));
    exchange(&mut ws);
    expect_close(server.join().unwrap());
}

#[test]
fn unreachable_port_is_connection_refused() {
    // A port that was just free: bound, then released.
    let port = listener("127.0.0.1:0").1;
    match hybi::io::connect(&format!("ws://127.0.0.1:{port}/")) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected ConnectionRefused, got {other:?}"),
    }
}

#[test]
fn invalid_url_is_a_usage_error() {
    assert!(matches!(
        hybi::io::connect("http://127.0.0.1/"),
        Err(Error::Usage(hybi::UsageError::InvalidUri))
    ));
}

#[cfg(not(feature = "rustls"))]
#[test]
fn wss_without_rustls_is_unsupported() {
    // Refused before any connection is tried: nothing listens on port 1.
    match hybi::io::connect("wss://127.0.0.1:1/") {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
            assert!(e.to_string().contains("rustls"));
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[cfg(feature = "rustls")]
mod tls {
    use std::net::TcpStream;
    use std::sync::Arc;

    use rustls::{ServerConfig, ServerConnection, StreamOwned};

    use super::*;

    pub(crate) use crate::common::certificate;

    /// A TLS WebSocket echo server for one connection: the echo's close
    /// frame, or the error that ended it (a client refusing the certificate
    /// ends the TLS handshake, which `accept` reports). With `close_notify`
    /// the server ends TLS properly; without, it just drops the socket, as
    /// many servers do.
    pub(crate) fn tls_echo_server(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        close_notify: bool,
    ) -> thread::JoinHandle<Result<Option<CloseFrame>, Error>> {
        thread::spawn(move || {
            let (tcp, _): (TcpStream, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
            let session = ServerConnection::new(config).unwrap();
            let mut ws = WebSocket::accept(StreamOwned::new(session, tcp), Config::default())?;
            let close = echo(&mut ws)?;
            if close_notify {
                ws.get_mut().conn.send_close_notify();
                std::io::Write::flush(ws.get_mut()).unwrap();
            }
            Ok(close)
        })
    }

    fn wss_echo(bind: &str, host: &str, names: &[&str], close_notify: bool) {
        let (server_config, client_config) = certificate(names);
        let (listener, port) = listener(bind);
        let server = tls_echo_server(listener, server_config, close_notify);

        let request = hybi::ClientRequest::new(&format!("wss://{host}:{port}/")).unwrap();
        let mut ws = hybi::io::Connector::from_request(request)
            .tls(client_config)
            .connect()
            .unwrap();
        assert!(ws.get_ref().is_tls());
        assert!(matches!(ws.get_ref(), hybi::io::MaybeTlsStream::Rustls(_)));
        ws.get_ref().tcp().set_read_timeout(Some(TIMEOUT)).unwrap();
        exchange(&mut ws);
        expect_close(server.join().unwrap().unwrap());
    }

    #[test]
    fn wss_localhost_echoes_and_closes_cleanly() {
        wss_echo("127.0.0.1:0", "localhost", &["localhost"], false);
    }

    #[test]
    fn wss_with_close_notify_closes_cleanly() {
        wss_echo("127.0.0.1:0", "localhost", &["localhost"], true);
    }

    #[test]
    fn wss_to_an_ipv4_literal_checks_the_ip_san() {
        wss_echo("127.0.0.1:0", "127.0.0.1", &["127.0.0.1"], true);
    }

    #[test]
    fn wss_to_an_ipv6_literal_checks_the_ip_san() {
        if TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipped");
            return;
        }
        wss_echo("[::1]:0", "[::1]", &["::1"], true);
    }

    /// The certificate is valid, but for another name: rustls must refuse it.
    #[test]
    fn wss_to_a_name_the_certificate_lacks_is_refused() {
        let (server_config, client_config) = certificate(&["example.test"]);
        let (listener, port) = listener("127.0.0.1:0");
        let server = tls_echo_server(listener, server_config, false);

        let request = hybi::ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
        let error = hybi::io::Connector::from_request(request)
            .tls(client_config)
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(
                rustls_error(&error),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{error:?}"
        );
        assert!(server.join().unwrap().is_err());
    }

    /// The default roots (Mozilla's) do not include the test's certificate.
    #[test]
    fn default_roots_refuse_a_self_signed_certificate() {
        let (server_config, _) = certificate(&["localhost"]);
        let (listener, port) = listener("127.0.0.1:0");
        let server = tls_echo_server(listener, server_config, false);

        let error = hybi::io::connect(&format!("wss://localhost:{port}/"))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(
                rustls_error(&error),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{error:?}"
        );
        // The client's alert ends the server's handshake too.
        assert!(server.join().unwrap().is_err());
    }

    /// A server that hangs up instead of answering the ClientHello: an
    /// error, not a hang.
    #[test]
    fn tls_hang_up_during_the_handshake_is_an_error() {
        let (listener, port) = listener("127.0.0.1:0");
        let server = thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
            // Read the ClientHello first so the close is a FIN, not a reset
            // for unread data.
            let _ = std::io::Read::read(&mut tcp, &mut [0; 4096]).unwrap();
        });
        let (_, client_config) = certificate(&["localhost"]);
        let request = hybi::ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
        match hybi::io::Connector::from_request(request)
            .tls(client_config)
            .connect()
        {
            Err(Error::Io(e)) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ),
                "{e:?}"
            ),
            other => panic!("expected an I/O error, got {other:?}"),
        }
        server.join().unwrap();
    }

    /// The rustls error inside an adapter error, if that is what it is.
    pub(crate) fn rustls_error(error: &Error) -> Option<&rustls::Error> {
        match error {
            Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                e.get_ref()?.downcast_ref::<rustls::Error>()
            }
            _ => None,
        }
    }
}

#[cfg(feature = "tokio")]
mod tokio_connect {
    use std::future::Future;

    use ::tokio::io::{AsyncRead, AsyncWrite};
    use ::tokio::net::TcpListener;
    use hybi::io::tokio::WebSocketStream;

    use super::{expect_close, CloseCode, CloseFrame, Config, Error, Message, TIMEOUT};

    /// Runs `test` with the safety-net timeout.
    async fn within<T>(test: impl Future<Output = T>) -> T {
        ::tokio::time::timeout(TIMEOUT, test)
            .await
            .expect("the test timed out")
    }

    async fn listener() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
        ws: &mut WebSocketStream<S>,
    ) -> Result<Option<CloseFrame>, Error> {
        let mut close = None;
        while let Some(message) = ws.next().await {
            match message? {
                message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
                Message::Close(frame) => close = frame,
                _ => {}
            }
        }
        assert!(ws.closed().unwrap().clean);
        Ok(close)
    }

    /// Text, 100 KiB of binary, and a clean close initiated by the client.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) {
        ws.send(Message::Text("héllo 😀".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("héllo 😀".into())
        );
        let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
        ws.send(Message::Binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(big));
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::NORMAL),
            other => panic!("expected the close reply, got {other:?}"),
        }
        assert!(ws.next().await.is_none());
        assert!(ws.closed().unwrap().clean);
    }

    #[::tokio::test]
    async fn plain_connect_async_echoes() {
        within(async {
            let (listener, port) = listener().await;
            let server = ::tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = WebSocketStream::accept(tcp, Config::default())
                    .await
                    .unwrap();
                echo(&mut ws).await.unwrap()
            });
            let mut ws = hybi::io::connect_async(&format!("ws://127.0.0.1:{port}/x"))
                .await
                .unwrap();
            assert!(!ws.get_ref().is_tls());
            assert!(ws.get_ref().tcp().nodelay().unwrap());
            exchange(&mut ws).await;
            expect_close(server.await.unwrap());
        })
        .await;
    }

    #[::tokio::test]
    async fn unreachable_port_is_connection_refused_async() {
        let port = listener().await.1;
        match within(hybi::io::connect_async(&format!("ws://127.0.0.1:{port}/"))).await {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
            other => panic!("expected ConnectionRefused, got {other:?}"),
        }
    }

    #[cfg(not(feature = "tokio-rustls"))]
    #[::tokio::test]
    async fn wss_without_tokio_rustls_is_unsupported() {
        match hybi::io::connect_async("wss://127.0.0.1:1/").await {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
                assert!(e.to_string().contains("tokio-rustls"));
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[cfg(feature = "tokio-rustls")]
    mod tls {
        use std::sync::Arc;

        use tokio_rustls::rustls::ServerConfig;
        use tokio_rustls::TlsAcceptor;

        use super::super::tls::{certificate, rustls_error};
        use super::*;

        /// A TLS WebSocket echo server for one connection (the adapter
        /// sends close_notify when it shuts the transport).
        fn tls_echo_server(
            listener: TcpListener,
            config: Arc<ServerConfig>,
        ) -> ::tokio::task::JoinHandle<Result<Option<CloseFrame>, Error>> {
            ::tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let tls = TlsAcceptor::from(config).accept(tcp).await?;
                let mut ws = WebSocketStream::accept(tls, Config::default()).await?;
                echo(&mut ws).await
            })
        }

        async fn wss_echo(host: &str, names: &[&str]) {
            let (server_config, client_config) = certificate(names);
            let (listener, port) = listener().await;
            let server = tls_echo_server(listener, server_config);
            let request = hybi::ClientRequest::new(&format!("wss://{host}:{port}/")).unwrap();
            let mut ws = hybi::io::Connector::from_request(request)
                .tls(client_config)
                .connect_async()
                .await
                .unwrap();
            assert!(ws.get_ref().is_tls());
            assert!(matches!(
                ws.get_ref(),
                hybi::io::AsyncMaybeTlsStream::Rustls(_)
            ));
            exchange(&mut ws).await;
            expect_close(server.await.unwrap().unwrap());
        }

        #[::tokio::test]
        async fn wss_localhost_echoes_async() {
            within(wss_echo("localhost", &["localhost"])).await;
        }

        /// Against the blocking server that drops TCP without a TLS
        /// close_notify, as many servers do: still a clean close.
        #[::tokio::test]
        async fn wss_without_close_notify_closes_cleanly_async() {
            within(async {
                let (server_config, client_config) = certificate(&["localhost"]);
                let (listener, port) = super::super::listener("127.0.0.1:0");
                let server = super::super::tls::tls_echo_server(listener, server_config, false);
                let request =
                    hybi::ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
                let mut ws = hybi::io::Connector::from_request(request)
                    .tls(client_config)
                    .connect_async()
                    .await
                    .unwrap();
                exchange(&mut ws).await;
                let close = ::tokio::task::spawn_blocking(move || server.join().unwrap())
                    .await
                    .unwrap();
                expect_close(close.unwrap());
            })
            .await;
        }

        #[::tokio::test]
        async fn wss_to_an_ipv4_literal_async() {
            within(wss_echo("127.0.0.1", &["127.0.0.1"])).await;
        }

        #[::tokio::test]
        async fn default_roots_refuse_a_self_signed_certificate_async() {
            within(async {
                let (server_config, _) = certificate(&["localhost"]);
                let (listener, port) = listener().await;
                let server = tls_echo_server(listener, server_config);
                let error = hybi::io::connect_async(&format!("wss://localhost:{port}/"))
                    .await
                    .map(|_| ())
                    .unwrap_err();
                assert!(
                    matches!(
                        rustls_error(&error),
                        Some(rustls::Error::InvalidCertificate(
                            rustls::CertificateError::UnknownIssuer
                        ))
                    ),
                    "{error:?}"
                );
                assert!(server.await.unwrap().is_err());
            })
            .await;
        }
    }
}
