//! The sending half of permessage-deflate: one raw DEFLATE stream per
//! connection, flushed at the end of every frame (RFC 7692 §7.2.1).
//!
//! Each frame's payload is compressed and sync-flushed, so the peer can
//! inflate every frame as soon as it arrives (streaming works both ways).
//! A sync flush ends with an empty stored block, `00 00 ff ff`; on the last
//! frame of a message those four bytes are removed (§7.2.1: "Remove 4
//! octets (that are 0x00 0x00 0xff 0xff) from the tail end"), and the
//! receiver puts them back. Non-final frames keep theirs, which is the
//! same deflate stream either way.
//!
//! The compressed bytes are written straight into the connection's output
//! buffer (the frame header is put in front afterwards), so there is no
//! scratch copy, and once that buffer reached its working size sending
//! allocates nothing.

use alloc::vec::Vec;

use flate2::{Compress, Compression, FlushCompress, Status};

use super::deflate::{DeflateConfig, DeflateParams};
use crate::buffer::Buffer;

/// The empty stored block a sync flush ends with (RFC 7692 §7.2.1).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

pub(crate) struct Deflater {
    stream: Compress,
    /// `local_no_context_takeover`: start each message from an empty window.
    reset_each_message: bool,
}

impl core::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_each_message", &self.reset_each_message)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor for what was agreed. The caller checks
    /// [`DeflateParams::compresses`] first: zlib cannot compress with an
    /// 8-bit window, and then every message goes out uncompressed.
    pub(crate) fn new(config: &DeflateConfig, params: &DeflateParams) -> Self {
        let level = Compression::new(u32::from(config.level()));
        // flate2 takes 9..=15 (an 8-bit agreement never gets here).
        let bits = params.local_max_window_bits.clamp(9, 15);
        Deflater {
            stream: Compress::new_with_window_bits(level, false, bits),
            reset_each_message: params.local_no_context_takeover,
        }
    }

    /// Whether a message starting with this frame is worth compressing.
    pub(crate) fn wants(config: &DeflateConfig, first_payload: usize, fin: bool) -> bool {
        !fin || first_payload >= config.min_compress_size
    }

    /// An upper bound on the compressed size of `n` bytes in one frame, so
    /// a send can be refused for space before the stream is touched: stored
    /// blocks cost 5 bytes per 16 KiB or more, plus the flush and slack for
    /// bits carried over from the previous frame.
    pub(crate) fn bound(n: usize) -> usize {
        n + (n >> 10) + 64
    }

    /// Compresses one frame's payload of a compressed message, appending
    /// the bytes to put in the frame to `out`, which may grow up to `cap`
    /// bytes of capacity (the caller checked that [`bound`](Self::bound)
    /// fits).
    pub(crate) fn compress_into(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        cap: usize,
    ) {
        let start = out.len();
        let start_in = self.stream.total_in();
        // Start with room for a good ratio; grow (doubling) only if needed.
        Buffer::reserve_within(out, (payload.len() / 2).clamp(64, 64 * 1024), cap);
        loop {
            let consumed = (self.stream.total_in() - start_in) as usize;
            let before_out = out.len();
            let status = self
                .stream
                .compress_vec(&payload[consumed..], out, FlushCompress::Sync);
            let all_in = (self.stream.total_in() - start_in) as usize == payload.len();
            let room_left = out.len() < out.capacity();
            // Done when all input is in and the flush had room to finish;
            // errors cannot happen with a valid stream and a non-empty
            // buffer, but must not loop for ever.
            let stuck = out.len() == before_out && !matches!(status, Ok(Status::Ok));
            if (all_in && room_left) || stuck {
                break;
            }
            Buffer::reserve_within(out, out.capacity().max(64), cap.max(out.capacity() + 64));
        }
        if fin {
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if out.len() == start {
                // Nothing new since the last flush compresses to nothing,
                // but the receiver appends 00 00 ff ff, which completes a
                // stored block only after its header: send the header byte
                // (an empty stored block, as RFC 7692 §7.2.3.6 shows).
                out.push(0x00);
            }
            if self.reset_each_message {
                self.stream.reset();
            }
        }
    }
}
