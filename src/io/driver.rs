//! What every adapter does with events, written once: join data chunks into
//! owned messages, apply the server's decision, and remember how the
//! connection ended. Adapters only add the transport.

use alloc::string::String;
use alloc::vec::Vec;

use super::{CloseFrame, Decision, Error, Message, Rejection};
use crate::connection::Connection;
use crate::error::UsageError;
use crate::event::{Closed, Event, MessageKind};
use crate::handshake::{Accept, Request};
use crate::time::Instant;

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
    Rejected(Rejection),
    /// The connection is over.
    Closed(Closed),
}

/// Per-connection adapter state that is not the transport.
#[derive(Debug, Default)]
pub(crate) struct Driver {
    /// The data message being received.
    partial: Vec<u8>,
    /// How the connection ended, once it did.
    pub(crate) closed: Option<Closed>,
    /// A protocol error not yet reported to the application.
    pub(crate) pending_error: Option<Error>,
}

impl Driver {
    /// Interprets one event. A server's `Request` is answered by `decide`
    /// before this returns, so the decision needs no borrow of the event.
    pub(crate) fn on_event(
        &mut self,
        event: Event<'_>,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision,
    ) -> (Step, Option<Decision>) {
        let step = match event {
            Event::Request(request) => return (Step::Continue, Some(decide(&request))),
            Event::Accepted(_) => Step::Accepted,
            Event::Rejected { response, body } => {
                Step::Rejected(Rejection::from_response(&response, body))
            }
            Event::Data(data) => {
                self.partial.extend_from_slice(data.payload);
                if !data.fin {
                    return (Step::Continue, None);
                }
                let bytes = core::mem::take(&mut self.partial);
                Step::Message(match data.kind {
                    // The engine validated the text; this cannot fail, and
                    // if it did the bytes would come out as binary, not panic.
                    MessageKind::Text => match String::from_utf8(bytes) {
                        Ok(text) => Message::Text(text),
                        Err(e) => Message::Binary(e.into_bytes()),
                    },
                    MessageKind::Binary => Message::Binary(bytes),
                })
            }
            Event::Ping(payload) => Step::Message(Message::Ping(payload.to_vec())),
            Event::Pong(payload) => Step::Message(Message::Pong(payload.to_vec())),
            Event::Close { code, reason } => {
                Step::Message(Message::Close(code.map(|code| CloseFrame {
                    code,
                    reason: String::from(reason),
                })))
            }
            Event::Closed(closed) => {
                self.closed = Some(closed);
                Step::Closed(closed)
            }
        };
        (step, None)
    }
}

/// Bytes read from the transport and not yet consumed by the engine, in one
/// buffer reused for the whole connection: `buf[start..end]`.
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// Bytes read from the transport per call.
    const CHUNK: usize = 64 * 1024;

    pub(crate) fn new() -> Self {
        ReadBuffer {
            buf: alloc::vec![0; Self::CHUNK],
            start: 0,
            end: 0,
        }
    }

    /// The room to read into, after moving unconsumed bytes to the front.
    /// The engine consumes all it is given except while a server's request
    /// awaits a decision, and the adapters decide at once, so the buffer is
    /// never full; if it were, this is an error rather than growth.
    pub(crate) fn spare(&mut self) -> Result<&mut [u8], Error> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            return Err(Error::Usage(UsageError::NoPendingRequest));
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Appends bytes that arrived by another way (those a proxy sent after
    /// its answer), to be consumed before anything read later.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        // Keep what is unconsumed at the front, then make room: leftover
        // bytes handed to `from_upgraded` may exceed one chunk (one byte more
        // than needed, so `spare` still has room for the next read).
        self.buf.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.end - self.start);
        if self.buf.len() < self.end + bytes.len() + 1 {
            self.buf.resize(self.end + bytes.len() + 1, 0);
        }
        let spare = self.spare()?;
        let room = spare
            .get_mut(..bytes.len())
            .ok_or(Error::Usage(UsageError::OutputFull))?;
        room.copy_from_slice(bytes);
        self.filled(bytes.len());
        Ok(())
    }

    /// `n` bytes were read into [`spare`](Self::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        self.end += n;
    }
}

/// Hands the unconsumed bytes of `input` to the engine until one event
/// gives a step (`None` when they are used up). A server's request is
/// decided by `decide` and ends the call, so the bytes after it are left for
/// reading as frames.
pub(crate) fn process(
    conn: &mut Connection,
    driver: &mut Driver,
    input: &mut ReadBuffer,
    now: Instant,
    decide: &mut dyn FnMut(&Request<'_>) -> Decision,
) -> Result<Option<Step>, Error> {
    loop {
        let out = conn.handle_input(&mut input.buf[input.start..input.end], now);
        input.start += out.consumed;
        let Some(event) = out.event else {
            return Ok(None);
        };
        let (step, decision) = driver.on_event(event, decide);
        if let Some(decision) = decision {
            apply_decision(conn, decision)?;
            return Ok(Some(step));
        }
        if let Step::Closed(closed) = &step {
            driver.pending_error = closed.error.map(Error::Protocol);
        }
        if !matches!(step, Step::Continue) {
            return Ok(Some(step));
        }
    }
}

/// Applies a server's decision to the pending request.
pub(crate) fn apply_decision(conn: &mut Connection, decision: Decision) -> Result<(), Error> {
    match decision {
        Decision::Accept { protocol, headers } => {
            let mut accept = Accept::new();
            if let Some(protocol) = protocol.as_deref() {
                accept = accept.protocol(protocol);
            }
            for (name, value) in &headers {
                accept = accept.header(name, value);
            }
            conn.accept(accept)?;
        }
        Decision::Reject {
            status,
            headers,
            body,
        } => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            conn.reject(status, &headers, &body)?;
        }
    }
    Ok(())
}
