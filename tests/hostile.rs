//! Hostile peers: a peer that tries to exhaust memory or CPU through the
//! protocol itself, or to make the engine misbehave with input no honest
//! peer sends. Every test is deterministic: it counts things (bytes,
//! allocations, events, the byte at which a failure comes), never time.
//!
//! Covered elsewhere and not repeated here: limits.rs (every `Config` limit
//! exactly at its edge, a ping flood with a stalled transport, a CRLF flood
//! before the request line), utf8.rs (every invalid UTF-8 form, fail-fast
//! at frame boundaries), close.rs (close bodies, codes and reasons, data
//! after a Close), control.rs (ping floods and owed Pongs), robustness.rs
//! (any bytes in any chunking never panic), allocations.rs (no allocation
//! per message in steady state).
//!
//! The instrument: a counting global allocator wrapping the system one.
//! Only the thread that started a meter is counted (tests run in parallel
//! threads of one process), so a measurement sees the engine's allocations
//! and the test's own, and the tests allocate nothing of their own while a
//! meter runs (inputs are built before, events are checked in place).
//! Sizes are the sizes requested (`Layout::size`), not what the system
//! allocator rounds them up to.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;

use hybi::{
    accept_key, ClientRequest, CloseCode, Closed, Config, Connection, Event, MessageKind,
    OsEntropy, ProtocolError, Role, State, Transmit, UsageError,
};

// ---- the instrument ----

/// What the allocator saw on this thread since the meter started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    /// Bytes allocated minus bytes freed (negative when something allocated
    /// before the meter started was freed).
    live: i64,
    /// The highest `live` reached.
    peak: i64,
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    allocs: u64,
    /// Bytes requested by those calls (the new size, for `realloc`).
    bytes: u64,
}

thread_local! {
    static METER: Cell<Option<Stats>> = const { Cell::new(None) };
}

/// Updates this thread's meter, if one runs. Touches only a
/// const-initialized thread-local `Cell` of a `Copy` type: no allocation,
/// no destructor to register.
fn record(f: impl FnOnce(&mut Stats)) {
    let _ = METER.try_with(|meter| {
        if let Some(mut stats) = meter.get() {
            f(&mut stats);
            stats.peak = stats.peak.max(stats.live);
            meter.set(Some(stats));
        }
    });
}

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; counting only
// updates a thread-local `Cell` (see `record`), which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(|s| {
            s.live += layout.size() as i64;
            s.allocs += 1;
            s.bytes += layout.size() as u64;
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(|s| {
            s.live += layout.size() as i64;
            s.allocs += 1;
            s.bytes += layout.size() as u64;
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(|s| s.live -= layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(|s| {
            s.live += new_size as i64 - layout.size() as i64;
            s.allocs += 1;
            s.bytes += new_size as u64;
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Starts (or restarts) this thread's meter from zero.
fn meter_start() {
    METER.with(|m| m.set(Some(Stats::default())));
}

/// The meter's reading so far.
fn meter_read() -> Stats {
    METER.with(Cell::get).expect("no meter running")
}

/// Stops the meter and returns its reading.
fn meter_stop() -> Stats {
    METER.with(Cell::take).expect("no meter running")
}

/// Heap growth allowed for bookkeeping that does not depend on the attack's
/// size (an HTTP error answer, a boxed state): far below any buffer that
/// grew with the input.
const SLACK: i64 = 1024;

// The instrument works: one allocation of n bytes is counted as such, a
// reallocation as its new size, and freeing brings `live` back down.
#[test]
fn the_meter_counts_this_threads_allocations() {
    meter_start();
    let mut v: Vec<u8> = Vec::with_capacity(1000);
    assert_eq!(
        meter_read(),
        Stats {
            live: 1000,
            peak: 1000,
            allocs: 1,
            bytes: 1000
        }
    );
    v.reserve_exact(3000);
    drop(v);
    let stats = meter_stop();
    assert_eq!(
        stats,
        Stats {
            live: 0,
            peak: 3000,
            allocs: 2,
            bytes: 4000
        }
    );
    // Another thread's allocations are not counted.
    meter_start();
    std::thread::spawn(|| std::hint::black_box(vec![0u8; 5000]))
        .join()
        .unwrap();
    let stats = meter_stop();
    assert!(stats.bytes < 5000, "{stats:?}");
}

// ---- local helpers ----

/// `payload` as it travels to `role` starting at payload offset `at`:
/// masked with `KEY` toward a server, as is toward a client.
fn on_wire(role: Role, payload: &[u8], at: usize) -> Vec<u8> {
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| match role {
            Role::Server => b ^ KEY[(at + i) % 4],
            Role::Client => *b,
        })
        .collect()
}

/// Size of the header `role` puts on a frame of `len` payload bytes.
fn sent_header_len(role: Role, len: usize) -> usize {
    let ext = match len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    };
    2 + ext + if role == Role::Client { 4 } else { 0 }
}

/// Feeds `input` in pieces of `chunk` bytes, calling `on_event` for each
/// event, and asserts every piece is consumed. Allocates nothing itself.
fn pump_in(
    conn: &mut Connection,
    input: &mut [u8],
    chunk: usize,
    mut on_event: impl FnMut(&Event<'_>),
) {
    let mut start = 0;
    while start < input.len() {
        let end = (start + chunk).min(input.len());
        let mut pos = start;
        loop {
            let out = conn.handle_input(&mut input[pos..end], NOW);
            pos += out.consumed;
            match out.event {
                Some(event) => on_event(&event),
                None => break,
            }
        }
        while let Some(event) = conn.poll_event() {
            on_event(&event);
        }
        assert!(pos == end, "input left over");
        start = end;
    }
}

/// The Close frame a connection sends when it fails with `error`.
fn failure_close(error: ProtocolError) -> (u8, Vec<u8>) {
    let body = [
        &error.close_code().0.to_be_bytes()[..],
        error.as_str().as_bytes(),
    ]
    .concat();
    (0x88, body)
}

/// A deterministic pseudo-random stream (xorshift64*), for garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

// ---- slowloris: a handshake that never ends ----

/// What a head trickled one byte at a time did.
#[derive(Debug)]
struct Trickle {
    /// The index of the byte whose call gave `Closed`, and the event.
    closed: Option<(usize, Closed)>,
    /// Any other events (there must be none).
    other_events: usize,
    /// Bytes reported consumed before the byte that gave `Closed`.
    consumed_before_failure: usize,
    /// Bytes reported consumed in all.
    consumed: usize,
    /// The meter when `Closed` came, and at the end.
    at_failure: Stats,
    at_end: Stats,
}

/// Feeds `total` bytes one at a time, the `i`-th being `byte(i)`, metering
/// the heap from the first byte on.
fn trickle(conn: &mut Connection, total: usize, byte: impl Fn(usize) -> u8) -> Trickle {
    let mut t = Trickle {
        closed: None,
        other_events: 0,
        consumed_before_failure: 0,
        consumed: 0,
        at_failure: Stats::default(),
        at_end: Stats::default(),
    };
    meter_start();
    for i in 0..total {
        let mut one = [byte(i)];
        let mut pos = 0;
        loop {
            let out = conn.handle_input(&mut one[pos..], NOW);
            pos += out.consumed;
            t.consumed += out.consumed;
            match out.event {
                Some(Event::Closed(c)) => {
                    t.closed = Some((i, c));
                    t.at_failure = meter_read();
                }
                Some(_) => t.other_events += 1,
                None => break,
            }
        }
        if t.closed.is_none() {
            t.consumed_before_failure = t.consumed;
        }
    }
    t.at_end = meter_stop();
    t
}

/// The `i`-th byte of `prefix` followed by `tail` repeated forever.
fn endless(prefix: &'static [u8], tail: &'static [u8]) -> impl Fn(usize) -> u8 {
    move |i| match prefix.get(i) {
        Some(&b) => b,
        None => tail[(i - prefix.len()) % tail.len()],
    }
}

/// A client whose request has been written out (so its output buffer is
/// as it stays while it waits for the answer).
fn waiting_client(config: Config) -> Connection {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client =
        Connection::client(config, request, CountingEntropy(0), hybi::Instant::ZERO).unwrap();
    let (req, _) = take_output(&mut client);
    assert!(req.starts_with(b"GET /chat HTTP/1.1\r\n"));
    client
}

/// Slowloris against `role` with `max_handshake_size` = `cap`: an endless
/// head (`prefix`, then `tail` repeated), trickled one byte at a time, four
/// times the cap ("forever").
fn slowloris(role: Role, cap: usize, prefix: &'static [u8], tail: &'static [u8]) {
    let mut config = Config::default();
    config.max_handshake_size = cap;
    let mut conn = match role {
        Role::Server => Connection::server(config, hybi::Instant::ZERO),
        Role::Client => waiting_client(config),
    };
    let t = trickle(&mut conn, 4 * cap, endless(prefix, tail));
    let what = format!(
        "{role:?}, cap {cap}, tail {:?}",
        String::from_utf8_lossy(tail)
    );

    // Stopped at exactly the cap: the first byte past it fails the
    // handshake; every byte before it was taken without an event.
    let (at, closed) = t.closed.unwrap_or_else(|| panic!("never stopped: {what}"));
    assert_eq!(at, cap, "{what}");
    assert_eq!(
        closed,
        Closed {
            code: CloseCode::ABNORMAL,
            clean: false,
            error: Some(ProtocolError::HandshakeTooLarge)
        },
        "{what}"
    );
    assert_eq!(t.other_events, 0, "{what}");
    assert_eq!(t.consumed_before_failure, cap, "{what}");
    // The rest is swallowed (the transport is being shut), not stored.
    assert_eq!(t.consumed, 4 * cap, "{what}");
    assert_eq!(conn.state(), State::Closed, "{what}");
    assert_eq!(conn.error(), Some(ProtocolError::HandshakeTooLarge));

    // RFC 6585 §5: a server answers 431 and shuts; a client writes nothing
    // more and shuts.
    let (bytes, shutdown) = take_output(&mut conn);
    match role {
        Role::Server => {
            let answer = String::from_utf8_lossy(&bytes);
            assert!(answer.starts_with("HTTP/1.1 431 "), "{what}: {answer}");
        }
        Role::Client => assert_eq!(bytes, b"", "{what}"),
    }
    assert!(shutdown, "{what}");

    // Memory: the head is released at the failure, and nothing after it
    // allocates; at no point did the connection hold more than the cap
    // (plus a constant for the answer and the reader's state).
    println!("slowloris {what}: {:?}", t.at_end);
    assert!(t.at_failure.live <= SLACK, "{what}: {:?}", t.at_failure);
    assert_eq!(t.at_end.allocs, t.at_failure.allocs, "{what}");
    assert_eq!(t.at_end.live, t.at_failure.live, "{what}");
    assert!(
        t.at_end.peak <= cap as i64 + SLACK,
        "{what}: peak heap {} for a cap of {cap}",
        t.at_end.peak
    );
}

/// The four slowloris heads: (role, prefix, tail).
const SLOWLORIS: [(Role, &[u8], &[u8]); 4] = [
    // A request whose last header line never ends.
    (
        Role::Server,
        b"GET /chat HTTP/1.1\r\nHost: h\r\nX-Slow: ",
        b"a",
    ),
    // A request that keeps adding short header lines (the header count is
    // never reached: the head is parsed only once complete, so the size cap
    // is what stops it).
    (Role::Server, b"GET /chat HTTP/1.1\r\n", b"X: a\r\n"),
    // A server whose 101 never ends, against a client.
    (
        Role::Client,
        b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ",
        b"b",
    ),
    // A server adding header lines forever.
    (
        Role::Client,
        b"HTTP/1.1 101 Switching Protocols\r\n",
        b"X: b\r\n",
    ),
];

// Slowloris (RFC 6455 §10.4, config.rs `max_handshake_size`: "bounding a
// slowloris peer"): endless heads trickled one byte at a time against the
// default 16 KiB cap, in both roles. Stopped at exactly the cap with 431
// (server) and Closed; never more heap than the cap.
#[test]
fn slowloris_default_cap() {
    for (role, prefix, tail) in SLOWLORIS {
        slowloris(role, Config::default().max_handshake_size, prefix, tail);
    }
}

// Slowloris with a cap that is not a power of two (3000 bytes): the same
// stop at exactly the cap, and the same memory bound, cap + a constant.
#[test]
fn slowloris_odd_cap() {
    for (role, prefix, tail) in SLOWLORIS {
        slowloris(role, 3000, prefix, tail);
    }
}

// ---- quadratic parsing (RUSTSEC-2023-0065) ----

/// `base` (a head up to the CRLF of its last header line) padded with
/// 64-byte header lines to exactly `size` bytes, empty line included.
/// Returns the head and how many header lines it has in all.
fn padded_head(base: &[u8], base_headers: usize, size: usize) -> (Vec<u8>, usize) {
    let mut head = base.to_vec();
    let mut lines = base_headers;
    loop {
        let left = size - head.len() - 2;
        if left == 0 {
            break;
        }
        let line_len = if left >= 128 { 64 } else { left };
        let name = format!("X-H{lines:05}: ");
        head.extend_from_slice(name.as_bytes());
        head.extend(std::iter::repeat_n(b'v', line_len - name.len() - 2));
        head.extend_from_slice(b"\r\n");
        lines += 1;
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(head.len(), size);
    (head, lines)
}

/// A connection of `role` about to read a head of `size` bytes, and that
/// head: a request for a server, a valid 101 for a client.
/// `max_handshake_size` is 70 KiB and `max_headers` exactly what it needs.
fn big_head_case(role: Role, size: usize) -> (Connection, Vec<u8>) {
    let mut config = Config::default();
    config.max_handshake_size = 70 * 1024;
    match role {
        Role::Server => {
            let base = &RFC_REQUEST[..RFC_REQUEST.len() - 2];
            let (head, lines) = padded_head(base, 7, size);
            config.max_headers = lines;
            (Connection::server(config, hybi::Instant::ZERO), head)
        }
        Role::Client => {
            // The key depends only on the entropy (CountingEntropy(0)).
            let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
            let mut probe = Connection::client(
                Config::default(),
                request,
                CountingEntropy(0),
                hybi::Instant::ZERO,
            )
            .unwrap();
            let key = header_value(&take_output(&mut probe).0, "Sec-WebSocket-Key");
            let base = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
                accept_key(key.as_bytes()).as_str()
            );
            let (head, lines) = padded_head(base.as_bytes(), 3, size);
            config.max_headers = lines;
            (waiting_client(config), head)
        }
    }
}

/// Feeds `head` to `conn` one byte at a time (or whole) under the meter;
/// asserts the handshake completes at its last byte and returns the meter.
fn read_head_metered(role: Role, conn: &mut Connection, head: &mut [u8], bytewise: bool) -> Stats {
    let last = head.len() - 1;
    let mut done_at = None;
    meter_start();
    if bytewise {
        for i in 0..head.len() {
            let out = conn.handle_input(&mut head[i..=i], NOW);
            assert_eq!(out.consumed, 1);
            match (role, out.event) {
                (_, None) => {}
                (Role::Server, Some(Event::Request(r))) if r.path() == "/chat" => done_at = Some(i),
                (Role::Client, Some(Event::Accepted(r))) if r.status() == 101 => done_at = Some(i),
                (_, Some(other)) => panic!("{other:?}"),
            }
        }
    } else {
        let out = conn.handle_input(head, NOW);
        assert_eq!(out.consumed, last + 1);
        assert!(matches!(
            out.event,
            Some(Event::Request(_) | Event::Accepted(_))
        ));
        done_at = Some(last);
    }
    let stats = meter_stop();
    assert_eq!(done_at, Some(last), "{role:?}: {:?}", conn.state());
    stats
}

// Quadratic parsing (the denial of service of RUSTSEC-2023-0065): a 64 KiB
// head of ~1000 header lines, fed one byte at a time. Re-parsing the buffer
// on every read would allocate httparse's header slots once per byte
// (65,536 allocations) and re-copy the head each time; the engine scans
// each byte once and parses once. Measured through the public API by the
// allocator: allocations and bytes allocated are O(n), and the cost of
// 64 KiB is ~4 times that of 16 KiB, not ~16 times.
both_roles!(quadratic_parsing_large_head_bytewise_is_linear, |role| {
    let mut cost = Vec::new();
    for size in [16 * 1024, 64 * 1024] {
        let (mut conn, head) = big_head_case(role, size);
        let bytewise = read_head_metered(role, &mut conn, &mut head.clone(), true);
        let (mut conn, _) = big_head_case(role, size);
        let whole = read_head_metered(role, &mut conn, &mut head.clone(), false);

        // O(n) work, with small constants, whatever the chunking.
        assert!(
            bytewise.allocs < 64,
            "{role:?} {size}: {} allocations",
            bytewise.allocs
        );
        assert!(
            bytewise.bytes < 4 * size as u64,
            "{role:?} {size}: {} bytes allocated",
            bytewise.bytes
        );
        // One byte at a time costs at most the amortized growth of one
        // buffer (x2) more than one read of the whole head.
        assert!(
            bytewise.bytes <= 2 * whole.bytes,
            "{role:?} {size}: {bytewise:?} vs {whole:?}"
        );
        cost.push(bytewise);
    }
    let (small, large) = (cost[0], cost[1]);
    println!("{role:?}: 16 KiB head {small:?}, 64 KiB head {large:?}");
    let ratio = large.bytes as f64 / small.bytes as f64;
    assert!(
        (3.0..=5.0).contains(&ratio),
        "{role:?}: 4x the head cost {ratio:.2}x the bytes ({small:?} -> {large:?})"
    );
    // Allocations grow with the logarithm (buffer doublings), not the size.
    assert!(
        large.allocs <= small.allocs + 8,
        "{role:?}: {small:?} -> {large:?}"
    );
});

// ---- length fields never allocate ahead of the data ----

// A frame announcing 2^63 - 1 bytes, with every limit raised to u64::MAX:
// nothing is reserved for the announced length; 1 MiB of payload in 64 KiB
// reads streams out as one Data event per read, and the heap does not grow
// (limits.rs checks the header alone; this checks memory while streaming).
both_roles!(length_2_pow_63_minus_1_never_allocates_ahead, |role| {
    for (first, kind) in [(0x82, MessageKind::Binary), (0x81, MessageKind::Text)] {
        let mut config = Config::default();
        config.max_frame_size = u64::MAX;
        config.max_message_size = u64::MAX;
        let mut conn = open(role, config);
        let mut head = header(role, first, (1 << 63) - 1);
        let payload: Vec<u8> = (0..1usize << 20).map(|i| b'a' + (i % 26) as u8).collect();
        let mut wire = on_wire(role, &payload, 0);

        meter_start();
        pump_in(&mut conn, &mut head, 64, |e| panic!("{e:?}"));
        let mut delivered = 0;
        let mut events = 0;
        for chunk in wire.chunks_mut(64 * 1024) {
            let len = chunk.len();
            pump_in(&mut conn, chunk, len, |e| match e {
                Event::Data(d) => {
                    assert_eq!(d.kind, kind);
                    assert!(!d.fin);
                    assert_eq!(d.payload.len(), len, "one Data per read");
                    assert!(d.payload == &payload[delivered..delivered + len]);
                    delivered += len;
                    events += 1;
                }
                other => panic!("{other:?}"),
            });
            let now = meter_read();
            assert!(now.peak <= SLACK, "{role:?}: {now:?} after {delivered}");
        }
        let stats = meter_stop();
        assert_eq!(delivered, 1 << 20);
        assert_eq!(events, 16);
        assert!(stats.peak <= SLACK, "{role:?} {kind:?}: {stats:?}");
        assert_eq!(conn.state(), State::Open);
        assert_eq!(conn.buffered_output(), 0);
    }
});

// ---- many tiny fragments ----

/// One text message of `count` one-byte fragments (ASCII), as sent to
/// `role`, and the message.
fn tiny_fragments(role: Role, count: usize) -> (Vec<u8>, Vec<u8>) {
    let msg: Vec<u8> = (0..count).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wire = Vec::with_capacity(count * 7);
    for (i, b) in msg.iter().enumerate() {
        let first = match (i == 0, i + 1 == count) {
            (true, _) => 0x01,
            (false, false) => 0x00,
            (false, true) => 0x80,
        };
        wire.extend(raw_frame_to(role, first, &[*b]));
    }
    (wire, msg)
}

// Many tiny fragments (§10.4 "a long stream of small frames that are a part
// of a fragmented message"): 100,000 one-byte fragments of one text message.
// Each fragment's byte is delivered as it arrives, the message completes,
// and the engine's heap does not grow with the number of fragments.
both_roles!(hundred_thousand_one_byte_fragments, |role| {
    const COUNT: usize = 100_000;
    let mut conn = open(role, Config::default());
    let (mut wire, msg) = tiny_fragments(role, COUNT);
    let mut delivered = 0;
    let mut events = 0;
    let mut fins = 0;
    meter_start();
    pump_in(&mut conn, &mut wire, 4096, |e| match e {
        Event::Data(d) => {
            assert_eq!(d.kind, MessageKind::Text);
            assert!(d.payload == &msg[delivered..delivered + d.payload.len()]);
            delivered += d.payload.len();
            events += 1;
            if d.fin {
                fins += 1;
                assert_eq!(delivered, COUNT, "fin before the last fragment");
            }
        }
        other => panic!("{other:?}"),
    });
    let stats = meter_stop();
    assert_eq!(delivered, COUNT);
    assert_eq!(events, COUNT, "one Data per fragment: streamed");
    assert_eq!(fins, 1);
    assert!(stats.peak <= SLACK, "{role:?}: {stats:?}");
    assert_eq!(conn.state(), State::Open);
    assert_eq!(conn.buffered_output(), 0);
});

// The same flood with `max_message_size` = 50,000: the first 50,000
// fragments are delivered, and the header of fragment 50,001 (before its
// payload) fails the connection with 1009.
both_roles!(one_byte_fragments_past_message_limit_fail_1009, |role| {
    const LIMIT: usize = 50_000;
    let mut config = Config::default();
    config.max_message_size = LIMIT as u64;
    let mut conn = open(role, config);
    let (mut wire, _) = tiny_fragments(role, 100_000);
    let frame_len = raw_frame_to(role, 0x00, b"x").len();
    let header_len = frame_len - 1;

    let mut delivered = 0;
    meter_start();
    pump_in(
        &mut conn,
        &mut wire[..LIMIT * frame_len],
        4096,
        |e| match e {
            Event::Data(d) => delivered += d.payload.len(),
            other => panic!("{other:?}"),
        },
    );
    assert_eq!(delivered, LIMIT);
    assert_eq!(conn.state(), State::Open);
    // Fragment 50,001, its header one byte at a time: the failure comes at
    // the header's last byte.
    let next = LIMIT * frame_len;
    let mut closed_at = None;
    for i in next..next + header_len {
        pump_in(&mut conn, &mut wire[i..=i], 1, |e| match e {
            Event::Closed(c) => {
                assert_eq!(c.error, Some(ProtocolError::MessageTooLarge));
                assert_eq!(c.code, CloseCode::ABNORMAL);
                closed_at = Some(i - next);
            }
            other => panic!("{other:?}"),
        });
    }
    let stats = meter_stop();
    assert_eq!(closed_at, Some(header_len - 1));
    assert!(stats.peak <= SLACK, "{role:?}: {stats:?}");
    assert_eq!(conn.state(), State::Closed);
    let (bytes, shutdown) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![failure_close(ProtocolError::MessageTooLarge)]
    );
    assert_eq!(&decode_frames(&bytes)[0].1[..2], &1009u16.to_be_bytes());
    assert!(shutdown);
});

// ---- ping and pong floods while we never write ----

/// `count` control frames with opcode byte `first` and 125-byte payloads
/// (the index in the first four bytes), as sent to `role`.
fn control_flood(role: Role, first: u8, count: u32) -> Vec<u8> {
    let mut payload = [0x5a; 125];
    let mut wire = Vec::new();
    for i in 0..count {
        payload[..4].copy_from_slice(&i.to_be_bytes());
        wire.extend(raw_frame_to(role, first, &payload));
    }
    wire
}

// Ping flood while the application never writes output (never calls
// `poll_transmit`): 50,000 Pings of 125 bytes. At every read the queued
// output is at most one Pong (§5.5.3 lets it answer only the latest Ping),
// and the heap does not grow. limits.rs and control.rs check the same with
// small payloads and with a stalled transport.
both_roles!(ping_flood_never_writing, |role| {
    const COUNT: u32 = 50_000;
    let one_pong = sent_header_len(role, 125) + 125;
    let mut conn = open(role, Config::default());
    let mut wire = control_flood(role, 0x89, COUNT);
    let mut pings = 0u32;
    meter_start();
    let mut start = 0;
    while start < wire.len() {
        let end = (start + 4096).min(wire.len());
        pump_in(&mut conn, &mut wire[start..end], 4096, |e| match e {
            Event::Ping(p) => {
                assert_eq!(p[..4], pings.to_be_bytes());
                pings += 1;
            }
            other => panic!("{other:?}"),
        });
        assert!(
            conn.buffered_output() <= one_pong,
            "{}",
            conn.buffered_output()
        );
        start = end;
    }
    let stats = meter_stop();
    assert_eq!(pings, COUNT);
    assert!(stats.peak <= SLACK, "{role:?}: {stats:?}");
    // When the application finally writes: one Pong, for the last Ping.
    let frames = decode_frames(&take_output(&mut conn).0);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 0x8a);
    assert_eq!(frames[0].1[..4], (COUNT - 1).to_be_bytes());
});

// Pong flood (unsolicited Pongs, §5.5.3) while we never write: nothing is
// ever queued, and the heap does not grow.
both_roles!(pong_flood_never_writing, |role| {
    const COUNT: u32 = 50_000;
    let mut conn = open(role, Config::default());
    let mut wire = control_flood(role, 0x8a, COUNT);
    let mut pongs = 0u32;
    meter_start();
    let mut start = 0;
    while start < wire.len() {
        let end = (start + 4096).min(wire.len());
        pump_in(&mut conn, &mut wire[start..end], 4096, |e| match e {
            Event::Pong(p) => {
                assert_eq!(p[..4], pongs.to_be_bytes());
                pongs += 1;
            }
            other => panic!("{other:?}"),
        });
        assert_eq!(conn.buffered_output(), 0);
        start = end;
    }
    let stats = meter_stop();
    assert_eq!(pongs, COUNT);
    assert!(stats.peak <= SLACK, "{role:?}: {stats:?}");
    assert!(conn.poll_transmit().is_none());
});

// ---- a peer that never reads ----

// A peer that never reads (the transport takes nothing, so `transmitted`
// is never called): with `max_buffered_output` = 64 KiB our sends fail with
// `OutputFull` once it is reached, and nothing grows past it however often
// we retry; a Close still goes out (a connection can always end).
both_roles!(peer_that_never_reads, |role| {
    const LIMIT: usize = 64 * 1024;
    let mut config = Config::default();
    config.max_buffered_output = LIMIT;
    let mut conn = open(role, config);
    let payload = vec![0x42u8; 1000];
    let frame = sent_header_len(role, 1000) + 1000;

    meter_start();
    let mut sent = 0;
    loop {
        // The application polls (the bytes are offered to the transport)
        // but the transport never takes any.
        let _ = conn.poll_transmit();
        match conn.send_binary(&payload) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e, UsageError::OutputFull);
                break;
            }
        }
        assert!(conn.buffered_output() <= LIMIT);
    }
    assert_eq!(sent, LIMIT / frame, "{role:?}");
    assert_eq!(conn.buffered_output(), sent * frame);
    // Smaller and smaller messages, text, pings: each fits or is refused,
    // and the output never passes the limit.
    let mut size = 1000;
    while size > 0 {
        size /= 2;
        loop {
            let result = conn.send_binary(&payload[..size]);
            assert!(conn.buffered_output() <= LIMIT);
            match result {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e, UsageError::OutputFull);
                    break;
                }
            }
        }
    }
    let full = conn.buffered_output();
    assert!(full > LIMIT - sent_header_len(role, 0), "{full}");
    let settled = meter_read();
    for i in 0..10_000 {
        let n = 1 + i % 200;
        assert_eq!(conn.send_binary(&payload[..n]), Err(UsageError::OutputFull));
        assert_eq!(conn.send_text("x"), Err(UsageError::OutputFull));
        assert_eq!(conn.ping(b"p"), Err(UsageError::OutputFull));
        assert_eq!(conn.pong(b""), Err(UsageError::OutputFull));
        assert_eq!(
            conn.send(MessageKind::Text, b"frag", false),
            Err(UsageError::OutputFull)
        );
        let _ = conn.poll_transmit();
    }
    assert_eq!(conn.buffered_output(), full);
    let retried = meter_read();
    assert_eq!(retried.allocs, settled.allocs, "refused sends allocate");

    // The Close is never refused for space: it goes past the limit by at
    // most its own frame (send.rs invariant), and is the last frame out.
    conn.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(conn.buffered_output() <= full + sent_header_len(role, 5) + 5);
    let stats = meter_stop();
    println!("peer that never reads, {role:?}: {stats:?}");
    // The output buffer grows by doubling, so its capacity may reach twice
    // the limit (the Close's few bytes past a nearly full 64 KiB buffer),
    // never more.
    assert!(
        stats.peak <= 2 * LIMIT as i64 + SLACK,
        "{role:?}: {stats:?}"
    );
    assert_eq!(conn.state(), State::Closing);
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(bytes.len(), full + sent_header_len(role, 5) + 5);
    let frames = decode_frames(&bytes);
    let last = frames.last().unwrap();
    assert_eq!(*last, (0x88, [&1000u16.to_be_bytes()[..], b"bye"].concat()));
    assert!(frames[..sent].iter().all(|f| *f == (0x82, payload.clone())));
});

// ---- invalid UTF-8 at every position ----

/// A 200-byte text of 1- to 4-byte code points.
fn text_200() -> Vec<u8> {
    let chars = [
        'a',
        'é',
        '€',
        '😀',
        'κ',
        '\u{10ffff}',
        '\u{800}',
        'z',
        '\u{7ff}',
        '\u{ffff}',
    ];
    let mut s = String::new();
    let mut i = 0;
    while s.len() + 4 <= 200 {
        s.push(chars[i % chars.len()]);
        i += 1;
    }
    while s.len() < 200 {
        s.push('a');
    }
    s.into_bytes()
}

/// `msg` as one text frame (`frame_len` None) or a fragmented text message
/// of frames of `frame_len` payload bytes, as sent to `role`; and for each
/// wire byte, the index in `msg` of the payload byte it carries.
fn text_wire(role: Role, msg: &[u8], frame_len: Option<usize>) -> (Vec<u8>, Vec<Option<usize>>) {
    let pieces: Vec<&[u8]> = match frame_len {
        None => vec![msg],
        Some(n) => msg.chunks(n).collect(),
    };
    let mut wire = Vec::new();
    let mut index = Vec::new();
    let mut at = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let fin = i + 1 == pieces.len();
        let frame = if i == 0 {
            text_frame(role, fin, piece)
        } else {
            cont_frame(role, fin, piece)
        };
        let head = frame.len() - piece.len();
        index.extend(std::iter::repeat_n(None, head));
        index.extend((at..at + piece.len()).map(Some));
        wire.extend(frame);
        at += piece.len();
    }
    (wire, index)
}

/// Feeds `msg` (invalid) to an open connection of `role`, one byte at a
/// time and whole, and asserts: exactly `msg[..prefix]` is delivered, then
/// the failure comes at the call that fed payload byte `fail_at`, with
/// 1007; nothing after it is processed.
fn invalid_at(role: Role, msg: &[u8], frame_len: Option<usize>, fail_at: usize, prefix: usize) {
    let what = || format!("{role:?}, frames {frame_len:?}, fail at {fail_at}: {msg:02x?}");
    let (wire, index) = text_wire(role, msg, frame_len);
    let mut expected = Vec::new();
    if prefix > 0 {
        expected.push(Ev::Data {
            kind: MessageKind::Text,
            payload: msg[..prefix].to_vec(),
            fin: false,
        });
    }
    expected.push(failed(ProtocolError::InvalidUtf8));

    // One byte at a time, noting which byte gave `Closed`.
    let mut conn = open(role, Config::default());
    let mut bytes = wire.clone();
    let mut events = Vec::new();
    let mut failed_on = None;
    for w in 0..bytes.len() {
        pump_in(&mut conn, &mut bytes[w..=w], 1, |e| {
            if let Event::Closed(_) = e {
                failed_on = Some(index[w]);
            }
            events.push(Ev::from_event(e));
        });
    }
    assert_eq!(merge(events), expected, "{}", what());
    assert_eq!(failed_on, Some(Some(fail_at)), "{}", what());
    let (out, shutdown) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&out),
        vec![failure_close(ProtocolError::InvalidUtf8)],
        "{}",
        what()
    );
    assert!(shutdown);

    // Whole: the same events.
    let mut conn = open(role, Config::default());
    let events = feed_chunks(&mut conn, &wire, wire.len());
    assert_eq!(merge(events), expected, "{}", what());
}

/// The longest prefix of `msg` (valid UTF-8) ending on a char boundary at
/// or before `i`.
fn floor_boundary(msg: &[u8], mut i: usize) -> usize {
    while i < msg.len() && (msg[i] & 0xc0) == 0x80 {
        i -= 1;
    }
    i
}

// Invalid UTF-8 at every position (§5.6, §8.1 fail fast): in a 200-byte
// text message, each byte in turn replaced by FF (inside code points too),
// in one frame and fragmented into 7-byte frames. The failure comes at
// exactly that byte with 1007, and the Data delivered before it is exactly
// the valid prefix (up to the last whole code point).
both_roles!(invalid_byte_at_every_position_of_200, |role| {
    let msg = text_200();
    assert_eq!(msg.len(), 200);
    assert!(std::str::from_utf8(&msg).is_ok());
    for i in 0..msg.len() {
        let mut bad = msg.clone();
        bad[i] = 0xff;
        for frames in [None, Some(7)] {
            invalid_at(role, &bad, frames, i, floor_boundary(&msg, i));
        }
    }
});

// Every other way text is invalid, at every code point boundary of the
// same message, one frame and 7-byte frames (utf8.rs has more forms): a
// lone continuation byte, overlong forms (2, 3, 4 bytes), UTF-16
// surrogates, code points above U+10FFFF, and F5. Each fails at the first
// byte that proves it: the lead byte for C0, C1, F5 and a lone
// continuation; the second byte for the rest.
both_roles!(invalid_forms_at_every_boundary_of_200, |role| {
    let msg = text_200();
    let forms: [(&[u8], usize); 9] = [
        (&[0x80], 0),
        (&[0xc0, 0xaf], 0),
        (&[0xc1, 0xbf], 0),
        (&[0xe0, 0x80, 0xaf], 1),
        (&[0xf0, 0x80, 0x80, 0xaf], 1),
        (&[0xed, 0xa0, 0x80], 1),
        (&[0xed, 0xbf, 0xbf], 1),
        (&[0xf4, 0x90, 0x80, 0x80], 1),
        (&[0xf5, 0x80, 0x80, 0x80], 0),
    ];
    for b in (0..msg.len()).filter(|&b| floor_boundary(&msg, b) == b) {
        for (form, proof) in forms {
            if b + form.len() > msg.len() {
                continue;
            }
            let mut bad = msg.clone();
            bad[b..b + form.len()].copy_from_slice(form);
            for frames in [None, Some(7)] {
                invalid_at(role, &bad, frames, b + proof, b);
            }
        }
    }
});

// A message that ends inside a code point (§5.6 "the whole message MUST
// contain valid UTF-8"), at every boundary of the same text: the failure
// comes at the message's last byte.
both_roles!(truncated_at_message_end_at_every_boundary, |role| {
    let msg = text_200();
    for b in (0..msg.len()).filter(|&b| floor_boundary(&msg, b) == b) {
        for cut in [&[0xc3][..], &[0xe2, 0x82], &[0xf0, 0x9f, 0x98]] {
            let bad = [&msg[..b], cut].concat();
            for frames in [None, Some(7)] {
                invalid_at(role, &bad, frames, bad.len() - 1, b);
            }
        }
    }
});

// ---- garbage after a Close ----

// Garbage after the peer's Close (§7.1.1 "discarding any trailing bytes",
// §7.1.7): valid frames, invalid frames of every kind, then 1 MiB of random
// bytes, in random read sizes. All of it is consumed and ignored: no event,
// no output, no failure (the close stays clean), no heap growth. With and
// without the automatic Close reply.
both_roles!(garbage_after_close_is_consumed_and_ignored, |role| {
    for auto_reply in [true, false] {
        let mut config = Config::default();
        config.auto_close_reply = auto_reply;
        let mut conn = open(role, config);
        let mut close = close_frame(role, Some(1000), b"bye");
        let mut events = Vec::new();
        pump_in(&mut conn, &mut close, 100, |e| {
            events.push(Ev::from_event(e))
        });
        let mut expected = vec![close_ev(1000, "bye")];
        if auto_reply {
            expected.push(closed_clean(1000));
        }
        assert_eq!(events, expected);
        let queued = conn.buffered_output();
        let state = conn.state();

        let mut garbage = cat(&[
            text_frame(role, true, b"valid text"),
            binary_frame(role, false, &[1; 300]),
            ping_frame(role, b"ping me"),
            close_frame(role, Some(1001), b"second close"),
            raw_frame_to(role, 0x83, b"reserved opcode"),
            raw_frame_to(role, 0xc1, b"rsv bits"),
            raw_frame(
                0x82,
                b"wrong masking",
                match role {
                    Role::Server => None,
                    Role::Client => Some(KEY),
                },
            ),
            header(role, 0x82, (1 << 63) - 1),
            raw_frame_to(role, 0x89, &[0; 126]),
            raw_frame_to(role, 0x88, &[3]),
            close_frame(role, Some(1005), b""),
            text_frame(role, true, &[0xff, 0xfe]),
        ]);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        garbage.extend((0..1 << 20).map(|_| rng.next() as u8));

        meter_start();
        let mut start = 0;
        while start < garbage.len() {
            let end = (start + 1 + rng.next() as usize % 4096).min(garbage.len());
            let out = conn.handle_input(&mut garbage[start..end], NOW);
            assert_eq!(out.consumed, end - start);
            assert!(out.event.is_none(), "{:?}", out.event);
            start = end;
        }
        let stats = meter_stop();
        assert!(stats.peak <= SLACK, "{role:?}: {stats:?}");
        assert_eq!(conn.state(), state);
        assert_eq!(conn.buffered_output(), queued);
        assert_eq!(conn.error(), None);
        assert_eq!(conn.close_received(), Some(CloseCode::NORMAL));

        if !auto_reply {
            // The application replies; the close completes cleanly.
            conn.close(CloseCode::NORMAL, "").unwrap();
            assert_eq!(drain(&mut conn), vec![closed_clean(1000)]);
        }
        let (bytes, _) = take_output(&mut conn);
        assert_eq!(
            decode_frames(&bytes),
            vec![(0x88, 1000u16.to_be_bytes().to_vec())],
            "{role:?}, auto reply {auto_reply}"
        );
    }
});

fn close_ev(code: u16, reason: &str) -> Ev {
    common::close(code, reason)
}

// A Close with a one-byte body (§5.5.1), for every value of that byte:
// 1002 (close.rs checks four values).
both_roles!(close_with_one_byte_body_every_value_fails_1002, |role| {
    for byte in 0..=255u8 {
        let out = feed(role, &raw_frame_to(role, 0x88, &[byte]));
        assert_eq!(
            out.events,
            vec![failed(ProtocolError::CloseBodyTooShort)],
            "{byte:#x}"
        );
        assert_eq!(
            out.sent,
            vec![failure_close(ProtocolError::CloseBodyTooShort)]
        );
        assert_eq!(out.sent[0].1[..2], 1002u16.to_be_bytes());
    }
});

// Every one of the 65,536 close codes (close.rs checks a sample): exactly
// those of §7.4.1 (1000-1003, 1007-1011), the IANA registry (1012-1014)
// and §7.4.2 (3000-4999) are accepted and echoed; every other one fails
// the connection with 1002.
both_roles!(every_close_code_value, |role| {
    let mut accepted = 0;
    for code in 0..=u16::MAX {
        let valid = matches!(code, 1000..=1003 | 1007..=1011 | 1012..=1014 | 3000..=4999);
        let mut conn = open(role, Config::default());
        let events = feed_chunks(&mut conn, &close_frame(role, Some(code), b"r"), 64);
        let sent = decode_frames(&take_output(&mut conn).0);
        if valid {
            accepted += 1;
            assert_eq!(
                events,
                vec![close_ev(code, "r"), closed_clean(code)],
                "{code}"
            );
            assert_eq!(sent, vec![(0x88, code.to_be_bytes().to_vec())], "{code}");
        } else {
            assert_eq!(
                events,
                vec![failed(ProtocolError::InvalidCloseCode(code))],
                "{code}"
            );
            assert_eq!(sent.len(), 1, "{code}");
            assert_eq!(sent[0].1[..2], 1002u16.to_be_bytes(), "{code}");
        }
    }
    assert_eq!(accepted, 4 + 5 + 3 + 2000);
});

// ---- masking keys come from the CSPRNG ----

/// An open client using OS entropy, and the Sec-WebSocket-Key it sent.
fn os_client() -> (Connection, String) {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(
        Config::default(),
        request,
        OsEntropy::new(),
        hybi::Instant::ZERO,
    )
    .unwrap();
    let (req, _) = take_output(&mut client);
    let key = header_value(&req, "Sec-WebSocket-Key");
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes()).as_str()
    )
    .into_bytes();
    let out = client.handle_input(&mut response, NOW);
    assert!(matches!(out.event, Some(Event::Accepted(_))));
    (client, key)
}

/// Sends `count` one-byte binary messages and returns their masking keys
/// in order, checking each frame unmasks to its payload.
fn masking_keys(client: &mut Connection, count: usize) -> Vec<u32> {
    for i in 0..count {
        client.send_binary(&[i as u8]).unwrap();
    }
    let mut bytes = Vec::new();
    while let Some(Transmit::Bytes(b)) = client.poll_transmit() {
        bytes.extend_from_slice(b);
        let n = b.len();
        client.transmitted(n);
    }
    assert_eq!(bytes.len(), count * 7);
    bytes
        .chunks(7)
        .enumerate()
        .map(|(i, f)| {
            assert_eq!(f[..2], [0x82, 0x81], "frame {i}: masked, one byte");
            assert_eq!(f[6] ^ f[2], i as u8, "frame {i} unmasks to its payload");
            u32::from_be_bytes([f[2], f[3], f[4], f[5]])
        })
        .collect()
}

/// How many pairs of equal values `values` holds.
fn duplicate_pairs(values: &[u32]) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .chunk_by(|a, b| a == b)
        .map(|run| run.len() * (run.len() - 1) / 2)
        .sum()
}

// Masking keys from the CSPRNG (§5.3 "derived from a strong source of
// entropy", §10.3): with OsEntropy, 1000 frames of one connection carry
// pairwise-distinct keys, and the steps between consecutive keys are
// distinct too (a counter would give distinct keys but one step). Among
// 1000 random 32-bit values, 499,500 pairs each collide with probability
// 2^-32: P(one collision) ~ 1.2e-4, P(two) ~ 7e-9; so one duplicate pair is
// tolerated (a false failure every ~10,000 runs would be a flaky test) and
// two fail. A repeating source (a byte counter wraps after 64 keys, an
// exhausted pool gives zeros) gives hundreds.
#[test]
fn masking_keys_of_one_connection_are_distinct() {
    let (mut client, _) = os_client();
    let keys = masking_keys(&mut client, 1000);
    assert!(duplicate_pairs(&keys) <= 1, "{keys:08x?}");
    let steps: Vec<u32> = keys.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(duplicate_pairs(&steps) <= 1, "{steps:08x?}");
    // CountingEntropy, a predictable source, fails the same check: the
    // check can fail.
    let mut counting = open_client(Config::default());
    let predictable = masking_keys(&mut counting, 1000);
    assert!(duplicate_pairs(&predictable) > 1);
}

// §4.1 "The nonce MUST be selected randomly for each connection", §5.3:
// across 50 connections, every Sec-WebSocket-Key differs (128 random bits:
// a collision is ~2^-117, so none is tolerated), the first masking keys
// differ (50 values: ~3e-7, none tolerated), and all 1000 masking keys (20
// per connection) are distinct but for at most one pair (as above).
#[test]
fn keys_differ_across_fifty_connections() {
    let mut nonces = HashSet::new();
    let mut firsts = HashSet::new();
    let mut all = Vec::new();
    for _ in 0..50 {
        let (mut client, key) = os_client();
        assert_eq!(key.len(), 24, "base64 of 16 bytes: {key}");
        assert!(key.ends_with("=="), "{key}");
        assert!(nonces.insert(key.clone()), "nonce repeated: {key}");
        let keys = masking_keys(&mut client, 20);
        assert!(
            firsts.insert(keys[0]),
            "first key repeated: {:08x}",
            keys[0]
        );
        all.extend(keys);
    }
    assert_eq!(all.len(), 1000);
    assert!(duplicate_pairs(&all) <= 1, "{all:08x?}");
}
