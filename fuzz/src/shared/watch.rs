//! The invariants of one connection over its life (`Watch`), checked on
//! every call by the loops that feed it input and take its output.

use hybi::{
    CloseCode, Closed, Config, Connection, Instant, MessageKind, ProtocolError, State, Transmit,
};

use super::{Chunks, Ev, NOW};

/// What a command may not change when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    pub(crate) close_sent: Option<CloseCode>,
    pub(crate) close_received: Option<CloseCode>,
    pub(crate) error: Option<ProtocolError>,
    pub(crate) buffered: usize,
    pub(crate) has_subprotocol: bool,
}

impl Snapshot {
    pub(crate) fn of(conn: &Connection) -> Snapshot {
        Snapshot {
            state: conn.state(),
            close_sent: conn.close_sent(),
            close_received: conn.close_received(),
            error: conn.error(),
            buffered: conn.buffered_output(),
            has_subprotocol: conn.subprotocol().is_some(),
        }
    }
}

pub(crate) fn rank(state: State) -> u8 {
    match state {
        State::Handshaking => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => 3,
    }
}

/// The invariants of one connection over its life, checked on every call.
pub(crate) struct Watch {
    /// The highest state seen; it never goes down.
    pub(crate) rank: u8,
    /// The `Closed` event, once given.
    pub(crate) closed: Option<Closed>,
    /// The code of the `Close` event, once given.
    close_event: Option<Option<u16>>,
    /// The data message being received and its length so far.
    message: Option<MessageKind>,
    message_len: u64,
    max_message_size: u64,
    /// Bound on `buffered_output`, once the handshake's output is taken.
    pub(crate) output_limit: Option<usize>,
    /// The connection's clock: the `now` of every call on it.
    pub(crate) now: Instant,
    pub(crate) shutdowns: usize,
    pub(crate) events: Vec<Ev>,
}

impl Watch {
    pub(crate) fn new(config: &Config) -> Watch {
        Watch {
            rank: 0,
            closed: None,
            close_event: None,
            message: None,
            message_len: 0,
            max_message_size: config.max_message_size,
            output_limit: None,
            now: NOW,
            shutdowns: 0,
            events: Vec::new(),
        }
    }

    /// State checks that hold at any time: monotone, and final once closed.
    pub(crate) fn state(&mut self, conn: &Connection) {
        let rank = rank(conn.state());
        assert!(rank >= self.rank, "state went back to {:?}", conn.state());
        self.rank = rank;
        if self.closed.is_some() {
            assert_eq!(conn.state(), State::Closed, "not Closed after Closed");
        }
        if let Some(limit) = self.output_limit {
            // An owed external payload is not in memory.
            let buffered = conn.buffered_output() - conn.external_owed();
            assert!(buffered <= limit, "{buffered} bytes queued, limit {limit}");
        }
    }

    /// Checks one event against the connection it came from (`before` is the
    /// connection just before the call).
    pub(crate) fn event(&mut self, conn: &Connection, before: &Snapshot, ev: &Ev) {
        assert!(self.closed.is_none(), "event after Closed: {ev:?}");
        match ev {
            Ev::Request { .. } | Ev::Accepted { .. } => {
                assert_eq!(
                    before.state,
                    State::Handshaking,
                    "{ev:?} after the handshake"
                );
            }
            Ev::Rejected { .. } => {
                // A rejection whose body runs to EOF is handed out after
                // `handle_eof`, which already made the state `Closed`.
                assert!(
                    matches!(before.state, State::Handshaking | State::Closed),
                    "{ev:?} in {:?}",
                    before.state
                );
            }
            Ev::Data { kind, payload, fin } => {
                assert!(
                    matches!(before.state, State::Open | State::Closing),
                    "data in {:?}",
                    before.state
                );
                if let Some(k) = self.message {
                    assert_eq!(k, *kind, "a message changed kind");
                }
                self.message_len += payload.len() as u64;
                assert!(
                    self.message_len <= self.max_message_size,
                    "message of {} bytes delivered, limit {}",
                    self.message_len,
                    self.max_message_size
                );
                if *fin {
                    self.message = None;
                    self.message_len = 0;
                } else {
                    self.message = Some(*kind);
                }
            }
            Ev::Ping(p) | Ev::Pong(p) => assert!(p.len() <= 125, "control payload {}", p.len()),
            Ev::Close { code, reason } => {
                assert!(self.close_event.is_none(), "two Close events");
                match code {
                    Some(c) => assert!(CloseCode(*c).is_valid_on_wire(), "Close code {c}"),
                    None => assert!(reason.is_empty(), "reason without a code"),
                }
                assert!(reason.len() <= 123);
                let code = CloseCode(code.unwrap_or(1005));
                assert_eq!(conn.close_received(), Some(code));
                self.close_event = Some(code_u16(code));
            }
            Ev::Closed(closed) => {
                let expected = match self.close_event {
                    Some(code) => code.unwrap_or(1005),
                    None => 1006,
                };
                assert_eq!(closed.code.0, expected, "Closed code");
                let both = conn.close_sent().is_some() && conn.close_received().is_some();
                assert_eq!(closed.clean, both, "clean iff a Close went each way");
                assert_eq!(closed.error, conn.error(), "Closed.error != error()");
                assert_eq!(conn.state(), State::Closed);
                if let Some(error) = closed.error {
                    // Failed by this very call (not by EOF or a deadline).
                    let open = matches!(before.state, State::Open | State::Closing);
                    if open && before.close_sent.is_none() {
                        assert_eq!(
                            conn.close_sent(),
                            Some(error.close_code()),
                            "failure on {error:?} did not send its close code"
                        );
                    }
                }
                self.closed = Some(*closed);
            }
        }
    }

    /// Moves the clock to `now` and lets the deadlines fire: afterwards no
    /// deadline at or before `now` is armed; a deadline that ends the
    /// connection does so with a timeout error (and, if it was open and had
    /// not sent one, a Close with that error's code); one that closes
    /// without an error is the idle timeout's 1001; one that only queues
    /// output is a keepalive Ping (`keepalive` says if one may be sent).
    pub(crate) fn timeout(&mut self, conn: &mut Connection, now: Instant) {
        self.timeout_with(conn, now, true, true);
    }

    pub(crate) fn timeout_with(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        idle: bool,
        keepalive: bool,
    ) {
        assert!(now >= self.now, "the clock went back");
        self.now = now;
        let before = Snapshot::of(conn);
        conn.handle_timeout(now);
        let after = Snapshot::of(conn);
        if let Some(next) = conn.poll_timeout() {
            assert!(next > now, "deadline {next:?} left armed at {now:?}");
        }
        if after.error != before.error {
            assert_eq!(before.error, None, "error replaced");
            let error = after.error.expect("error");
            assert!(
                matches!(
                    error,
                    ProtocolError::HandshakeTimeout
                        | ProtocolError::KeepaliveTimeout
                        | ProtocolError::CloseTimeout
                ),
                "{error:?} from a deadline"
            );
            if matches!(before.state, State::Open | State::Closing) && before.close_sent.is_none() {
                assert_eq!(after.close_sent, Some(error.close_code()), "{error:?}");
            }
            assert_eq!(after.state, State::Closed, "failed but not closed");
        } else if after.close_sent != before.close_sent {
            assert!(idle, "a Close without an idle timeout");
            assert_eq!(after.close_sent, Some(CloseCode::GOING_AWAY), "idle Close");
        } else if after.buffered != before.buffered {
            assert!(keepalive, "output queued by a deadline without keepalive");
        }
        self.state(conn);
    }

    pub(crate) fn shutdown(&mut self, conn: &Connection) {
        self.shutdowns += 1;
        assert_eq!(self.shutdowns, 1, "Transmit::Shutdown given twice");
        assert_eq!(conn.buffered_output(), 0, "Shutdown with bytes queued");
    }

    /// EOF, then drain: exactly one `Closed` in all, state `Closed`, and
    /// the transport told to shut down. Returns the output taken.
    pub(crate) fn finish(&mut self, conn: &mut Connection) -> Vec<u8> {
        conn.handle_eof(self.now);
        feed_chunk(conn, self, &mut [], &mut |_, _, _| {});
        assert!(self.closed.is_some(), "no Closed after EOF");
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(
            conn.close_sent().is_some() && conn.close_received().is_some(),
            self.closed.is_some_and(|c| c.clean)
        );
        let out = take_output(conn, self);
        assert_eq!(self.shutdowns, 1, "no Transmit::Shutdown after EOF");
        assert!(conn.poll_transmit().is_none());
        out
    }
}

/// `Some(code)` unless it stands for "no code" (1005).
fn code_u16(code: CloseCode) -> Option<u16> {
    (code != CloseCode::NO_STATUS).then_some(code.0)
}

/// Feeds `stream` split by `chunks`, calling `decide` on each event (to
/// accept a request, ...) after the oracles saw it, with how much of the
/// stream was consumed by then.
pub(crate) fn feed(
    conn: &mut Connection,
    watch: &mut Watch,
    stream: &[u8],
    chunks: &mut Chunks,
    mut decide: impl FnMut(&mut Connection, &Ev, usize),
) {
    let mut buf = stream.to_vec();
    let mut start = 0;
    while start < buf.len() {
        let end = start.saturating_add(chunks.next()).min(buf.len());
        feed_chunk(conn, watch, &mut buf[start..end], &mut |conn, ev, pos| {
            decide(conn, ev, start + pos)
        });
        start = end;
    }
}

/// Calls `handle_input` on `chunk` until it gives no event, checking each
/// call; the whole chunk must be consumed by then. Then drains the events
/// the engine raised itself (`poll_event`), checked the same way.
pub(crate) fn feed_chunk(
    conn: &mut Connection,
    watch: &mut Watch,
    chunk: &mut [u8],
    decide: &mut dyn FnMut(&mut Connection, &Ev, usize),
) {
    let mut pos = 0;
    loop {
        let len = chunk.len() - pos;
        let before = Snapshot::of(conn);
        let out = conn.handle_input(&mut chunk[pos..], watch.now);
        let consumed = out.consumed;
        let ev = out.event.map(|e| Ev::of(&e));
        assert!(consumed <= len, "consumed {consumed} of {len}");
        pos += consumed;
        watch.state(conn);
        let Some(ev) = ev else {
            // We decide every request at once, so nothing is ever held back.
            assert_eq!(consumed, len, "no event, yet input left over");
            return drain_raised(conn, watch, &mut |conn, ev| decide(conn, ev, pos));
        };
        watch.event(conn, &before, &ev);
        decide(conn, &ev, pos);
        watch.state(conn);
        watch.events.push(ev);
    }
}

/// The events the engine raised itself (`poll_event`), each checked as an
/// input's event is.
pub(crate) fn drain_raised(
    conn: &mut Connection,
    watch: &mut Watch,
    decide: &mut dyn FnMut(&mut Connection, &Ev),
) {
    loop {
        let before = Snapshot::of(conn);
        let Some(ev) = conn.poll_event().map(|e| Ev::of(&e)) else {
            return;
        };
        watch.state(conn);
        watch.event(conn, &before, &ev);
        decide(conn, &ev);
        watch.state(conn);
        watch.events.push(ev);
    }
}

/// Everything queued, marked written; counts a `Shutdown`.
pub(crate) fn take_output(conn: &mut Connection, watch: &mut Watch) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Bytes(b) => {
                assert!(!b.is_empty(), "Transmit::Bytes of nothing");
                let n = b.len();
                bytes.extend_from_slice(b);
                conn.transmitted(n);
            }
            Transmit::Shutdown => watch.shutdown(conn),
            Transmit::External(_) => panic!("no external sends outside api_ops"),
        }
    }
    bytes
}
