//! What the engine tells the application.
//!
//! Events borrow from the connection or from the caller's input buffer, so a
//! received payload is handed over where it lies, unmasked in place, without
//! a copy. An event lives until the next call on the connection.

use crate::close::CloseCode;
use crate::error::ProtocolError;
use crate::frame::MessageKind;
use crate::handshake::{Request, Response};

/// A piece of a data message, delivered as its bytes arrive.
///
/// A message is the concatenation of the payloads of its `Data` events, in
/// order, up to and including the one with `fin` set. Chunk boundaries follow
/// the input's chunking, not the sender's frames: the same bytes split
/// differently give the same message in different pieces.
///
/// A text chunk always holds whole code points (the engine carries an
/// unfinished one over to the next chunk), validated once by the engine as
/// it hands the chunk out: [`text`](Self::text) gives that `str`, with no
/// second check.
///
/// Built by the engine, or by [`new_text`](Self::new_text) /
/// [`new_binary`](Self::new_binary) (for feeding a
/// [`MessageAssembler`](crate::MessageAssembler) yourself); a text `Data`
/// always holds valid text.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    /// Text or binary, from the message's first frame.
    pub kind: MessageKind,
    /// The bytes, unmasked.
    pub payload: &'a [u8],
    /// This chunk ends the message.
    pub fin: bool,
    /// The payload as text, for a text chunk.
    text: Option<&'a str>,
    /// See [`rest_hint`](Self::rest_hint).
    rest: Option<usize>,
}

/// Chunks are equal when their kind, bytes and `fin` are: the size hint is
/// not part of what was received.
impl PartialEq for Data<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.payload == other.payload && self.fin == other.fin
    }
}

impl Eq for Data<'_> {}

impl<'a> Data<'a> {
    /// A chunk of a text message.
    pub fn new_text(text: &'a str, fin: bool) -> Self {
        Data {
            kind: MessageKind::Text,
            payload: text.as_bytes(),
            fin,
            text: Some(text),
            rest: None,
        }
    }

    /// A chunk of a binary message.
    pub fn new_binary(payload: &'a [u8], fin: bool) -> Self {
        Data {
            kind: MessageKind::Binary,
            payload,
            fin,
            text: None,
            rest: None,
        }
    }

    /// The chunk as text, for a chunk of a text message (`None` for
    /// binary). No check happens here: the engine validated the chunk as it
    /// handed it out.
    pub fn text(&self) -> Option<&'a str> {
        self.text
    }

    /// How many more bytes of this message the engine knows will follow
    /// this chunk: the rest of the message's final frame, whose header gave
    /// its length, when the message is not compressed (for text, up to 3
    /// bytes more: a code point may be held back). `None` when more frames
    /// may follow, for a compressed message, and for chunks built with
    /// [`new_text`](Self::new_text) / [`new_binary`](Self::new_binary).
    ///
    /// For reserving the whole message at once instead of growing a buffer
    /// chunk by chunk ([`MessageAssembler`](crate::MessageAssembler) does):
    /// the header's length already passed `Config::max_frame_size` and
    /// `max_message_size`, so the hint is bounded by them.
    pub fn rest_hint(&self) -> Option<usize> {
        self.rest
    }

    /// The chunk, with the engine's size hint.
    pub(crate) fn with_rest_hint(mut self, rest: Option<usize>) -> Self {
        self.rest = rest;
        self
    }
}

/// How a connection ended: always the last event of a connection, given once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// _The WebSocket Connection Close Code_ (RFC 6455 §7.1.5): the code in
    /// the first Close frame received, 1005 if it had none, 1006 if no Close
    /// frame was received (the peer vanished, the handshake failed, or this
    /// side failed the connection before the peer's Close).
    pub code: CloseCode,
    /// The closing handshake completed: a Close was both sent and received
    /// (§7.1.4).
    pub clean: bool,
    /// The peer's violation that made this side fail the connection, if that
    /// is how it ended. The Close frame sent carried `error.close_code()`.
    pub error: Option<ProtocolError>,
}

/// Something the application should know or act on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Server: a valid upgrade request. Call `accept` or `reject`; until
    /// then the connection consumes no input.
    Request(Request<'a>),
    /// Client: the server accepted the upgrade (a verified 101). The
    /// connection is open.
    Accepted(Response<'a>),
    /// Client: the server answered with another status (401, 403, a 3xx
    /// with `Location`, ...). `body` holds the start of the response body, up
    /// to `Config::max_rejection_body` bytes. `Closed` follows.
    Rejected {
        /// Status line and headers.
        response: Response<'a>,
        /// The first bytes of the body.
        body: &'a [u8],
    },
    /// A piece of a text or binary message.
    Data(Data<'a>),
    /// The peer sent a Ping with this payload. With `Config::auto_pong` the
    /// Pong is already queued.
    Ping(&'a [u8]),
    /// The peer sent a Pong with this payload.
    Pong(&'a [u8]),
    /// The peer sent a Close frame. `code` is `None` for an empty body.
    /// With `Config::auto_close_reply` the reply is already queued and
    /// `Closed` follows; otherwise call `close`.
    Close {
        /// The peer's status code.
        code: Option<CloseCode>,
        /// The peer's reason, valid UTF-8, possibly empty.
        reason: &'a str,
    },
    /// The connection is over; see [`Closed`]. Nothing follows.
    Closed(Closed),
}
