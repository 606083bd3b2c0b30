//! A WebSocket over any tokio `AsyncRead + AsyncWrite` (feature `tokio`): a
//! `TcpStream`, a TLS stream, hyper's upgraded connection (wrapped in
//! hyper-util's `TokioIo`, which gives it tokio's traits).
//!
//! The same shape as the [blocking adapter](super::blocking), async:
//! [`next`](WebSocketStream::next) and [`send`](WebSocketStream::send), or
//! the `futures` [`Stream`] and [`Sink`] traits that code written for
//! tokio-tungstenite uses.
//!
//! ```no_run
//! use hybi::io::tokio::WebSocketStream;
//! use hybi::io::Message;
//!
//! # async fn run() -> Result<(), hybi::io::Error> {
//! let request = hybi::ClientRequest::new("ws://127.0.0.1:9001/")?;
//! let stream = tokio::net::TcpStream::connect(("127.0.0.1", 9001)).await?;
//! let mut ws = WebSocketStream::connect(request, stream, hybi::Config::default()).await?;
//! ws.send(Message::Text("hello".into())).await?;
//! while let Some(message) = ws.next().await {
//!     if let Message::Text(text) = message? {
//!         println!("{text}");
//!         ws.close(hybi::CloseCode::NORMAL, "bye").await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Backpressure
//!
//! Every buffer is bounded. Sends go into the engine's output buffer, and a
//! send waits (it does not fail) while more than a high-water mark of bytes
//! is queued there: `min(1 MiB, Config::max_buffered_output / 2)`. So when
//! the peer stops reading, [`send`](WebSocketStream::send) and the `Sink`'s
//! `poll_ready` stay pending while the transport refuses bytes, and memory
//! stays at about the mark plus one message. `send` also waits until its
//! message is written, like the blocking adapter's. A message bigger than
//! `max_buffered_output` cannot be queued at all and fails with
//! [`UsageError::OutputFull`](crate::UsageError::OutputFull).
//!
//! # Reading only
//!
//! Reading writes too: the engine's automatic Pongs and Close replies (and
//! anything else queued) are written as messages are read, and a reader
//! waiting for input also waits for the transport to take pending output.
//! An application that only calls `next` still answers every Ping.
//!
//! # Two tasks
//!
//! [`WebSocketStream::split`] gives a [`WsReadHalf`] (a `Stream`) and a
//! [`WsWriteHalf`] (a `Sink`) that share the connection behind a mutex held
//! only inside each poll, never across an `.await`. Whichever half runs
//! writes the engine's output, so a reader alone flushes Pongs while the
//! writer is idle, and a writer waiting for room is woken when the reader's
//! writes free it. (The halves of `futures`' `StreamExt::split` work too.
//! With `SinkExt` in scope, its argument-less `close()` is called as
//! `SinkExt::close(&mut ws)`: the inherent
//! [`close`](WebSocketStream::close) takes a code and a reason.)
//!
//! # Deadlines
//!
//! The engine's timers (`Config`'s handshake, keepalive, idle and close
//! timeouts) are driven by the reading side: while a task waits in `next`
//! (or the handshake), it also sleeps until the engine's next deadline and
//! runs it. The runtime must have tokio's time driver enabled (the default
//! of `#[tokio::main]` and `Runtime::new`).
//!
//! # Ending
//!
//! [`next`](WebSocketStream::next) returns `None` once the connection is
//! over: the closing handshake completed (the client also waited for the
//! server to close the transport, RFC 6455 §7.1.1) or the peer went away.
//! When the engine says so the transport's write side is shut with
//! `poll_shutdown` (a TCP FIN, a TLS `close_notify`). A protocol violation is
//! returned once as [`Error::Protocol`], after the Close frame was written
//! as far as the transport took it; a transport error is returned once, and
//! the stream ends after it.
//!
//! [`close`](WebSocketStream::close) and `Sink::poll_close` start the
//! closing handshake (or answer the peer's Close, with
//! `Config::auto_close_reply` off) and return once the Close is written;
//! reading until `None` completes it, so messages the peer sent before its
//! Close are not lost.

mod halves;
mod inner;
mod send;

use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll};

use ::futures_core::stream::{FusedStream, Stream};
use ::futures_sink::Sink;
use ::tokio::io::{AsyncRead, AsyncWrite};

pub use halves::{ReuniteError, WsReadHalf, WsWriteHalf};
use inner::Inner;

use super::{Error, HandshakeRequest, HandshakeResponse, Message};
use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::prepared::PreparedMessage;
use crate::connection::{Compression, Connection, Role};
use crate::entropy::OsEntropy;
use crate::event::Closed;
use crate::frame::MessageKind;
use crate::handshake::{ClientRequest, Decision, Negotiated, Request};
use crate::time::Instant;

/// A WebSocket connection over an async stream.
///
/// Built by [`connect`](Self::connect) or [`accept`](Self::accept), which
/// complete the opening handshake. Read with [`next`](Self::next) or as a
/// [`Stream`]; write with [`send`](Self::send) or as a [`Sink`].
pub struct WebSocketStream<S> {
    inner: Inner<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    fn new(conn: Connection, stream: S, max_buffered_output: usize) -> Self {
        Self::from_inner(Inner::new(conn, stream, max_buffered_output))
    }

    fn from_inner(inner: Inner<S>) -> Self {
        WebSocketStream { inner }
    }

    /// Performs the client handshake over a stream the caller opened (TCP,
    /// TLS, a proxy tunnel). A refusal is [`Error::Rejected`] with the
    /// server's status, headers and body.
    pub async fn connect(request: ClientRequest, stream: S, config: Config) -> Result<Self, Error> {
        Self::connect_after(request, stream, config, &[]).await
    }

    /// [`connect`](Self::connect) with `early` bytes of the server's
    /// answer already read from `stream` (a proxy may send them right after
    /// its own answer).
    pub(crate) async fn connect_after(
        request: ClientRequest,
        stream: S,
        config: Config,
        early: &[u8],
    ) -> Result<Self, Error> {
        let limit = config.max_buffered_output;
        let conn = Connection::client(config, request, OsEntropy::new(), Instant::ZERO)?;
        let mut ws = Self::new(conn, stream, limit);
        ws.inner.core.input.push(early);
        poll_fn(|cx| ws.inner.poll_handshake(cx, &mut |_| Decision::accept())).await?;
        Ok(ws)
    }

    /// A connection whose opening handshake another library did: hyper's
    /// `Upgraded` (through `hyper_util::rt::TokioIo`), an RFC 8441 stream.
    /// Open at once, with what the handshake agreed, and `leftover` (bytes
    /// the library read past the handshake) consumed before anything read
    /// from `stream`. A client masks with [`OsEntropy`]. See
    /// [`Connection::from_upgraded_server`].
    pub fn from_upgraded(
        stream: S,
        role: Role,
        config: Config,
        negotiated: Negotiated,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        let limit = config.max_buffered_output;
        let conn = super::upgraded_connection(role, config, negotiated)?;
        let mut ws = Self::new(conn, stream, limit);
        ws.inner.core.input.push(leftover);
        Ok(ws)
    }

    /// Keeps the request another library's upgrade accepted, for
    /// [`request`](Self::request) (the axum extractor's).
    #[cfg(feature = "axum")]
    pub(crate) fn keep_request(&mut self, request: HandshakeRequest) {
        self.inner.driver.request = Some(request);
    }

    /// Performs the server handshake, accepting any valid upgrade request.
    pub async fn accept(stream: S, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept()).await
    }

    /// Performs the server handshake, letting `decide` look at the request
    /// (path, `Origin`, cookies, offered subprotocols) and accept or reject
    /// it. After a refusal the answer is written, the write side shut, and
    /// [`Error::Refused`] returned with its status.
    pub async fn accept_with<'d>(
        stream: S,
        config: Config,
        mut decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<Self, Error> {
        let limit = config.max_buffered_output;
        let mut ws = Self::new(Connection::server(config, Instant::ZERO), stream, limit);
        poll_fn(|cx| ws.inner.poll_handshake(cx, &mut decide)).await?;
        Ok(ws)
    }

    /// The next message: text, binary, a Ping (already answered), a Pong,
    /// or the peer's Close (already answered). `None` once the connection is
    /// over.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.inner.poll_next_message(cx)).await
    }

    /// Sends any [`Message`]: waits for room below the high-water mark,
    /// queues it, and waits until it is written.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        send::send(&mut self.inner, message).await
    }

    /// Sends a [`PreparedMessage`]: a server's message framed once for many
    /// connections (a chat room's broadcast), written from the message
    /// itself with no copy, with the same waiting as [`send`](Self::send).
    /// See [`Connection::send_prepared`].
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        send::send_prepared(&mut self.inner, message, false).await
    }

    /// Queues a [`PreparedMessage`] without waiting for it to be written:
    /// it goes out at the next [`flush`](Self::flush) or send, in one write
    /// with everything queued before it. For a burst (a chat member's
    /// backlog of broadcasts), feed each and flush once: one system call
    /// instead of one per message. Waits only while more than the
    /// high-water mark is queued (writing meanwhile), so memory stays
    /// bounded however many are fed. A frame of 8 KiB or more is written
    /// from the message at once, as [`send_prepared`](Self::send_prepared)
    /// does; a smaller one is copied into the engine.
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        send::send_prepared(&mut self.inner, message, true).await
    }

    /// Sends one frame of a message (`fin` false leaves it open for more)
    /// from borrowed bytes, with the same waiting as [`send`](Self::send).
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.send_fragment_with(kind, payload, fin, Compression::Auto)
            .await
    }

    /// [`send_fragment`](Self::send_fragment), choosing whether the message
    /// may be compressed with permessage-deflate (`Compression::Off` for an
    /// already-compressed payload; the first frame decides for the whole
    /// message, see [`Connection::send_with`]).
    pub async fn send_fragment_with(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<(), Error> {
        send::send_fragment(&mut self.inner, kind, payload, fin, compression).await
    }

    /// Starts the closing handshake (or answers the peer's Close when
    /// `Config::auto_close_reply` is off) and waits until the Close is
    /// written; keep calling [`next`](Self::next) until it returns `None` to
    /// complete it.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        send::close(&mut self.inner, code, reason).await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        send::flush(&mut self.inner).await
    }

    /// Splits the connection into halves usable from two tasks at once.
    pub fn split(self) -> (WsReadHalf<S>, WsWriteHalf<S>) {
        halves::split(self.inner)
    }

    /// The engine, for its getters (state, close codes, buffered output).
    pub fn connection(&self) -> &Connection {
        &self.inner.core.conn
    }

    /// Client: the server's 101 answer (status and headers), once the
    /// handshake is done.
    pub fn response(&self) -> Option<&HandshakeResponse> {
        self.inner.driver.response.as_ref()
    }

    /// Server: the request it accepted (target, headers, the subprotocols
    /// offered), once the handshake is done.
    pub fn request(&self) -> Option<&HandshakeRequest> {
        self.inner.driver.request.as_ref()
    }

    /// Bytes queued in the engine and not yet taken by the transport; stays
    /// near the high-water mark however slow the peer is.
    pub fn buffered_output(&self) -> usize {
        self.inner.core.conn.buffered_output()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.core.conn.subprotocol()
    }

    /// What was agreed for permessage-deflate (RFC 7692) in the handshake,
    /// from this endpoint's point of view; `None` when it is not in use
    /// (not configured with [`Config::deflate`](crate::Config::deflate),
    /// declined, or the handshake is not done). Delegates to
    /// [`Connection::deflate`](crate::Connection::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::extensions::deflate::DeflateParams> {
        self.inner.core.conn.deflate()
    }

    /// How the connection ended, once it did.
    pub fn closed(&self) -> Option<Closed> {
        self.inner.core.closed
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The transport, for settings such as `TCP_NODELAY`. Reading or
    /// writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.stream
    }
}

impl<S: core::fmt::Debug> core::fmt::Debug for WebSocketStream<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("conn", &self.inner.core.conn)
            .field("stream", &self.inner.stream)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for WebSocketStream<S> {
    fn is_terminated(&self) -> bool {
        self.inner.finished
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    /// Ready when at most the high-water mark is queued, writing meanwhile.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = &mut self.get_mut().inner;
        let high_water = inner.high_water;
        inner.poll_room(cx, high_water)
    }

    /// Queues the message in the engine; `poll_flush` writes it.
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().inner.start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_flush_all(cx)
    }

    /// Sends a Close with 1000 (unless one was sent) after everything
    /// queued, and returns once it is written.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_close_normal(cx)
    }
}
