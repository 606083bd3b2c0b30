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
//! [`UsageError::OutputFull`].
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

use core::future::poll_fn;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::boxed::Box;
use std::io::{self as stdio, ErrorKind, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

use ::futures_core::stream::{FusedStream, Stream};
use ::futures_sink::Sink;
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::driver::{process, Driver, ReadBuffer, Step};
use super::{sends_external, Decision, Error, Message};
use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::upgraded::Negotiated;
use crate::connection::{Compression, Connection, Role, State, Transmit};
use crate::entropy::OsEntropy;
use crate::error::UsageError;
use crate::event::{Closed, MessageKind};
use crate::handshake::{ClientRequest, Request};
use crate::time::Instant;

/// The most queued output at which a send may start: large enough that a
/// fast peer never waits on it, small enough to bound a slow peer's cost.
const HIGH_WATER: usize = 1 << 20;

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
        WebSocketStream {
            inner: Inner::new(conn, stream, max_buffered_output),
        }
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
        ws.inner.input.push(early)?;
        poll_fn(|cx| ws.inner.poll_handshake(cx, &mut |_| Decision::accept())).await?;
        Ok(ws)
    }

    /// A connection whose opening handshake another library did: hyper's
    /// `Upgraded` (through `hyper_util::rt::TokioIo`), an RFC 8441 stream.
    /// Open at once, with what the handshake agreed, and `leftover` (bytes
    /// the library read past the handshake) consumed before anything read
    /// from `stream`. A client masks with [`OsEntropy`]. See
    /// [`Connection::from_upgraded`].
    pub fn from_upgraded(
        stream: S,
        role: Role,
        config: Config,
        negotiated: Negotiated,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        let limit = config.max_buffered_output;
        let conn = Connection::from_upgraded(
            role,
            config,
            negotiated,
            Some(Box::new(OsEntropy::new())),
            Instant::ZERO,
        )?;
        let mut ws = Self::new(conn, stream, limit);
        ws.inner.input.push(leftover)?;
        Ok(ws)
    }

    /// Performs the server handshake, accepting any valid upgrade request.
    pub async fn accept(stream: S, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept()).await
    }

    /// Performs the server handshake, letting `decide` look at the request
    /// (path, `Origin`, cookies, offered subprotocols) and accept or reject
    /// it. After a rejection the answer is written, the write side shut, and
    /// [`Error::Closed`] returned.
    pub async fn accept_with(
        stream: S,
        config: Config,
        mut decide: impl FnMut(&Request<'_>) -> Decision,
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
        if let Some((kind, payload)) = external_data(&self.inner.conn, &message) {
            poll_fn(|cx| {
                self.inner
                    .poll_queue_fragment(cx, kind, payload, true, Compression::Auto, true)
            })
            .await?;
            return poll_fn(|cx| self.inner.poll_flush_all(cx)).await;
        }
        poll_fn(|cx| self.inner.poll_room(cx, self.inner.high_water)).await?;
        self.inner.start_send(message)?;
        poll_fn(|cx| self.inner.poll_flush_all(cx)).await
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
        poll_fn(|cx| {
            self.inner
                .poll_queue_fragment(cx, kind, payload, fin, compression, false)
        })
        .await?;
        poll_fn(|cx| self.inner.poll_flush_all(cx)).await
    }

    /// Starts the closing handshake (or answers the peer's Close when
    /// `Config::auto_close_reply` is off) and waits until the Close is
    /// written; keep calling [`next`](Self::next) until it returns `None` to
    /// complete it.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        // A message accepted earlier by the Sink goes out before the Close.
        poll_fn(|cx| self.inner.poll_room(cx, usize::MAX)).await?;
        self.inner.close(code, reason)?;
        poll_fn(|cx| self.inner.poll_flush_all(cx)).await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_flush_all(cx)).await
    }

    /// Splits the connection into halves usable from two tasks at once.
    pub fn split(self) -> (WsReadHalf<S>, WsWriteHalf<S>) {
        let shared = Arc::new(Mutex::new(self.inner));
        (
            WsReadHalf {
                shared: Arc::clone(&shared),
            },
            WsWriteHalf { shared },
        )
    }

    /// The engine, for its getters (state, close codes, buffered output).
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// Bytes queued in the engine and not yet taken by the transport; stays
    /// near the high-water mark however slow the peer is.
    pub fn buffered_output(&self) -> usize {
        self.inner.conn.buffered_output()
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.conn.subprotocol()
    }

    /// What was agreed for permessage-deflate (RFC 7692) in the handshake,
    /// from this endpoint's point of view; `None` when it is not in use
    /// (not configured with [`Config::deflate`](crate::Config::deflate),
    /// declined, or the handshake is not done). Delegates to
    /// [`Connection::deflate`](crate::Connection::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::DeflateParams> {
        self.inner.conn.deflate()
    }

    /// How the connection ended, once it did.
    pub fn closed(&self) -> Option<Closed> {
        self.inner.driver.closed
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
            .field("conn", &self.inner.conn)
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

/// The connection shared by two halves: one lock, taken inside a poll and
/// released before it returns.
type Shared<S> = Arc<Mutex<Inner<S>>>;

/// A poisoned lock means a transport's poll panicked in the other half; the
/// state itself is consistent between engine calls, so carry on with it.
fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Inner<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reading half of a split [`WebSocketStream`]: [`next`](Self::next) or
/// a [`Stream`]. It also writes pending output (Pongs, Close replies).
pub struct WsReadHalf<S> {
    shared: Shared<S>,
}

/// The writing half of a split [`WebSocketStream`]: [`send`](Self::send) or
/// a [`Sink`].
pub struct WsWriteHalf<S> {
    shared: Shared<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReadHalf<S> {
    /// The next message; `None` once the connection is over. See
    /// [`WebSocketStream::next`].
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| lock(&self.shared).poll_next_message(cx)).await
    }

    /// How the connection ended, once it did.
    pub fn closed(&self) -> Option<Closed> {
        lock(&self.shared).driver.closed
    }

    /// Bytes queued in the engine and not yet taken by the transport.
    pub fn buffered_output(&self) -> usize {
        lock(&self.shared).conn.buffered_output()
    }

    /// Joins the halves again. Fails, giving them back, if they come from
    /// different connections.
    pub fn reunite(self, write: WsWriteHalf<S>) -> Result<WebSocketStream<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => Ok(WebSocketStream {
                inner: mutex.into_inner().unwrap_or_else(PoisonError::into_inner),
            }),
            // Only the two halves hold the Arc and `write` was dropped above.
            Err(shared) => Err(ReuniteError(
                WsReadHalf {
                    shared: Arc::clone(&shared),
                },
                WsWriteHalf { shared },
            )),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriteHalf<S> {
    /// Sends any [`Message`]; see [`WebSocketStream::send`].
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        let external = external_data(&lock(&self.shared).conn, &message);
        if let Some((kind, payload)) = external {
            poll_fn(|cx| {
                lock(&self.shared).poll_queue_fragment(
                    cx,
                    kind,
                    payload,
                    true,
                    Compression::Auto,
                    true,
                )
            })
            .await?;
            return poll_fn(|cx| lock(&self.shared).poll_flush_all(cx)).await;
        }
        poll_fn(|cx| {
            let mut inner = lock(&self.shared);
            let high_water = inner.high_water;
            inner.poll_room(cx, high_water)
        })
        .await?;
        lock(&self.shared).start_send(message)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_all(cx)).await
    }

    /// Sends one frame of a message; see [`WebSocketStream::send_fragment`].
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.send_fragment_with(kind, payload, fin, Compression::Auto)
            .await
    }

    /// Sends one frame of a message, choosing compression; see
    /// [`WebSocketStream::send_fragment_with`].
    pub async fn send_fragment_with(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<(), Error> {
        poll_fn(|cx| {
            lock(&self.shared).poll_queue_fragment(cx, kind, payload, fin, compression, false)
        })
        .await?;
        poll_fn(|cx| lock(&self.shared).poll_flush_all(cx)).await
    }

    /// Starts the closing handshake and waits until the Close is written;
    /// the read half sees the end. See [`WebSocketStream::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        poll_fn(|cx| lock(&self.shared).poll_room(cx, usize::MAX)).await?;
        lock(&self.shared).close(code, reason)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_all(cx)).await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| lock(&self.shared).poll_flush_all(cx)).await
    }

    /// Bytes queued in the engine and not yet taken by the transport.
    pub fn buffered_output(&self) -> usize {
        lock(&self.shared).conn.buffered_output()
    }
}

impl<S> core::fmt::Debug for WsReadHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WsReadHalf").finish_non_exhaustive()
    }
}

impl<S> core::fmt::Debug for WsWriteHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WsWriteHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for WsReadHalf<S> {
    fn is_terminated(&self) -> bool {
        lock(&self.shared).finished
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsWriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = lock(&self.shared);
        let high_water = inner.high_water;
        inner.poll_room(cx, high_water)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        lock(&self.shared).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_close_normal(cx)
    }
}

/// Halves of two different connections, given back by
/// [`WsReadHalf::reunite`].
pub struct ReuniteError<S>(pub WsReadHalf<S>, pub WsWriteHalf<S>);

impl<S> core::fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> core::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the halves belong to different WebSocket connections")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

/// Which half is polling: each has its own slot for write-readiness wakers.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// Reading (and the handshake): writes opportunistically.
    Read = 0,
    /// Sending.
    Write = 1,
}

/// The tasks to wake when the transport can take more bytes.
///
/// A transport remembers one waker per direction, the last one given, so two
/// tasks writing through it would silently replace each other's. Both halves
/// instead give the transport this waker, which wakes whichever of them is
/// waiting to write; and the reader's waker is kept so the writer can wake
/// it when it changes how the connection ends.
#[derive(Debug, Default)]
struct Wakers {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    writing: [Option<Waker>; 2],
    reader: Option<Waker>,
}

impl Wakers {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `side` waits to write and returns the waker to give the
    /// transport.
    fn register(self: &Arc<Self>, side: Side, waker: &Waker) -> Waker {
        let mut slots = self.slots();
        let slot = &mut slots.writing[side as usize];
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slots);
        Waker::from(Arc::clone(self))
    }

    /// `side` no longer waits to write.
    fn clear(&self, side: Side) {
        self.slots().writing[side as usize] = None;
    }

    /// Wakes the other half if it waits to write (this one freed room).
    fn wake_other(&self, side: Side) {
        let other = match side {
            Side::Read => Side::Write,
            Side::Write => Side::Read,
        };
        let waker = self.slots().writing[other as usize].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn set_reader(&self, waker: &Waker) {
        let mut slots = self.slots();
        match &slots.reader {
            Some(old) if old.will_wake(waker) => {}
            _ => slots.reader = Some(waker.clone()),
        }
    }

    fn wake_reader(&self) {
        let waker = self.slots().reader.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken under the lock, woken outside it.
        let [a, b] = {
            let mut slots = self.slots();
            [slots.writing[0].take(), slots.writing[1].take()]
        };
        for waker in [a, b].into_iter().flatten() {
            waker.wake();
        }
    }
}

/// How far the transport's write side is shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSide {
    Open,
    /// The engine said `Shutdown`; `poll_shutdown` has not completed.
    ShuttingDown,
    Shut,
}

/// Everything but the API: the engine, the transport and the read buffer.
/// Every method is synchronous and returns `Pending` after registering a
/// waker, so it can run under the halves' lock.
struct Inner<S> {
    conn: Connection,
    stream: S,
    /// Bytes read and not yet consumed by the engine.
    input: ReadBuffer,
    driver: Driver,
    /// The connection's time origin, on tokio's clock (so tests with paused
    /// time and the sleeps below agree).
    clock: ::tokio::time::Instant,
    /// Sends wait while more than this is queued.
    high_water: usize,
    /// A message the Sink accepted that did not fit in the engine yet: at
    /// most one, so the Sink never holds more than the caller handed it.
    unsent: Option<Message>,
    write_side: WriteSide,
    eof: bool,
    /// Bytes were written since the transport was last flushed.
    needs_flush: bool,
    /// `None` was returned.
    finished: bool,
    wakers: Arc<Wakers>,
    /// Wakes the reader at the engine's next deadline (`poll_timeout`).
    sleep: Option<Pin<Box<::tokio::time::Sleep>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(conn: Connection, stream: S, max_buffered_output: usize) -> Self {
        Inner {
            conn,
            stream,
            input: ReadBuffer::new(),
            driver: Driver::default(),
            clock: ::tokio::time::Instant::now(),
            high_water: HIGH_WATER.min(max_buffered_output / 2),
            unsent: None,
            write_side: WriteSide::Open,
            eof: false,
            needs_flush: false,
            finished: false,
            wakers: Arc::default(),
            sleep: None,
        }
    }

    /// Runs the engine's deadlines that have passed and arms a sleep for
    /// the next one, so the reading task wakes for it. Returns whether a
    /// deadline ran (its events are then ready for `process`).
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            self.sleep = None;
            return false;
        };
        if deadline <= self.now() {
            self.conn.handle_timeout(self.now());
            return true;
        }
        let at = self.clock + std::time::Duration::from_micros(deadline.as_micros());
        match &mut self.sleep {
            Some(sleep) if sleep.deadline() == at => {}
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(::tokio::time::sleep_until(at))),
        }
        let fired = match &mut self.sleep {
            Some(sleep) => core::future::Future::poll(sleep.as_mut(), cx).is_ready(),
            None => false,
        };
        if fired {
            self.conn.handle_timeout(self.now());
        }
        fired
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.clock.elapsed().as_micros() as u64)
    }

    /// Drives the opening handshake until the connection is open. `decide`
    /// is asked about the request on a server, never called on a client.
    fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision,
    ) -> Poll<Result<(), Error>> {
        loop {
            if matches!(self.conn.state(), State::Open | State::Closing) {
                // Bytes after the handshake are frames, left for `next`.
                return self.poll_output(cx, Side::Read, 0).map_err(Error::Io);
            }
            // Also when closed: the `Closed` event carries the error.
            if let Some(step) = self.process(decide)? {
                if let Step::Rejected(rejection) = step {
                    return Poll::Ready(Err(Error::Rejected(Box::new(rejection))));
                }
                continue;
            }
            if self.conn.state() == State::Closed {
                // The answer to a refused or malformed request goes out (and
                // the write side is shut) before the error; a transport
                // error then is moot.
                let _ = ready!(self.poll_output(cx, Side::Read, 0));
                return Poll::Ready(Err(self
                    .driver
                    .pending_error
                    .take()
                    .unwrap_or(Error::Closed)));
            }
            ready!(self.poll_output(cx, Side::Read, 0))?;
            if self.conn.state() != State::Handshaking {
                continue;
            }
            match self.poll_fill(cx) {
                Poll::Pending if self.poll_timers(cx) => continue,
                other => ready!(other)?,
            }
        }
    }

    /// The reading loop, the blocking adapter's `read` made pollable.
    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.conn.state() == State::Handshaking {
            return Poll::Ready(Some(Err(Error::Usage(UsageError::NotOpen))));
        }
        loop {
            if let Some(error) = self.driver.pending_error.take() {
                // The failure's Close frame goes out first, as far as the
                // transport takes it now; later reads write the rest.
                let _ = self.poll_output(cx, Side::Read, 0);
                return Poll::Ready(Some(Err(error)));
            }
            match self.process(&mut |_| Decision::accept()) {
                Err(error) => return Poll::Ready(Some(Err(error))),
                Ok(Some(Step::Message(message))) => {
                    // Answers (a Pong, a Close reply) go out before the
                    // application sees what they answer.
                    let _ = self.poll_output(cx, Side::Read, 0);
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
            }
            // Write what the engine queued before waiting for input. If the
            // transport is full this registers for write readiness, so a
            // reader parked below also wakes to finish writing the Pong.
            // Write errors surface through the reads that follow.
            let _ = self.poll_output(cx, Side::Read, 0);
            if self.driver.closed.is_some() && (self.write_side == WriteSide::Shut || self.eof) {
                self.finished = true;
                return Poll::Ready(None);
            }
            match self.poll_fill(cx) {
                // A deadline passed while waiting: run it, and carry on
                // with what it produced (a keepalive Ping, `Closed`).
                Poll::Pending if self.poll_timers(cx) => continue,
                Poll::Pending => {
                    self.wakers.set_reader(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    /// Hands buffered bytes to the engine until one event gives a step
    /// (see `driver::process`). `None` when the buffer is used up.
    fn process(
        &mut self,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision,
    ) -> Result<Option<Step>, Error> {
        let now = self.now();
        process(
            &mut self.conn,
            &mut self.driver,
            &mut self.input,
            now,
            decide,
        )
    }

    /// Reads more bytes from the transport into the buffer. A transport
    /// error ends the connection (the engine treats it as the peer gone), so
    /// it is reported once and the stream then ends.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.eof {
            return Poll::Ready(Err(Error::Io(ErrorKind::UnexpectedEof.into())));
        }
        loop {
            let spare = match self.input.spare() {
                Ok(spare) => spare,
                Err(error) => return Poll::Ready(Err(error)),
            };
            let mut read = ReadBuf::new(spare);
            match Pin::new(&mut self.stream).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        self.eof = true;
                        let now = self.now();
                        self.conn.handle_eof(now);
                    } else {
                        self.input.filled(n);
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    self.eof = true;
                    let now = self.now();
                    self.conn.handle_eof(now);
                    return Poll::Ready(Err(Error::Io(e)));
                }
            }
        }
    }

    /// Writes queued output until at most `target` bytes remain; with
    /// `target` 0, also flushes the transport and shuts its write side when
    /// the engine says so.
    fn poll_output(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
        target: usize,
    ) -> Poll<stdio::Result<()>> {
        // Registered only once the transport is actually polled.
        let mut waker: Option<Waker> = None;
        let mut progressed = false;
        let result = loop {
            match self.write_side {
                WriteSide::Shut => break Poll::Ready(Ok(())),
                WriteSide::ShuttingDown => {
                    let waker = waker.get_or_insert_with(|| self.wakers.register(side, cx.waker()));
                    let mut wcx = Context::from_waker(waker);
                    let stream = Pin::new(&mut self.stream);
                    match stream.poll_shutdown(&mut wcx) {
                        Poll::Pending => break Poll::Pending,
                        // The connection is over either way: a failed FIN
                        // leaves nothing more to do.
                        Poll::Ready(_) => {
                            self.write_side = WriteSide::Shut;
                            self.needs_flush = false;
                            self.wakers.wake_reader();
                            continue;
                        }
                    }
                }
                WriteSide::Open => {}
            }
            if target > 0 && self.conn.buffered_output() <= target {
                break Poll::Ready(Ok(()));
            }
            match self.conn.poll_transmit() {
                Some(Transmit::Bytes(bytes)) => {
                    let waker = waker.get_or_insert_with(|| self.wakers.register(side, cx.waker()));
                    let mut wcx = Context::from_waker(waker);
                    match Pin::new(&mut self.stream).poll_write(&mut wcx, bytes) {
                        Poll::Pending => break Poll::Pending,
                        Poll::Ready(Ok(0)) => break Poll::Ready(Err(ErrorKind::WriteZero.into())),
                        Poll::Ready(Ok(n)) => {
                            self.conn.transmitted(n);
                            self.needs_flush = true;
                            progressed = true;
                        }
                        Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                        Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                    }
                }
                // `poll_shutdown` flushes first (tokio's contract).
                Some(Transmit::Shutdown) => self.write_side = WriteSide::ShuttingDown,
                // `write_external` never leaves a payload owed.
                Some(Transmit::External(_)) => {
                    break Poll::Ready(Err(stdio::Error::other(UsageError::ExternalPending)));
                }
                None => {
                    if self.needs_flush {
                        let waker =
                            waker.get_or_insert_with(|| self.wakers.register(side, cx.waker()));
                        let mut wcx = Context::from_waker(waker);
                        match Pin::new(&mut self.stream).poll_flush(&mut wcx) {
                            Poll::Pending => break Poll::Pending,
                            Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => self.needs_flush = false,
                        }
                    }
                    break Poll::Ready(Ok(()));
                }
            }
        };
        if progressed {
            self.wakers.wake_other(side);
        }
        if waker.is_some() && result.is_ready() {
            self.wakers.clear(side);
        }
        result
    }

    /// Ready when the Sink's held message is in the engine and at most
    /// `high_water` bytes are queued, writing meanwhile.
    fn poll_room(&mut self, cx: &mut Context<'_>, high_water: usize) -> Poll<Result<(), Error>> {
        loop {
            self.queue_unsent()?;
            if self.unsent.is_none() && self.conn.buffered_output() <= high_water {
                return Poll::Ready(Ok(()));
            }
            // A held message waits for the whole output to go.
            let target = if self.unsent.is_some() { 0 } else { high_water };
            ready!(self.poll_output(cx, Side::Write, target))?;
        }
    }

    /// Moves the held message into the engine if it fits now.
    fn queue_unsent(&mut self) -> Result<(), Error> {
        if let Some(message) = self.unsent.take() {
            match queue_message(&mut self.conn, &message) {
                Ok(()) => self.after_queue(&message),
                // It fits once the output drains.
                Err(UsageError::OutputFull) if self.conn.buffered_output() > 0 => {
                    self.unsent = Some(message);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Queues `message` in the engine, or holds it until it fits (after
    /// `poll_room`, only a message larger than the free space is held).
    fn start_send(&mut self, message: Message) -> Result<(), Error> {
        match queue_message(&mut self.conn, &message) {
            Ok(()) => {
                self.after_queue(&message);
                Ok(())
            }
            Err(UsageError::OutputFull)
                if self.unsent.is_none() && self.conn.buffered_output() > 0 =>
            {
                self.unsent = Some(message);
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A Close changes how the reader ends: wake it to look.
    fn after_queue(&self, message: &Message) {
        if matches!(message, Message::Close(_)) {
            self.wakers.wake_reader();
        }
    }

    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason)?;
        self.wakers.wake_reader();
        Ok(())
    }

    /// Queues one fragment from borrowed bytes, waiting for room as a send
    /// does; such bytes cannot be held, so a fragment that does not fit
    /// waits for the output to drain. A server's large payload is written
    /// straight away instead (`write_external`). `whole_str`: the payload is
    /// a whole message's `str`, so it needs no UTF-8 check.
    fn poll_queue_fragment(
        &mut self,
        cx: &mut Context<'_>,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
        whole_str: bool,
    ) -> Poll<Result<(), Error>> {
        loop {
            let high_water = self.high_water;
            ready!(self.poll_room(cx, high_water))?;
            if sends_external(&self.conn, payload.len(), compression) {
                // A text fragment is checked as UTF-8 here; a whole `str`
                // from `send` needs no check.
                let check_utf8 = kind == MessageKind::Text && !whole_str;
                match self.conn.queue_external(kind, payload, fin, check_utf8) {
                    Ok(()) => return Poll::Ready(self.write_external(cx, payload)),
                    // A compressed message goes on compressed, queued.
                    Err(UsageError::ExternalInCompressedMessage) => {}
                    Err(error) => return Poll::Ready(Err(error.into())),
                }
            }
            match self.conn.send_with(kind, payload, fin, compression) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(UsageError::OutputFull) if self.conn.buffered_output() > 0 => {
                    ready!(self.poll_output(cx, Side::Write, 0))?;
                }
                Err(error) => return Poll::Ready(Err(error.into())),
            }
        }
    }

    /// Writes the header `queue_external` queued and `payload` after it
    /// (with what was queued before) in vectored writes, as far as the
    /// transport takes them now, so the payload is not copied. What it does
    /// not take is copied into the engine before this returns: no payload is
    /// owed once a poll ends, because the send may be cancelled at its next
    /// await and the read half writes through the same engine.
    fn write_external(&mut self, cx: &mut Context<'_>, payload: &[u8]) -> Result<(), Error> {
        let mut waker: Option<Waker> = None;
        let mut progressed = false;
        let result = loop {
            let owed = self.conn.external_owed();
            if owed == 0 {
                break Ok(());
            }
            let rest = payload
                .get(payload.len().saturating_sub(owed)..)
                .unwrap_or_default();
            let queued = match self.conn.poll_transmit() {
                Some(Transmit::Bytes(bytes)) => bytes,
                _ => &[],
            };
            let waker = waker.get_or_insert_with(|| self.wakers.register(Side::Write, cx.waker()));
            let mut wcx = Context::from_waker(waker);
            let parts = [IoSlice::new(queued), IoSlice::new(rest)];
            match Pin::new(&mut self.stream).poll_write_vectored(&mut wcx, &parts) {
                Poll::Pending => break Ok(()),
                Poll::Ready(Ok(0)) => break Err(ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.conn.transmitted(n);
                    self.needs_flush = true;
                    progressed = true;
                }
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => break Err(e),
            }
        };
        let owed = self.conn.external_owed();
        if owed > 0 {
            let rest = payload
                .get(payload.len().saturating_sub(owed)..)
                .unwrap_or_default();
            self.conn.buffer_external(rest)?;
        }
        if progressed {
            self.wakers.wake_other(Side::Write);
        }
        // The flush that follows registers again if it has to wait.
        if waker.is_some() {
            self.wakers.clear(Side::Write);
        }
        result.map_err(Error::Io)
    }

    /// Writes everything, the held message included.
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_room(cx, usize::MAX))?;
        self.poll_output(cx, Side::Write, 0).map_err(Error::Io)
    }

    /// `Sink::poll_close`: everything queued, then a Close with 1000 unless
    /// one was sent, all written.
    fn poll_close_normal(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_room(cx, usize::MAX))?;
        if self.conn.close_sent().is_none() {
            match self.close(CloseCode::NORMAL, "") {
                // Already over: nothing to start.
                Ok(()) | Err(Error::Usage(UsageError::NotOpen)) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        self.poll_output(cx, Side::Write, 0).map_err(Error::Io)
    }
}

/// A data message a server sends with `send_external` (see
/// `sends_external`): its kind and payload.
fn external_data<'m>(conn: &Connection, message: &'m Message) -> Option<(MessageKind, &'m [u8])> {
    let (kind, payload) = match message {
        Message::Text(text) => (MessageKind::Text, text.as_bytes()),
        Message::Binary(bytes) => (MessageKind::Binary, &bytes[..]),
        _ => return None,
    };
    sends_external(conn, payload.len(), Compression::Auto).then_some((kind, payload))
}

/// The engine command for a message.
fn queue_message(conn: &mut Connection, message: &Message) -> Result<(), UsageError> {
    match message {
        Message::Text(text) => conn.send_text(text),
        Message::Binary(bytes) => conn.send_binary(bytes),
        Message::Ping(payload) => conn.ping(payload),
        Message::Pong(payload) => conn.pong(payload),
        Message::Close(Some(frame)) => conn.close(frame.code, &frame.reason),
        Message::Close(None) => conn.close(CloseCode::NO_STATUS, ""),
    }
}
