//! The opening handshake inside the engine (RFC 6455 §4): the
//! constructors, reading the request or the answer, and the server's
//! `accept`/`reject`. The HTTP itself (parsing, validating, writing heads)
//! is `crate::handshake`'s; this file only moves the connection through its
//! handshake phases.

use crate::buffer::{write_head, Buffer, FixedBuffer};
use crate::config::Config;
use crate::entropy::Entropy;
use crate::error::UsageError;
use crate::event::Event;
#[cfg(feature = "deflate")]
use crate::extensions::deflate;
#[cfg(feature = "alloc")]
use crate::handshake::ClientRequest;
use crate::handshake::{
    accept_key, encode_key, parse_any_request, parse_response, write_accept, write_rejection,
    Accept, BorrowedRequest, ClientHead, Decision, HeadReader, Reject, Request, Response,
};
use crate::time::Instant;

use super::state::{ClientHandshake, Phase, Rejection};
#[cfg(feature = "alloc")]
use super::storage::Heap;
use super::storage::{Fixed, FixedBuffers, Storage};
use super::{Connection, Input, Role};

#[cfg(feature = "alloc")]
impl Connection<Heap> {
    /// A server waiting for an upgrade request, created at `now` (the
    /// opening handshake's deadline counts from here).
    pub fn server(config: Config, now: Instant) -> Self {
        Self::new_server(config, alloc::vec::Vec::new(), alloc::vec::Vec::new(), now)
    }

    /// A client whose upgrade request is queued for sending at once,
    /// created at `now` (the opening handshake's deadline counts from here).
    ///
    /// `entropy` supplies the Sec-WebSocket-Key nonce and every masking key
    /// (RFC 6455 §4.1, §5.3): use [`OsEntropy`](crate::OsEntropy) under `std`.
    /// Fails if the request cannot be written (a header with a line break, a
    /// subprotocol that is not a token).
    pub fn client(
        config: Config,
        request: ClientRequest,
        entropy: impl Entropy + Send + 'static,
        now: Instant,
    ) -> Result<Self, UsageError> {
        let entropy: alloc::boxed::Box<dyn Entropy + Send> = alloc::boxed::Box::new(entropy);
        // RFC 7692 §5: the engine makes the permessage-deflate offer itself,
        // so it knows what it may accept in the answer.
        #[cfg(feature = "deflate")]
        let request = match &config.deflate {
            Some(deflate) => request.push_extension(&deflate.offer()),
            None => request,
        };
        Self::new_client(
            config,
            request,
            entropy,
            alloc::vec::Vec::new(),
            alloc::vec::Vec::new(),
            now,
        )
    }
}

impl<'a> Connection<Fixed<'a>> {
    /// A server on the caller's buffers, with no allocation ever: the
    /// request head is read into `buffers.handshake`, frames are queued in
    /// `buffers.output` (see [`FixedBuffers`] for their sizes). Otherwise
    /// exactly [`Connection::server`], except that permessage-deflate is
    /// never agreed.
    pub fn server_in(config: Config, buffers: FixedBuffers<'a>, now: Instant) -> Self {
        Self::new_server(
            config,
            FixedBuffer::new(buffers.handshake),
            FixedBuffer::new(buffers.output),
            now,
        )
    }

    /// A client on the caller's buffers, with no allocation ever: its
    /// request is written into `buffers.output` at once, and the answer is
    /// read into `buffers.handshake`. `entropy` is the device's random
    /// source for the nonce and every masking key (RFC 6455 §10.3 wants it
    /// unpredictable: a hardware RNG, not a counter). Fails like
    /// [`Connection::client`], and with [`UsageError::OutputFull`] if the
    /// request does not fit `buffers.output`.
    pub fn client_in(
        config: Config,
        request: BorrowedRequest<'a>,
        entropy: &'a mut (dyn Entropy + Send),
        buffers: FixedBuffers<'a>,
        now: Instant,
    ) -> Result<Self, UsageError> {
        Self::new_client(
            config,
            request,
            entropy,
            FixedBuffer::new(buffers.handshake),
            FixedBuffer::new(buffers.output),
            now,
        )
    }
}

impl<S: Storage> Connection<S> {
    pub(super) fn new_server(
        config: Config,
        handshake: S::Buf,
        output: S::Buf,
        now: Instant,
    ) -> Self {
        let reader = S::slot(HeadReader::new(handshake));
        let mut connection = Self::new(
            Role::Server,
            config,
            Phase::ReadingRequest(reader),
            None,
            output,
        );
        connection.start(now);
        connection
    }

    pub(super) fn new_client(
        config: Config,
        request: S::Request,
        mut entropy: S::Entropy,
        handshake: S::Buf,
        output: S::Buf,
        now: Instant,
    ) -> Result<Self, UsageError> {
        // RFC 6455 §4.1: "a randomly selected 16-byte value that has been
        // base64-encoded"; "The nonce MUST be selected randomly for each
        // connection."
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let key = encode_key(&nonce);
        let expected_accept = accept_key(&key);
        // The request is queued before the connection exists, so a request
        // that may not be sent leaves nothing behind.
        let mut output = output;
        request.write_head(&key, &mut output)?;
        let phase = Phase::AwaitingResponse(S::slot(ClientHandshake {
            head: HeadReader::new(handshake),
            request,
            expected_accept,
        }));
        let mut connection = Self::new(Role::Client, config, phase, Some(entropy), output);
        connection.start(now);
        Ok(connection)
    }

    /// Keeps the first `len` bytes of `buffer` (the handshake's, now free)
    /// as the agreed subprotocol; the buffer becomes the spare one.
    pub(crate) fn keep_subprotocol_bytes(&mut self, mut buffer: S::Buf, len: Option<usize>) {
        buffer.shrink();
        self.subprotocol = len;
        self.spare = buffer;
    }

    /// Keeps `protocol` as the agreed subprotocol in `buffer` (the
    /// handshake's, now free), which becomes the spare buffer. On the heap
    /// the head's memory is given back first.
    pub(crate) fn keep_subprotocol(&mut self, mut buffer: S::Buf, protocol: Option<&str>) {
        buffer.release();
        self.subprotocol = match protocol {
            Some(p) if buffer.push_slice(p.as_bytes()) => Some(p.len()),
            _ => None,
        };
        self.spare = buffer;
    }
}

impl<S: Storage> Connection<S> {
    pub(super) fn read_request<'a>(&'a mut self, input: &'a mut [u8]) -> Input<'a> {
        let Phase::ReadingRequest(reader) = &mut self.phase else {
            return Input {
                consumed: 0,
                event: None,
            };
        };
        let (consumed, complete) = match reader.feed(input, self.config.max_handshake_size) {
            Ok(progress) => progress,
            Err(error) => return self.fail_now(error, input.len()),
        };
        if !complete {
            return Input {
                consumed,
                event: None,
            };
        }
        let parsed = match parse_any_request(
            reader.head(),
            self.config.max_headers,
            self.config.plain_http_requests,
        ) {
            Ok(parsed) => parsed,
            Err(error) => return self.fail_now(error, input.len()),
        };
        let reader = core::mem::replace(&mut **reader, HeadReader::new(S::Buf::default()));
        self.enter_awaiting_decision(reader, parsed);
        let Phase::AwaitingDecision(pending) = &self.phase else {
            return Input {
                consumed,
                event: None,
            };
        };
        let request = Request::new(pending.0.head(), &pending.1);
        Input {
            consumed,
            event: Some(Event::Request(request)),
        }
    }

    pub(super) fn read_response<'a>(&'a mut self, input: &'a mut [u8]) -> Input<'a> {
        let mut consumed = 0;
        if let Phase::AwaitingResponse(handshake) = &mut self.phase {
            let (used, complete) = match handshake.head.feed(input, self.config.max_handshake_size)
            {
                Ok(progress) => progress,
                Err(error) => return self.fail_now(error, input.len()),
            };
            consumed = used;
            if !complete {
                return Input {
                    consumed,
                    event: None,
                };
            }
            let parsed = match parse_response(
                handshake.head.head(),
                self.config.max_headers,
                &handshake.expected_accept,
                &handshake.request,
            ) {
                Ok(parsed) => parsed,
                Err(error) => return self.fail_now(error, input.len()),
            };
            let head = core::mem::replace(&mut handshake.head, HeadReader::new(S::Buf::default()));
            if parsed.status() == 101 {
                #[cfg(feature = "deflate")]
                if let Some(verdict) = self.deflate_config().map(|config| {
                    let response = Response::new(head.head(), &parsed);
                    deflate::verify_answer(config, response.extensions())
                }) {
                    match verdict {
                        Ok(Some(params)) => self.enable_deflate(params),
                        Ok(None) => {}
                        // RFC 7692 §7.1: "the client MUST _Fail the
                        // WebSocket Connection_".
                        Err(error) => return self.fail_now(error, input.len()),
                    }
                }
                // The subprotocol is kept when the phase settles to Open;
                // until then `subprotocol()` reads it from the answer.
                self.enter_just_accepted(head, parsed);
                // Bytes after the 101 in this input are frames: they stay in
                // `input` for the next call.
                let Phase::JustAccepted(accepted) = &self.phase else {
                    return Input {
                        consumed,
                        event: None,
                    };
                };
                let response = Response::new(accepted.0.head(), &accepted.1);
                return Input {
                    consumed,
                    event: Some(Event::Accepted(response)),
                };
            }
            let wanted = if matches!(parsed.status(), 204 | 304) {
                // RFC 9112 §6.3 rule 1: these end at the empty line after
                // their headers; waiting for a body would hang.
                0
            } else if parsed.is_chunked() {
                // A chunked body is not decoded: `Rejected` carries no body.
                0
            } else {
                // With no length the body runs to EOF (RFC 9112 §6.3).
                parsed
                    .content_length()
                    .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
            }
            .min(self.config.max_rejection_body);
            self.enter_reading_rejection(Rejection {
                head,
                parsed,
                wanted,
            });
        }
        let Phase::ReadingRejection(rejection) = &mut self.phase else {
            return Input {
                consumed,
                event: None,
            };
        };
        let have = rejection.head.body().len();
        let take = (rejection.wanted - have).min(input.len() - consumed);
        let kept = rejection.head.push_body(&input[consumed..consumed + take]);
        if kept < take {
            // A fixed buffer is full: the body handed out is what it holds.
            rejection.wanted = have + kept;
        }
        if rejection.head.body().len() < rejection.wanted {
            return Input {
                consumed: input.len(),
                event: None,
            };
        }
        self.end_rejection();
        // Whatever follows the part of the body we keep is discarded.
        Input {
            consumed: input.len(),
            event: self.queued_event(),
        }
    }

    // ---- Commands ----

    /// Server: accepts the pending request, queuing the 101 answer.
    ///
    /// Fails if no request is pending, if the chosen subprotocol was not
    /// offered (RFC 6455 §4.2.2), or if an extra header is invalid.
    pub fn accept(&mut self, accept: Accept<'_>) -> Result<(), UsageError> {
        let Phase::AwaitingDecision(pending) = &self.phase else {
            return Err(UsageError::NoPendingRequest);
        };
        let request = Request::new(pending.0.head(), &pending.1);
        if !request.is_websocket() {
            return Err(UsageError::NotAnUpgrade);
        }
        #[cfg(feature = "deflate")]
        let agreed = self.deflate_config().and_then(|config| {
            let offers: alloc::vec::Vec<&str> = request.extensions().collect();
            deflate::negotiate(config, offers.iter().copied())
        });
        #[cfg(feature = "deflate")]
        let accept = match &agreed {
            Some((_, element)) => accept.header("Sec-WebSocket-Extensions", element),
            None => accept,
        };
        write_head(self.tx.buffer_mut(), |out| {
            write_accept(out, &request, &accept)
        })?;
        #[cfg(feature = "deflate")]
        if let Some((params, _)) = agreed {
            self.enable_deflate(params);
        }
        self.enter_open_accepted(accept.selected_subprotocol());
        Ok(())
    }

    /// Server: refuses the pending request with the answer `reject`
    /// describes (any status from 200 to 599, headers and a body: a 401, a
    /// redirect, or the page a plain HTTP request asked for); the
    /// connection then closes.
    ///
    /// Fails if no request is pending, or if the status or a header may not
    /// be sent ([`UsageError::InvalidStatus`], [`UsageError::InvalidHeader`]);
    /// then nothing changed.
    pub fn reject(&mut self, reject: Reject<'_>) -> Result<(), UsageError> {
        if !matches!(self.phase, Phase::AwaitingDecision(_)) {
            return Err(UsageError::NoPendingRequest);
        }
        write_head(self.tx.buffer_mut(), |out| write_rejection(out, &reject))?;
        self.finish(false, None);
        Ok(())
    }

    /// Server: applies the application's [`Decision`] on the pending
    /// request: [`accept`](Self::accept) or [`reject`](Self::reject).
    pub fn decide(&mut self, decision: Decision<'_>) -> Result<(), UsageError> {
        match decision {
            Decision::Accept(accept) => self.accept(accept),
            Decision::Reject(reject) => self.reject(reject),
        }
    }
}
