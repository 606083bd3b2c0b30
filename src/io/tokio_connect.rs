//! Opening a connection on tokio in one call (feature `tokio`): TCP, an
//! HTTP proxy tunnel, TLS for `wss://` (feature `tokio-rustls`), and the
//! WebSocket handshake, within one deadline.
//!
//! ```no_run
//! # async fn run() -> Result<(), hybi::io::Error> {
//! // wss:// URIs need the `tokio-rustls` feature; ws:// URIs work with
//! // `tokio` alone.
//! let mut ws = hybi::io::connect_async("ws://127.0.0.1:9001/chat").await?;
//! # Ok(())
//! # }
//! ```
//!
//! The tokio half of [`Connector`]: [`Connector::connect_async`] and
//! the transport it opens, with the same URL, proxy and TLS rules as the
//! blocking [`Connector::connect`], and the same deadline (enforced with
//! `tokio::time::timeout_at`). To bring another TLS library, open the
//! stream yourself and call
//! [`WebSocketStream::connect`](super::tokio::WebSocketStream::connect).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "tokio-rustls")]
use std::boxed::Box;

use std::vec::Vec;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
#[cfg(feature = "tokio-rustls")]
use tokio_rustls::{client::TlsStream, TlsConnector};

use super::connect::{timed_out, Connector};
use super::proxy::{proxy_eof, Proxy, READ_CHUNK};
use super::tokio::WebSocketStream;
use super::Error;
use crate::config::Config;
use crate::handshake::ClientRequest;

/// The transport [`connect_async`] opens: plain TCP for `ws://`, TLS over
/// TCP for `wss://`.
///
/// Non-exhaustive because its variants follow the enabled features: a
/// `match` must not stop compiling when another crate in the build turns
/// `tokio-rustls` on.
#[derive(Debug)]
#[non_exhaustive]
pub enum AsyncMaybeTlsStream {
    /// A `ws://` connection.
    Plain(TcpStream),
    /// A `wss://` connection. Boxed: the TLS state is about a kilobyte and
    /// would make every `AsyncMaybeTlsStream` that large.
    #[cfg(feature = "tokio-rustls")]
    Rustls(Box<TlsStream<TcpStream>>),
}

impl AsyncMaybeTlsStream {
    /// The TCP socket underneath, for addresses and socket options. Reading
    /// or writing it directly corrupts the connection.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            AsyncMaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(tls) => tls.get_ref().0,
        }
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            AsyncMaybeTlsStream::Plain(_) => false,
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(_) => true,
        }
    }
}

impl AsyncRead for AsyncMaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncMaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(tls) => match Pin::new(tls.as_mut()).poll_read(cx, buf) {
                // A TCP close without a TLS close_notify is an end of
                // stream here, as in the blocking MaybeTlsStream: the
                // WebSocket Close frame is the protocol's own end marker
                // (the engine calls an EOF before it abnormal, 1006), and
                // many servers skip close_notify.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for AsyncMaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncMaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncMaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncMaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            // Sends close_notify, then shuts the TCP write side.
            #[cfg(feature = "tokio-rustls")]
            AsyncMaybeTlsStream::Rustls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connector {
    /// Connects on tokio: TCP, the proxy tunnel if any, TLS for `wss://`
    /// (feature `tokio-rustls`), the WebSocket handshake, all within the
    /// connector's deadline (an [`Error::Io`] of kind `TimedOut` past it).
    /// Errors as [`connect`](Self::connect); without `tokio-rustls` a
    /// `wss://` request fails with `Unsupported` before any connection is
    /// opened.
    pub async fn connect_async(self) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
        #[cfg(not(feature = "tokio-rustls"))]
        if self.request.is_secure() {
            return Err(wss_unsupported());
        }
        match self.budget() {
            None => self.open_async(None).await,
            Some(budget) => {
                let until = ::tokio::time::Instant::now() + budget;
                match ::tokio::time::timeout_at(until, self.open_async(Some(until))).await {
                    Ok(result) => result,
                    Err(_) => Err(timed_out()),
                }
            }
        }
    }

    async fn open_async(
        self,
        until: Option<::tokio::time::Instant>,
    ) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
        let proxy = self.chosen_proxy()?;
        let (tcp, early) = open(&self.request, &self.config, proxy.as_ref()).await?;
        let mut config = self.config.clone();
        // The engine's own handshake deadline is what is left.
        if let Some(until) = until {
            config.handshake_timeout =
                Some(until.saturating_duration_since(::tokio::time::Instant::now()));
        }
        if !self.request.is_secure() {
            let stream = AsyncMaybeTlsStream::Plain(tcp);
            return WebSocketStream::connect_after(self.request, stream, config, &early).await;
        }
        #[cfg(feature = "tokio-rustls")]
        {
            let (tls, name) = self.tls_parts(&early)?;
            let stream = TlsConnector::from(tls).connect(name, tcp).await?;
            let stream = AsyncMaybeTlsStream::Rustls(Box::new(stream));
            if let Some(until) = until {
                config.handshake_timeout =
                    Some(until.saturating_duration_since(::tokio::time::Instant::now()));
            }
            WebSocketStream::connect(self.request, stream, config).await
        }
        #[cfg(not(feature = "tokio-rustls"))]
        unreachable!("wss:// was refused above")
    }
}

/// Connects to a `ws://` or `wss://` URL on tokio with the default
/// [`Config`] and, for `wss://`, the Mozilla root store (feature
/// `tokio-rustls`), through the proxy the environment names, if any:
/// `Connector::new(url)?.connect_async().await`.
pub async fn connect_async(url: &str) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    Connector::new(url)?.connect_async().await
}

/// Opens the TCP connection to the request's host, or to `proxy` and then
/// the tunnel through it; also returns the bytes the proxy sent after its
/// answer, which are the target's.
async fn open(
    request: &ClientRequest,
    config: &Config,
    proxy: Option<&Proxy>,
) -> Result<(TcpStream, Vec<u8>), Error> {
    let Some(proxy) = proxy else {
        return Ok((
            tcp_connect(request.host(), request.port()).await?,
            Vec::new(),
        ));
    };
    let mut tcp = tcp_connect(proxy.host(), proxy.port()).await?;
    let mut tunnel = proxy.tunnel_for(request, config);
    let mut out = Vec::new();
    tunnel.write_request(&mut out)?;
    tcp.write_all(&out).await?;
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let n = tcp.read(&mut buf).await?;
        let read = buf.get(..n).unwrap_or_default();
        let input = tunnel.handle_input(read)?;
        if input.established {
            let early = read.get(input.consumed..).unwrap_or_default().to_vec();
            return Ok((tcp, early));
        }
        if n == 0 {
            return Err(proxy_eof());
        }
    }
}

/// Opens a TCP connection, trying every resolved address in order, with
/// Nagle's algorithm off (see the blocking `connect`: whole frames should
/// leave at once).
async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, Error> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// The error for `wss://` in a build without TLS for tokio.
#[cfg(not(feature = "tokio-rustls"))]
fn wss_unsupported() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "wss:// with the tokio adapter needs the `tokio-rustls` feature",
    ))
}
