//! Decoding the fuzzer's bytes: a cursor that never runs out, the chunking
//! of a stream, and an entropy source whose output is known.

use hybi::Entropy;

/// Reads an input front to back; past its end every byte is 0.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// How a stream is split: a count byte (`% 8`), then that many size bytes,
/// used in a cycle; a size byte of 0 means "everything left", and no sizes
/// means the stream goes in whole.
pub(crate) struct Chunks {
    pub(crate) sizes: Vec<usize>,
    pub(crate) next: usize,
}

impl Chunks {
    pub(crate) fn read(input: &mut Cursor<'_>) -> Chunks {
        let count = input.byte() % 8;
        let sizes = (0..count)
            .map(|_| match input.byte() {
                0 => usize::MAX,
                n => usize::from(n),
            })
            .collect();
        Chunks { sizes, next: 0 }
    }

    pub(crate) fn whole() -> Chunks {
        Chunks {
            sizes: Vec::new(),
            next: 0,
        }
    }

    pub(crate) fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        size
    }
}

/// An entropy source that counts up from a seed, so keys are known.
pub(crate) struct Counting(pub(crate) u8);

impl Entropy for Counting {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}
