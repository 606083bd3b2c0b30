//! What every adapter does with events, written once: join data chunks into
//! owned messages, apply the server's decision, and remember how the
//! connection ended. Adapters only add the transport.

use alloc::string::String;
use alloc::vec::Vec;

use super::{CloseFrame, Decision, Error, Message, Rejection};
use crate::connection::Connection;
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

/// Hands `input` (read and not yet consumed) to the engine until one event
/// gives a step; returns how many bytes were consumed and the step (`None`
/// when the input is used up). A server's request is decided by `decide` and
/// ends the call, so the bytes after it are left for reading as frames.
pub(crate) fn process(
    conn: &mut Connection,
    driver: &mut Driver,
    input: &mut [u8],
    now: Instant,
    decide: &mut dyn FnMut(&Request<'_>) -> Decision,
) -> (usize, Result<Option<Step>, Error>) {
    let mut consumed = 0;
    loop {
        let out = conn.handle_input(&mut input[consumed..], now);
        consumed += out.consumed;
        let Some(event) = out.event else {
            return (consumed, Ok(None));
        };
        let (step, decision) = driver.on_event(event, decide);
        if let Some(decision) = decision {
            return (
                consumed,
                apply_decision(conn, decision).map(|()| Some(step)),
            );
        }
        if let Step::Closed(closed) = &step {
            driver.pending_error = closed.error.map(Error::Protocol);
        }
        if !matches!(step, Step::Continue) {
            return (consumed, Ok(Some(step)));
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
