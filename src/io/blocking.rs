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
//! close the transport, RFC 6455 §7.1.1) or the peer went away. A protocol
//! violation is returned once as [`Error::Protocol`], after the Close frame
//! was written. Drop the `WebSocket` to close the transport.

use std::boxed::Box;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::time::Instant as Clock;

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

/// A WebSocket connection over a blocking or non-blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    conn: Connection,
    stream: S,
    /// Bytes read and not yet consumed by the engine.
    input: ReadBuffer,
    driver: Driver,
    clock: Clock,
    shut: bool,
    eof: bool,
}

impl<S: Read + Write> WebSocket<S> {
    fn new(conn: Connection, stream: S) -> Self {
        WebSocket {
            conn,
            stream,
            input: ReadBuffer::new(),
            driver: Driver::default(),
            clock: Clock::now(),
            shut: false,
            eof: false,
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
    /// masks with [`OsEntropy`]. See [`Connection::from_upgraded`].
    pub fn from_upgraded(
        stream: S,
        role: Role,
        config: Config,
        negotiated: Negotiated,
        leftover: &[u8],
    ) -> Result<Self, Error> {
        let conn = Connection::from_upgraded(
            role,
            config,
            negotiated,
            Some(Box::new(OsEntropy::new())),
            Instant::ZERO,
        )?;
        let mut ws = Self::new(conn, stream);
        ws.input.push(leftover)?;
        Ok(ws)
    }

    /// Performs the client handshake over a stream the caller opened.
    /// A refusal is [`Error::Rejected`] with the server's status, headers
    /// and body.
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
        ws.input.push(early)?;
        ws.handshake(|_| Decision::accept())?;
        Ok(ws)
    }

    /// Performs the server handshake, accepting any valid upgrade request.
    pub fn accept(stream: S, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept())
    }

    /// Performs the server handshake, letting `decide` look at the request
    /// (path, `Origin`, cookies, offered subprotocols) and accept or reject
    /// it. After a rejection the answer is written and [`Error::Closed`]
    /// returned.
    pub fn accept_with(
        stream: S,
        config: Config,
        decide: impl FnMut(&Request<'_>) -> Decision,
    ) -> Result<Self, Error> {
        let mut ws = Self::server(stream, config);
        ws.handshake(decide)?;
        Ok(ws)
    }

    /// Drives the opening handshake until the connection is open.
    /// Resumable: after `WouldBlock`, call it again. `decide` is asked about
    /// the request on a server and never called on a client.
    pub fn handshake(
        &mut self,
        mut decide: impl FnMut(&Request<'_>) -> Decision,
    ) -> Result<(), Error> {
        loop {
            if matches!(self.conn.state(), State::Open | State::Closing) {
                // Bytes after the handshake are frames, left for `read`.
                return self.flush();
            }
            self.fire_timers();
            // Also when closed: the `Closed` event carries the error.
            if let Some(step) = self.process(&mut decide)? {
                if let Step::Rejected(rejection) = step {
                    return Err(Error::Rejected(rejection.into()));
                }
                continue;
            }
            if self.conn.state() == State::Closed {
                self.flush_best_effort();
                return Err(self.take_error().unwrap_or(Error::Closed));
            }
            self.flush()?;
            if self.conn.state() != State::Handshaking {
                continue;
            }
            self.fill_or_deadline()?;
        }
    }

    /// Reads the next message: text, binary, a Ping (already answered), a
    /// Pong, or the peer's Close (already answered). `Ok(None)` once the
    /// connection is over.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        if self.conn.state() == State::Handshaking {
            return Err(Error::Usage(crate::UsageError::NotOpen));
        }
        loop {
            if let Some(error) = self.take_error() {
                // The failure's Close frame goes out first.
                self.flush_best_effort();
                return Err(error);
            }
            self.fire_timers();
            if let Some(step) = self.process(&mut |_| Decision::accept())? {
                if let Step::Message(message) = step {
                    // Answers (a Pong, a Close reply) go out before the
                    // application sees what they answer.
                    self.flush_best_effort();
                    return Ok(Some(message));
                }
                continue;
            }
            // Write what the engine queued (pongs, close replies) before
            // waiting for more input; a full non-blocking socket retries later.
            self.flush_best_effort();
            if self.driver.closed.is_some() && (self.shut || self.eof) {
                return Ok(None);
            }
            self.fill_or_deadline()?;
        }
    }

    /// Sends a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        if sends_external(&self.conn, text.len(), Compression::Auto) {
            self.conn.send_external_text(text)?;
            return self.write_external(text.as_bytes());
        }
        self.conn.send_text(text)?;
        self.flush()
    }

    /// Sends a whole binary message.
    pub fn send_binary(&mut self, payload: &[u8]) -> Result<(), Error> {
        if sends_external(&self.conn, payload.len(), Compression::Auto) {
            self.conn
                .send_external(MessageKind::Binary, payload, true)?;
            return self.write_external(payload);
        }
        self.conn.send_binary(payload)?;
        self.flush()
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
        if sends_external(&self.conn, payload.len(), compression) {
            match self.conn.send_external(kind, payload, fin) {
                Ok(()) => return self.write_external(payload),
                // A compressed message goes on compressed, through the queue.
                Err(UsageError::ExternalInCompressedMessage) => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.conn.send_with(kind, payload, fin, compression)?;
        self.flush()
    }

    /// Writes the frame header queued by `send_external` and `payload`
    /// after it with vectored writes, so the payload is not copied, then the
    /// rest of the output. If the transport fails or would block first,
    /// the payload's unwritten rest is copied into the engine, so a retry
    /// of [`flush`](Self::flush) loses nothing, as after any send.
    fn write_external(&mut self, payload: &[u8]) -> Result<(), Error> {
        while self.conn.external_owed() > 0 {
            let owed = self.conn.external_owed();
            let rest = payload
                .get(payload.len().saturating_sub(owed)..)
                .unwrap_or_default();
            let queued = match self.conn.poll_transmit() {
                Some(Transmit::Bytes(bytes)) => bytes,
                _ => &[],
            };
            let parts = [IoSlice::new(queued), IoSlice::new(rest)];
            let error = match self.stream.write_vectored(&parts) {
                Ok(0) => ErrorKind::WriteZero.into(),
                Ok(n) => {
                    self.conn.transmitted(n);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.conn.buffer_external(rest)?;
            return Err(Error::Io(error));
        }
        self.flush()
    }

    /// Sends any [`Message`].
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.send_text(&text),
            Message::Binary(bytes) => self.send_binary(&bytes),
            Message::Ping(payload) => self.ping(&payload),
            Message::Pong(payload) => {
                self.conn.pong(&payload)?;
                self.flush()
            }
            Message::Close(frame) => match frame {
                Some(frame) => self.close(frame.code, &frame.reason),
                None => self.close(CloseCode::NO_STATUS, ""),
            },
        }
    }

    /// Sends a Ping.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.ping(payload)?;
        self.flush()
    }

    /// Starts the closing handshake; keep calling [`read`](Self::read)
    /// until it returns `Ok(None)` to complete it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason)?;
        self.flush()
    }

    /// Writes everything the engine has queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        while let Some(transmit) = self.conn.poll_transmit() {
            match transmit {
                Transmit::Bytes(bytes) => match self.stream.write(bytes) {
                    Ok(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
                    Ok(n) => self.conn.transmitted(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::Io(e)),
                },
                // A generic stream cannot half-close; the transport closes
                // when the WebSocket is dropped.
                Transmit::Shutdown => self.shut = true,
                // `write_external` never returns with a payload owed.
                Transmit::External(_) => return Err(Error::Usage(UsageError::ExternalPending)),
            }
        }
        self.stream.flush().map_err(Error::Io)
    }

    /// How long until the engine's next deadline (`Config`'s handshake,
    /// keepalive, idle and close timeouts), if one is armed. A blocking
    /// transport only lets deadlines fire if its reads time out: set the
    /// socket's read timeout to at most this (for a `TcpStream`,
    /// `set_read_timeout`); a read that times out then runs the deadline and
    /// `read` carries on.
    pub fn poll_timeout(&self) -> Option<std::time::Duration> {
        let deadline = self.conn.poll_timeout()?;
        Some(deadline.saturating_duration_since(self.now()))
    }

    /// The engine, for its getters (state, subprotocol, close codes).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The subprotocol agreed in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.conn.subprotocol()
    }

    /// What was agreed for permessage-deflate (RFC 7692) in the handshake,
    /// from this endpoint's point of view; `None` when it is not in use
    /// (not configured with [`Config::deflate`](crate::Config::deflate),
    /// declined, or the handshake is not done). Delegates to
    /// [`Connection::deflate`](crate::Connection::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::DeflateParams> {
        self.conn.deflate()
    }

    /// How the connection ended, once it did.
    pub fn closed(&self) -> Option<Closed> {
        self.driver.closed
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

    fn now(&self) -> Instant {
        Instant::from_micros(self.clock.elapsed().as_micros() as u64)
    }

    /// Runs the deadlines that have passed; their events (a keepalive Ping
    /// queued, `Closed`) come out of the next `process`.
    fn fire_timers(&mut self) {
        if self.conn.poll_timeout().is_some_and(|at| at <= self.now()) {
            self.conn.handle_timeout(self.now());
        }
    }

    /// `fill`, except that a read that timed out while a deadline passed is
    /// not an error: the caller loops and the deadline runs.
    fn fill_or_deadline(&mut self) -> Result<(), Error> {
        match self.fill() {
            Err(error)
                if error.is_would_block()
                    && self.conn.poll_timeout().is_some_and(|at| at <= self.now()) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Reads more bytes from the transport into the buffer.
    fn fill(&mut self) -> Result<(), Error> {
        if self.eof {
            return Err(Error::Io(ErrorKind::UnexpectedEof.into()));
        }
        let spare = self.input.spare()?;
        loop {
            match self.stream.read(spare) {
                Ok(0) => {
                    self.eof = true;
                    let now = self.now();
                    self.conn.handle_eof(now);
                    return Ok(());
                }
                Ok(n) => {
                    self.input.filled(n);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    fn flush_best_effort(&mut self) {
        // WouldBlock: the bytes stay queued for the next flush. Other errors
        // surface on the next read or write of the transport.
        let _ = self.flush();
    }

    fn take_error(&mut self) -> Option<Error> {
        self.driver.pending_error.take()
    }
}
