//! Encode once, send to many: [`PreparedMessage`], a server's whole
//! message framed once and shared by reference, and
//! [`Connection::send_prepared`], which queues it on a connection without
//! copying it (the caller writes its bytes, as after `send_external`).
//!
//! A server frame is the same bytes on every connection: servers do not
//! mask (RFC 6455 §5.1), so a broadcast (a chat room, a price feed) need
//! not be framed, or copied, once per member. A client masks every frame
//! with its own key (§5.3), so prepared messages are a server's only.
//!
//! # permessage-deflate
//!
//! A compressed frame depends on the compressor's history, which differs
//! per connection with context takeover (RFC 7692 §7.2.1). So a prepared
//! message always carries the plain frame, which every connection may send
//! (RFC 7692 §6: compression is chosen per message; an uncompressed one
//! does not touch the peer's window), and, when built with
//! [`PreparedMessage::with_deflate`], also one compressed from an empty
//! window. That one is sent only to connections that agreed to start every
//! message we send from an empty window (`server_no_context_takeover`,
//! our `local_no_context_takeover`) with a window at least as large as the
//! one it was compressed with: there the same compressed bytes are valid
//! for every peer. Elsewhere the plain frame goes.
//!
//! Cost: the plain frame is one allocation of the payload plus at most 10
//! bytes of header; the compressed one is compressed once, whatever the
//! number of connections. Sending one is a header-less queue entry and a
//! reference count.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::storage::Storage;
use super::{Connection, Role};
use crate::error::UsageError;
#[cfg(feature = "deflate")]
use crate::extensions::compress::Deflater;
#[cfg(feature = "deflate")]
use crate::extensions::deflate::{DeflateConfig, DeflateParams};
#[cfg(feature = "deflate")]
use crate::frame::RSV1;
use crate::frame::{FrameHeader, MessageKind, Opcode, MAX_HEADER_LEN};

/// A whole server message framed once, shared by reference: cloning it is
/// a reference count, and sending it
/// ([`Connection::send_prepared`]) copies nothing. A server frame is the
/// same bytes on every connection (servers do not mask, RFC 6455 §5.1); a
/// client masks every frame with its own key (§5.3), so prepared messages
/// are a server's only.
///
/// With permessage-deflate: a compressed frame depends on the compressor's
/// history, which differs per connection with context takeover (RFC 7692
/// §7.2.1). So a prepared message always carries the plain frame, which
/// every connection may send (RFC 7692 §6: compression is per message, and
/// an uncompressed one does not touch the peer's window), and, built with
/// [`with_deflate`](Self::with_deflate), also one compressed from an empty
/// window, sent only to connections that agreed to start every message we
/// send from an empty window (`server_no_context_takeover`) with a window at
/// least as large as the one it was compressed with.
///
/// ```
/// use hybi::{Config, Connection, Instant, MessageKind, PreparedMessage, Transmit};
///
/// let hello = PreparedMessage::text("hello, everyone");
/// # let mut conn = hybi::Connection::from_upgraded_server(Config::default(), hybi::Negotiated::new(), Instant::ZERO).unwrap();
/// // For each member's connection:
/// let owed = conn.send_prepared(&hello)?;
/// // Write `owed` when `poll_transmit` gives `Transmit::External`.
/// assert_eq!(owed, b"\x81\x0fhello, everyone");
/// assert_eq!(conn.poll_transmit(), Some(Transmit::External(owed.len())));
/// # Ok::<(), hybi::UsageError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    frames: Arc<Frames>,
}

#[derive(Debug)]
struct Frames {
    kind: MessageKind,
    payload_len: usize,
    /// Header and payload, unmasked, uncompressed.
    plain: Vec<u8>,
    /// Header and payload compressed from an empty window, with the
    /// window's size in bits.
    #[cfg(feature = "deflate")]
    compressed: Option<(Vec<u8>, u8)>,
}

impl PreparedMessage {
    /// A binary or text message; text must be UTF-8 (use
    /// [`text`](Self::text) for a `str`), or [`UsageError::InvalidUtf8`].
    pub fn new(kind: MessageKind, payload: &[u8]) -> Result<Self, UsageError> {
        if kind == MessageKind::Text && !crate::utf8::is_valid(payload) {
            return Err(UsageError::InvalidUtf8);
        }
        Ok(Self::build(kind, payload))
    }

    /// A text message.
    pub fn text(text: &str) -> Self {
        Self::build(MessageKind::Text, text.as_bytes())
    }

    /// A binary message.
    pub fn binary(payload: &[u8]) -> Self {
        Self::build(MessageKind::Binary, payload)
    }

    /// Also compressed once with `deflate`'s level and window, from an
    /// empty window, for the connections where those bytes are valid (see
    /// the type's docs). A message below
    /// `deflate.min_compress_size`, or one that would not shrink, keeps only
    /// its plain frame.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(self, deflate: &DeflateConfig) -> Self {
        let frames = &self.frames;
        let window = deflate.local_max_window_bits.clamp(9, 15);
        let params = DeflateParams {
            local_no_context_takeover: true,
            remote_no_context_takeover: false,
            local_max_window_bits: window,
            remote_max_window_bits: 15,
        };
        let payload = &frames.plain[frames.plain.len() - frames.payload_len..];
        if !Deflater::wants(deflate, payload.len(), true) {
            return self;
        }
        let mut deflater = Deflater::new(deflate, &params);
        let mut body = Vec::new();
        deflater.compress_into(payload, true, &mut body, usize::MAX);
        if body.len() >= payload.len() {
            return self;
        }
        let frame = encode(frames.kind, &body, RSV1);
        Self::from_frames(Frames {
            kind: frames.kind,
            payload_len: frames.payload_len,
            plain: frames.plain.clone(),
            compressed: Some((frame, window)),
        })
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.frames.kind
    }

    /// The message's length, uncompressed.
    pub fn len(&self) -> usize {
        self.frames.payload_len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.frames.payload_len == 0
    }

    fn build(kind: MessageKind, payload: &[u8]) -> Self {
        Self::from_frames(Frames {
            kind,
            payload_len: payload.len(),
            plain: encode(kind, payload, 0),
            #[cfg(feature = "deflate")]
            compressed: None,
        })
    }

    fn from_frames(frames: Frames) -> Self {
        PreparedMessage {
            frames: Arc::new(frames),
        }
    }

    /// The frame for a connection with `deflate` agreed (or not).
    #[cfg(feature = "deflate")]
    fn frame_for(&self, deflate: Option<DeflateParams>) -> &[u8] {
        match (&self.frames.compressed, deflate) {
            (Some((frame, window)), Some(agreed))
                if agreed.local_no_context_takeover && agreed.local_max_window_bits >= *window =>
            {
                frame
            }
            _ => &self.frames.plain,
        }
    }
}

/// One unmasked frame with FIN set: the header, then `payload`.
fn encode(kind: MessageKind, payload: &[u8], rsv: u8) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv,
        opcode: match kind {
            MessageKind::Text => Opcode::Text,
            MessageKind::Binary => Opcode::Binary,
        },
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    let mut frame = Vec::with_capacity(head_len + payload.len());
    frame.extend_from_slice(&head[..head_len]);
    frame.extend_from_slice(payload);
    frame
}

impl<S: Storage> Connection<S> {
    /// Queues a [`PreparedMessage`] without copying it, and returns the
    /// bytes the caller now owes the transport: write them when
    /// [`poll_transmit`](Self::poll_transmit) gives
    /// [`Transmit::External`](super::Transmit::External), exactly as after
    /// [`send_external`](Self::send_external) (the same ordering, the same
    /// [`transmitted`](Self::transmitted) and
    /// [`buffer_external`](Self::buffer_external)). Which frame that is,
    /// plain or compressed, depends on what this connection agreed (see
    /// [`PreparedMessage`]).
    ///
    /// Refused like `send_external`: on a client
    /// ([`UsageError::ExternalOnClient`]: it masks, RFC 6455 §5.3), while
    /// another external payload is owed, inside a fragmented message, or
    /// when not open. Nothing of the message counts against
    /// `Config::max_buffered_output`: it is not in the queue.
    pub fn send_prepared<'m>(
        &mut self,
        message: &'m PreparedMessage,
    ) -> Result<&'m [u8], UsageError> {
        self.check_can_send_whole()?;
        if self.role == Role::Client {
            return Err(UsageError::ExternalOnClient);
        }
        if self.tx.owed() > 0 {
            return Err(UsageError::ExternalPending);
        }
        #[cfg(feature = "deflate")]
        let frame = message.frame_for(self.deflate());
        #[cfg(not(feature = "deflate"))]
        let frame = &message.frames.plain[..];
        self.tx.queue_hole(frame.len());
        Ok(frame)
    }
}
