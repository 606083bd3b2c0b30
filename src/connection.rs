//! [`Connection`]: the engine, glue between the handshake, the receive path
//! and the send path. State transitions themselves live in `state.rs`.

#[cfg(feature = "deflate")]
use alloc::boxed::Box;

use crate::buffer::{write_head, Buffer, FixedBuffer};
use crate::close::{parse_close_body, CloseCode};
use crate::config::Config;
use crate::entropy::Entropy;
use crate::error::{ProtocolError, UsageError};
use crate::event::{Closed, Data, Event, MessageKind};
#[cfg(feature = "deflate")]
use crate::extensions::{
    compress::Deflater,
    deflate::{self, DeflateParams},
    inflate::{Inflater, Ready, MAX_COMPRESSED_CHUNK},
};
use crate::frame::{Opcode, MAX_CONTROL_PAYLOAD};
#[cfg(feature = "alloc")]
use crate::handshake::ClientRequest;
use crate::handshake::{
    accept_key, encode_key, parse_any_request, parse_response, write_accept, write_reject, Accept,
    BorrowedRequest, ClientHead, HeadReader, Request, Response,
};
use crate::recv::{Item, Receiver};
use crate::send::Sender;
use crate::state::{ClientHandshake, Phase, Rejection, Shutdown};
#[cfg(feature = "alloc")]
use crate::storage::Heap;
use crate::storage::{Fixed, FixedBuffers, Storage};
use crate::time::Instant;
use crate::timer::TimerTable;
use crate::utf8::Utf8Validator;

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
/// * **Commands**: [`accept`](Self::accept) / [`reject`](Self::reject) for a
///   server's pending request; [`send`](Self::send), [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`ping`](Self::ping),
///   [`pong`](Self::pong), [`close`](Self::close); for a server's large
///   payloads, [`send_external`](Self::send_external), which queues only
///   the header (the caller writes the payload). A command either queues
///   whole frames or returns a [`UsageError`] and changes nothing.
/// * **Outputs**: [`poll_transmit`](Self::poll_transmit) with
///   [`transmitted`](Self::transmitted), and
///   [`poll_timeout`](Self::poll_timeout), the next deadline.
///
/// Created by [`server`](Self::server) or [`client`](Self::client), which run
/// the HTTP/1.1 opening handshake, or by
/// [`from_upgraded`](Self::from_upgraded) when another library did the
/// handshake (hyper, axum, RFC 8441 over HTTP/2): it starts Open.
///
/// # The order of calls
///
/// After reading bytes into a buffer, call `handle_input` on the unused part
/// until it returns no event, acting on each event as it comes (an event
/// borrows the buffer and the connection until the next call). Then write
/// out everything `poll_transmit` gives. On EOF, call `handle_eof` and drain
/// `handle_input` with an empty slice. A connection always ends with exactly
/// one [`Event::Closed`]; after it, write out what remains and drop it.
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

/// What a step of the inflater means for `receive`.
#[cfg(feature = "deflate")]
enum Inflated {
    /// Nothing to hand out yet: read on.
    ReadOn,
    /// A chunk to hand out, or the error that fails the connection.
    Ready(Result<Ready, ProtocolError>),
}

#[cfg(feature = "deflate")]
impl Inflated {
    fn after(ready: Result<Option<Ready>, ProtocolError>, busy: bool) -> Self {
        match ready {
            // Still busy with nothing to show: stuck on its input. (Only
            // part of a code point, or a frame whose output filled the
            // buffer exactly at its end, leaves it not busy: read on.)
            Ok(None) if busy => Inflated::Ready(Err(ProtocolError::InvalidCompressedData)),
            Ok(None) => Inflated::ReadOn,
            Ok(Some(ready)) => Inflated::Ready(Ok(ready)),
            Err(error) => Inflated::Ready(Err(error)),
        }
    }
}

/// The two halves of permessage-deflate for one connection.
#[cfg(feature = "deflate")]
#[derive(Debug)]
struct DeflateState {
    params: DeflateParams,
    /// `None` when the agreed window is too small to compress with.
    deflater: Option<Deflater>,
    inflater: Inflater,
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

#[cfg(feature = "alloc")]
impl Connection<Heap> {
    /// A server waiting for an upgrade request, created at `now` (the
    /// opening handshake's deadline counts from here).
    pub fn server(config: Config, now: Instant) -> Self {
        Self::new_server(config, alloc::vec::Vec::new(), alloc::vec::Vec::new(), now)
    }

    /// A client whose upgrade request is queued for sending at once,
    /// created at `now` (the opening handshake's deadline counts from here).
    ///
    /// `entropy` supplies the Sec-WebSocket-Key nonce and every masking key
    /// (RFC 6455 §4.1, §5.3): use [`OsEntropy`](crate::OsEntropy) under `std`.
    /// Fails if the request cannot be written (a header with a line break, a
    /// subprotocol that is not a token).
    pub fn client(
        config: Config,
        request: ClientRequest,
        entropy: impl Entropy + Send + 'static,
        now: Instant,
    ) -> Result<Self, UsageError> {
        let entropy: alloc::boxed::Box<dyn Entropy + Send> = alloc::boxed::Box::new(entropy);
        // RFC 7692 §5: the engine makes the permessage-deflate offer itself,
        // so it knows what it may accept in the answer.
        #[cfg(feature = "deflate")]
        let request = match &config.deflate {
            Some(deflate) => request.extension(&deflate.offer()),
            None => request,
        };
        Self::new_client(
            config,
            request,
            entropy,
            alloc::vec::Vec::new(),
            alloc::vec::Vec::new(),
            now,
        )
    }
}

impl<'a> Connection<Fixed<'a>> {
    /// A server on the caller's buffers, with no allocation ever: the
    /// request head is read into `buffers.handshake`, frames are queued in
    /// `buffers.output` (see [`FixedBuffers`] for their sizes). Otherwise
    /// exactly [`Connection::server`], except that permessage-deflate is
    /// never agreed.
    pub fn server_in(config: Config, buffers: FixedBuffers<'a>, now: Instant) -> Self {
        Self::new_server(
            config,
            FixedBuffer::new(buffers.handshake),
            FixedBuffer::new(buffers.output),
            now,
        )
    }

    /// A client on the caller's buffers, with no allocation ever: its
    /// request is written into `buffers.output` at once, and the answer is
    /// read into `buffers.handshake`. `entropy` is the device's random
    /// source for the nonce and every masking key (RFC 6455 §10.3 wants it
    /// unpredictable: a hardware RNG, not a counter). Fails like
    /// [`Connection::client`], and with [`UsageError::OutputFull`] if the
    /// request does not fit `buffers.output`.
    pub fn client_in(
        config: Config,
        request: BorrowedRequest<'a>,
        entropy: &'a mut (dyn Entropy + Send),
        buffers: FixedBuffers<'a>,
        now: Instant,
    ) -> Result<Self, UsageError> {
        Self::new_client(
            config,
            request,
            entropy,
            FixedBuffer::new(buffers.handshake),
            FixedBuffer::new(buffers.output),
            now,
        )
    }
}

impl<S: Storage> Connection<S> {
    fn new_server(config: Config, handshake: S::Buf, output: S::Buf, now: Instant) -> Self {
        let reader = S::slot(HeadReader::new(handshake));
        let mut connection = Self::new(
            Role::Server,
            config,
            Phase::ReadingRequest(reader),
            None,
            output,
        );
        connection.start(now);
        connection
    }

    fn new_client(
        config: Config,
        request: S::Request,
        mut entropy: S::Entropy,
        handshake: S::Buf,
        output: S::Buf,
        now: Instant,
    ) -> Result<Self, UsageError> {
        // RFC 6455 §4.1: "a randomly selected 16-byte value that has been
        // base64-encoded"; "The nonce MUST be selected randomly for each
        // connection."
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let key = encode_key(&nonce);
        let expected_accept = accept_key(&key);
        let mut connection = Self::new(Role::Client, config, Phase::Closed, Some(entropy), output);
        request.write_head(&key, connection.tx.buffer_mut())?;
        connection.phase = Phase::AwaitingResponse(S::slot(ClientHandshake {
            head: HeadReader::new(handshake),
            request,
            expected_accept,
        }));
        connection.start(now);
        Ok(connection)
    }

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
            return Response::new(accepted.0.head(), &accepted.1).protocol();
        }
        let len = self.subprotocol?;
        let bytes = self.spare.as_slice().get(..len)?;
        // A token (checked on the way in), so ASCII.
        core::str::from_utf8(bytes).ok()
    }

    /// Keeps the first `len` bytes of `buffer` (the handshake's, now free)
    /// as the agreed subprotocol; the buffer becomes the spare one.
    pub(crate) fn keep_subprotocol_bytes(&mut self, mut buffer: S::Buf, len: Option<usize>) {
        buffer.shrink();
        self.subprotocol = len;
        self.spare = buffer;
    }

    /// Keeps `protocol` as the agreed subprotocol in `buffer` (the
    /// handshake's, now free), which becomes the spare buffer. On the heap
    /// the head's memory is given back first.
    pub(crate) fn keep_subprotocol(&mut self, mut buffer: S::Buf, protocol: Option<&str>) {
        buffer.release();
        self.subprotocol = match protocol {
            Some(p) if buffer.push_slice(p.as_bytes()) => Some(p.len()),
            _ => None,
        };
        self.spare = buffer;
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
        if self.has_queued_event() {
            return Input {
                consumed: 0,
                event: self.queued_event(),
            };
        }
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
    /// the connection dropped). Drain the resulting events with
    /// `handle_input(&mut [], now)`.
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
    /// (a keepalive Ping, a Close) or end the connection; drain the resulting
    /// events with `handle_input(&mut [], now)` and write out
    /// `poll_transmit`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.settle();
        while let Some(timer) = self.timers.pop_expired(self.now) {
            self.on_timeout(timer);
        }
    }

    /// Sets the time origin and arms the opening handshake's deadline.
    fn start(&mut self, now: Instant) {
        self.now = now;
        if let Some(timeout) = self.config.handshake_timeout {
            self.timers
                .set(crate::timer::Timer::Handshake, now + timeout);
        }
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn has_queued_event(&self) -> bool {
        matches!(self.phase, Phase::Rejected { lent: false, .. }) || self.closed_event.is_some()
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
        {
            // Output (or staged input) of an earlier chunk comes first.
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

    /// `receive` from a compressed chunk on: inflates it, and while that
    /// gives nothing to hand out yet (a block header, say), reads on. Apart
    /// from `receive`, which stays small for the uncompressed path (with
    /// this inlined there, 16-byte messages decoded 30% slower).
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn receive_compressed<'a>(
        &'a mut self,
        input: &'a mut [u8],
        mut consumed: usize,
        first: Item,
    ) -> Input<'a> {
        let mut item = first;
        let mut base = 0;
        loop {
            if let Item::Data {
                kind,
                start,
                end,
                fin,
                compressed: true,
            } = item
            {
                match self.feed_inflater(&input[base + start..base + end], kind, fin) {
                    Inflated::ReadOn => {}
                    Inflated::Ready(ready) => return self.inflated(consumed, ready, input.len()),
                }
            } else {
                return self.deliver(item, input, base, consumed);
            }
            base = consumed;
            let (used, next) = self.rx.receive(&mut input[base..], &self.config);
            consumed += used;
            if used > 0 {
                self.on_received();
            }
            item = match next {
                None => {
                    return Input {
                        consumed,
                        event: None,
                    }
                }
                Some(Ok(item)) => item,
                Some(Err(error)) => return self.fail_now(error, input.len()),
            };
        }
    }

    /// Goes on with what the inflater holds from earlier input; out of
    /// line, like `receive_compressed`.
    #[cfg(feature = "deflate")]
    #[cold]
    #[inline(never)]
    fn resume_inflater(&mut self) -> Inflated {
        let max = self.config.max_message_size;
        let Some(state) = self.deflate.as_deref_mut() else {
            return Inflated::ReadOn;
        };
        let ready = state.inflater.resume(max);
        Inflated::after(ready, state.inflater.is_busy())
    }

    /// Inflates one compressed chunk of the receiver's.
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn feed_inflater(&mut self, chunk: &[u8], kind: MessageKind, fin: bool) -> Inflated {
        let max = self.config.max_message_size;
        let Some(state) = self.deflate.as_deref_mut() else {
            // RSV1 is allowed only once deflate is enabled.
            return Inflated::Ready(Err(ProtocolError::ReservedBits));
        };
        let ready = state.inflater.feed(chunk, kind, fin, max);
        Inflated::after(ready, state.inflater.is_busy())
    }

    /// The event for what the inflater made of the input.
    #[cfg(feature = "deflate")]
    fn inflated<'a>(
        &'a mut self,
        consumed: usize,
        ready: Result<Ready, ProtocolError>,
        input_len: usize,
    ) -> Input<'a> {
        match ready {
            Err(error) => self.fail_now(error, input_len),
            Ok(Ready { kind, fin }) => Input {
                consumed,
                event: self.deflate.as_ref().map(|state| {
                    Event::Data(Data {
                        kind,
                        payload: state.inflater.chunk(),
                        fin,
                    })
                }),
            },
        }
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
                kind,
                start,
                end,
                fin,
                ..
            } => Event::Data(Data {
                kind,
                payload: &input[base + start..base + end],
                fin,
            }),
            Item::CarriedData { fin } => Event::Data(Data {
                kind: MessageKind::Text,
                payload: self.rx.carried(),
                fin,
            }),
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

    fn read_request<'a>(&'a mut self, input: &'a mut [u8]) -> Input<'a> {
        let Phase::ReadingRequest(reader) = &mut self.phase else {
            return Input {
                consumed: 0,
                event: None,
            };
        };
        let (consumed, complete) = match reader.feed(input, self.config.max_handshake_size) {
            Ok(progress) => progress,
            Err(error) => return self.fail_now(error, input.len()),
        };
        if !complete {
            return Input {
                consumed,
                event: None,
            };
        }
        let parsed = match parse_any_request(
            reader.head(),
            self.config.max_headers,
            self.config.plain_http_requests,
        ) {
            Ok(parsed) => parsed,
            Err(error) => return self.fail_now(error, input.len()),
        };
        let reader = core::mem::replace(&mut **reader, HeadReader::new(S::Buf::default()));
        self.phase = Phase::AwaitingDecision(S::slot((reader, parsed)));
        let Phase::AwaitingDecision(pending) = &self.phase else {
            return Input {
                consumed,
                event: None,
            };
        };
        let request = Request::new(pending.0.head(), &pending.1);
        Input {
            consumed,
            event: Some(Event::Request(request)),
        }
    }

    fn read_response<'a>(&'a mut self, input: &'a mut [u8]) -> Input<'a> {
        let mut consumed = 0;
        if let Phase::AwaitingResponse(handshake) = &mut self.phase {
            let (used, complete) = match handshake.head.feed(input, self.config.max_handshake_size)
            {
                Ok(progress) => progress,
                Err(error) => return self.fail_now(error, input.len()),
            };
            consumed = used;
            if !complete {
                return Input {
                    consumed,
                    event: None,
                };
            }
            let parsed = match parse_response(
                handshake.head.head(),
                self.config.max_headers,
                &handshake.expected_accept,
                &handshake.request,
            ) {
                Ok(parsed) => parsed,
                Err(error) => return self.fail_now(error, input.len()),
            };
            let head = core::mem::replace(&mut handshake.head, HeadReader::new(S::Buf::default()));
            if parsed.status() == 101 {
                #[cfg(feature = "deflate")]
                if let Some(verdict) = self.deflate_config().map(|config| {
                    let response = Response::new(head.head(), &parsed);
                    deflate::verify_answer(config, response.extensions())
                }) {
                    match verdict {
                        Ok(Some(params)) => self.enable_deflate(params),
                        Ok(None) => {}
                        // RFC 7692 §7.1: "the client MUST _Fail the
                        // WebSocket Connection_".
                        Err(error) => return self.fail_now(error, input.len()),
                    }
                }
                // The subprotocol is kept when the phase settles to Open;
                // until then `subprotocol()` reads it from the answer.
                self.phase = Phase::JustAccepted(S::slot((head, parsed)));
                self.on_open();
                // Bytes after the 101 in this input are frames: they stay in
                // `input` for the next call.
                let Phase::JustAccepted(accepted) = &self.phase else {
                    return Input {
                        consumed,
                        event: None,
                    };
                };
                let response = Response::new(accepted.0.head(), &accepted.1);
                return Input {
                    consumed,
                    event: Some(Event::Accepted(response)),
                };
            }
            let wanted = if matches!(parsed.status(), 204 | 304) {
                // RFC 9112 §6.3 rule 1: these end at the empty line after
                // their headers; waiting for a body would hang.
                0
            } else if parsed.is_chunked() {
                // A chunked body is not decoded: `Rejected` carries no body.
                0
            } else {
                // With no length the body runs to EOF (RFC 9112 §6.3).
                parsed
                    .content_length()
                    .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
            }
            .min(self.config.max_rejection_body);
            self.phase = Phase::ReadingRejection(S::slot(Rejection {
                head,
                parsed,
                wanted,
            }));
        }
        let Phase::ReadingRejection(rejection) = &mut self.phase else {
            return Input {
                consumed,
                event: None,
            };
        };
        let have = rejection.head.body().len();
        let take = (rejection.wanted - have).min(input.len() - consumed);
        let kept = rejection.head.push_body(&input[consumed..consumed + take]);
        if kept < take {
            // A fixed buffer is full: the body handed out is what it holds.
            rejection.wanted = have + kept;
        }
        if rejection.head.body().len() < rejection.wanted {
            return Input {
                consumed: input.len(),
                event: None,
            };
        }
        if let Phase::ReadingRejection(rejection) =
            core::mem::replace(&mut self.phase, Phase::Closed)
        {
            self.enter_rejected(rejection);
        }
        // Whatever follows the part of the body we keep is discarded.
        Input {
            consumed: input.len(),
            event: self.queued_event(),
        }
    }

    // ---- Commands ----

    /// Server: accepts the pending request, queuing the 101 answer.
    ///
    /// Fails if no request is pending, if the chosen subprotocol was not
    /// offered (RFC 6455 §4.2.2), or if an extra header is invalid.
    pub fn accept(&mut self, accept: Accept<'_>) -> Result<(), UsageError> {
        let Phase::AwaitingDecision(pending) = &self.phase else {
            return Err(UsageError::NoPendingRequest);
        };
        let request = Request::new(pending.0.head(), &pending.1);
        if !request.is_websocket() {
            return Err(UsageError::NotAnUpgrade);
        }
        #[cfg(feature = "deflate")]
        let agreed = self.deflate_config().and_then(|config| {
            let offers: alloc::vec::Vec<&str> = request.extensions().collect();
            deflate::negotiate(config, offers.iter().copied())
        });
        #[cfg(feature = "deflate")]
        let accept = match &agreed {
            Some((_, element)) => accept.header("Sec-WebSocket-Extensions", element),
            None => accept,
        };
        write_head(self.tx.buffer_mut(), |out| {
            write_accept(out, &request, &accept)
        })?;
        #[cfg(feature = "deflate")]
        if let Some((params, _)) = agreed {
            self.enable_deflate(params);
        }
        if let Phase::AwaitingDecision(pending) = core::mem::replace(&mut self.phase, Phase::Open) {
            let (reader, _) = S::unslot(pending);
            self.keep_subprotocol(reader.into_buffer(), accept.chosen_protocol());
        }
        self.on_open();
        Ok(())
    }

    /// Server: refuses the pending request with any status from 200 to 599,
    /// extra headers and a body; the connection then closes.
    pub fn reject(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), UsageError> {
        if !matches!(self.phase, Phase::AwaitingDecision(_)) {
            return Err(UsageError::NoPendingRequest);
        }
        write_head(self.tx.buffer_mut(), |out| {
            write_reject(out, status, headers, body)
        })?;
        self.finish(false, None);
        Ok(())
    }

    /// Sends one frame of a text or binary message.
    ///
    /// With `fin` false the message stays open and later calls continue it
    /// (same `kind`) until one with `fin` true. Text is checked as UTF-8 as
    /// far as it goes, and must end on a code point boundary with `fin`.
    pub fn send(&mut self, kind: MessageKind, payload: &[u8], fin: bool) -> Result<(), UsageError> {
        self.send_with(kind, payload, fin, Compression::Auto)
    }

    /// [`send`](Self::send), choosing whether the message may be compressed
    /// (with permessage-deflate agreed). The first frame of a message
    /// decides for all of it (RFC 7692 §6: RSV1 is on the first frame
    /// only); later fragments ignore `compression`.
    pub fn send_with(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<(), UsageError> {
        self.check_can_send()?;
        let opcode = self.fragment_opcode(kind)?;
        let utf8 = self.text_checked(payload, fin, kind == MessageKind::Text)?;
        self.queue_data(opcode, payload, fin, compression)?;
        self.fragment_sent(kind, fin, utf8);
        Ok(())
    }

    /// RFC 6455 §5.4: one message at a time; its continuations use opcode 0
    /// and the kind it began with.
    fn fragment_opcode(&self, kind: MessageKind) -> Result<Opcode, UsageError> {
        match (self.sending, kind) {
            (None, MessageKind::Text) => Ok(Opcode::Text),
            (None, MessageKind::Binary) => Ok(Opcode::Binary),
            (Some(sending), _) if sending == kind => Ok(Opcode::Continuation),
            (Some(_), _) => Err(UsageError::MessageInProgress),
        }
    }

    /// The sender's UTF-8 state after `payload`, when `check` (text that is
    /// not a whole `str`): valid as far as it goes, and ending on a code
    /// point with `fin`. Returned, not stored, so a refused send changes
    /// nothing.
    fn text_checked(
        &self,
        payload: &[u8],
        fin: bool,
        check: bool,
    ) -> Result<Utf8Validator, UsageError> {
        let mut utf8 = self.send_utf8.clone();
        if check {
            utf8.feed(payload).map_err(|_| UsageError::InvalidUtf8)?;
            if fin && !utf8.is_complete() {
                return Err(UsageError::InvalidUtf8);
            }
        }
        Ok(utf8)
    }

    /// A data frame of `kind` was queued.
    fn fragment_sent(&mut self, kind: MessageKind, fin: bool, utf8: Utf8Validator) {
        self.send_utf8 = utf8;
        self.sending = if fin { None } else { Some(kind) };
    }

    /// Sends a whole text message in one frame. Refused while a fragmented
    /// message is unfinished (it would otherwise end that message).
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_whole(MessageKind::Text, text.as_bytes())
    }

    /// Sends a whole binary message in one frame. Refused while a
    /// fragmented message is unfinished.
    pub fn send_binary(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_whole(MessageKind::Binary, payload)
    }

    /// Sends one frame of a text or binary message like [`send`](Self::send),
    /// except that the payload is not copied: the engine queues the frame's
    /// header, and the caller writes `payload` itself, from its own memory,
    /// right after the header. This is how a server sends a large payload
    /// with one vectored write (`writev`) and no copy.
    ///
    /// After it, [`poll_transmit`](Self::poll_transmit) hands out the bytes
    /// queued before the payload, then [`Transmit::External`] with the
    /// number of payload bytes still owed ([`external_owed`](Self::external_owed)),
    /// then what was queued after. [`transmitted`](Self::transmitted) counts
    /// in that same order, so one report may cover the queued bytes and part
    /// of the payload, as a vectored write of both returns. Until the payload
    /// is all reported, nothing queued after it is handed out, so the frame
    /// stays whole on the wire.
    ///
    /// A caller that cannot keep `payload` until it is written (the
    /// transport would block, a future is cancelled) hands the rest to
    /// [`buffer_external`](Self::buffer_external), which copies it in.
    /// Dropping the owed bytes instead corrupts the stream: the transport
    /// must then be closed.
    ///
    /// Refused on a client ([`UsageError::ExternalOnClient`]: its frames are
    /// masked, RFC 6455 §5.3), while another external payload is owed, and
    /// inside a message being sent compressed; otherwise it is checked like
    /// `send` (open, message order, UTF-8 for text). The message goes out
    /// uncompressed, as RFC 7692 §6 allows per message. Only the header is
    /// held to `Config::max_buffered_output`, so a payload larger than that
    /// limit may be sent this way.
    pub fn send_external(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), UsageError> {
        self.queue_external(kind, payload, fin, kind == MessageKind::Text)
    }

    /// [`send_external`](Self::send_external) for a whole text message:
    /// a `str` is UTF-8 already, so there is no pass over it.
    pub fn send_external_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.check_can_send()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        self.queue_external(MessageKind::Text, text.as_bytes(), true, false)
    }

    /// The checks and the header of an external frame; `check_utf8` unless
    /// the payload is a whole `str`.
    pub(crate) fn queue_external(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        check_utf8: bool,
    ) -> Result<(), UsageError> {
        self.check_can_send()?;
        if self.role == Role::Client {
            return Err(UsageError::ExternalOnClient);
        }
        if self.tx.owed() > 0 {
            return Err(UsageError::ExternalPending);
        }
        let opcode = self.fragment_opcode(kind)?;
        if opcode == Opcode::Continuation && self.sending_compressed {
            return Err(UsageError::ExternalInCompressedMessage);
        }
        let utf8 = self.text_checked(payload, fin, check_utf8)?;
        let limit = self.config.max_buffered_output;
        self.tx.queue_external(opcode, fin, payload.len(), limit)?;
        self.fragment_sent(kind, fin, utf8);
        self.sending_compressed = false;
        Ok(())
    }

    /// Copies `rest`, the last [`external_owed`](Self::external_owed) bytes
    /// of the payload given to [`send_external`](Self::send_external), into
    /// the output queue in its place, so the caller may let go of the
    /// payload: for a transport that would block, or a send that is
    /// cancelled. Not held to `Config::max_buffered_output` (the payload was
    /// accepted already); a fixed output buffer without room refuses with
    /// [`UsageError::OutputFull`], and then the payload is still owed.
    pub fn buffer_external(&mut self, rest: &[u8]) -> Result<(), UsageError> {
        self.tx.buffer_external(rest)
    }

    /// A whole message in one frame; `payload` is a `str`'s bytes when
    /// `kind` is text.
    #[inline(always)]
    fn send_whole(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), UsageError> {
        self.check_can_send()?;
        // RFC 6455 §5.4: a new message may not start inside another.
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        // No message is open, so the sender's UTF-8 state is at a boundary,
        // and a whole `str` leaves it there: no second pass over the text.
        let opcode = match kind {
            MessageKind::Text => Opcode::Text,
            MessageKind::Binary => Opcode::Binary,
        };
        self.queue_data(opcode, payload, true, Compression::Auto)
    }

    /// Queues one data frame, compressed when the message is (decided on
    /// its first frame). Leaves everything unchanged on error. Small and
    /// inlined: with deflate in use the work is in `queue_compressed`.
    #[inline(always)]
    fn queue_data(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Result<(), UsageError> {
        let mask = self.mask_key();
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            if let Some(queued) = self.queue_compressed(opcode, payload, fin, compression, mask) {
                return queued;
            }
        }
        let _ = compression;
        let limit = Some(self.config.max_buffered_output);
        self.tx.queue_frame(opcode, fin, payload, mask, limit)?;
        self.sending_compressed = false;
        Ok(())
    }

    /// The frame compressed, if this message is: `None` when it goes out
    /// plain. Out of line, so the plain path stays small (inlined, it made
    /// 16-byte sends 11% more instructions).
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn queue_compressed(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
        compression: Compression,
        mask: Option<[u8; 4]>,
    ) -> Option<Result<(), UsageError>> {
        let first = opcode != Opcode::Continuation;
        let deflater = self.deflate.as_mut()?.deflater.as_mut()?;
        let compress = match first {
            true => compression == Compression::Auto && deflater.wants(payload.len(), fin),
            false => self.sending_compressed,
        };
        if !compress {
            return None;
        }
        // Refuse for space before the stream is touched, or the peer's
        // inflater and ours would disagree.
        let limit = self.config.max_buffered_output;
        let worst = crate::frame::MAX_HEADER_LEN + Deflater::bound(payload.len());
        if !self.tx.has_room(worst, limit) {
            return Some(Err(UsageError::OutputFull));
        }
        let rsv = if first { crate::frame::RSV1 } else { 0 };
        self.tx
            .queue_frame_filled(opcode, fin, rsv, mask, limit, |out, cap| {
                deflater.compress_into(payload, fin, out, cap);
            });
        self.sending_compressed = !fin;
        Some(Ok(()))
    }

    /// The permessage-deflate settings, if this connection may use it:
    /// configured, and on a storage that can hold a compressor.
    #[cfg(feature = "deflate")]
    fn deflate_config(&self) -> Option<&crate::DeflateConfig> {
        self.config.deflate.as_ref().filter(|_| S::COMPRESSION)
    }

    /// Turns permessage-deflate on with what was agreed.
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_deflate(&mut self, params: DeflateParams) {
        let Some(config) = self.deflate_config() else {
            return;
        };
        let state = DeflateState {
            params,
            deflater: Deflater::new(config, &params),
            inflater: Inflater::new(&params),
        };
        self.rx.enable_compression(MAX_COMPRESSED_CHUNK);
        self.deflate = Some(Box::new(state));
    }

    /// Sends a Ping (payload at most 125 bytes, §5.5).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_control(Opcode::Ping, payload)
    }

    /// Sends a Pong: an unsolicited heartbeat, or a manual reply when
    /// `Config::auto_pong` is off (§5.5.3).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_control(Opcode::Pong, payload)
    }

    /// Starts (or, after the peer's Close, completes) the closing handshake.
    ///
    /// `code` must be valid on the wire (§7.4), or [`CloseCode::NO_STATUS`]
    /// with an empty reason for a Close frame without a body. The code and
    /// reason together take at most 125 bytes.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        self.settle();
        if self.close_sent.is_some() {
            return Err(UsageError::CloseAlreadySent);
        }
        if !matches!(self.phase, Phase::Open) {
            return Err(UsageError::NotOpen);
        }
        let empty = code == CloseCode::NO_STATUS && reason.is_empty();
        if !empty && !code.is_valid_on_wire() {
            return Err(UsageError::InvalidCloseCode);
        }
        if 2 + reason.len() > MAX_CONTROL_PAYLOAD {
            return Err(UsageError::ControlPayloadTooLong);
        }
        self.queue_close(code, reason);
        Ok(())
    }

    /// Queues a Close frame (never refused for space: see `send.rs`) and
    /// records it.
    pub(crate) fn queue_close(&mut self, code: CloseCode, reason: &str) {
        let mut body = [0u8; MAX_CONTROL_PAYLOAD];
        let len = if code == CloseCode::NO_STATUS {
            0
        } else {
            // Truncate on a char boundary: the reason must stay UTF-8.
            let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            body[..2].copy_from_slice(&code.0.to_be_bytes());
            body[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
            2 + end
        };
        // RFC 6455 §5.5.2: a Ping received before any Close is owed its
        // Pong, and nothing may follow our Close, so the Pong goes first.
        if let Some((pong, pong_len)) = self.tx.take_pong() {
            let mask = self.mask_key();
            let payload = &pong[..usize::from(pong_len)];
            let _ = self.tx.queue_frame(Opcode::Pong, true, payload, mask, None);
        }
        let mask = self.mask_key();
        // The frames a close needs always fit: the output limit is not
        // applied to them (at most 2 x 131 bytes past it).
        let _ = self
            .tx
            .queue_frame(Opcode::Close, true, &body[..len], mask, None);
        self.on_close_sent(code);
    }

    fn send_control(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), UsageError> {
        self.check_can_send()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(UsageError::ControlPayloadTooLong);
        }
        let mask = self.mask_key();
        let limit = Some(self.config.max_buffered_output);
        self.tx.queue_frame(opcode, true, payload, mask, limit)
    }

    fn check_can_send(&mut self) -> Result<(), UsageError> {
        self.settle();
        // RFC 6455 §6.1: "The endpoint MUST ensure the WebSocket connection is
        // in the OPEN state"; §5.5.1: no data after our Close.
        if !matches!(self.phase, Phase::Open) || self.close_sent.is_some() {
            return Err(UsageError::NotOpen);
        }
        Ok(())
    }

    /// A fresh key per frame for a client (§5.3), none for a server.
    pub(crate) fn mask_key(&mut self) -> Option<[u8; 4]> {
        let entropy = self.entropy.as_mut()?;
        let mut key = [0u8; 4];
        entropy.fill(&mut key);
        Some(key)
    }

    // ---- Outputs ----

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
