//! hybi alone, with the baselines it is judged against (issue 5): decode in
//! the server role, encode in both roles, the opening handshake, and memcpy
//! and a plain XOR loop over the same bytes.
//!
//! The peers are compared in `perf/` (a workspace of its own, so this crate's
//! `cargo test` never builds them); `cargo test --benches` runs each case
//! here once, untimed, and the asserts inside check the work was done.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

#[path = "support/streams.rs"]
mod streams;
use streams::*;

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for workload in DECODE {
        let (stream, count) = masked_stream(workload);
        let stream = leak(stream);
        let payload_bytes = (workload.size * count) as u64;
        group.throughput(Throughput::Bytes(payload_bytes));

        let mut decoder = HybiDecoder::new(stream);
        group.bench_function(BenchmarkId::new("hybi", workload.name), |b| {
            b.iter(|| {
                let got = decoder.run(count, |p| {
                    black_box(p);
                });
                assert_eq!(got as u64, payload_bytes);
            })
        });

        // memcpy of the same bytes into a buffer the size of the stream.
        let mut dest = vec![0u8; stream.len()];
        group.bench_function(BenchmarkId::new("memcpy", workload.name), |b| {
            b.iter(|| {
                dest.copy_from_slice(black_box(stream));
                black_box(&mut dest);
            })
        });

        // A plain XOR loop (byte at a time, as written) over the same bytes.
        let mut data = stream.to_vec();
        group.bench_function(BenchmarkId::new("xor loop", workload.name), |b| {
            b.iter(|| {
                let key = black_box([0x37u8, 0xfa, 0x21, 0x3d]);
                for (i, byte) in data.iter_mut().enumerate() {
                    *byte ^= key[i & 3];
                }
                black_box(&mut data);
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for workload in ENCODE {
        let payload = payload(workload.content, workload.size, 1);
        let text = (workload.content != Content::Binary)
            .then(|| String::from_utf8(payload.clone()).expect("text"));
        let count = messages_per_stream(workload).min(1000);
        group.throughput(Throughput::Bytes((workload.size * count) as u64));
        let (mut client, mut server) = open_pair(CountingEntropy(1));
        for (role, conn) in [("client", &mut client), ("server", &mut server)] {
            let id = BenchmarkId::new(format!("hybi {role}"), workload.name);
            let mut sink = Sink::default();
            group.bench_function(id, |b| {
                b.iter(|| {
                    let before = sink.taken;
                    for _ in 0..count {
                        hybi_encode(conn, &payload, text.as_deref(), |bytes| sink.take(bytes));
                    }
                    assert!(sink.taken - before > workload.size * count);
                })
            });
        }
        // memcpy: the one copy a transport makes of each payload.
        let mut sink = Sink::default();
        group.bench_function(BenchmarkId::new("memcpy", workload.name), |b| {
            b.iter(|| {
                for _ in 0..count {
                    sink.take(black_box(&payload));
                }
            })
        });
    }
    group.finish();
}

fn handshake(c: &mut Criterion) {
    c.bench_function("handshake/client and server", |b| {
        b.iter(|| black_box(open_pair(CountingEntropy(1))))
    });
}

criterion_group!(benches, decode, encode, handshake);
criterion_main!(benches);
