//! Incremental UTF-8 validation across frame and chunk boundaries
//! (RFC 6455 §5.6, §8.1), failing at the first byte that proves the text
//! invalid.
//!
//! A text message may be split anywhere, inside a code point included: "a
//! particular text frame might include a partial UTF-8 sequence; however, the
//! whole message MUST contain valid UTF-8" (§5.6). [`Utf8Validator`] keeps the
//! at most three bytes of an unfinished code point between chunks.
//!
//! Fail fast: `core::str::from_utf8` reports an unfinished sequence at the end
//! of its input (`error_len() == None`) only when that sequence is a valid
//! prefix of some code point; `E0 80`, `ED A0` (a surrogate) or `F4 90` (above
//! U+10FFFF) are reported invalid at once. So the validator rejects a chunk as
//! soon as its bytes cannot start any valid text, never later.
//!
//! [`Utf8Validator::feed`] also says how the chunk splits into whole code
//! points, so the engine can hand the application text chunks that are each
//! valid `str`: the completed carried-over code point, the whole code points
//! of the chunk, and a new unfinished tail it keeps.

/// Result of feeding one chunk: which parts of it are whole, valid text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Chunk {
    /// Bytes at the start of the chunk that completed a code point carried
    /// over from the previous chunk (0 if none was pending). When non-zero,
    /// [`Utf8Validator::completed`] returns that whole code point.
    pub completing: usize,
    /// Length of the run of whole code points after `completing`.
    pub valid: usize,
    /// Bytes after `completing + valid`: a valid but unfinished code point,
    /// now held by the validator (0..=3). The chunk length is the sum of the
    /// three fields.
    pub pending: usize,
}

/// The text is not UTF-8. `valid_prefix` bytes of the chunk, after any
/// completed carry-over, were whole valid code points before the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// See [`Utf8Chunk::completing`]; the carried code point it completed was
    /// valid.
    pub completing: usize,
    /// Whole valid code points between `completing` and the invalid byte.
    pub valid_prefix: usize,
}

/// Validates a stream of UTF-8 chunks.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// An unfinished code point from earlier chunks; the first `len` bytes are
    /// used. After a completing `feed`, holds that whole code point until the
    /// next `feed`.
    partial: [u8; 4],
    len: u8,
    /// Length of the code point completed by the last `feed`, for `completed`.
    completed_len: u8,
}

impl Utf8Validator {
    /// A validator at a code point boundary.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            len: 0,
            completed_len: 0,
        }
    }

    /// Validates the next chunk of the text.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Utf8Chunk, Utf8Error> {
        let completing = match self.complete_carry(chunk)? {
            Carry::Completed(n) => n,
            Carry::StillPending(taken) => {
                return Ok(Utf8Chunk {
                    completing: 0,
                    valid: 0,
                    pending: taken,
                })
            }
        };
        let rest = &chunk[completing..];
        match validate(rest) {
            Ok(_) => Ok(Utf8Chunk {
                completing,
                valid: rest.len(),
                pending: 0,
            }),
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        completing,
                        valid_prefix: valid,
                    });
                }
                let tail = &rest[valid..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(Utf8Chunk {
                    completing,
                    valid,
                    pending: tail.len(),
                })
            }
        }
    }

    /// [`feed`](Self::feed) without validating the run of whole code points:
    /// the caller validates `chunk[completing..completing + valid]` itself,
    /// where it needs the `str` (the engine does, as it hands the text out,
    /// so text is validated once). Everything else is checked here as in
    /// `feed`: the carried-over code point is completed and checked, and
    /// the unfinished tail (found by the structure of its last bytes) is
    /// checked to be a valid prefix, failing fast (RFC 6455 §8.1).
    pub(crate) fn feed_deferred(&mut self, chunk: &[u8]) -> Result<Utf8Chunk, Utf8Error> {
        let completing = match self.complete_carry(chunk)? {
            Carry::Completed(n) => n,
            Carry::StillPending(taken) => {
                return Ok(Utf8Chunk {
                    completing: 0,
                    valid: 0,
                    pending: taken,
                })
            }
        };
        let rest = &chunk[completing..];
        let tail = rest.len() - incomplete_tail(rest);
        let pending = &rest[tail..];
        if !pending.is_empty() {
            // A valid prefix of a code point reports "incomplete"; anything
            // else cannot start valid text: the run before it is handed
            // out first, then the connection fails.
            match core::str::from_utf8(pending) {
                Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 => {}
                _ => {
                    return Err(Utf8Error {
                        completing,
                        valid_prefix: tail,
                    })
                }
            }
            self.partial[..pending.len()].copy_from_slice(pending);
            self.len = pending.len() as u8;
        }
        Ok(Utf8Chunk {
            completing,
            valid: tail,
            pending: pending.len(),
        })
    }

    /// Completes a code point carried over from earlier chunks with the
    /// start of `chunk`.
    fn complete_carry(&mut self, chunk: &[u8]) -> Result<Carry, Utf8Error> {
        self.completed_len = 0;
        if self.len == 0 {
            return Ok(Carry::Completed(0));
        }
        let have = usize::from(self.len);
        let need = sequence_width(self.partial[0]).saturating_sub(have);
        let take = need.min(chunk.len());
        self.partial[have..have + take].copy_from_slice(&chunk[..take]);
        let total = have + take;
        match core::str::from_utf8(&self.partial[..total]) {
            Ok(_) => {
                self.len = 0;
                self.completed_len = total as u8;
                Ok(Carry::Completed(take))
            }
            // Still a valid prefix: the chunk ran out first.
            Err(e) if e.error_len().is_none() => {
                self.len = total as u8;
                Ok(Carry::StillPending(take))
            }
            Err(_) => Err(Utf8Error {
                completing: 0,
                valid_prefix: 0,
            }),
        }
    }

    /// The code point completed by the last [`feed`](Self::feed), if its
    /// `completing` was non-zero.
    pub fn completed(&self) -> &[u8] {
        &self.partial[..usize::from(self.completed_len)]
    }

    /// Whether the text so far ends on a code point boundary; a message that
    /// ends otherwise is invalid ("truncated sequence at the end").
    pub fn is_complete(&self) -> bool {
        self.len == 0
    }

    /// Forgets any unfinished code point, for the start of a new message.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

/// What completing a carried-over code point did.
enum Carry {
    /// It was completed with this many bytes of the chunk (0: none carried).
    Completed(usize),
    /// The chunk ended first; all of its bytes were taken.
    StillPending(usize),
}

/// How many bytes at the end of `bytes` start a code point that does not
/// end within them, judged by the structure of the last three bytes only
/// (a leading byte announcing more bytes than follow it). Validity is
/// checked by the caller; an invalid leading byte counts as complete, so
/// validation finds it.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let width = match byte {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if width > back { back } else { 0 };
    }
    0
}

/// Where the whole code points of `bytes` end, by structure only (see
/// [`Utf8Validator::feed_deferred`]): `Ok(end)` when what follows `end` is a
/// valid but unfinished code point (or nothing), `Err(end)` when it cannot
/// start valid text. The bytes before `end` are for the caller to validate.
#[cfg(feature = "deflate")]
pub(crate) fn split_unfinished(bytes: &[u8]) -> Result<usize, usize> {
    let end = bytes.len() - incomplete_tail(bytes);
    match core::str::from_utf8(&bytes[end..]) {
        Ok(_) => Ok(end),
        Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 => Ok(end),
        Err(_) => Err(end),
    }
}

/// Validates `bytes` as whole UTF-8 and gives them as a `str`: the one
/// check text gets on the receive path (see [`Utf8Validator::feed_deferred`]).
#[inline]
pub(crate) fn validate_str(bytes: &[u8]) -> Result<&str, simdutf8::compat::Utf8Error> {
    validate(bytes)
}

/// Whether `bytes` are whole, valid UTF-8 (simdutf8's `basic` flavour:
/// faster than `compat` when the position of an error is not wanted).
#[inline]
#[cfg(feature = "alloc")]
pub(crate) fn is_valid(bytes: &[u8]) -> bool {
    simdutf8::basic::from_utf8(bytes).is_ok()
}

/// `core::str::from_utf8`'s verdict, reached faster: simdutf8 checks valid
/// text 64 bytes a step with the widest SIMD the CPU has (picked at run time
/// under `std`, at compile time without), and on invalid input reports the
/// same `valid_up_to` and `error_len` as core (its `compat` flavour). On the
/// multibyte text of `benches/` it validates several times faster than core,
/// on ASCII about twice (perf/, BENCHMARKS.md).
#[inline]
fn validate(bytes: &[u8]) -> Result<&str, simdutf8::compat::Utf8Error> {
    simdutf8::compat::from_utf8(bytes)
}

/// Total length of the sequence a valid leading byte starts. Only leading
/// bytes `from_utf8` accepted as a prefix reach here.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&[u8]]) -> Result<bool, Utf8Error> {
        let mut v = Utf8Validator::new();
        for c in chunks {
            v.feed(c)?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn split_code_points_at_every_position() {
        let text = "κόσμε€😀a".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let r = feed_all(&[&text[..i], &text[i..j], &text[j..]]);
                assert_eq!(r, Ok(true), "split {i} {j}");
            }
        }
    }

    #[test]
    fn fail_fast_on_impossible_prefixes() {
        // Each is invalid as soon as these bytes are seen.
        for bad in [
            &[0xe0, 0x80][..], // overlong 3-byte
            &[0xed, 0xa0],     // surrogate
            &[0xf4, 0x90],     // above U+10FFFF
            &[0xf5],           // never a lead byte
            &[0xc0],           // overlong 2-byte lead
            &[0x80],           // lone continuation
        ] {
            let mut v = Utf8Validator::new();
            assert!(v.feed(bad).is_err(), "{bad:x?}");
            // And split one byte at a time, the failing byte is the last.
            let mut v = Utf8Validator::new();
            let mut failed_at = None;
            for (i, b) in bad.iter().enumerate() {
                if v.feed(&[*b]).is_err() {
                    failed_at = Some(i);
                    break;
                }
            }
            assert_eq!(failed_at, Some(bad.len() - 1), "{bad:x?}");
        }
    }

    #[test]
    fn chunk_accounting() {
        let mut v = Utf8Validator::new();
        // "a€" = 61 e2 82 ac, split after e2.
        assert_eq!(
            v.feed(&[0x61, 0xe2]),
            Ok(Utf8Chunk {
                completing: 0,
                valid: 1,
                pending: 1
            })
        );
        assert!(!v.is_complete());
        assert_eq!(
            v.feed(&[0x82, 0xac, 0x62]),
            Ok(Utf8Chunk {
                completing: 2,
                valid: 1,
                pending: 0
            })
        );
        assert_eq!(v.completed(), "€".as_bytes());
        assert!(v.is_complete());
        assert_eq!(
            v.feed(&[0x63, 0xff]),
            Err(Utf8Error {
                completing: 0,
                valid_prefix: 1
            })
        );
    }

    #[test]
    fn validate_agrees_with_core_on_every_two_byte_sequence() {
        // After 62 ASCII bytes, so the SIMD path (64 bytes a step) sees the
        // pair at its block boundary, and alone, where the short path does.
        let mut long = [b'a'; 64];
        for pair in 0..=u16::MAX {
            let [a, b] = pair.to_be_bytes();
            long[62] = a;
            long[63] = b;
            for input in [&long[..], &long[62..], &long[62..63]] {
                let ours = validate(input)
                    .map(|_| ())
                    .map_err(|e| (e.valid_up_to(), e.error_len()));
                let core = core::str::from_utf8(input)
                    .map(|_| ())
                    .map_err(|e| (e.valid_up_to(), e.error_len()));
                assert_eq!(ours, core, "{input:x?}");
            }
        }
    }

    #[test]
    fn truncated_at_end_is_incomplete() {
        assert_eq!(feed_all(&[&[0xf0, 0x9f, 0x98]]), Ok(false));
    }

    /// `feed_deferred` plus validating the run it hands over gives what
    /// `feed` gives, for every split of valid and invalid text into three
    /// chunks: the same accepted text, the same carried tail, and an error
    /// at the same place (the valid text before it the same).
    #[cfg(feature = "alloc")]
    #[test]
    fn deferred_validation_agrees_with_feed() {
        use alloc::vec;
        use alloc::vec::Vec;
        let mut inputs: Vec<Vec<u8>> = ["κόσμε€😀a", "日本語のテキスト", "ascii only"]
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        for bad in [
            &[0xe0, 0x80][..],
            &[0xed, 0xa0],
            &[0xf4, 0x90],
            &[0xf5],
            &[0xc0],
            &[0x80],
            &[0xff],
        ] {
            let mut v = "ab€".as_bytes().to_vec();
            v.extend_from_slice(bad);
            v.extend_from_slice("cd😀".as_bytes());
            inputs.push(v);
        }
        // Unfinished at the end.
        inputs.push(vec![0x61, 0xf0, 0x9f, 0x98]);
        for text in &inputs {
            for i in 0..=text.len() {
                for j in i..=text.len() {
                    let chunks = [&text[..i], &text[i..j], &text[j..]];
                    assert_eq!(run(&chunks, false), run(&chunks, true), "{text:x?} {i} {j}");
                }
            }
        }

        /// The text accepted, chunk by chunk, then whether it ended
        /// complete or where it failed.
        fn run(chunks: &[&[u8]], deferred: bool) -> (Vec<u8>, Result<bool, ()>) {
            let mut v = Utf8Validator::new();
            let mut accepted = Vec::new();
            for chunk in chunks {
                let result = if deferred {
                    v.feed_deferred(chunk).and_then(|split| {
                        let run = &chunk[split.completing..split.completing + split.valid];
                        match validate_str(run) {
                            Ok(_) => Ok(split),
                            Err(e) => Err(Utf8Error {
                                completing: split.completing,
                                valid_prefix: e.valid_up_to(),
                            }),
                        }
                    })
                } else {
                    v.feed(chunk)
                };
                match result {
                    Ok(split) => {
                        accepted.extend_from_slice(v.completed());
                        accepted.extend_from_slice(
                            &chunk[split.completing..split.completing + split.valid],
                        );
                    }
                    Err(e) => {
                        accepted
                            .extend_from_slice(&chunk[e.completing..e.completing + e.valid_prefix]);
                        return (accepted, Err(()));
                    }
                }
            }
            (accepted, Ok(v.is_complete()))
        }
    }
}
