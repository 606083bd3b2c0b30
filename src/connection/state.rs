//! Every state transition of a connection, in one place.
//!
//! # Theory of operation
//!
//! A connection moves through one line of phases; nothing moves backwards.
//!
//! ```text
//!  server: ReadingRequest --request--> AwaitingDecision --accept--> Open
//!                 |                          |
//!                 +--bad request (4xx)-------+--reject--> Closed
//!  client: AwaitingResponse --101--> JustAccepted --(next call)--> Open
//!                 |
//!                 +--other status--> ReadingRejection --body/EOF--> Rejected --> Closed
//!  both:   Open --Close sent and received--> Closed (clean)
//!          any --peer error | EOF--> Closed (not clean)
//! ```
//!
//! While `Open`, the closing handshake is two flags (`close_sent`,
//! `close_received`) rather than more phases, because the two halves happen
//! in either order or at once (RFC 6455 §7.1.5 note). The public
//! [`State`](crate::State) is derived from phase and flags.
//!
//! Rules kept here and nowhere else:
//! * Every change of `phase` is one of the named transitions below
//!   (`enter_*`, `end_rejection`, `settle`, `fail`, `finish`); the
//!   constructors only choose the first phase.
//! * `Closed` is final, and the [`Closed`] event is produced exactly once, by
//!   [`Connection::finish`].
//! * Failing (§7.1.7) sends a Close with the error's code if the connection
//!   was open and we had not sent one, a 4xx answer if a server was reading
//!   the request, nothing for a client in its handshake; then the transport
//!   is to be shut.
//! * Who shuts the transport (§7.1.1): the server as soon as it is closed;
//!   the client after a clean close waits for the server's EOF, and shuts at
//!   once otherwise (failure, rejection).
//! * Once a Close was received or the connection failed, no further input is
//!   processed (§7.1.7: "MUST NOT continue to attempt to process data").
//! * Timers (`timer.rs`) are armed and stopped only here: the handshake
//!   deadline at construction, idle and keepalive on open and on input, the
//!   Pong deadline by a keepalive Ping, the close deadline by our Close.
//!   `Closed` stops all of them but the close deadline of a client still
//!   waiting for the server to close the transport.

use crate::buffer::HeadWriter;

use super::storage::Storage;
use super::timer::Timer;
use super::{Connection, Role, State};
use crate::close::CloseCode;
use crate::error::ProtocolError;
use crate::event::Closed;
use crate::frame::Opcode;
use crate::handshake::{
    write_error_response, AcceptKey, HeadReader, ParsedRequest, ParsedResponse,
};
use crate::time::Instant;

/// Where a connection is; see the module docs for the diagram.
#[derive(Debug)]
pub(crate) enum Phase<S: Storage> {
    /// Server: reading the request head.
    ReadingRequest(S::Slot<HeadReader<S::Buf>>),
    /// Server: a valid request awaits `accept` or `reject`.
    AwaitingDecision(S::Slot<(HeadReader<S::Buf>, ParsedRequest)>),
    /// Client: the request is queued; reading the response head.
    AwaitingResponse(S::Slot<ClientHandshake<S>>),
    /// Client: a non-101 answer; reading the start of its body.
    ReadingRejection(S::Slot<Rejection<S::Buf>>),
    /// Client: the 101 was verified and handed out as `Accepted`; it is kept
    /// until the next call so the event can borrow it. Counts as open.
    JustAccepted(S::Slot<(HeadReader<S::Buf>, ParsedResponse)>),
    /// Client: the rejection is read and `Closed` is queued; `lent` once the
    /// `Rejected` event was handed out. Counts as closed.
    Rejected {
        rejection: S::Slot<Rejection<S::Buf>>,
        lent: bool,
    },
    /// The handshake is done; data flows until the closing handshake ends.
    Open,
    /// Final.
    Closed,
}

/// A client's handshake in flight.
#[derive(Debug)]
pub(crate) struct ClientHandshake<S: Storage> {
    pub(crate) head: HeadReader<S::Buf>,
    pub(crate) request: S::Request,
    pub(crate) expected_accept: AcceptKey,
}

/// A non-101 answer being read.
#[derive(Debug)]
pub(crate) struct Rejection<B> {
    /// The head, then the body bytes kept (`HeadReader::body`).
    pub(crate) head: HeadReader<B>,
    pub(crate) parsed: ParsedResponse,
    /// Body bytes still wanted before the `Rejected` event.
    pub(crate) wanted: usize,
}

/// Whether the transport's write side should be shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    NotYet,
    /// Shut once the queued bytes are written.
    Due,
    /// `Transmit::Shutdown` was handed out.
    Done,
}

impl<S: Storage> Connection<S> {
    // ---- The opening handshake ----

    /// Sets the time origin and arms the opening handshake's deadline.
    pub(crate) fn start(&mut self, now: Instant) {
        self.now = now;
        if let Some(timeout) = self.config.handshake_timeout {
            self.timers.set(Timer::Handshake, now + timeout);
        }
    }

    /// Server: a valid request head was read; the application decides.
    pub(crate) fn enter_awaiting_decision(
        &mut self,
        reader: HeadReader<S::Buf>,
        parsed: ParsedRequest,
    ) {
        debug_assert!(matches!(self.phase, Phase::ReadingRequest(_)));
        self.phase = Phase::AwaitingDecision(S::slot((reader, parsed)));
    }

    /// Server: the 101 is queued. The request's buffer is kept for the
    /// agreed subprotocol only; the handshake deadline gives way to idle
    /// and keepalive.
    pub(crate) fn enter_open_accepted(&mut self, subprotocol: Option<&str>) {
        if let Phase::AwaitingDecision(pending) = core::mem::replace(&mut self.phase, Phase::Open) {
            let (reader, _) = S::unslot(pending);
            self.keep_subprotocol(reader.into_buffer(), subprotocol);
        }
        self.on_open();
    }

    /// Client: the 101 was verified. It stays lent as `Accepted` until the
    /// next call settles it to `Open`.
    pub(crate) fn enter_just_accepted(&mut self, head: HeadReader<S::Buf>, parsed: ParsedResponse) {
        debug_assert!(matches!(self.phase, Phase::AwaitingResponse(_)));
        self.phase = Phase::JustAccepted(S::slot((head, parsed)));
        self.on_open();
    }

    /// Client: another status than 101; the start of its body is read next.
    pub(crate) fn enter_reading_rejection(&mut self, rejection: Rejection<S::Buf>) {
        debug_assert!(matches!(self.phase, Phase::AwaitingResponse(_)));
        self.phase = Phase::ReadingRejection(S::slot(rejection));
    }

    /// Client: the rejection's body is read (or ended with the input).
    pub(crate) fn end_rejection(&mut self) {
        if let Phase::ReadingRejection(rejection) =
            core::mem::replace(&mut self.phase, Phase::Closed)
        {
            self.enter_rejected(rejection);
        }
    }

    /// Ends the transient phases that existed only to lend an event.
    #[inline(always)]
    pub(crate) fn settle(&mut self) {
        // Called on every input and command: the usual answer, "nothing to
        // do", stays inline.
        if matches!(
            self.phase,
            Phase::JustAccepted(_) | Phase::Rejected { lent: true, .. }
        ) {
            self.settle_phase();
        }
    }

    #[cold]
    #[inline(never)]
    fn settle_phase(&mut self) {
        match self.phase {
            Phase::JustAccepted(_) => {
                if let Phase::JustAccepted(accepted) =
                    core::mem::replace(&mut self.phase, Phase::Open)
                {
                    let (reader, parsed) = S::unslot(accepted);
                    let (buffer, protocol) = reader.into_buffer_with(parsed.protocol_range());
                    self.keep_subprotocol_bytes(buffer, protocol);
                }
            }
            Phase::Rejected { lent: true, .. } => self.phase = Phase::Closed,
            _ => {}
        }
    }

    /// A client's rejection was fully read: hand out `Rejected`, then
    /// `Closed`. No WebSocket connection was established (§7.1.4).
    fn enter_rejected(&mut self, rejection: S::Slot<Rejection<S::Buf>>) {
        self.phase = Phase::Rejected {
            rejection,
            lent: false,
        };
        // Keeps the phase lent (see `finish`) and queues `Closed`.
        self.finish(false, None);
    }

    /// RFC 6455 §7.1.7, _Fail the WebSocket Connection_.
    pub(crate) fn fail(&mut self, error: ProtocolError) {
        if matches!(self.phase, Phase::Closed | Phase::Rejected { .. }) {
            return;
        }
        self.error = Some(error);
        match self.phase {
            // RFC 6455 §4.2.1: the server "MUST stop processing the client's
            // handshake and return an HTTP response with an appropriate error
            // code (such as 400 Bad Request)".
            Phase::ReadingRequest(_) | Phase::AwaitingDecision(_) => {
                // A fixed output buffer too small for the answer gets none;
                // the connection still closes.
                let mut out = HeadWriter::new(self.tx.buffer_mut());
                write_error_response(&mut out, error);
                let _ = out.finish();
            }
            // §7.1.7: "If _The WebSocket Connection is Established_ prior to
            // the point where the endpoint is required to _Fail the WebSocket
            // Connection_, the endpoint SHOULD send a Close frame with an
            // appropriate status code".
            Phase::Open | Phase::JustAccepted(_) if self.close_sent.is_none() => {
                let code = error.close_code();
                self.queue_close(code, error.as_str());
                // If the peer's Close had already arrived, our Close just
                // completed the closing handshake and `finish` ran: the
                // failure is still the reason, but there is one end only.
                if let Some(closed) = &mut self.closed_event {
                    closed.error = Some(error);
                    return;
                }
            }
            _ => {}
        }
        self.finish(false, Some(error));
    }

    /// The peer's Close arrived (already validated).
    pub(crate) fn on_close_received(&mut self, code: CloseCode) {
        self.close_received = Some(code);
        // The peer is closing: no more keepalive Pings (§5.5.2 owes no Pong
        // after a Close) and nothing more to be idle about.
        for timer in [Timer::Idle, Timer::Keepalive, Timer::Pong] {
            self.timers.stop(timer);
        }
        if self.close_sent.is_some() {
            self.finish(true, None);
        } else if self.config.auto_close_reply {
            // RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did
            // not previously send a Close frame, the endpoint MUST send a Close
            // frame in response. (When sending a Close frame in response, the
            // endpoint typically echos the status code it received.)"
            self.queue_close(code, "");
            self.finish(true, None);
        }
    }

    /// Our Close is queued.
    pub(crate) fn on_close_sent(&mut self, code: CloseCode) {
        self.close_sent = Some(code);
        // §5.5.1: "The application MUST NOT send any more data frames after
        // sending a Close frame"; an owed Pong is dropped too, and so are the
        // timers that would send or expect traffic.
        self.tx.drop_pong();
        for timer in [Timer::Idle, Timer::Keepalive, Timer::Pong] {
            self.timers.stop(timer);
        }
        if let Some(timeout) = self.config.close_timeout {
            self.timers.set(Timer::Close, self.now + timeout);
        }
        if self.close_received.is_some() {
            self.finish(true, None);
        }
    }

    /// The handshake completed: the handshake deadline gives way to the
    /// idle and keepalive timers.
    pub(crate) fn on_open(&mut self) {
        self.timers.stop(Timer::Handshake);
        self.on_received();
    }

    /// Bytes arrived on an open connection: the peer is not silent.
    pub(crate) fn on_received(&mut self) {
        if let Some(timeout) = self.config.idle_timeout {
            self.timers.set(Timer::Idle, self.now + timeout);
        }
        // While a keepalive Ping awaits its Pong, only the Pong re-arms.
        if let (Some(interval), false) = (
            self.config.keepalive_interval,
            self.timers.is_set(Timer::Pong),
        ) {
            self.timers.set(Timer::Keepalive, self.now + interval);
        }
    }

    /// A Pong arrived: the keepalive Ping, if any, is answered.
    pub(crate) fn on_pong(&mut self) {
        self.timers.stop(Timer::Pong);
        self.on_received();
    }

    /// `timer` expired (it is already stopped).
    pub(crate) fn on_timeout(&mut self, timer: Timer) {
        let open = matches!(self.phase, Phase::Open | Phase::JustAccepted(_));
        match timer {
            Timer::Handshake if self.state() == State::Handshaking => {
                self.fail(ProtocolError::HandshakeTimeout);
            }
            Timer::Idle if open && self.close_sent.is_none() => {
                self.queue_close(CloseCode::GOING_AWAY, "idle timeout");
            }
            Timer::Keepalive if open && self.close_sent.is_none() => {
                // The payload only has to be unique enough to read in a
                // capture; any Pong answers it.
                self.keepalive_pings += 1;
                let payload = self.keepalive_pings.to_be_bytes();
                let mask = self.mask_key();
                // Within the output limit like any send. No room means the
                // peer is not reading: the Ping is skipped, and the Pong
                // deadline below fails the connection all the same.
                let limit = Some(self.config.max_buffered_output);
                let _ = self
                    .tx
                    .queue_frame(Opcode::Ping, true, &payload, mask, limit);
                self.timers
                    .set(Timer::Pong, self.now + self.config.keepalive_timeout);
            }
            Timer::Pong if open => self.fail(ProtocolError::KeepaliveTimeout),
            Timer::Close => match self.phase {
                // A client that completed the closing handshake waited for
                // the server to close the transport; it now may (§7.1.1).
                Phase::Closed | Phase::Rejected { .. } => {
                    if self.shutdown == Shutdown::NotYet {
                        self.shutdown = Shutdown::Due;
                    }
                }
                _ => self.fail(ProtocolError::CloseTimeout),
            },
            _ => {}
        }
    }

    /// The peer shut its side of the transport.
    pub(crate) fn on_eof(&mut self) {
        self.eof = true;
        self.timers.stop(Timer::Close);
        match &mut self.phase {
            Phase::Closed | Phase::Rejected { .. } => {
                // §7.1.1: the client waited for the server to close first.
                if self.shutdown == Shutdown::NotYet {
                    self.shutdown = Shutdown::Due;
                }
            }
            Phase::ReadingRejection(_) => self.end_rejection(),
            // §7.1.5: no Close received means code 1006; not clean.
            _ => self.finish(false, None),
        }
    }

    /// Enters `Closed` and queues the `Closed` event: the one way to end.
    pub(crate) fn finish(&mut self, clean: bool, error: Option<ProtocolError>) {
        // A rejection stays in place until its event is handed out.
        if !matches!(self.phase, Phase::Rejected { .. }) {
            self.phase = Phase::Closed;
        }
        self.tx.drop_pong();
        for timer in [Timer::Handshake, Timer::Idle, Timer::Keepalive, Timer::Pong] {
            self.timers.stop(timer);
        }
        self.closed_event = Some(Closed {
            code: self.close_received.unwrap_or(CloseCode::ABNORMAL),
            clean,
            error,
        });
        // §7.1.1: "when a server is instructed to _Close the WebSocket
        // Connection_ it SHOULD initiate a TCP Close immediately, and when a
        // client is instructed to do the same, it SHOULD wait for a TCP Close
        // from the server." A client that failed or was rejected has nothing
        // to wait for.
        let client_waits = self.role == Role::Client && clean && !self.eof;
        if !client_waits {
            self.shutdown = Shutdown::Due;
            self.timers.stop(Timer::Close);
        }
    }
}
