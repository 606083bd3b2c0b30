//! Adapters that own a transport and drive a [`Connection`](crate::Connection)
//! over it, each behind a feature. The core never imports this module.
//!
//! Each adapter is thin: it moves bytes between the transport and the
//! engine and turns events into owned [`Message`]s (joined by the crate's
//! [`MessageAssembler`](crate::MessageAssembler)). Every protocol rule
//! (automatic pongs, close replies, limits, who closes the transport) stays
//! in the engine, and what the adapters share that is not I/O (the read
//! buffer, the deadlines, the send policy, how a transport's end is read)
//! is written once in the crate's adapter core, which the embedded-io
//! adapters use too. A server's accept hook returns a
//! [`Decision`](crate::Decision), the same type every adapter takes.
//!
//! | adapter | feature | transport |
//! |---------|---------|-----------|
//! | [`blocking`] | `std` | any `Read + Write`: `TcpStream`, a TLS stream, blocking or non-blocking |
//! | [`tokio`](mod@tokio) | `tokio` | any `AsyncRead + AsyncWrite`: `TcpStream`, a TLS stream, hyper's upgraded connection; `Stream` + `Sink` |
//! | [`Connector`], [`connect()`] | `std`, `rustls` for `wss://` | opens the TCP (and TLS) connection itself, within one deadline: [`MaybeTlsStream`] |
//! | [`Connector::connect_async`], [`connect_async()`] | `tokio`, `tokio-rustls` for `wss://` | the same, async: [`AsyncMaybeTlsStream`] |
//! | [`axum::WebSocketUpgrade`] | `axum` | an axum extractor: the upgrade (HTTP/1.1, or HTTP/2 extended CONNECT) answered by hybi's handshake, the connection handed to the tokio adapter |
//!
//! [`Connector`] goes through an HTTP proxy when one is configured,
//! explicitly ([`Connector::proxy`]) or in the environment: see [`Proxy`].
//!
//! The types here are shared by every adapter.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::close::CloseCode;
use crate::error::{ProtocolError, UsageError};
use crate::handshake::{ProxyError, Request, Response};

#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
mod connect;
mod driver;
mod proxy;
#[cfg(feature = "rustls")]
mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "tokio")]
mod tokio_connect;

pub use connect::{connect, Connector, MaybeTlsStream};
pub use proxy::Proxy;
#[cfg(feature = "tokio")]
pub use tokio_connect::{connect_async, AsyncMaybeTlsStream};

/// A whole message, owned: what an adapter's `read` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A Ping from the peer (the engine has already queued the Pong), or one
    /// to send.
    Ping(Vec<u8>),
    /// A Pong from the peer, or one to send (an unsolicited heartbeat).
    Pong(Vec<u8>),
    /// The peer's Close (`None` for an empty one), or one to send. The
    /// engine has already queued the reply; reading on gives the end.
    Close(Option<CloseFrame>),
}

/// A close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: String,
}

/// The client's view of the server's answer to its upgrade: the 101 that
/// accepted it (kept after the handshake, for `Set-Cookie`, `Server` or the
/// raw `Sec-WebSocket-Extensions`), or the status that refused it, with
/// the start of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// The HTTP status (101 when accepted; 401, 403, 302, ... when not).
    pub status: u16,
    /// All response headers, in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The first bytes of a refusal's body (up to
    /// `Config::max_rejection_body`); empty for a 101.
    pub body: Vec<u8>,
}

impl HandshakeResponse {
    pub(crate) fn from_response(response: &Response<'_>, body: &[u8]) -> Self {
        HandshakeResponse {
            status: response.status(),
            headers: owned_headers(response.headers()),
            body: body.to_vec(),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

/// The server's view of the request it accepted: kept after the handshake
/// for the application (the path that chose a room, a cookie, the
/// subprotocols the client offered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// The request target as sent: path and query.
    pub target: String,
    /// All request headers, in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocols the client offered, in its order of preference.
    pub subprotocols: Vec<String>,
}

impl HandshakeRequest {
    pub(crate) fn from_request(request: &Request<'_>) -> Self {
        HandshakeRequest {
            target: String::from(request.target()),
            headers: owned_headers(request.headers()),
            subprotocols: request.subprotocols().map(String::from).collect(),
        }
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

fn owned_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(String, Vec<u8>)> {
    headers
        .map(|(name, value)| (String::from(name), value.to_vec()))
        .collect()
}

fn find_header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// What can go wrong in an adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (including `WouldBlock` on a non-blocking
    /// socket: nothing is lost, call again when it is ready).
    Io(std::io::Error),
    /// The peer broke the protocol; the connection failed and the Close (or
    /// the HTTP error answer) was sent as far as the transport took it.
    Protocol(ProtocolError),
    /// The call was not allowed in the connection's state.
    Usage(UsageError),
    /// Client: the server refused the upgrade; its status, headers and the
    /// start of its body.
    Rejected(Box<HandshakeResponse>),
    /// Server: the application's accept hook refused the request (or
    /// answered a plain HTTP request) with this status; the answer was
    /// written.
    Refused(u16),
    /// Client: the HTTP proxy did not open the tunnel (407 when it wants
    /// credentials, [`ProxyError::Refused`] with its status otherwise), or
    /// its URL could not be used.
    Proxy(ProxyError),
    /// The peer closed the connection (end of stream) before the opening
    /// handshake completed. A peer that resets it instead is an
    /// [`Error::Io`] of kind `ConnectionReset`.
    Closed,
    /// The adapter's read buffer is full of bytes the engine has not
    /// consumed (only possible while a server's request awaits a decision
    /// from code that drives the engine itself).
    ReadBufferFull,
}

impl Error {
    /// Whether the transport had nothing ready: `WouldBlock` from a
    /// non-blocking socket, or `TimedOut` from a socket read timeout (Windows
    /// reports timeouts that way). Nothing is lost: retry the same call.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Usage(e) => write!(f, "usage error: {e}"),
            Error::Rejected(r) => write!(f, "upgrade refused with HTTP {}", r.status),
            Error::Refused(status) => write!(f, "request refused with HTTP {status}"),
            Error::Proxy(e) => write!(f, "proxy error: {e}"),
            Error::Closed => f.write_str("the peer went away during the opening handshake"),
            Error::ReadBufferFull => f.write_str("the read buffer is full"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Usage(e) => Some(e),
            Error::Proxy(e) => Some(e),
            _ => None,
        }
    }
}

/// The engine for an adapter's `from_upgraded`: open at once; a client
/// masks with [`OsEntropy`](crate::OsEntropy).
pub(crate) fn upgraded_connection(
    role: crate::connection::Role,
    config: crate::config::Config,
    negotiated: crate::handshake::Negotiated,
) -> Result<crate::connection::Connection, UsageError> {
    use crate::connection::{Connection, Role};
    use crate::time::Instant;
    match role {
        Role::Server => Connection::from_upgraded_server(config, negotiated, Instant::ZERO),
        Role::Client => Connection::from_upgraded_client(
            config,
            negotiated,
            crate::entropy::OsEntropy::new(),
            Instant::ZERO,
        ),
    }
}

/// The peer is gone: a reset, a broken pipe, an aborted connection.
pub(crate) fn is_disconnect(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected
    )
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Proxy(e)
    }
}

impl From<crate::adapter::BufferFull> for Error {
    fn from(_: crate::adapter::BufferFull) -> Self {
        Error::ReadBufferFull
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other),
        }
    }
}
