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
        self.completed_len = 0;
        let mut completing = 0;
        if self.len > 0 {
            let have = usize::from(self.len);
            let need = sequence_width(self.partial[0]).saturating_sub(have);
            let take = need.min(chunk.len());
            self.partial[have..have + take].copy_from_slice(&chunk[..take]);
            let total = have + take;
            match core::str::from_utf8(&self.partial[..total]) {
                Ok(_) => {
                    self.len = 0;
                    self.completed_len = total as u8;
                    completing = take;
                }
                // Still a valid prefix: the chunk ran out first.
                Err(e) if e.error_len().is_none() => {
                    self.len = total as u8;
                    return Ok(Utf8Chunk {
                        completing: 0,
                        valid: 0,
                        pending: take,
                    });
                }
                Err(_) => {
                    return Err(Utf8Error {
                        completing: 0,
                        valid_prefix: 0,
                    })
                }
            }
        }
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

/// Whether `bytes` are whole, valid UTF-8 (simdutf8's `basic` flavour:
/// faster than `compat` when the position of an error is not wanted).
#[inline]
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
}
