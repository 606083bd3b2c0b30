//! `Pair`: a client and a server [`Connection`] wired to each other on a
//! virtual clock, so a two-party behaviour is a short test. Learned from
//! quinn-proto's test `Pair` (`quinn-proto/src/tests/util.rs`).
//!
//! ```ignore
//! let mut pair = Pair::connected(Config::default(), Config::default());
//! pair.client.conn.send_text("hi").unwrap();
//! pair.drive();
//! assert_eq!(pair.server.take_events(), [text("hi")]);
//! ```
//!
//! The wire between the two is a pair of byte queues, one per direction.
//! [`Pair::drive`] moves bytes both ways until nothing moves: each write
//! takes at most [`Party::max_write`] bytes of one `Transmit` and the
//! receiver reads them at once (unless it stopped [`reading`](Party::reading):
//! then they wait in its inbox). `Transmit::External` writes are served from
//! the payload given to [`Party::send_external`]; `Transmit::Shutdown` closes
//! that direction, and the receiver gets `handle_eof` once it has read all
//! that came before. Every event either side gives is kept as an owned
//! [`Ev`], in order, until a test takes it.
//!
//! Time only moves when a test says so: [`Pair::advance`] steps from
//! deadline to deadline (the earlier of the two `poll_timeout`s), calls
//! `handle_timeout` on the side that is due and drives the wire at that
//! instant, so a Ping sent at a deadline is answered before the next one.
//!
//! Events the engine raises by itself (a `Closed` after a deadline or EOF)
//! come out of `Connection::poll_event`; the harness drains them in one
//! place, `Party::collect_raised`.
//!
//! Cost: every byte is copied once into the receiver's inbox and once into
//! the sender's record of what it wrote; fine for tests, not for benches.
//!
//! Invariants checked on every call: each read consumes all its input
//! unless the connection is still in its handshake (a server holding a
//! request for a decision), and a deadline handled is never left armed at
//! or before `now`.

use std::time::Duration;

use hybi::{
    Accept, ClientRequest, Config, Connection, Instant, MessageKind, Role, State, Transmit,
    UsageError,
};

use super::{decode_frames, CountingEntropy, Ev};

/// The URI the client of a [`Pair::new`] asks for.
pub const PAIR_URI: &str = "ws://server.example.com/chat";

/// How [`Pair::drop_connection`] ends one side without a Close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The side's transport closes: its peer reads what was already sent,
    /// then EOF.
    Eof,
    /// The transport is reset: what was in flight to the peer is lost, and
    /// the peer gets EOF at once.
    Reset,
}

/// What the server does with the opening request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `accept(Accept::new())`.
    Accept,
    /// `accept` with this subprotocol.
    AcceptProtocol(String),
    /// `reject(status, &[], b"")`.
    Reject(u16),
    /// Nothing: the test decides on `server.conn` itself, then drives.
    Hold,
}

/// One end of a [`Pair`]: its connection, its inbox, what it wrote and the
/// events it gave.
pub struct Party {
    /// The engine; call its commands and getters directly.
    pub conn: Connection,
    /// Off: bytes sent to this side wait in its inbox (a peer that stopped
    /// reading). Set it back to `true` and drive to deliver them.
    pub reading: bool,
    /// At most this many bytes per write (partial writes); `None` writes
    /// each `Transmit` whole.
    pub max_write: Option<usize>,
    /// What this side does with an opening request (servers only).
    pub decision: Decision,
    events: Vec<Ev>,
    /// Bytes from the peer not yet given to `handle_input`.
    inbox: Vec<u8>,
    /// The peer's direction is closed: EOF once the inbox is read.
    eof_due: bool,
    eof_given: bool,
    /// Everything this side wrote (since `connected()` cleared the heads).
    written: Vec<u8>,
    shut_down: bool,
    /// Dropped by `drop_connection`: nothing moves to or from it.
    dropped: bool,
    /// The payload of the last `send_external`.
    external: Vec<u8>,
}

impl Party {
    fn new(conn: Connection) -> Party {
        Party {
            conn,
            reading: true,
            max_write: None,
            decision: Decision::Accept,
            events: Vec::new(),
            inbox: Vec::new(),
            eof_due: false,
            eof_given: false,
            written: Vec::new(),
            shut_down: false,
            dropped: false,
            external: Vec::new(),
        }
    }

    /// The events given since the last `take_events`, in order.
    pub fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.events)
    }

    /// The events given since the last `take_events`, left in place.
    pub fn events(&self) -> &[Ev] {
        &self.events
    }

    /// Every byte this side wrote since the last `take_written` (or since
    /// `connected()`, which takes the handshake heads).
    pub fn written(&self) -> &[u8] {
        &self.written
    }

    /// [`written`](Self::written), taken.
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.written)
    }

    /// The frames this side wrote, decoded (client frames unmasked), as
    /// (first byte, payload); taken. Only after the handshake heads.
    pub fn take_frames(&mut self) -> Vec<(u8, Vec<u8>)> {
        decode_frames(&self.take_written())
    }

    /// Whether this side asked for its transport to be shut down.
    pub fn shut_down(&self) -> bool {
        self.shut_down
    }

    /// Whether `handle_eof` was given to this side.
    pub fn eof_received(&self) -> bool {
        self.eof_given
    }

    /// Bytes sent to this side that it has not read yet.
    pub fn unread(&self) -> usize {
        self.inbox.len()
    }

    /// `send_external`, remembering the payload so the wire can write it
    /// when the engine asks with `Transmit::External`.
    pub fn send_external(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), UsageError> {
        self.conn.send_external(kind, payload, fin)?;
        self.external = payload.to_vec();
        Ok(())
    }

    /// `send_prepared`, remembering the frame it owes so the wire can write
    /// it. Returns the frame.
    pub fn send_prepared(
        &mut self,
        message: &hybi::PreparedMessage,
    ) -> Result<Vec<u8>, UsageError> {
        let frame = self.conn.send_prepared(message)?.to_vec();
        self.external = frame.clone();
        Ok(frame)
    }

    /// The part of the last external payload not yet written.
    pub fn owed(&self) -> &[u8] {
        &self.external[self.external.len() - self.conn.external_owed()..]
    }

    /// `buffer_external` with the owed rest, as an adapter does when the
    /// transport would block.
    pub fn buffer_owed(&mut self) -> Result<(), UsageError> {
        let rest = self.owed().to_vec();
        self.conn.buffer_external(&rest)
    }

    /// Keeps an event, answering a request as `decision` says.
    fn on_event(&mut self, ev: Ev) {
        if let Ev::Request { .. } = ev {
            let result = match &self.decision {
                Decision::Accept => self.conn.accept(Accept::new()),
                Decision::AcceptProtocol(p) => self.conn.accept(Accept::new().subprotocol(p)),
                Decision::Reject(status) => self.conn.reject(hybi::Reject::new(*status)),
                Decision::Hold => Ok(()),
            };
            result.expect("the decision on the opening request");
        }
        self.events.push(ev);
    }

    /// Collects the events the engine raised by itself (after a deadline,
    /// EOF, a write or a command), from `poll_event`: the one place that
    /// drains them.
    fn collect_raised(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.conn.poll_event().map(|e| Ev::from_event(&e)) {
            self.on_event(ev);
            any = true;
        }
        any
    }

    /// Reads the inbox (if reading), then EOF if it is due and the inbox is
    /// empty. Whether anything happened.
    fn read(&mut self, now: Instant) -> bool {
        if self.dropped || !self.reading {
            return false;
        }
        let mut moved = false;
        if !self.inbox.is_empty() {
            let mut input = std::mem::take(&mut self.inbox);
            let mut pos = 0;
            loop {
                let out = self.conn.handle_input(&mut input[pos..], now);
                pos += out.consumed;
                let Some(ev) = out.event.map(|e| Ev::from_event(&e)) else {
                    break;
                };
                self.on_event(ev);
                moved = true;
            }
            // Only a request awaiting a decision holds input back.
            assert!(
                pos == input.len() || self.conn.state() == State::Handshaking,
                "{:?} left {} bytes unread",
                self.conn.role(),
                input.len() - pos
            );
            moved |= pos > 0;
            input.drain(..pos);
            self.inbox = input;
        }
        if self.inbox.is_empty() && self.eof_due && !self.eof_given {
            self.conn.handle_eof(now);
            self.eof_given = true;
            moved = true;
        }
        moved |= self.collect_raised();
        moved
    }
}

/// A client and a server wired together on a virtual clock; see the
/// module docs.
pub struct Pair {
    pub client: Party,
    pub server: Party,
    now: Instant,
    /// Which sides asked to shut down, in order.
    shutdowns: Vec<Role>,
}

impl Pair {
    /// A client asking for [`PAIR_URI`] and a server, both created at time
    /// zero; nothing has moved yet (`drive` runs the handshake). Each
    /// config's `deflate` decides whether that side offers or accepts
    /// permessage-deflate.
    pub fn new(client: Config, server: Config) -> Pair {
        let request = ClientRequest::new(PAIR_URI).expect("URI");
        Pair::with_request(client, request, server)
    }

    /// [`new`](Self::new) with the client's own request (subprotocols,
    /// headers).
    pub fn with_request(client: Config, request: ClientRequest, server: Config) -> Pair {
        let now = Instant::ZERO;
        let client = Connection::client(client, request, CountingEntropy(0), now).expect("client");
        let server = Connection::server(server, now);
        Pair {
            client: Party::new(client),
            server: Party::new(server),
            now,
            shutdowns: Vec::new(),
        }
    }

    /// [`new`](Self::new), then the handshake: both Open, the `Request` and
    /// `Accepted` events and the handshake heads taken.
    pub fn connected(client: Config, server: Config) -> Pair {
        let mut pair = Pair::new(client, server);
        pair.drive();
        assert_eq!(
            pair.server.take_events(),
            [Ev::Request {
                target: "/chat".to_string()
            }]
        );
        let events = pair.client.take_events();
        assert!(
            matches!(events[..], [Ev::Accepted { status: 101, .. }]),
            "{events:?}"
        );
        assert_eq!(
            (pair.client.conn.state(), pair.server.conn.state()),
            (State::Open, State::Open)
        );
        pair.client.written.clear();
        pair.server.written.clear();
        pair
    }

    /// The side in `role`.
    pub fn party(&mut self, role: Role) -> &mut Party {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    /// The sender in `from` and its peer.
    fn ends(&mut self, from: Role) -> (&mut Party, &mut Party) {
        match from {
            Role::Client => (&mut self.client, &mut self.server),
            Role::Server => (&mut self.server, &mut self.client),
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Which sides asked to shut their transport, in order.
    pub fn shutdowns(&self) -> &[Role] {
        &self.shutdowns
    }

    /// One write from `from`: at most `max` bytes (at least one) of its
    /// next `Transmit`, read by the peer at once (if reading), or its
    /// `Shutdown` (EOF for the peer). Whether anything was written.
    pub fn transfer(&mut self, from: Role, max: usize) -> bool {
        let now = self.now;
        let (src, dst) = self.ends(from);
        if src.dropped {
            return false;
        }
        let chunk = match src.conn.poll_transmit() {
            None => return false,
            Some(Transmit::Shutdown) => {
                src.shut_down = true;
                dst.eof_due = true;
                src.collect_raised();
                dst.read(now);
                self.shutdowns.push(from);
                return true;
            }
            Some(Transmit::Bytes(bytes)) => {
                assert!(!bytes.is_empty(), "Transmit::Bytes of nothing");
                bytes[..max.clamp(1, bytes.len())].to_vec()
            }
            Some(Transmit::External(owed)) => {
                let rest = src.owed();
                assert_eq!(rest.len(), owed, "Transmit::External of the wrong size");
                rest[..max.clamp(1, owed)].to_vec()
            }
        };
        src.conn.transmitted(chunk.len());
        src.written.extend_from_slice(&chunk);
        src.collect_raised();
        if !dst.dropped {
            dst.inbox.extend_from_slice(&chunk);
            dst.read(now);
        }
        true
    }

    /// Moves bytes both ways, each side writing at most its `max_write` per
    /// write, until nothing moves; collects the events of both sides.
    pub fn drive(&mut self) {
        for _ in 0..1 << 24 {
            let mut moved = false;
            for from in [Role::Client, Role::Server] {
                let max = self.party(from).max_write.unwrap_or(usize::MAX);
                while self.transfer(from, max) {
                    moved = true;
                }
            }
            let now = self.now;
            for role in [Role::Client, Role::Server] {
                moved |= self.party(role).read(now);
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Lets `by` pass; see [`advance_to`](Self::advance_to).
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now + by);
    }

    /// Moves the clock to `at` (never backwards): drives the wire, then for
    /// each deadline up to `at`, in order, sets the clock to it, calls
    /// `handle_timeout` on the side(s) due and drives again. Last, both
    /// engines are told the time (`handle_timeout(at)`, with nothing due),
    /// so the commands a test gives next act at `at`.
    pub fn advance_to(&mut self, at: Instant) {
        assert!(
            at >= self.now,
            "the clock goes back from {:?} to {at:?}",
            self.now
        );
        loop {
            self.drive();
            let due = [&self.client, &self.server]
                .into_iter()
                .filter(|p| !p.dropped)
                .filter_map(|p| p.conn.poll_timeout())
                .filter(|&t| t <= at)
                .min();
            let Some(due) = due else { break };
            self.now = self.now.max(due);
            let now = self.now;
            for role in [Role::Client, Role::Server] {
                let party = self.party(role);
                if party.dropped || party.conn.poll_timeout().is_none_or(|t| t > now) {
                    continue;
                }
                party.conn.handle_timeout(now);
                if let Some(next) = party.conn.poll_timeout() {
                    assert!(next > now, "{role:?} left {next:?} armed at {now:?}");
                }
                party.collect_raised();
            }
        }
        self.now = at;
        for role in [Role::Client, Role::Server] {
            let party = self.party(role);
            if !party.dropped {
                party.conn.handle_timeout(at);
                party.collect_raised();
            }
        }
        self.drive();
    }

    /// Ends `side` without a Close: from now on nothing moves to or from it
    /// and it sees no more time. Its peer reads what is in flight (`Eof`),
    /// or loses it (`Reset`), then gets EOF on the next `drive`.
    pub fn drop_connection(&mut self, side: Role, how: Cut) {
        let (gone, peer) = self.ends(side);
        gone.dropped = true;
        if how == Cut::Reset {
            peer.inbox.clear();
        }
        peer.eof_due = true;
    }
}
