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
//! use hybi::embedded::blocking::WebSocket;
//! use hybi::{Config, Connection, Decision, Event, Instant};
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
//!     _ => Decision::reject(404, "not here"),
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

use crate::adapter::{BufferFull, Core, Queued};
use crate::connection::storage::Storage;
use crate::connection::Compression;
use crate::connection::{Connection, State, Transmit};
use crate::error::{ProtocolError, UsageError};
use crate::event::Event;
use crate::frame::MessageKind;
use crate::handshake::{Decision, Request};
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
    /// Server: the application's decision refused the request with this
    /// status; the answer was written and the connection is over.
    Refused(u16),
    /// The connection is over: its [`Event::Closed`] was already handed
    /// out, or the peer went away during the handshake, or the transport
    /// accepted no bytes from a write, which the embedded-io contract
    /// reserves for a writer that can take no more.
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

impl<E> From<BufferFull> for Error<E> {
    fn from(_: BufferFull) -> Self {
        Error::BufferTooSmall
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
            Error::Refused(status) => write!(f, "request refused with status {status}"),
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
            Error::Rejected(_) | Error::Refused(_) => ErrorKind::ConnectionRefused,
            Error::Closed => ErrorKind::NotConnected,
            Error::BufferTooSmall => ErrorKind::OutOfMemory,
        }
    }
}

/// What one handshake step found.
enum HandshakeStep {
    /// An event was handled (a server's request answered); go on.
    Progress,
    /// Client: the server refused with this status.
    Rejected(u16),
    /// The connection ended during the handshake.
    Closed(crate::event::Closed),
}

/// What the adapter does next, decided without I/O; the blocking and async
/// adapters only carry it out.
enum Next<R, E> {
    /// Done: flush what the engine queued, then return this.
    Return(Result<R, Error<E>>),
    /// Write what is queued, then read more input.
    Transfer,
}

/// The adapter core on the caller's read buffer, with the clock: all the
/// embedded adapters keep apart from the transport.
struct Engine<'b, S: Storage> {
    core: Core<S, &'b mut [u8]>,
    clock: fn() -> Instant,
    /// A refusal by the server's decision, to report once the connection
    /// closes.
    refused: Option<u16>,
}

impl<S: Storage> fmt::Debug for Engine<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("conn", &self.core.conn)
            .field("buffered_input", &self.core.input.range().len())
            .field("eof", &self.core.eof)
            .field("shut", &self.core.shut)
            .field("closed", &self.core.closed)
            .finish_non_exhaustive()
    }
}

impl<'b, S: Storage> Engine<'b, S> {
    fn new(conn: Connection<S>, buf: &'b mut [u8], clock: fn() -> Instant) -> Self {
        Engine {
            core: Core::new(conn, buf),
            clock,
            refused: None,
        }
    }

    fn now(&self) -> Instant {
        (self.clock)()
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        self.core.fire_timers(now);
    }

    /// One step of the opening handshake. A server's request is answered
    /// by `decide` at once (the engine consumes nothing while it waits).
    fn handshake_step<'d, E>(
        &mut self,
        decide: &mut impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Next<(), E> {
        if matches!(self.core.conn.state(), State::Open | State::Closing) {
            return Next::Return(Ok(()));
        }
        self.fire_timers();
        let now = self.now();
        let step = self.core.poll(now, |event| match event {
            Event::Request(request) => (HandshakeStep::Progress, Some(decide(&request))),
            Event::Rejected { response, .. } => (HandshakeStep::Rejected(response.status()), None),
            Event::Closed(closed) => (HandshakeStep::Closed(closed), None),
            _ => (HandshakeStep::Progress, None),
        });
        let error = match step {
            None if self.core.closed.is_some() || self.core.eof => Error::Closed,
            None => return Next::Transfer,
            Some((_, Some(decision))) => {
                if let Decision::Reject(reject) = &decision {
                    self.refused = Some(reject.status());
                }
                return match self.core.conn.decide(decision) {
                    Ok(()) => self.handshake_step(decide),
                    Err(error) => Next::Return(Err(error.into())),
                };
            }
            Some((HandshakeStep::Rejected(status), _)) => Error::Rejected(status),
            Some((HandshakeStep::Closed(closed), _)) => match (closed.error, self.refused) {
                (Some(error), _) => Error::Protocol(error),
                (None, Some(status)) => Error::Refused(status),
                (None, None) => Error::Closed,
            },
            Some(_) => return self.handshake_step(decide),
        };
        Next::Return(Err(error))
    }

    /// One step of `next_event`: the next event lent to `f`, or the need
    /// for more input.
    fn event_step<R, E>(&mut self, f: &mut Option<impl FnOnce(Event<'_>) -> R>) -> Next<R, E> {
        if self.core.closed.is_some() {
            return Next::Return(Err(Error::Closed));
        }
        self.fire_timers();
        let now = self.now();
        match self.core.poll(now, |event| f.take().map(|f| f(event))) {
            Some(Some(result)) => Next::Return(Ok(result)),
            // The engine always ends with `Closed` after EOF; this is only
            // a guard against waiting on a finished transport.
            _ if self.core.eof => Next::Return(Err(Error::Closed)),
            _ => Next::Transfer,
        }
    }

    /// The read returned `n` bytes, 0 being the end of input.
    fn filled(&mut self, n: usize) {
        let now = self.now();
        self.core.filled(n, now);
    }

    /// A read or write failed with `error`. A reset, a broken pipe or an
    /// aborted connection ends the connection: after the closing handshake
    /// that is its normal end (`Ok`: its `Closed` follows), before it the
    /// error is returned and `Closed` (abnormal, 1006) follows. Any other
    /// error (a read timeout) is returned and is not final: nothing is
    /// lost, the same call can be made again.
    fn transport_failed<E: embedded_io::Error>(&mut self, error: E) -> Result<(), Error<E>> {
        use embedded_io::ErrorKind;
        let disconnected = matches!(
            error.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::NotConnected
        );
        if !disconnected {
            return Err(Error::Transport(error));
        }
        let now = self.now();
        match self.core.transport_ended(true, now) {
            true => Ok(()),
            false => Err(Error::Transport(error)),
        }
    }

    /// The next bytes to write: queued bytes, or the tail of `payload` the
    /// engine owes after an external frame header; `None` once everything
    /// is out. A shutdown request is noted on the way (embedded-io cannot
    /// half-close). Nothing once the transport is finished with: after the
    /// engine's shutdown, or a reset or broken pipe that ended the
    /// connection (`transport_failed`), a write could only fail again, and
    /// the bytes it would retry are never taken.
    fn next_write<'p>(&'p mut self, payload: &'p [u8]) -> Result<Option<&'p [u8]>, UsageError> {
        if self.core.shut {
            return Ok(None);
        }
        match self.core.conn.poll_transmit() {
            None => Ok(None),
            // Given last, once everything else is written.
            Some(Transmit::Shutdown) => {
                self.core.shut = true;
                Ok(None)
            }
            Some(Transmit::Bytes(bytes)) => Ok(Some(bytes)),
            Some(Transmit::External(owed)) => match payload.len().checked_sub(owed) {
                Some(start) => Ok(payload.get(start..)),
                // Only after `send_external` on the connection itself:
                // this adapter cannot write a payload it was not given.
                None => Err(UsageError::ExternalPending),
            },
        }
    }

    /// A write from [`next_write`](Self::next_write) returned. On an error
    /// the payload still owed is copied in, so nothing is lost if the call
    /// is made again (a timeout).
    fn wrote<E: embedded_io::Error>(
        &mut self,
        result: Result<usize, E>,
        payload: &[u8],
    ) -> Result<(), Error<E>> {
        let error = match result {
            Ok(0) => return Err(Error::Closed),
            Ok(n) => {
                self.core.conn.transmitted(n);
                return Ok(());
            }
            Err(error) => error,
        };
        let owed = self.core.conn.external_owed();
        if let Some(rest) = payload
            .len()
            .checked_sub(owed)
            .and_then(|at| payload.get(at..))
        {
            if owed > 0 {
                self.core.conn.buffer_external(rest)?;
            }
        }
        self.transport_failed(error)
    }

    /// Queues a data frame: copied into the engine, or (a server's large
    /// payload) only its header, the caller's `payload` being written after
    /// it with no copy, which lets a fixed output buffer send payloads
    /// larger than itself.
    fn send(&mut self, kind: MessageKind, payload: &[u8], fin: bool) -> Result<Queued, UsageError> {
        self.core
            .send_fragment(kind, payload, fin, Compression::Auto)
    }
}

/// The methods of both embedded adapters, written once: `$async` is empty
/// for the blocking one and `async` for the async one, `$await` empty or
/// `.await`. Every decision is the [`Engine`]'s; these only carry out its
/// `Next` with the transport's calls.
macro_rules! websocket_methods {
    ($($async:ident)?; $($await:tt)*) => {
    /// Drives `conn` (from [`Connection::client`] or
    /// [`Connection::server`], or an open one from
    /// [`Connection::from_upgraded_server`]) over `transport`, reading into
    /// `read_buf` and taking the time from `clock` (monotonic, the same
    /// origin as the `now` `conn` was created with).
    pub fn new(
        conn: Connection<S>,
        transport: T,
        read_buf: &'b mut [u8],
        clock: fn() -> Instant,
    ) -> Self {
        WebSocket {
            engine: Engine::new(conn, read_buf, clock),
            transport,
            pending: None,
        }
    }

    /// Drives the opening handshake until the connection is open. A
    /// server asks `decide` about the request; a client never calls it.
    ///
    /// Bytes that arrive after the handshake stay in the buffer for
    /// [`next_event`](Self::next_event). A client whose upgrade is refused
    /// gets [`Error::Rejected`]; a server whose decision refused
    /// the request gets [`Error::Refused`] once its answer is written.
    pub $($async)? fn handshake<'d>(
        &mut self,
        mut decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<(), Error<T::Error>> {
        loop {
            match self.engine.handshake_step(&mut decide) {
                Next::Return(Ok(())) => return self.flush()$($await)*,
                Next::Return(Err(error)) => {
                    // A refusal's answer, or a failure's, goes out first.
                    let _ = self.flush()$($await)*;
                    return Err(error);
                }
                Next::Transfer => {
                    self.flush()$($await)*?;
                    self.fill()$($await)*?;
                }
            }
        }
    }

    /// Waits for the next event and lends it to `f`, returning what `f`
    /// returns.
    ///
    /// Events are the engine's, streamed: [`Event::Data`] chunks as bytes
    /// arrive (a message larger than the read buffer comes in several),
    /// `Ping` (already answered with `Config::auto_pong`), `Pong`, `Close`
    /// (already answered with `Config::auto_close_reply`), and last
    /// `Closed`. After `Closed` this returns [`Error::Closed`].
    pub $($async)? fn next_event<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<R, Error<T::Error>> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let mut f = Some(f);
        loop {
            match self.engine.event_step(&mut f) {
                Next::Return(result) => {
                    // The engine's answers (a Pong, a Close reply) go out
                    // now; a failure is kept for the next call, so the
                    // event itself is never lost.
                    if let Err(error) = self.flush()$($await)* {
                        self.pending = Some(error);
                    }
                    return result;
                }
                Next::Transfer => {
                    self.flush()$($await)*?;
                    self.fill()$($await)*?;
                }
            }
        }
    }

    /// Sends one frame of a text or binary message (`fin` false leaves it
    /// open for more frames of the same kind) and writes it out.
    pub $($async)? fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error<T::Error>> {
        self.engine.send(kind, payload, fin)?;
        self.write_out(payload)$($await)*
    }

    /// Sends a Ping (at most 125 bytes).
    pub $($async)? fn ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.ping(payload)?;
        self.flush()$($await)*
    }

    /// Sends an unsolicited Pong (at most 125 bytes).
    pub $($async)? fn pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.pong(payload)?;
        self.flush()$($await)*
    }

    /// Starts (or, after the peer's Close without an automatic reply,
    /// completes) the closing handshake; keep calling
    /// [`next_event`](Self::next_event) until `Closed`.
    pub $($async)? fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.close(code, reason)?;
        self.flush()$($await)*
    }

    /// Writes everything the engine has queued, then flushes the transport.
    pub $($async)? fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.write_out(&[])$($await)*
    }

    /// Writes the queued bytes and the tail of `payload` the engine owes
    /// after an external frame header, in stream order.
    $($async)? fn write_out(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        while let Some(bytes) = self.engine.next_write(payload)? {
            let result = self.transport.write(bytes)$($await)*;
            self.engine.wrote(result, payload)?;
        }
        match self.transport.flush()$($await)* {
            Ok(()) => Ok(()),
            Err(error) => self.engine.transport_failed(error),
        }
    }

    /// Runs the deadlines that have passed (see
    /// [`poll_timeout`](Self::poll_timeout)) and writes what they queued (a
    /// keepalive Ping, a Close). An event they cause (`Closed`) comes out of
    /// the next [`next_event`](Self::next_event).
    pub $($async)? fn handle_timeout(&mut self) -> Result<(), Error<T::Error>> {
        self.engine.fire_timers();
        self.flush()$($await)*
    }

    /// The engine's next deadline, if one is armed, on the clock's scale.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.core.conn.poll_timeout()
    }

    /// The engine asked to shut the transport's write side (it has sent its
    /// last byte); embedded-io has no call for that, see the module docs.
    pub fn shutdown_requested(&self) -> bool {
        self.engine.core.shut
    }

    /// The engine, for its getters (state, subprotocol, close codes).
    pub fn connection(&self) -> &Connection<S> {
        &self.engine.core.conn
    }

    /// The transport. Reading or writing it directly corrupts the
    /// connection.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Takes the parts back: the engine, the transport, the read buffer and
    /// the range in it of bytes read but not yet given to the engine.
    pub fn into_parts(self) -> (Connection<S>, T, &'b mut [u8], Range<usize>) {
        let range = self.engine.core.input.range();
        let core = self.engine.core;
        (core.conn, self.transport, core.input.into_inner(), range)
    }

    /// Reads more bytes into the buffer (or notes end of input).
    $($async)? fn fill(&mut self) -> Result<(), Error<T::Error>> {
        let spare = self.engine.core.input.spare()?;
        match self.transport.read(spare)$($await)* {
            Ok(n) => self.engine.filled(n),
            Err(error) => self.engine.transport_failed(error)?,
        }
        Ok(())
    }
    };
}
pub(crate) use websocket_methods;
