//! The blocking adapter: a [`Connection`] over [`embedded_io::Read`] +
//! [`embedded_io::Write`]. See the [module docs](super) for the choices.

use core::ops::Range;

use embedded_io::{Read, Write};

use super::{Engine, Error, Next};
use crate::close::CloseCode;
use crate::connection::storage::Storage;
use crate::connection::{Connection, DefaultStorage};
use crate::event::Event;
use crate::frame::MessageKind;
use crate::handshake::{Decision, Request};
use crate::time::Instant;

/// A WebSocket over a blocking embedded-io transport `T`, reading into the
/// caller's buffer `'b`.
#[derive(Debug)]
pub struct WebSocket<'b, T: embedded_io::ErrorType, S: Storage = DefaultStorage> {
    engine: Engine<'b, S>,
    transport: T,
    /// A write error met after an event was handed out, returned by the
    /// next call so that the event itself was not lost.
    pending: Option<Error<<T as embedded_io::ErrorType>::Error>>,
}

impl<'b, T: Read + Write, S: Storage> WebSocket<'b, T, S> {
    /// Drives `conn` (from [`Connection::client`] or
    /// [`Connection::server`], or an open one from
    /// [`Connection::from_upgraded`]) over `transport`, reading into
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
    pub fn handshake<'d>(
        &mut self,
        mut decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<(), Error<T::Error>> {
        loop {
            match self.engine.handshake_step(&mut decide) {
                Next::Return(Ok(())) => return self.flush(),
                Next::Return(Err(error)) => {
                    // A refusal's answer, or a failure's, goes out first.
                    let _ = self.flush();
                    return Err(error);
                }
                Next::Transfer => {
                    self.flush()?;
                    self.fill()?;
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
    pub fn next_event<R>(&mut self, f: impl FnOnce(Event<'_>) -> R) -> Result<R, Error<T::Error>> {
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
                    if let Err(error) = self.flush() {
                        self.pending = Some(error);
                    }
                    return result;
                }
                Next::Transfer => {
                    self.flush()?;
                    self.fill()?;
                }
            }
        }
    }

    /// Sends one frame of a text or binary message (`fin` false leaves it
    /// open for more frames of the same kind) and writes it out.
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error<T::Error>> {
        self.engine.send(kind, payload, fin)?;
        self.write_out(payload)
    }

    /// Sends a Ping (at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.ping(payload)?;
        self.flush()
    }

    /// Sends an unsolicited Pong (at most 125 bytes).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.pong(payload)?;
        self.flush()
    }

    /// Starts (or, after the peer's Close without an automatic reply,
    /// completes) the closing handshake; keep calling
    /// [`next_event`](Self::next_event) until `Closed`.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        self.engine.core.conn.close(code, reason)?;
        self.flush()
    }

    /// Writes everything the engine has queued, then flushes the transport.
    pub fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.write_out(&[])
    }

    /// Writes the queued bytes and the tail of `payload` the engine owes
    /// after an external frame header, in stream order.
    fn write_out(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        while let Some(bytes) = self.engine.next_write(payload)? {
            let result = self.transport.write(bytes);
            self.engine.wrote(result, payload)?;
        }
        match self.transport.flush() {
            Ok(()) => Ok(()),
            Err(error) => self.engine.transport_failed(error),
        }
    }

    /// Runs the deadlines that have passed (see
    /// [`poll_timeout`](Self::poll_timeout)) and writes what they queued (a
    /// keepalive Ping, a Close). An event they cause (`Closed`) comes out of
    /// the next [`next_event`](Self::next_event).
    pub fn handle_timeout(&mut self) -> Result<(), Error<T::Error>> {
        self.engine.fire_timers();
        self.flush()
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
    fn fill(&mut self) -> Result<(), Error<T::Error>> {
        let spare = self.engine.core.input.spare()?;
        match self.transport.read(spare) {
            Ok(n) => self.engine.filled(n),
            Err(error) => self.engine.transport_failed(error)?,
        }
        Ok(())
    }
}
