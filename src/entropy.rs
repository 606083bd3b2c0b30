//! Where a client's randomness comes from.
//!
//! RFC 6455 §5.3: "the masking key MUST be derived from a strong source of
//! entropy, and the masking key for a given frame MUST NOT make it simple for
//! a server/proxy to predict the masking key for a subsequent frame"; §4.1:
//! the Sec-WebSocket-Key nonce "MUST be selected randomly for each
//! connection". The core never owns an RNG: it asks an [`Entropy`] source,
//! which is OS entropy under `std` ([`OsEntropy`]) and whatever the caller
//! supplies elsewhere (a device's hardware RNG, a fixed source in tests).

/// A source of random bytes for masking keys and handshake nonces.
///
/// Implementations must be unpredictable to the peer (a CSPRNG or the OS);
/// only tests should use a fixed or counting source.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<E: Entropy + ?Sized> Entropy for &mut E {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

#[cfg(feature = "alloc")]
impl<E: Entropy + ?Sized> Entropy for alloc::boxed::Box<E> {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

/// The generator behind [`OsEntropy`]: ChaCha with 12 rounds, the block
/// function rand's `ThreadRng` uses (RustCrypto's `chacha20`, which rand
/// 0.10 itself builds on), with run-time AVX2/SSE2 dispatch inside the crate.
#[cfg(feature = "std")]
type Core = chacha20::ChaChaCore<chacha20::R12, chacha20::variants::Legacy>;

/// Words one call of [`Core`] produces: four 64-byte ChaCha blocks.
#[cfg(feature = "std")]
const STEP: usize = 64;

/// Bytes [`OsEntropy`] buffers: four calls of [`Core`], 1 KiB, 256 masking
/// keys. The process id is checked once per refill (a system call, about
/// 200 ns on the bench VM: once per 64 keys it cost 3 ns of a 16-byte
/// client frame's ~45; once per 256, under 1 ns).
#[cfg(feature = "std")]
const BUFFER: usize = 4 * STEP * 4;

/// Output after which [`OsEntropy`] draws a fresh key from the OS: 64 KiB,
/// rand's `ThreadRng` threshold, i.e. every 16,384 masking keys. A reseed
/// costs one `getrandom` of 32 bytes, so about one system call per
/// megabyte of 16-byte frames: invisible. It bounds how much output a
/// leaked generator state would predict.
#[cfg(feature = "std")]
pub(crate) const RESEED_AFTER: u64 = 64 * 1024;

/// Masking keys and handshake nonces from a ChaCha CSPRNG in user space,
/// keyed from the operating system (`getrandom`) and rekeyed from it every
/// 64 KiB of output, when the process id changes (a `fork`), and for every
/// new `OsEntropy` (each connection has its own).
///
/// RFC 6455 §10.3 asks that masking keys be unpredictable to the server for
/// later frames; a CSPRNG keyed from the OS is exactly that, and it is what
/// tungstenite uses (rand's `ThreadRng`: ChaCha12, reseeded every 64 KiB).
/// Drawing every block from the kernel instead cost a client sending 16-
/// and 125-byte frames about 20-30% of its speed (perf/, encode client).
///
/// - Each byte is handed out once and erased from the buffer as it is;
///   `Debug` prints no state.
/// - `Clone` gives an independent source, keyed afresh on first use: a
///   clone never repeats the original's keys.
/// - Fork: the process id is compared at every 1 KiB refill, and a change
///   rekeys from the OS first, so a forked child hands out its parent's
///   output for at most the rest of the current 1 KiB (255 masking keys).
///   A `Connection` owns its source, so a child that goes on using its
///   parent's connection also shares its socket; the check is for a source
///   that was used before a fork and handed to a connection after it.
///   Checking on every key would cost a system call per frame.
#[cfg(feature = "std")]
pub struct OsEntropy {
    /// `None` until first use, so `new()` makes no system call.
    core: Option<Core>,
    /// Output, little-endian bytes of the words. Byte `i` not handed out
    /// yet is byte `i % 4` of `words[i / 4]` for `i >= used`; every byte
    /// below `used` has been handed out and set to 0.
    words: [u32; BUFFER / 4],
    used: usize,
    /// Output since the last key from the OS.
    since_seed: u64,
    /// The process that drew the current key.
    pid: u32,
    /// Keys drawn from the OS so far (tests check the reseeds with it).
    #[cfg(test)]
    keys: u32,
}

#[cfg(feature = "std")]
impl OsEntropy {
    /// A source that draws its key from the OS on first use.
    pub fn new() -> Self {
        OsEntropy {
            core: None,
            words: [0; BUFFER / 4],
            used: BUFFER,
            since_seed: 0,
            pid: 0,
            #[cfg(test)]
            keys: 0,
        }
    }

    /// Refills the buffer, rekeying first if this source has no key yet,
    /// has produced [`RESEED_AFTER`] bytes on its key, or runs in another
    /// process than the one that keyed it.
    fn refill(&mut self, pid: u32) {
        use chacha20::rand_core::block::Generator;
        use chacha20::rand_core::SeedableRng;

        let core = match &mut self.core {
            Some(core) if self.pid == pid && self.since_seed < RESEED_AFTER => core,
            _ => {
                let mut seed = [0u8; 32];
                // The OS RNG failing is not something a WebSocket can recover
                // from, and handing out predictable masking keys would be a
                // silent security bug (RFC 6455 §10.3), so this is the one
                // place the crate panics.
                #[allow(clippy::expect_used)] // reason: see the comment above
                getrandom::fill(&mut seed).expect("the operating system's RNG failed");
                self.pid = pid;
                self.since_seed = 0;
                #[cfg(test)]
                {
                    self.keys += 1;
                }
                let core = self.core.insert(Core::from_seed(seed));
                seed.fill(0);
                core
            }
        };
        for step in self.words.chunks_exact_mut(STEP) {
            #[allow(clippy::expect_used)] // reason: STEP is the output's length
            core.generate(step.try_into().expect("STEP words"));
        }
        self.since_seed += BUFFER as u64;
        self.used = 0;
    }

    /// Hands out the next `buf.len()` bytes, which the buffer holds, and
    /// erases them: a whole word at a time where the draw is word-aligned
    /// (every masking key after the 16-byte handshake nonce), else bytewise.
    #[inline]
    fn take(&mut self, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() {
            let word = &mut self.words[self.used / 4];
            if self.used % 4 == 0 && buf.len() - i >= 4 {
                buf[i..i + 4].copy_from_slice(&word.to_le_bytes());
                *word = 0;
                self.used += 4;
                i += 4;
            } else {
                let shift = (self.used % 4) * 8;
                buf[i] = (*word >> shift) as u8;
                *word &= !(0xff << shift);
                self.used += 1;
                i += 1;
            }
        }
    }

    /// [`Entropy::fill`] as if running in process `pid` (tests simulate a
    /// fork with it).
    fn fill_as(&mut self, pid: u32, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            if self.used == BUFFER {
                self.refill(pid);
            }
            let n = buf.len().min(BUFFER - self.used);
            let (now, later) = buf.split_at_mut(n);
            self.take(now);
            buf = later;
        }
    }
}

#[cfg(feature = "std")]
impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

/// A fresh, independent source: copying the generator would make the clone
/// hand out the same keys as the original.
#[cfg(feature = "std")]
impl Clone for OsEntropy {
    fn clone(&self) -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl core::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the key or unused output.
        f.write_str("OsEntropy")
    }
}

#[cfg(feature = "std")]
impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        // The process id is needed only when the buffer runs out.
        if buf.len() <= BUFFER - self.used {
            self.take(buf);
        } else {
            self.fill_as(std::process::id(), buf);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_differs_across_calls_and_blocks() {
        let mut e = OsEntropy::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut key = [0u8; 4];
            e.fill(&mut key);
            seen.insert(key);
        }
        // 200 draws of 32 random bits: a collision has probability ~5e-6.
        assert!(seen.len() >= 199);
        let mut big = [0u8; 1000];
        e.fill(&mut big);
        assert!(big.iter().filter(|&&b| b == 0).count() < 30);
    }

    /// Many keys, across many refills and a reseed: no 8-byte draw repeats
    /// (64 random bits; a repeat among 40,000 has probability ~4e-11).
    #[test]
    fn keys_are_distinct_across_refills() {
        let mut e = OsEntropy::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..40_000 {
            let mut key = [0u8; 8];
            e.fill(&mut key);
            assert!(seen.insert(key), "a key repeated");
        }
    }

    /// Two sources, and a source and its clone, never hand out the same
    /// stream.
    #[test]
    fn sources_and_clones_are_independent() {
        let mut a = OsEntropy::new();
        let mut first = [0u8; 32];
        a.fill(&mut first);
        let mut b = a.clone();
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_ne!(x, y);
        let mut c = OsEntropy::new();
        let mut z = [0u8; 32];
        c.fill(&mut z);
        assert_ne!(first, z);
    }

    #[test]
    fn reseeds_after_the_threshold() {
        let mut e = OsEntropy::new();
        let pid = std::process::id();
        let mut buf = [0u8; 4];
        e.fill_as(pid, &mut buf);
        assert_eq!(e.keys, 1);
        // Run up to the last byte of output on the first key.
        let mut sink = std::vec![0u8; RESEED_AFTER as usize - 4];
        e.fill_as(pid, &mut sink);
        assert_eq!(e.since_seed, RESEED_AFTER);
        assert_eq!(e.keys, 1);
        // The next byte crosses the threshold: a new key from the OS.
        e.fill_as(pid, &mut buf);
        assert_eq!(e.since_seed, BUFFER as u64);
        assert_eq!(e.keys, 2);
    }

    #[test]
    fn a_new_process_id_rekeys_at_the_next_refill() {
        let mut e = OsEntropy::new();
        let pid = std::process::id();
        let mut buf = [0u8; BUFFER];
        e.fill_as(pid, &mut buf);
        e.fill_as(pid, &mut buf);
        assert_eq!(e.since_seed, 2 * BUFFER as u64);
        assert_eq!(e.keys, 1);
        // A forked child (simulated: another pid) draws a fresh key.
        let mut child = [0u8; 4];
        e.fill_as(pid.wrapping_add(1), &mut child);
        assert_eq!(e.since_seed, BUFFER as u64);
        assert_eq!(e.keys, 2);
        assert_eq!(e.pid, pid.wrapping_add(1));
    }

    #[test]
    fn handed_out_bytes_are_erased_and_debug_prints_nothing() {
        let mut e = OsEntropy::new();
        let mut buf = [0u8; 100];
        e.fill(&mut buf);
        // 100 bytes: words 0..25 handed out whole.
        assert!(e.words[..25].iter().all(|&w| w == 0));
        assert!(e.words[25..].iter().any(|&w| w != 0));
        let mut three = [0u8; 3];
        e.fill(&mut three);
        assert_eq!(
            e.words[25] & 0x00ff_ffff,
            0,
            "the bytes handed out are erased"
        );
        assert_eq!(std::format!("{e:?}"), "OsEntropy");
    }
}
