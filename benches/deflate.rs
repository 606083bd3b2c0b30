//! permessage-deflate: throughput and ratio, and the choice of backend.
//!
//! * `backend/*`: raw DEFLATE as permessage-deflate uses it (level 6, sync
//!   flush, one message per fresh stream) with flate2 on zlib-rs (what the
//!   `deflate` feature uses) against miniz_oxide, on the same inputs.
//! * `engine/*`: the whole hybi path. `send` is a server compressing and
//!   framing one message; `receive` is a server unmasking, inflating and
//!   handing out one compressed message as a browser sends it (masked).
//!
//! Inputs: "text", JSON-like lines (what compression is for), and "random"
//! bytes (incompressible: the worst case), at 1 KiB, 64 KiB and 1 MiB.
//! Throughput is in uncompressed bytes. The compression ratios are printed
//! once at the start (compressed / original; smaller is better).
//!
//! Run: `cargo bench --bench deflate` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use hybi::{Accept, Config, Connection, DeflateConfig, Event, Instant, Transmit};
use miniz_oxide::deflate::core::{compress as mz_compress, CompressorOxide, TDEFLFlush};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZFlush};

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// A deterministic xorshift stream.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// JSON-like lines: repeated keys, varying values, as chat or trading feeds.
fn text_like(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let mut out = String::new();
    while out.len() < n {
        let r = rng.next();
        out.push_str(&format!(
            "{{\"type\":\"message\",\"user\":\"{}\",\"id\":{},\"price\":{}.{:02},\"text\":\"order {} filled\"}}\n",
            names[(r % 6) as usize],
            r % 100_000,
            (r >> 20) % 1000,
            (r >> 40) % 100,
            (r >> 8) % 5000
        ));
    }
    out.truncate(n);
    out.into_bytes()
}

fn random(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..n).map(|_| rng.next() as u8).collect()
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (n, label) in SIZES {
        out.push((format!("text/{label}"), text_like(n)));
        out.push((format!("random/{label}"), random(n)));
    }
    out
}

// ---- the two backends, used the way permessage-deflate uses them ----

fn zlib_rs_compress(input: &[u8], out: &mut Vec<u8>) {
    let mut c = Compress::new(Compression::new(6), false);
    out.clear();
    out.reserve(input.len() + input.len() / 100 + 64);
    c.compress_vec(input, out, FlushCompress::Sync).unwrap();
}

fn zlib_rs_inflate(input: &[u8], out: &mut Vec<u8>, expected: usize) {
    let mut d = Decompress::new(false);
    out.clear();
    out.reserve(expected + 64);
    d.decompress_vec(input, out, FlushDecompress::Sync).unwrap();
    assert_eq!(out.len(), expected);
}

fn miniz_compress(input: &[u8], out: &mut Vec<u8>) {
    let mut c = CompressorOxide::new(
        miniz_oxide::deflate::core::create_comp_flags_from_zip_params(6, -15, 0),
    );
    out.clear();
    out.resize(input.len() + input.len() / 100 + 64, 0);
    let (_, _, written) = mz_compress(&mut c, input, out, TDEFLFlush::Sync);
    out.truncate(written);
}

fn miniz_inflate(input: &[u8], out: &mut Vec<u8>, expected: usize) {
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    out.clear();
    out.resize(expected + 64, 0);
    let result = miniz_oxide::inflate::stream::inflate(&mut state, input, out, MZFlush::Sync);
    assert_eq!(result.bytes_written, expected);
}

// ---- the engine ----

fn deflate_config() -> Config {
    let mut d = DeflateConfig::default();
    d.min_compress_size = 0;
    let mut config = Config::default();
    config.deflate = Some(d);
    config
}

/// A server with permessage-deflate agreed (RFC 7692 defaults), its 101
/// already written out.
fn open_server() -> Connection {
    let mut server = Connection::server(deflate_config(), Instant::ZERO);
    let mut request =
        b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            .to_vec();
    let input = server.handle_input(&mut request, Instant::ZERO);
    assert!(matches!(input.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    drain_output(&mut server);
    assert!(server.deflate().is_some());
    server
}

fn drain_output(conn: &mut Connection) -> usize {
    let mut total = 0;
    while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
        let n = bytes.len();
        total += n;
        conn.transmitted(n);
    }
    total
}

/// One compressed binary message as a browser sends it: RSV1, masked,
/// compressed on a fresh stream (so it can be fed again and again).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    zlib_rs_compress(payload, &mut compressed);
    compressed.truncate(compressed.len() - 4);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0xc2];
    match compressed.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(compressed.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Feeds one whole message; returns the inflated bytes handed out.
fn receive_all(server: &mut Connection, input: &mut [u8]) -> usize {
    let mut pos = 0;
    let mut total = 0;
    loop {
        let out = server.handle_input(&mut input[pos..], Instant::ZERO);
        pos += out.consumed;
        match out.event {
            Some(Event::Data(data)) => total += data.payload.len(),
            Some(other) => panic!("{other:?}"),
            None => return total,
        }
    }
}

fn print_ratios(inputs: &[(String, Vec<u8>)]) {
    println!("\npermessage-deflate compressed/original (level 6, one message, fresh stream):");
    println!(
        "{:<14} {:>10} {:>10} {:>10}",
        "input", "zlib-rs", "miniz", "engine"
    );
    for (name, data) in inputs {
        let mut z = Vec::new();
        zlib_rs_compress(data, &mut z);
        let mut m = Vec::new();
        miniz_compress(data, &mut m);
        let mut server = open_server();
        server.send_binary(data).unwrap();
        let wire = drain_output(&mut server);
        let ratio = |n: usize| n as f64 / data.len() as f64;
        println!(
            "{name:<14} {:>10.3} {:>10.3} {:>10.3}",
            ratio(z.len()),
            ratio(m.len()),
            ratio(wire)
        );
    }
    println!();
}

fn backends(c: &mut Criterion) {
    let inputs = inputs();
    print_ratios(&inputs);
    let mut group = c.benchmark_group("backend");
    for (name, data) in &inputs {
        group.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("compress/zlib-rs", name), data, |b, d| {
            b.iter(|| zlib_rs_compress(black_box(d), &mut out))
        });
        group.bench_with_input(
            BenchmarkId::new("compress/miniz_oxide", name),
            data,
            |b, d| b.iter(|| miniz_compress(black_box(d), &mut out)),
        );
        let mut compressed = Vec::new();
        zlib_rs_compress(data, &mut compressed);
        group.bench_with_input(
            BenchmarkId::new("inflate/zlib-rs", name),
            &compressed,
            |b, d| b.iter(|| zlib_rs_inflate(black_box(d), &mut out, data.len())),
        );
        group.bench_with_input(
            BenchmarkId::new("inflate/miniz_oxide", name),
            &compressed,
            |b, d| b.iter(|| miniz_inflate(black_box(d), &mut out, data.len())),
        );
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    let inputs = inputs();
    let mut group = c.benchmark_group("engine");
    for (name, data) in &inputs {
        group.throughput(Throughput::Bytes(data.len() as u64));
        let mut server = open_server();
        group.bench_with_input(BenchmarkId::new("send", name), data, |b, d| {
            b.iter(|| {
                server.send_binary(black_box(d)).unwrap();
                drain_output(&mut server)
            })
        });
        let frame = client_frame(data);
        let mut server = open_server();
        group.bench_with_input(BenchmarkId::new("receive", name), &frame, |b, f| {
            b.iter_batched_ref(
                || f.clone(),
                |input| assert_eq!(receive_all(&mut server, input), data.len()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, backends, engine);
criterion_main!(benches);
