//! The two halves of a split [`WebSocketStream`]: one connection behind a
//! lock taken only inside a poll.

use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ::futures_core::stream::{FusedStream, Stream};
use ::futures_sink::Sink;
use ::tokio::io::{AsyncRead, AsyncWrite};

use super::inner::Inner;
use super::send;
use super::WebSocketStream;
use crate::close::CloseCode;
use crate::connection::prepared::PreparedMessage;
use crate::connection::Compression;
use crate::event::Closed;
use crate::frame::MessageKind;
use crate::io::{Error, Message};

/// The connection shared by two halves: one lock, taken inside a poll and
/// released before it returns.
pub(super) type Shared<S> = Arc<Mutex<Inner<S>>>;

/// A poisoned lock means a transport's poll panicked in the other half; the
/// state itself is consistent between engine calls, so carry on with it.
pub(super) fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Inner<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shares `inner` between two halves.
pub(super) fn split<S>(inner: Inner<S>) -> (WsReadHalf<S>, WsWriteHalf<S>) {
    let shared = Arc::new(Mutex::new(inner));
    (
        WsReadHalf {
            shared: Arc::clone(&shared),
        },
        WsWriteHalf { shared },
    )
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
        lock(&self.shared).core.closed
    }

    /// Bytes queued in the engine and not yet taken by the transport.
    pub fn buffered_output(&self) -> usize {
        lock(&self.shared).core.conn.buffered_output()
    }

    /// Joins the halves again. Fails, giving them back, if they come from
    /// different connections.
    pub fn reunite(self, write: WsWriteHalf<S>) -> Result<WebSocketStream<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => Ok(WebSocketStream::from_inner(
                mutex.into_inner().unwrap_or_else(PoisonError::into_inner),
            )),
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
        send::send(&mut self.shared, message).await
    }

    /// Sends a prepared message; see [`WebSocketStream::send_prepared`].
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        send::send_prepared(&mut self.shared, message, false).await
    }

    /// Queues a prepared message for the next flush; see
    /// [`WebSocketStream::feed_prepared`].
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        send::send_prepared(&mut self.shared, message, true).await
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
        send::send_fragment(&mut self.shared, kind, payload, fin, compression).await
    }

    /// Starts the closing handshake and waits until the Close is written;
    /// the read half sees the end. See [`WebSocketStream::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        send::close(&mut self.shared, code, reason).await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        send::flush(&mut self.shared).await
    }

    /// Bytes queued in the engine and not yet taken by the transport.
    pub fn buffered_output(&self) -> usize {
        lock(&self.shared).core.conn.buffered_output()
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
