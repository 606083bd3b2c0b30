//! RFC 6455 §10.4, implementation-specific limits: every buffer the engine
//! may grow is bounded by a `Config` field (config.rs), and exceeding one is
//! a typed error with the right close code (1009) or HTTP status (431).
//! Also the send-side bound `max_buffered_output`, and the defaults.

mod common;
use common::*;
use hybi::{
    ClientRequest, CloseCode, Config, Connection, Event, MessageKind, ProtocolError, Role,
    Transmit, UsageError,
};

/// Size of a frame header this `role` sends for a payload of `len` bytes.
fn sent_header_len(role: Role, len: usize) -> usize {
    let ext = match len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    };
    2 + ext + if role == Role::Client { 4 } else { 0 }
}

fn config_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    f(&mut config);
    config
}

/// Asserts `out` is a failure with `error` and one Close carrying its code
/// (1009 for both size errors) and description.
fn assert_failed_too_big(out: &Outcome, before: &[Ev], error: ProtocolError) {
    let mut expected = before.to_vec();
    expected.push(failed(error));
    assert_eq!(out.events, expected);
    assert_eq!(error.close_code(), CloseCode::TOO_BIG);
    let body = [&1009u16.to_be_bytes()[..], error.as_str().as_bytes()].concat();
    assert_eq!(out.sent, vec![(0x88, body)]);
    assert!(out.shutdown);
}

fn partial_binary(bytes: &[u8]) -> Ev {
    Ev::Data {
        kind: MessageKind::Binary,
        payload: bytes.to_vec(),
        fin: false,
    }
}

/// Writes out everything queued in `conn` (like `take_output`) without
/// looking at it.
fn written(conn: &mut Connection) -> Vec<u8> {
    take_output(conn).0
}

// ---- config.rs: the defaults are what their docs say ----

// config.rs field docs: 16 KiB, 64, 16 MiB, 64 MiB, 64 MiB + 1 KiB, 4 KiB,
// on, on, off.
#[test]
fn config_defaults_match_their_docs() {
    let c = Config::default();
    assert_eq!(c.max_handshake_size, 16_384);
    assert_eq!(c.max_headers, 64);
    assert_eq!(c.max_frame_size, 16_777_216);
    assert_eq!(c.max_message_size, 67_108_864);
    assert_eq!(c.max_buffered_output, 67_108_864 + 1024);
    assert_eq!(c.max_rejection_body, 4096);
    assert!(c.auto_pong);
    assert!(c.auto_close_reply);
    assert!(!c.reject_non_minimal_lengths);
    // "so one message of `max_message_size` with its headers fits": the
    // largest header is 14 bytes (64-bit length and a masking key).
    assert!(c.max_buffered_output as u64 >= c.max_message_size + 14);
}

// config.rs `max_buffered_output`: one message of the default
// `max_message_size` can be queued at once, in either role.
both_roles!(default_output_budget_fits_one_max_size_message, |role| {
    let mut conn = open(role, Config::default());
    let max = Config::default().max_message_size as usize;
    conn.send_binary(&vec![0x5a; max]).unwrap();
    assert_eq!(conn.buffered_output(), max + sent_header_len(role, max));
    let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() else {
        panic!("no output")
    };
    assert_eq!(bytes[0], 0x82);
    assert_eq!(bytes[1] & 0x7f, 127);
    assert_eq!(&bytes[2..10], &(max as u64).to_be_bytes());
});

// ---- §10.4: frame size, decided at the header ----

// §10.4 "a single big frame (e.g., of size 2**60)": with the default config,
// the header alone of a 2^40-byte frame fails the connection with 1009; no
// payload byte is needed.
both_roles!(huge_frame_fails_at_its_header, |role| {
    for first in [0x82, 0x81, 0x02] {
        let out = feed(role, &header(role, first, 1 << 40));
        assert_failed_too_big(&out, &[], ProtocolError::FrameTooLarge);
    }
});

// §5.2, §10.4: the largest length the header can carry, 2^63 - 1, fails at
// the header (nothing is reserved for the payload first).
both_roles!(length_2_pow_63_minus_1_fails_at_its_header, |role| {
    let input = header(role, 0x82, (1 << 63) - 1);
    assert_eq!(input[1] & 0x7f, 127);
    assert_eq!(
        &input[2..10],
        &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
    let out = feed(role, &input);
    assert_failed_too_big(&out, &[], ProtocolError::FrameTooLarge);
});

// §10.4: with no limits at all, a 2^63 - 1 frame is streamed: the header
// gives no event and nothing is held for the payload; the bytes that come
// are delivered as they arrive.
both_roles!(unlimited_huge_frame_is_streamed, |role| {
    let config = config_with(|c| {
        c.max_frame_size = u64::MAX;
        c.max_message_size = u64::MAX;
    });
    let mut conn = open(role, config);
    let head = header(role, 0x82, (1 << 63) - 1);
    assert_eq!(feed_chunks(&mut conn, &head, 100), vec![]);
    assert_eq!(conn.state(), hybi::State::Open);
    let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let wire: Vec<u8> = payload
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if role == Role::Server {
                b ^ KEY[i % 4]
            } else {
                *b
            }
        })
        .collect();
    assert_eq!(
        merge(feed_chunks(&mut conn, &wire, 333)),
        vec![partial_binary(&payload)]
    );
    assert_eq!(take_output(&mut conn), (vec![], false));
});

// §10.4 with the default `max_frame_size` (16 MiB): a header announcing
// exactly the limit is accepted, one more byte fails.
both_roles!(default_frame_limit_is_exact, |role| {
    let limit = Config::default().max_frame_size;
    // Not `feed`: its trailing bytes would be payload of this frame.
    for chunk in [1, 100] {
        let mut conn = open(role, Config::default());
        assert_eq!(
            feed_chunks(&mut conn, &header(role, 0x82, limit), chunk),
            vec![]
        );
        assert_eq!(conn.error(), None);
        assert_eq!(take_output(&mut conn), (vec![], false));
    }
    let out = feed(role, &header(role, 0x82, limit + 1));
    assert_failed_too_big(&out, &[], ProtocolError::FrameTooLarge);
});

// §10.4: a configured frame limit; exactly at it passes, one more fails,
// for text, binary and continuation frames.
both_roles!(configured_frame_limit, |role| {
    let config = config_with(|c| c.max_frame_size = 100);
    let at = vec![b'x'; 100];
    let input = cat(&[binary_frame(role, true, &at), text_frame(role, true, &at)]);
    let out = feed_open(role, config.clone(), &input);
    assert_eq!(
        out.events,
        vec![binary(&at), text(std::str::from_utf8(&at).unwrap())]
    );
    // One more byte: only the header is fed.
    let out = feed_open(role, config.clone(), &header(role, 0x82, 101));
    assert_failed_too_big(&out, &[], ProtocolError::FrameTooLarge);
    let out = feed_open(role, config.clone(), &header(role, 0x81, 101));
    assert_failed_too_big(&out, &[], ProtocolError::FrameTooLarge);
    let input = cat(&[binary_frame(role, false, b"ab"), header(role, 0x80, 101)]);
    let out = feed_open(role, config, &input);
    assert_failed_too_big(&out, &[partial_binary(b"ab")], ProtocolError::FrameTooLarge);
});

// ---- §10.4: message size across fragments ----

// §10.4 "a long stream of small frames that are a part of a fragmented
// message": exactly at the limit across fragments is fine.
both_roles!(message_exactly_at_limit_across_fragments, |role| {
    let config = config_with(|c| c.max_message_size = 10);
    let input = cat(&[
        binary_frame(role, false, b"0123"),
        cont_frame(role, false, b""),
        cont_frame(role, false, b"4567"),
        cont_frame(role, true, b"89"),
        binary_frame(role, true, b"abcdefghij"),
        text_frame(role, false, b"01234"),
        cont_frame(role, true, b"56789"),
    ]);
    let out = feed_open(role, config, &input);
    assert_eq!(
        out.events,
        vec![
            binary(b"0123456789"),
            binary(b"abcdefghij"),
            text("0123456789")
        ]
    );
    assert!(out.sent.is_empty());
});

// §10.4: limit + 1 across fragments fails with 1009 at the header of the
// fragment that crosses the limit, before its payload.
both_roles!(message_over_limit_across_fragments_fails_1009, |role| {
    let config = config_with(|c| c.max_message_size = 10);
    let input = cat(&[
        binary_frame(role, false, b"0123"),
        cont_frame(role, false, b"4567"),
        header(role, 0x80, 3),
    ]);
    let out = feed_open(role, config.clone(), &input);
    assert_failed_too_big(
        &out,
        &[partial_binary(b"01234567")],
        ProtocolError::MessageTooLarge,
    );
    // The same for text, and with a non-final fragment crossing it.
    let input = cat(&[
        text_frame(role, false, b"0123456789"),
        header(role, 0x00, 1),
    ]);
    let out = feed_open(role, config, &input);
    let partial = Ev::Data {
        kind: MessageKind::Text,
        payload: b"0123456789".to_vec(),
        fin: false,
    };
    assert_failed_too_big(&out, &[partial], ProtocolError::MessageTooLarge);
});

// §10.4: a single frame within `max_frame_size` but over
// `max_message_size` is a message too large.
both_roles!(single_frame_over_message_limit_fails_1009, |role| {
    let config = config_with(|c| c.max_message_size = 10);
    let out = feed_open(
        role,
        config.clone(),
        &binary_frame(role, true, b"0123456789"),
    );
    assert_eq!(out.events, vec![binary(b"0123456789")]);
    let out = feed_open(role, config, &header(role, 0x82, 11));
    assert_failed_too_big(&out, &[], ProtocolError::MessageTooLarge);
});

// §10.4: the count starts again with each message.
both_roles!(message_limit_resets_per_message, |role| {
    let config = config_with(|c| c.max_message_size = 4);
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20u8 {
        frames.push(binary_frame(role, false, &[i, i]));
        frames.push(cont_frame(role, true, &[i, i]));
        expected.push(binary(&[i, i, i, i]));
    }
    let out = feed_open(role, config, &cat(&frames));
    assert_eq!(out.events, expected);
});

// §10.4: a zero limit allows only empty messages.
both_roles!(zero_message_limit, |role| {
    let config = config_with(|c| c.max_message_size = 0);
    let input = cat(&[
        binary_frame(role, true, b""),
        text_frame(role, false, b""),
        cont_frame(role, true, b""),
    ]);
    let out = feed_open(role, config.clone(), &input);
    assert_eq!(out.events, vec![binary(b""), text("")]);
    let out = feed_open(role, config, &header(role, 0x81, 1));
    assert_failed_too_big(&out, &[], ProtocolError::MessageTooLarge);
});

// §5.5, §10.4: control frames between fragments do not count toward the
// message size.
both_roles!(control_frames_do_not_count_toward_message_size, |role| {
    let config = config_with(|c| c.max_message_size = 4);
    let input = cat(&[
        binary_frame(role, false, b"ab"),
        ping_frame(role, &[7; 125]),
        pong_frame(role, &[8; 125]),
        cont_frame(role, true, b"cd"),
    ]);
    let out = feed_open(role, config, &input);
    assert_eq!(
        out.events,
        vec![
            partial_binary(b"ab"),
            Ev::Ping(vec![7; 125]),
            Ev::Pong(vec![8; 125]),
            binary(b"cd")
        ]
    );
});

// §10.4 with the default `max_message_size` (64 MiB): four 16 MiB fragments
// reach it exactly; the next non-empty fragment header fails. Streamed and
// counted, not collected.
#[test]
fn default_message_limit_is_exact() {
    let frag = vec![0u8; 16 << 20];
    let mut input = Vec::new();
    for i in 0..4 {
        input.extend(header(
            Role::Client,
            if i == 0 { 0x02 } else { 0x00 },
            frag.len() as u64,
        ));
        input.extend_from_slice(&frag);
    }
    for (last_len, expect_fin) in [(0u64, true), (1, false)] {
        let mut conn = open_client(Config::default());
        let mut buf = input.clone();
        buf.extend(header(Role::Client, 0x80, last_len));
        let mut pos = 0;
        let mut data = 0usize;
        let mut fin = false;
        let mut other = Vec::new();
        loop {
            let out = conn.handle_input(&mut buf[pos..], NOW);
            pos += out.consumed;
            match out.event {
                Some(Event::Data(d)) => {
                    data += d.payload.len();
                    fin |= d.fin;
                }
                Some(ev) => other.push(Ev::from_event(&ev)),
                None => break,
            }
        }
        assert_eq!(data, 64 << 20);
        assert_eq!(fin, expect_fin);
        if expect_fin {
            assert_eq!(other, vec![]);
        } else {
            assert_eq!(other, vec![failed(ProtocolError::MessageTooLarge)]);
        }
    }
}

// ---- config.rs `max_buffered_output`: the send side is bounded ----

// A send that would grow the output past the limit fails with OutputFull
// and changes nothing; exactly at the limit is allowed.
both_roles!(output_limit_refuses_sends_and_changes_nothing, |role| {
    let limit = 100;
    let mut conn = open(role, config_with(|c| c.max_buffered_output = limit));
    let first = vec![1u8; limit - sent_header_len(role, 0)];
    conn.send_binary(&first).unwrap();
    assert_eq!(conn.buffered_output(), limit);
    assert_eq!(conn.send_binary(b""), Err(UsageError::OutputFull));
    assert_eq!(conn.send_text(""), Err(UsageError::OutputFull));
    assert_eq!(
        conn.send(MessageKind::Binary, b"x", false),
        Err(UsageError::OutputFull)
    );
    assert_eq!(conn.ping(b""), Err(UsageError::OutputFull));
    assert_eq!(conn.pong(b""), Err(UsageError::OutputFull));
    assert_eq!(conn.buffered_output(), limit);
    let (bytes, shutdown) = take_output(&mut conn);
    assert!(!shutdown);
    // Only the first frame; the refused fragment did not open a message, so
    // the next send starts one with opcode Binary.
    assert_eq!(decode_frames(&bytes), vec![(0x82, first)]);
    conn.send_binary(b"next").unwrap();
    assert_eq!(
        decode_frames(&written(&mut conn)),
        vec![(0x82, b"next".to_vec())]
    );
});

// `transmitted` frees room byte for byte; sends work again once it fits.
both_roles!(output_limit_room_freed_by_transmitted, |role| {
    let limit = 100;
    let mut conn = open(role, config_with(|c| c.max_buffered_output = limit));
    let first = vec![1u8; limit - sent_header_len(role, 0)];
    conn.send_binary(&first).unwrap();
    let mut wire = Vec::new();
    let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() else {
        panic!("no output")
    };
    assert_eq!(bytes.len(), limit);
    wire.extend_from_slice(&bytes[..40]);
    conn.transmitted(40);
    assert_eq!(conn.buffered_output(), 60);
    // 41 bytes more would be 101.
    let second = vec![2u8; 40 - sent_header_len(role, 0)];
    assert_eq!(
        conn.send_binary(&[second.clone(), vec![2]].concat()),
        Err(UsageError::OutputFull)
    );
    assert_eq!(conn.buffered_output(), 60);
    conn.send_binary(&second).unwrap();
    assert_eq!(conn.buffered_output(), limit);
    assert_eq!(conn.ping(b""), Err(UsageError::OutputFull));
    wire.extend(written(&mut conn));
    assert_eq!(conn.buffered_output(), 0);
    conn.ping(b"p").unwrap();
    wire.extend(written(&mut conn));
    assert_eq!(
        decode_frames(&wire),
        vec![(0x82, first), (0x82, second), (0x89, b"p".to_vec())]
    );
});

// A refused send changes nothing (connection.rs: "A command either queues
// whole frames or returns a UsageError and changes nothing"): a text
// fragment refused for space does not advance the UTF-8 state (§5.6).
both_roles!(output_full_does_not_advance_text_state, |role| {
    let h = sent_header_len(role, 1);
    // Room for the first fragment, and then h bytes: not for a 1-byte frame.
    let limit = (h + 2) + h;
    let mut conn = open(role, config_with(|c| c.max_buffered_output = limit));
    conn.send(MessageKind::Text, &[b'a', 0xe2], false).unwrap();
    assert_eq!(
        conn.send(MessageKind::Text, &[0x82], false),
        Err(UsageError::OutputFull)
    );
    assert_eq!(conn.buffered_output(), h + 2);
    let mut wire = written(&mut conn);
    // Had the refused 0x82 been taken, E2 82 82 would be invalid.
    conn.send(MessageKind::Text, &[0x82, 0xac], true).unwrap();
    wire.extend(written(&mut conn));
    assert_eq!(
        decode_frames(&wire),
        vec![(0x01, vec![b'a', 0xe2]), (0x80, vec![0x82, 0xac])]
    );
});

// §5.5.1, §7.1.2: a Close is always allowed, even when the output is full,
// so a connection can end while the peer does not read.
both_roles!(close_allowed_when_output_full, |role| {
    let limit = 64;
    let mut conn = open(role, config_with(|c| c.max_buffered_output = limit));
    let first = vec![3u8; limit - sent_header_len(role, 0)];
    conn.send_binary(&first).unwrap();
    assert_eq!(conn.send_binary(b"x"), Err(UsageError::OutputFull));
    conn.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(conn.buffered_output(), limit + sent_header_len(role, 5) + 5);
    let close_body = [&1000u16.to_be_bytes()[..], b"bye"].concat();
    assert_eq!(
        decode_frames(&written(&mut conn)),
        vec![(0x82, first), (0x88, close_body)]
    );
});

// §5.5.1: the automatic Close reply and a failure's Close are queued even
// when the output is full.
both_roles!(close_reply_and_failure_close_when_output_full, |role| {
    let limit = 64;
    let config = config_with(|c| c.max_buffered_output = limit);
    let first = vec![3u8; limit - sent_header_len(role, 0)];

    let mut conn = open(role, config.clone());
    conn.send_binary(&first).unwrap();
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1001), b""), 100);
    assert_eq!(events, vec![close(1001, ""), closed_clean(1001)]);
    let reply = 1001u16.to_be_bytes().to_vec();
    assert_eq!(
        decode_frames(&written(&mut conn)),
        vec![(0x82, first.clone()), (0x88, reply)]
    );

    let mut conn = open(role, config);
    conn.send_binary(&first).unwrap();
    let events = feed_chunks(&mut conn, &header(role, 0x83, 0), 100);
    assert_eq!(events, vec![failed(ProtocolError::ReservedOpcode)]);
    let body = [
        &1002u16.to_be_bytes()[..],
        ProtocolError::ReservedOpcode.as_str().as_bytes(),
    ]
    .concat();
    assert_eq!(
        decode_frames(&written(&mut conn)),
        vec![(0x82, first), (0x88, body)]
    );
});

// §5.5.2, §5.5.3, §10.4: a ping flood while the application never writes
// output queues nothing: one Pong (for the latest Ping) is owed.
both_roles!(ping_flood_without_polling_owes_one_pong, |role| {
    let mut conn = open(role, Config::default());
    let mut input = Vec::new();
    for i in 0..10_000u32 {
        input.extend(ping_frame(role, &i.to_be_bytes()));
    }
    let events = feed_chunks(&mut conn, &input, 4096);
    assert_eq!(events.len(), 10_000);
    assert_eq!(events[9_999], Ev::Ping(9_999u32.to_be_bytes().to_vec()));
    assert_eq!(conn.buffered_output(), 0);
    assert_eq!(
        decode_frames(&written(&mut conn)),
        vec![(0x8a, 9_999u32.to_be_bytes().to_vec())]
    );
});

// §10.4, config.rs `max_buffered_output`: a ping flood while the transport
// takes nothing (poll_transmit called, transmitted never) keeps the output
// within the limit; the owed Pong goes out once there is room.
both_roles!(ping_flood_with_stalled_transport_stays_bounded, |role| {
    let limit = 1000;
    let mut conn = open(role, config_with(|c| c.max_buffered_output = limit));
    let pong_len = sent_header_len(role, 125) + 125;
    let fits = limit / pong_len;
    let payload = |i: u32| {
        let mut p = vec![0u8; 125];
        p[..4].copy_from_slice(&i.to_be_bytes());
        p
    };
    for i in 0..2_000u32 {
        let events = feed_chunks(&mut conn, &ping_frame(role, &payload(i)), 1000);
        assert_eq!(events, vec![Ev::Ping(payload(i))]);
        let _ = conn.poll_transmit();
        assert!(
            conn.buffered_output() <= limit,
            "{} after ping {i}",
            conn.buffered_output()
        );
    }
    assert_eq!(conn.buffered_output(), fits * pong_len);
    let mut expected: Vec<(u8, Vec<u8>)> = (0..fits as u32).map(|i| (0x8a, payload(i))).collect();
    expected.push((0x8a, payload(1_999)));
    assert_eq!(decode_frames(&written(&mut conn)), expected);
});

// §10.4: a flood of data while the application never writes output
// queues nothing at all.
both_roles!(data_flood_queues_nothing, |role| {
    let mut conn = open(role, Config::default());
    let frame = binary_frame(role, true, &[9; 1000]);
    for _ in 0..1000 {
        let events = feed_chunks(&mut conn, &frame, 4096);
        assert_eq!(events, vec![binary(&[9; 1000])]);
    }
    assert_eq!(conn.buffered_output(), 0);
    assert!(conn.poll_transmit().is_none());
});

// ---- handshake limits (config.rs `max_handshake_size`, `max_headers`) ----

/// The RFC request padded with one extra header to exactly `size` bytes.
fn request_of_size(size: usize) -> Vec<u8> {
    let base = RFC_REQUEST.len() - 2; // before the final empty line
    let overhead = "X-Pad: \r\n".len();
    assert!(size >= RFC_REQUEST.len() + overhead);
    let pad = size - RFC_REQUEST.len() - overhead;
    let mut req = RFC_REQUEST[..base].to_vec();
    req.extend_from_slice(b"X-Pad: ");
    req.extend(std::iter::repeat_n(b'a', pad));
    req.extend_from_slice(b"\r\n\r\n");
    assert_eq!(req.len(), size);
    req
}

/// The RFC request with extra headers so it has `count` header lines.
fn request_with_headers(count: usize) -> Vec<u8> {
    let base = RFC_REQUEST.len() - 2;
    let existing = RFC_REQUEST
        .split(|&b| b == b'\n')
        .filter(|l| l.contains(&b':'))
        .count();
    assert_eq!(existing, 7);
    let mut req = RFC_REQUEST[..base].to_vec();
    for i in existing..count {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// Feeds `input` one byte at a time; returns each event with the index of
/// the byte whose call produced it.
fn feed_bytewise(conn: &mut Connection, input: &[u8]) -> Vec<(usize, Ev)> {
    let mut events = Vec::new();
    let mut buf = input.to_vec();
    for i in 0..buf.len() {
        let mut pos = i;
        loop {
            let out = conn.handle_input(&mut buf[pos..=i], NOW);
            pos += out.consumed;
            match out.event {
                Some(ev) => events.push((i, Ev::from_event(&ev))),
                None => break,
            }
        }
    }
    events
}

/// Asserts a server answered `status` and asked for shutdown.
fn assert_http_error(conn: &mut Connection, status: &str) {
    let (bytes, shutdown) = take_output(conn);
    let head = String::from_utf8_lossy(&bytes);
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
    assert!(shutdown);
}

// RFC 6455 §4.2.1, §10.4, RFC 6585 §5: a request head of exactly
// `max_handshake_size` is read; one byte more is answered with 431 as
// soon as that byte arrives.
#[test]
fn server_handshake_size_limit_is_exact() {
    let max = Config::default().max_handshake_size;
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let events = feed_bytewise(&mut server, &request_of_size(max));
    assert_eq!(
        events,
        vec![(
            max - 1,
            Ev::Request {
                target: "/chat".to_string()
            }
        )]
    );

    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let events = feed_bytewise(&mut server, &request_of_size(max + 1));
    assert_eq!(
        events,
        vec![(max, failed(ProtocolError::HandshakeTooLarge))]
    );
    assert_eq!(server.state(), hybi::State::Closed);
    assert_http_error(&mut server, "431");
}

// §10.4: an endless head (no empty line ever), one byte at a time, with a
// configured limit: the server stops at the limit with 431.
#[test]
fn server_endless_head_fails_431() {
    let config = config_with(|c| c.max_handshake_size = 300);
    let mut server = Connection::server(config.clone(), hybi::Instant::ZERO);
    let mut input = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
    input.extend(std::iter::repeat_n(b'x', 1000));
    let events = feed_bytewise(&mut server, &input);
    assert_eq!(
        events,
        vec![(300, failed(ProtocolError::HandshakeTooLarge))]
    );
    assert_http_error(&mut server, "431");
    // Fed whole, the same.
    let mut server = Connection::server(config, hybi::Instant::ZERO);
    let events = feed_chunks(&mut server, &input, input.len());
    assert_eq!(events, vec![failed(ProtocolError::HandshakeTooLarge)]);
    assert_http_error(&mut server, "431");
}

// RFC 6585 §5, config.rs `max_headers`: 64 header lines are read, 65 are
// answered with 431.
#[test]
fn server_too_many_headers_fails_431() {
    let max = Config::default().max_headers;
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let events = feed_chunks(&mut server, &request_with_headers(max), 7);
    assert_eq!(
        events,
        vec![Ev::Request {
            target: "/chat".to_string()
        }]
    );

    for chunk in [1, 1000] {
        let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
        let events = feed_chunks(&mut server, &request_with_headers(max + 1), chunk);
        assert_eq!(events, vec![failed(ProtocolError::TooManyHeaders)]);
        assert_http_error(&mut server, "431");
    }
}

// §10.4, RFC 9112 §2.2: empty lines before the request line are skipped,
// but still count toward `max_handshake_size`, so a CRLF flood ends in 431.
#[test]
fn server_crlf_flood_fails_431() {
    let config = config_with(|c| c.max_handshake_size = 1000);
    let flood = b"\r\n".repeat(5000);
    let mut server = Connection::server(config.clone(), hybi::Instant::ZERO);
    let events = feed_bytewise(&mut server, &flood);
    assert_eq!(
        events,
        vec![(1000, failed(ProtocolError::HandshakeTooLarge))]
    );
    assert_http_error(&mut server, "431");
    // A few empty lines before a request are fine.
    let mut server = Connection::server(config, hybi::Instant::ZERO);
    let input = [&b"\r\n\r\n"[..], RFC_REQUEST].concat();
    let events = feed_chunks(&mut server, &input, 1);
    assert_eq!(
        events,
        vec![Ev::Request {
            target: "/chat".to_string()
        }]
    );
}

/// A client whose request has been written out; returns it and the
/// expected Sec-WebSocket-Accept value.
fn fresh_client(config: Config) -> (Connection, String) {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client =
        Connection::client(config, request, CountingEntropy(0), hybi::Instant::ZERO).unwrap();
    let (req, shutdown) = take_output(&mut client);
    assert!(req.starts_with(b"GET /chat HTTP/1.1\r\n"));
    assert!(!shutdown);
    let key = header_value(&req, "Sec-WebSocket-Key");
    (
        client,
        hybi::accept_key(key.as_bytes()).as_str().to_string(),
    )
}

/// A valid 101 for `accept`, padded with one header to exactly `size` bytes.
fn response_of_size(accept: &str, size: usize) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    let pad = size - head.len() - "X-Pad: \r\n\r\n".len();
    let mut out = head.into_bytes();
    out.extend_from_slice(b"X-Pad: ");
    out.extend(std::iter::repeat_n(b'b', pad));
    out.extend_from_slice(b"\r\n\r\n");
    assert_eq!(out.len(), size);
    out
}

// RFC 6455 §4.1, §10.4: a client reads a response head of exactly
// `max_handshake_size`; one byte more fails with HandshakeTooLarge, and the
// client writes nothing besides its request (no HTTP answer, no frame).
#[test]
fn client_handshake_size_limit_is_exact() {
    let max = Config::default().max_handshake_size;
    let (mut client, accept) = fresh_client(Config::default());
    let events = feed_bytewise(&mut client, &response_of_size(&accept, max));
    assert_eq!(
        events,
        vec![(
            max - 1,
            Ev::Accepted {
                status: 101,
                protocol: None
            }
        )]
    );

    let (mut client, accept) = fresh_client(Config::default());
    let events = feed_bytewise(&mut client, &response_of_size(&accept, max + 1));
    assert_eq!(
        events,
        vec![(max, failed(ProtocolError::HandshakeTooLarge))]
    );
    assert_eq!(client.state(), hybi::State::Closed);
    assert_eq!(take_output(&mut client), (vec![], true));
}

// §4.1, §10.4: the limit bounds the head only; frames that follow a 101 of
// exactly the maximum size in the same input are not counted against it.
#[test]
fn client_head_at_limit_followed_by_frames() {
    let max = Config::default().max_handshake_size;
    for chunk in [1, 5000, max + 100] {
        let (mut client, accept) = fresh_client(Config::default());
        let mut input = response_of_size(&accept, max);
        input.extend(text_frame(Role::Client, true, b"hi"));
        input.extend(binary_frame(Role::Client, true, &[0; 200]));
        let events = merge(feed_chunks(&mut client, &input, chunk));
        assert_eq!(
            events,
            vec![
                Ev::Accepted {
                    status: 101,
                    protocol: None
                },
                text("hi"),
                binary(&[0; 200])
            ],
            "chunk {chunk}"
        );
    }
}

// config.rs `max_headers` on the client side: a 101 with more header lines
// than allowed fails with TooManyHeaders; nothing is written.
#[test]
fn client_too_many_headers_fails() {
    let (mut client, accept) = fresh_client(Config::default());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    for i in 3..65 {
        response.push_str(&format!("X-H{i}: v\r\n"));
    }
    response.push_str("\r\n");
    let events = feed_chunks(&mut client, response.as_bytes(), 13);
    assert_eq!(events, vec![failed(ProtocolError::TooManyHeaders)]);
    assert_eq!(take_output(&mut client), (vec![], true));
}

// config.rs `max_rejection_body`: a client keeps the first 4 KiB of a
// rejection's body, then closes.
#[test]
fn client_rejection_body_is_bounded() {
    let (mut client, _) = fresh_client(Config::default());
    let body: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut response = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10000\r\n\r\n".to_vec();
    response.extend_from_slice(&body);
    let events = feed_chunks(&mut client, &response, 1000);
    assert_eq!(
        events,
        vec![
            Ev::Rejected {
                status: 403,
                body: body[..4096].to_vec()
            },
            Ev::Closed {
                code: 1006,
                clean: false,
                error: None
            },
        ]
    );
    assert_eq!(take_output(&mut client), (vec![], true));
}

// config.rs `max_rejection_body`, RFC 9112 §6.3: with no Content-Length the
// body runs to EOF, and the client still keeps only the first 4 KiB.
#[test]
fn client_rejection_body_without_length_is_bounded() {
    let (mut client, _) = fresh_client(Config::default());
    let body = vec![b'z'; 100_000];
    let mut response = b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec();
    response.extend_from_slice(&body);
    let events = feed_chunks(&mut client, &response, 777);
    assert_eq!(
        events,
        vec![
            Ev::Rejected {
                status: 503,
                body: body[..4096].to_vec()
            },
            Ev::Closed {
                code: 1006,
                clean: false,
                error: None
            },
        ]
    );
    assert_eq!(take_output(&mut client), (vec![], true));
}
