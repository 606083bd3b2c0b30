//! Masking and unmasking (RFC 6455 §5.3), in place.
//!
//! "Octet i of the transformed data is the XOR of octet i of the original
//! data with octet at index i modulo 4 of the masking key." The same function
//! masks and unmasks. Payloads arrive in chunks, so every call takes the
//! position of its first byte within the frame payload (`offset`) and rotates
//! the key to match.
//!
//! # Paths
//!
//! - **Portable** (every target, and the only path without `std`): `u64` XOR
//!   on `chunks_exact_mut(8)` with the key repeated in a rotated word, then
//!   at most seven single bytes. No unsafe, no alignment assumptions. It is a
//!   plain loop over contiguous 8-byte lanes on purpose: LLVM vectorises it
//!   with whatever SIMD the target has at compile time (SSE2 on baseline
//!   x86-64, NEON on aarch64, AVX2 or AVX-512 under a matching
//!   `-C target-cpu`). Loops over 32- or 64-byte chunks measured no faster
//!   with SSE2, and with AVX-512 enabled LLVM turns them into gathers and
//!   scatters, five times slower.
//! - **Vector, chosen at run time** (`std` on x86-64 only): the same loop
//!   compiled a second time inside `#[target_feature(enable = "avx2")]`, so
//!   LLVM emits 256-bit XORs; from `ALIGN_MIN` (512) bytes the bulk starts
//!   on a 32-byte boundary, so no store straddles two cache lines (from
//!   16 KiB about 1.5x faster than unaligned; below 512 bytes the extra
//!   step costs more than it saves). The CPU is asked once
//!   (`is_x86_feature_detected!`) and the answer cached in an atomic.
//!   Buffers under `VECTOR_MIN` (128) bytes stay on the portable path, where
//!   the dispatch would cost about what the wider XOR saves.
//!
//! No AVX-512 path: compiled the same way with `avx512f` (and the bulk on a
//! 64-byte boundary) it measured no faster than AVX2 on the bench machine's
//! Zen 4, which splits 512-bit operations in two, and `#[target_feature(enable
//! = "avx512f")]` needs Rust 1.89, past this crate's MSRV. No NEON path
//! either: the toolchain here has no aarch64 target to compile it against;
//! the portable loop is what LLVM vectorises with NEON there.
//!
//! The vector path is the crate's only `unsafe` code: calling a
//! `#[target_feature]` function is `unsafe` because running AVX2
//! instructions on a CPU without them is undefined behaviour, and the call
//! is made only after the CPU said it has them. The functions themselves
//! contain no unsafe operation (no pointers, no intrinsics); SECURITY.md says
//! the same. A build without `std` has no run-time detection and so no
//! unsafe code at all.
//!
//! Cost, on the 2-core AMD EPYC (Zen 4) bench machine, 16-64 KiB in L1/L2:
//! the portable loop about 45-55 GB/s, the AVX2 path with alignment about
//! 80-110 GB/s. In perf/'s decode comparison that took hybi from 0.84x to
//! 1.1-1.3x tokio-websockets on 16-64 KiB frames. [`copy_masked`] fuses the send path's copy with the masking.
//! The tests prove every path equal to the byte loop for every length,
//! alignment and offset (`tests/mask_simd.rs`, and the unit tests here,
//! which call each path the CPU supports by name).

/// Buffers shorter than this are masked on the portable path even where a
/// vector path exists: below it the dispatch costs about as much as the
/// wider XOR saves.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const VECTOR_MIN: usize = 128;

/// From this many bytes the vector path first steps to an aligned address.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const ALIGN_MIN: usize = 512;

/// XORs `buf` with `key`, where `buf[0]` is byte number `offset` of the
/// payload.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    let word = key_word(key, offset);
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if buf.len() >= VECTOR_MIN {
        return x86::apply(buf, word);
    }
    xor_in_place(buf, word);
}

/// Writes `src` masked into `dst` (same length) in one pass: the send path's
/// copy into its output buffer and the masking fused, so the payload is read
/// once and written once. `src[0]` is byte number `offset` of the payload.
///
/// Measured against copy-then-[`apply_mask`] on this crate's benches: equal
/// up to 1 KiB, about 1.4x faster from 16 KiB (the second pass over the
/// output is gone).
///
/// # Panics
///
/// If `dst` and `src` differ in length.
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) {
    assert_eq!(dst.len(), src.len(), "copy_masked: lengths differ");
    let word = key_word(key, offset);
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if dst.len() >= VECTOR_MIN {
        return x86::copy(dst, src, word);
    }
    xor_copy(dst, src, word);
}

/// The key repeated twice as a little-endian `u64`, rotated so that its
/// lowest byte applies to payload byte `offset`: byte `j` of the word is
/// `key[(offset + j) % 4]`. A rotate instead of four indexed loads: about
/// 1-2 ns less per call on 16-125 byte payloads, where the per-call setup is
/// most of the cost.
#[inline]
fn key_word(key: [u8; 4], offset: u64) -> u64 {
    let rotated = u32::from_le_bytes(key).rotate_right((offset % 4) as u32 * 8);
    u64::from(rotated) | (u64::from(rotated) << 32)
}

/// `word` advanced by `n` payload bytes: its lowest byte then applies to the
/// byte `n` places further on. The word has period four bytes, so a rotate
/// by `n % 4` bytes is exact.
#[cfg(any(test, all(feature = "std", target_arch = "x86_64")))]
#[inline(always)]
fn advance(word: u64, n: usize) -> u64 {
    word.rotate_right((n % 4) as u32 * 8)
}

/// The portable loop: eight bytes per step, then the tail byte by byte.
/// `#[inline(always)]` so that each vector function below gets its own copy,
/// compiled with that function's target features.
#[inline(always)]
fn xor_in_place(buf: &mut [u8], word: u64) {
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_le_bytes(bytes) ^ word).to_le_bytes());
    }
    // Eight is a multiple of four, so the phase of the tail is unchanged:
    // its bytes take the word's bytes in order.
    let mut rest = word;
    for byte in chunks.into_remainder() {
        *byte ^= rest as u8;
        rest >>= 8;
    }
}

/// [`xor_in_place`] from `src` into `dst` (same length).
#[inline(always)]
fn xor_copy(dst: &mut [u8], src: &[u8], word: u64) {
    let mut dst_chunks = dst.chunks_exact_mut(8);
    let mut src_chunks = src.chunks_exact(8);
    for (out, chunk) in (&mut dst_chunks).zip(&mut src_chunks) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        out.copy_from_slice(&(u64::from_le_bytes(bytes) ^ word).to_le_bytes());
    }
    let mut rest = word;
    for (out, byte) in dst_chunks
        .into_remainder()
        .iter_mut()
        .zip(src_chunks.remainder())
    {
        *out = byte ^ rest as u8;
        rest >>= 8;
    }
}

/// How many bytes from `ptr` to the next multiple of `align` (a power of
/// two), capped at `len`. Plain address arithmetic: nothing is dereferenced.
#[cfg(any(test, all(feature = "std", target_arch = "x86_64")))]
#[inline(always)]
fn to_boundary(ptr: *const u8, align: usize, len: usize) -> usize {
    (ptr.addr().wrapping_neg() & (align - 1)).min(len)
}

/// [`xor_in_place`] with the bulk starting on an `ALIGN`-byte boundary:
/// the bytes before it go through the same loop first, then the key is
/// advanced by their count.
#[cfg(any(test, all(feature = "std", target_arch = "x86_64")))]
#[inline(always)]
fn xor_in_place_aligned<const ALIGN: usize>(buf: &mut [u8], word: u64) {
    let head = to_boundary(buf.as_ptr(), ALIGN, buf.len());
    let (first, bulk) = buf.split_at_mut(head);
    xor_in_place(first, word);
    xor_in_place(bulk, advance(word, head));
}

/// [`xor_copy`] with the stores of the bulk on an `ALIGN`-byte boundary of
/// `dst` (the loads from `src` may straddle lines: stores cost more).
#[cfg(any(test, all(feature = "std", target_arch = "x86_64")))]
#[inline(always)]
fn xor_copy_aligned<const ALIGN: usize>(dst: &mut [u8], src: &[u8], word: u64) {
    let head = to_boundary(dst.as_ptr(), ALIGN, dst.len());
    let (dst_first, dst_bulk) = dst.split_at_mut(head);
    let (src_first, src_bulk) = src.split_at(head);
    xor_copy(dst_first, src_first, word);
    xor_copy(dst_bulk, src_bulk, advance(word, head));
}

/// The run-time dispatch on x86-64: the crate's only unsafe code (see the
/// module docs and SECURITY.md).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
// Reason: calling a `#[target_feature]` function is unsafe; each call here
// is made only after `is_x86_feature_detected!` confirmed the feature, which
// is exactly the safety condition. The called functions contain no unsafe
// operation.
#[allow(unsafe_code)]
mod x86 {
    use core::sync::atomic::{AtomicU8, Ordering};

    /// The widest path this CPU supports, once known.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    pub(super) enum Path {
        Portable = 1,
        Avx2 = 2,
    }

    /// 0 until the CPU has been asked, then a `Path`.
    static PATH: AtomicU8 = AtomicU8::new(0);

    /// The path to take on this CPU, asked once and cached. A race between
    /// two first callers is harmless: both store the same answer.
    #[inline]
    pub(super) fn path() -> Path {
        match PATH.load(Ordering::Relaxed) {
            1 => Path::Portable,
            2 => Path::Avx2,
            _ => detect(),
        }
    }

    #[cold]
    fn detect() -> Path {
        let path = if std::is_x86_feature_detected!("avx2") {
            Path::Avx2
        } else {
            Path::Portable
        };
        PATH.store(path as u8, Ordering::Relaxed);
        path
    }

    #[inline]
    pub(super) fn apply(buf: &mut [u8], word: u64) {
        apply_with(path(), buf, word);
    }

    #[inline]
    pub(super) fn copy(dst: &mut [u8], src: &[u8], word: u64) {
        copy_with(path(), dst, src, word);
    }

    /// Masks on `path`, which must be `path()` or a narrower one (the tests
    /// call every path the CPU has).
    #[inline]
    pub(super) fn apply_with(path: Path, buf: &mut [u8], word: u64) {
        match path {
            // SAFETY: `Path::Avx2` comes from `detect()` only when
            // `is_x86_feature_detected!("avx2")` is true, so the CPU
            // executes every instruction `apply_avx2` may contain.
            Path::Avx2 => unsafe { apply_avx2(buf, word) },
            Path::Portable => super::xor_in_place(buf, word),
        }
    }

    #[inline]
    pub(super) fn copy_with(path: Path, dst: &mut [u8], src: &[u8], word: u64) {
        match path {
            // SAFETY: as in `apply_with`: AVX2 was detected on this CPU.
            Path::Avx2 => unsafe { copy_avx2(dst, src, word) },
            Path::Portable => super::xor_copy(dst, src, word),
        }
    }

    /// The portable loop compiled with AVX2: LLVM vectorises it to 256-bit
    /// XORs. Safe code inside; `unsafe fn` only because of the attribute
    /// (on Rust 1.85 a `#[target_feature]` function must be `unsafe`).
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(buf: &mut [u8], word: u64) {
        if buf.len() >= super::ALIGN_MIN {
            super::xor_in_place_aligned::<32>(buf, word);
        } else {
            super::xor_in_place(buf, word);
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn copy_avx2(dst: &mut [u8], src: &[u8], word: u64) {
        if dst.len() >= super::ALIGN_MIN {
            super::xor_copy_aligned::<32>(dst, src, word);
        } else {
            super::xor_copy(dst, src, word);
        }
    }
}

/// The reference definition, byte by byte, kept for tests and as
/// documentation of what [`apply_mask`] must equal.
#[cfg(test)]
pub(crate) fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[((offset + i as u64) % 4) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "alloc")]
    use alloc::{vec, vec::Vec};

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&data, b"Hello");
    }

    #[test]
    fn equals_bytewise_for_every_length_offset_and_alignment() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let source: [u8; 80] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for start in 0..8 {
            for len in 0..64 {
                for offset in 0..8u64 {
                    let mut fast = source;
                    let mut slow = source;
                    apply_mask(&mut fast[start..start + len], key, offset);
                    apply_mask_bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn copy_masked_equals_copy_then_mask() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let source: [u8; 80] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for start in 0..8 {
            for len in 0..64 {
                for offset in 0..8u64 {
                    let src = &source[start..start + len];
                    let mut fused = [0u8; 80];
                    copy_masked(&mut fused[start..start + len], src, key, offset);
                    let mut slow = [0u8; 80];
                    slow[start..start + len].copy_from_slice(src);
                    apply_mask_bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fused, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn chunked_equals_whole() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let mut whole: [u8; 37] = core::array::from_fn(|i| i as u8);
        let mut parts = whole;
        apply_mask(&mut whole, key, 0);
        let (a, rest) = parts.split_at_mut(5);
        let (b, c) = rest.split_at_mut(11);
        apply_mask(a, key, 0);
        apply_mask(b, key, 5);
        apply_mask(c, key, 16);
        assert_eq!(whole, parts);
    }

    /// Every way this build can mask a buffer, by name, so the tests reach
    /// each one whatever path the dispatch would pick on this CPU.
    #[cfg(feature = "alloc")]
    #[allow(clippy::type_complexity)] // reason: a test table of fn pointers
    fn paths() -> Vec<(&'static str, fn(&mut [u8], u64), fn(&mut [u8], &[u8], u64))> {
        #[allow(unused_mut)] // reason: only x86-64 with std adds paths
        let mut paths: Vec<(&'static str, fn(&mut [u8], u64), fn(&mut [u8], &[u8], u64))> = vec![
            ("portable", xor_in_place, xor_copy),
            (
                "portable aligned 32",
                xor_in_place_aligned::<32>,
                xor_copy_aligned::<32>,
            ),
        ];
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if x86::path() == x86::Path::Avx2 {
            paths.push((
                "avx2",
                |b, w| x86::apply_with(x86::Path::Avx2, b, w),
                |d, s, w| x86::copy_with(x86::Path::Avx2, d, s, w),
            ));
        }
        paths
    }

    /// Each path against the byte loop: lengths 0..=300, both sides of
    /// `ALIGN_MIN` and some large ones, every start alignment modulo 64 (a
    /// few for the largest),
    /// every key phase and offsets past 2^32, in place and copying.
    #[cfg(feature = "alloc")]
    #[test]
    fn every_path_equals_bytewise() {
        let key = [0x9c, 0x21, 0x5e, 0xf0];
        let lengths: Vec<usize> = (0..=300)
            .chain([511, 512, 513, 777, 4096, 65_537])
            .collect();
        let offsets = [0u64, 1, 2, 3, (1 << 32) + 1, u64::MAX - (1 << 20)];
        for (name, apply, copy) in paths() {
            for &len in &lengths {
                let starts = if len <= 777 { 64 } else { 3 };
                for start in 0..starts {
                    // One byte of margin on each side proves nothing
                    // outside the slice is touched.
                    let size = start + len + 1;
                    let source: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
                    for &offset in &offsets {
                        let word = key_word(key, offset);
                        let mut want = source.clone();
                        apply_mask_bytewise(&mut want[start..start + len], key, offset);

                        let mut got = source.clone();
                        apply(&mut got[start..start + len], word);
                        assert!(
                            got == want,
                            "{name} in place: len {len} start {start} offset {offset}"
                        );

                        let mut out = vec![0u8; size];
                        copy(
                            &mut out[start..start + len],
                            &source[start..start + len],
                            word,
                        );
                        assert!(
                            out[start..start + len] == want[start..start + len],
                            "{name} copy: len {len} start {start} offset {offset}"
                        );
                        assert!(out[..start].iter().all(|&b| b == 0));
                        assert_eq!(out[start + len], 0);
                    }
                }
            }
        }
    }
}
