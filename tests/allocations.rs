//! Zero heap allocations per message in steady state (send.rs: "once it
//! reached its working size sending allocates nothing"; recv.rs: "no
//! allocation").
//!
//! A counting global allocator wraps the system one. Only allocations made
//! by this test's thread while the `MEASURING` flag is on are counted, so
//! the test harness's own threads cannot disturb the count (the count is
//! global, so the two tests here share a lock and run one at a time).
//!
//! After a warm-up (every buffer reaches its working size), a client and a
//! server exchange, 1000 times over: text and binary messages of 16 B,
//! 1 KiB and 64 KiB, echoed back by the server, and a Ping (answered by the
//! automatic Pong). Then 1 MiB messages, text and binary, sent in 4 KiB
//! fragments (the text ones split code points at fragment boundaries) and
//! echoed. Bytes move through buffers allocated before measuring, reused
//! with `clear()` + `extend_from_slice`; events are consumed without
//! copying into new allocations.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use hybi::{Config, Connection, Event, MessageKind, Transmit};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.try_with(Cell::get).unwrap_or(false)
}

fn count() {
    if measuring() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches
// only an atomic and a const-initialized thread-local `Cell`, neither of
// which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made in it.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// What a receiver saw, counted without allocating.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    messages: usize,
    text_messages: usize,
    bytes: usize,
    /// A position-independent sum of every payload byte.
    checksum: u64,
    pings: usize,
    pongs: usize,
}

impl Seen {
    fn data(&mut self, kind: MessageKind, payload: &[u8], fin: bool) {
        self.bytes += payload.len();
        self.checksum = payload.iter().fold(self.checksum, |s, &b| {
            s.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        if fin {
            self.messages += 1;
            if kind == MessageKind::Text {
                self.text_messages += 1;
            }
        }
    }
}

/// Moves all of `from`'s output into `wire` (cleared first, capacity
/// kept), through `poll_transmit` / `transmitted`.
fn pump(from: &mut Connection, wire: &mut Vec<u8>) {
    wire.clear();
    while let Some(t) = from.poll_transmit() {
        match t {
            Transmit::Bytes(b) => {
                let n = b.len();
                wire.extend_from_slice(b);
                from.transmitted(n);
            }
            Transmit::Shutdown => panic!("unexpected shutdown"),
            Transmit::External(_) => panic!("no external payloads here"),
        }
    }
}

/// The server side: reads `wire`, gathers each message in `echo` and sends
/// it back whole once it is complete.
fn serve(server: &mut Connection, wire: &mut [u8], echo: &mut Vec<u8>, seen: &mut Seen) {
    let mut pos = 0;
    loop {
        let out = server.handle_input(&mut wire[pos..], NOW);
        pos += out.consumed;
        let finished = match out.event {
            None => break,
            Some(Event::Data(d)) => {
                seen.data(d.kind, d.payload, d.fin);
                echo.extend_from_slice(d.payload);
                d.fin.then_some(d.kind)
            }
            Some(Event::Ping(_)) => {
                seen.pings += 1;
                None
            }
            Some(other) => panic!("server got {other:?}"),
        };
        if let Some(kind) = finished {
            server.send(kind, echo, true).unwrap();
            echo.clear();
        }
    }
    assert_eq!(pos, wire.len());
}

/// The client side: reads `wire`, counting what arrives.
fn receive(client: &mut Connection, wire: &mut [u8], seen: &mut Seen) {
    let mut pos = 0;
    loop {
        let out = client.handle_input(&mut wire[pos..], NOW);
        pos += out.consumed;
        match out.event {
            None => break,
            Some(Event::Data(d)) => seen.data(d.kind, d.payload, d.fin),
            Some(Event::Pong(_)) => seen.pongs += 1,
            Some(other) => panic!("client got {other:?}"),
        }
    }
    assert_eq!(pos, wire.len());
}

/// Valid text of exactly `len` bytes, mostly multi-byte code points.
fn text_of_len(len: usize) -> String {
    let mut s = String::with_capacity(len);
    let chars = ['€', 'é', '😀', 'a'];
    let mut i = 0;
    while s.len() + 4 <= len {
        s.push(chars[i % chars.len()]);
        i += 1;
    }
    while s.len() < len {
        s.push('a');
    }
    s
}

struct Bench {
    client: Connection,
    server: Connection,
    wire: Vec<u8>,
    echo: Vec<u8>,
    at_server: Seen,
    at_client: Seen,
    texts: Vec<String>,
    binaries: Vec<Vec<u8>>,
    big_text: Vec<u8>,
    big_binary: Vec<u8>,
}

impl Bench {
    fn exchange(&mut self) {
        pump(&mut self.client, &mut self.wire);
        serve(
            &mut self.server,
            &mut self.wire,
            &mut self.echo,
            &mut self.at_server,
        );
        pump(&mut self.server, &mut self.wire);
        receive(&mut self.client, &mut self.wire, &mut self.at_client);
    }

    /// Six messages (16 B, 1 KiB, 64 KiB; text and binary) and a Ping.
    fn round(&mut self) {
        for i in 0..self.texts.len() {
            self.client.send_text(&self.texts[i]).unwrap();
            self.client.send_binary(&self.binaries[i]).unwrap();
        }
        self.client.ping(b"heartbeat").unwrap();
        self.exchange();
    }

    /// A 1 MiB text and a 1 MiB binary message in 4 KiB fragments.
    fn big_round(&mut self) {
        for (kind, msg) in [
            (MessageKind::Text, &self.big_text),
            (MessageKind::Binary, &self.big_binary),
        ] {
            let count = msg.len() / 4096;
            for (i, frag) in msg.chunks(4096).enumerate() {
                self.client.send(kind, frag, i + 1 == count).unwrap();
            }
        }
        self.exchange();
    }
}

// send.rs, recv.rs, event.rs: no allocation per message once warmed up.
#[test]
fn steady_state_allocates_nothing() {
    steady_state(
        open_client(Config::default()),
        open_server(Config::default()),
    );
}

// With permessage-deflate agreed (context takeover both ways, the default),
// compressing and inflating allocate nothing per message either: zlib's
// state is allocated at agreement, the compressor writes into the output
// buffer and the inflater into its fixed one.
#[cfg(feature = "deflate")]
#[test]
fn steady_state_with_deflate_allocates_nothing() {
    let mut d = hybi::DeflateConfig::default();
    d.min_compress_size = 0;
    let mut config = Config::default();
    config.deflate = Some(d);
    let request = hybi::ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(config.clone(), request, CountingEntropy(0), NOW).unwrap();
    let mut server = Connection::server(config, NOW);
    let (mut request, _) = take_output(&mut client);
    let out = server.handle_input(&mut request, NOW);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(hybi::Accept::new()).unwrap();
    let (mut response, _) = take_output(&mut server);
    let out = client.handle_input(&mut response, NOW);
    assert!(matches!(out.event, Some(Event::Accepted(_))));
    assert!(client.deflate().is_some() && server.deflate().is_some());
    steady_state(client, server);
}

fn steady_state(client: Connection, server: Connection) {
    // One test at a time: the counter is shared.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const ROUNDS: usize = 1000;
    const BIG_ROUNDS: usize = 10;
    let sizes = [16, 1024, 64 * 1024];
    let mut big_text = text_of_len(1 << 20).into_bytes();
    big_text.shrink_to_fit();
    assert_eq!(big_text.len(), 1 << 20);
    // 4096 is not a multiple of 3 or 4: fragments split code points.
    assert!(std::str::from_utf8(&big_text[..4096]).is_err());
    let mut bench = Bench {
        client,
        server,
        wire: Vec::with_capacity(4 << 20),
        echo: Vec::with_capacity(2 << 20),
        at_server: Seen::default(),
        at_client: Seen::default(),
        texts: sizes.iter().map(|&n| text_of_len(n)).collect(),
        binaries: sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + 1) as u8).collect())
            .collect(),
        big_text,
        big_binary: (0..1usize << 20).map(|i| (i % 251) as u8).collect(),
    };
    for (t, &n) in bench.texts.iter().zip(&sizes) {
        assert_eq!(t.len(), n);
    }

    // The instrument works: one allocation is one count, and the first
    // round on fresh connections does grow their buffers.
    let probe = allocations_in(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(64));
    });
    assert_eq!(probe, 1);
    let cold = allocations_in(|| bench.round());
    assert!(cold > 0, "a cold round allocates its buffers");

    // Warm-up: every buffer reaches its working size.
    bench.big_round();
    for _ in 0..2 {
        bench.round();
        bench.big_round();
    }
    let warm_server = bench.at_server;
    let warm_client = bench.at_client;
    assert_eq!(warm_server.messages, 3 * 8);
    assert_eq!(
        warm_client,
        Seen {
            pings: 0,
            pongs: 3,
            ..warm_server
        }
    );

    let small = allocations_in(|| {
        for _ in 0..ROUNDS {
            bench.round();
        }
    });
    let big = allocations_in(|| {
        for _ in 0..BIG_ROUNDS {
            bench.big_round();
        }
    });

    // The work was done, and the echo came back byte for byte.
    let per_round_bytes = 2 * sizes.iter().sum::<usize>();
    let s = bench.at_server;
    assert_eq!(
        s.messages - warm_server.messages,
        ROUNDS * 6 + BIG_ROUNDS * 2
    );
    assert_eq!(
        s.text_messages - warm_server.text_messages,
        ROUNDS * 3 + BIG_ROUNDS
    );
    assert_eq!(
        s.bytes - warm_server.bytes,
        ROUNDS * per_round_bytes + BIG_ROUNDS * (2 << 20)
    );
    assert_eq!(s.pings - warm_server.pings, ROUNDS);
    assert_eq!(
        bench.at_client,
        Seen {
            pings: 0,
            pongs: 3 + ROUNDS,
            ..s
        }
    );

    assert_eq!(
        small, 0,
        "allocations in {ROUNDS} rounds of 16 B / 1 KiB / 64 KiB messages and pings"
    );
    assert_eq!(
        big, 0,
        "allocations in {BIG_ROUNDS} rounds of fragmented 1 MiB messages"
    );
}
