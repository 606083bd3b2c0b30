//! A WebSocket over any `Read + Write` (feature `std`): a `TcpStream`, a TLS
//! stream, a Unix socket, blocking or non-blocking.
//!
//! ```no_run
//! use hybi::io::blocking::WebSocket;
//! use hybi::io::Message;
//!
//! # fn main() -> Result<(), hybi::io::Error> {
//! let request = hybi::ClientRequest::new("ws://127.0.0.1:9001/")?;
//! let stream = std::net::TcpStream::connect(("127.0.0.1", 9001))?;
//! let mut ws = WebSocket::connect(request, stream, hybi::Config::default())?;
//! ws.send_text("hello")?;
//! while let Some(message) = ws.read()? {
//!     if let Message::Text(text) = message {
//!         println!("{text}");
//!         ws.close(hybi::CloseCode::NORMAL, "bye")?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Deadlines
//!
//! `Config`'s deadlines (handshake, keepalive, idle, close) hold whatever
//! read timeout the caller set: before a read that would wait past the
//! engine's next deadline, the adapter shortens the transport's read
//! timeout to it ([`Transport`]), and restores the caller's after. A
//! transport that cannot time out its reads (a custom type with the
//! default [`Transport`] impl) runs deadlines only when a read returns.
//!
//! # Non-blocking transports
//!
//! Every method keeps its progress in the `WebSocket` before it touches the
//! transport, so `WouldBlock` ([`Error::is_would_block`]) loses nothing:
//! call the same method again when the transport is ready. For a
//! non-blocking handshake, build with [`WebSocket::client`] or
//! [`WebSocket::server`] and call [`WebSocket::handshake`] until it returns
//! `Ok`. Sends queue their frames in the engine first, so a send that
//! reports `WouldBlock` is already queued; [`WebSocket::flush`] writes it.
//!
//! # Ending
//!
//! [`WebSocket::read`] returns `Ok(None)` once the connection is over: the
//! closing handshake completed (the client also waited for the server to
//! close the transport, RFC 6455 §7.1.1) or the peer went away. A reset or
//! broken pipe after the closing handshake is that end too, not an error
//! (many servers reset right after their Close). A peer that resets before
//! it is an [`Error::Io`], returned after every message read before it.
//! A protocol violation is returned once as [`Error::Protocol`], after the
//! Close frame was written. [`WebSocket::closed`] says how it ended. Drop
//! the `WebSocket` to close the transport.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant as Clock};

use super::driver::{Driver, HeapCore, Step};
use super::{is_disconnect, Error, HandshakeRequest, HandshakeResponse, Message};
use crate::adapter::{Payload, Queued, ReadBuffer};
use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::prepared::PreparedMessage;
use crate::connection::{Compression, Connection, Role, State, Transmit};
use crate::entropy::OsEntropy;
use crate::event::Closed;
use crate::frame::MessageKind;
use crate::handshake::{ClientRequest, Decision, Negotiated, Request};
use crate::time::Instant;

/// A transport the blocking adapter can bound a wait on: how it lets the
/// engine's deadlines fire during a blocking read. Implemented for
/// `TcpStream`, `UnixStream`, [`MaybeTlsStream`](super::MaybeTlsStream),
/// rustls' `StreamOwned` over a `TcpStream`, and references and boxes of
/// those. For a transport of your own, `impl Transport for MyStream {}`
/// (the defaults: no timeouts, deadlines run when a read returns) or
/// forward to the socket underneath.
pub trait Transport: Read + Write {
    /// The read timeout the caller set, if any (`None`: reads wait
    /// forever). `Ok(None)` by default.
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        Ok(None)
    }

    /// Sets the read timeout; returns `false` if the transport cannot
    /// (the default), and the adapter then does not rely on it.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
}

impl Transport for TcpStream {
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout).map(|()| true)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        std::os::unix::net::UnixStream::read_timeout(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout).map(|()| true)
    }
}

#[cfg(feature = "rustls")]
impl<C, D> Transport for rustls::StreamOwned<C, TcpStream>
where
    C: core::ops::DerefMut + core::ops::Deref<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        self.sock.read_timeout()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        self.sock.set_read_timeout(timeout).map(|()| true)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        (**self).read_timeout()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
}

impl<T: Transport + ?Sized> Transport for std::boxed::Box<T> {
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        (**self).read_timeout()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
}

/// Queued bytes at which [`WebSocket::feed_prepared`] writes them out.
const FEED_FLUSH_AT: usize = 64 * 1024;

/// A WebSocket connection over a blocking or non-blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    core: HeapCore,
    stream: S,
    driver: Driver,
    /// The connection's time origin.
    clock: Clock,
}

impl<S> WebSocket<S> {
    /// How long until the engine's next deadline (`Config`'s handshake,
    /// keepalive, idle and close timeouts), if one is armed. `read` and
    /// `handshake` wait at most this long before running it (see the
    /// module docs); a loop of your own around a non-blocking transport
    /// should wake by then too.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let deadline = self.core.conn.poll_timeout()?;
        Some(deadline.saturating_duration_since(self.now()))
    }

    /// The engine, for its getters (state, subprotocol, close codes).
    pub fn connection(&self) -> &Connection {
        &self.core.conn
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.core.conn.subprotocol()
    }

    /// What was agreed for permessage-deflate (RFC 7692) in the handshake,
    /// from this endpoint's point of view; `None` when it is not in use
    /// (not configured with [`Config::deflate`](crate::Config::deflate),
    /// declined, or the handshake is not done).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::extensions::deflate::DeflateParams> {
        self.core.conn.deflate()
    }

    /// Client: the server's 101 answer (status and headers), once the
    /// handshake is done.
    pub fn response(&self) -> Option<&HandshakeResponse> {
        self.driver.response.as_ref()
    }

    /// Server: the request it accepted (target, headers, the subprotocols
    /// offered), once the handshake is done.
    pub fn request(&self) -> Option<&HandshakeRequest> {
        self.driver.request.as_ref()
    }

    /// How the connection ended, once it did: clean or not, the codes.
    pub fn closed(&self) -> Option<Closed> {
        self.core.closed
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The transport, for settings such as timeouts. Reading or writing it
    /// directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.clock.elapsed().as_micros() as u64)
    }
}

impl<S: Transport> WebSocket<S> {
    fn new(conn: Connection, stream: S) -> Self {
        WebSocket {
            core: HeapCore::new(conn, ReadBuffer::heap().into_inner()),
            stream,
            driver: Driver::default(),
            clock: Clock::now(),
        }
    }

    /// A client over `stream`, its request queued; call
    /// [`handshake`](Self::handshake) (or use [`connect`](Self::connect)).
    pub fn client(request: ClientRequest, stream: S, config: Config) -> Result<Self, Error> {
        let conn = Connection::client(config, request, OsEntropy::new(), Instant::ZERO)?;
        Ok(Self::new(conn, stream))
    }

    /// A server over `stream`, waiting for the request; call
    /// [`handshake`](Self::handshake) (or use [`accept`](Self::accept)).
    pub fn server(stream: S, config: Config) -> Self {
        Self::new(Connection::server(config, Instant::ZERO), stream)
    }

    /// A connection whose opening handshake another library did (a hyper
    /// or axum upgrade, an RFC 8441 stream): open at once, with what the
    /// handshake agreed, and `leftover` (bytes the library read past the
    /// handshake) consumed before anything read from `stream`. A client
    /// masks with [`OsEntropy`]. See [`Connection::from_upgraded_server`].
    pub fn from_upgraded(
        stream: S,
        role: Role,
        config: Config,
        negotiated: Negotiated,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        let conn = super::upgraded_connection(role, config, negotiated)?;
        let mut ws = Self::new(conn, stream);
        ws.core.input.push(leftover);
        Ok(ws)
    }

    /// Performs the client handshake over a stream the caller opened.
    /// A refusal is [`Error::Rejected`] with the server's status, headers
    /// and body; the 101 that accepted is kept ([`response`](Self::response)).
    pub fn connect(request: ClientRequest, stream: S, config: Config) -> Result<Self, Error> {
        Self::connect_after(request, stream, config, &[])
    }

    /// [`connect`](Self::connect) with `early` bytes of the server's
    /// answer already read from `stream` (a proxy may send them right after
    /// its own answer).
    pub(crate) fn connect_after(
        request: ClientRequest,
        stream: S,
        config: Config,
        early: &[u8],
    ) -> Result<Self, Error> {
        let mut ws = Self::client(request, stream, config)?;
        ws.core.input.push(early);
        ws.handshake(|_| Decision::accept())?;
        Ok(ws)
    }

    /// Performs the server handshake, accepting any valid upgrade request.
    pub fn accept(stream: S, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept())
    }

    /// Performs the server handshake, letting `decide` look at the request
    /// (path, `Origin`, cookies, offered subprotocols) and accept or refuse
    /// it. After a refusal the answer is written and [`Error::Refused`]
    /// returned with its status.
    pub fn accept_with<'d>(
        stream: S,
        config: Config,
        decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<Self, Error> {
        let mut ws = Self::server(stream, config);
        ws.handshake(decide)?;
        Ok(ws)
    }

    /// Drives the opening handshake until the connection is open.
    /// Resumable: after `WouldBlock`, call it again. `decide` is asked about
    /// the request on a server and never called on a client.
    pub fn handshake<'d>(
        &mut self,
        mut decide: impl FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<(), Error> {
        loop {
            if matches!(self.core.conn.state(), State::Open | State::Closing) {
                // Bytes after the handshake are frames, left for `read`.
                return self.flush();
            }
            self.fire_timers();
            // Also when closed: the `Closed` event carries the error.
            let now = self.now();
            if let Some(step) = self.driver.process(&mut self.core, now, &mut decide)? {
                if let Step::Rejected(response) = step {
                    self.flush_best_effort();
                    return Err(Error::Rejected(response.into()));
                }
                continue;
            }
            if self.core.conn.state() == State::Closed {
                self.flush_best_effort();
                return Err(self.driver.handshake_error());
            }
            self.flush()?;
            if self.core.conn.state() != State::Handshaking {
                continue;
            }
            self.fill()?;
        }
    }

    /// Reads the next message: text, binary, a Ping (already answered), a
    /// Pong, or the peer's Close (already answered). `Ok(None)` once the
    /// connection is over.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        if self.core.conn.state() == State::Handshaking {
            return Err(Error::Usage(crate::error::UsageError::NotOpen));
        }
        loop {
            self.fire_timers();
            let now = self.now();
            if let Some(step) = self
                .driver
                .process(&mut self.core, now, &mut |_| Decision::accept())?
            {
                if let Step::Message(message) = step {
                    // Answers (a Pong, a Close reply) go out before the
                    // application sees what they answer.
                    self.flush_for_reader();
                    return Ok(Some(message));
                }
                continue;
            }
            // Write what the engine queued (pongs, close replies) before
            // waiting for more input; a full non-blocking socket retries later.
            self.flush_for_reader();
            // Every event read is out: now a failure may be reported (a
            // protocol error after its Close was written, a transport error
            // after the messages before it).
            if let Some(error) = self.driver.pending_error.take() {
                return Err(error);
            }
            if self.core.is_finished() {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Sends a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        let queued = self.core.send_message(Payload::Text(text))?;
        self.write_queued(queued, text.as_bytes())
    }

    /// Sends a whole binary message.
    pub fn send_binary(&mut self, payload: &[u8]) -> Result<(), Error> {
        let queued = self.core.send_message(Payload::Binary(payload))?;
        self.write_queued(queued, payload)
    }

    /// Sends one frame of a message (`fin` false leaves it open for more).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.send_fragment_with(kind, payload, fin, Compression::Auto)
    }

    /// [`send_fragment`](Self::send_fragment), choosing whether the message
    /// may be compressed with permessage-deflate (`Compression::Off` for an
    /// already-compressed payload; the first frame decides for the whole
    /// message, see [`Connection::send_with`]).
    pub fn send_fragment_with(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<(), Error> {
        let queued = self.core.send_fragment(kind, payload, fin, compression)?;
        self.write_queued(queued, payload)
    }

    /// Sends a [`PreparedMessage`]: a server's message framed once for many
    /// connections, written from the message itself with no copy (see
    /// [`Connection::send_prepared`]).
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        let frame = self.core.conn.send_prepared(message)?;
        self.write_external(frame)
    }

    /// Queues a [`PreparedMessage`] for the next [`flush`](Self::flush) (or
    /// send) instead of writing it now: a burst fed and then flushed once
    /// goes out in one write, not one system call per message. A small
    /// frame is copied into the engine; a frame of 8 KiB or more is written
    /// at once, from the message, as [`send_prepared`](Self::send_prepared)
    /// does. Memory stays bounded however many are fed: once 64 KiB are
    /// queued, this flushes. As with every send, a `WouldBlock` from that
    /// flush leaves the message queued.
    pub fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        if let Some(frame) = self.core.feed_prepared(message)? {
            return self.write_external(frame);
        }
        if self.core.conn.buffered_output() >= FEED_FLUSH_AT {
            return self.flush();
        }
        Ok(())
    }

    /// Sends any [`Message`].
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(&text),
            Message::Binary(bytes) => self.send_binary(&bytes),
            Message::Ping(payload) => self.ping(&payload),
            Message::Pong(payload) => self.pong(&payload),
            Message::Close(frame) => match frame {
                Some(frame) => self.close(frame.code, &frame.reason),
                None => self.close(CloseCode::NO_STATUS, ""),
            },
        }
    }

    /// Sends a Ping.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.conn.ping(payload)?;
        self.flush()
    }

    /// Sends an unsolicited Pong (a heartbeat); Pings are answered by the
    /// engine.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.conn.pong(payload)?;
        self.flush()
    }

    /// Starts the closing handshake; keep calling [`read`](Self::read)
    /// until it returns `Ok(None)` to complete it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core.conn.close(code, reason)?;
        self.flush()
    }

    /// Writes everything the engine has queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.core.shut {
            // The transport is finished with: the engine sent its last
            // byte, or a reset or broken pipe ended the connection. A write
            // could only fail again.
            return Ok(());
        }
        while let Some(transmit) = self.core.conn.poll_transmit() {
            match transmit {
                Transmit::Bytes(bytes) => match self.stream.write(bytes) {
                    Ok(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
                    Ok(n) => self.core.conn.transmitted(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return self.write_failed(e),
                },
                // A generic stream cannot half-close; the transport closes
                // when the WebSocket is dropped.
                Transmit::Shutdown => self.core.shut = true,
                // `write_external` never returns with a payload owed.
                Transmit::External(_) => {
                    return Err(Error::Usage(crate::error::UsageError::ExternalPending))
                }
            }
        }
        match self.stream.flush() {
            Ok(()) => Ok(()),
            Err(e) => self.write_failed(e),
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        self.core.fire_timers(now);
    }

    /// Writes what `queued` left to write: the frame, or its header and the
    /// payload the engine owes (`payload`'s tail), without copying it.
    fn write_queued(&mut self, queued: Queued, payload: &[u8]) -> Result<(), Error> {
        match queued {
            Queued::Copied => self.flush(),
            Queued::External => self.write_external(payload),
        }
    }

    /// Writes the frame header queued by `send_external` and `payload`
    /// after it with vectored writes, so the payload is not copied, then the
    /// rest of the output. If the transport fails or would block first,
    /// the payload's unwritten rest is copied into the engine, so a retry
    /// of [`flush`](Self::flush) loses nothing, as after any send.
    fn write_external(&mut self, payload: &[u8]) -> Result<(), Error> {
        while let Some([queued, rest]) = self.core.external_parts(payload) {
            let parts = [IoSlice::new(queued), IoSlice::new(rest)];
            let error = match self.stream.write_vectored(&parts) {
                Ok(0) => ErrorKind::WriteZero.into(),
                Ok(n) => {
                    self.core.conn.transmitted(n);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.core.buffer_owed(payload)?;
            return self.write_failed(error);
        }
        self.flush()
    }

    /// Writes as much as the transport takes now; errors show up on the
    /// next call that needs the transport.
    fn flush_best_effort(&mut self) {
        let _ = self.flush();
    }

    /// [`flush_best_effort`](Self::flush_best_effort) for `read`: a write
    /// that found the peer gone before the closing handshake (a reset
    /// while a Pong or a Close reply went out) ended the transport, so no
    /// later call would show it; it is kept and reported by `read` after
    /// the events before it, as a read's would be.
    fn flush_for_reader(&mut self) {
        if let Err(error) = self.flush() {
            if self.core.eof {
                self.driver.pending_error.get_or_insert(error);
            }
        }
    }

    /// A write failed. After the closing handshake a broken pipe or a reset
    /// is the end of the connection (the peer closed first, as it may), so
    /// nothing is reported; otherwise the error is.
    fn write_failed(&mut self, error: std::io::Error) -> Result<(), Error> {
        if !is_disconnect(&error) {
            return Err(Error::Io(error));
        }
        let now = self.now();
        if self.core.transport_ended(true, now) {
            return Ok(());
        }
        Err(Error::Io(error))
    }

    /// Reads more bytes from the transport into the buffer, waiting at most
    /// until the engine's next deadline. A read that timed out because of
    /// that deadline is no error: the caller loops and the deadline runs.
    fn fill(&mut self) -> Result<(), Error> {
        if self.core.eof {
            return Err(Error::Io(ErrorKind::UnexpectedEof.into()));
        }
        let bound = self.bound_wait()?;
        let result = loop {
            let spare = self.core.input.spare_growing()?;
            match self.stream.read(spare) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        if let Some(caller) = bound {
            // The caller's own timeout, as it was.
            let _ = self.stream.set_read_timeout(caller);
        }
        let now = self.now();
        match result {
            Ok(n) => {
                self.core.filled(n, now);
                Ok(())
            }
            Err(e) if is_would_block(&e) => {
                let deadline_passed = self.core.conn.poll_timeout().is_some_and(|at| at <= now);
                if deadline_passed {
                    Ok(())
                } else {
                    Err(Error::Io(e))
                }
            }
            // The peer is gone: after the closing handshake that is the
            // end; before it, the error is reported once the events read
            // before it are out.
            Err(e) if is_disconnect(&e) => {
                if !self.core.transport_ended(true, now) {
                    self.driver.pending_error.get_or_insert(Error::Io(e));
                }
                Ok(())
            }
            // Anything else is returned as it is; the caller decides.
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Shortens the transport's read timeout to the engine's next deadline
    /// when that comes first; returns the caller's timeout to restore.
    fn bound_wait(&mut self) -> Result<Option<Option<Duration>>, Error> {
        let Some(wait) = self.poll_timeout() else {
            return Ok(None);
        };
        let caller = self.stream.read_timeout()?;
        if caller.is_some_and(|t| t <= wait) {
            return Ok(None);
        }
        // A zero timeout means "none" to std: wait at least a millisecond.
        let wait = wait.max(Duration::from_millis(1));
        match self.stream.set_read_timeout(Some(wait))? {
            true => Ok(Some(caller)),
            false => Ok(None),
        }
    }
}

/// `WouldBlock`, or `TimedOut` from a socket read timeout (Windows reports
/// timeouts that way).
fn is_would_block(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
