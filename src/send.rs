//! The send path: frames encoded into one bounded output buffer.
//!
//! [`Sender`] owns the bytes waiting to be written. Commands append whole
//! frames; `poll_transmit` hands out the unwritten part; `transmitted(n)`
//! retires what the transport took. The buffer is reused, so once it reached
//! its working size sending allocates nothing.
//!
//! Invariants:
//! * The buffer holds whole frames only, so a frame queued later never lands
//!   inside another.
//! * `len - written <= max_buffered_output`, except for the frames a close
//!   needs: the one Close and the Pong owed ahead of it (at most 2 x 131
//!   bytes past the limit), always allowed so a connection can end even when
//!   the peer stopped reading.
//! * A failed command leaves the buffer untouched.
//! * Bytes before `written` are never handed out again: they were written,
//!   or are the gap (at most 63 bytes) that co-aligns a large unmasked
//!   payload with its source when the buffer was empty.

use crate::buffer::Buffer;
use crate::error::UsageError;
use crate::frame::{FrameHeader, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
#[cfg(feature = "deflate")]
use crate::mask::apply_mask;
use crate::mask::copy_masked;

/// Unmasked payloads at least this long are copied to an address equal to
/// their source's modulo [`CO_ALIGN`] (see `queue_frame`).
const CO_ALIGN_MIN: usize = 512;

/// The copy of an unmasked payload into an empty buffer starts up to 63
/// bytes in, so that destination and source are equal modulo 64. Measured on
/// the bench machine (AMD EPYC, glibc's `rep movsb` memmove): a 16 KiB copy
/// whose destination is 4 or 8 bytes ahead of its source modulo 4 KiB ran at
/// 1.5 GB/s instead of 40-75; co-aligned it always takes the fast path.
/// Server-role sends of 16 KiB went from about 960 to about 450 ns.
const CO_ALIGN: usize = 64;

/// Room a fixed output buffer keeps for the frames a close needs (the Close
/// and the Pong owed before it), so a connection can always end.
const CLOSE_RESERVE: usize = 2 * (MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD);

#[derive(Debug, Default)]
pub(crate) struct Sender<B> {
    out: B,
    /// Bytes at the front of `out` already handed to the transport.
    written: usize,
    /// The payload of the Pong owed for the latest Ping, if not yet queued.
    /// RFC 6455 §5.5.3 lets a reply cover only the most recent Ping, so a
    /// ping flood costs one slot, not a queue.
    pong: Option<([u8; MAX_CONTROL_PAYLOAD], u8)>,
}

impl<B: Buffer> Sender<B> {
    /// A sender queuing into `out`.
    pub(crate) fn new(out: B) -> Self {
        Sender {
            out,
            written: 0,
            pong: None,
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn buffered(&self) -> usize {
        self.out.len() - self.written
    }

    /// The unwritten bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        self.out.as_slice().get(self.written..).unwrap_or(&[])
    }

    /// Retires `n` bytes the transport took (clamped to what is queued).
    pub(crate) fn transmitted(&mut self, n: usize) {
        self.written += n.min(self.buffered());
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
    }

    /// Appends raw bytes (an HTTP head), unbounded on the heap: the
    /// handshake is bounded by its builder. A fixed buffer may not hold it
    /// (see `HeadWriter`).
    pub(crate) fn buffer_mut(&mut self) -> &mut B {
        &mut self.out
    }

    /// The most unwritten bytes a data frame may leave queued: `limit`, and
    /// in a fixed buffer also what leaves room for the close frames.
    fn data_limit(&self, limit: usize) -> usize {
        match self.out.fixed_capacity() {
            Some(cap) => limit.min(cap.saturating_sub(CLOSE_RESERVE)),
            None => limit,
        }
    }

    /// Appends one frame. With `limit`, fails with `OutputFull` instead of
    /// growing the unwritten bytes past it.
    pub(crate) fn queue_frame(
        &mut self,
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
        mask: Option<[u8; 4]>,
        limit: Option<usize>,
    ) -> Result<(), UsageError> {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        // Control frames (no `limit`) may use a fixed buffer's close reserve.
        let limit = limit.map(|limit| self.data_limit(limit));
        if let Some(limit) = limit {
            let after = self.buffered().saturating_add(head_len + payload.len());
            if after > limit {
                return Err(UsageError::OutputFull);
            }
        }
        self.compact();
        // (Not in a fixed buffer, where the gap would cost room.)
        let co_align = mask.is_none()
            && self.out.is_empty()
            && payload.len() >= CO_ALIGN_MIN
            && self.out.fixed_capacity().is_none();
        let gap_room = if co_align { CO_ALIGN - 1 } else { 0 };
        // Grow by doubling, but never past what the limit lets the buffer
        // hold (plus the frames a close may add), so a stalled peer costs
        // the limit, not the next power of two above it.
        let needed = gap_room + head_len + payload.len();
        let cap = match limit {
            Some(limit) => self.written + limit + CLOSE_RESERVE + gap_room,
            None => usize::MAX,
        };
        if !self.out.reserve_within(needed, cap) {
            // Only a fixed buffer says no: the written bytes at its front
            // may be what is missing, so move the rest down and ask again.
            self.out.remove_front(self.written);
            self.written = 0;
            if !self.out.reserve_within(needed, cap) {
                return Err(UsageError::OutputFull);
            }
        }
        if co_align {
            // The buffer will not move now: start the frame after a gap that
            // puts the payload's copy at the same address modulo 64 as its
            // source. The gap is before `written`, so it is never sent.
            let dst = self.out.address() + head_len;
            let gap = payload.as_ptr().addr().wrapping_sub(dst) % CO_ALIGN;
            self.out.resize_zeroed(gap);
            self.written = gap;
        }
        // Room was reserved above: these appends cannot fail.
        self.out.push_slice(&head[..head_len]);
        match mask {
            // One pass: copy and mask fused (the zero fill is write-only).
            Some(key) => {
                let start = self.out.len();
                self.out.resize_zeroed(start + payload.len());
                if let Some(dst) = self.out.as_mut_slice().get_mut(start..) {
                    copy_masked(dst, payload, key, 0);
                }
            }
            None => {
                self.out.push_slice(payload);
            }
        }
        Ok(())
    }

    /// Whether `frame_len` more bytes (header included) fit under `limit`.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn has_room(&self, frame_len: usize, limit: usize) -> bool {
        self.buffered().saturating_add(frame_len) <= limit && self.out.fixed_capacity().is_none()
    }

    /// Appends one frame whose payload `fill` appends to the buffer (a
    /// compressor writing in place, so there is no scratch copy); the header
    /// is written in front of it afterwards, once the length is known.
    /// `fill` gets the most the buffer may grow to. The caller has checked
    /// that the worst case fits under `limit` ([`has_room`](Self::has_room),
    /// which a fixed buffer never has: compression needs a heap).
    #[cfg(feature = "deflate")]
    pub(crate) fn queue_frame_filled(
        &mut self,
        opcode: Opcode,
        fin: bool,
        rsv: u8,
        mask: Option<[u8; 4]>,
        limit: usize,
        fill: impl FnOnce(&mut alloc::vec::Vec<u8>, usize),
    ) {
        self.compact();
        let written = self.written;
        let Some(out) = self.out.as_vec() else {
            return;
        };
        Self::fill_frame(out, written, opcode, fin, rsv, mask, limit, fill);
    }

    #[cfg(feature = "deflate")]
    #[allow(clippy::too_many_arguments)]
    fn fill_frame(
        out: &mut alloc::vec::Vec<u8>,
        written: usize,
        opcode: Opcode,
        fin: bool,
        rsv: u8,
        mask: Option<[u8; 4]>,
        limit: usize,
        fill: impl FnOnce(&mut alloc::vec::Vec<u8>, usize),
    ) {
        let cap = written + limit + 2 * (MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD);
        let frame_start = out.len();
        Buffer::reserve_within(out, MAX_HEADER_LEN, cap);
        out.extend_from_slice(&[0; MAX_HEADER_LEN]);
        let data_start = out.len();
        fill(out, cap);
        let len = out.len() - data_start;
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        // Close the gap the header did not need (one move of the compressed
        // bytes, far cheaper than compressing them).
        let payload_start = frame_start + head_len;
        out.copy_within(data_start..data_start + len, payload_start);
        out.truncate(payload_start + len);
        out[frame_start..payload_start].copy_from_slice(&head[..head_len]);
        if let Some(key) = mask {
            apply_mask(&mut out[payload_start..], key, 0);
        }
    }

    /// Remembers that a Pong with `payload` is owed, replacing any older one.
    pub(crate) fn owe_pong(&mut self, payload: &[u8]) {
        let mut slot = [0u8; MAX_CONTROL_PAYLOAD];
        let len = payload.len().min(MAX_CONTROL_PAYLOAD);
        slot[..len].copy_from_slice(&payload[..len]);
        self.pong = Some((slot, len as u8));
    }

    /// Takes the owed Pong, if any.
    pub(crate) fn take_pong(&mut self) -> Option<([u8; MAX_CONTROL_PAYLOAD], u8)> {
        self.pong.take()
    }

    /// Puts back an owed Pong that did not fit.
    pub(crate) fn restore_pong(&mut self, pong: ([u8; MAX_CONTROL_PAYLOAD], u8)) {
        self.pong.get_or_insert(pong);
    }

    /// Forgets an owed Pong (nothing may follow our Close).
    pub(crate) fn drop_pong(&mut self) {
        self.pong = None;
    }

    /// Moves unwritten bytes to the front once at least half the buffer is
    /// written, so a transport that always takes part of the output cannot
    /// make the buffer creep; amortized O(1) per byte.
    fn compact(&mut self) {
        if self.written > 0 && self.written >= self.out.len() / 2 {
            self.out.remove_front(self.written);
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn rfc_examples_encode() {
        // RFC 6455 §5.7.
        let mut s = Sender::<Vec<u8>>::default();
        s.queue_frame(Opcode::Text, true, b"Hello", None, None)
            .unwrap();
        assert_eq!(s.pending(), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        s.transmitted(7);
        s.queue_frame(
            Opcode::Text,
            true,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
            None,
        )
        .unwrap();
        assert_eq!(
            s.pending(),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn limit_leaves_buffer_untouched() {
        let mut s = Sender::<Vec<u8>>::default();
        s.queue_frame(Opcode::Binary, true, &[0; 10], None, Some(12))
            .unwrap();
        assert_eq!(
            s.queue_frame(Opcode::Binary, true, &[0; 1], None, Some(12)),
            Err(UsageError::OutputFull)
        );
        assert_eq!(s.buffered(), 12);
    }

    #[test]
    fn co_aligned_frames_are_sent_intact() {
        // Large unmasked payloads start after a gap in an empty buffer; the
        // gap is never handed out, whatever the source's address.
        let source: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let mut s = Sender::<Vec<u8>>::default();
        for start in 0..64 {
            let payload = &source[start..start + 600];
            s.queue_frame(Opcode::Binary, true, payload, None, Some(1 << 20))
                .unwrap();
            let mut expected = alloc::vec![0x82, 126, 0x02, 0x58];
            expected.extend_from_slice(payload);
            assert_eq!(s.pending(), &expected[..], "start {start}");
            // Written in two parts, as a transport might.
            s.transmitted(100);
            assert_eq!(s.pending(), &expected[100..]);
            s.transmitted(504);
            assert_eq!(s.buffered(), 0);
        }
    }

    #[test]
    fn partial_writes_compact() {
        let mut s = Sender::<Vec<u8>>::default();
        for _ in 0..100 {
            s.queue_frame(Opcode::Binary, true, &[7; 100], None, None)
                .unwrap();
            s.transmitted(101);
        }
        assert!(s.out.len() < 400, "buffer crept to {}", s.out.len());
    }
}
