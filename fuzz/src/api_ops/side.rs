//! One party of `api_ops`: its connection, what it wrote and received, and
//! the model of what it queued.

use hybi::{
    Accept, CloseCode, Config, Connection, MessageKind, Reject, Role, State, Transmit, UsageError,
};

use super::super::shared::{feed_chunk, Ev, Messages, Snapshot, Watch, OUTPUT_SLACK};

/// What a side of `api_ops` queued successfully: (opcode, fin, payload) of
/// each data frame and Ping, in order.
pub(super) type Queued = Vec<(u8, bool, Vec<u8>)>;

pub(super) struct Side {
    pub(super) conn: Connection,
    pub(super) watch: Watch,
    pub(super) role: Role,
    /// Bytes from the peer (or injected) not yet given to `handle_input`.
    pub(super) inbox: Vec<u8>,
    /// Everything this side wrote.
    pub(super) wire: Vec<u8>,
    /// Bytes that did not come from the peer were injected into `inbox`.
    pub(super) tainted: bool,
    pub(super) queued: Queued,
    /// The fragmented message this side is sending, as the model sees it.
    pub(super) sending: Option<MessageKind>,
    pub(super) sent_messages: Messages,
    pub(super) received_messages: Messages,
    pub(super) reject: bool,
    /// Deadlines may send a keepalive Ping / an idle Close.
    pub(super) keepalive: bool,
    pub(super) idle: bool,
    /// The payload of the last `send_external`, written from here.
    pub(super) external: Vec<u8>,
}

impl Side {
    pub(super) fn new(conn: Connection, config: &Config, reject: bool) -> Side {
        let role = conn.role();
        let mut watch = Watch::new(config);
        // Handshake heads are written whole, but all of them here are far
        // below the limit, so the bound holds from the start.
        watch.output_limit = Some(config.max_buffered_output + OUTPUT_SLACK);
        Side {
            watch,
            conn,
            role,
            inbox: Vec::new(),
            wire: Vec::new(),
            tainted: false,
            queued: Vec::new(),
            sending: None,
            sent_messages: Messages::default(),
            received_messages: Messages::default(),
            reject,
            keepalive: config.keepalive_interval.is_some(),
            idle: config.idle_timeout.is_some(),
            external: Vec::new(),
        }
    }

    /// Runs a command and checks the rules every command follows.
    pub(super) fn command(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<(), UsageError>,
    ) -> Result<(), UsageError> {
        let before = Snapshot::of(&self.conn);
        let result = f(&mut self.conn);
        let after = Snapshot::of(&self.conn);
        if result.is_err() {
            assert_eq!(
                before, after,
                "a failed command ({result:?}) changed things"
            );
        }
        if before.state == State::Closed || self.watch.closed.is_some() {
            assert!(result.is_err(), "a command succeeded after Closed");
        }
        result
    }

    /// A data send succeeded or not; checks it against the model.
    pub(super) fn sent(
        &mut self,
        before: Snapshot,
        ok: bool,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) {
        if !ok {
            return;
        }
        assert!(may_send(&before), "send succeeded in {before:?}");
        let opcode = match (self.sending, kind) {
            (None, MessageKind::Text) => 1,
            (None, MessageKind::Binary) => 2,
            (Some(k), _) if k == kind => 0,
            (Some(k), _) => panic!("a {kind:?} fragment continued a {k:?} message"),
        };
        self.queued.push((opcode, fin, payload.to_vec()));
        self.sending = if fin { None } else { Some(kind) };
        self.sent_messages.push(kind, payload, fin);
    }

    pub(super) fn control(&mut self, opcode: u8, payload: &[u8]) {
        let before = Snapshot::of(&self.conn);
        let result = self.command(|c| {
            if opcode == 9 {
                c.ping(payload)
            } else {
                c.pong(payload)
            }
        });
        if result.is_ok() {
            assert!(may_send(&before), "control frame sent in {before:?}");
            assert!(payload.len() <= 125, "control payload of {}", payload.len());
            if opcode == 9 {
                self.queued.push((9, true, payload.to_vec()));
            }
        }
    }

    pub(super) fn close(&mut self, code: u16, reason: &str) {
        let before = Snapshot::of(&self.conn);
        let result = self.command(|c| c.close(CloseCode(code), reason));
        if before.close_sent.is_some() {
            assert_eq!(result, Err(UsageError::CloseAlreadySent));
        }
        if result.is_ok() {
            let empty = code == 1005 && reason.is_empty();
            assert!(
                empty || CloseCode(code).is_valid_on_wire(),
                "close({code}) sent"
            );
            assert!(2 + reason.len() <= 125, "close reason of {}", reason.len());
            assert!(matches!(before.state, State::Open | State::Closing));
            assert_eq!(self.conn.close_sent(), Some(CloseCode(code)));
        }
    }

    /// Hands up to `n` bytes of the inbox to `handle_input`.
    pub(super) fn deliver(&mut self, n: usize) {
        let n = n.min(self.inbox.len());
        let mut chunk: Vec<u8> = self.inbox.drain(..n).collect();
        let reject = self.reject;
        let received = &mut self.received_messages;
        feed_chunk(
            &mut self.conn,
            &mut self.watch,
            &mut chunk,
            &mut |conn, event, _| match event {
                Ev::Request { websocket, .. } => {
                    assert!(websocket);
                    let result = if reject {
                        conn.reject(Reject::new(403))
                    } else {
                        conn.accept(Accept::new())
                    };
                    result.expect("decision on a valid request");
                }
                Ev::Data { kind, payload, fin } => received.push(*kind, payload, *fin),
                _ => {}
            },
        );
    }

    /// `poll_transmit`, then `transmitted` of at most `k` bytes (all if 0);
    /// returns the bytes taken.
    pub(super) fn transmit(&mut self, k: usize) -> Vec<u8> {
        let mut taken = Vec::new();
        match self.conn.poll_transmit() {
            Some(Transmit::Bytes(bytes)) => {
                assert!(!bytes.is_empty(), "Transmit::Bytes of nothing");
                let n = if k == 0 {
                    bytes.len()
                } else {
                    k.min(bytes.len())
                };
                taken.extend_from_slice(&bytes[..n]);
                self.conn.transmitted(n);
            }
            Some(Transmit::External(owed)) => {
                assert!(owed > 0, "Transmit::External of nothing");
                let rest = &self.external[self.external.len() - owed..];
                let n = if k == 0 { owed } else { k.min(owed) };
                taken.extend_from_slice(&rest[..n]);
                self.conn.transmitted(n);
            }
            Some(Transmit::Shutdown) => {
                assert_eq!(self.conn.external_owed(), 0, "shutdown with a payload owed");
                self.watch.shutdown(&self.conn)
            }
            None => assert_eq!(
                self.conn.external_owed(),
                0,
                "nothing to do, a payload owed"
            ),
        }
        self.wire.extend_from_slice(&taken);
        taken
    }
}

/// A send is allowed while open and before our own Close.
fn may_send(before: &Snapshot) -> bool {
    matches!(before.state, State::Open | State::Closing) && before.close_sent.is_none()
}
