//! Blocking `connect` conveniences (feature `std`): open the TCP connection,
//! add TLS for `wss://` (feature `rustls`), and perform the WebSocket
//! handshake, in one call.
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
//! For subprotocols, an `Origin`, extra headers or a non-default
//! [`Config`], build a [`ClientRequest`] and call [`connect_with`]; for a
//! private CA, a client certificate or ALPN settings, pass a
//! `rustls::ClientConfig` to [`connect_with_tls`]. An HTTP proxy is taken
//! from the environment, or given with [`connect_with_proxy`]. To apply
//! socket options before the handshake, or bring another TLS library,
//! open the stream yourself and call
//! [`WebSocket::connect`](super::blocking::WebSocket::connect).
//!
//! No timeout is applied: a silent peer blocks the calls for as long as the
//! operating system allows. Set one on the socket afterwards with
//! `ws.get_ref().tcp().set_read_timeout(...)`.

use std::io::{self, Read, Write};
use std::net::TcpStream;

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

/// The transport [`connect`] opens: plain TCP for `ws://`, TLS over TCP for
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

/// Connects to a `ws://` or `wss://` URI with the default [`Config`] and,
/// for `wss://`, the Mozilla root store (feature `rustls`), through the
/// proxy the environment names, if any (`https_proxy` for `wss://`,
/// `http_proxy` for `ws://`, `no_proxy`: see [`Proxy`]).
///
/// Fails with [`Error::Usage`] for an invalid URI, [`Error::Io`] when the
/// TCP or TLS connection fails (a rejected certificate is an `InvalidData`
/// I/O error whose inner error is the `rustls::Error`), and the handshake's
/// errors otherwise ([`Error::Rejected`] when the server refuses).
///
/// ```no_run
/// # fn main() -> Result<(), hybi::io::Error> {
/// // TLS with the `rustls` feature; SNI and certificate checks use the host.
/// let mut ws = hybi::io::connect("wss://example.com/socket")?;
/// ws.send_text("hello")?;
/// let reply = ws.read()?;
/// # Ok(())
/// # }
/// ```
pub fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
    connect_with(ClientRequest::new(url)?, Config::default())
}

/// Connects with a prepared request (subprotocols, headers, origin) and
/// configuration; `wss://` uses the Mozilla root store (feature `rustls`).
/// Goes through the proxy the environment names, if any
/// ([`Proxy::from_env`]).
///
/// Without the `rustls` feature a `wss://` request fails with an
/// [`Error::Io`] of kind `Unsupported`, before any connection is opened.
pub fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    let proxy = Proxy::from_env(&request)?;
    connect_with_proxy(request, config, proxy.as_ref())
}

/// Connects like [`connect_with`] through `proxy` (an HTTP CONNECT tunnel,
/// RFC 9110 §9.3.6), or directly with `None`; the environment is not read.
///
/// A proxy that refuses the tunnel fails with [`Error::Proxy`]
/// ([`ProxyError::AuthenticationRequired`](crate::handshake::ProxyError)
/// for a 407). For `wss://`, TLS runs inside the tunnel and is verified
/// against the target's host, and the WebSocket request names the target,
/// never the proxy.
///
/// ```no_run
/// # fn main() -> Result<(), hybi::io::Error> {
/// let proxy = hybi::io::Proxy::new("http://user:password@proxy.example:3128")?;
/// let request = hybi::ClientRequest::new("ws://chat.example/room")?;
/// let ws = hybi::io::connect_with_proxy(request, hybi::Config::default(), Some(&proxy))?;
/// # Ok(())
/// # }
/// ```
pub fn connect_with_proxy(
    request: ClientRequest,
    config: Config,
    proxy: Option<&Proxy>,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    if request.is_secure() {
        #[cfg(feature = "rustls")]
        return connect_with_tls_proxy(
            request,
            config,
            super::tls::default_client_config()?,
            proxy,
        );
        #[cfg(not(feature = "rustls"))]
        return Err(wss_unsupported());
    }
    let (tcp, early) = open(&request, &config, proxy)?;
    WebSocket::connect_after(request, MaybeTlsStream::Plain(tcp), config, &early)
}

/// Connects like [`connect_with`], verifying a `wss://` server with `tls`
/// instead of the default configuration: a private root store, client
/// certificates, pinned protocol versions (feature `rustls`). Goes through
/// the proxy the environment names, if any.
///
/// `tls` must not offer an ALPN protocol other than `http/1.1`: the
/// handshake is HTTP/1.1. A `ws://` request ignores `tls`.
///
/// The TLS handshake is completed before the upgrade request is sent, so
/// a certificate problem is reported as such ([`Error::Io`] of kind
/// `InvalidData` carrying the `rustls::Error`) and not as a failed upgrade.
#[cfg(feature = "rustls")]
pub fn connect_with_tls(
    request: ClientRequest,
    config: Config,
    tls: Arc<ClientConfig>,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    let proxy = Proxy::from_env(&request)?;
    connect_with_tls_proxy(request, config, tls, proxy.as_ref())
}

/// [`connect_with_tls`] through `proxy`, or directly with `None`, without
/// reading the environment (see [`connect_with_proxy`]).
#[cfg(feature = "rustls")]
pub fn connect_with_tls_proxy(
    request: ClientRequest,
    config: Config,
    tls: Arc<ClientConfig>,
    proxy: Option<&Proxy>,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    let (mut tcp, early) = open(&request, &config, proxy)?;
    if !request.is_secure() {
        return WebSocket::connect_after(request, MaybeTlsStream::Plain(tcp), config, &early);
    }
    if !early.is_empty() {
        return Err(early_tls_data());
    }
    let name = super::tls::server_name(request.host())?;
    let mut session =
        ClientConnection::new(tls, name).map_err(|e| Error::Io(io::Error::other(e)))?;
    while session.is_handshaking() {
        let (read, written) = session.complete_io(&mut tcp)?;
        if read == 0 && written == 0 {
            // The server closed the connection in the middle of the TLS
            // handshake; complete_io would report no progress forever.
            return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
        }
    }
    let stream = MaybeTlsStream::Rustls(Box::new(StreamOwned::new(session, tcp)));
    WebSocket::connect(request, stream, config)
}

/// Opens the TCP connection to the request's host, or to `proxy` and then
/// the tunnel through it; also returns the bytes the proxy sent after its
/// answer, which are the target's.
fn open(
    request: &ClientRequest,
    config: &Config,
    proxy: Option<&Proxy>,
) -> Result<(TcpStream, Vec<u8>), Error> {
    match proxy {
        None => Ok((tcp_connect(request.host(), request.port())?, Vec::new())),
        Some(proxy) => {
            let mut tcp = tcp_connect(proxy.host(), proxy.port())?;
            let early = tunnel(&mut tcp, proxy, request, config)?;
            Ok((tcp, early))
        }
    }
}

/// Opens a TCP connection: every address the name resolves to is tried in
/// order, and the last failure is returned (`ConnectionRefused` when
/// nothing listens). Nagle's algorithm is turned off because WebSocket
/// writes whole frames that should leave at once; a small message would
/// otherwise wait for the previous one's ACK.
fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, Error> {
    // Hosts have no brackets around an IPv6 literal, which is the form
    // ToSocketAddrs parses.
    let tcp = TcpStream::connect((host, port))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// The error for `wss://` in a build without TLS.
#[cfg(not(feature = "rustls"))]
fn wss_unsupported() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "wss:// needs the `rustls` feature",
    ))
}
