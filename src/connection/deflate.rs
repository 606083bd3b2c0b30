//! permessage-deflate (RFC 7692) inside the engine: the glue between the
//! connection and `extensions/`. Receiving inflates compressed chunks as
//! they arrive; sending compresses a message's frames on one stream. Kept
//! out of line (`#[inline(never)]`) so the plain paths stay small.

use alloc::boxed::Box;

use crate::error::{ProtocolError, UsageError};
use crate::event::{Data, Event};
use crate::extensions::{
    compress::Deflater,
    deflate::{DeflateConfig, DeflateParams},
    inflate::{Inflater, Ready, MAX_COMPRESSED_CHUNK},
};
use crate::frame::MessageKind;
use crate::frame::{Opcode, MAX_HEADER_LEN, RSV1};

use super::recv::Item;
use super::storage::Storage;
use super::{Compression, Connection, Input};

/// What a step of the inflater means for `receive`.
#[cfg(feature = "deflate")]
pub(super) enum Inflated {
    /// Nothing to hand out yet: read on.
    ReadOn,
    /// A chunk to hand out, or the error that fails the connection.
    Ready(Result<Ready, ProtocolError>),
}

#[cfg(feature = "deflate")]
impl Inflated {
    fn after(ready: Result<Option<Ready>, ProtocolError>, busy: bool) -> Self {
        match ready {
            // Still busy with nothing to show: stuck on its input. (Only
            // part of a code point, or a frame whose output filled the
            // buffer exactly at its end, leaves it not busy: read on.)
            Ok(None) if busy => Inflated::Ready(Err(ProtocolError::InvalidCompressedData)),
            Ok(None) => Inflated::ReadOn,
            Ok(Some(ready)) => Inflated::Ready(Ok(ready)),
            Err(error) => Inflated::Ready(Err(error)),
        }
    }
}

/// The two halves of permessage-deflate for one connection.
#[cfg(feature = "deflate")]
#[derive(Debug)]
pub(super) struct DeflateState {
    pub(super) params: DeflateParams,
    /// Made at the first message that is compressed (a server that only
    /// sends prepared or short messages never pays for one); never when the
    /// agreed window is too small to compress with.
    pub(super) deflater: Option<Deflater>,
    /// Its state and buffers are made at the first compressed message
    /// received (see `Inflater`).
    pub(super) inflater: Inflater,
}

impl<S: Storage> Connection<S> {
    /// `receive` from a compressed chunk on: inflates it, and while that
    /// gives nothing to hand out yet (a block header, say), reads on. Apart
    /// from `receive`, which stays small for the uncompressed path (with
    /// this inlined there, 16-byte messages decoded 30% slower).
    #[cfg(feature = "deflate")]
    #[inline(never)]
    pub(super) fn receive_compressed<'a>(
        &'a mut self,
        input: &'a mut [u8],
        mut consumed: usize,
        first: Item,
    ) -> Input<'a> {
        let mut item = first;
        let mut base = 0;
        loop {
            if let Item::Data {
                kind,
                start,
                end,
                fin,
                compressed: true,
            } = item
            {
                match self.feed_inflater(&input[base + start..base + end], kind, fin) {
                    Inflated::ReadOn => {}
                    Inflated::Ready(ready) => return self.inflated(consumed, ready, input.len()),
                }
            } else {
                return self.deliver(item, input, base, consumed);
            }
            base = consumed;
            let (used, next) = self.rx.receive(&mut input[base..], &self.config);
            consumed += used;
            if used > 0 {
                self.on_received();
            }
            item = match next {
                None => {
                    return Input {
                        consumed,
                        event: None,
                    }
                }
                Some(Ok(item)) => item,
                Some(Err(error)) => return self.fail_now(error, input.len()),
            };
        }
    }

    /// Goes on with what the inflater holds from earlier input; out of
    /// line, like `receive_compressed`.
    #[cfg(feature = "deflate")]
    #[cold]
    #[inline(never)]
    pub(super) fn resume_inflater(&mut self) -> Inflated {
        let max = self.config.max_message_size;
        let Some(state) = self.deflate.as_deref_mut() else {
            return Inflated::ReadOn;
        };
        let ready = state.inflater.resume(max);
        Inflated::after(ready, state.inflater.is_busy())
    }

    /// Inflates one compressed chunk of the receiver's.
    #[cfg(feature = "deflate")]
    #[inline(never)]
    pub(super) fn feed_inflater(&mut self, chunk: &[u8], kind: MessageKind, fin: bool) -> Inflated {
        let max = self.config.max_message_size;
        let Some(state) = self.deflate.as_deref_mut() else {
            // RSV1 is allowed only once deflate is enabled.
            return Inflated::Ready(Err(ProtocolError::ReservedBits));
        };
        let ready = state.inflater.feed(chunk, kind, fin, max);
        Inflated::after(ready, state.inflater.is_busy())
    }

    /// The event for what the inflater made of the input.
    #[cfg(feature = "deflate")]
    pub(super) fn inflated<'a>(
        &'a mut self,
        consumed: usize,
        ready: Result<Ready, ProtocolError>,
        input_len: usize,
    ) -> Input<'a> {
        match ready {
            Err(error) => self.fail_now(error, input_len),
            Ok(Ready { kind, fin }) => {
                let Some(state) = self.deflate.as_deref() else {
                    return Input {
                        consumed,
                        event: None,
                    };
                };
                let chunk = state.inflater.chunk();
                let data = match kind {
                    MessageKind::Binary => Data::new_binary(chunk, fin),
                    // Inflated text is validated here, once, as it is
                    // handed out as `str` (RFC 6455 §8.1).
                    MessageKind::Text => match crate::utf8::validate_str(chunk) {
                        Ok(text) => Data::new_text(text, fin),
                        Err(error) => {
                            // The valid text before the error goes out (none,
                            // maybe); the connection fails right after it,
                            // from `poll_event` or the next `handle_input`.
                            self.rx.fail_later(ProtocolError::InvalidUtf8);
                            let valid = &chunk[..error.valid_up_to()];
                            let text = core::str::from_utf8(valid).unwrap_or_default();
                            if text.is_empty() {
                                // Nothing after a failure is processed: the
                                // input counts as consumed.
                                return Input {
                                    consumed: input_len,
                                    event: None,
                                };
                            }
                            Data::new_text(text, false)
                        }
                    },
                };
                Input {
                    consumed,
                    event: Some(Event::Data(data)),
                }
            }
        }
    }

    /// The frame compressed, if this message is: `None` when it goes out
    /// plain. Out of line, so the plain path stays small (inlined, it made
    /// 16-byte sends 11% more instructions).
    #[cfg(feature = "deflate")]
    #[inline(never)]
    pub(super) fn queue_compressed(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
        compression: Compression,
        mask: Option<[u8; 4]>,
    ) -> Option<Result<(), UsageError>> {
        let first = opcode != Opcode::Continuation;
        let state = self.deflate.as_deref_mut()?;
        let config = self.config.deflate.as_ref()?;
        if !state.params.compresses() {
            return None;
        }
        let compress = match first {
            true => compression == Compression::Auto && Deflater::wants(config, payload.len(), fin),
            false => self.sending_compressed,
        };
        if !compress {
            return None;
        }
        // Refuse for space before the stream is touched, or the peer's
        // inflater and ours would disagree.
        let limit = self.config.max_buffered_output;
        let worst = MAX_HEADER_LEN + Deflater::bound(payload.len());
        if !self.tx.has_room(worst, limit) {
            return Some(Err(UsageError::OutputFull));
        }
        let params = state.params;
        let deflater = state
            .deflater
            .get_or_insert_with(|| Deflater::new(config, &params));
        let rsv = if first { RSV1 } else { 0 };
        self.tx
            .queue_frame_filled(opcode, fin, rsv, mask, limit, |out, cap| {
                deflater.compress_into(payload, fin, out, cap);
            });
        self.sending_compressed = !fin;
        Some(Ok(()))
    }

    /// The permessage-deflate settings, if this connection may use it:
    /// configured, and on a storage that can hold a compressor.
    #[cfg(feature = "deflate")]
    pub(super) fn deflate_config(&self) -> Option<&DeflateConfig> {
        self.config.deflate.as_ref().filter(|_| S::COMPRESSION)
    }

    /// Turns permessage-deflate on with what was agreed.
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_deflate(&mut self, params: DeflateParams) {
        if self.deflate_config().is_none() {
            return;
        }
        let state = DeflateState {
            params,
            deflater: None,
            inflater: Inflater::new(&params),
        };
        self.rx.enable_compression(MAX_COMPRESSED_CHUNK);
        self.deflate = Some(Box::new(state));
    }
}
