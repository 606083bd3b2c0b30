//! Async `connect` conveniences for the tokio adapter (feature `tokio`):
//! open the TCP connection, add TLS for `wss://` (feature `tokio-rustls`),
//! and perform the WebSocket handshake, in one call.
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
//! They mirror the blocking [`connect`](super::connect()),
//! [`connect_with`](super::connect_with) and `connect_with_tls`: the same
//! URI rules, the same default root store, the same proxy rules (see
//! [`Proxy`]), the same errors. To bring another TLS library, open the
//! stream yourself and call
//! [`WebSocketStream::connect`](super::tokio::WebSocketStream::connect).
//!
//! No timeout is applied; wrap the call in `tokio::time::timeout` to bound
//! it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "tokio-rustls")]
use std::boxed::Box;
#[cfg(feature = "tokio-rustls")]
use std::sync::Arc;

use std::vec::Vec;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
#[cfg(feature = "tokio-rustls")]
use tokio_rustls::{client::TlsStream, rustls::ClientConfig, TlsConnector};

#[cfg(feature = "tokio-rustls")]
use super::proxy::early_tls_data;
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

/// Connects to a `ws://` or `wss://` URI with the default [`Config`] and,
/// for `wss://`, the Mozilla root store (feature `tokio-rustls`), through
/// the proxy the environment names, if any (see [`Proxy`]).
///
/// Fails with [`Error::Usage`] for an invalid URI, [`Error::Io`] when the
/// TCP or TLS connection fails (a rejected certificate is an `InvalidData`
/// I/O error whose inner error is the `rustls::Error`), and the handshake's
/// errors otherwise ([`Error::Rejected`] when the server refuses).
///
/// ```no_run
/// use hybi::io::Message;
///
/// # async fn run() -> Result<(), hybi::io::Error> {
/// // TLS with the `tokio-rustls` feature; SNI and certificate checks use
/// // the host.
/// let mut ws = hybi::io::connect_async("wss://example.com/socket").await?;
/// ws.send(Message::Text("hello".into())).await?;
/// let reply = ws.next().await;
/// # Ok(())
/// # }
/// ```
pub async fn connect_async(url: &str) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    connect_async_with(ClientRequest::new(url)?, Config::default()).await
}

/// Connects with a prepared request (subprotocols, headers, origin) and
/// configuration; `wss://` uses the Mozilla root store (feature
/// `tokio-rustls`). Goes through the proxy the environment names, if any
/// ([`Proxy::from_env`]).
///
/// Without the `tokio-rustls` feature a `wss://` request fails with an
/// [`Error::Io`] of kind `Unsupported`, before any connection is opened.
pub async fn connect_async_with(
    request: ClientRequest,
    config: Config,
) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    let proxy = Proxy::from_env(&request)?;
    connect_async_with_proxy(request, config, proxy.as_ref()).await
}

/// Connects like [`connect_async_with`] through `proxy` (an HTTP CONNECT
/// tunnel, RFC 9110 §9.3.6), or directly with `None`; the environment is
/// not read. The same rules and errors as the blocking
/// [`connect_with_proxy`](super::connect_with_proxy).
pub async fn connect_async_with_proxy(
    request: ClientRequest,
    config: Config,
    proxy: Option<&Proxy>,
) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    if request.is_secure() {
        #[cfg(feature = "tokio-rustls")]
        return connect_async_with_tls_proxy(
            request,
            config,
            super::tls::default_client_config()?,
            proxy,
        )
        .await;
        #[cfg(not(feature = "tokio-rustls"))]
        return Err(wss_unsupported());
    }
    let (tcp, early) = open(&request, &config, proxy).await?;
    WebSocketStream::connect_after(request, AsyncMaybeTlsStream::Plain(tcp), config, &early).await
}

/// Connects like [`connect_async_with`], verifying a `wss://` server with
/// `tls` instead of the default configuration (feature `tokio-rustls`).
/// Goes through the proxy the environment names, if any.
///
/// `tls` must not offer an ALPN protocol other than `http/1.1`: the
/// handshake is HTTP/1.1. A `ws://` request ignores `tls`. The TLS
/// handshake completes before the upgrade request is sent, so a certificate
/// problem is reported as such ([`Error::Io`] of kind `InvalidData`
/// carrying the `rustls::Error`).
#[cfg(feature = "tokio-rustls")]
pub async fn connect_async_with_tls(
    request: ClientRequest,
    config: Config,
    tls: Arc<ClientConfig>,
) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    let proxy = Proxy::from_env(&request)?;
    connect_async_with_tls_proxy(request, config, tls, proxy.as_ref()).await
}

/// [`connect_async_with_tls`] through `proxy`, or directly with `None`,
/// without reading the environment.
#[cfg(feature = "tokio-rustls")]
pub async fn connect_async_with_tls_proxy(
    request: ClientRequest,
    config: Config,
    tls: Arc<ClientConfig>,
    proxy: Option<&Proxy>,
) -> Result<WebSocketStream<AsyncMaybeTlsStream>, Error> {
    let (tcp, early) = open(&request, &config, proxy).await?;
    if !request.is_secure() {
        let stream = AsyncMaybeTlsStream::Plain(tcp);
        return WebSocketStream::connect_after(request, stream, config, &early).await;
    }
    if !early.is_empty() {
        return Err(early_tls_data());
    }
    let name = super::tls::server_name(request.host())?;
    let stream = TlsConnector::from(tls).connect(name, tcp).await?;
    let stream = AsyncMaybeTlsStream::Rustls(Box::new(stream));
    WebSocketStream::connect(request, stream, config).await
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
