//! Where a [`Connection`](crate::Connection) keeps its bytes: on the heap
//! ([`Heap`], the default, with `alloc`) or in buffers the caller lends
//! ([`Fixed`], no allocator needed at all).
//!
//! The engine is the same for both: one state machine, one receive path
//! (which never buffers data anyway: payloads are unmasked in the caller's
//! input and streamed out), one send path. What differs is only what
//! happens when a buffer would have to grow:
//!
//! | buffer | `Heap` | `Fixed` |
//! |---|---|---|
//! | output queue | grows up to `max_buffered_output` | the `output` slice; `OutputFull` past it, with 278 bytes always kept for the closing frames |
//! | handshake head | grows up to `max_handshake_size` | the `handshake` slice; a longer head is refused (431 to a client, `HandshakeTooLarge`) |
//! | rejection body (client) | up to `max_rejection_body` | what fits after the head in `handshake` |
//! | subprotocol | kept in the handshake buffer | the same |
//! | header slots | 64 on the stack, more on the heap | at most 64 headers (`max_headers` above is held to 64) |
//! | permessage-deflate | with feature `deflate` | never agreed (a compressor needs a heap) |
//!
//! Data messages are never reassembled by the engine (that is the
//! [`MessageAssembler`](crate::MessageAssembler)'s job, with a heap), so a
//! message of any size up to `max_message_size` flows through fixed
//! buffers; a larger one is refused with 1009 as on the heap.

use crate::buffer::FixedBuffer;
use crate::entropy::Entropy;
use crate::handshake::BorrowedRequest;
use core::fmt;
use core::marker::PhantomData;

/// How a connection stores its buffers and handshake state; see the
/// module docs. Sealed: [`Heap`] and [`Fixed`] are the two kinds, and what
/// they hold is the engine's business (the `sealed::Kind` supertrait).
pub trait Storage: fmt::Debug + sealed::Kind {}

mod sealed {
    use core::fmt;
    use core::ops::{Deref, DerefMut};

    use crate::buffer::Buffer;
    use crate::entropy::Entropy;
    use crate::handshake::ClientHead;

    /// What a storage holds. Public in a private module: nameable inside
    /// the crate, invisible outside it, so `Storage` cannot be implemented
    /// elsewhere and none of this is public API.
    pub trait Kind {
        /// The output queue and the handshake buffer.
        type Buf: Buffer;
        /// A handshake phase's state: boxed on the heap (a connection that
        /// is open stays small), inline without one.
        type Slot<T: fmt::Debug>: DerefMut<Target = T> + fmt::Debug;
        /// Where a client's masking keys come from.
        type Entropy: Entropy + Send;
        /// The client's request, kept to check the answer against.
        type Request: ClientHead;
        /// Whether permessage-deflate may be agreed.
        const COMPRESSION: bool;
        /// The most header lines a head may have, whatever `max_headers`
        /// says.
        const MAX_HEADERS: usize;
        fn slot<T: fmt::Debug>(value: T) -> Self::Slot<T>;
        fn unslot<T: fmt::Debug>(slot: Self::Slot<T>) -> T;
    }

    /// A value kept in place (the [`Fixed`] storage's handshake state).
    #[derive(Debug)]
    pub struct Inline<T>(pub(in crate::connection::storage) T);

    impl<T> Deref for Inline<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> DerefMut for Inline<T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }
}

/// Buffers on the heap, grown as needed within `Config`'s limits: what
/// [`Connection::server`](crate::Connection::server) and
/// [`Connection::client`](crate::Connection::client) build.
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct Heap;

#[cfg(feature = "alloc")]
impl Storage for Heap {}

#[cfg(feature = "alloc")]
impl sealed::Kind for Heap {
    type Buf = alloc::vec::Vec<u8>;
    type Slot<T: fmt::Debug> = alloc::boxed::Box<T>;
    type Entropy = alloc::boxed::Box<dyn Entropy + Send>;
    type Request = crate::handshake::ClientRequest;
    const COMPRESSION: bool = true;
    const MAX_HEADERS: usize = usize::MAX;
    fn slot<T: fmt::Debug>(value: T) -> Self::Slot<T> {
        alloc::boxed::Box::new(value)
    }
    fn unslot<T: fmt::Debug>(slot: Self::Slot<T>) -> T {
        *slot
    }
}

/// Buffers the caller lends for the connection's lifetime `'a`: no
/// allocation ever, and no allocator needed (build with default features
/// off). See [`FixedBuffers`] for the sizes to choose.
#[derive(Debug)]
pub struct Fixed<'a>(PhantomData<&'a mut [u8]>);

impl Storage for Fixed<'_> {}

impl<'a> sealed::Kind for Fixed<'a> {
    type Buf = FixedBuffer<'a>;
    type Slot<T: fmt::Debug> = sealed::Inline<T>;
    type Entropy = &'a mut (dyn Entropy + Send);
    type Request = BorrowedRequest<'a>;
    const COMPRESSION: bool = false;
    const MAX_HEADERS: usize = crate::handshake::STACK_HEADER_SLOTS;
    fn slot<T: fmt::Debug>(value: T) -> Self::Slot<T> {
        sealed::Inline(value)
    }
    fn unslot<T: fmt::Debug>(slot: Self::Slot<T>) -> T {
        slot.0
    }
}

/// The two slices a [`Fixed`] connection runs on.
///
/// * `output`: frames waiting to be written. It bounds the largest frame
///   that can be sent (payload + 14 bytes of header), and 278 bytes of it
///   are kept for the Close and Pong that end a connection. With
///   `Config::max_buffered_output` smaller, that limit applies as usual.
/// * `handshake`: the peer's HTTP head (a browser's request is 400 to 700
///   bytes; 1 KiB is comfortable, 2 KiB generous). A client's own request
///   goes to `output`, which must hold it. After the handshake it keeps only
///   the agreed subprotocol.
///
/// Received data needs no buffer here: payloads are unmasked in the slice
/// given to `handle_input` and streamed out as they arrive.
#[derive(Debug)]
pub struct FixedBuffers<'a> {
    /// The output queue.
    pub output: &'a mut [u8],
    /// The handshake head and, afterwards, the subprotocol.
    pub handshake: &'a mut [u8],
}
