//! Property tests (proptest):
//!
//! 1. Round trip (RFC 6455 §5.4, §5.6): any sequence of text and binary
//!    messages, each fragmented at random points, with Pings between and
//!    inside them, sent by one connection and fed to a peer split at random
//!    points, arrives as exactly the messages sent. Both directions.
//! 2. A wired client and server (§5.4, §5.5, §7.1) exchange random messages
//!    both ways through random chunk sizes and schedules, and one side
//!    closes at a random point: nothing sent before the Close is lost, both
//!    end with one clean `Closed` carrying the initiator's code, and the
//!    transport is shut server first (§7.1.1). The server may send its
//!    fragments with `send_external`, writing the payloads itself in the
//!    same random chunks, and copying the rest in with `buffer_external`
//!    now and then: the peer must see exactly the same.
//!
//! Properties 1 and 2 run on the shared two-party harness
//! (`common::pair::Pair`): a client and a server whose handshake went
//! through each other, and writes of a chosen size that the peer reads at
//! once.
//! 3. Masking (§5.3): `hybi::mask::apply_mask` equals the byte-by-byte XOR of
//!    the RFC for every length, offset, key and alignment.

mod common;
use common::pair::{Pair, Party};
use common::*;
use hybi::{CloseCode, Config, Connection, MessageKind, Role, UsageError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---- generated scripts ----

/// One thing the sending application does.
#[derive(Debug, Clone)]
enum Step {
    /// A message, cut at the given points (each an index into the payload,
    /// so fragments may split code points and may be empty), with an
    /// optional Ping after each fragment but the last.
    Message {
        kind: MessageKind,
        payload: Vec<u8>,
        cuts: Vec<(Index, Option<Vec<u8>>)>,
    },
    /// A Ping between messages.
    Ping(Vec<u8>),
}

/// One engine call, flattened from the steps.
#[derive(Debug, Clone)]
enum Act {
    Frag {
        kind: MessageKind,
        bytes: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Close,
}

fn ping_payload() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=125)
}

/// A text message of at least `n` bytes of mixed-width code points.
fn big_text(n: usize, seed: u8) -> Vec<u8> {
    let chars = ['a', 'é', '€', '😀', 'κ', '\u{10ffff}', '\u{800}'];
    let mut s = String::new();
    let mut i = seed as usize;
    while s.len() < n {
        s.push(chars[i % chars.len()]);
        i += 1;
    }
    s.into_bytes()
}

fn payload() -> impl Strategy<Value = (MessageKind, Vec<u8>)> {
    prop_oneof![
        // Arbitrary Unicode, every plane.
        4 => vec(any::<char>(), 0..40)
            .prop_map(|cs| (MessageKind::Text, cs.into_iter().collect::<String>().into_bytes())),
        // Arbitrary bytes, crossing the 7-bit/16-bit length boundary.
        4 => vec(any::<u8>(), 0..300).prop_map(|b| (MessageKind::Binary, b)),
        // Now and then a payload long enough for the 64-bit length.
        1 => (65_536usize..70_000, any::<u8>(), any::<bool>()).prop_map(|(n, seed, is_text)| {
            if is_text {
                (MessageKind::Text, big_text(n, seed))
            } else {
                (MessageKind::Binary, (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect())
            }
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (payload(), vec((any::<Index>(), proptest::option::of(ping_payload())), 0..5))
            .prop_map(|((kind, payload), cuts)| Step::Message { kind, payload, cuts }),
        1 => ping_payload().prop_map(Step::Ping),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    vec(step(), 0..10)
}

/// Flattens steps into engine calls.
fn acts_of(steps: &[Step]) -> Vec<Act> {
    let mut acts = Vec::new();
    for step in steps {
        match step {
            Step::Ping(p) => acts.push(Act::Ping(p.clone())),
            Step::Message {
                kind,
                payload,
                cuts,
            } => {
                let mut cuts: Vec<(usize, Option<Vec<u8>>)> = cuts
                    .iter()
                    .map(|(i, p)| (i.index(payload.len() + 1), p.clone()))
                    .collect();
                cuts.sort_by_key(|(at, _)| *at);
                let mut start = 0;
                for (at, ping) in cuts {
                    acts.push(Act::Frag {
                        kind: *kind,
                        bytes: payload[start..at].to_vec(),
                        fin: false,
                    });
                    if let Some(p) = ping {
                        acts.push(Act::Ping(p));
                    }
                    start = at;
                }
                acts.push(Act::Frag {
                    kind: *kind,
                    bytes: payload[start..].to_vec(),
                    fin: true,
                });
            }
        }
    }
    acts
}

/// The events a receiver must give (merged) for data and pings sent by
/// `acts`, stopping at a Close. Text is delivered in whole code points as it
/// arrives, so before a Ping inside a message only the whole code points
/// received so far can have been delivered; a message left unfinished ends
/// with what was deliverable.
fn expected_events(acts: &[Act]) -> Vec<Ev> {
    struct Open {
        kind: MessageKind,
        bytes: Vec<u8>,
        delivered: usize,
    }
    fn flush(msg: &mut Open, events: &mut Vec<Ev>) {
        let deliverable = match msg.kind {
            MessageKind::Binary => msg.bytes.len(),
            MessageKind::Text => match std::str::from_utf8(&msg.bytes) {
                Ok(_) => msg.bytes.len(),
                Err(e) => e.valid_up_to(),
            },
        };
        if deliverable > msg.delivered {
            let payload = msg.bytes[msg.delivered..deliverable].to_vec();
            events.push(Ev::Data {
                kind: msg.kind,
                payload,
                fin: false,
            });
            msg.delivered = deliverable;
        }
    }
    let mut events = Vec::new();
    let mut open: Option<Open> = None;
    for act in acts {
        match act {
            Act::Frag { kind, bytes, fin } => {
                let msg = open.get_or_insert_with(|| Open {
                    kind: *kind,
                    bytes: Vec::new(),
                    delivered: 0,
                });
                msg.bytes.extend_from_slice(bytes);
                if *fin {
                    let payload = msg.bytes[msg.delivered..].to_vec();
                    events.push(Ev::Data {
                        kind: msg.kind,
                        payload,
                        fin: true,
                    });
                    open = None;
                }
            }
            Act::Ping(p) => {
                if let Some(msg) = open.as_mut() {
                    flush(msg, &mut events);
                }
                events.push(Ev::Ping(p.clone()));
            }
            Act::Close => break,
        }
    }
    if let Some(msg) = open.as_mut() {
        flush(msg, &mut events);
    }
    merge(events)
}

fn perform(conn: &mut Connection, act: &Act) -> Result<(), UsageError> {
    match act {
        Act::Frag { kind, bytes, fin } => conn.send(*kind, bytes, *fin),
        Act::Ping(p) => conn.ping(p),
        Act::Close => unreachable!("closes are performed by the caller"),
    }
}

fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

// ---- property 1: sent messages arrive unchanged, however split ----

fn round_trip(sender_role: Role, steps: &[Step], splits: &[Index]) -> Result<(), TestCaseError> {
    let acts = acts_of(steps);
    let receiver_role = peer_of(sender_role);
    let mut pair = Pair::connected(Config::default(), Config::default());
    let sender = pair.party(sender_role);
    for act in &acts {
        perform(&mut sender.conn, act).map_err(|e| TestCaseError::fail(format!("{act:?}: {e}")))?;
    }
    let len = sender.conn.buffered_output();

    // The sender writes all it queued in pieces cut at the split points;
    // the receiver reads each piece as it comes.
    let mut points: Vec<usize> = splits.iter().map(|i| i.index(len + 1)).collect();
    points.push(len);
    points.sort_unstable();
    for end in points {
        while pair.party(sender_role).written().len() < end {
            let max = end - pair.party(sender_role).written().len();
            prop_assert!(pair.transfer(sender_role, max), "output ended early");
        }
    }
    prop_assert_eq!(pair.party(sender_role).written().len(), len);
    prop_assert_eq!(pair.party(sender_role).conn.buffered_output(), 0);
    prop_assert!(
        !pair.transfer(sender_role, usize::MAX),
        "the sender wrote more than it queued, or shut down"
    );
    let receiver = pair.party(receiver_role);
    prop_assert_eq!(merge(receiver.take_events()), expected_events(&acts));
    prop_assert_eq!(receiver.conn.error(), None);
    prop_assert_eq!(receiver.conn.state(), hybi::State::Open);

    // The receiver owes one Pong, for the latest Ping (§5.5.3).
    let last_ping = acts.iter().rev().find_map(|a| match a {
        Act::Ping(p) => Some(p.clone()),
        _ => None,
    });
    while pair.transfer(receiver_role, usize::MAX) {}
    let expected_pongs: Vec<(u8, Vec<u8>)> = last_ping.into_iter().map(|p| (0x8a, p)).collect();
    prop_assert_eq!(pair.party(receiver_role).take_frames(), expected_pongs);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    // §5.4, §5.6, §5.5.2: client to server.
    #[test]
    fn messages_round_trip_client_to_server(steps in steps(), splits in vec(any::<Index>(), 0..12)) {
        round_trip(Role::Client, &steps, &splits)?;
    }

    // §5.4, §5.6, §5.5.2: server to client.
    #[test]
    fn messages_round_trip_server_to_client(steps in steps(), splits in vec(any::<Index>(), 0..12)) {
        round_trip(Role::Server, &steps, &splits)?;
    }
}

// ---- property 2: a wired pair, closed at a random point ----

/// What one side of the wired pair does: its acts, in order, and those
/// that succeeded.
struct Script {
    acts: Vec<Act>,
    next: usize,
    /// Stopped acting (sent its Close, or was refused with NotOpen).
    stopped: bool,
    /// Acts that succeeded, in order.
    done: Vec<Act>,
    /// Sends fragments with `send_external` when none is owed.
    external: bool,
}

impl Script {
    fn new(acts: Vec<Act>) -> Script {
        Script {
            acts,
            next: 0,
            stopped: false,
            done: Vec::new(),
            external: false,
        }
    }

    /// Performs the next act on `side`; false if there was none to perform.
    fn act(&mut self, side: &mut Party, code: CloseCode, reason: &str) -> bool {
        if self.stopped || self.next == self.acts.len() {
            return false;
        }
        let act = self.acts[self.next].clone();
        self.next += 1;
        if let Act::Close = act {
            side.conn.close(code, reason).expect("close");
            self.done.push(act);
            self.stopped = true;
            return true;
        }
        // Now and then the owed payload is copied in, as an adapter does
        // when the transport would block.
        if side.conn.external_owed() > 0 && self.next % 3 == 0 {
            side.buffer_owed().expect("buffer_external");
        }
        let result = match &act {
            Act::Frag { kind, bytes, fin } if self.external && side.conn.external_owed() == 0 => {
                side.send_external(*kind, bytes, *fin)
            }
            // With a payload owed, other frames queue behind it.
            _ => perform(&mut side.conn, &act),
        };
        match result {
            Ok(()) => self.done.push(act),
            // The peer's Close arrived and was answered: sending is over.
            Err(UsageError::NotOpen) => self.stopped = true,
            Err(e) => panic!("{act:?}: {e}"),
        }
        true
    }
}

/// Pong payloads received must answer our own Pings, in order (a Pong may
/// cover several Pings, §5.5.3, and none follows a Close).
fn pongs_answer_pings(pongs: &[Vec<u8>], done: &[Act]) -> bool {
    let mut pings = done.iter().filter_map(|a| match a {
        Act::Ping(p) => Some(p),
        _ => None,
    });
    pongs.iter().all(|pong| pings.any(|p| p == pong))
}

/// One run of property 2, as generated.
#[derive(Debug, Clone)]
struct Exchange {
    client_steps: Vec<Step>,
    server_steps: Vec<Step>,
    /// The server sends the Close (else the client).
    server_initiates: bool,
    /// Where among the initiator's acts its Close goes.
    close_at: Index,
    code: u16,
    reason: String,
    /// The size of each write, in turn.
    chunks: Vec<usize>,
    /// Which of the four moves (client acts, server acts, client writes,
    /// server writes) is tried first at each step.
    schedule: Vec<u8>,
    /// The server sends its fragments with `send_external`.
    server_external: bool,
}

/// The two sides act and write in the order `x.schedule` gives, until
/// nothing is left to do; then checks what each received.
fn exchange_and_close(x: &Exchange) -> Result<(), TestCaseError> {
    let Exchange {
        client_steps,
        server_steps,
        server_initiates,
        close_at,
        code,
        reason,
        chunks,
        schedule,
        server_external,
    } = x;
    let (server_initiates, reason) = (*server_initiates, reason.as_str());
    let code = CloseCode(*code);
    let mut pair = Pair::connected(Config::default(), Config::default());
    let mut client = Script::new(acts_of(client_steps));
    let mut server = Script::new(acts_of(server_steps));
    server.external = *server_external;
    {
        let initiator = if server_initiates {
            &mut server
        } else {
            &mut client
        };
        let at = close_at.index(initiator.acts.len() + 1);
        initiator.acts.truncate(at);
        initiator.acts.push(Act::Close);
    }

    let mut step = 0;
    loop {
        step += 1;
        prop_assert!(step < 1_000_000, "no progress");
        let chunk = chunks[step % chunks.len()];
        let first = schedule[step % schedule.len()] as usize;
        let mut progressed = false;
        for k in 0..4 {
            progressed = match (first + k) % 4 {
                0 => client.act(&mut pair.client, code, reason),
                1 => server.act(&mut pair.server, code, reason),
                2 => pair.transfer(Role::Client, chunk),
                _ => pair.transfer(Role::Server, chunk),
            };
            if progressed {
                break;
            }
        }
        if !progressed {
            break;
        }
    }

    let ((initiator, initiator_side), (responder, responder_side)) = if server_initiates {
        ((&server, &pair.server), (&client, &pair.client))
    } else {
        ((&client, &pair.client), (&server, &pair.server))
    };
    // Nothing sent before the Close is lost, and the closing handshake is
    // the initiator's code, echoed (§5.5.1), both sides clean (§7.1.4).
    let split_pongs = |side: &Party| -> (Vec<Ev>, Vec<Vec<u8>>) {
        let mut rest = Vec::new();
        let mut pongs = Vec::new();
        for ev in side.events() {
            match ev {
                Ev::Pong(p) => pongs.push(p.clone()),
                other => rest.push(other.clone()),
            }
        }
        (merge(rest), pongs)
    };
    let (at_responder, responder_pongs) = split_pongs(responder_side);
    let (at_initiator, initiator_pongs) = split_pongs(initiator_side);

    let mut expected = expected_events(&initiator.done);
    expected.push(close(code.0, reason));
    expected.push(closed_clean(code.0));
    prop_assert_eq!(at_responder, expected, "at the responder");

    let mut expected = expected_events(&responder.done);
    expected.push(close(code.0, ""));
    expected.push(closed_clean(code.0));
    prop_assert_eq!(at_initiator, expected, "at the initiator");

    prop_assert!(pongs_answer_pings(&responder_pongs, &responder.done));
    prop_assert!(pongs_answer_pings(&initiator_pongs, &initiator.done));

    for side in [&pair.client, &pair.server] {
        prop_assert_eq!(side.conn.state(), hybi::State::Closed);
        prop_assert_eq!(side.conn.close_sent(), Some(code));
        prop_assert_eq!(side.conn.close_received(), Some(code));
        prop_assert_eq!(side.conn.error(), None);
        prop_assert_eq!(side.conn.buffered_output(), 0);
    }
    // §7.1.1: the server shuts the transport first; the client only after
    // the server's EOF.
    prop_assert_eq!(
        pair.shutdowns(),
        [Role::Server, Role::Client],
        "the server shuts first, the client after EOF"
    );
    prop_assert!(pair.client.eof_received());
    Ok(())
}

fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        proptest::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014
        ]),
        3000u16..5000,
    ]
}

fn close_reason() -> impl Strategy<Value = String> {
    // At most 20 chars of at most 4 bytes: within the 123 bytes allowed.
    vec(any::<char>(), 0..20).prop_map(|cs| cs.into_iter().collect())
}

prop_compose! {
    fn exchange()(
        client_steps in steps(),
        server_steps in steps(),
        server_initiates in any::<bool>(),
        close_at in any::<Index>(),
        code in close_code(),
        reason in close_reason(),
        chunks in vec(1usize..200, 1..8),
        schedule in vec(any::<u8>(), 1..16),
        server_external in any::<bool>(),
    ) -> Exchange {
        Exchange {
            client_steps,
            server_steps,
            server_initiates,
            close_at,
            code,
            reason,
            chunks,
            schedule,
            server_external,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    // §5.4, §5.5, §7.1.1-§7.1.4: lossless exchange and a clean close.
    #[test]
    fn wired_pair_exchanges_and_closes_cleanly(exchange in exchange()) {
        exchange_and_close(&exchange)?;
    }
}

// ---- property 3: masking ----

/// RFC 6455 §5.3: "Octet i of the transformed data ("transformed-octet-i")
/// is the XOR of octet i of the original data ("original-octet-i") with
/// octet at index i modulo 4 of the masking key".
fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[((offset + i as u64) % 4) as usize];
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    // §5.3: every length 0..300 and offset 0..8, for a random key, random
    // data and a random start in the buffer (alignment); bytes outside the
    // slice are untouched.
    #[test]
    fn apply_mask_equals_bytewise_every_length_and_offset(
        data in vec(any::<u8>(), 308),
        key in any::<[u8; 4]>(),
        start in 0usize..8,
    ) {
        for len in 0..300 {
            for offset in 0..8u64 {
                let mut fast = data.clone();
                let mut slow = data.clone();
                hybi::mask::apply_mask(&mut fast[start..start + len], key, offset);
                mask_bytewise(&mut slow[start..start + len], key, offset);
                prop_assert_eq!(&fast, &slow, "len {} offset {}", len, offset);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // §5.3: random lengths, starts and any 64-bit offset; masking twice is
    // the identity.
    #[test]
    fn apply_mask_equals_bytewise_random(
        data in vec(any::<u8>(), 0..600),
        key in any::<[u8; 4]>(),
        a in any::<Index>(),
        b in any::<Index>(),
        offset in prop_oneof![0u64..8, any::<u64>()],
    ) {
        let (x, y) = (a.index(data.len() + 1), b.index(data.len() + 1));
        let (start, end) = (x.min(y), x.max(y));
        let mut fast = data.clone();
        let mut slow = data.clone();
        hybi::mask::apply_mask(&mut fast[start..end], key, offset);
        mask_bytewise(&mut slow[start..end], key, offset);
        prop_assert_eq!(&fast, &slow);
        hybi::mask::apply_mask(&mut fast[start..end], key, offset);
        prop_assert_eq!(&fast, &data);
    }
}
