//! The commands that queue frames: data (copied, or external for a
//! server's large payloads), Ping, Pong and Close. Each either queues whole
//! frames or returns a [`UsageError`] and changes nothing.

use crate::close::CloseCode;
use crate::entropy::Entropy;
use crate::error::UsageError;
use crate::frame::MessageKind;
use crate::frame::{FrameHeader, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::copy_masked;
use crate::utf8::Utf8Validator;

use super::state::Phase;
use super::storage::Storage;
use super::{Compression, Connection, Role};

impl<S: Storage> Connection<S> {
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

    /// Encodes one frame of a text or binary message straight into `out`, a
    /// buffer the caller lends (its socket buffer, a batch of frames), not
    /// into the output queue: the header, then the payload, masked as it is
    /// copied for a client (RFC 6455 §5.3; one pass, copy and mask fused).
    /// Returns the frame's length: the caller writes `out[..n]` itself. So a
    /// payload is copied once on its way out instead of twice.
    ///
    /// Checked as [`send`](Self::send) is (open, message order, UTF-8 for
    /// text), and also: nothing may be queued, so frames stay in order
    /// ([`UsageError::OutputPending`]: write out `poll_transmit` first); the
    /// frame must fit `out` ([`UsageError::OutputFull`]; it is the payload
    /// plus at most 14 bytes). The frame is never compressed (RFC 7692 §6
    /// decides per message), so inside a message being sent compressed it
    /// is refused ([`UsageError::ExternalInCompressedMessage`]). On error
    /// nothing changed.
    pub fn send_into(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, UsageError> {
        self.encode_into(kind, payload, fin, out, kind == MessageKind::Text)
    }

    /// [`send_into`](Self::send_into) for a whole text message: a `str` is
    /// UTF-8 already, so there is no pass over it.
    pub fn send_text_into(&mut self, text: &str, out: &mut [u8]) -> Result<usize, UsageError> {
        self.check_can_send_whole()?;
        self.encode_into(MessageKind::Text, text.as_bytes(), true, out, false)
    }

    fn encode_into(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        out: &mut [u8],
        check_utf8: bool,
    ) -> Result<usize, UsageError> {
        self.check_can_send()?;
        if self.tx.buffered() > 0 || self.tx.owed() > 0 {
            return Err(UsageError::OutputPending);
        }
        let opcode = self.fragment_opcode(kind)?;
        if opcode == Opcode::Continuation && self.sending_compressed {
            return Err(UsageError::ExternalInCompressedMessage);
        }
        let mut header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            // The size is known before a key is drawn.
            mask: (self.role == Role::Client).then_some([0; 4]),
            payload_len: payload.len() as u64,
        };
        let frame_len = header.encoded_len() + payload.len();
        if out.len() < frame_len {
            return Err(UsageError::OutputFull);
        }
        let utf8 = self.text_checked(payload, fin, check_utf8)?;
        let mask = self.mask_key();
        header.mask = mask;
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        out[..head_len].copy_from_slice(&head[..head_len]);
        let body = &mut out[head_len..frame_len];
        match mask {
            Some(key) => copy_masked(body, payload, key, 0),
            None => body.copy_from_slice(payload),
        }
        self.fragment_sent(kind, fin, utf8);
        self.sending_compressed = false;
        Ok(frame_len)
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
    /// queued before the payload, then [`Transmit::External`](super::Transmit::External) with the
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

    /// `check_can_send`, and no fragmented message unfinished (RFC 6455
    /// §5.4: a new message may not start inside another).
    pub(super) fn check_can_send_whole(&mut self) -> Result<(), UsageError> {
        self.check_can_send()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        Ok(())
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
}
