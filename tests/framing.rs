//! RFC 6455 §5.2, §5.3, §5.7: the base framing protocol, masking, and the
//! RFC's examples, in both roles, each fed whole, byte by byte and with
//! trailing bytes.

mod common;
use common::*;
use hybi::{Config, MessageKind, ProtocolError::*, Role};

// ---- §5.7 examples, byte for byte (VECTORS.md "Framing") ----

#[test]
fn rfc_5_7_unmasked_text_hello_to_client() {
    let out = feed(Role::Client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(out.events, vec![text("Hello")]);
}

#[test]
fn rfc_5_7_masked_text_hello_to_server() {
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let out = feed(Role::Server, &input);
    assert_eq!(out.events, vec![text("Hello")]);
}

#[test]
fn rfc_5_7_fragmented_unmasked_text() {
    let out = feed(
        Role::Client,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
    );
    assert_eq!(out.events, vec![text("Hello")]);
}

#[test]
fn rfc_5_7_unmasked_ping_gets_pong() {
    let out = feed(Role::Client, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(out.events, vec![Ev::Ping(b"Hello".to_vec())]);
    // The client's Pong is masked and carries the same payload (§5.5.3).
    assert_eq!(out.sent, vec![(0x8a, b"Hello".to_vec())]);
}

#[test]
fn rfc_5_7_masked_pong_to_server() {
    let input = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let out = feed(Role::Server, &input);
    assert_eq!(out.events, vec![Ev::Pong(b"Hello".to_vec())]);
    assert!(out.sent.is_empty());
}

#[test]
fn rfc_5_7_binary_256_bytes_16_bit_length() {
    let payload: Vec<u8> = (0..=255).collect();
    let mut input = vec![0x82, 0x7e, 0x01, 0x00];
    input.extend_from_slice(&payload);
    assert_eq!(feed(Role::Client, &input).events, vec![binary(&payload)]);
}

#[test]
fn rfc_5_7_binary_65536_bytes_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut input = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    input.extend_from_slice(&payload);
    let mut conn = open_client(Config::default());
    let events = merge(feed_chunks(&mut conn, &input, 1000));
    assert_eq!(events, vec![binary(&payload)]);
}

// ---- length encodings (§5.2) ----

both_roles!(length_125_uses_7_bit_form, |role| {
    let payload = vec![b'a'; 125];
    let frame = binary_frame(role, true, &payload);
    assert_eq!(frame[1] & 0x7f, 125);
    assert_eq!(feed(role, &frame).events, vec![binary(&payload)]);
});

both_roles!(length_126_uses_16_bit_form, |role| {
    let payload = vec![b'b'; 126];
    let frame = binary_frame(role, true, &payload);
    assert_eq!(frame[1] & 0x7f, 126);
    assert_eq!(feed(role, &frame).events, vec![binary(&payload)]);
});

both_roles!(length_65535_uses_16_bit_form, |role| {
    let payload = vec![b'c'; 65535];
    let frame = binary_frame(role, true, &payload);
    assert_eq!(frame[1] & 0x7f, 126);
    let mut conn = open(role, Config::default());
    assert_eq!(
        merge(feed_chunks(&mut conn, &frame, 4096)),
        vec![binary(&payload)]
    );
});

both_roles!(length_65536_uses_64_bit_form, |role| {
    let payload = vec![b'd'; 65536];
    let frame = binary_frame(role, true, &payload);
    assert_eq!(frame[1] & 0x7f, 127);
    let mut conn = open(role, Config::default());
    assert_eq!(
        merge(feed_chunks(&mut conn, &frame, 4096)),
        vec![binary(&payload)]
    );
});

both_roles!(empty_text_and_binary_messages, |role| {
    let input = cat(&[text_frame(role, true, b""), binary_frame(role, true, b"")]);
    assert_eq!(feed(role, &input).events, vec![text(""), binary(b"")]);
});

both_roles!(many_small_messages_in_one_input, |role| {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..50u8 {
        let payload = vec![i; i as usize];
        input.extend(binary_frame(role, true, &payload));
        expected.push(binary(&payload));
    }
    assert_eq!(feed(role, &input).events, expected);
});

// The top bit of a 64-bit length must be 0 (§5.2).
both_roles!(length_with_top_bit_set_fails_1002, |role| {
    let mut input = vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1];
    if role == Role::Server {
        input[1] |= 0x80;
        input.extend_from_slice(&[1, 2, 3, 4]);
    }
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(LengthTopBitSet)]);
    assert_eq!(out.sent[0].0, 0x88);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(out.shutdown);
});

// Non-minimal lengths: accepted by default (a documented choice), refused
// when configured.
both_roles!(non_minimal_length_accepted_by_default, |role| {
    let mut input = vec![0x82, 126, 0, 3];
    if role == Role::Server {
        input[1] |= 0x80;
        input.extend_from_slice(&[0, 0, 0, 0]);
    }
    input.extend_from_slice(b"abc");
    assert_eq!(feed(role, &input).events, vec![binary(b"abc")]);
});

both_roles!(non_minimal_length_refused_when_configured, |role| {
    let mut input = vec![0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3];
    if role == Role::Server {
        input[1] |= 0x80;
        input.extend_from_slice(&[0, 0, 0, 0]);
    }
    input.extend_from_slice(b"abc");
    let mut config = Config::default();
    config.reject_non_minimal_lengths = true;
    let out = feed_open(role, config, &input);
    assert_eq!(out.events, vec![failed(NonMinimalLength)]);
});

// ---- masking direction (§5.1, §5.3) ----

#[test]
fn server_fails_unmasked_frame_1002() {
    let out = feed(Role::Server, &raw_frame(0x81, b"Hello", None));
    assert_eq!(out.events, vec![failed(UnmaskedFrame)]);
    assert_eq!(out.sent.len(), 1);
    assert_eq!(out.sent[0].0, 0x88);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
}

#[test]
fn client_fails_masked_frame_1002() {
    let out = feed(Role::Client, &raw_frame(0x81, b"Hello", Some([1, 2, 3, 4])));
    assert_eq!(out.events, vec![failed(MaskedFrame)]);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
}

#[test]
fn server_unmasks_with_every_key_phase() {
    for key in [
        [0, 0, 0, 0],
        [0xff; 4],
        [1, 2, 3, 4],
        [0x37, 0xfa, 0x21, 0x3d],
    ] {
        for len in [0usize, 1, 3, 4, 5, 7, 8, 9, 31, 200] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
            let out = feed(Role::Server, &raw_frame(0x82, &payload, Some(key)));
            assert_eq!(out.events, vec![binary(&payload)], "key {key:?} len {len}");
        }
    }
}

// ---- reserved bits and opcodes (§5.2) ----

both_roles!(rsv1_without_extension_fails, |role| {
    assert_eq!(
        feed(role, &raw_frame_to(role, 0xc1, b"x")).events,
        vec![failed(ReservedBits)]
    );
});

both_roles!(rsv2_without_extension_fails, |role| {
    assert_eq!(
        feed(role, &raw_frame_to(role, 0xa1, b"x")).events,
        vec![failed(ReservedBits)]
    );
});

both_roles!(rsv3_without_extension_fails, |role| {
    assert_eq!(
        feed(role, &raw_frame_to(role, 0x91, b"x")).events,
        vec![failed(ReservedBits)]
    );
});

both_roles!(all_rsv_bits_on_ping_fails, |role| {
    assert_eq!(
        feed(role, &raw_frame_to(role, 0xf9, b"x")).events,
        vec![failed(ReservedBits)]
    );
});

both_roles!(rsv_bits_after_a_valid_message_fail_after_it, |role| {
    let input = cat(&[
        text_frame(role, true, b"ok"),
        raw_frame_to(role, 0xc2, b"x"),
    ]);
    assert_eq!(
        feed(role, &input).events,
        vec![text("ok"), failed(ReservedBits)]
    );
});

both_roles!(reserved_data_opcodes_fail, |role| {
    for op in 3..=7u8 {
        let out = feed(role, &raw_frame_to(role, 0x80 | op, b""));
        assert_eq!(out.events, vec![failed(ReservedOpcode)], "opcode {op}");
        assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    }
});

both_roles!(reserved_control_opcodes_fail, |role| {
    for op in 0xb..=0xfu8 {
        let out = feed(role, &raw_frame_to(role, 0x80 | op, b"payload"));
        assert_eq!(out.events, vec![failed(ReservedOpcode)], "opcode {op}");
    }
});

both_roles!(reserved_opcode_after_valid_messages, |role| {
    let input = cat(&[
        text_frame(role, true, b"a"),
        ping_frame(role, b"p"),
        raw_frame_to(role, 0x8b, b""),
        text_frame(role, true, b"never"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text("a"), Ev::Ping(b"p".to_vec()), failed(ReservedOpcode)]
    );
});

// ---- a failed connection stays failed ----

both_roles!(input_after_failure_is_discarded, |role| {
    let mut conn = open(role, Config::default());
    let bad = raw_frame_to(role, 0x83, b"");
    let events = feed_chunks(&mut conn, &bad, 100);
    assert_eq!(events, vec![failed(ReservedOpcode)]);
    assert_eq!(conn.error(), Some(ReservedOpcode));
    let good = text_frame(role, true, b"hello");
    assert_eq!(feed_chunks(&mut conn, &good, 100), vec![]);
    assert_eq!(conn.state(), hybi::State::Closed);
    assert_eq!(conn.send_text("x"), Err(hybi::UsageError::NotOpen));
});

// ---- sending (§5.2, §5.3, §6.1) ----

#[test]
fn server_sends_unmasked_minimal_frames() {
    let mut conn = open_server(Config::default());
    for len in [0usize, 125, 126, 65535, 65536] {
        conn.send_binary(&vec![7u8; len]).unwrap();
        let (bytes, _) = take_output(&mut conn);
        assert_eq!(bytes[0], 0x82);
        assert_eq!(bytes[1] & 0x80, 0, "server frames are never masked");
        let header_len = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        assert_eq!(bytes.len(), header_len + len, "minimal length for {len}");
        assert_eq!(decode_frames(&bytes), vec![(0x82, vec![7u8; len])]);
    }
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let mut conn = open_client(Config::default());
    let mut keys = Vec::new();
    for _ in 0..10 {
        conn.send_text("same payload").unwrap();
        let (bytes, _) = take_output(&mut conn);
        assert_eq!(bytes[1] & 0x80, 0x80, "client frames are masked");
        keys.push(bytes[2..6].to_vec());
        assert_eq!(
            decode_frames(&bytes),
            vec![(0x81, b"same payload".to_vec())]
        );
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10, "every frame gets its own key");
}

#[test]
fn client_sends_ping_pong_close_masked() {
    let mut conn = open_client(Config::default());
    conn.ping(b"p").unwrap();
    conn.pong(b"q").unwrap();
    conn.close(hybi::CloseCode::NORMAL, "bye").unwrap();
    let (bytes, _) = take_output(&mut conn);
    let frames = decode_frames(&bytes);
    assert_eq!(frames[0], (0x89, b"p".to_vec()));
    assert_eq!(frames[1], (0x8a, b"q".to_vec()));
    assert_eq!(
        frames[2],
        (0x88, [&1000u16.to_be_bytes()[..], b"bye"].concat())
    );
    let mut pos = 0;
    for _ in 0..3 {
        assert_eq!(bytes[pos + 1] & 0x80, 0x80);
        pos += 6 + (bytes[pos + 1] & 0x7f) as usize;
    }
}

#[test]
fn text_kind_round_trips_through_a_pair() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    client.send_text("héllo wörld").unwrap();
    client.send_binary(&[0, 1, 2]).unwrap();
    let (bytes, _) = take_output(&mut client);
    let events = merge(feed_chunks(&mut server, &bytes, 3));
    assert_eq!(events, vec![text("héllo wörld"), binary(&[0, 1, 2])]);
    let _ = MessageKind::Text;
}

// The receiver decodes a whole small frame in one step (recv.rs,
// `whole_frame`) and leaves everything else to its general path. Fed whole,
// each input below reaches the one-step path first; `feed_open` also feeds
// it a byte at a time (general path only) and must see the same events and
// output. These are the inputs where the one-step path must step aside.
both_roles!(one_step_path_agrees_where_it_steps_aside, |role| {
    // Invalid text in a whole frame: the valid prefix, then 1007.
    let bad = text_frame(role, true, b"ok\xff!");
    let out = feed(role, &bad);
    let ok = Ev::Data {
        kind: MessageKind::Text,
        payload: b"ok".to_vec(),
        fin: false,
    };
    assert_eq!(out.events[0], ok);
    assert_eq!(out.events.last(), Some(&failed(InvalidUtf8)));
    // A text frame ending inside a code point.
    let cut = text_frame(role, true, &"é".as_bytes()[..1]);
    assert_eq!(feed(role, &cut).events.last(), Some(&failed(InvalidUtf8)));
    // The wrong masking for this role.
    let wrong = raw_frame_to(
        if role == Role::Server {
            Role::Client
        } else {
            Role::Server
        },
        0x82,
        b"x",
    );
    let error = if role == Role::Server {
        UnmaskedFrame
    } else {
        MaskedFrame
    };
    assert_eq!(feed(role, &wrong).events, vec![failed(error)]);
    // RSV bits, and a frame over the limits (here 10 bytes).
    let rsv = raw_frame_to(role, 0xc2, b"x");
    assert_eq!(feed(role, &rsv).events, vec![failed(ReservedBits)]);
    let mut small = Config::default();
    small.max_message_size = 10;
    let big = binary_frame(role, true, &[1; 11]);
    let out = feed_open(role, small, &big);
    assert_eq!(out.events, vec![failed(MessageTooLarge)]);
    // A 16-bit length that 7 bits could hold: allowed by default, refused
    // when configured.
    let mut loose = header(role, 0x82, 300);
    loose[1] = (loose[1] & 0x80) | 126;
    loose[2..4].copy_from_slice(&100u16.to_be_bytes());
    let mut non_minimal = loose[..4].to_vec();
    non_minimal.extend_from_slice(&loose[loose.len() - 4 * usize::from(role == Role::Server)..]);
    let payload = [9u8; 100];
    let masked: Vec<u8> = payload
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
    non_minimal.extend_from_slice(&masked);
    assert_eq!(feed(role, &non_minimal).events, vec![binary(&payload)]);
    let mut strict = Config::default();
    strict.reject_non_minimal_lengths = true;
    let out = feed_open(role, strict, &non_minimal);
    assert_eq!(out.events, vec![failed(NonMinimalLength)]);
    // Whole frames back to back, a fragment between them, and an empty one.
    let stream = cat(&[
        binary_frame(role, true, b"one"),
        text_frame(role, false, b"t"),
        cont_frame(role, true, b"wo"),
        text_frame(role, true, b""),
        binary_frame(role, true, &[7; 300]),
    ]);
    assert_eq!(
        feed(role, &stream).events,
        vec![binary(b"one"), text("two"), text(""), binary(&[7; 300])]
    );
});
