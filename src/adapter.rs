//! The adapter core: everything the adapters do that is not I/O, written
//! once for the std blocking, tokio and embedded-io (blocking and async)
//! adapters.
//!
//! An adapter owns a transport and a [`Core`]; the core owns the engine
//! and the read buffer and knows:
//!
//! * the read buffer ([`ReadBuffer`]): the caller's slice or a `Vec`, the
//!   unconsumed bytes `start..end`, and its own error when it has no room
//!   ([`BufferFull`]);
//! * the deadlines: [`Core::fire_timers`] runs the ones that passed, so no
//!   adapter writes the timer check again;
//! * how a transport's end is read ([`Core::transport_ended`]): after the
//!   closing handshake a reset or broken pipe is the end of the connection,
//!   not an error (many servers and proxies reset right after their Close);
//!   before it, it is an error, reported after the events already read;
//! * the external-send policy ([`Core::send_data`]): which payloads a
//!   server writes from the caller's memory rather than copying them;
//! * events in order: input events first, then the ones the engine raised
//!   itself ([`Connection::poll_event`]), and the `Closed` that ends it all.
//!
//! The adapters add the transport calls: a blocking `read`/`write`, a
//! `poll_read`/`poll_write`, an `embedded_io` call, each in its own file.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
#[cfg(feature = "embedded-io")]
use core::ops::Range;

#[cfg(feature = "std")]
use crate::connection::prepared::PreparedMessage;
use crate::connection::storage::Storage;
use crate::connection::{Compression, Connection, Role};
use crate::error::UsageError;
use crate::event::{Closed, Event};
use crate::frame::MessageKind;
use crate::time::Instant;

/// Payloads at least this long that a server sends uncompressed go out
/// straight from the caller's memory, in one vectored write with the frame
/// header ([`Connection::send_external`]), instead of being copied into the
/// engine's queue first. Below it the copy is cheap next to the write call
/// itself; above it, it is the largest cost of a send (`perf/`: a 16 KiB
/// server send took about twice the time of one copy of the payload).
pub(crate) const EXTERNAL_MIN: usize = 8 * 1024;

/// The read buffer has no room: it is empty (a read into nothing would
/// report nothing forever) or full of bytes the engine has not consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BufferFull;

/// Bytes read from the transport and not yet consumed by the engine, in one
/// buffer reused for the whole connection: `buf[start..end]`.
#[derive(Debug)]
pub(crate) struct ReadBuffer<B> {
    buf: B,
    start: usize,
    end: usize,
    /// The last read filled all the room it was given: more was likely
    /// waiting (see `spare_growing`).
    was_full: bool,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> ReadBuffer<B> {
    pub(crate) fn new(buf: B) -> Self {
        ReadBuffer {
            buf,
            start: 0,
            end: 0,
            was_full: false,
        }
    }

    /// The bytes read and not yet consumed.
    pub(crate) fn unconsumed(&mut self) -> &mut [u8] {
        let (start, end) = (self.start, self.end);
        &mut self.buf.as_mut()[start..end]
    }

    /// Where the unconsumed bytes are.
    #[cfg(feature = "embedded-io")]
    pub(crate) fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The engine used `n` of the unconsumed bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// The room to read into, after moving unconsumed bytes to the front
    /// when the end is reached. The engine consumes all it is given except
    /// while a server's request awaits a decision, and the adapters decide
    /// at once, so normally `start == end` here and nothing moves.
    pub(crate) fn spare(&mut self) -> Result<&mut [u8], BufferFull> {
        let len = self.buf.as_ref().len();
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == len {
            self.buf.as_mut().copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        match self.buf.as_mut().get_mut(self.end..) {
            Some(spare) if !spare.is_empty() => Ok(spare),
            _ => Err(BufferFull),
        }
    }

    /// `n` bytes were read into [`spare`](Self::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        let len = self.buf.as_ref().len();
        self.end = (self.end + n).min(len);
        self.was_full = n > 0 && self.end == len;
    }

    pub(crate) fn into_inner(self) -> B {
        self.buf
    }
}

#[cfg(feature = "alloc")]
impl ReadBuffer<Vec<u8>> {
    /// The most bytes read from the transport per call on the heap
    /// adapters.
    pub(crate) const CHUNK: usize = 64 * 1024;
    /// What a heap buffer starts with: a connection of small messages (a
    /// chat member, a feed) never needs more, and thousands of them stay
    /// small.
    pub(crate) const START: usize = 4 * 1024;

    /// A heap buffer of [`START`](Self::START) bytes, growing to
    /// [`CHUNK`](Self::CHUNK) as the traffic asks (see
    /// [`spare_growing`](Self::spare_growing)).
    pub(crate) fn heap() -> Self {
        Self::new(alloc::vec![0; Self::START])
    }

    /// [`spare`](ReadBuffer::spare), after doubling the buffer (up to
    /// [`CHUNK`](Self::CHUNK)) when the last read filled all its room: a
    /// stream of large messages reaches full-size reads after a few reads,
    /// and the buffer never shrinks, so steady state allocates nothing.
    pub(crate) fn spare_growing(&mut self) -> Result<&mut [u8], BufferFull> {
        if self.was_full && self.buf.len() < Self::CHUNK {
            let len = (self.buf.len() * 2).min(Self::CHUNK);
            self.buf.resize(len, 0);
            self.was_full = false;
        }
        self.spare()
    }

    /// Appends bytes that arrived by another way (those a proxy or an HTTP
    /// library read past the handshake), to be consumed before anything
    /// read later; the buffer grows to hold them.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.end - self.start);
        // One byte more than needed, so `spare` still has room to read.
        if self.buf.len() < self.end + bytes.len() + 1 {
            self.buf.resize(self.end + bytes.len() + 1, 0);
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }
}

/// A whole message to send, borrowed.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'p> {
    Text(&'p str),
    Binary(&'p [u8]),
}

#[cfg(feature = "std")]
impl Payload<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }
}

/// How an adapter's data send went into the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// The frame is queued whole; write out `poll_transmit`.
    Copied,
    /// Only the header is queued: the payload is owed and the adapter
    /// writes it from the caller's memory (`Transmit::External`), or hands
    /// the rest to `buffer_external` before letting go of it.
    External,
}

/// The engine, the read buffer and what the transport did: the state every
/// adapter keeps apart from its transport.
#[derive(Debug)]
pub(crate) struct Core<S: Storage, B> {
    pub(crate) conn: Connection<S>,
    pub(crate) input: ReadBuffer<B>,
    /// The transport reported end of input (or ended after the closing
    /// handshake).
    pub(crate) eof: bool,
    /// The write side is shut, or the engine asked for it on a transport
    /// that cannot half-close.
    pub(crate) shut: bool,
    /// How the connection ended, once its `Closed` event was seen.
    pub(crate) closed: Option<Closed>,
}

impl<S: Storage, B: AsRef<[u8]> + AsMut<[u8]>> Core<S, B> {
    pub(crate) fn new(conn: Connection<S>, buf: B) -> Self {
        Core {
            conn,
            input: ReadBuffer::new(buf),
            eof: false,
            shut: false,
            closed: None,
        }
    }

    /// Runs the deadlines at or before `now`; whether one ran (its frames
    /// then wait in `poll_transmit`, its events in [`poll`](Self::poll)).
    pub(crate) fn fire_timers(&mut self, now: Instant) -> bool {
        if self.conn.poll_timeout().is_some_and(|at| at <= now) {
            self.conn.handle_timeout(now);
            return true;
        }
        false
    }

    /// The connection is over for the application: its `Closed` was handed
    /// out and the transport is finished with (our side shut, or the peer's
    /// end read).
    #[cfg(feature = "std")]
    pub(crate) fn is_finished(&self) -> bool {
        self.closed.is_some() && (self.shut || self.eof)
    }

    /// The transport read `n` bytes into [`ReadBuffer::spare`]; 0 is the
    /// end of input.
    pub(crate) fn filled(&mut self, n: usize, now: Instant) {
        if n == 0 {
            self.eof = true;
            self.conn.handle_eof(now);
        } else {
            self.input.filled(n);
        }
    }

    /// The transport failed (a read or a write). Returns `true` when that
    /// is simply the end of a connection whose closing handshake is done
    /// (RFC 6455 §7.1.1 lets the server close TCP at once, and many reset
    /// instead of sending FIN): the adapter then treats it as EOF. `false`
    /// means the peer went away first: the engine records an abnormal end
    /// (1006) and the adapter reports the error once the events read before
    /// it are handed out. Either way the transport is finished with.
    pub(crate) fn transport_ended(&mut self, disconnected: bool, now: Instant) -> bool {
        let handshake_done =
            self.conn.close_sent().is_some() && self.conn.close_received().is_some();
        let clean = disconnected && (handshake_done || self.closed.is_some());
        self.eof = true;
        self.shut = true;
        self.conn.handle_eof(now);
        clean
    }

    /// The next event, lent to `f`: first what the buffered input causes,
    /// then what the engine raised itself (a deadline's or EOF's `Closed`,
    /// a client's `Rejected`). `None` when the engine needs more input.
    pub(crate) fn poll<R>(&mut self, now: Instant, f: impl FnOnce(Event<'_>) -> R) -> Option<R> {
        let input = self.conn.handle_input(self.input.unconsumed(), now);
        let consumed = input.consumed;
        if let Some(event) = input.event {
            if let Event::Closed(closed) = event {
                self.closed = Some(closed);
            }
            let result = f(event);
            self.input.consume(consumed);
            return Some(result);
        }
        self.input.consume(consumed);
        let event = self.conn.poll_event()?;
        if let Event::Closed(closed) = event {
            self.closed = Some(closed);
        }
        Some(f(event))
    }

    /// Queues a whole message the way an adapter sends: a server's large
    /// uncompressed payload as an external one (only its header is
    /// copied), everything else copied into the engine. A `str` is sent as
    /// text without another UTF-8 pass.
    #[cfg(feature = "std")]
    pub(crate) fn send_message(&mut self, payload: Payload<'_>) -> Result<Queued, UsageError> {
        let external = self.sends_external(payload.len(), Compression::Auto);
        match (payload, external) {
            (Payload::Text(text), true) => self.conn.send_external_text(text)?,
            (Payload::Binary(bytes), true) => {
                self.conn.send_external(MessageKind::Binary, bytes, true)?
            }
            (Payload::Text(text), false) => self.conn.send_text(text)?,
            (Payload::Binary(bytes), false) => self.conn.send_binary(bytes)?,
        }
        Ok(if external {
            Queued::External
        } else {
            Queued::Copied
        })
    }

    /// Queues one frame of a fragmented message, as
    /// [`send_message`](Self::send_message) decides between copying and
    /// an external payload (a compressed message goes on compressed).
    pub(crate) fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<Queued, UsageError> {
        if self.sends_external(payload.len(), compression) {
            match self.conn.send_external(kind, payload, fin) {
                Ok(()) => return Ok(Queued::External),
                Err(UsageError::ExternalInCompressedMessage) => {}
                Err(error) => return Err(error),
            }
        }
        self.conn.send_with(kind, payload, fin, compression)?;
        Ok(Queued::Copied)
    }

    /// For a vectored write while an external payload is owed: the bytes
    /// queued before it and the tail of `payload` still owed. `None` once
    /// nothing is owed.
    #[cfg(feature = "std")]
    pub(crate) fn external_parts<'p>(&'p mut self, payload: &'p [u8]) -> Option<[&'p [u8]; 2]> {
        let owed = self.conn.external_owed();
        if owed == 0 {
            return None;
        }
        let rest = payload
            .get(payload.len().saturating_sub(owed)..)
            .unwrap_or_default();
        let queued = match self.conn.poll_transmit() {
            Some(crate::connection::Transmit::Bytes(bytes)) => bytes,
            _ => &[],
        };
        Some([queued, rest])
    }

    /// Queues a prepared message to go out with the next flush (the
    /// adapters' `feed_prepared`): a small frame is copied into the engine
    /// (`None`), where one write takes it with whatever else is queued; a
    /// frame of [`EXTERNAL_MIN`] or more is left owed (`Some`), for the
    /// caller to write from the message, as its copy would cost more than
    /// the write it saves.
    #[cfg(feature = "std")]
    pub(crate) fn feed_prepared<'m>(
        &mut self,
        message: &'m PreparedMessage,
    ) -> Result<Option<&'m [u8]>, UsageError> {
        let frame = self.conn.send_prepared(message)?;
        if frame.len() >= EXTERNAL_MIN {
            return Ok(Some(frame));
        }
        self.buffer_owed(frame)?;
        Ok(None)
    }

    /// Copies the owed tail of `payload` into the engine, so the caller may
    /// let go of it (a transport that would block, a cancelled send).
    #[cfg(feature = "std")]
    pub(crate) fn buffer_owed(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        let owed = self.conn.external_owed();
        match owed {
            0 => Ok(()),
            _ => self.conn.buffer_external(
                payload
                    .get(payload.len().saturating_sub(owed)..)
                    .unwrap_or_default(),
            ),
        }
    }

    /// Whether this payload goes out external: a server (a client masks,
    /// so its payloads pass through the engine), a large payload, and one
    /// that would not be compressed.
    pub(crate) fn sends_external(&self, len: usize, compression: Compression) -> bool {
        #[cfg(feature = "deflate")]
        let plain = compression == Compression::Off || self.conn.deflate().is_none();
        #[cfg(not(feature = "deflate"))]
        let plain = {
            let _ = compression;
            true
        };
        self.conn.role() == Role::Server && len >= EXTERNAL_MIN && plain
    }
}
