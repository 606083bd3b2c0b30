//! What the std and tokio adapters do with events, written once: join data
//! into owned messages (with the crate's [`MessageAssembler`]), apply the
//! server's decision, keep what the handshake said, and hold a failure
//! until the events before it are handed out. The adapters add only the
//! transport; the read buffer, the deadlines and the send policy are the
//! adapter core's (`crate::adapter`), shared with the embedded adapters.

use alloc::string::String;
use alloc::vec::Vec;

use super::{CloseFrame, Error, HandshakeRequest, HandshakeResponse, Message};
use crate::adapter::Core;
use crate::assemble::{MessageAssembler, OwnedMessage};
use crate::connection::storage::Heap;
use crate::event::Event;
use crate::handshake::{Decision, Request};
use crate::time::Instant;

/// The adapter core on the heap: what the std and tokio adapters hold.
pub(crate) type HeapCore = Core<Heap, Vec<u8>>;

/// What one event means to an adapter.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing for the application yet.
    Continue,
    /// A whole message (or control frame) to hand out.
    Message(Message),
    /// The client's upgrade was accepted.
    Accepted,
    /// The client's upgrade was refused.
    Rejected(HandshakeResponse),
    /// The connection is over (how: `Core::closed`).
    Closed,
}

/// Per-connection adapter state that is neither the transport nor the core.
#[derive(Debug, Default)]
pub(crate) struct Driver {
    assembler: MessageAssembler,
    /// A failure not yet reported to the application: a protocol error, or
    /// a transport error held until the events read before it are out.
    pub(crate) pending_error: Option<Error>,
    /// Server: the status its hook refused the request with.
    pub(crate) refused: Option<u16>,
    /// Client: the server's 101 answer.
    pub(crate) response: Option<HandshakeResponse>,
    /// Server: the request it accepted.
    pub(crate) request: Option<HandshakeRequest>,
}

impl Driver {
    /// Interprets one event. A server's request goes to `decide`, whose
    /// answer is returned to be applied once the event is gone.
    fn on_event<'d>(
        &mut self,
        event: Event<'_>,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision<'d>,
    ) -> (Step, Option<Decision<'d>>) {
        let step = match event {
            Event::Request(request) => {
                let decision = decide(&request);
                match &decision {
                    Decision::Accept(_) => {
                        self.request = Some(HandshakeRequest::from_request(&request));
                    }
                    Decision::Reject(reject) => self.refused = Some(reject.status()),
                }
                return (Step::Continue, Some(decision));
            }
            Event::Accepted(response) => {
                self.response = Some(HandshakeResponse::from_response(&response, &[]));
                Step::Accepted
            }
            Event::Rejected { response, body } => {
                Step::Rejected(HandshakeResponse::from_response(&response, body))
            }
            Event::Data(data) => match self.assembler.push_owned(data) {
                None => Step::Continue,
                Some(OwnedMessage::Text(text)) => Step::Message(Message::Text(text)),
                Some(OwnedMessage::Binary(bytes)) => Step::Message(Message::Binary(bytes)),
            },
            Event::Ping(payload) => Step::Message(Message::Ping(payload.to_vec())),
            Event::Pong(payload) => Step::Message(Message::Pong(payload.to_vec())),
            Event::Close { code, reason } => {
                Step::Message(Message::Close(code.map(|code| CloseFrame {
                    code,
                    reason: String::from(reason),
                })))
            }
            Event::Closed(closed) => {
                if self.pending_error.is_none() {
                    self.pending_error = closed.error.map(Error::Protocol);
                }
                Step::Closed
            }
        };
        (step, None)
    }

    /// Hands the buffered bytes (and the engine's own events) to `on_event`
    /// until one gives a step; `None` when the engine needs more input. A
    /// server's request is decided by `decide` and ends the call, so the
    /// bytes after it are left for reading as frames.
    pub(crate) fn process<'d>(
        &mut self,
        core: &mut HeapCore,
        now: Instant,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<Option<Step>, Error> {
        loop {
            let Some((step, decision)) = core.poll(now, |event| self.on_event(event, decide))
            else {
                return Ok(None);
            };
            if let Some(decision) = decision {
                core.conn.decide(decision)?;
                return Ok(Some(step));
            }
            if !matches!(step, Step::Continue) {
                return Ok(Some(step));
            }
        }
    }

    /// Why a handshake that ended without opening failed: the protocol
    /// error, the hook's refusal, or the peer gone.
    pub(crate) fn handshake_error(&mut self) -> Error {
        if let Some(error) = self.pending_error.take() {
            return error;
        }
        match self.refused {
            Some(status) => Error::Refused(status),
            None => Error::Closed,
        }
    }
}
