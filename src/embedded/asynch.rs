//! The async adapter: a [`Connection`] over [`embedded_io_async::Read`] +
//! [`embedded_io_async::Write`] (embassy-net's `TcpSocket`, esp-hal
//! sockets), on any executor. The same methods as
//! [`blocking::WebSocket`](super::blocking::WebSocket), `async`; see the
//! [module docs](super) for the choices, and for racing
//! [`next_event`](WebSocket::next_event) against a timer.

use core::ops::Range;

use embedded_io_async::{Read, Write};

use super::{Core, Decision, Error, Handshake};
use crate::close::CloseCode;
use crate::connection::{Connection, DefaultStorage, State, Transmit};
use crate::error::UsageError;
use crate::event::{Event, MessageKind};
use crate::handshake::Request;
use crate::storage::Storage;
use crate::time::Instant;

/// A WebSocket over an async embedded-io transport `T`, reading into the
/// caller's buffer `'b`.
#[derive(Debug)]
pub struct WebSocket<'b, T: embedded_io_async::ErrorType, S: Storage = DefaultStorage> {
    core: Core<'b, S>,
    transport: T,
    /// A write error met after an event was handed out, returned by the
    /// next call so that the event itself was not lost.
    pending: Option<Error<<T as embedded_io_async::ErrorType>::Error>>,
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
            core: Core::new(conn, read_buf, clock),
            transport,
            pending: None,
        }
    }

    /// Drives the opening handshake until the connection is open. A
    /// server asks `decide` about the request; a client never calls it.
    ///
    /// Bytes that arrive after the handshake stay in the buffer for
    /// [`next_event`](Self::next_event). A client whose upgrade is refused
    /// gets [`Error::Rejected`]; a server that rejected gets
    /// [`Error::Closed`] once its answer is written.
    pub async fn handshake<'d>(
        &mut self,
        mut decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<(), Error<T::Error>> {
        loop {
            if matches!(self.core.conn.state(), State::Open | State::Closing) {
                return self.flush().await;
            }
            self.core.fire_timers();
            match self.core.poll_handshake(&mut decide)? {
                Some(Handshake::Progress) => continue,
                Some(Handshake::Rejected(status)) => {
                    let _ = self.flush().await;
                    return Err(Error::Rejected(status));
                }
                Some(Handshake::Closed(error)) => {
                    // A rejection's answer, or the failure's, goes out.
                    let _ = self.flush().await;
                    return Err(error.map_or(Error::Closed, Error::Protocol));
                }
                None => {}
            }
            if self.core.closed || self.core.eof {
                return Err(Error::Closed);
            }
            self.flush().await?;
            self.fill().await?;
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
    pub async fn next_event<R>(
        &mut self,
        f: impl FnOnce(Event<'_>) -> R,
    ) -> Result<R, Error<T::Error>> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let mut f = Some(f);
        loop {
            if self.core.closed {
                return Err(Error::Closed);
            }
            self.core.fire_timers();
            if let Some(result) = self.core.poll(&mut f) {
                // The engine's answers (a Pong, a Close reply) go out now.
                if let Err(error) = self.flush().await {
                    self.pending = Some(error);
                }
                return Ok(result);
            }
            if self.core.eof {
                // The engine always ends with `Closed` after EOF; this is
                // only a guard against waiting on a finished transport.
                return Err(Error::Closed);
            }
            self.flush().await?;
            self.fill().await?;
        }
    }

    /// Sends one frame of a text or binary message (`fin` false leaves it
    /// open for more frames of the same kind) and writes it out.
    pub async fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error<T::Error>> {
        self.core.conn.send(kind, payload, fin)?;
        self.flush().await
    }

    /// Sends a Ping (at most 125 bytes).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.core.conn.ping(payload)?;
        self.flush().await
    }

    /// Sends an unsolicited Pong (at most 125 bytes).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error<T::Error>> {
        self.core.conn.pong(payload)?;
        self.flush().await
    }

    /// Starts (or, after the peer's Close without an automatic reply,
    /// completes) the closing handshake; keep calling
    /// [`next_event`](Self::next_event) until `Closed`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        self.core.conn.close(code, reason)?;
        self.flush().await
    }

    /// Writes everything the engine has queued, then flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        while let Some(transmit) = self.core.conn.poll_transmit() {
            match transmit {
                Transmit::Bytes(bytes) => {
                    let n = self
                        .transport
                        .write(bytes)
                        .await
                        .map_err(Error::Transport)?;
                    if n == 0 {
                        return Err(Error::Closed);
                    }
                    self.core.conn.transmitted(n);
                }
                Transmit::Shutdown => self.core.shut = true,
                // Only after `send_external` on the connection itself: this
                // adapter cannot write a payload it was not given.
                Transmit::External(_) => return Err(UsageError::ExternalPending.into()),
            }
        }
        self.transport.flush().await.map_err(Error::Transport)
    }

    /// Runs the deadlines that have passed (see
    /// [`poll_timeout`](Self::poll_timeout)) and writes what they queued (a
    /// keepalive Ping, a Close). An event they cause (`Closed`) comes out of
    /// the next [`next_event`](Self::next_event).
    pub async fn handle_timeout(&mut self) -> Result<(), Error<T::Error>> {
        self.core.fire_timers();
        self.flush().await
    }

    /// The engine's next deadline, if one is armed, on the clock's scale.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.conn.poll_timeout()
    }

    /// The engine asked to shut the transport's write side (it has sent its
    /// last byte); embedded-io has no call for that, see the module docs.
    pub fn shutdown_requested(&self) -> bool {
        self.core.shut
    }

    /// The engine, for its getters (state, subprotocol, close codes).
    pub fn connection(&self) -> &Connection<S> {
        &self.core.conn
    }

    /// The transport. Reading or writing it directly corrupts the
    /// connection.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Takes the parts back: the engine, the transport, the read buffer and
    /// the range in it of bytes read but not yet given to the engine.
    pub fn into_parts(self) -> (Connection<S>, T, &'b mut [u8], Range<usize>) {
        let range = self.core.start..self.core.end;
        (self.core.conn, self.transport, self.core.buf, range)
    }

    /// Reads more bytes into the buffer (or notes end of input).
    async fn fill(&mut self) -> Result<(), Error<T::Error>> {
        let spare = self.core.spare()?;
        let n = self.transport.read(spare).await.map_err(Error::Transport)?;
        self.core.filled(n);
        Ok(())
    }
}
