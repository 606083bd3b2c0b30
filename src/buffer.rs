//! The byte buffers a connection keeps: the output queue and the handshake
//! scratch. With `alloc` they are `Vec<u8>`s that grow as needed (bounded by
//! `Config`); without a heap they are slices the caller lends, and running
//! out of room is an error, never a reallocation.
//!
//! Both kinds sit behind one small trait so the engine has one code path:
//! every place that may grow a buffer asks first and handles "no room" the
//! way the RFC wants for that place (a 431 for a request head that does not
//! fit, `OutputFull` for a frame, 1009 is the receive side's and needs no
//! buffer at all since data is streamed).

use core::fmt;

/// A byte buffer the engine appends to and drains from the front.
///
/// Implemented by `Vec<u8>` (with `alloc`) and by [`FixedBuffer`]; sealed,
/// because the engine's invariants depend on exactly these two behaviours.
pub trait Buffer: fmt::Debug + Default + sealed::Sealed {
    fn as_slice(&self) -> &[u8];
    fn as_mut_slice(&mut self) -> &mut [u8];
    /// The most bytes it can ever hold, if it cannot grow.
    fn fixed_capacity(&self) -> Option<usize>;
    /// Makes room for `additional` more bytes, growing by doubling but
    /// never past `cap` (the memory a bounded buffer may take is its bound,
    /// not the next power of two above it). `false` if it cannot hold them.
    fn reserve_within(&mut self, additional: usize, cap: usize) -> bool;
    /// Appends `bytes`; `false`, and unchanged, if they do not fit.
    fn push_slice(&mut self, bytes: &[u8]) -> bool;
    /// Grows or shrinks to `len` bytes, new bytes zero; `false`, and
    /// unchanged, if `len` does not fit.
    fn resize_zeroed(&mut self, len: usize) -> bool;
    fn truncate(&mut self, len: usize);
    /// Removes the first `n` bytes, moving the rest to the front.
    fn remove_front(&mut self, n: usize);
    /// Empties it and gives back heap memory (nothing to give for a slice).
    fn release(&mut self);
    /// Gives back heap memory beyond what is in use.
    fn shrink(&mut self);
    /// The heap buffer, for a compressor that writes into a `Vec`; `None`
    /// for a fixed one.
    #[cfg(feature = "alloc")]
    fn as_vec(&mut self) -> Option<&mut alloc::vec::Vec<u8>>;
    /// The address of the first byte, for co-aligning copies.
    fn address(&self) -> usize {
        self.as_slice().as_ptr().addr()
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self) {
        self.truncate(0);
    }
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "alloc")]
    impl Sealed for alloc::vec::Vec<u8> {}
    impl Sealed for super::FixedBuffer<'_> {}
}

#[cfg(feature = "alloc")]
impl Buffer for alloc::vec::Vec<u8> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
    fn fixed_capacity(&self) -> Option<usize> {
        None
    }
    fn reserve_within(&mut self, additional: usize, cap: usize) -> bool {
        let needed = self.len().saturating_add(additional);
        if needed > self.capacity() {
            let target = self
                .capacity()
                .saturating_mul(2)
                .max(needed)
                .min(cap.max(needed));
            self.reserve_exact(target - self.len());
        }
        true
    }
    fn push_slice(&mut self, bytes: &[u8]) -> bool {
        self.extend_from_slice(bytes);
        true
    }
    fn resize_zeroed(&mut self, len: usize) -> bool {
        self.resize(len, 0);
        true
    }
    fn truncate(&mut self, len: usize) {
        alloc::vec::Vec::truncate(self, len);
    }
    fn remove_front(&mut self, n: usize) {
        self.drain(..n.min(self.len()));
    }
    fn release(&mut self) {
        *self = alloc::vec::Vec::new();
    }
    fn as_vec(&mut self) -> Option<&mut alloc::vec::Vec<u8>> {
        Some(self)
    }
    fn shrink(&mut self) {
        self.shrink_to_fit();
    }
}

/// A caller's slice used as a buffer: the bytes in use are `..len`, and it
/// never grows. This is what the no-allocator storage
/// ([`Fixed`](crate::storage::Fixed)) is made of.
#[derive(Default)]
pub struct FixedBuffer<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl<'a> FixedBuffer<'a> {
    /// An empty buffer over `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        FixedBuffer { bytes, len: 0 }
    }

    /// The slice lent, for reuse once the connection is dropped.
    pub fn into_inner(self) -> &'a mut [u8] {
        self.bytes
    }
}

impl fmt::Debug for FixedBuffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuffer")
            .field("len", &self.len)
            .field("capacity", &self.bytes.len())
            .finish()
    }
}

impl Buffer for FixedBuffer<'_> {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or(&mut [])
    }
    fn fixed_capacity(&self) -> Option<usize> {
        Some(self.bytes.len())
    }
    fn reserve_within(&mut self, additional: usize, _cap: usize) -> bool {
        self.len.saturating_add(additional) <= self.bytes.len()
    }
    fn push_slice(&mut self, bytes: &[u8]) -> bool {
        let end = self.len.saturating_add(bytes.len());
        match self.bytes.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                true
            }
            None => false,
        }
    }
    fn resize_zeroed(&mut self, len: usize) -> bool {
        match self.bytes.get_mut(self.len..len) {
            Some(grown) => grown.fill(0),
            None if len <= self.len => {}
            None => return false,
        }
        self.len = len;
        true
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    fn remove_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }
    fn release(&mut self) {
        self.len = 0;
    }
    fn shrink(&mut self) {}
    #[cfg(feature = "alloc")]
    fn as_vec(&mut self) -> Option<&mut alloc::vec::Vec<u8>> {
        None
    }
}

/// Where the handshake writers put an HTTP head: a `Vec` (always room) or a
/// [`HeadWriter`] over a connection's buffer (which may run out).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

#[cfg(feature = "alloc")]
impl Sink for alloc::vec::Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Writes a head into a [`Buffer`] all or nothing: once a piece does not
/// fit, the rest is skipped and [`finish`](Self::finish) takes the partial
/// head back out, so a fixed buffer never holds half a response.
pub(crate) struct HeadWriter<'b, B: Buffer> {
    out: &'b mut B,
    start: usize,
    full: bool,
}

impl<'b, B: Buffer> HeadWriter<'b, B> {
    pub(crate) fn new(out: &'b mut B) -> Self {
        let start = out.len();
        HeadWriter {
            out,
            start,
            full: false,
        }
    }

    /// Takes back everything written through this writer.
    pub(crate) fn abandon(self) {
        self.out.truncate(self.start);
    }

    /// `Err(())` if the head did not fit; the buffer is then as before.
    pub(crate) fn finish(self) -> Result<(), ()> {
        if self.full {
            self.out.truncate(self.start);
            Err(())
        } else {
            Ok(())
        }
    }
}

impl<B: Buffer> Sink for HeadWriter<'_, B> {
    fn put(&mut self, bytes: &[u8]) {
        if !self.full && !self.out.push_slice(bytes) {
            self.full = true;
        }
    }
}

/// Runs `write` on a [`HeadWriter`] over `out`: on its error, or when the
/// head did not fit ([`UsageError::OutputFull`]), `out` is left as it was.
pub(crate) fn write_head<B: Buffer>(
    out: &mut B,
    write: impl FnOnce(&mut HeadWriter<'_, B>) -> Result<(), crate::error::UsageError>,
) -> Result<(), crate::error::UsageError> {
    let mut writer = HeadWriter::new(out);
    match write(&mut writer) {
        Ok(()) => writer
            .finish()
            .map_err(|()| crate::error::UsageError::OutputFull),
        Err(error) => {
            writer.abandon();
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_buffer_refuses_what_does_not_fit_and_stays_unchanged() {
        let mut bytes = [0u8; 8];
        let mut b = FixedBuffer::new(&mut bytes);
        assert!(b.push_slice(b"hello"));
        assert!(!b.push_slice(b"world"));
        assert_eq!(b.as_slice(), b"hello");
        assert!(b.reserve_within(3, usize::MAX));
        assert!(!b.reserve_within(4, usize::MAX));
        assert!(!b.resize_zeroed(9));
        assert!(b.resize_zeroed(7));
        assert_eq!(b.as_slice(), b"hello\0\0");
        b.remove_front(2);
        assert_eq!(b.as_slice(), b"llo\0\0");
        b.truncate(3);
        assert_eq!(b.as_slice(), b"llo");
        assert_eq!(b.fixed_capacity(), Some(8));
    }

    #[test]
    fn head_writer_is_all_or_nothing() {
        let mut bytes = [0u8; 10];
        let mut b = FixedBuffer::new(&mut bytes);
        assert!(b.push_slice(b"ab"));
        let mut w = HeadWriter::new(&mut b);
        w.put(b"0123456");
        w.put(b"789");
        // A later piece that would fit on its own is not written either.
        w.put(b"x");
        assert_eq!(w.finish(), Err(()));
        assert_eq!(b.as_slice(), b"ab");
        let mut w = HeadWriter::new(&mut b);
        w.put(b"cd");
        assert_eq!(w.finish(), Ok(()));
        assert_eq!(b.as_slice(), b"abcd");
    }
}
