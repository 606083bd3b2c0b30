//! Target 6, `api_ops`: a sequence of operations on a wired client and
//! server, or on one open connection; `side` holds one party and its model.

mod side;

use std::time::Duration;

use hybi::{
    Accept, ClientRequest, CloseCode, Config, Connection, MessageKind, ProtocolError, Reject, Role,
    State, UsageError,
};

use self::side::{Queued, Side};
use super::shared::{
    check_close_frame, decode_output, head_len, http_response, open, rank, Counting, Cursor,
    Snapshot, CLIENT_URI, NOW,
};

/// A sequence of operations on a client and a server wired together (the
/// handshake included), or on one open connection whose peer is the input.
///
/// Layout: `[setup] [op ..]`. Setup: bit 0 one connection instead of a
/// pair, bit 1 that connection is a client, bit 2 `max_buffered_output =
/// 300`, bit 3 `auto_pong` off, bit 4 `auto_close_reply` off, bit 5 the
/// server rejects the request (403), bit 6 keepalive (Ping after 3 s of
/// silence, fail 2 s later without a Pong), bit 7 idle timeout (5 s); the
/// handshake deadline is 10 s and the close deadline 4 s. Each op is a byte whose top bit picks
/// the side (in a pair) and whose low 4 bits pick the operation, then its
/// arguments ([`Pair::op`]): `send` a fragment, `send_text`, `send_binary`,
/// `ping`, `pong` (payloads up to 255 bytes, so over 125 too), `close` with a
/// code (valid, local-only or raw) and reason, inject N arbitrary bytes into
/// a side's input, deliver N bytes of its input, EOF, `poll_transmit` +
/// `transmitted(k)`, a stray `accept`/`reject`, time passing (0-25.5 s,
/// then `handle_timeout` on each side), a full pump.
///
/// Checked:
/// * a command that fails changes nothing (state, close codes, error,
///   buffered output, subprotocol); after `Closed` every command fails; a
///   successful send/ping/pong happened while open and before our Close;
///   `close` after a Close fails with `CloseAlreadySent`, a successful one
///   sets `close_sent`; control payloads over 125 bytes are refused; a new
///   whole message is refused inside a fragmented one;
/// * the bytes written are the handshake head, then a valid frame stream
///   for the role with at most one Close, nothing after it, carrying
///   `close_sent()`'s code; its data and Ping frames are exactly the
///   successful sends and pings, in order (with keepalive on, the engine's
///   own Pings may come between them);
/// * [`Watch`]'s invariants for each side on every call, the output bound
///   (`max_buffered_output` + 262) included, and its checks of what each
///   deadline may do;
/// * a side whose input was never tampered with gets no protocol error, the
///   data messages it received are a prefix of what its peer sent, and the
///   Close it received is the one its peer sent.
pub fn api_ops(data: &[u8]) {
    let mut input = Cursor::new(data);
    let setup = input.byte();
    let mut pair = Pair::new(setup);
    let mut ops = 0;
    while !input.is_empty() && ops < 4096 {
        pair.op(&mut input);
        pair.check();
        ops += 1;
    }
    pair.end();
}

/// The data and Ping frames written are exactly those queued, in order;
/// with keepalive on, the engine's own Pings may come between them.
fn check_queued(written: Queued, queued: &Queued, keepalive: bool) {
    let mut expected = queued.iter().peekable();
    for frame in written {
        if expected.peek() == Some(&&frame) {
            expected.next();
            continue;
        }
        assert!(
            keepalive && frame.0 == 9,
            "frame {frame:?} written, but the next queued is {:?}",
            expected.peek()
        );
    }
    let missing: Vec<_> = expected.collect();
    assert!(missing.is_empty(), "queued, never written: {missing:?}");
}

struct Pair {
    sides: Vec<Side>,
    wired: bool,
}

impl Pair {
    fn new(setup: u8) -> Pair {
        let mut config = Config::default();
        if setup & 4 != 0 {
            config.max_buffered_output = 300;
        }
        config.auto_pong = setup & 8 == 0;
        config.auto_close_reply = setup & 16 == 0;
        let reject = setup & 32 != 0;
        // Deadlines short enough for the time operation to reach.
        config.handshake_timeout = Some(Duration::from_secs(10));
        config.close_timeout = Some(Duration::from_secs(4));
        if setup & 64 != 0 {
            config.keepalive_interval = Some(Duration::from_secs(3));
            config.keepalive_timeout = Duration::from_secs(2);
        }
        if setup & 128 != 0 {
            config.idle_timeout = Some(Duration::from_secs(5));
        }
        if setup & 1 != 0 {
            let role = if setup & 2 != 0 {
                Role::Client
            } else {
                Role::Server
            };
            let mut side = Side::new(open(role, config.clone()), &config, reject);
            side.watch.rank = rank(State::Open);
            // The handshake is done and its output taken: the wire is frames.
            side.tainted = true;
            return Pair {
                sides: vec![side],
                wired: false,
            };
        }
        let request = ClientRequest::new(CLIENT_URI).expect("URI");
        let client = Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
        let server = Connection::server(config.clone(), NOW);
        Pair {
            sides: vec![
                Side::new(client, &config, reject),
                Side::new(server, &config, reject),
            ],
            wired: true,
        }
    }

    /// Decodes and runs one operation.
    fn op(&mut self, input: &mut Cursor<'_>) {
        let op = input.byte();
        let i = usize::from(op >> 7) % self.sides.len();
        let side = &mut self.sides[i];
        match op & 0x0f {
            15 => {
                let flags = input.byte();
                if flags & 8 != 0 && side.conn.external_owed() > 0 {
                    // The transport would block: the owed rest is copied in.
                    let owed = side.conn.external_owed();
                    let rest = side.external[side.external.len() - owed..].to_vec();
                    // Copied in past the output limit (the caller's bytes,
                    // accepted already): the bound grows by them.
                    if let Some(limit) = side.watch.output_limit.as_mut() {
                        *limit += owed;
                    }
                    side.conn
                        .buffer_external(&rest)
                        .expect("buffer_external with exactly the owed bytes");
                    assert_eq!(side.conn.external_owed(), 0);
                    return;
                }
                let kind = if flags & 1 != 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let fin = flags & 2 != 0;
                let len = usize::from(input.byte()) << (flags >> 4);
                let raw = input.bytes(len);
                let payload = if kind == MessageKind::Text && flags & 4 == 0 {
                    String::from_utf8_lossy(raw).into_owned().into_bytes()
                } else {
                    raw.to_vec()
                };
                let owed_before = side.conn.external_owed();
                let before = Snapshot::of(&side.conn);
                let ok = side
                    .command(|c| c.send_external(kind, &payload, fin))
                    .is_ok();
                if ok {
                    assert_eq!(side.role, Role::Server, "external send on a client");
                    assert_eq!(owed_before, 0, "two external payloads owed");
                    assert_eq!(side.conn.external_owed(), payload.len());
                    side.external.clone_from(&payload);
                }
                side.sent(before, ok, kind, &payload, fin);
            }
            0 => {
                let flags = input.byte();
                let kind = if flags & 1 != 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let fin = flags & 2 != 0;
                let len = usize::from(input.byte());
                let raw = input.bytes(len);
                // Mostly valid text; raw bytes (maybe not UTF-8) with bit 2.
                let payload = if kind == MessageKind::Text && flags & 4 == 0 {
                    String::from_utf8_lossy(raw).into_owned().into_bytes()
                } else {
                    raw.to_vec()
                };
                let before = Snapshot::of(&side.conn);
                let ok = side.command(|c| c.send(kind, &payload, fin)).is_ok();
                side.sent(before, ok, kind, &payload, fin);
            }
            1 => {
                let len = usize::from(input.byte());
                let text = String::from_utf8_lossy(input.bytes(len)).into_owned();
                let before = Snapshot::of(&side.conn);
                let in_progress = side.sending.is_some();
                let ok = side.command(|c| c.send_text(&text)).is_ok();
                assert!(
                    !(ok && in_progress),
                    "whole message inside a fragmented one"
                );
                side.sent(before, ok, MessageKind::Text, text.as_bytes(), true);
            }
            2 => {
                let len = usize::from(input.byte());
                let payload = input.bytes(len).to_vec();
                let before = Snapshot::of(&side.conn);
                let in_progress = side.sending.is_some();
                let ok = side.command(|c| c.send_binary(&payload)).is_ok();
                assert!(
                    !(ok && in_progress),
                    "whole message inside a fragmented one"
                );
                side.sent(before, ok, MessageKind::Binary, &payload, true);
            }
            3 | 4 => {
                let len = usize::from(input.byte());
                let payload = input.bytes(len).to_vec();
                side.control(if op & 0x0f == 3 { 9 } else { 10 }, &payload);
            }
            5 => {
                let code = match input.byte() % 8 {
                    0 => 1000,
                    1 => 1001,
                    2 => 1005, // empty Close, or refused with a reason
                    3 => 3000,
                    4 => 4999,
                    5 => 1006, // never valid
                    6 => 999,  // never valid
                    _ => u16::from_be_bytes([input.byte(), input.byte()]),
                };
                let len = usize::from(input.byte() % 160);
                let reason = String::from_utf8_lossy(input.bytes(len)).into_owned();
                side.close(code, &reason);
            }
            6 => {
                let len = usize::from(input.byte());
                side.inbox.extend_from_slice(input.bytes(len));
                side.tainted = true;
            }
            7 | 11 => {
                let n = match input.byte() {
                    0 => usize::MAX,
                    n => usize::from(n),
                };
                side.deliver(n);
            }
            8 => side.conn.handle_eof(side.watch.now),
            9 | 12 => {
                let k = usize::from(input.byte());
                let taken = side.transmit(k);
                self.carry(i, taken);
            }
            10 => {
                // No request is ever left pending: deciding again fails.
                let status = 200 + u16::from(input.byte());
                let accept = side.command(|c| c.accept(Accept::new()));
                assert_eq!(accept, Err(UsageError::NoPendingRequest));
                let reject = side.command(|c| c.reject(Reject::new(status)));
                assert_eq!(reject, Err(UsageError::NoPendingRequest));
            }
            14 => {
                // Time passes for both sides: 0 to 25.5 s.
                let step = Duration::from_millis(100 * u64::from(input.byte()));
                for side in &mut self.sides {
                    let now = side.watch.now + step;
                    side.watch
                        .timeout_with(&mut side.conn, now, side.idle, side.keepalive);
                }
            }
            _ => self.pump(),
        }
    }

    fn carry(&mut self, from: usize, bytes: Vec<u8>) {
        if self.wired {
            self.sides[1 - from].inbox.extend_from_slice(&bytes);
        }
    }

    /// Everything written is carried over and delivered, both ways, once.
    fn pump(&mut self) {
        for i in 0..self.sides.len() {
            loop {
                let taken = self.sides[i].transmit(0);
                if taken.is_empty() {
                    break;
                }
                self.carry(i, taken);
            }
        }
        for side in &mut self.sides {
            side.deliver(usize::MAX);
        }
    }

    /// Checks that hold between operations.
    fn check(&mut self) {
        for side in &mut self.sides {
            side.watch.state(&side.conn);
        }
    }

    /// Drains both ways, checks the pair, ends both sides with EOF and
    /// checks everything each side wrote.
    fn end(mut self) {
        self.pump();
        self.pump();
        if self.wired {
            for i in 0..2 {
                let (me, peer) = (&self.sides[i], &self.sides[1 - i]);
                if me.tainted {
                    continue;
                }
                // hybi's own output never breaks a rule (deadlines may end
                // a connection, but that is not the peer's output).
                assert!(
                    matches!(
                        me.conn.error(),
                        None | Some(
                            ProtocolError::HandshakeTimeout
                                | ProtocolError::KeepaliveTimeout
                                | ProtocolError::CloseTimeout
                        )
                    ),
                    "{:?} failed on its peer's output: {:?}",
                    me.role,
                    me.conn.error()
                );
                assert!(
                    me.received_messages.is_prefix_of(&peer.sent_messages),
                    "{:?} received {:?}, peer sent {:?}",
                    me.role,
                    me.received_messages,
                    peer.sent_messages
                );
                if let Some(code) = me.conn.close_received() {
                    assert_eq!(peer.conn.close_sent(), Some(code), "Close received != sent");
                }
            }
        }
        for side in &mut self.sides {
            let rest = side.watch.finish(&mut side.conn);
            side.wire.extend_from_slice(&rest);
            for _ in 0..2 {
                // After Closed, every command fails and changes nothing.
                let _ = side.command(|c| c.send_binary(b"x"));
                let _ = side.command(|c| c.send(MessageKind::Text, b"x", false));
                let _ = side.command(|c| c.ping(b""));
                let _ = side.command(|c| c.pong(b""));
                let _ = side.command(|c| c.close(CloseCode::NORMAL, ""));
                let _ = side.command(|c| c.accept(Accept::new()));
                let _ = side.command(|c| c.reject(Reject::new(400)));
            }
            assert!(side.conn.poll_transmit().is_none(), "output after Closed");
            let frames = match side.role {
                Role::Client if !side.tainted || side.wire.starts_with(b"GET ") => {
                    let head = head_len(&side.wire).expect("request head");
                    assert!(side.wire.starts_with(b"GET /chat HTTP/1.1\r\n"));
                    decode_output(&side.wire[head..], Role::Client)
                }
                Role::Server if side.wire.starts_with(b"HTTP/1.1 101 ") => {
                    let head = head_len(&side.wire).expect("101 head");
                    decode_output(&side.wire[head..], Role::Server)
                }
                Role::Server if side.wire.starts_with(b"HTTP/") => {
                    http_response(&side.wire);
                    Vec::new()
                }
                role => decode_output(&side.wire, role),
            };
            check_close_frame(&frames, &side.conn);
            let data_and_pings: Queued = frames
                .into_iter()
                .filter(|f| matches!(f.opcode, 0 | 1 | 2 | 9))
                .map(|f| (f.opcode, f.fin, f.payload))
                .collect();
            check_queued(data_and_pings, &side.queued, side.keepalive);
        }
    }
}
