//! The async sends, written once for a whole [`WebSocketStream`] and for
//! the write half of a split one: each reaches the state through
//! [`Access`], directly or under the halves' lock.
//!
//! [`WebSocketStream`]: super::WebSocketStream

use core::future::poll_fn;

use ::tokio::io::{AsyncRead, AsyncWrite};

use super::halves::{lock, Shared};
use super::inner::{external_payload, Inner};
use crate::adapter::Payload;
use crate::close::CloseCode;
use crate::connection::prepared::PreparedMessage;
use crate::connection::Compression;
use crate::frame::MessageKind;
use crate::io::{Error, Message};

/// How a send reaches the connection's state for one step.
pub(super) trait Access<S> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Inner<S>) -> R) -> R;
}

impl<S> Access<S> for Inner<S> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Inner<S>) -> R) -> R {
        f(self)
    }
}

impl<S> Access<S> for Shared<S> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Inner<S>) -> R) -> R {
        f(&mut lock(self))
    }
}

/// Sends any message: waits for room below the high-water mark, queues it
/// (a server's large payload goes out from `message` itself), and waits
/// until it is written.
pub(super) async fn send<S, A>(access: &mut A, message: Message) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Access<S>,
{
    if let Some(payload) = access.with(|inner| external_payload(&inner.core, &message)) {
        let bytes = match payload {
            Payload::Text(text) => text.as_bytes(),
            Payload::Binary(bytes) => bytes,
        };
        poll_fn(|cx| {
            access.with(|inner| {
                let whole = Some(payload);
                inner.poll_queue(
                    cx,
                    whole,
                    MessageKind::Binary,
                    bytes,
                    true,
                    Compression::Auto,
                )
            })
        })
        .await?;
        return flush(access).await;
    }
    poll_fn(|cx| access.with(|inner| inner.poll_room(cx, inner.high_water))).await?;
    access.with(|inner| inner.start_send(message))?;
    flush(access).await
}

/// Sends a prepared message (framed once for many connections) from the
/// message itself, with the same waiting; with `feed`, queues it for the
/// next flush instead, waiting only while the output is above the
/// high-water mark.
pub(super) async fn send_prepared<S, A>(
    access: &mut A,
    message: &PreparedMessage,
    feed: bool,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Access<S>,
{
    poll_fn(|cx| access.with(|inner| inner.poll_prepared(cx, message, feed))).await?;
    if feed {
        return Ok(());
    }
    flush(access).await
}

/// Sends one frame of a message from borrowed bytes, with the same waiting.
pub(super) async fn send_fragment<S, A>(
    access: &mut A,
    kind: MessageKind,
    payload: &[u8],
    fin: bool,
    compression: Compression,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Access<S>,
{
    poll_fn(|cx| access.with(|inner| inner.poll_queue(cx, None, kind, payload, fin, compression)))
        .await?;
    flush(access).await
}

/// Starts (or answers) the closing handshake once everything accepted
/// earlier is queued, and waits until the Close is written.
pub(super) async fn close<S, A>(access: &mut A, code: CloseCode, reason: &str) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Access<S>,
{
    // A message accepted earlier by the Sink goes out before the Close.
    poll_fn(|cx| access.with(|inner| inner.poll_room(cx, usize::MAX))).await?;
    access.with(|inner| inner.close(code, reason))?;
    flush(access).await
}

/// Writes everything queued.
pub(super) async fn flush<S, A>(access: &mut A) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Access<S>,
{
    poll_fn(|cx| access.with(|inner| inner.poll_flush_all(cx))).await
}
