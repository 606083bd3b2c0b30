//! Events as owned values, and data messages joined from their pieces.

use hybi::{Closed, Event, MessageKind};

/// An owned copy of an event, with what the oracles look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Request {
        key: String,
        websocket: bool,
        protocols: Vec<String>,
    },
    Accepted {
        status: u16,
        accept: Option<Vec<u8>>,
        protocol: Option<String>,
        extensions: Vec<String>,
    },
    Rejected {
        status: u16,
        body: Vec<u8>,
    },
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: Option<u16>,
        reason: String,
    },
    Closed(Closed),
}

impl Ev {
    pub(crate) fn of(event: &Event<'_>) -> Ev {
        match event {
            Event::Request(r) => Ev::Request {
                key: r.key().to_string(),
                websocket: r.is_websocket(),
                protocols: r.subprotocols().map(str::to_string).collect(),
            },
            Event::Accepted(r) => Ev::Accepted {
                status: r.status(),
                accept: r
                    .header("sec-websocket-accept")
                    .map(|v| v.trim_ascii().to_vec()),
                protocol: r.subprotocol().map(str::to_string),
                extensions: r.extensions().map(str::to_string).collect(),
            },
            Event::Rejected { response, body } => Ev::Rejected {
                status: response.status(),
                body: body.to_vec(),
            },
            Event::Data(d) => {
                if d.kind == MessageKind::Text {
                    assert!(d.text().is_some(), "text chunk not UTF-8: {:?}", d.payload);
                } else {
                    assert!(d.text().is_none());
                }
                Ev::Data {
                    kind: d.kind,
                    payload: d.payload.to_vec(),
                    fin: d.fin,
                }
            }
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close { code, reason } => Ev::Close {
                code: code.map(|c| c.0),
                reason: reason.to_string(),
            },
            Event::Closed(c) => Ev::Closed(*c),
            other => panic!("unknown event {other:?}"),
        }
    }
}

/// Data messages, joined from their pieces; the last may be unfinished.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Messages {
    done: Vec<(MessageKind, Vec<u8>)>,
    open: Option<(MessageKind, Vec<u8>)>,
}

impl Messages {
    pub(crate) fn push(&mut self, kind: MessageKind, payload: &[u8], fin: bool) {
        let open = self.open.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(open.0, kind, "message changed kind");
        open.1.extend_from_slice(payload);
        if fin {
            self.done.extend(self.open.take());
        }
    }

    pub(crate) fn from_events(events: &[Ev]) -> Messages {
        let mut messages = Messages::default();
        for e in events {
            if let Ev::Data { kind, payload, fin } = e {
                messages.push(*kind, payload, *fin);
            }
        }
        messages
    }

    /// Every byte here was sent, in the same messages, in order; a message
    /// finished here was finished there.
    pub(crate) fn is_prefix_of(&self, sent: &Messages) -> bool {
        let n = self.done.len();
        if n > sent.done.len() || sent.done[..n] != self.done[..] {
            return false;
        }
        match &self.open {
            None => true,
            Some((kind, bytes)) => sent
                .done
                .iter()
                .chain(&sent.open)
                .nth(n)
                .is_some_and(|(k, b)| k == kind && b.starts_with(bytes)),
        }
    }
}
