//! The engine: [`Connection`], the state machine that owns every rule of
//! RFC 6455 and none of the I/O.
//!
//! This file holds the type, its getters, the input dispatch and the
//! outputs. The rest of the engine lives beside it, one job per file:
//!
//! | file | job |
//! |------|-----|
//! | `handshake.rs` | constructors and the opening handshake: `read_request`, `read_response`, `accept`, `reject` |
//! | `commands.rs` | sends, pings, pongs, close |
//! | `deflate.rs` | permessage-deflate glue between the engine and `extensions/` |
//! | `recv.rs` | bytes to frames: [`Receiver`](recv::Receiver) |
//! | `send.rs` | frames to bytes: [`Sender`](send::Sender) |
//! | `state.rs` | every phase change, as named transitions |
//! | `timer.rs` | the deadlines |
//! | `storage.rs` | heap or caller-lent buffers |
//! | `prepared.rs` | [`PreparedMessage`](prepared::PreparedMessage): a server frame encoded once, sent to many |
//! | `upgraded.rs` | [`Connection::from_upgraded_server`] and `_client`, for handshakes done elsewhere |

mod commands;
#[cfg(feature = "deflate")]
mod deflate;
mod handshake;
#[cfg(feature = "alloc")]
pub(crate) mod prepared;
mod recv;
mod send;
mod state;
pub mod storage;
mod timer;
#[cfg(feature = "alloc")]
pub(crate) mod upgraded;

#[cfg(feature = "deflate")]
use alloc::boxed::Box;

use crate::buffer::Buffer;
use crate::close::{parse_close_body, CloseCode};
use crate::config::Config;
use crate::error::ProtocolError;
use crate::event::{Closed, Data, Event};
#[cfg(feature = "deflate")]
use crate::extensions::deflate::DeflateParams;
use crate::frame::MessageKind;
use crate::frame::Opcode;
use crate::handshake::Response;
use crate::time::Instant;
use crate::utf8::Utf8Validator;
#[cfg(feature = "deflate")]
use deflate::{DeflateState, Inflated};
use recv::{Item, Receiver};
use send::Sender;
use state::{Phase, Shutdown};
#[cfg(not(feature = "alloc"))]
use storage::Fixed;
#[cfg(feature = "alloc")]
use storage::Heap;
use storage::Storage;
use timer::TimerTable;

/// Which end of the connection this engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens the connection, masks its frames.
    Client,
    /// Accepts the connection, never masks.
    Server,
}

/// The connection's state as RFC 6455 names it (§4.1, §7.1.3, §7.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The opening handshake is in progress (CONNECTING).
    Handshaking,
    /// Data may flow both ways (OPEN).
    Open,
    /// A Close was sent or received, not both (CLOSING).
    Closing,
    /// The connection is over (CLOSED); only queued output remains.
    Closed,
}

/// What [`Connection::handle_input`] did with the bytes it was given.
#[derive(Debug)]
#[must_use = "the event and the consumed count must both be used"]
pub struct Input<'a> {
    /// How many bytes from the front of the input were used. Pass the rest
    /// (and any new bytes after it) to the next call.
    pub consumed: usize,
    /// The next event, if one is ready. With `None`, `consumed` is the whole
    /// input, except while a server's request awaits `accept` or `reject`.
    pub event: Option<Event<'a>>,
}

/// Whether a message may be compressed (with permessage-deflate agreed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Compress when permessage-deflate was agreed and the message is not
    /// below `DeflateConfig::min_compress_size`.
    #[default]
    Auto,
    /// Send this message uncompressed (an already-compressed payload, such
    /// as an image, would only grow).
    Off,
}

/// Bytes to write, or the signal to shut the transport's write side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// Write these bytes, then report how many were written with
    /// [`Connection::transmitted`].
    Bytes(&'a [u8]),
    /// Write the last this-many bytes of the payload given to
    /// [`Connection::send_external`] from your own buffer, then report them
    /// with [`Connection::transmitted`]. Only after `send_external`.
    External(usize),
    /// Everything was written; shut down the write side (for TCP,
    /// `shutdown(Write)`, then read until EOF or a deadline and close). Given
    /// once.
    Shutdown,
}

/// A WebSocket connection, as a state machine with no I/O.
///
/// The engine owns every rule of RFC 6455 and none of the I/O: the caller
/// moves bytes between it and a transport, and passes the time in. Its
/// methods come in four groups:
///
/// * **Getters**: [`role`](Self::role), [`state`](Self::state),
///   [`subprotocol`](Self::subprotocol), [`close_sent`](Self::close_sent),
///   [`close_received`](Self::close_received), [`error`](Self::error),
///   [`buffered_output`](Self::buffered_output),
///   [`external_owed`](Self::external_owed).
/// * **Inputs**, which never do I/O: [`handle_input`](Self::handle_input)
///   (bytes read from the transport; unmasks them in place and lends them
///   back as events), [`handle_eof`](Self::handle_eof) (the peer shut its
///   side) and [`handle_timeout`](Self::handle_timeout) (a deadline passed).
/// * **Commands**: [`accept`](Self::accept) / [`reject`](Self::reject) /
///   [`decide`](Self::decide) for a server's pending request;
///   [`send`](Self::send), [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`ping`](Self::ping),
///   [`pong`](Self::pong), [`close`](Self::close); for a server's large
///   payloads, [`send_external`](Self::send_external), which queues only
///   the header (the caller writes the payload), and
///   [`send_prepared`](Self::send_prepared) for one frame sent to many
///   connections; [`send_into`](Self::send_into), which encodes into a
///   buffer the caller lends. A command either queues whole frames or
///   returns a [`UsageError`](crate::UsageError) and changes nothing.
/// * **Outputs**: [`poll_event`](Self::poll_event) (the events the engine
///   raised itself), [`poll_transmit`](Self::poll_transmit) with
///   [`transmitted`](Self::transmitted), and
///   [`poll_timeout`](Self::poll_timeout), the next deadline.
///
/// Created by [`server`](Self::server) or [`client`](Self::client), which run
/// the HTTP/1.1 opening handshake, or by
/// [`from_upgraded_server`](Self::from_upgraded_server) or
/// [`from_upgraded_client`](Self::from_upgraded_client) when another library did the
/// handshake (hyper, axum, RFC 8441 over HTTP/2): it starts Open.
///
/// # The order of calls
///
/// After reading bytes into a buffer, call `handle_input` on the unused part
/// until it returns no event, acting on each event as it comes (an event
/// borrows the buffer and the connection until the next call). Then call
/// `poll_event` until it returns none: it gives what the engine raised
/// itself (a `Closed` after a Close, an EOF, a deadline or a failure). Then
/// write out everything `poll_transmit` gives. On EOF, call `handle_eof`;
/// after `handle_timeout` or any command, drain `poll_event` too. A
/// connection always ends with exactly one [`Event::Closed`]; after it,
/// write out what remains and drop it.
///
/// Whenever it waits for input, the caller also waits for `poll_timeout`
/// and then calls `handle_timeout`: that is all it takes to get the
/// handshake, keepalive, idle and close deadlines of [`Config`]. `now` must
/// never go backwards from one call to the next (an earlier `now` is
/// ignored); commands act at the last `now` given.
///
/// ```
/// use hybi::{Config, Connection, Event, Instant, Transmit};
///
/// let mut server = Connection::server(Config::default(), Instant::ZERO);
/// let mut bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58".to_vec();
/// let now = Instant::ZERO;
/// let mut pos = 0;
/// let mut echo = Vec::new();
/// loop {
///     let input = server.handle_input(&mut bytes[pos..], now);
///     pos += input.consumed;
///     match input.event {
///         None => break,
///         Some(Event::Request(request)) => {
///             assert_eq!(request.path(), "/chat");
///             server.accept(hybi::Accept::new()).unwrap();
///         }
///         Some(Event::Data(data)) => echo.extend_from_slice(data.payload),
///         Some(other) => panic!("{other:?}"),
///     }
/// }
/// assert_eq!(echo, b"Hello");
/// let Some(Transmit::Bytes(out)) = server.poll_transmit() else { panic!() };
/// assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
pub struct Connection<S: Storage = DefaultStorage> {
    pub(crate) role: Role,
    pub(crate) config: Config,
    pub(crate) phase: Phase<S>,
    pub(crate) rx: Receiver,
    pub(crate) tx: Sender<S::Buf>,
    /// Masking keys and the handshake nonce; clients only.
    entropy: Option<S::Entropy>,
    /// The handshake buffer once the handshake is over: it keeps the agreed
    /// subprotocol (`subprotocol` bytes of it), and nothing else.
    spare: S::Buf,
    subprotocol: Option<usize>,
    pub(crate) close_sent: Option<CloseCode>,
    pub(crate) close_received: Option<CloseCode>,
    pub(crate) error: Option<ProtocolError>,
    pub(crate) closed_event: Option<Closed>,
    pub(crate) shutdown: Shutdown,
    pub(crate) eof: bool,
    /// The fragmented message being sent, if unfinished.
    sending: Option<MessageKind>,
    /// That message is compressed (its first frame had RSV1).
    sending_compressed: bool,
    /// permessage-deflate, once agreed.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<DeflateState>>,
    send_utf8: Utf8Validator,
    /// The latest `now` given to a `handle_*` method; commands use it.
    pub(crate) now: Instant,
    pub(crate) timers: TimerTable,
    /// Keepalive Pings sent, for their payloads.
    pub(crate) keepalive_pings: u64,
}

/// The storage a bare `Connection` means: [`Heap`] with `alloc`, and
/// `Fixed<'static>` (buffers in statics) without it.
#[cfg(feature = "alloc")]
pub type DefaultStorage = Heap;
/// The storage a bare `Connection` means: [`Heap`](crate::storage) with
/// `alloc`, and `Fixed<'static>` (buffers in statics) without it.
#[cfg(not(feature = "alloc"))]
pub type DefaultStorage = Fixed<'static>;

impl<S: Storage> core::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("subprotocol", &self.subprotocol())
            .field("close_sent", &self.close_sent)
            .field("close_received", &self.close_received)
            .field("error", &self.error)
            .field("buffered_output", &self.tx.buffered())
            .field("external_owed", &self.tx.owed())
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Connection<S> {
    pub(crate) fn new(
        role: Role,
        config: Config,
        phase: Phase<S>,
        entropy: Option<S::Entropy>,
        output: S::Buf,
    ) -> Self {
        Connection {
            role,
            config,
            phase,
            rx: Receiver::new(role == Role::Server),
            tx: Sender::new(output),
            entropy,
            spare: S::Buf::default(),
            subprotocol: None,
            close_sent: None,
            close_received: None,
            error: None,
            closed_event: None,
            shutdown: Shutdown::NotYet,
            eof: false,
            sending: None,
            sending_compressed: false,
            #[cfg(feature = "deflate")]
            deflate: None,
            send_utf8: Utf8Validator::new(),
            now: Instant::ZERO,
            timers: TimerTable::default(),
            keepalive_pings: 0,
        }
    }
}

impl<S: Storage> Connection<S> {
    // ---- Getters ----

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The RFC's name for where the connection is.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::ReadingRequest(_)
            | Phase::AwaitingDecision(_)
            | Phase::AwaitingResponse(_)
            | Phase::ReadingRejection(_) => State::Handshaking,
            Phase::JustAccepted(_) | Phase::Open => {
                if self.close_sent.is_some() || self.close_received.is_some() {
                    State::Closing
                } else {
                    State::Open
                }
            }
            Phase::Rejected { .. } | Phase::Closed => State::Closed,
        }
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        // While `Accepted` is lent the answer is still in its reader.
        if let Phase::JustAccepted(accepted) = &self.phase {
            return Response::new(accepted.0.head(), &accepted.1).subprotocol();
        }
        let len = self.subprotocol?;
        let bytes = self.spare.as_slice().get(..len)?;
        // A token (checked on the way in), so ASCII.
        core::str::from_utf8(bytes).ok()
    }

    /// What was agreed for permessage-deflate, if it is in use.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|state| state.params)
    }

    /// The code of the Close frame this side sent (1005 for an empty one).
    pub fn close_sent(&self) -> Option<CloseCode> {
        self.close_sent
    }

    /// The code of the Close frame received (1005 for an empty one).
    pub fn close_received(&self) -> Option<CloseCode> {
        self.close_received
    }

    /// The peer's violation that failed the connection, if any. Sticky.
    pub fn error(&self) -> Option<ProtocolError> {
        self.error
    }

    /// Bytes queued for sending and not yet reported written, an owed
    /// external payload included.
    pub fn buffered_output(&self) -> usize {
        self.tx.buffered() + self.tx.owed()
    }

    /// Bytes of the payload given to [`send_external`](Self::send_external)
    /// not yet reported written: the caller owes the transport the last
    /// this-many bytes of it.
    pub fn external_owed(&self) -> usize {
        self.tx.owed()
    }

    // ---- Inputs ----

    /// Feeds bytes read from the transport; returns how many were used and
    /// the next event, if any.
    ///
    /// Call it again with the unused rest (an empty slice is fine) until it
    /// returns no event: one call hands out at most one event. Frame payloads
    /// are unmasked in place in `input` and lent back in [`Event::Data`].
    /// While a server's request awaits [`accept`](Self::accept) or
    /// [`reject`](Self::reject), nothing is consumed.
    pub fn handle_input<'a>(&'a mut self, input: &'a mut [u8], now: Instant) -> Input<'a> {
        self.advance(now);
        self.settle();
        match self.phase {
            Phase::Open if self.close_received.is_none() => self.receive(input),
            Phase::ReadingRequest(_) => self.read_request(input),
            Phase::AwaitingResponse(_) | Phase::ReadingRejection(_) => self.read_response(input),
            // Deferred: the application has the request and must decide.
            Phase::AwaitingDecision(_) => Input {
                consumed: 0,
                event: None,
            },
            // After a Close was received, or once closed, input is discarded
            // (§7.1.1: "discarding any trailing bytes"; §7.1.7).
            _ => Input {
                consumed: input.len(),
                event: None,
            },
        }
    }

    /// The transport reported end of input (the peer shut its write side, or
    /// the connection dropped). The events it causes (`Closed`, a client's
    /// `Rejected`) come out of [`poll_event`](Self::poll_event).
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance(now);
        self.settle();
        if self.eof {
            return;
        }
        self.on_eof();
    }

    /// The time passed: handles every deadline at or before `now` (see
    /// [`poll_timeout`](Self::poll_timeout)). A deadline may queue frames
    /// (a keepalive Ping, a Close) or end the connection: write out
    /// `poll_transmit` and drain [`poll_event`](Self::poll_event).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.settle();
        while let Some(timer) = self.timers.pop_expired(self.now) {
            self.on_timeout(timer);
        }
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Events that wait in the connection rather than in input: a client's
    /// `Rejected`, then `Closed`.
    fn queued_event(&mut self) -> Option<Event<'_>> {
        if let Phase::Rejected { lent, .. } = &mut self.phase {
            if !*lent {
                *lent = true;
                if let Phase::Rejected { rejection, .. } = &self.phase {
                    let response = Response::new(rejection.head.head(), &rejection.parsed);
                    return Some(Event::Rejected {
                        response,
                        body: rejection.head.body(),
                    });
                }
            }
        }
        self.closed_event.take().map(Event::Closed)
    }

    fn receive<'a>(&'a mut self, input: &'a mut [u8]) -> Input<'a> {
        #[cfg(feature = "deflate")]
        if self
            .deflate
            .as_ref()
            .is_some_and(|state| state.inflater.is_busy())
            && !self.rx.has_pending_error()
        {
            // Output (or staged input) of an earlier chunk comes first,
            // unless text already handed out failed (then that comes first).
            if let Inflated::Ready(ready) = self.resume_inflater() {
                return self.inflated(0, ready, input.len());
            }
        }
        let (consumed, item) = self.rx.receive(input, &self.config);
        if consumed > 0 {
            self.on_received();
        }
        let item = match item {
            None => {
                return Input {
                    consumed,
                    event: None,
                }
            }
            Some(Ok(item)) => item,
            Some(Err(error)) => return self.fail_now(error, input.len()),
        };
        #[cfg(feature = "deflate")]
        if let Item::Data {
            compressed: true, ..
        } = item
        {
            return self.receive_compressed(input, consumed, item);
        }
        self.deliver(item, input, 0, consumed)
    }
    /// The event for one item of the receiver, found at `input[base..]`.
    #[inline(always)]
    fn deliver<'a>(
        &'a mut self,
        item: Item,
        input: &'a [u8],
        base: usize,
        consumed: usize,
    ) -> Input<'a> {
        // State changes first; the event borrows `rx` or `input` last.
        let event = match item {
            Item::Data {
                kind: MessageKind::Binary,
                start,
                end,
                fin,
                ..
            } => Event::Data(
                Data::new_binary(&input[base + start..base + end], fin)
                    .with_rest_hint(self.rx.rest_hint()),
            ),
            // RFC 6455 §8.1: text is validated here, once, as it is handed
            // out as `str`; the receiver checked only where code points end.
            Item::Data {
                kind: MessageKind::Text,
                start,
                end,
                fin,
                ..
            } => {
                let bytes = &input[base + start..base + end];
                match crate::utf8::validate_str(bytes) {
                    Ok(text) => {
                        Event::Data(Data::new_text(text, fin).with_rest_hint(self.rx.rest_hint()))
                    }
                    Err(error) => {
                        // The valid text before the error goes out first.
                        let valid = &bytes[..error.valid_up_to()];
                        match core::str::from_utf8(valid) {
                            Ok(text) if !text.is_empty() => {
                                self.rx.fail_later(ProtocolError::InvalidUtf8);
                                Event::Data(Data::new_text(text, false))
                            }
                            _ => return self.fail_now(ProtocolError::InvalidUtf8, input.len()),
                        }
                    }
                }
            }
            Item::CarriedData { fin } => {
                // One code point (at most 4 bytes), completed and checked by
                // the receiver's validator across chunks: this cannot fail.
                let text = core::str::from_utf8(self.rx.carried()).unwrap_or_default();
                Event::Data(Data::new_text(text, fin))
            }
            Item::Ping => {
                // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint
                // MUST send a Pong frame in response, unless it already
                // received a Close frame." And nothing follows our own Close.
                if self.config.auto_pong && self.close_sent.is_none() {
                    self.tx.owe_pong(self.rx.control_payload());
                }
                Event::Ping(self.rx.control_payload())
            }
            Item::Pong => {
                self.on_pong();
                Event::Pong(self.rx.control_payload())
            }
            Item::Close => {
                let code = match parse_close_body(self.rx.control_payload()) {
                    Err(error) => return self.fail_now(error, input.len()),
                    // §7.1.5: a Close without a code means 1005.
                    Ok(parsed) => parsed.map(|(code, _)| code),
                };
                self.on_close_received(code.unwrap_or(CloseCode::NO_STATUS));
                // Parsed again (at most 125 bytes, once per connection) so
                // the reason is borrowed only after the state change above.
                let reason = match parse_close_body(self.rx.control_payload()) {
                    Ok(Some((_, reason))) => reason,
                    _ => "",
                };
                Event::Close { code, reason }
            }
        };
        Input {
            consumed,
            event: Some(event),
        }
    }

    /// Fails the connection and hands out `Closed` at once; all input is
    /// treated as consumed (nothing after a failure is processed).
    fn fail_now<'a>(&mut self, error: ProtocolError, input_len: usize) -> Input<'a> {
        self.fail(error);
        let event = self.closed_event.take().map(Event::Closed);
        Input {
            consumed: input_len,
            event,
        }
    }

    // ---- Outputs ----

    /// The next event the engine raised itself rather than from input: a
    /// `Closed` after [`handle_eof`](Self::handle_eof), a deadline or a
    /// command that ended the connection, after a Close was received, or
    /// a client's `Rejected` whose body ended with the input. Call it
    /// until it returns `None` after every `handle_*` call and command;
    /// [`handle_input`](Self::handle_input) hands out only what its input
    /// causes.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        self.settle();
        // Text found invalid as it was handed out fails the connection
        // right after the valid part (RFC 6455 §8.1).
        if matches!(self.phase, Phase::Open) {
            if let Some(error) = self.rx.take_pending_error() {
                self.fail(error);
            }
        }
        self.queued_event()
    }

    /// The bytes to write next, or the signal to shut the write side, or
    /// `None` when there is nothing to do.
    ///
    /// The same bytes are returned until [`transmitted`](Self::transmitted)
    /// retires them, so a partial write loses nothing.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if let Some(pong) = self.tx.take_pong() {
            let mask = self.mask_key();
            let limit = Some(self.config.max_buffered_output);
            let payload = &pong.0[..usize::from(pong.1)];
            if self
                .tx
                .queue_frame(Opcode::Pong, true, payload, mask, limit)
                .is_err()
            {
                // No room: stay owed until the peer reads our output.
                self.tx.restore_pong(pong);
            }
        }
        if !self.tx.pending().is_empty() {
            return Some(Transmit::Bytes(self.tx.pending()));
        }
        // The bytes before the external payload are out: it is due.
        if self.tx.owed() > 0 {
            return Some(Transmit::External(self.tx.owed()));
        }
        if self.shutdown == Shutdown::Due {
            self.shutdown = Shutdown::Done;
            return Some(Transmit::Shutdown);
        }
        None
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has anything to hand
    /// out, without queuing an owed Pong: an adapter with nothing to write
    /// skips its write loop.
    #[cfg(feature = "tokio")]
    pub(crate) fn has_transmit(&self) -> bool {
        self.tx.owes_pong()
            || !self.tx.pending().is_empty()
            || self.tx.owed() > 0
            || self.shutdown == Shutdown::Due
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called, if any deadline is armed (see `Config`'s timeouts).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Reports that the transport took the first `n` bytes of the last
    /// [`Transmit::Bytes`] (or of the owed external payload after
    /// [`Transmit::External`]). With an external payload owed, `n` may run
    /// on from the queued bytes into the payload: see
    /// [`send_external`](Self::send_external).
    pub fn transmitted(&mut self, n: usize) {
        self.tx.transmitted(n);
    }
}
