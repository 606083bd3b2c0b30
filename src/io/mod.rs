//! Adapters that own a transport and drive a [`Connection`]
//! over it, each behind a feature. The core never imports this module.
//!
//! Each adapter is thin: it moves bytes between the transport and the
//! engine and turns events into owned [`Message`]s. Every protocol rule
//! (automatic pongs, close replies, limits, who closes the transport) stays
//! in the engine.
//!
//! | adapter | feature | transport |
//! |---------|---------|-----------|
//! | [`blocking`] | `std` | any `Read + Write`: `TcpStream`, a TLS stream, blocking or non-blocking |
//! | [`tokio`](mod@tokio) | `tokio` | any `AsyncRead + AsyncWrite`: `TcpStream`, a TLS stream, hyper's upgraded connection; `Stream` + `Sink` |
//! | [`connect()`] | `std`, `rustls` for `wss://` | opens the TCP (and TLS) connection itself: [`MaybeTlsStream`] |
//! | [`connect_async()`] | `tokio`, `tokio-rustls` for `wss://` | the same, async: [`AsyncMaybeTlsStream`] |
//!
//! Both `connect` families go through an HTTP proxy when one is configured,
//! explicitly ([`connect_with_proxy`]) or in the environment: see [`Proxy`].
//!
//! The types here are shared by every adapter.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::close::CloseCode;
use crate::connection::{Compression, Connection, Role};
use crate::error::{ProtocolError, UsageError};
use crate::handshake::{ProxyError, Response};

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

pub use connect::{connect, connect_with, connect_with_proxy, MaybeTlsStream};
#[cfg(feature = "rustls")]
pub use connect::{connect_with_tls, connect_with_tls_proxy};
pub use proxy::Proxy;
#[cfg(feature = "tokio")]
pub use tokio_connect::{
    connect_async, connect_async_with, connect_async_with_proxy, AsyncMaybeTlsStream,
};
#[cfg(feature = "tokio-rustls")]
pub use tokio_connect::{connect_async_with_tls, connect_async_with_tls_proxy};

/// Payloads at least this long that a server sends uncompressed go out
/// straight from the caller's memory, in one vectored write with the frame
/// header ([`Connection::send_external`]), instead of being copied into the
/// engine's queue first. Below it the copy is cheap next to the write call
/// itself; above it, it is the largest cost of a send (`perf/`: a 16 KiB
/// server send took about twice the time of one copy of the payload).
pub(crate) const EXTERNAL_MIN: usize = 8 * 1024;

/// Whether an adapter sends this payload with `send_external`: a server
/// (a client masks, so its payloads pass through the engine), a large
/// payload, and one that would not be compressed.
pub(crate) fn sends_external(conn: &Connection, len: usize, compression: Compression) -> bool {
    #[cfg(feature = "deflate")]
    let plain = compression == Compression::Off || conn.deflate().is_none();
    #[cfg(not(feature = "deflate"))]
    let plain = {
        let _ = compression;
        true
    };
    conn.role() == Role::Server && len >= EXTERNAL_MIN && plain
}

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

/// A server's answer to an upgrade request, decided by the application's
/// hook after looking at the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Upgrade, optionally choosing one of the offered subprotocols and
    /// adding headers (such as `Set-Cookie`).
    Accept {
        /// The chosen subprotocol, which must have been offered.
        protocol: Option<String>,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// Refuse with any status from 200 to 599 (a plain HTTP request gets its
    /// page this way), headers and a body.
    Reject {
        /// The HTTP status.
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// The response body.
        body: Vec<u8>,
    },
}

impl Decision {
    /// Accept with no subprotocol and no extra headers.
    pub fn accept() -> Self {
        Decision::Accept {
            protocol: None,
            headers: Vec::new(),
        }
    }

    /// Answer a plain HTTP request (see `Config::plain_http_requests`) with
    /// a response of its own: a page, a redirect, a 404. On the wire this is
    /// the same as [`Reject`](Decision::Reject); the name says what it is for.
    pub fn respond(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Decision::Reject {
            status,
            headers: alloc::vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Reject with `status` and a plain-text body.
    pub fn reject(status: u16, body: &str) -> Self {
        Decision::Reject {
            status,
            headers: alloc::vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A client's refused upgrade: the server's status, headers and the start
/// of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status (401, 403, 302, ...).
    pub status: u16,
    /// All response headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The first bytes of the body (up to `Config::max_rejection_body`).
    pub body: Vec<u8>,
}

impl Rejection {
    pub(crate) fn from_response(response: &Response<'_>, body: &[u8]) -> Self {
        Rejection {
            status: response.status(),
            headers: response
                .headers()
                .map(|(name, value)| (String::from(name), value.to_vec()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
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
    /// Client: the server refused the upgrade.
    Rejected(Box<Rejection>),
    /// Client: the HTTP proxy did not open the tunnel (407 when it wants
    /// credentials, [`ProxyError::Refused`] with its status otherwise).
    Proxy(ProxyError),
    /// The connection ended before the handshake completed (the peer went
    /// away, or the server's hook rejected the request).
    Closed,
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
            Error::Proxy(e) => write!(f, "proxy error: {e}"),
            Error::Closed => f.write_str("connection closed during the handshake"),
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
