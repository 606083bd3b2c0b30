//! Masking through the public API, whichever path the CPU gets (AVX2 on
//! x86-64 with `std` when the CPU has it, the portable loop otherwise),
//! against the definition in RFC 6455 §5.3: "Octet i of the transformed data
//! is the XOR of octet i of the original data with octet at index i modulo 4
//! of the masking key."
//!
//! Exhaustive over lengths 0..=300 and a band around the vector path's
//! thresholds (128 and 512 bytes), every start address modulo 64, every key
//! phase and offsets past 2^32; proptest over large lengths, chunkings and
//! offsets. `src/mask.rs` runs the same comparison on each path by name.

use hybi::mask::{apply_mask, copy_masked};
use proptest::prelude::*;

/// The definition, one byte at a time.
fn reference(buf: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[((offset + i as u64) % 4) as usize];
    }
}

/// A buffer whose slice `slice(start, len)` begins `start` bytes past a
/// 64-byte boundary, with 64 bytes on each side that must stay untouched.
/// Its bytes are numbered from that boundary, so two of them hold the same
/// values wherever the allocator put them.
struct Aligned {
    storage: Vec<u8>,
    base: usize,
}

impl Aligned {
    fn new(len: usize, fill: impl Fn(usize) -> u8) -> Self {
        let mut storage = vec![0u8; len + 256];
        let base = 64 + storage.as_ptr().addr().wrapping_neg() % 64;
        for (i, byte) in storage.iter_mut().enumerate() {
            *byte = fill(i.wrapping_sub(base));
        }
        Aligned { storage, base }
    }

    fn slice(&mut self, start: usize, len: usize) -> &mut [u8] {
        &mut self.storage[self.base + start..self.base + start + len]
    }

    /// The slice with its 64-byte margins.
    fn window(&self, start: usize, len: usize) -> &[u8] {
        &self.storage[self.base + start - 64..self.base + start + len + 64]
    }
}

fn check(len: usize, start: usize, key: [u8; 4], offset: u64) {
    let fill = |i: usize| (i.wrapping_mul(131).wrapping_add(17)) as u8;
    let mut want = Aligned::new(len + 64, fill);
    reference(want.slice(start, len), key, offset);

    let mut got = Aligned::new(len + 64, fill);
    apply_mask(got.slice(start, len), key, offset);
    assert!(
        got.window(start, len) == want.window(start, len),
        "apply_mask: len {len} start {start} offset {offset}"
    );

    let source: Vec<u8> = (0..len).map(fill).collect();
    let mut out = Aligned::new(len + 64, |_| 0);
    copy_masked(out.slice(start, len), &source, key, offset);
    let mut expected = source.clone();
    reference(&mut expected, key, offset);
    assert!(
        out.slice(start, len) == &expected[..],
        "copy_masked: len {len} start {start} offset {offset}"
    );
    let window = out.window(start, len);
    assert!(
        window[..64]
            .iter()
            .chain(&window[64 + len..])
            .all(|&b| b == 0),
        "copy_masked wrote outside its slice"
    );
}

const OFFSETS: [u64; 7] = [0, 1, 2, 3, 5, (1 << 32) + 2, u64::MAX - (1 << 24) + 1];

#[test]
fn every_length_to_300_every_alignment_every_phase() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for len in 0..=300 {
        for start in 0..64 {
            for offset in OFFSETS {
                check(len, start, key, offset);
            }
        }
    }
}

#[test]
fn around_the_vector_thresholds_every_alignment() {
    let key = [0xa5, 0x00, 0xff, 0x5a];
    for len in (500..=530).chain([1023, 1024, 1025, 4095, 4096, 4097]) {
        for start in 0..64 {
            for offset in [0, 1, 2, 3] {
                check(len, start, key, offset);
            }
        }
    }
}

#[test]
fn large_buffers() {
    let key = [0x01, 0x80, 0x7f, 0xfe];
    for len in [65_536, 65_537, (1 << 20) + 3] {
        for start in [0, 1, 31, 33, 63] {
            check(len, start, key, 3);
        }
    }
}

proptest! {
    /// Any length up to 70 000, start, key and offset.
    #[test]
    fn equals_reference(
        len in 0usize..70_000,
        start in 0usize..64,
        key in any::<[u8; 4]>(),
        offset in any::<u64>(),
    ) {
        // Keep `offset + i` from overflowing in the reference.
        let offset = offset.min(u64::MAX - 70_000);
        check(len, start, key, offset);
    }

    /// Masking a payload in arbitrary chunks, each with its position as
    /// offset, equals masking it whole (how the engine meets a frame split
    /// across reads).
    #[test]
    fn chunked_equals_whole(
        len in 0usize..20_000,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        key in any::<[u8; 4]>(),
        base in any::<u32>(),
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let base = u64::from(base);
        let mut whole = data.clone();
        reference(&mut whole, key, base);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        let mut chunked = data.clone();
        let mut copied = vec![0u8; len];
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            apply_mask(&mut chunked[a..b], key, base + a as u64);
            copy_masked(&mut copied[a..b], &data[a..b], key, base + a as u64);
        }
        prop_assert!(chunked == whole);
        prop_assert!(copied == whole);
    }
}
