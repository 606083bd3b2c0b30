//! Huge messages in bounded memory (issue 7): the engine never holds a
//! message, so its size is limited only by `Config::max_message_size`.
//!
//! * Receive: one 10 GiB binary frame, and a 1 GiB text message in 1 MiB
//!   fragments (code points cut at fragment boundaries), fed through one
//!   64 KiB read buffer as an adapter would. Every byte arrives (checked by
//!   a checksum), and the heap does not grow by a byte while it passes.
//! * Send: a 10 GiB message sent from an iterator in 1 MiB fragments, each
//!   written out before the next (masked on the fly by the client), into a
//!   server fed as it goes: the client's heap stays at one fragment.
//!
//! Sizes: `HYBI_HUGE_GIB` sets the binary size in GiB. Without it, release
//! builds use 10 GiB (CI runs this file with `--release`) and debug builds
//! 64 MiB, since unoptimized code would take minutes over 10 GiB; the text
//! message is at most 1 GiB.
//!
//! The instrument is tests/common/meter.rs, as in tests/memory.rs.

mod common;
use common::meter;
use common::*;

use hybi::{Config, Connection, Event, MessageKind, Role, Transmit};

#[global_allocator]
static GLOBAL: meter::Counting = meter::Counting;

/// Runs `f` with the meter started; returns its result and the most the
/// live heap grew while it ran.
fn peak_growth<R>(f: impl FnOnce() -> R) -> (R, i64) {
    meter::start();
    meter::peak_growth(f)
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: u64 = 1 << 30;

fn huge_size() -> u64 {
    match std::env::var("HYBI_HUGE_GIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(gib) => gib * GIB,
        None if cfg!(debug_assertions) => GIB / 16,
        None => 10 * GIB,
    }
}

fn unlimited() -> Config {
    let mut config = Config::default();
    config.max_frame_size = u64::MAX >> 1;
    config.max_message_size = u64::MAX;
    config
}

/// A position-independent running checksum of every payload byte.
fn checksum(sum: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(sum, |s, &b| {
        s.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(b))
    })
}

/// Feeds a server `len` payload bytes of one masked binary frame, made of
/// `block` repeated, through one 64 KiB read buffer; returns the bytes
/// handed out, the checksum of them, and the fins seen.
fn receive_binary_frame(server: &mut Connection, len: u64, block: &[u8]) -> (u64, u64, usize) {
    // The block is masked with KEY; 64 KiB is a multiple of 4, so every
    // copy of it is the next stretch of the frame's masked payload.
    let masked: Vec<u8> = block
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ KEY[i % 4])
        .collect();
    let mut buffer = vec![0u8; 64 * KIB];
    let head = header(Role::Server, 0x82, len);
    let (mut bytes, mut sum, mut fins) = (0u64, 0u64, 0usize);
    let mut deliver = |server: &mut Connection, input: &mut [u8]| {
        let mut pos = 0;
        loop {
            let out = server.handle_input(&mut input[pos..], NOW);
            pos += out.consumed;
            match out.event {
                None => break,
                Some(Event::Data(d)) => {
                    bytes += d.payload.len() as u64;
                    sum = checksum(sum, d.payload);
                    fins += usize::from(d.fin);
                }
                Some(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(pos, input.len());
    };
    let mut head = head;
    deliver(server, &mut head);
    let mut left = len;
    while left > 0 {
        let n = left.min(buffer.len() as u64) as usize;
        buffer[..n].copy_from_slice(&masked[..n]);
        deliver(server, &mut buffer[..n]);
        left -= n as u64;
    }
    (bytes, sum, fins)
}

#[test]
fn a_huge_binary_frame_passes_in_constant_memory() {
    let len = huge_size();
    let block: Vec<u8> = (0..64 * KIB).map(|i| (i * 7 + 3) as u8).collect();
    let mut server = open_server(unlimited());
    let ((bytes, sum, fins), grew) = peak_growth(|| receive_binary_frame(&mut server, len, &block));
    // The same checksum, computed over the same bytes without the engine.
    let mut expected = 0;
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        expected = checksum(expected, &block[..n]);
        left -= n as u64;
    }
    assert_eq!((bytes, sum, fins), (len, expected, 1));
    // Only the test's own 64 KiB buffers (block copy and read buffer) and
    // the frame header were allocated; the engine added nothing.
    assert!(grew <= 2 * 64 * KIB as i64 + 1024, "heap grew by {grew} B");
    println!(
        "received {} MiB in one frame; heap growth {grew} B",
        len >> 20
    );
}

#[test]
fn a_huge_text_message_in_fragments_is_validated_in_constant_memory() {
    // Up to 1 GiB of mixed-width text (the UTF-8 validation is the
    // expensive part), in 1 MiB fragments that cut code points.
    // Whole repetitions of the 11-byte "aé€😀 ", so it ends on a boundary.
    let total = GIB.min(huge_size()) as usize / 11 * 11;
    let unit = "aé€😀 ".repeat(1 << 14);
    let unit = unit.as_bytes();
    let mut server = open_server(unlimited());
    let fragment = MIB;
    let ((bytes, fins), grew) = peak_growth(|| {
        let mut buffer = vec![0u8; fragment + 14];
        let (mut bytes, mut fins) = (0usize, 0usize);
        let mut sent = 0;
        let mut at = 0;
        while sent < total {
            let n = fragment.min(total - sent);
            // The next n bytes of the endless repetition of `unit`, masked.
            let first = if sent == 0 { 0x01 } else { 0x00 };
            let fin = sent + n == total;
            let head = header(Role::Server, first | if fin { 0x80 } else { 0 }, n as u64);
            buffer[..head.len()].copy_from_slice(&head);
            for (i, b) in buffer[head.len()..head.len() + n].iter_mut().enumerate() {
                *b = unit[(at + i) % unit.len()] ^ KEY[i % 4];
            }
            at = (at + n) % unit.len();
            let frame = &mut buffer[..head.len() + n];
            let mut pos = 0;
            loop {
                let out = server.handle_input(&mut frame[pos..], NOW);
                pos += out.consumed;
                match out.event {
                    None => break,
                    Some(Event::Data(d)) => {
                        assert_eq!(d.kind, MessageKind::Text);
                        bytes += d.payload.len();
                        fins += usize::from(d.fin);
                    }
                    Some(other) => panic!("{other:?}"),
                }
            }
            sent += n;
        }
        (bytes, fins)
    });
    assert_eq!((bytes, fins), (total, 1));
    assert!(grew <= (MIB + 2 * KIB) as i64, "heap grew by {grew} B");
}

#[test]
fn a_huge_message_is_sent_from_an_iterator_in_constant_memory() {
    let len = huge_size();
    let fragment = MIB;
    let block: Vec<u8> = (0..fragment).map(|i| (i % 251) as u8).collect();
    let mut client = open_client(unlimited());
    let mut server = open_server(unlimited());
    let count = len.div_ceil(fragment as u64);
    let (received, grew) = peak_growth(|| {
        // Warm the client's output buffer to one fragment first, so the
        // measurement shows it stays there.
        let mut received = 0u64;
        let mut wire = Vec::with_capacity(fragment + 64);
        let pieces = (0..count).map(|_| &block[..]);
        for (i, piece) in pieces.enumerate() {
            let fin = i as u64 + 1 == count;
            client.send(MessageKind::Binary, piece, fin).unwrap();
            // Write it out before the next: memory stays at one fragment.
            wire.clear();
            while let Some(Transmit::Bytes(b)) = client.poll_transmit() {
                let n = b.len();
                wire.extend_from_slice(b);
                client.transmitted(n);
            }
            let mut pos = 0;
            loop {
                let out = server.handle_input(&mut wire[pos..], NOW);
                pos += out.consumed;
                match out.event {
                    None => break,
                    Some(Event::Data(d)) => received += d.payload.len() as u64,
                    Some(other) => panic!("{other:?}"),
                }
            }
        }
        received
    });
    assert_eq!(received, count * fragment as u64);
    // The client's output buffer holds one fragment (with its header), the
    // test's wire buffer one more.
    assert!(
        grew <= 2 * (fragment + 64 * KIB) as i64,
        "heap grew by {grew} B"
    );
    println!(
        "sent {} MiB from an iterator of 1 MiB fragments; heap growth {grew} B",
        received >> 20
    );
}
