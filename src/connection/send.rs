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
//! * At most one [`Hole`]: the payload of a frame queued with
//!   [`queue_external`](Sender::queue_external), which the caller writes from
//!   its own memory. It sits at `hole.at` in the byte stream, so
//!   `written <= hole.at <= len`; bytes queued later go after it, and
//!   nothing past it is handed out until the transport took all of it.

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
    /// The external payload still owed, if any.
    hole: Option<Hole>,
}

/// A frame payload that is not in the buffer: the caller writes it from its
/// own memory (zero-copy sends), between `out[..at]` and `out[at..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    /// Where the payload sits among the queued bytes.
    at: usize,
    /// Payload bytes not yet reported written.
    owed: usize,
}

impl<B: Buffer> Sender<B> {
    /// A sender queuing into `out`.
    pub(crate) fn new(out: B) -> Self {
        Sender {
            out,
            written: 0,
            pong: None,
            hole: None,
        }
    }

    /// Bytes queued and not yet written (in the buffer: an external payload
    /// is not counted, see [`owed`](Self::owed)).
    pub(crate) fn buffered(&self) -> usize {
        self.out.len() - self.written
    }

    /// External payload bytes the caller still has to write.
    pub(crate) fn owed(&self) -> usize {
        self.hole.map_or(0, |hole| hole.owed)
    }

    /// The unwritten bytes up to the external payload, if one is owed.
    pub(crate) fn pending(&self) -> &[u8] {
        let end = self.hole.map_or(self.out.len(), |hole| hole.at);
        self.out.as_slice().get(self.written..end).unwrap_or(&[])
    }

    /// Retires `n` bytes the transport took, in stream order: the queued
    /// bytes before an external payload, then that payload, then the rest
    /// (clamped to what there is).
    pub(crate) fn transmitted(&mut self, n: usize) {
        let mut n = n;
        if let Some(hole) = self.hole.as_mut() {
            let before = n.min(hole.at - self.written);
            self.written += before;
            n -= before;
            if self.written == hole.at {
                let paid = n.min(hole.owed);
                hole.owed -= paid;
                n -= paid;
            }
            if hole.owed == 0 {
                self.hole = None;
            }
        }
        // With a payload still owed, `n` is used up.
        self.written += n.min(self.buffered());
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if let Some(hole) = self.hole.as_mut() {
                hole.at = 0;
            }
        }
    }

    /// Removes the written bytes from the front of the buffer.
    fn drop_written(&mut self) {
        self.out.remove_front(self.written);
        if let Some(hole) = self.hole.as_mut() {
            hole.at -= self.written;
        }
        self.written = 0;
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
        // (Not in a fixed buffer, where the gap would cost room, nor with an
        // external payload owed, which must stay after `written`.)
        let co_align = mask.is_none()
            && self.out.is_empty()
            && self.hole.is_none()
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
            self.drop_written();
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

    /// Appends the header of an unmasked frame whose `len` payload bytes the
    /// caller writes itself, straight from its own memory, right after the
    /// bytes queued so far: the copy into this buffer is skipped (a server's
    /// large sends, with vectored writes). Only the header counts against
    /// `limit`. The caller has checked that no other external payload is
    /// owed.
    pub(crate) fn queue_external(
        &mut self,
        opcode: Opcode,
        fin: bool,
        len: usize,
        limit: usize,
    ) -> Result<(), UsageError> {
        debug_assert!(self.hole.is_none(), "one external payload at a time");
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        if self.buffered().saturating_add(head_len) > self.data_limit(limit) {
            return Err(UsageError::OutputFull);
        }
        self.compact();
        let head = &head[..head_len];
        if !self.out.push_slice(head) {
            self.drop_written();
            if !self.out.push_slice(head) {
                return Err(UsageError::OutputFull);
            }
        }
        self.queue_hole(len);
        Ok(())
    }

    /// Makes room for `len` bytes the caller writes itself, right after the
    /// bytes queued so far (the payload after an external header, or a whole
    /// prepared frame). The caller has checked that no other external payload
    /// is owed.
    pub(crate) fn queue_hole(&mut self, len: usize) {
        debug_assert!(self.hole.is_none(), "one external payload at a time");
        if len > 0 {
            self.hole = Some(Hole {
                at: self.out.len(),
                owed: len,
            });
        }
    }

    /// Copies `rest`, the external payload bytes still owed, into the buffer
    /// where they belong, for a transport that cannot take them now: the
    /// caller may then let go of its payload. Refused, and nothing changed,
    /// unless `rest` is exactly as long as what is owed, or if a fixed buffer
    /// has no room.
    pub(crate) fn buffer_external(&mut self, rest: &[u8]) -> Result<(), UsageError> {
        let Some(hole) = self.hole else {
            return Err(UsageError::ExternalLengthMismatch);
        };
        if rest.len() != hole.owed {
            return Err(UsageError::ExternalLengthMismatch);
        }
        if !self.out.reserve_within(rest.len(), usize::MAX) {
            self.drop_written();
            if !self.out.reserve_within(rest.len(), usize::MAX) {
                return Err(UsageError::OutputFull);
            }
        }
        // `drop_written` may have moved the hole.
        let at = self.hole.map_or(hole.at, |hole| hole.at);
        let old_len = self.out.len();
        self.out.resize_zeroed(old_len + rest.len());
        let buf = self.out.as_mut_slice();
        buf.copy_within(at..old_len, at + rest.len());
        if let Some(dst) = buf.get_mut(at..at + rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.hole = None;
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

    /// A Pong is owed and not yet queued.
    #[cfg(feature = "tokio")]
    pub(crate) fn owes_pong(&self) -> bool {
        self.pong.is_some()
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
            self.drop_written();
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

    /// Drains `s` as a transport taking at most `chunk` bytes per write
    /// would, writing an owed external payload from `external`.
    fn drain(s: &mut Sender<Vec<u8>>, external: &[u8], chunk: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        loop {
            let taken = if !s.pending().is_empty() {
                let bytes = s.pending();
                let n = bytes.len().min(chunk);
                wire.extend_from_slice(&bytes[..n]);
                n
            } else if s.owed() > 0 {
                let rest = &external[external.len() - s.owed()..];
                let n = rest.len().min(chunk);
                wire.extend_from_slice(&rest[..n]);
                n
            } else {
                return wire;
            };
            s.transmitted(taken);
        }
    }

    #[test]
    fn external_payload_goes_between_the_frames_around_it() {
        let external: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let mut copied = Sender::<Vec<u8>>::default();
        copied
            .queue_frame(Opcode::Text, true, b"before", None, None)
            .unwrap();
        copied
            .queue_frame(Opcode::Binary, true, &external, None, None)
            .unwrap();
        copied
            .queue_frame(Opcode::Ping, true, b"after", None, None)
            .unwrap();
        let expected = drain(&mut copied, &[], usize::MAX);
        for chunk in [1, 2, 7, 8, 9, 100, 311, usize::MAX] {
            let mut s = Sender::<Vec<u8>>::default();
            s.queue_frame(Opcode::Text, true, b"before", None, None)
                .unwrap();
            s.queue_external(Opcode::Binary, true, external.len(), usize::MAX)
                .unwrap();
            // Queued while the payload is owed: goes after it.
            s.queue_frame(Opcode::Ping, true, b"after", None, None)
                .unwrap();
            assert_eq!(s.owed(), 300);
            assert_eq!(drain(&mut s, &external, chunk), expected, "chunk {chunk}");
            assert_eq!((s.owed(), s.buffered()), (0, 0));
        }
    }

    #[test]
    fn one_report_may_span_the_external_payload() {
        let mut s = Sender::<Vec<u8>>::default();
        s.queue_frame(Opcode::Text, true, b"ab", None, None)
            .unwrap();
        s.queue_external(Opcode::Binary, true, 10, usize::MAX)
            .unwrap();
        s.queue_frame(Opcode::Text, true, b"cd", None, None)
            .unwrap();
        assert_eq!(s.pending(), [0x81, 2, b'a', b'b', 0x82, 10]);
        // A vectored write of the bytes before it and 3 payload bytes.
        s.transmitted(6 + 3);
        assert_eq!((s.pending(), s.owed()), (&[][..], 7));
        // The rest of the payload and one byte after it, reported at once.
        s.transmitted(7 + 1);
        assert_eq!((s.pending(), s.owed()), (&[2, b'c', b'd'][..], 0));
        // More than there is: clamped.
        s.transmitted(100);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn buffered_external_payload_gives_the_same_stream() {
        let external: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
        let mut copied = Sender::<Vec<u8>>::default();
        copied
            .queue_frame(Opcode::Text, true, b"x", None, None)
            .unwrap();
        copied
            .queue_frame(Opcode::Binary, false, &external, None, None)
            .unwrap();
        copied
            .queue_frame(Opcode::Pong, true, b"y", None, None)
            .unwrap();
        let expected = drain(&mut copied, &[], usize::MAX);
        // The transport took part of the payload, then would block: the
        // rest is copied in, in place, and the caller's buffer is free.
        for written in [0, 1, 3, 4, 500, 1003] {
            let mut s = Sender::<Vec<u8>>::default();
            s.queue_frame(Opcode::Text, true, b"x", None, None).unwrap();
            s.queue_external(Opcode::Binary, false, external.len(), usize::MAX)
                .unwrap();
            s.queue_frame(Opcode::Pong, true, b"y", None, None).unwrap();
            let mut wire = s.pending().to_vec();
            let before = wire.len();
            let taken = written.min(before);
            wire.truncate(taken);
            s.transmitted(taken);
            let paid = written - taken;
            wire.extend_from_slice(&external[..paid]);
            s.transmitted(paid);
            assert_eq!(
                s.buffer_external(&external[1..]),
                Err(UsageError::ExternalLengthMismatch)
            );
            s.buffer_external(&external[paid..]).unwrap();
            assert_eq!(s.owed(), 0);
            assert_eq!(
                s.buffer_external(&[]),
                Err(UsageError::ExternalLengthMismatch)
            );
            wire.extend(drain(&mut s, &[], 5));
            assert_eq!(wire, expected, "written {written}");
        }
    }

    #[test]
    fn external_header_is_held_to_the_limit() {
        let mut s = Sender::<Vec<u8>>::default();
        s.queue_frame(Opcode::Binary, true, &[0; 8], None, None)
            .unwrap();
        // 10 queued; a header of 4 bytes (126-byte payload) would make 14.
        assert_eq!(
            s.queue_external(Opcode::Binary, true, 126, 13),
            Err(UsageError::OutputFull)
        );
        assert_eq!((s.buffered(), s.owed()), (10, 0));
        // The payload itself is not held to it: it is not in the buffer.
        s.queue_external(Opcode::Binary, true, 60_000, 14).unwrap();
        assert_eq!((s.buffered(), s.owed()), (14, 60_000));
    }

    #[test]
    fn compaction_keeps_the_external_payload_in_place() {
        let external = [9u8; 50];
        let mut s = Sender::<Vec<u8>>::default();
        s.queue_frame(Opcode::Binary, true, &[1; 100], None, None)
            .unwrap();
        s.queue_external(Opcode::Binary, true, external.len(), usize::MAX)
            .unwrap();
        // Most of the first frame written: the next queue compacts.
        s.transmitted(90);
        s.queue_frame(Opcode::Binary, true, &[2; 3], None, None)
            .unwrap();
        let wire = drain(&mut s, &external, 16);
        let mut expected = alloc::vec![1u8; 12];
        expected.extend_from_slice(&[0x82, 50]);
        expected.extend_from_slice(&external);
        expected.extend_from_slice(&[0x82, 3, 2, 2, 2]);
        assert_eq!(wire, expected);
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
