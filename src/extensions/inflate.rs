//! The receiving half of permessage-deflate: compressed frame payloads in,
//! bounded chunks of the inflated message out.
//!
//! The receiver hands over each compressed chunk (at most
//! [`MAX_COMPRESSED_CHUNK`] bytes, unmasked in the caller's buffer). The
//! inflater works on it directly; only when its output buffer fills before
//! the chunk is used up does it copy the rest into a small staging buffer,
//! to go on from there on the next call. So memory per connection is fixed:
//! the staging buffer, the output buffer ([`OUTPUT_CHUNK`]) and the stream's
//! window, whatever the compression ratio. A few bytes that inflate to
//! gigabytes cost one output buffer at a time, and the message size is
//! counted as it is inflated: past `Config::max_message_size` the
//! connection fails with 1009 at once.
//!
//! Rules (RFC 7692 §7.2.2): after the last frame of a message, the four
//! bytes `00 00 ff ff` the sender removed are fed back in; with the peer's
//! no_context_takeover, the stream is reset after each message. A message
//! whose DEFLATE data ends with a final block (BFINAL, §7.2.3.3) ends the
//! stream: bytes after it in that message are ignored and the stream is
//! reset for the next message. Data that is not DEFLATE fails the
//! connection with 1007 (invalid frame payload data).
//!
//! Text is checked as UTF-8 on the inflated bytes, and every chunk handed
//! out is whole code points: an unfinished code point stays at the front of
//! the output buffer for the next chunk. Valid text before an error is
//! handed out first, as on the uncompressed path.

use alloc::vec;
use alloc::vec::Vec;

use flate2::{Decompress, FlushDecompress, Status};

use super::compress::TAIL;
use super::deflate::DeflateParams;
use crate::error::ProtocolError;
use crate::frame::MessageKind;

/// The most compressed bytes the receiver hands over at once; bounds the
/// staging buffer.
pub(crate) const MAX_COMPRESSED_CHUNK: usize = 16 * 1024;
/// The most inflated bytes in one `Data` event.
pub(crate) const OUTPUT_CHUNK: usize = 32 * 1024;

pub(crate) struct Inflater {
    /// Made at the first compressed message, with `window_bits`: a peer
    /// that never compresses costs no zlib state and no buffers.
    stream: Option<Decompress>,
    window_bits: u8,
    /// `remote_no_context_takeover`: reset after every message.
    reset_each_message: bool,
    /// Compressed bytes not yet inflated (a chunk's rest, then the tail).
    staged: Vec<u8>,
    staged_pos: usize,
    out: Vec<u8>,
    /// Inflated bytes in `out`.
    out_len: usize,
    /// Bytes at the front of `out` handed out by the last chunk.
    handed_out: usize,
    /// The last call filled `out`, so the stream may hold more output.
    maybe_more: bool,
    /// The message in progress, if any.
    kind: Option<MessageKind>,
    /// Its last compressed bytes (and the tail) have been fed.
    last_fed: bool,
    /// The stream ended (a BFINAL block) inside this message.
    stream_ended: bool,
    /// Inflated bytes of this message so far.
    message_len: u64,
    /// Compressed bytes of this message so far.
    message_input: u64,
    /// An error to report after the valid text before it was handed out.
    pending_error: Option<ProtocolError>,
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("kind", &self.kind)
            .field("message_len", &self.message_len)
            .finish_non_exhaustive()
    }
}

/// A chunk of inflated data is ready in [`Inflater::chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) kind: MessageKind,
    pub(crate) fin: bool,
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams) -> Self {
        // flate2 takes 9..=15; a stream made with an 8-bit window inflates
        // the same with a 9-bit one.
        let bits = params.remote_max_window_bits.clamp(9, 15);
        Inflater {
            stream: None,
            window_bits: bits,
            reset_each_message: params.remote_no_context_takeover,
            staged: Vec::new(),
            staged_pos: 0,
            out: Vec::new(),
            out_len: 0,
            handed_out: 0,
            maybe_more: false,
            kind: None,
            last_fed: false,
            stream_ended: false,
            message_len: 0,
            message_input: 0,
            pending_error: None,
        }
    }

    /// Work is left from earlier input: call [`resume`](Self::resume)
    /// before feeding more.
    pub(crate) fn is_busy(&self) -> bool {
        self.pending_error.is_some()
            || self.staged_pos < self.staged.len()
            || self.maybe_more
            || self.last_fed
    }

    /// The chunk described by the last [`Ready`].
    pub(crate) fn chunk(&self) -> &[u8] {
        &self.out[..self.handed_out]
    }

    /// Feeds one compressed chunk of a message of `kind` (`fin`: the
    /// message's last). The chunk is used up: what does not fit now is
    /// staged. Only call when not [`is_busy`](Self::is_busy).
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        kind: MessageKind,
        fin: bool,
        max_message_size: u64,
    ) -> Result<Option<Ready>, ProtocolError> {
        debug_assert!(!self.is_busy());
        if self.out.is_empty() {
            // The first compressed message: the buffers, once.
            self.out = vec![0; OUTPUT_CHUNK];
            self.staged.reserve(MAX_COMPRESSED_CHUNK + TAIL.len());
        }
        self.kind = Some(kind);
        self.message_input += chunk.len() as u64;
        self.begin_step();
        let used = self.inflate(chunk, max_message_size)?;
        self.staged.clear();
        self.staged_pos = 0;
        if self.pending_error.is_some() {
            return self.finish_step();
        }
        self.staged.extend_from_slice(&chunk[used..]);
        if fin {
            // RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the
            // tail end of the payload of the message." Except to an empty
            // payload: at a message's start the stream is at a byte
            // boundary, where those 4 bytes alone would begin a stored block
            // and leave the stream inside it; an empty payload can only mean
            // an empty message.
            if self.message_input > 0 {
                self.staged.extend_from_slice(&TAIL);
            }
            self.last_fed = true;
        }
        self.inflate_staged(max_message_size)?;
        self.finish_step()
    }

    /// Goes on with staged input or buffered output.
    pub(crate) fn resume(&mut self, max_message_size: u64) -> Result<Option<Ready>, ProtocolError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        self.begin_step();
        self.inflate_staged(max_message_size)?;
        self.finish_step()
    }

    /// Moves what the last chunk left (an unfinished code point) to the
    /// front of the output buffer.
    fn begin_step(&mut self) {
        if self.handed_out > 0 {
            self.out.copy_within(self.handed_out..self.out_len, 0);
            self.out_len -= self.handed_out;
            self.handed_out = 0;
        }
    }

    fn inflate_staged(&mut self, max_message_size: u64) -> Result<(), ProtocolError> {
        let staged = core::mem::take(&mut self.staged);
        let result = self.inflate(&staged[self.staged_pos..], max_message_size);
        self.staged = staged;
        self.staged_pos += result?;
        if self.staged_pos == self.staged.len() {
            self.staged.clear();
            self.staged_pos = 0;
        }
        Ok(())
    }

    /// Inflates from `input` into the free part of the output buffer until
    /// the input is used up or the buffer is full; returns the input used.
    fn inflate(&mut self, input: &[u8], max_message_size: u64) -> Result<usize, ProtocolError> {
        let mut used = 0;
        loop {
            if self.out_len == self.out.len() {
                self.maybe_more = true;
                return Ok(used);
            }
            let rest = &input[used..];
            if (rest.is_empty() && !self.maybe_more) || self.pending_error.is_some() {
                return Ok(used);
            }
            self.maybe_more = false;
            if self.stream_ended {
                // After a final block nothing more belongs to the stream.
                return Ok(input.len());
            }
            let bits = self.window_bits;
            let stream = self
                .stream
                .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
            let (in_before, out_before) = (stream.total_in(), stream.total_out());
            let status =
                stream.decompress(rest, &mut self.out[self.out_len..], FlushDecompress::Sync);
            let took = (stream.total_in() - in_before) as usize;
            let made = (stream.total_out() - out_before) as usize;
            let Ok(status) = status else {
                // What was inflated before the bad bits is handed out first,
                // as it would have been had the input come in smaller
                // pieces; then the error (1007). Nothing after it matters.
                if !self.take_output(made, max_message_size) {
                    self.pending_error = Some(ProtocolError::InvalidCompressedData);
                }
                return Ok(input.len());
            };
            used += took;
            if self.take_output(made, max_message_size) {
                return Ok(input.len());
            }
            if status == Status::StreamEnd {
                self.stream_ended = true;
            }
            if took == 0 && made == 0 {
                // The stream needs more input than there is.
                return Ok(used);
            }
        }
    }

    /// Counts `made` newly inflated bytes against the message's limit (RFC
    /// 6455 §10.4: the inflated size is what is limited, checked as it
    /// grows). Past it, only the bytes up to the limit are kept, to be
    /// handed out before the error (1009), as they would have been had the
    /// input come in smaller pieces; returns whether that happened.
    fn take_output(&mut self, made: usize, max_message_size: u64) -> bool {
        let allowed = max_message_size.saturating_sub(self.message_len);
        let keep = (made as u64).min(allowed);
        self.out_len += keep as usize;
        self.message_len += keep;
        if (made as u64) > allowed {
            self.pending_error = Some(ProtocolError::MessageTooLarge);
            return true;
        }
        false
    }

    /// Decides what to hand out after a step.
    fn finish_step(&mut self) -> Result<Option<Ready>, ProtocolError> {
        let Some(kind) = self.kind else {
            return Ok(None);
        };
        let complete = self.last_fed && !self.is_input_left() && !self.maybe_more;
        let mut deliver = self.out_len;
        if kind == MessageKind::Text {
            // Only where code points end is found here; the whole ones are
            // validated once, as the engine hands them out as `str`.
            match crate::utf8::split_unfinished(&self.out[..self.out_len]) {
                Ok(end) => {
                    deliver = end;
                    // A code point left unfinished at the end of the
                    // message (RFC 6455 §8.1).
                    if complete && end < self.out_len {
                        self.pending_error = Some(ProtocolError::InvalidUtf8);
                    }
                }
                // Bytes that cannot start valid text.
                Err(end) => {
                    deliver = end;
                    self.pending_error = Some(ProtocolError::InvalidUtf8);
                }
            }
        }
        if self.pending_error.is_some() {
            self.handed_out = deliver;
            self.out_len = deliver;
            self.kind = None;
            if deliver == 0 {
                return Err(self
                    .pending_error
                    .take()
                    .unwrap_or(ProtocolError::InvalidUtf8));
            }
            return Ok(Some(Ready { kind, fin: false }));
        }
        if complete {
            self.end_message();
        } else if deliver == 0 {
            return Ok(None);
        }
        self.handed_out = deliver;
        Ok(Some(Ready {
            kind,
            fin: complete,
        }))
    }

    fn is_input_left(&self) -> bool {
        self.staged_pos < self.staged.len()
    }

    fn end_message(&mut self) {
        self.kind = None;
        self.last_fed = false;
        self.message_len = 0;
        self.message_input = 0;
        if self.reset_each_message || self.stream_ended {
            if let Some(stream) = self.stream.as_mut() {
                stream.reset(false);
            }
            self.stream_ended = false;
        }
    }
}
