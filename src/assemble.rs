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

use alloc::string::String;
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

/// A complete message, owned: what [`MessageAssembler::push_owned`] hands
/// out for adapters that give messages away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// Joins the [`Data`] chunks of each message.
///
/// ```
/// use hybi::{Data, MessageAssembler, MessageKind, MessageRef};
///
/// let mut assembler = MessageAssembler::new();
/// let first = Data::new_text("Hel", false);
/// assert_eq!(assembler.push(first), None);
/// let last = Data::new_text("lo", true);
/// assert_eq!(assembler.push(last), Some(MessageRef::Text("Hello")));
/// ```
#[derive(Debug, Default)]
pub struct MessageAssembler {
    buffer: Vec<u8>,
    /// The buffer holds a message that was handed out; clear it first.
    handed_out: bool,
    /// A text message being joined, as text all along.
    text: String,
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
            self.text.clear();
            self.handed_out = false;
        }
        match data.text() {
            // Text is joined as text: every chunk is whole code points the
            // engine validated, so no check happens here.
            Some(chunk) => {
                if self.text.is_empty() && data.fin {
                    // The whole message in one chunk: no copy.
                    return Some(MessageRef::Text(chunk));
                }
                self.text.reserve_exact(whole_rest(&data));
                self.text.push_str(chunk);
                if !data.fin {
                    return None;
                }
                self.handed_out = true;
                Some(MessageRef::Text(&self.text))
            }
            None => {
                if self.buffer.is_empty() && data.fin {
                    return Some(MessageRef::Binary(data.payload));
                }
                self.buffer.reserve_exact(whole_rest(&data));
                self.buffer.extend_from_slice(data.payload);
                if !data.fin {
                    return None;
                }
                self.handed_out = true;
                Some(MessageRef::Binary(&self.buffer))
            }
        }
    }

    /// Adds a chunk; returns the message, owned, when `data.fin` completes
    /// it. A message that arrives in one chunk is copied once; one in
    /// several is joined in a buffer that is then handed over whole, not
    /// copied again (so nothing of it stays in the assembler). Text is
    /// joined as text, with no second UTF-8 check.
    pub fn push_owned(&mut self, data: Data<'_>) -> Option<OwnedMessage> {
        if self.handed_out {
            self.buffer.clear();
            self.text.clear();
            self.handed_out = false;
        }
        match data.text() {
            Some(chunk) => {
                if !data.fin {
                    self.text.reserve_exact(whole_rest(&data));
                    self.text.push_str(chunk);
                    return None;
                }
                if self.text.is_empty() {
                    return Some(OwnedMessage::Text(String::from(chunk)));
                }
                self.text.push_str(chunk);
                Some(OwnedMessage::Text(core::mem::take(&mut self.text)))
            }
            None => {
                if !data.fin {
                    self.buffer.reserve_exact(whole_rest(&data));
                    self.buffer.extend_from_slice(data.payload);
                    return None;
                }
                if self.buffer.is_empty() {
                    return Some(OwnedMessage::Binary(data.payload.to_vec()));
                }
                self.buffer.extend_from_slice(data.payload);
                Some(OwnedMessage::Binary(core::mem::take(&mut self.buffer)))
            }
        }
    }

    /// Bytes of an unfinished message held so far.
    pub fn buffered(&self) -> usize {
        if self.handed_out {
            0
        } else {
            self.buffer.len() + self.text.len()
        }
    }
}

/// What to reserve before appending `data` beyond what the buffer holds:
/// the chunk, and the rest of the message when the engine knows it (a large
/// frame read in many chunks), so the buffer is allocated once at the
/// message's size instead of doubling (up to twice the memory, and a copy
/// at each step). Without a hint, `reserve_exact` of the chunk alone would
/// grow the buffer a chunk at a time, so the usual doubling is kept.
fn whole_rest(data: &Data<'_>) -> usize {
    match data.rest_hint() {
        Some(rest) => data.payload.len().saturating_add(rest),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_chunk_is_borrowed_not_copied() {
        let mut assembler = MessageAssembler::new();
        let payload = b"abc";
        let message = assembler.push(Data::new_binary(payload, true));
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
            assert_eq!(assembler.push(Data::new_text("é", false)), None);
            assert_eq!(assembler.buffered(), 2);
            let message = assembler.push(Data::new_text("t", true));
            assert_eq!(message, Some(MessageRef::Text("ét")), "round {round}");
        }
        assert_eq!(assembler.buffered(), 0);
    }

    #[test]
    fn empty_final_chunk_ends_message() {
        let mut assembler = MessageAssembler::new();
        assert_eq!(assembler.push(Data::new_binary(b"x", false)), None);
        let message = assembler.push(Data::new_binary(b"", true));
        assert_eq!(message, Some(MessageRef::Binary(b"x")));
    }

    #[test]
    fn owned_messages_are_handed_over_not_kept() {
        let mut assembler = MessageAssembler::new();
        let chunk = |kind, payload: &'static str, fin| match kind {
            MessageKind::Text => Data::new_text(payload, fin),
            MessageKind::Binary => Data::new_binary(payload.as_bytes(), fin),
        };
        assert_eq!(
            assembler.push_owned(chunk(MessageKind::Text, "日本", false)),
            None
        );
        assert_eq!(assembler.buffered(), 6);
        assert_eq!(
            assembler.push_owned(chunk(MessageKind::Text, "語", true)),
            Some(OwnedMessage::Text("日本語".into()))
        );
        assert_eq!(assembler.buffered(), 0);
        assert_eq!(
            assembler.text.capacity(),
            0,
            "the joined text went with the message"
        );
        assert_eq!(
            assembler.push_owned(chunk(MessageKind::Binary, "ab", false)),
            None
        );
        assert_eq!(
            assembler.push_owned(chunk(MessageKind::Binary, "c", true)),
            Some(OwnedMessage::Binary(b"abc".to_vec()))
        );
        assert_eq!(assembler.buffer.capacity(), 0);
        assert_eq!(
            assembler.push_owned(chunk(MessageKind::Binary, "", true)),
            Some(OwnedMessage::Binary(Vec::new()))
        );
    }
}
