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

/// Bytes of OS entropy drawn per system call. Measured on a client sending
/// 16-byte frames: 256 spent about a fifth of the send path in the
/// syscall's fixed cost (entry, `crng_make_state`, copy-out); 1024 divides
/// that by four, for 768 bytes more per client connection.
#[cfg(feature = "std")]
const POOL: usize = 1024;

/// Operating-system entropy (`getrandom`), drawn in blocks of 1024 bytes so
/// a client sending many small frames makes one system call per 256
/// masking keys rather than one per frame. Each byte handed out is used once.
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct OsEntropy {
    pool: [u8; POOL],
    used: usize,
}

#[cfg(feature = "std")]
impl OsEntropy {
    /// A source that draws from the OS on first use.
    pub fn new() -> Self {
        OsEntropy {
            pool: [0; POOL],
            used: POOL,
        }
    }

    fn refill(&mut self) {
        // The OS RNG failing is not something a WebSocket can recover from, and
        // handing out predictable masking keys would be a silent security bug
        // (RFC 6455 §10.3), so this is the one place the crate panics.
        #[allow(clippy::expect_used)] // reason: see the comment above
        getrandom::fill(&mut self.pool).expect("the operating system's RNG failed");
        self.used = 0;
    }
}

#[cfg(feature = "std")]
impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl core::fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print unused random bytes.
        f.write_str("OsEntropy")
    }
}

#[cfg(feature = "std")]
impl Entropy for OsEntropy {
    fn fill(&mut self, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            if self.used == self.pool.len() {
                self.refill();
            }
            let n = buf.len().min(self.pool.len() - self.used);
            buf[..n].copy_from_slice(&self.pool[self.used..self.used + n]);
            // Erase what was handed out so it can never be handed out twice.
            self.pool[self.used..self.used + n].fill(0);
            self.used += n;
            buf = &mut buf[n..];
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
}
