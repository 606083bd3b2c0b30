//! Whole messages on top of streamed [`Data`] events (needs `alloc`).
//!
//! The engine streams data as it arrives so a large message never has to be
//! held whole. Many applications want whole messages anyway; a
//! [`MessageAssembler`] joins the chunks of one message and hands it out
//! when its last chunk arrives.
//!
//! Cost: a message that arrives in one chunk (the common case for small
//! messages read in one go) is handed out where it lies, with no copy. Only a
//! message split over several chunks is copied, once, into a buffer that is
//! reused from message to message, so steady state allocates nothing. The
//! buffer is bounded by the connection's `Config::max_message_size`, which
//! the engine enforces before the bytes arrive.

use alloc::vec::Vec;
use core::str;

use crate::event::Data;
use crate::frame::MessageKind;

/// A complete message, borrowed from the chunk it arrived in or from the
/// assembler's buffer (the adapters' owned one is `io::Message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> MessageRef<'a> {
    /// The message's bytes, whatever its kind.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            MessageRef::Text(text) => text.as_bytes(),
            MessageRef::Binary(bytes) => bytes,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            MessageRef::Text(_) => MessageKind::Text,
            MessageRef::Binary(_) => MessageKind::Binary,
        }
    }
}

/// Joins the [`Data`] chunks of each message.
///
/// ```
/// use hybi::{Data, MessageAssembler, MessageKind, MessageRef};
///
/// let mut assembler = MessageAssembler::new();
/// let first = Data { kind: MessageKind::Text, payload: b"Hel", fin: false };
/// assert_eq!(assembler.push(first), None);
/// let last = Data { kind: MessageKind::Text, payload: b"lo", fin: true };
/// assert_eq!(assembler.push(last), Some(MessageRef::Text("Hello")));
/// ```
#[derive(Debug, Default)]
pub struct MessageAssembler {
    buffer: Vec<u8>,
    /// The buffer holds a message that was handed out; clear it first.
    handed_out: bool,
}

impl MessageAssembler {
    /// An assembler with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk; returns the message when `data.fin` completes it.
    ///
    /// The message borrows the chunk (if it was the whole message) or the
    /// assembler's buffer, until the next call.
    pub fn push<'a>(&'a mut self, data: Data<'a>) -> Option<MessageRef<'a>> {
        if self.handed_out {
            self.buffer.clear();
            self.handed_out = false;
        }
        let bytes: &'a [u8] = if self.buffer.is_empty() && data.fin {
            // The whole message in one chunk: no copy.
            data.payload
        } else {
            self.buffer.extend_from_slice(data.payload);
            if !data.fin {
                return None;
            }
            self.handed_out = true;
            &self.buffer
        };
        Some(match data.kind {
            // The engine validated the text and hands out whole code points
            // per chunk, so this cannot fail; checking again keeps the crate
            // free of unsafe code, and a failure would surface as binary
            // rather than as a panic.
            MessageKind::Text => match str::from_utf8(bytes) {
                Ok(text) => MessageRef::Text(text),
                Err(_) => MessageRef::Binary(bytes),
            },
            MessageKind::Binary => MessageRef::Binary(bytes),
        })
    }

    /// Bytes of an unfinished message held so far.
    pub fn buffered(&self) -> usize {
        if self.handed_out {
            0
        } else {
            self.buffer.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_chunk_is_borrowed_not_copied() {
        let mut assembler = MessageAssembler::new();
        let payload = b"abc";
        let message = assembler.push(Data {
            kind: MessageKind::Binary,
            payload,
            fin: true,
        });
        assert_eq!(message, Some(MessageRef::Binary(b"abc")));
        assert_eq!(
            message.map(|m| m.as_bytes().as_ptr()),
            Some(payload.as_ptr())
        );
    }

    #[test]
    fn chunks_join_and_buffer_is_reused() {
        let mut assembler = MessageAssembler::new();
        for round in 0..3 {
            assert_eq!(
                assembler.push(Data {
                    kind: MessageKind::Text,
                    payload: "é".as_bytes(),
                    fin: false
                }),
                None
            );
            assert_eq!(assembler.buffered(), 2);
            let message = assembler.push(Data {
                kind: MessageKind::Text,
                payload: b"t",
                fin: true,
            });
            assert_eq!(message, Some(MessageRef::Text("ét")), "round {round}");
        }
        assert_eq!(assembler.buffered(), 0);
    }

    #[test]
    fn empty_final_chunk_ends_message() {
        let mut assembler = MessageAssembler::new();
        assert_eq!(
            assembler.push(Data {
                kind: MessageKind::Binary,
                payload: b"x",
                fin: false
            }),
            None
        );
        let message = assembler.push(Data {
            kind: MessageKind::Binary,
            payload: b"",
            fin: true,
        });
        assert_eq!(message, Some(MessageRef::Binary(b"x")));
    }
}
