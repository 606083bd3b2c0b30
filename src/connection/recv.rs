//! The receive path: bytes in, frames out, from any chunking.
//!
//! [`Receiver`] turns the bytes after the handshake into [`Item`]s:
//! data chunks (streamed as they arrive, unmasked in place in the caller's
//! buffer), and whole control frames (at most 125 bytes, staged in a fixed
//! array). It enforces every per-frame and per-message rule of RFC 6455 §5:
//! masking direction, reserved bits, fragmentation order, size limits and
//! UTF-8. It knows nothing of the closing handshake; the connection does.
//!
//! Invariants:
//! * The bytes of the input are examined once: header bytes are copied into a
//!   14-byte array only when a header straddles two inputs; payload bytes are
//!   unmasked and validated in place, once.
//! * Any split of the input gives the same sequence of items once adjacent
//!   data chunks are joined: every check runs at a point fixed by the byte
//!   stream (a complete header, a complete control frame, the byte that
//!   proves text invalid), never at a point fixed by the chunking.
//! * After an error the receiver must not be fed again (the connection
//!   discards input once failed).
//!
//! Cost: O(1) work per header, one pass per payload byte (unmask + UTF-8 for
//! text), no allocation.

use crate::config::Config;
use crate::error::ProtocolError;
use crate::frame::MessageKind;
use crate::frame::{FrameHeader, Opcode, Parsed, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, RSV1};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

/// One item from the receiver, as positions rather than borrows so the
/// connection can change state before it lends the bytes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// Data at `input[start..end]`, unmasked. `compressed`: raw DEFLATE
    /// data of a compressed message (RFC 7692), not yet checked as text.
    Data {
        kind: MessageKind,
        start: usize,
        end: usize,
        fin: bool,
        compressed: bool,
    },
    /// Data that is the code point completed across chunks:
    /// [`Receiver::carried`].
    CarriedData { fin: bool },
    /// A Ping; payload in [`Receiver::control_payload`].
    Ping,
    /// A Pong; payload in [`Receiver::control_payload`].
    Pong,
    /// A Close; its raw body in [`Receiver::control_payload`].
    Close,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: Opcode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    /// Payload bytes read so far.
    pos: u64,
}

impl InFrame {
    fn remaining(&self) -> u64 {
        self.len - self.pos
    }
}

#[derive(Debug)]
pub(crate) struct Receiver {
    /// Frames from the peer must be masked (we are the server, §5.1).
    expect_masked: bool,
    /// RSV bits a negotiated extension gives meaning to; none in RFC 6455.
    allowed_rsv: u8,
    /// With permessage-deflate: the most payload bytes of a compressed
    /// message handed out at once (bounds the inflater's staging).
    compressed_chunk_limit: usize,
    /// The message in progress is compressed (RSV1 on its first frame).
    compressed: bool,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    frame: Option<InFrame>,
    /// The data message in progress (its first frame has been seen and its
    /// last has not).
    message: Option<MessageKind>,
    message_len: u64,
    utf8: Utf8Validator,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
    /// An error to report on the next call, after the valid text before it
    /// was delivered.
    pending_error: Option<ProtocolError>,
}

/// `(bytes consumed, item)`. With no item, all the input was consumed.
pub(crate) type Step = (usize, Option<Result<Item, ProtocolError>>);

/// What one case of `receive` decided.
enum Flow {
    /// Hand this step out.
    Done(Step),
    /// Read on from this position of the input.
    Next(usize),
}

impl Receiver {
    pub(crate) fn new(expect_masked: bool) -> Self {
        Receiver {
            expect_masked,
            allowed_rsv: 0,
            compressed_chunk_limit: usize::MAX,
            compressed: false,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            message_len: 0,
            utf8: Utf8Validator::new(),
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            pending_error: None,
        }
    }

    /// permessage-deflate was agreed: RSV1 marks a compressed message
    /// (RFC 7692 §6), whose payload is handed out `chunk_limit` bytes at a
    /// time at most and is not checked as text here.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn enable_compression(&mut self, chunk_limit: usize) {
        self.allowed_rsv |= RSV1;
        self.compressed_chunk_limit = chunk_limit.max(1);
    }

    /// Reads from `input` until one item is ready or the input is used up.
    ///
    /// One loop over frames; what to do with the current frame's bytes is
    /// one helper per case (a control frame, an empty data frame, a
    /// compressed chunk, the byte that completes a carried code point, a
    /// data chunk), each inlined, so the loop reads as the cases it has.
    #[inline(always)]
    pub(crate) fn receive(&mut self, input: &mut [u8], config: &Config) -> Step {
        if let Some(error) = self.pending_error.take() {
            return (0, Some(Err(error)));
        }
        if self.frame.is_none() && self.header_len == 0 && self.message.is_none() {
            if let Some(step) = self.whole_frame(input, config) {
                return step;
            }
        }
        let mut pos = 0;
        loop {
            let frame = match self.frame {
                Some(frame) => frame,
                None => match self.next_frame(input, &mut pos, config) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return (input.len(), None),
                    Err(error) => return (input.len(), Some(Err(error))),
                },
            };
            let flow = if frame.opcode.is_control() {
                self.control_chunk(frame, input, pos)
            } else {
                // A data frame: text, binary, or a continuation of either.
                let kind = self.message.unwrap_or(MessageKind::Binary);
                if frame.remaining() == 0 {
                    self.empty_frame(frame, kind, pos, input.len())
                } else if pos == input.len() {
                    Flow::Done((pos, None))
                } else if self.compressed {
                    self.compressed_chunk(frame, kind, input, pos)
                } else if kind == MessageKind::Text && !self.utf8.is_complete() {
                    self.carried_byte(frame, input, pos)
                } else {
                    self.data_chunk(frame, kind, input, pos)
                }
            };
            match flow {
                Flow::Done(step) => return step,
                Flow::Next(next) => pos = next,
            }
        }
    }

    /// The header of the next frame, from `input[*pos..]` (moving `pos`
    /// past it), checked and begun; `None` when the input ends inside it.
    #[inline(always)]
    fn next_frame(
        &mut self,
        input: &[u8],
        pos: &mut usize,
        config: &Config,
    ) -> Result<Option<InFrame>, ProtocolError> {
        match self.read_header(&input[*pos..], config)? {
            (used, None) => {
                debug_assert_eq!(*pos + used, input.len());
                Ok(None)
            }
            (used, Some(header)) => {
                *pos += used;
                self.begin_frame(header, config).map(Some)
            }
        }
    }

    /// A control frame's payload is staged whole (at most 125 bytes) and
    /// handed out once complete.
    #[inline(always)]
    fn control_chunk(&mut self, frame: InFrame, input: &[u8], mut pos: usize) -> Flow {
        let start = frame.pos as usize;
        let take = (frame.remaining() as usize).min(input.len() - pos);
        let dest = &mut self.control[start..start + take];
        dest.copy_from_slice(&input[pos..pos + take]);
        if let Some(key) = frame.mask {
            apply_mask(dest, key, frame.pos);
        }
        pos += take;
        self.advance(frame, take);
        if self.frame.is_some() {
            return Flow::Done((pos, None));
        }
        self.control_len = frame.len as usize;
        let item = match frame.opcode {
            Opcode::Ping => Item::Ping,
            Opcode::Pong => Item::Pong,
            _ => Item::Close,
        };
        Flow::Done((pos, Some(Ok(item))))
    }

    /// An empty data frame: only its FIN matters.
    #[inline(always)]
    fn empty_frame(&mut self, frame: InFrame, kind: MessageKind, pos: usize, len: usize) -> Flow {
        self.frame = None;
        if !frame.fin {
            return Flow::Next(pos);
        }
        let compressed = self.compressed;
        if !compressed && !self.utf8.is_complete() {
            // RFC 6455 §5.6: "the whole message MUST contain valid UTF-8";
            // it ended inside a code point.
            return Flow::Done((len, Some(Err(ProtocolError::InvalidUtf8))));
        }
        self.end_message();
        let data = Item::Data {
            kind,
            start: pos,
            end: pos,
            fin: true,
            compressed,
        };
        Flow::Done((pos, Some(Ok(data))))
    }

    /// RFC 7692: the payload is DEFLATE data, handed out in bounded chunks;
    /// the inflater checks the text it inflates to.
    #[inline(always)]
    fn compressed_chunk(
        &mut self,
        frame: InFrame,
        kind: MessageKind,
        input: &mut [u8],
        start: usize,
    ) -> Flow {
        let remaining = frame.remaining();
        let take = remaining
            .min((input.len() - start) as u64)
            .min(self.compressed_chunk_limit as u64) as usize;
        let ends_message = frame.fin && take as u64 == remaining;
        let end = start + take;
        if let Some(key) = frame.mask {
            apply_mask(&mut input[start..end], key, frame.pos);
        }
        self.advance(frame, take);
        if ends_message {
            self.end_message();
        }
        let data = Item::Data {
            kind,
            start,
            end,
            fin: ends_message,
            compressed: true,
        };
        Flow::Done((end, Some(Ok(data))))
    }

    /// Finishes the code point the previous text chunk left open, alone, so
    /// every text chunk handed out is whole code points.
    #[inline(always)]
    fn carried_byte(&mut self, frame: InFrame, input: &mut [u8], pos: usize) -> Flow {
        let byte = &mut input[pos..pos + 1];
        if let Some(key) = frame.mask {
            apply_mask(byte, key, frame.pos);
        }
        self.advance(frame, 1);
        let ends_message = frame.fin && frame.remaining() == 1;
        match self.utf8.feed(byte) {
            Err(_) => Flow::Done((input.len(), Some(Err(ProtocolError::InvalidUtf8)))),
            // Still inside the code point; at the message's end, invalid.
            Ok(split) if split.completing == 0 => match ends_message {
                true => Flow::Done((input.len(), Some(Err(ProtocolError::InvalidUtf8)))),
                false => Flow::Next(pos + 1),
            },
            Ok(_) => {
                if ends_message {
                    self.end_message();
                }
                let data = Item::CarriedData { fin: ends_message };
                Flow::Done((pos + 1, Some(Ok(data))))
            }
        }
    }

    /// A chunk of a data frame's payload: unmasked in place and, for text,
    /// validated as far as it goes (an unfinished code point at its end is
    /// carried over).
    #[inline(always)]
    fn data_chunk(
        &mut self,
        frame: InFrame,
        kind: MessageKind,
        input: &mut [u8],
        start: usize,
    ) -> Flow {
        let remaining = frame.remaining();
        let take = remaining.min((input.len() - start) as u64) as usize;
        let ends_message = frame.fin && take as u64 == remaining;
        let pos = start + take;
        let chunk = &mut input[start..pos];
        if let Some(key) = frame.mask {
            apply_mask(chunk, key, frame.pos);
        }
        self.advance(frame, take);
        let mut deliver = take;
        if kind == MessageKind::Text {
            // Only the structure is checked here; the run of whole code
            // points is validated once, as `deliver` hands it out as `str`.
            match self.utf8.feed_deferred(chunk) {
                Ok(split) => {
                    deliver = split.valid;
                    if ends_message && !self.utf8.is_complete() {
                        // The message ended inside a code point (§5.6).
                        self.pending_error = Some(ProtocolError::InvalidUtf8);
                    }
                }
                Err(error) => {
                    // RFC 6455 §8.1: fail as soon as the text is known
                    // invalid; the valid text before it is delivered first.
                    deliver = error.valid_prefix;
                    self.pending_error = Some(ProtocolError::InvalidUtf8);
                }
            }
        }
        if self.pending_error.is_some() {
            if deliver == 0 {
                return Flow::Done((input.len(), self.pending_error.take().map(Err)));
            }
            let data = Item::Data {
                kind,
                start,
                end: start + deliver,
                fin: false,
                compressed: false,
            };
            return Flow::Done((input.len(), Some(Ok(data))));
        }
        if deliver == 0 {
            // Only the start of a code point arrived; it is carried over.
            return Flow::Next(pos);
        }
        if ends_message {
            self.end_message();
        }
        let data = Item::Data {
            kind,
            start,
            end: start + deliver,
            fin: ends_message,
            compressed: false,
        };
        Flow::Done((pos, Some(Ok(data))))
    }

    /// The fast path, for the most common input between messages: a whole
    /// unfragmented text or binary frame at the start of `input`, with no
    /// RSV bits, masked as expected, a 7- or 16-bit length (minimal) and
    /// within the limits. It is returned in one step, with no state written:
    /// nothing of it outlives the call. Anything else, and invalid text,
    /// returns `None` with `input` as it was, for the general path (which
    /// gives the same item for such a frame, and finds every error).
    /// Measured on 16-byte messages (perf/, callgrind): `handle_input` went
    /// from about 400 to about 210 instructions per message.
    #[inline(always)]
    fn whole_frame(&mut self, input: &mut [u8], config: &Config) -> Option<Step> {
        let [b0, b1, ..] = *input else {
            return None;
        };
        let kind = match b0 {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        if (b1 & 0x80 != 0) != self.expect_masked {
            return None;
        }
        let (len, mut start) = match b1 & 0x7f {
            126 => {
                let [_, _, high, low, ..] = *input else {
                    return None;
                };
                match usize::from(u16::from_be_bytes([high, low])) {
                    // Not minimal: the general path decides (a setting).
                    ..=125 => return None,
                    len => (len, 4),
                }
            }
            127 => return None,
            short => (usize::from(short), 2),
        };
        let key = match self.expect_masked {
            true => {
                let key: [u8; 4] = input.get(start..start + 4)?.try_into().ok()?;
                start += 4;
                Some(key)
            }
            false => None,
        };
        let end = start + len;
        let limit = config.max_frame_size.min(config.max_message_size);
        if end > input.len() || len as u64 > limit {
            return None;
        }
        let payload = input.get_mut(start..end)?;
        if let Some(key) = key {
            apply_mask(payload, key, 0);
        }
        // Text is validated once, as `deliver` hands it out as `str`; a
        // failure there gives the same events the general path would.
        let data = Item::Data {
            kind,
            start,
            end,
            fin: true,
            compressed: false,
        };
        Some((end, Some(Ok(data))))
    }

    /// The text just handed out turned out invalid from its byte `valid`
    /// on (RFC 6455 §8.1): the valid part went out, the connection fails at
    /// the next call.
    pub(crate) fn fail_later(&mut self, error: ProtocolError) {
        self.pending_error = Some(error);
    }

    /// Whether a failure waits to be reported (see [`fail_later`](Self::fail_later)).
    #[cfg(feature = "deflate")]
    pub(crate) fn has_pending_error(&self) -> bool {
        self.pending_error.is_some()
    }

    /// The failure waiting to be reported, taken.
    pub(crate) fn take_pending_error(&mut self) -> Option<ProtocolError> {
        self.pending_error.take()
    }

    /// The payload of the last control frame returned.
    pub(crate) fn control_payload(&self) -> &[u8] {
        &self.control[..self.control_len]
    }

    /// The code point returned by the last [`Item::CarriedData`].
    pub(crate) fn carried(&self) -> &[u8] {
        self.utf8.completed()
    }

    /// Applies the rules that need the connection's context to a new frame
    /// header, and makes it the current frame.
    fn begin_frame(
        &mut self,
        header: FrameHeader,
        config: &Config,
    ) -> Result<InFrame, ProtocolError> {
        // RFC 6455 §5.2: "If a nonzero value is received and none of the
        // negotiated extensions defines the meaning of such a nonzero value,
        // the receiving endpoint MUST _Fail the WebSocket Connection_."
        if header.rsv & !self.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        // RFC 7692 §6.1: RSV1 marks a compressed message on its first frame
        // only; "An endpoint MUST NOT set the "Per-Message Compressed" bit of
        // control frames and non-first fragments of a data message", and a
        // receiver fails the connection on one.
        let rsv1 = header.rsv & RSV1 != 0;
        if rsv1 && (header.opcode == Opcode::Continuation || header.opcode.is_control()) {
            return Err(ProtocolError::ReservedBits);
        }
        // RFC 6455 §5.1: "a server MUST close the connection upon receiving a
        // frame that is not masked" and "A client MUST close a connection if
        // it detects a masked frame."
        match (self.expect_masked, header.mask.is_some()) {
            (true, false) => return Err(ProtocolError::UnmaskedFrame),
            (false, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if !header.opcode.is_control() {
            match (header.opcode, self.message) {
                // RFC 6455 §5.4: a fragmented message starts with a non-zero
                // opcode and continues with opcode 0 ...
                (Opcode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
                (Opcode::Continuation, Some(_)) => {}
                // ... and "The fragments of one message MUST NOT be
                // interleaved between the fragments of another message".
                (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                (Opcode::Text, None) => self.message = Some(MessageKind::Text),
                (_, None) => self.message = Some(MessageKind::Binary),
            }
            if header.opcode != Opcode::Continuation {
                self.compressed = rsv1;
            }
            // RFC 6455 §10.4: limits on frame size and total message size.
            // DEFLATE makes incompressible data slightly larger: 5 bytes per
            // stored block, and zlib's blocks shrink with its memLevel (0.2%
            // from Python's websockets, up to 1% at memLevel 1). So a message
            // at the limit must not be refused once compressed: compressed
            // bytes get 1/64 of slack. The inflated size is held to the
            // exact limit by the inflater.
            // (The slack is only worked out past the plain limit, so the
            // common case costs one comparison.)
            let past = |len: u64, limit: u64| {
                len > limit
                    && (!self.compressed
                        || len > limit.saturating_add(limit / 64).saturating_add(64))
            };
            if past(header.payload_len, config.max_frame_size) {
                return Err(ProtocolError::FrameTooLarge);
            }
            let total = self.message_len.saturating_add(header.payload_len);
            if past(total, config.max_message_size) {
                return Err(ProtocolError::MessageTooLarge);
            }
            self.message_len = total;
        }
        let frame = InFrame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            len: header.payload_len,
            pos: 0,
        };
        self.frame = Some(frame);
        Ok(frame)
    }

    /// Records `n` more payload bytes of `frame` as read.
    fn advance(&mut self, frame: InFrame, n: usize) {
        let pos = frame.pos + n as u64;
        self.frame = (pos < frame.len).then_some(InFrame { pos, ..frame });
    }

    /// How many more bytes of the data message in progress are known to
    /// follow: the rest of its final frame, when that frame is not
    /// compressed (plus the at most 3 bytes of a code point held back, for
    /// text). `None` while more frames may follow. A hint for reserving the
    /// whole message at once; bounded by the size limits the frame's header
    /// already passed.
    pub(crate) fn rest_hint(&self) -> Option<usize> {
        let frame = self.frame?;
        if !frame.fin || frame.opcode.is_control() || self.compressed {
            return None;
        }
        let held_back = match self.message {
            Some(MessageKind::Text) => 3,
            _ => 0,
        };
        usize::try_from(frame.remaining())
            .ok()
            .map(|rest| rest.saturating_add(held_back))
    }

    /// A message ended on a code point boundary (checked by the caller), so
    /// the validator is already ready for the next one.
    fn end_message(&mut self) {
        self.message = None;
        self.message_len = 0;
        self.compressed = false;
    }

    /// Gathers header bytes: returns how many bytes of `input` it used, and
    /// the header once complete (then it used only the header's bytes).
    #[inline(always)]
    fn read_header(
        &mut self,
        input: &[u8],
        config: &Config,
    ) -> Result<(usize, Option<FrameHeader>), ProtocolError> {
        if self.header_len == 0 {
            // Fast path: the whole header is in this input, read in place.
            if let Parsed::Complete(header, len) = FrameHeader::parse(input)? {
                check_minimal(&header, len, config)?;
                return Ok((len, Some(header)));
            }
        }
        // Slow path: the header straddles inputs; gather exactly its bytes,
        // as many as `parse` says it still needs (at most 14 in all).
        let mut used = 0;
        loop {
            match FrameHeader::parse(&self.header[..self.header_len])? {
                Parsed::Complete(header, len) => {
                    self.header_len = 0;
                    check_minimal(&header, len, config)?;
                    return Ok((used, Some(header)));
                }
                Parsed::Partial(need) => {
                    let take = need.saturating_sub(self.header_len).min(input.len() - used);
                    if take == 0 {
                        return Ok((used, None));
                    }
                    self.header[self.header_len..self.header_len + take]
                        .copy_from_slice(&input[used..used + take]);
                    self.header_len += take;
                    used += take;
                }
            }
        }
    }
}

/// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
/// length". Enforced on received frames only when configured (see
/// `Config::reject_non_minimal_lengths`).
fn check_minimal(header: &FrameHeader, len: usize, config: &Config) -> Result<(), ProtocolError> {
    if config.reject_non_minimal_lengths && !header.is_minimal(len) {
        return Err(ProtocolError::NonMinimalLength);
    }
    Ok(())
}
