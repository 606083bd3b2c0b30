//! Memory per connection: the engine and its buffers, measured for both
//! roles, idle and after a 1 MiB message, and with the blocking adapter;
//! and what permessage-deflate adds, per window size and level.
//! Run with `--nocapture` to see the table; the assertions are generous
//! upper bounds that catch regressions, not the exact numbers.
//!
//! The instrument: a counting global allocator wrapping the system one,
//! tracking the live bytes (and their peak) allocated by this test's thread
//! only, so the tests of this file, each on its own thread, do not see each
//! other. The heap a value holds is measured by dropping it: the live bytes
//! before the drop minus those after. Sizes are the sizes requested
//! (`Layout::size`, i.e. a `Vec`'s capacity), before the system allocator's
//! rounding. The in-memory transport shares its buffers with the test
//! through an `Rc`, so dropping an adapter frees only the adapter's heap.

mod common;
use common::meter::{self, held, peak_growth};
use common::*;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;

use hybi::io::blocking::WebSocket;
use hybi::io::Message;
use hybi::Decision;
use hybi::{
    accept_key, ClientRequest, Config, Connection, Event, MessageKind, OsEntropy, Role, Transmit,
};

// ---- the instrument: tests/common/meter.rs ----

#[global_allocator]
static GLOBAL: meter::Counting = meter::Counting;

// ---- building connections in each state ----

const MIB: usize = 1 << 20;
const FRAGMENT: usize = 4096;

/// The 1 MiB payload.
fn payload() -> Vec<u8> {
    (0..MIB).map(|i| (i % 251) as u8).collect()
}

/// An open client with OS entropy, as an application builds one, after the
/// call that follows `Accepted` (so the handshake state is released).
fn open_os_client() -> Connection {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(
        Config::default(),
        request,
        OsEntropy::new(),
        hybi::Instant::ZERO,
    )
    .unwrap();
    let (req, _) = take_output(&mut client);
    let mut response = accepting_response(&req);
    let out = client.handle_input(&mut response, NOW);
    assert!(matches!(out.event, Some(Event::Accepted(_))));
    assert!(drain(&mut client).is_empty());
    client
}

/// The 101 answer to a client's request.
fn accepting_response(request: &[u8]) -> Vec<u8> {
    let key = header_value(request, "Sec-WebSocket-Key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes()).as_str()
    )
    .into_bytes()
}

/// An open connection of `role` in its idle state.
fn open_idle(role: Role) -> Connection {
    match role {
        Role::Server => {
            let mut server = open_server(Config::default());
            assert!(drain(&mut server).is_empty());
            server
        }
        Role::Client => open_os_client(),
    }
}

/// A 1 MiB binary message as the peer of `role` sends it: in one frame, or
/// in 4 KiB fragments.
fn message_wire(role: Role, fragmented: bool) -> Vec<u8> {
    let payload = payload();
    if !fragmented {
        return binary_frame(role, true, &payload);
    }
    let count = MIB / FRAGMENT;
    let mut wire = Vec::new();
    for (i, piece) in payload.chunks(FRAGMENT).enumerate() {
        let fin = i + 1 == count;
        wire.extend(if i == 0 {
            binary_frame(role, fin, piece)
        } else {
            cont_frame(role, fin, piece)
        });
    }
    wire
}

/// Feeds `wire` in 64 KiB reads (as the adapters do) and checks that one
/// whole 1 MiB message arrived. Allocates nothing.
fn receive_message(conn: &mut Connection, wire: &mut [u8]) {
    assert_eq!(feed_reads(conn, wire), (MIB, 1, None));
}

/// Feeds `wire` in 64 KiB reads, every read used up; returns the binary
/// bytes handed out, the messages ended, and the failure if the connection
/// failed. Allocates nothing.
fn feed_reads(
    conn: &mut Connection,
    wire: &mut [u8],
) -> (usize, usize, Option<hybi::ProtocolError>) {
    let (mut bytes, mut fins) = (0, 0);
    for chunk in wire.chunks_mut(64 * 1024) {
        let mut pos = 0;
        loop {
            let out = conn.handle_input(&mut chunk[pos..], NOW);
            pos += out.consumed;
            match out.event {
                None => break,
                Some(Event::Data(d)) => {
                    assert_eq!(d.kind, MessageKind::Binary);
                    bytes += d.payload.len();
                    fins += usize::from(d.fin);
                }
                Some(Event::Closed(c)) => return (bytes, fins, c.error),
                Some(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(pos, chunk.len());
    }
    (bytes, fins, None)
}

/// Writes out everything queued without copying it anywhere.
fn write_out(conn: &mut Connection) -> usize {
    let mut written = 0;
    while let Some(Transmit::Bytes(b)) = conn.poll_transmit() {
        let n = b.len();
        written += n;
        conn.transmitted(n);
    }
    assert_eq!(conn.buffered_output(), 0);
    written
}

// ---- an in-memory transport for the blocking adapter ----

/// What the transport holds: bytes for the adapter to read, and the bytes
/// it wrote. Owned by the test; the adapter holds only an `Rc` to it.
#[derive(Debug, Default)]
struct Pipe {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Mem(Rc<RefCell<Pipe>>);

/// No read timeouts: deadlines run when a read returns.
impl hybi::io::blocking::Transport for Mem {}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut pipe = self.0.borrow_mut();
        let left = pipe.input.len() - pipe.pos;
        if left == 0 {
            // Nothing more now (never EOF: the connection stays open).
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = left.min(buf.len());
        let start = pipe.pos;
        buf[..n].copy_from_slice(&pipe.input[start..start + n]);
        pipe.pos += n;
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Pipe {
    /// Replaces what there is to read (reusing the buffer's capacity).
    fn feed(&mut self, bytes: &[u8]) {
        self.input.clear();
        self.input.extend_from_slice(bytes);
        self.pos = 0;
    }
}

/// A pipe whose buffers are allocated up front (3 MiB each), so adapter
/// reads and writes never grow them while something is measured.
fn pipe() -> Rc<RefCell<Pipe>> {
    Rc::new(RefCell::new(Pipe {
        input: Vec::with_capacity(3 * MIB),
        pos: 0,
        output: Vec::with_capacity(3 * MIB),
    }))
}

/// A blocking WebSocket of `role`, open, over an in-memory pipe.
fn open_blocking(role: Role) -> (WebSocket<Mem>, Rc<RefCell<Pipe>>) {
    let pipe = pipe();
    let ws = match role {
        Role::Server => {
            pipe.borrow_mut().feed(RFC_REQUEST);
            WebSocket::accept(Mem(pipe.clone()), Config::default()).unwrap()
        }
        Role::Client => {
            let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
            let mut ws = WebSocket::client(request, Mem(pipe.clone()), Config::default()).unwrap();
            ws.flush().unwrap();
            let response = accepting_response(&pipe.borrow().output);
            pipe.borrow_mut().feed(&response);
            ws.handshake(|_| Decision::accept()).unwrap();
            ws
        }
    };
    assert!(pipe.borrow().output.starts_with(match role {
        Role::Server => b"HTTP/1.1 101",
        Role::Client => b"GET /chat ",
    }));
    pipe.borrow_mut().output.clear();
    (ws, pipe)
}

// ---- the measurements ----

/// One role's numbers (bytes).
#[derive(Debug)]
struct Column {
    constructed: i64,
    idle: i64,
    recv_frame: i64,
    recv_frame_peak: i64,
    recv_fragments: i64,
    recv_fragments_peak: i64,
    sent: i64,
    sent_peak: i64,
    sent_fragments: i64,
    blocking_idle: i64,
    blocking_read: i64,
    blocking_read_peak: i64,
    /// The capacity of the `Vec` in the returned 1 MiB message.
    blocking_message_capacity: i64,
    blocking_sent: i64,
}

fn measure(role: Role) -> Column {
    let constructed = match role {
        Role::Server => held(Connection::server(Config::default(), hybi::Instant::ZERO)),
        Role::Client => {
            let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
            held(
                Connection::client(
                    Config::default(),
                    request,
                    OsEntropy::new(),
                    hybi::Instant::ZERO,
                )
                .unwrap(),
            )
        }
    };
    let idle = held(open_idle(role));

    let received = [false, true].map(|fragmented| {
        let mut conn = open_idle(role);
        let mut wire = message_wire(role, fragmented);
        let ((), peak) = peak_growth(|| receive_message(&mut conn, &mut wire));
        (held(conn), peak)
    });

    let payload = payload();
    let mut conn = open_idle(role);
    let (written, sent_peak) = peak_growth(|| {
        conn.send_binary(&payload).unwrap();
        write_out(&mut conn)
    });
    assert!(written > MIB);
    let sent = held(conn);

    let mut conn = open_idle(role);
    for (i, piece) in payload.chunks(FRAGMENT).enumerate() {
        conn.send(MessageKind::Binary, piece, i + 1 == MIB / FRAGMENT)
            .unwrap();
        write_out(&mut conn);
    }
    let sent_fragments = held(conn);

    let (ws, _pipe) = open_blocking(role);
    let blocking_idle = held(ws);

    let (mut ws, pipe) = open_blocking(role);
    pipe.borrow_mut().feed(&message_wire(role, false));
    let (len, blocking_read_peak) = peak_growth(|| match ws.read().unwrap() {
        Some(Message::Binary(m)) => (m.len(), m.capacity()),
        other => panic!("{other:?}"),
    });
    let (len, blocking_message_capacity) = len;
    assert_eq!(len, MIB);
    let blocking_read = held(ws);

    let (mut ws, pipe) = open_blocking(role);
    ws.send_binary(&payload).unwrap();
    assert!(pipe.borrow().output.len() > MIB);
    let blocking_sent = held(ws);

    Column {
        constructed,
        idle,
        recv_frame: received[0].0,
        recv_frame_peak: received[0].1,
        recv_fragments: received[1].0,
        recv_fragments_peak: received[1].1,
        sent,
        sent_peak,
        sent_fragments,
        blocking_idle,
        blocking_read,
        blocking_read_peak,
        blocking_message_capacity: blocking_message_capacity as i64,
        blocking_sent,
    }
}

fn kib(bytes: i64) -> String {
    format!("{bytes} B ({:.1} KiB)", bytes as f64 / 1024.0)
}

// Memory per connection (the engine and its buffers), measured and
// documented: idle, and after a 1 MiB message received and sent, for both
// roles, and with the blocking adapter.
#[test]
fn memory_per_connection() {
    meter::start();

    // The instrument works: a value's heap is what dropping it frees.
    assert_eq!(held(Vec::<u8>::with_capacity(1234)), 1234);
    let (_, grew) = peak_growth(|| drop(std::hint::black_box(vec![1u8; 4321])));
    assert_eq!(grew, 4321);

    let server = measure(Role::Server);
    let client = measure(Role::Client);
    let conn_size = std::mem::size_of::<Connection>() as i64;
    let ws_size = std::mem::size_of::<WebSocket<Mem>>() as i64;

    let rows: [(&str, i64, i64); 17] = [
        ("size_of::<Connection>() (inline)", conn_size, conn_size),
        (
            "heap after construction",
            server.constructed,
            client.constructed,
        ),
        (
            "heap open, idle (after handshake)",
            server.idle,
            client.idle,
        ),
        (
            "heap after receiving 1 MiB, one frame",
            server.recv_frame,
            client.recv_frame,
        ),
        (
            "  peak growth while receiving it",
            server.recv_frame_peak,
            client.recv_frame_peak,
        ),
        (
            "heap after receiving 1 MiB, 4 KiB fragments",
            server.recv_fragments,
            client.recv_fragments,
        ),
        (
            "  peak growth while receiving them",
            server.recv_fragments_peak,
            client.recv_fragments_peak,
        ),
        (
            "heap after sending 1 MiB (one frame), written out",
            server.sent,
            client.sent,
        ),
        (
            "  of which output capacity kept",
            server.sent - server.idle,
            client.sent - client.idle,
        ),
        (
            "  peak growth while sending it",
            server.sent_peak,
            client.sent_peak,
        ),
        (
            "heap after sending 1 MiB in 4 KiB fragments, each written out",
            server.sent_fragments,
            client.sent_fragments,
        ),
        (
            "blocking: size_of::<WebSocket<_>>() (inline)",
            ws_size,
            ws_size,
        ),
        (
            "blocking: heap open, idle",
            server.blocking_idle,
            client.blocking_idle,
        ),
        (
            "blocking: heap after read() of 1 MiB (message dropped)",
            server.blocking_read,
            client.blocking_read,
        ),
        (
            "  peak growth during that read (incl. the 1 MiB message)",
            server.blocking_read_peak,
            client.blocking_read_peak,
        ),
        (
            "  capacity of the returned 1 MiB message's Vec",
            server.blocking_message_capacity,
            client.blocking_message_capacity,
        ),
        (
            "blocking: heap after send_binary() of 1 MiB",
            server.blocking_sent,
            client.blocking_sent,
        ),
    ];
    println!();
    println!(
        "{:<64} {:>24} {:>24}",
        "memory per connection", "server", "client"
    );
    for (name, s, c) in rows {
        println!("{name:<64} {:>24} {:>24}", kib(s), kib(c));
    }
    println!();

    const KIB: i64 = 1024;
    const MIB: i64 = 1024 * KIB;
    assert!(conn_size < KIB, "{conn_size}");
    for (role, col) in [("server", &server), ("client", &client)] {
        // Small when idle: no buffer is kept for input, the output buffer
        // keeps only the handshake's capacity.
        assert!(col.constructed < 2 * KIB, "{role}: {col:?}");
        assert!(col.idle < 4 * KIB, "{role}: {col:?}");
        // Receiving never allocates: data is lent from the caller's buffer.
        assert!(col.recv_frame < 4 * KIB, "{role}: {col:?}");
        assert!(col.recv_fragments < 4 * KIB, "{role}: {col:?}");
        assert!(col.recv_frame_peak < KIB, "{role}: {col:?}");
        assert!(col.recv_fragments_peak < KIB, "{role}: {col:?}");
        // Sending queues the whole frame; the buffer keeps that capacity
        // once written out (reused, not shrunk), and no more.
        assert!(col.sent < MIB + 16 * KIB, "{role}: {col:?}");
        assert!(col.sent_peak < MIB + 16 * KIB, "{role}: {col:?}");
        assert!(col.sent_fragments < 16 * KIB, "{role}: {col:?}");
        // The blocking adapter adds its 64 KiB read buffer.
        assert!(col.blocking_idle < 64 * KIB + 8 * KIB, "{role}: {col:?}");
        assert!(col.blocking_read < 64 * KIB + 8 * KIB, "{role}: {col:?}");
        assert!(
            col.blocking_read_peak < 2 * MIB + 64 * KIB,
            "{role}: {col:?}"
        );
        assert!(
            col.blocking_sent < 64 * KIB + MIB + 24 * KIB,
            "{role}: {col:?}"
        );
    }
    assert!(ws_size < 2 * KIB, "{ws_size}");
}

// ---- permessage-deflate ----

/// A server with permessage-deflate agreed, compressing with `level` and a
/// window of `bits` both ways (the client offered client_max_window_bits,
/// so the server may ask it for `bits` too).
fn open_deflate_server(bits: u8, level: u8) -> Connection {
    let mut d = hybi::DeflateConfig::default();
    d.local_max_window_bits = bits;
    d.remote_max_window_bits = bits;
    d.level = level;
    let mut config = Config::default();
    config.deflate = Some(d);
    let mut server = Connection::server(config, NOW);
    let mut request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        .to_vec();
    let out = server.handle_input(&mut request, NOW);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(hybi::Accept::new()).unwrap();
    write_out(&mut server);
    let params = server.deflate().expect("agreed");
    assert_eq!(
        (params.local_max_window_bits, params.remote_max_window_bits),
        (bits, bits)
    );
    server
}

/// 1 MiB of JSON-like text.
fn text_payload() -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < MIB {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push_str(&format!(
            "{{\"user\":\"u{}\",\"id\":{},\"text\":\"message {}\"}}\n",
            i % 50,
            i % 100_000,
            (i >> 20) % 5000
        ));
    }
    s.truncate(MIB);
    s.into_bytes()
}

/// Raw DEFLATE of `data` (fresh stream, sync flush, tail removed) in one
/// masked RSV1 frame, as a browser sends a compressed message.
fn compressed_frame(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    out.truncate(out.len() - 4);
    raw_frame_to(Role::Server, 0xc2, &out)
}

/// Feeds `wire` in 64 KiB reads; returns the bytes handed out and the
/// failure, if the connection failed.
fn receive_compressed(
    conn: &mut Connection,
    wire: &mut [u8],
) -> (usize, Option<hybi::ProtocolError>) {
    let (bytes, _, error) = feed_reads(conn, wire);
    (bytes, error)
}

#[derive(Debug)]
struct DeflateRow {
    idle: i64,
    recv_peak: i64,
    recv_after: i64,
    send_peak: i64,
    send_after: i64,
    bomb_peak: i64,
}

fn measure_deflate(bits: u8, level: u8, bomb: &[u8]) -> DeflateRow {
    let baseline = held(open_idle(Role::Server));
    let idle = held(open_deflate_server(bits, level)) - baseline;

    let text = text_payload();
    let mut wire = compressed_frame(&text);
    let mut conn = open_deflate_server(bits, level);
    let ((n, error), recv_peak) = peak_growth(|| receive_compressed(&mut conn, &mut wire));
    assert_eq!((n, error), (MIB, None));
    let recv_after = held(conn) - baseline;

    let mut conn = open_deflate_server(bits, level);
    let (written, send_peak) = peak_growth(|| {
        conn.send_binary(&text).unwrap();
        write_out(&mut conn)
    });
    assert!(written < MIB / 2, "compressed to {written}");
    let send_after = held(conn) - baseline;

    let mut bomb = bomb.to_vec();
    let mut conn = open_deflate_server(bits, level);
    let ((_, error), bomb_peak) = peak_growth(|| receive_compressed(&mut conn, &mut bomb));
    assert_eq!(error, Some(hybi::ProtocolError::MessageTooLarge));

    DeflateRow {
        idle,
        recv_peak,
        recv_after,
        send_peak,
        send_after,
        bomb_peak,
    }
}

// Memory per connection for permessage-deflate, per setting (server role;
// the client's state is the same size): what agreement adds to an idle
// connection, and the peaks and leftovers of a 1 MiB text message each way
// and of a decompression bomb.
#[test]
fn deflate_memory_per_setting() {
    meter::start();
    println!();
    println!(
        "{:<22} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "deflate (bits, level)",
        "idle, added",
        "recv 1MiB peak",
        "after recv",
        "send 1MiB peak",
        "after send",
        "bomb peak"
    );
    const KIB: i64 = 1024;
    // 80 MiB of zeros, about 80 KiB on the wire: past the default 64 MiB
    // message cap.
    let bomb = compressed_frame(&vec![0u8; 80 * MIB]);
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    for (bits, level) in [(15, 6), (15, 1), (15, 9), (12, 6), (9, 6)] {
        let row = measure_deflate(bits, level, &bomb);
        let k = |b: i64| format!("{:.1} KiB", b as f64 / 1024.0);
        println!(
            "{:<22} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
            format!("{bits} bits, level {level}"),
            k(row.idle),
            k(row.recv_peak),
            k(row.recv_after),
            k(row.send_peak),
            k(row.send_after),
            k(row.bomb_peak)
        );
        // Agreement alone costs nothing: the compressor is made at the
        // first compressed message sent, the inflater's state and buffers
        // at the first compressed message received, once.
        assert!(row.idle < 4 * KIB, "{row:?}");
        assert!(row.recv_peak < 128 * KIB, "{row:?}");
        assert!(row.recv_after < 128 * KIB, "{row:?}");
        // A bomb costs the inflater and nothing beyond it (1009 instead of
        // gigabytes).
        assert!(row.bomb_peak <= row.recv_after + 4 * KIB, "{row:?}");
        // Sending keeps the compressor and the output capacity.
        assert!(row.send_peak < 1024 * KIB, "{row:?}");
    }
    println!();
}
