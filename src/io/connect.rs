//! Opening a connection in one call (feature `std`; `tokio` for
//! [`Connector::connect_async`]): the TCP connection, an HTTP proxy tunnel,
//! TLS for `wss://` (feature `rustls`, `tokio-rustls` with tokio), and the
//! WebSocket handshake, all within one deadline.
//!
//! ```no_run
//! use hybi::io::Message;
//!
//! # fn main() -> Result<(), hybi::io::Error> {
//! // wss:// URIs need the `rustls` feature; ws:// URIs work with `std` alone.
//! let mut ws = hybi::io::connect("ws://127.0.0.1:9001/chat")?;
//! ws.send_text("hello")?;
//! while let Some(message) = ws.read()? {
//!     if let Message::Text(text) = message {
//!         println!("{text}");
//!         ws.close(hybi::CloseCode::NORMAL, "bye")?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! For anything else, [`Connector`]: subprotocols, an `Origin` or headers
//! (a [`ClientRequest`]), a [`Config`], a proxy, a `rustls::ClientConfig`
//! (a private CA, a client certificate), a deadline. To apply socket
//! options before the handshake, or bring another TLS library, open the
//! stream yourself and call
//! [`WebSocket::connect`](super::blocking::WebSocket::connect).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant as Clock};

#[cfg(feature = "rustls")]
use std::boxed::Box;
#[cfg(feature = "rustls")]
use std::sync::Arc;

#[cfg(feature = "rustls")]
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use std::vec::Vec;

use super::blocking::WebSocket;
#[cfg(feature = "rustls")]
use super::proxy::early_tls_data;
use super::proxy::{tunnel, Proxy};
use super::Error;
use crate::config::Config;
use crate::handshake::ClientRequest;

/// How to open a WebSocket connection: where (a URL or a
/// [`ClientRequest`]), with which [`Config`], through which proxy, with
/// which TLS settings, and within how long. Then
/// [`connect`](Self::connect) (blocking) or
/// [`connect_async`](Self::connect_async) (tokio).
///
/// ```no_run
/// use std::time::Duration;
/// use hybi::io::{Connector, Proxy};
/// use hybi::ClientRequest;
///
/// # fn main() -> Result<(), hybi::io::Error> {
/// let request = ClientRequest::new("ws://chat.example/room")?
///     .subprotocols(&["chat.v2"])
///     .headers(&[("Authorization", "Bearer t0k3n")]);
/// let mut ws = Connector::from_request(request)
///     .proxy(Some(Proxy::new("http://proxy.example:3128")?))
///     .timeout(Duration::from_secs(5))
///     .connect()?;
/// ws.send_text("hello")?;
/// # Ok(())
/// # }
/// ```
///
/// # Choices, and why
///
/// * **One deadline for everything**: [`timeout`](Self::timeout), by
///   default `Config::handshake_timeout` (30 s), bounds the name lookup's
///   connection attempts, each TCP connect, the proxy's CONNECT exchange,
///   the TLS handshake and the WebSocket handshake together, so a server
///   that accepts TCP and never answers cannot hang the call. (The name
///   lookup itself is the system resolver's, which std cannot bound.) The
///   socket timeouts used for it are cleared afterwards: the connection's
///   own deadlines come from `Config`.
/// * **The proxy** is the environment's by default, as curl reads it (see
///   [`Proxy`]); [`proxy`](Self::proxy) names one or turns it off.
/// * **TLS** for `wss://` uses the Mozilla root store unless
///   [`tls`](Self::tls) gives a configuration.
#[derive(Debug, Clone)]
pub struct Connector {
    pub(crate) request: ClientRequest,
    pub(crate) config: Config,
    /// `None`: the environment's.
    pub(crate) proxy: Option<Option<Proxy>>,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<Arc<ClientConfig>>,
    pub(crate) timeout: Option<Duration>,
}

impl Connector {
    /// A connector for a `ws://` or `wss://` URL, with the default
    /// [`Config`]. Fails with [`Error::Usage`] for an invalid URL.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self::from_request(ClientRequest::new(url)?))
    }

    /// A connector for a prepared request (subprotocols, headers, origin).
    pub fn from_request(request: ClientRequest) -> Self {
        Connector {
            request,
            config: Config::default(),
            proxy: None,
            #[cfg(feature = "rustls")]
            tls: None,
            timeout: None,
        }
    }

    /// The connection's configuration (limits, deadlines, compression).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Tunnel through `proxy` (an HTTP CONNECT tunnel, RFC 9110 §9.3.6),
    /// or connect directly with `None`; either way the environment is not
    /// read. A proxy that refuses the tunnel fails with [`Error::Proxy`].
    /// For `wss://`, TLS runs inside the tunnel and is verified against the
    /// target's host.
    pub fn proxy(mut self, proxy: Option<Proxy>) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The TLS client configuration for `wss://` (a private CA, a client
    /// certificate, ALPN); by default the Mozilla root store.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, tls: Arc<ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The most the whole connect may take, from TCP to the end of the
    /// WebSocket handshake; by default `Config::handshake_timeout`. Past
    /// it the call fails with an [`Error::Io`] of kind `TimedOut` (or, in
    /// the WebSocket handshake, [`ProtocolError::HandshakeTimeout`](crate::ProtocolError)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The request this connector sends.
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The deadline's length, and the config with its handshake deadline
    /// set to what is left of it when the WebSocket handshake starts.
    pub(crate) fn budget(&self) -> Option<Duration> {
        self.timeout.or(self.config.handshake_timeout)
    }

    /// The proxy to use: the one named, or the environment's.
    pub(crate) fn chosen_proxy(&self) -> Result<Option<Proxy>, Error> {
        match &self.proxy {
            Some(proxy) => Ok(proxy.clone()),
            None => Ok(Proxy::from_env(&self.request)?),
        }
    }

    /// What TLS runs with for `wss://`: the configuration (given, or the
    /// default roots) and the name the certificate must be valid for.
    /// Bytes that came through a proxy before the TLS handshake are refused:
    /// a TLS server speaks only after the client's hello.
    #[cfg(feature = "rustls")]
    pub(crate) fn tls_parts(
        &self,
        early: &[u8],
    ) -> Result<(Arc<ClientConfig>, rustls::pki_types::ServerName<'static>), Error> {
        if !early.is_empty() {
            return Err(early_tls_data());
        }
        let tls = match &self.tls {
            Some(tls) => Arc::clone(tls),
            None => super::tls::default_client_config()?,
        };
        Ok((tls, super::tls::server_name(self.request.host())?))
    }

    /// Connects, blocking: TCP, the proxy tunnel if any, TLS for `wss://`,
    /// the WebSocket handshake. Fails with [`Error::Io`] when the TCP or TLS
    /// connection fails (a rejected certificate is an `InvalidData` I/O
    /// error whose inner error is the `rustls::Error`), `TimedOut` past the
    /// deadline, and the handshake's errors otherwise ([`Error::Rejected`]
    /// when the server refuses). Without the `rustls` feature a `wss://`
    /// request fails with an [`Error::Io`] of kind `Unsupported`, before any
    /// connection is opened.
    pub fn connect(self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        #[cfg(not(feature = "rustls"))]
        if self.request.is_secure() {
            return Err(wss_unsupported());
        }
        let deadline = Deadline::new(self.budget());
        let proxy = self.chosen_proxy()?;
        let (tcp, early) = match &proxy {
            None => (
                tcp_connect(self.request.host(), self.request.port(), &deadline)?,
                Vec::new(),
            ),
            Some(proxy) => {
                let mut tcp = tcp_connect(proxy.host(), proxy.port(), &deadline)?;
                deadline.bound(&tcp)?;
                let early = bounded(tunnel(&mut tcp, proxy, &self.request, &self.config))?;
                (tcp, early)
            }
        };
        let mut config = self.config.clone();
        config.handshake_timeout = deadline.remaining()?;
        if !self.request.is_secure() {
            tcp.set_read_timeout(None)?;
            tcp.set_write_timeout(config.handshake_timeout)?;
            let stream = MaybeTlsStream::Plain(tcp);
            let ws = bounded(WebSocket::connect_after(
                self.request,
                stream,
                config,
                &early,
            ))?;
            ws.get_ref().tcp().set_write_timeout(None)?;
            return Ok(ws);
        }
        #[cfg(feature = "rustls")]
        {
            let mut tcp = tcp;
            let (tls, name) = self.tls_parts(&early)?;
            let mut session =
                ClientConnection::new(tls, name).map_err(|e| Error::Io(io::Error::other(e)))?;
            deadline.bound(&tcp)?;
            while session.is_handshaking() {
                let (read, written) = bounded(session.complete_io(&mut tcp).map_err(Error::Io))?;
                if read == 0 && written == 0 {
                    // The server closed the connection in the middle of the
                    // TLS handshake; complete_io would report no progress
                    // forever.
                    return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
                }
            }
            config.handshake_timeout = deadline.remaining()?;
            tcp.set_read_timeout(None)?;
            let stream = MaybeTlsStream::Rustls(Box::new(StreamOwned::new(session, tcp)));
            let ws = bounded(WebSocket::connect(self.request, stream, config))?;
            ws.get_ref().tcp().set_write_timeout(None)?;
            Ok(ws)
        }
        #[cfg(not(feature = "rustls"))]
        unreachable!("wss:// was refused above")
    }
}

/// Connects to a `ws://` or `wss://` URL with the default [`Config`] and,
/// for `wss://`, the Mozilla root store (feature `rustls`), through the
/// proxy the environment names, if any: `Connector::new(url)?.connect()`.
pub fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
    Connector::new(url)?.connect()
}

/// The end of a connect's time budget.
pub(crate) struct Deadline(Option<Clock>);

impl Deadline {
    pub(crate) fn new(budget: Option<Duration>) -> Self {
        Deadline(budget.map(|budget| Clock::now() + budget))
    }

    /// What is left; `TimedOut` once nothing is.
    pub(crate) fn remaining(&self) -> Result<Option<Duration>, Error> {
        match self.0 {
            None => Ok(None),
            Some(at) => match at.checked_duration_since(Clock::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(timed_out()),
            },
        }
    }

    /// Bounds the socket's reads and writes by what is left.
    fn bound(&self, tcp: &TcpStream) -> Result<(), Error> {
        let left = self.remaining()?;
        tcp.set_read_timeout(left)?;
        tcp.set_write_timeout(left)?;
        Ok(())
    }
}

/// A socket read or write that the deadline's timeout cut short is the
/// deadline passing: `TimedOut`, not the `WouldBlock` that Unix reports for
/// it, which would tell the caller to retry the same call.
fn bounded<T>(result: Result<T, Error>) -> Result<T, Error> {
    match result {
        Err(error) if error.is_would_block() => Err(timed_out()),
        other => other,
    }
}

pub(crate) fn timed_out() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection was not established within its deadline",
    ))
}

/// Connects to each address `host` resolves to in turn, each attempt
/// bounded by what is left of the deadline.
fn tcp_connect(host: &str, port: u16, deadline: &Deadline) -> Result<TcpStream, Error> {
    // Hosts have no brackets around an IPv6 literal, which is the form
    // ToSocketAddrs parses.
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        let attempt = match deadline.remaining()? {
            Some(left) => TcpStream::connect_timeout(&addr, left),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(timed_out()),
            Err(e) => last = e,
        }
    }
    Err(Error::Io(last))
}

#[cfg(not(feature = "rustls"))]
fn wss_unsupported() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "wss:// needs the `rustls` feature",
    ))
}

/// The transport [`Connector::connect`] opens: plain TCP for `ws://`, TLS over TCP for
/// `wss://`.
///
/// Non-exhaustive because its variants follow the enabled features: a
/// `match` must not stop compiling when another crate in the build turns
/// `rustls` on.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// A `ws://` connection.
    Plain(TcpStream),
    /// A `wss://` connection. Boxed: the TLS state is about a kilobyte and
    /// would make every `MaybeTlsStream` that large.
    #[cfg(feature = "rustls")]
    Rustls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath, for timeouts and addresses. Reading or
    /// writing it directly corrupts the connection.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => tls.get_ref(),
        }
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(_) => false,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(_) => true,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => match tls.read(buf) {
                // rustls reports a TCP close without a TLS close_notify as
                // UnexpectedEof, to guard protocols whose only end marker
                // is the end of the stream. WebSocket has its own (the Close
                // frame): the engine calls an EOF before it abnormal (1006),
                // so truncation is still caught. Many servers skip
                // close_notify, and failing the client's wait for the TCP
                // close (RFC 6455 §7.1.1) on them would turn every clean
                // close into an error.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl super::blocking::Transport for MaybeTlsStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.tcp().read_timeout()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<bool> {
        self.tcp().set_read_timeout(timeout).map(|()| true)
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => tls.flush(),
        }
    }
}
