//! A WebSocket over `embedded-io` transports (features `embedded-io` and
//! `embedded-io-async`): no std, and no heap of its own.
//!
//! [`blocking::WebSocket`] drives a [`Connection`] over any blocking
//! [`embedded_io::Read`] + [`embedded_io::Write`] (a UART bridge, a smoltcp
//! or W5500 socket); [`asynch::WebSocket`] (feature `embedded-io-async`)
//! over any [`embedded_io_async::Read`] + [`embedded_io_async::Write`]
//! (embassy-net's `TcpSocket`, esp-hal / esp-wifi sockets). Both have the
//! same methods, `async` in the second.
//!
//! ```no_run
//! # fn demo<T: embedded_io::Read + embedded_io::Write>(socket: T) -> Result<(), hybi::embedded::Error<T::Error>> {
//! use hybi::embedded::{blocking::WebSocket, Decision};
//! use hybi::{Config, Connection, Event, Instant};
//!
//! fn now() -> Instant {
//!     // The board's monotonic timer, e.g. embassy_time::Instant::now().as_micros().
//! #   Instant::ZERO
//! }
//!
//! // The engine on fixed buffers: nothing here needs an allocator.
//! let (mut output, mut handshake) = ([0u8; 2048], [0u8; 1024]);
//! let buffers = hybi::storage::FixedBuffers { output: &mut output, handshake: &mut handshake };
//! let mut read_buf = [0u8; 1024];
//! let conn = Connection::server_in(Config::default(), buffers, now());
//! let mut ws = WebSocket::new(conn, socket, &mut read_buf, now);
//! ws.handshake(|request| match request.path() {
//!     "/ws" => Decision::accept(),
//!     _ => Decision::reject(404, b"not here"),
//! })?;
//! let mut echo = [0u8; 1024];
//! loop {
//!     // Events are lent to the closure; copy out what outlives it.
//!     let step = ws.next_event(|event| match event {
//!         Event::Data(data) => {
//!             echo[..data.payload.len()].copy_from_slice(data.payload);
//!             Some((data.kind, data.payload.len(), data.fin))
//!         }
//!         _ => None,
//!     })?;
//!     if let Some((kind, len, fin)) = step {
//!         ws.send(kind, &echo[..len], fin)?;
//!     }
//! }
//! # }
//! ```
//!
//! # Choices, and why
//!
//! * **Events are lent to a closure** (`next_event(|event| ...)`), not
//!   returned. An event borrows the read buffer (payloads are unmasked in
//!   place there) and the engine; returning it from a loop that must go
//!   back to the transport when the engine has nothing yet is the pattern
//!   today's borrow checker rejects (NLL "problem case #3"), and the
//!   workarounds are `unsafe` or a crate built on it, while hybi forbids
//!   `unsafe`. The closure returns any owned value (a decision, a length
//!   copied out) to act on afterwards, when the `WebSocket` is free again.
//!   The events are the engine's own: data in chunks as it arrives (a
//!   message larger than the read buffer comes as several
//!   [`Event::Data`]), Ping, Pong, Close, and finally Closed. Nothing is
//!   reassembled: that would need a message-sized buffer.
//! * **The read buffer is the caller's** (`&'b mut [u8]`): its size is the
//!   largest chunk read at once, not a limit on messages. Bytes the engine
//!   has not consumed stay in it (`start..end`); they are moved to the front
//!   only when the free space at the end runs out.
//! * **Time comes from a clock function** (`fn() -> Instant`), not from a
//!   `now` argument per call: a call may block (or await) in a read for a
//!   long time, and the bytes it brings must be stamped with the time they
//!   arrived, or the engine's idle and keepalive deadlines would count from
//!   before the wait. Any monotonic microsecond counter fits: for embassy,
//!   `|| Instant::from_micros(embassy_time::Instant::now().as_micros())`
//!   written as a `fn`.
//! * **Deadlines** ([`Config`](crate::Config)'s handshake, keepalive, idle
//!   and close timeouts) are run by the engine whenever a method is called
//!   after them. A blocking read cannot be interrupted, so a blocking
//!   transport should time out its reads (`TimedOut`) no later than
//!   [`poll_timeout`](blocking::WebSocket::poll_timeout); the error comes
//!   back as [`Error::Transport`], nothing is lost, and the next call runs
//!   the deadline. With async, race the read against a timer; with embassy:
//!
//!   (A sketch, not compiled here: hybi does not depend on embassy.)
//!
//!   ```text
//!   loop {
//!       let deadline = ws.poll_timeout().map(to_embassy_instant);
//!       let timer = async {
//!           match deadline {
//!               Some(at) => embassy_time::Timer::at(at).await,
//!               None => core::future::pending().await,
//!           }
//!       };
//!       match embassy_futures::select::select(ws.next_event(on_event), timer).await {
//!           Either::First(result) => { /* act on result? */ }
//!           Either::Second(()) => ws.handle_timeout().await?, // a Ping, a Close
//!       }
//!   }
//!   ```
//!
//!   Dropping `next_event` while it waits in `read` loses nothing as long as
//!   the transport's `read` is cancel-safe (embassy-net's is): the buffer
//!   positions change only after a read returns.
//! * **Writes** happen inside each command (`send`, `ping`, `close`), after
//!   each event (a Pong or Close reply the engine queued) and before every
//!   read, so nothing waits in the engine while the loop blocks. A write
//!   error after an event is kept and returned by the next call, so the
//!   event itself is never lost.
//! * **No half-close**: the embedded-io traits have no `shutdown`. When the
//!   engine asks for one ([`Transmit::Shutdown`](crate::Transmit)) the
//!   adapter notes it ([`shutdown_requested`](blocking::WebSocket::shutdown_requested));
//!   close the socket after [`Event::Closed`], or take the transport back
//!   with `into_parts` and shut it down with the stack's own API.
//!
//! # Without a heap
//!
//! The adapter itself allocates nothing, and it drives a [`Connection`] of
//! either storage: with [`Fixed`](crate::storage::Fixed) buffers
//! ([`Connection::server_in`], [`Connection::client_in`]) nothing in the
//! stack needs an allocator.

pub mod blocking;

#[cfg(feature = "embedded-io-async")]
pub mod asynch;

use core::fmt;

use crate::connection::Connection;
use crate::error::{ProtocolError, UsageError};
use crate::event::Event;
use crate::handshake::{Accept, Request};
use crate::storage::Storage;
use crate::time::Instant;

/// What went wrong, with `E` the transport's error.
///
/// A normal close is not an error: it is [`Event::Closed`]. Every variant
/// leaves the `WebSocket` consistent, so after a transport error that is
/// not final (a read timeout) the same call can be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport failed (or a read timed out; see the module docs).
    Transport(E),
    /// The peer broke the protocol during the opening handshake; the
    /// connection is over. (Once open, a violation ends the connection with
    /// an [`Event::Closed`] that carries it.)
    Protocol(ProtocolError),
    /// A command the engine refused (sending before the handshake or after
    /// a Close, a Ping payload over 125 bytes, ...). Nothing was queued.
    Usage(UsageError),
    /// Client: the server answered the upgrade with this status instead of
    /// 101. The connection is over.
    Rejected(u16),
    /// The connection is over: its [`Event::Closed`] was already handed
    /// out, or it ended during the handshake with no protocol error (a
    /// server that rejected the request, a peer that went away), or the
    /// transport accepted no bytes from a write, which the embedded-io
    /// contract reserves for a writer that can take no more.
    Closed,
    /// The read buffer has no room: it is empty (`read` with an empty
    /// buffer would report nothing forever), or it is full of bytes the
    /// engine has not consumed yet.
    BufferTooSmall,
}

impl<E> From<UsageError> for Error<E> {
    fn from(error: UsageError) -> Self {
        Error::Usage(error)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The transport's error need only be `Debug` in embedded-io.
            Error::Transport(error) => write!(f, "transport error: {error:?}"),
            Error::Protocol(error) => write!(f, "protocol error: {error}"),
            Error::Usage(error) => write!(f, "usage error: {error}"),
            Error::Rejected(status) => write!(f, "upgrade rejected with status {status}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::BufferTooSmall => f.write_str("the read buffer has no room"),
        }
    }
}

impl<E: embedded_io::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Transport(error) => Some(error),
            _ => None,
        }
    }
}

/// So an application can pass the adapter's errors up as its own
/// embedded-io errors (`?` in a function returning `T::Error`-like types).
impl<E: embedded_io::Error + 'static> embedded_io::Error for Error<E> {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            Error::Transport(error) => error.kind(),
            Error::Protocol(_) => ErrorKind::InvalidData,
            Error::Usage(_) => ErrorKind::InvalidInput,
            Error::Rejected(_) => ErrorKind::ConnectionRefused,
            Error::Closed => ErrorKind::NotConnected,
            Error::BufferTooSmall => ErrorKind::OutOfMemory,
        }
    }
}

/// A server's answer to an upgrade request, returned by the closure given
/// to `handshake`. Borrows nothing from the request, so it can be applied
/// after the request is gone.
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    /// Accept, with an optional subprotocol and extra headers.
    Accept(Accept<'a>),
    /// Refuse with an HTTP status (200..=599), extra headers and a body;
    /// the handshake then returns [`Error::Closed`].
    Reject {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: &'a [(&'a str, &'a str)],
        /// The body.
        body: &'a [u8],
    },
}

impl<'a> Decision<'a> {
    /// Accept with no subprotocol and no extra header.
    pub fn accept() -> Self {
        Decision::Accept(Accept::new())
    }

    /// Refuse with `status` and `body`, no extra header.
    pub fn reject(status: u16, body: &'a [u8]) -> Self {
        Decision::Reject {
            status,
            headers: &[],
            body,
        }
    }
}

/// What a handshake step found.
enum Handshake {
    /// An event was handled; ask the engine again.
    Progress,
    /// The client's upgrade was refused with this status.
    Rejected(u16),
    /// The connection ended during the handshake, with this violation if any.
    Closed(Option<ProtocolError>),
}

/// Everything the adapters share that is not I/O: the engine, the caller's
/// read buffer with the unconsumed bytes `buf[start..end]`, the clock, and
/// what the transport did. The blocking and async adapters add only the
/// transport calls.
struct Core<'b, S: Storage> {
    conn: Connection<S>,
    buf: &'b mut [u8],
    start: usize,
    end: usize,
    clock: fn() -> Instant,
    /// The transport reported end of input.
    eof: bool,
    /// The engine asked for the write side to be shut.
    shut: bool,
    /// `Event::Closed` was handed out.
    closed: bool,
}

impl<S: Storage> fmt::Debug for Core<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("conn", &self.conn)
            .field("buffered_input", &(self.end - self.start))
            .field("eof", &self.eof)
            .field("shut", &self.shut)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<'b, S: Storage> Core<'b, S> {
    fn new(conn: Connection<S>, buf: &'b mut [u8], clock: fn() -> Instant) -> Self {
        Core {
            conn,
            buf,
            start: 0,
            end: 0,
            clock,
            eof: false,
            shut: false,
            closed: false,
        }
    }

    fn now(&self) -> Instant {
        (self.clock)()
    }

    /// Runs the deadlines that have passed. Their events (`Closed`) come
    /// out of the next `poll`, their frames (a Ping, a Close) out of the
    /// next flush.
    fn fire_timers(&mut self) {
        let now = self.now();
        if self.conn.poll_timeout().is_some_and(|at| at <= now) {
            self.conn.handle_timeout(now);
        }
    }

    /// Hands the buffered bytes to the engine; the next event, if any, goes
    /// to `f` (taken from the option, so a loop can hold an `FnOnce`).
    /// `None` when the engine needs more input.
    fn poll<R, F: FnOnce(Event<'_>) -> R>(&mut self, f: &mut Option<F>) -> Option<R> {
        let now = self.now();
        let input = self
            .conn
            .handle_input(&mut self.buf[self.start..self.end], now);
        self.start += input.consumed;
        let event = input.event?;
        self.closed |= matches!(event, Event::Closed(_));
        let f = f.take()?;
        Some(f(event))
    }

    /// One handshake step: `None` when the engine needs more input. A
    /// server's request is answered by `decide` at once (the engine
    /// consumes nothing while it waits for the answer).
    fn poll_handshake<'d>(
        &mut self,
        decide: &mut impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<Option<Handshake>, UsageError> {
        let now = self.now();
        let input = self
            .conn
            .handle_input(&mut self.buf[self.start..self.end], now);
        self.start += input.consumed;
        let step = match input.event {
            None => return Ok(None),
            Some(Event::Request(request)) => {
                let decision = decide(&request);
                apply(&mut self.conn, decision)?;
                Handshake::Progress
            }
            Some(Event::Rejected { response, .. }) => Handshake::Rejected(response.status()),
            Some(Event::Closed(closed)) => {
                self.closed = true;
                Handshake::Closed(closed.error)
            }
            Some(_) => Handshake::Progress,
        };
        Ok(Some(step))
    }

    /// The free room at the end of the buffer, after moving the unconsumed
    /// bytes to the front if there is none. The engine consumes everything
    /// it does not hand out as an event, so normally `start == end` here and
    /// moving is free; the copy is for a future engine that keeps part of a
    /// handshake head in the caller's buffer.
    fn spare<E>(&mut self) -> Result<&mut [u8], Error<E>> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        match self.buf.get_mut(self.end..) {
            Some(spare) if !spare.is_empty() => Ok(spare),
            _ => Err(Error::BufferTooSmall),
        }
    }

    /// A read returned `n`: bytes, or end of input when 0 (the buffer given
    /// was never empty, see `spare`).
    fn filled(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
            let now = self.now();
            self.conn.handle_eof(now);
        } else {
            self.end += n;
        }
    }
}

/// Applies a server's decision to the pending request.
fn apply<S: Storage>(conn: &mut Connection<S>, decision: Decision<'_>) -> Result<(), UsageError> {
    match decision {
        Decision::Accept(accept) => conn.accept(accept),
        Decision::Reject {
            status,
            headers,
            body,
        } => conn.reject(status, headers, body),
    }
}
