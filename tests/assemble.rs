//! Whole messages from streamed chunks: a large frame read in many chunks
//! is reserved once, at its size, from the length its header gave
//! (`Data::rest_hint`), instead of a buffer doubling chunk by chunk (up to
//! twice the memory, and a copy at each step).

mod common;
use common::*;

use hybi::{Config, Connection, Event, MessageAssembler, OwnedMessage, Role};

const NOW: hybi::Instant = hybi::Instant::ZERO;

fn big_config() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 4 << 20;
    config.max_message_size = 4 << 20;
    config
}

/// One chunk as it arrived: its length, `fin`, and `rest_hint`.
type Chunk = (usize, bool, Option<usize>);

/// Feeds `input` in `chunk`-sized reads; returns every chunk and the
/// messages `push_owned` assembled.
fn assemble(conn: &mut Connection, input: &[u8], chunk: usize) -> (Vec<Chunk>, Vec<OwnedMessage>) {
    let mut assembler = MessageAssembler::new();
    let mut chunks = Vec::new();
    let mut messages = Vec::new();
    let mut buf = input.to_vec();
    let mut start = 0;
    while start < buf.len() {
        let end = (start + chunk).min(buf.len());
        let mut pos = start;
        loop {
            let out = conn.handle_input(&mut buf[pos..end], NOW);
            pos += out.consumed;
            match out.event {
                Some(Event::Data(data)) => {
                    chunks.push((data.payload.len(), data.fin, data.rest_hint()));
                    messages.extend(assembler.push_owned(data));
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        start = end;
    }
    (chunks, messages)
}

#[test]
fn a_large_binary_frame_is_reserved_once_at_its_size() {
    // Not a power of two: doubling would end at 1 MiB of capacity.
    let payload: Vec<u8> = (0..600_001u32).map(|i| (i % 251) as u8).collect();
    let input = binary_frame(Role::Server, true, &payload);
    let mut server = open_server(big_config());
    let (chunks, messages) = assemble(&mut server, &input, 64 * 1024);
    assert!(chunks.len() > 5, "read in many chunks");
    // Every chunk but the last knows exactly what follows.
    let mut seen = 0;
    for &(len, fin, hint) in &chunks {
        seen += len;
        if fin {
            assert_eq!(seen, payload.len());
        } else {
            assert_eq!(hint, Some(payload.len() - seen));
        }
    }
    match &messages[..] {
        [OwnedMessage::Binary(message)] => {
            assert_eq!(message, &payload);
            assert_eq!(message.capacity(), payload.len());
        }
        other => panic!("got {} messages", other.len()),
    }
}

#[test]
fn a_large_text_frame_is_reserved_once_give_or_take_a_code_point() {
    // Three-byte code points, so reads end inside them and a few bytes are
    // carried over.
    let text = "汉字的消息，".repeat(40_000);
    let input = text_frame(Role::Server, true, text.as_bytes());
    let mut server = open_server(big_config());
    let (_, messages) = assemble(&mut server, &input, 64 * 1024 + 1);
    match &messages[..] {
        [OwnedMessage::Text(message)] => {
            assert_eq!(message, &text);
            assert!(message.capacity() >= text.len());
            assert!(
                message.capacity() <= text.len() + 3,
                "{}",
                message.capacity()
            );
        }
        other => panic!("got {} messages", other.len()),
    }
}

#[test]
fn the_hint_waits_for_the_final_frame() {
    // A message in two frames: while the first is read, more frames may
    // follow, so there is no hint; the second, final, frame gives one.
    let first: Vec<u8> = vec![1; 200_000];
    let last: Vec<u8> = vec![2; 300_000];
    let input = cat(&[
        binary_frame(Role::Server, false, &first),
        cont_frame(Role::Server, true, &last),
    ]);
    let mut server = open_server(big_config());
    let (chunks, messages) = assemble(&mut server, &input, 50_000);
    let mut seen = 0;
    for &(len, fin, hint) in &chunks {
        seen += len;
        if seen <= first.len() {
            assert_eq!(hint, None, "inside the first frame");
        } else if !fin {
            assert_eq!(hint, Some(first.len() + last.len() - seen));
        }
    }
    match &messages[..] {
        [OwnedMessage::Binary(message)] => {
            assert_eq!(message.len(), first.len() + last.len());
            assert!(message[..first.len()].iter().all(|&b| b == 1));
            assert!(message[first.len()..].iter().all(|&b| b == 2));
        }
        other => panic!("got {} messages", other.len()),
    }
}

#[test]
fn chunks_built_by_hand_have_no_hint_and_compare_by_content() {
    let data = hybi::Data::new_binary(b"abc", false);
    assert_eq!(data.rest_hint(), None);
    let mut server = open_server(big_config());
    let mut input = binary_frame(Role::Server, true, b"abcdef");
    let out = server.handle_input(&mut input[..9], NOW);
    match out.event {
        Some(Event::Data(got)) => {
            assert_eq!(got.rest_hint(), Some(3));
            // The hint is not part of what was received.
            assert_eq!(got, data);
        }
        other => panic!("unexpected {other:?}"),
    }
}
