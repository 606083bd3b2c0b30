//! Typed errors, kept in two families that never mix.
//!
//! * [`ProtocolError`]: the peer broke a rule. One variant per violation, each
//!   mapped here, and only here, to the close code sent on the wire
//!   ([`ProtocolError::close_code`]) or, during a server's opening handshake, to
//!   the HTTP status of the answer ([`ProtocolError::http_status`]). Once raised
//!   a protocol error is sticky: the connection is failed and stays failed.
//! * [`UsageError`]: the caller asked for something the protocol or the
//!   connection's state does not allow (sending after Close, a ping over 125
//!   bytes, a header with a line break). Nothing is sent and the connection is
//!   unchanged, so the caller may correct itself and go on.
//!
//! A normal close is never an error: it arrives as `Event::Close` and
//! `Event::Closed`. Neither enum holds a `String`, so both are `Copy` and usable
//! without an allocator.

use core::fmt;

use crate::close::CloseCode;

/// A violation of RFC 6455 by the peer.
///
/// The variant names the rule; [`close_code`](Self::close_code) and
/// [`http_status`](Self::http_status) say how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    // ---- Opening handshake (RFC 6455 §4), both roles ----
    /// The request or response head grew past `Config::max_handshake_size`
    /// before its terminating empty line (431 on a server).
    HandshakeTooLarge,
    /// More header lines than `Config::max_headers` (431 on a server).
    TooManyHeaders,
    /// The HTTP head is not valid HTTP/1.x syntax (400 on a server).
    MalformedHttp,
    /// The head is not UTF-8 / ASCII where a token or value must be text.
    InvalidHeaderValue,

    // ---- Opening handshake, read by a server (§4.2.1) ----
    /// The request method is not GET.
    MethodNotGet,
    /// The request is HTTP/1.0; WebSocket needs HTTP/1.1 or later.
    HttpVersionTooOld,
    /// No Host header, or more than one.
    MissingHost,
    /// No `Upgrade` header whose token list holds `websocket`.
    MissingUpgrade,
    /// No `Connection` header whose token list holds `Upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or does not decode to 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not 13 (answered with 426 and
    /// `Sec-WebSocket-Version: 13`, §4.4).
    UnsupportedVersion,

    // ---- Opening handshake, read by a client (§4.1) ----
    /// A 101 response without `Sec-WebSocket-Accept`, with more than one, or
    /// with a value other than the one derived from our key.
    AcceptMismatch,
    /// The server selected a subprotocol the client did not offer, or more
    /// than one.
    UnofferedSubprotocol,
    /// The server accepted an extension the client did not offer.
    UnofferedExtension,
    /// A 1xx response other than 101 (the handshake cannot continue over it).
    UnexpectedInformational,
    /// The server's `Sec-WebSocket-Extensions` answer to our
    /// permessage-deflate offer breaks RFC 7692 §7 (an unknown, duplicated
    /// or out-of-range parameter, one we did not allow, or two answers).
    InvalidExtensionAnswer,

    // ---- Framing (§5.2) ----
    /// RSV1, RSV2 or RSV3 set with no extension that defines it.
    ReservedBits,
    /// Opcode 0x3-0x7 or 0xB-0xF.
    ReservedOpcode,
    /// A server received a frame without the mask bit (§5.1).
    UnmaskedFrame,
    /// A client received a frame with the mask bit (§5.1).
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set.
    LengthTopBitSet,
    /// A length encoded with more bytes than needed, when
    /// `Config::reject_non_minimal_lengths` is on.
    NonMinimalLength,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong,
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,

    // ---- Fragmentation (§5.4) ----
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    ExpectedContinuation,

    // ---- Data (§5.6, §8.1) ----
    /// A text message that is not valid UTF-8, detected at the first byte that
    /// proves it (1007).
    InvalidUtf8,
    /// A frame longer than `Config::max_frame_size` (1009).
    FrameTooLarge,
    /// A message longer than `Config::max_message_size` (1009); for a
    /// compressed message, its inflated size, checked while inflating.
    MessageTooLarge,
    /// A compressed message (RSV1, RFC 7692) whose payload is not valid
    /// DEFLATE data (1007).
    InvalidCompressedData,

    // ---- Close frames (§5.5.1, §7.4) ----
    /// A Close frame with a one-byte body.
    CloseBodyTooShort,
    /// A Close frame carrying a code that may not appear on the wire.
    InvalidCloseCode(u16),
    /// A Close frame whose reason is not UTF-8 (1007).
    InvalidCloseReason,

    // ---- Deadlines (`Config` timeouts, driven by `handle_timeout`) ----
    /// The opening handshake did not complete within
    /// `Config::handshake_timeout` (a server answers 408).
    HandshakeTimeout,
    /// No Pong arrived within `Config::keepalive_timeout` of a keepalive
    /// Ping (1011).
    KeepaliveTimeout,
    /// After our Close, the peer neither answered nor closed the transport
    /// within `Config::close_timeout`.
    CloseTimeout,
}

impl ProtocolError {
    /// The close code sent when this error fails an open connection
    /// (RFC 6455 §7.4.1).
    pub fn close_code(self) -> CloseCode {
        use ProtocolError::*;
        match self {
            InvalidUtf8 | InvalidCloseReason | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge | MessageTooLarge => CloseCode::TOO_BIG,
            // As Python's websockets does for a keepalive timeout.
            KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The HTTP status a server answers with when this error ends the opening
    /// handshake, or `None` for errors that cannot happen there.
    pub fn http_status(self) -> Option<u16> {
        use ProtocolError::*;
        match self {
            // RFC 6585 §5: Request Header Fields Too Large.
            HandshakeTooLarge | TooManyHeaders => Some(431),
            // RFC 6455 §4.2.2 / §4.4: 426 Upgrade Required, with the versions we speak.
            UnsupportedVersion => Some(426),
            // RFC 9110 §15.5.6.
            MethodNotGet => Some(405),
            // RFC 9110 §15.5.9: Request Timeout.
            HandshakeTimeout => Some(408),
            MalformedHttp
            | InvalidHeaderValue
            | HttpVersionTooOld
            | MissingHost
            | MissingUpgrade
            | MissingConnectionUpgrade
            | InvalidKey => Some(400),
            _ => None,
        }
    }

    /// A short, stable description, also used as the body of a 4xx answer.
    pub fn as_str(self) -> &'static str {
        use ProtocolError::*;
        match self {
            HandshakeTooLarge => "handshake head too large",
            TooManyHeaders => "too many header fields",
            MalformedHttp => "malformed HTTP head",
            InvalidHeaderValue => "header value is not valid text",
            MethodNotGet => "method must be GET",
            HttpVersionTooOld => "HTTP/1.1 or later required",
            MissingHost => "missing or repeated Host header",
            MissingUpgrade => "missing Upgrade: websocket",
            MissingConnectionUpgrade => "missing Connection: Upgrade",
            InvalidKey => "missing or invalid Sec-WebSocket-Key",
            UnsupportedVersion => "unsupported Sec-WebSocket-Version",
            AcceptMismatch => "missing or wrong Sec-WebSocket-Accept",
            UnofferedSubprotocol => "server chose a subprotocol that was not offered",
            UnofferedExtension => "server accepted an extension that was not offered",
            UnexpectedInformational => "unexpected 1xx response",
            InvalidExtensionAnswer => "invalid permessage-deflate answer",
            ReservedBits => "reserved bits set without a negotiated extension",
            ReservedOpcode => "reserved opcode",
            UnmaskedFrame => "client frame not masked",
            MaskedFrame => "server frame masked",
            LengthTopBitSet => "64-bit payload length with its top bit set",
            NonMinimalLength => "payload length not minimally encoded",
            ControlFrameTooLong => "control frame payload over 125 bytes",
            FragmentedControlFrame => "fragmented control frame",
            UnexpectedContinuation => "continuation frame with nothing to continue",
            ExpectedContinuation => "new data frame inside a fragmented message",
            InvalidUtf8 => "text is not valid UTF-8",
            FrameTooLarge => "frame exceeds the size limit",
            MessageTooLarge => "message exceeds the size limit",
            InvalidCompressedData => "compressed message is not valid DEFLATE data",
            CloseBodyTooShort => "close frame with a one-byte body",
            InvalidCloseCode(_) => "close code not allowed on the wire",
            InvalidCloseReason => "close reason is not valid UTF-8",
            HandshakeTimeout => "opening handshake timed out",
            KeepaliveTimeout => "no pong within the keepalive timeout",
            CloseTimeout => "closing handshake timed out",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidCloseCode(code) => write!(f, "{} ({code})", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// A request the caller made that the protocol or the connection's state
/// forbids. The connection is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsageError {
    /// Data, ping or pong before the handshake completed, or after a Close
    /// was sent or the connection closed.
    NotOpen,
    /// `close` after a Close was already sent (at most one per connection).
    CloseAlreadySent,
    /// `accept` or `reject` when no request is waiting for a decision, or on
    /// a client.
    NoPendingRequest,
    /// `accept` on a plain HTTP request (`Request::is_websocket` is false):
    /// it can only be answered with `reject`.
    NotAnUpgrade,
    /// The subprotocol passed to `accept` was not offered by the client.
    SubprotocolNotOffered,
    /// A header name that is not an HTTP token, or a name or value holding CR,
    /// LF or NUL (which would let a caller inject header lines).
    InvalidHeader,
    /// A subprotocol or extension offer that is not a valid token list.
    InvalidToken,
    /// The URI is not `ws://` or `wss://` with a host, or has a fragment
    /// (RFC 6455 §3).
    InvalidUri,
    /// `reject` with a status outside 200..=599, or a 101.
    InvalidStatus,
    /// More extra headers on an `Accept` than it holds without a heap
    /// (`Accept::MAX_HEADERS_WITHOUT_ALLOC`; only in builds without `alloc`).
    TooManyHeaders,
    /// A control frame payload (ping, pong, close reason plus code) over 125
    /// bytes (§5.5).
    ControlPayloadTooLong,
    /// A close code that may not be sent (1004-1006, 1015, below 1000, ...).
    InvalidCloseCode,
    /// A new message started while a fragmented one is unfinished, or a
    /// fragment of another kind than the message it continues.
    MessageInProgress,
    /// Text that is not valid UTF-8 as far as it goes.
    InvalidUtf8,
    /// Queuing this would grow the output past `Config::max_buffered_output`;
    /// write out what `poll_transmit` gives first.
    OutputFull,
    /// `send_into`: frames are queued; write out what `poll_transmit`
    /// gives first, so frames stay in order.
    OutputPending,
    /// `Connection::from_upgraded_*` with permessage-deflate agreed but
    /// `Config::deflate` unset: the compressor's settings live there.
    DeflateNotConfigured,
    /// `send_external` on a client: a client masks every frame with a fresh
    /// key (RFC 6455 §5.3), so its payloads pass through the engine; use
    /// `send`.
    ExternalOnClient,
    /// `send_external` while an earlier external payload is still owed
    /// (`Connection::external_owed`).
    ExternalPending,
    /// `send_external` for a fragment of a message that is being sent
    /// compressed: its frames continue one DEFLATE stream (RFC 7692 §6).
    ExternalInCompressedMessage,
    /// `buffer_external` given another number of bytes than
    /// `Connection::external_owed` (which is zero when none is owed).
    ExternalLengthMismatch,
}

impl UsageError {
    /// A short, stable description.
    pub fn as_str(self) -> &'static str {
        use UsageError::*;
        match self {
            NotOpen => "connection is not open for sending",
            CloseAlreadySent => "a close frame was already sent",
            NoPendingRequest => "no handshake request awaits a decision",
            NotAnUpgrade => "a plain HTTP request cannot be accepted as a WebSocket",
            SubprotocolNotOffered => "subprotocol was not offered by the client",
            InvalidHeader => "invalid header name or value",
            InvalidToken => "invalid token",
            InvalidUri => "not a valid ws:// or wss:// URI",
            InvalidStatus => "invalid HTTP status for a rejection",
            TooManyHeaders => "too many extra headers for an allocation-free Accept",
            ControlPayloadTooLong => "control frame payload over 125 bytes",
            InvalidCloseCode => "close code may not be sent",
            MessageInProgress => "a fragmented message is in progress",
            InvalidUtf8 => "text is not valid UTF-8",
            OutputFull => "output buffer is full",
            OutputPending => "queued output must be written first",
            DeflateNotConfigured => "permessage-deflate agreed but Config::deflate is not set",
            ExternalOnClient => "a client's frames are masked: send_external is for servers",
            ExternalPending => "an earlier external payload is still owed",
            ExternalInCompressedMessage => {
                "a compressed message cannot continue with an external payload"
            }
            ExternalLengthMismatch => "not as many bytes as the external payload still owed",
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}

#[cfg(feature = "std")]
impl std::error::Error for UsageError {}
