//! RFC 6455 §5.6 and §8.1: text messages must be valid UTF-8 as a whole,
//! may be split anywhere (inside a code point included), and invalid text
//! fails the connection with 1007 at the first byte that proves it invalid.
//! Binary data is never checked. Sending text is checked the same way.
//!
//! Every receive case goes through `feed_all_ways` (whole, one byte at a
//! time, with trailing bytes), in both roles.

mod common;
use common::*;
use hybi::{Config, MessageKind, ProtocolError, Role, UsageError};

/// A frame announcing `announced` payload bytes of which only `payload` (the
/// first bytes) follows.
fn frame_start(role: Role, first: u8, announced: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = header(role, first, announced);
    for (i, b) in payload.iter().enumerate() {
        out.push(if role == Role::Server {
            b ^ KEY[i % 4]
        } else {
            *b
        });
    }
    out
}

/// Splits `msg` into a fragmented text message of frames of `size` bytes.
fn text_in_frames(role: Role, msg: &[u8], size: usize) -> Vec<u8> {
    let pieces: Vec<&[u8]> = if msg.is_empty() {
        vec![&[][..]]
    } else {
        msg.chunks(size).collect()
    };
    let last = pieces.len() - 1;
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let fin = i == last;
        out.extend(if i == 0 {
            text_frame(role, fin, p)
        } else {
            cont_frame(role, fin, p)
        });
    }
    out
}

/// A text data chunk that does not end its message.
fn partial_text(bytes: &[u8]) -> Ev {
    Ev::Data {
        kind: MessageKind::Text,
        payload: bytes.to_vec(),
        fin: false,
    }
}

/// The Close frame a failure with `error` sends.
fn close_for(error: ProtocolError) -> (u8, Vec<u8>) {
    let code = error.close_code().0;
    assert_eq!(code, 1007);
    (
        0x88,
        [&code.to_be_bytes()[..], error.as_str().as_bytes()].concat(),
    )
}

/// Feeds `input` every way and asserts the connection delivered `before`,
/// then exactly `prefix` of the invalid message (if non-empty), then failed
/// with InvalidUtf8, sending one Close 1007 and asking for shutdown.
fn expect_invalid(role: Role, input: &[u8], before: &[Ev], prefix: &[u8]) {
    let out = feed(role, input);
    let mut expected = before.to_vec();
    if !prefix.is_empty() {
        expected.push(partial_text(prefix));
    }
    expected.push(failed(ProtocolError::InvalidUtf8));
    assert_eq!(out.events, expected, "input {input:02x?}");
    assert_eq!(
        out.sent,
        vec![close_for(ProtocolError::InvalidUtf8)],
        "input {input:02x?}"
    );
    assert!(out.shutdown);
}

/// The longest prefix of `s` that ends on a char boundary at or before `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A text with 1-, 2-, 3- and 4-byte code points.
const MIXED: &str = "a\u{80}é\u{7ff}\u{800}€\u{ffff}\u{10000}😀\u{10ffff}κόσμε";

// ---- §5.6: valid text, whole ----

// §5.6: 2-byte sequences, including the smallest and largest (U+0080, U+07FF).
both_roles!(valid_two_byte_chars, |role| {
    let s = "\u{80}\u{7ff}éüÿ\u{3a9}";
    assert_eq!(s.len(), 12);
    assert_eq!(
        feed(role, &text_frame(role, true, s.as_bytes())).events,
        vec![text(s)]
    );
});

// §5.6: 3-byte sequences at the edges: U+0800, U+D7FF (before the
// surrogates), U+E000 (after them), U+FFFD, U+FFFF, and the euro sign.
both_roles!(valid_three_byte_chars, |role| {
    let s = "\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}€";
    assert_eq!(s.len(), 18);
    assert_eq!(
        feed(role, &text_frame(role, true, s.as_bytes())).events,
        vec![text(s)]
    );
});

// §5.6: 4-byte sequences: U+10000, an emoji, U+10FFFF (the largest).
both_roles!(valid_four_byte_chars, |role| {
    let s = "\u{10000}😀\u{10ffff}🎉";
    assert_eq!(s.len(), 16);
    assert_eq!(
        feed(role, &text_frame(role, true, s.as_bytes())).events,
        vec![text(s)]
    );
});

// §5.6: the classic "κόσμε" vector (Markus Kuhn's test file, with U+1F79
// GREEK SMALL LETTER OMICRON WITH OXIA), byte for byte.
both_roles!(kosme_vector, |role| {
    let bytes = [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
    ];
    let out = feed(role, &text_frame(role, true, &bytes));
    assert_eq!(out.events, vec![text("κ\u{1f79}σμε")]);
    assert!(out.sent.is_empty());
});

// §5.6: NUL and DEL are valid one-byte code points.
both_roles!(valid_ascii_edges, |role| {
    let s = "\0\u{7f}\0";
    assert_eq!(
        feed(role, &text_frame(role, true, s.as_bytes())).events,
        vec![text(s)]
    );
});

// §5.6: text longer than 125 bytes (16-bit length) with multi-byte chars.
both_roles!(valid_long_mixed_text, |role| {
    let s = MIXED.repeat(20);
    assert!(s.len() > 126);
    assert_eq!(
        feed(role, &text_frame(role, true, s.as_bytes())).events,
        vec![text(&s)]
    );
});

// ---- §5.6: "a particular text frame might include a partial UTF-8
// sequence; however, the whole message MUST contain valid UTF-8" ----

// §5.6, §5.4: "κόσμε" in two frames split at every byte position.
both_roles!(kosme_fragmented_at_every_byte_position, |role| {
    let msg = "κόσμε".as_bytes();
    for i in 0..=msg.len() {
        let input = cat(&[
            text_frame(role, false, &msg[..i]),
            cont_frame(role, true, &msg[i..]),
        ]);
        assert_eq!(
            feed(role, &input).events,
            vec![text("κόσμε")],
            "split at {i}"
        );
    }
});

// §5.6, §5.4: a 4-byte emoji in two frames split at every byte position.
both_roles!(emoji_fragmented_at_every_byte_position, |role| {
    let s = "x😀y";
    let msg = s.as_bytes();
    for i in 0..=msg.len() {
        let input = cat(&[
            text_frame(role, false, &msg[..i]),
            cont_frame(role, true, &msg[i..]),
        ]);
        assert_eq!(feed(role, &input).events, vec![text(s)], "split at {i}");
    }
});

// §5.6, §5.4: 1- to 4-byte code points in two frames, every split position.
both_roles!(mixed_text_fragmented_at_every_byte_position, |role| {
    let msg = MIXED.as_bytes();
    for i in 0..=msg.len() {
        let input = cat(&[
            text_frame(role, false, &msg[..i]),
            cont_frame(role, true, &msg[i..]),
        ]);
        assert_eq!(feed(role, &input).events, vec![text(MIXED)], "split at {i}");
    }
});

// §5.6, §5.4: three frames, split at every pair of positions.
both_roles!(text_in_three_frames_at_every_pair_of_positions, |role| {
    let s = "é€😀κ";
    let msg = s.as_bytes();
    for i in 0..=msg.len() {
        for j in i..=msg.len() {
            let input = cat(&[
                text_frame(role, false, &msg[..i]),
                cont_frame(role, false, &msg[i..j]),
                cont_frame(role, true, &msg[j..]),
            ]);
            assert_eq!(
                feed(role, &input).events,
                vec![text(s)],
                "split at {i}, {j}"
            );
        }
    }
});

// §5.6, §5.4: one byte per frame, with empty frames between them.
both_roles!(one_byte_frames_with_empty_frames_between, |role| {
    let msg = MIXED.as_bytes();
    let mut frames = vec![text_frame(role, false, b"")];
    for b in msg {
        frames.push(cont_frame(role, false, &[*b]));
        frames.push(cont_frame(role, false, b""));
    }
    frames.push(cont_frame(role, true, b""));
    assert_eq!(feed(role, &cat(&frames)).events, vec![text(MIXED)]);
});

// §5.4, §5.6: a Ping between two fragments that split a code point; the
// control frame is delivered while the code point is carried over.
both_roles!(ping_between_fragments_inside_a_code_point, |role| {
    let input = cat(&[
        text_frame(role, false, &[b'a', 0xe2]),
        ping_frame(role, b"p"),
        cont_frame(role, true, &[0x82, 0xac]),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![partial_text(b"a"), Ev::Ping(b"p".to_vec()), text("€")]
    );
    assert_eq!(out.sent, vec![(0x8a, b"p".to_vec())]);
});

// §5.6 as the engine documents it (event.rs): every text chunk handed out
// is whole code points, whatever the input chunking. The harness asserts
// each raw chunk is a `str`; the concatenation must be the message.
both_roles!(every_input_chunking_gives_str_chunks, |role| {
    let input = text_in_frames(role, MIXED.as_bytes(), 5);
    for chunk in 1..=input.len() {
        let mut conn = open(role, Config::default());
        let events = feed_chunks(&mut conn, &input, chunk);
        let mut joined = Vec::new();
        for ev in &events {
            match ev {
                Ev::Data {
                    kind: MessageKind::Text,
                    payload,
                    ..
                } => joined.extend_from_slice(payload),
                other => panic!("chunk {chunk}: {other:?}"),
            }
        }
        assert_eq!(joined, MIXED.as_bytes(), "chunk {chunk}");
        assert_eq!(merge(events), vec![text(MIXED)], "chunk {chunk}");
    }
});

// §5.6: each message is validated on its own; a message ending on a 4-byte
// char leaves nothing behind for the next.
both_roles!(consecutive_text_messages, |role| {
    let input = cat(&[
        text_frame(role, true, "😀".as_bytes()),
        text_frame(role, true, "é".as_bytes()),
        text_frame(role, false, &[0xf0, 0x9f]),
        cont_frame(role, true, &[0x98, 0x80]),
        text_frame(role, true, b"z"),
    ]);
    assert_eq!(
        feed(role, &input).events,
        vec![text("😀"), text("é"), text("😀"), text("z")]
    );
});

// §5.6: empty text messages and empty fragments are valid.
both_roles!(empty_text_and_empty_fragments, |role| {
    let input = cat(&[
        text_frame(role, true, b""),
        text_frame(role, false, b""),
        cont_frame(role, true, b""),
        text_frame(role, false, b""),
        cont_frame(role, false, "é".as_bytes()),
        cont_frame(role, true, b""),
    ]);
    assert_eq!(
        feed(role, &input).events,
        vec![text(""), text(""), text("é")]
    );
});

// ---- §8.1: invalid sequences fail the connection with 1007 ----

// §8.1: continuation bytes with no lead byte.
both_roles!(lone_continuation_bytes_fail_1007, |role| {
    let cases: [(&[u8], &[u8]); 5] = [
        (&[0x80], b""),
        (&[0xbf], b""),
        (b"ab\x80", b"ab"),
        (&[0xc3, 0xa9, 0x80], "é".as_bytes()),
        (&[0xe2, 0x82, 0xac, 0xbf, 0xbf], "€".as_bytes()),
    ];
    for (bytes, prefix) in cases {
        expect_invalid(role, &text_frame(role, true, bytes), &[], prefix);
    }
});

// §8.1: overlong 2-byte forms (C0 80 is an overlong NUL; C1 BF is 0x7F).
both_roles!(overlong_two_byte_forms_fail_1007, |role| {
    for bytes in [&[0xc0, 0x80][..], &[0xc1, 0xbf], &[0xc0, 0xaf]] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = [b"ok", bytes].concat();
        expect_invalid(role, &text_frame(role, true, &with_prefix), &[], b"ok");
    }
});

// §8.1: overlong 3-byte forms (E0 80 80 is an overlong NUL; E0 9F BF is
// U+07FF in 3 bytes).
both_roles!(overlong_three_byte_forms_fail_1007, |role| {
    for bytes in [
        &[0xe0, 0x80, 0x80][..],
        &[0xe0, 0x9f, 0xbf],
        &[0xe0, 0x80, 0xaf],
    ] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = ["€".as_bytes(), bytes].concat();
        expect_invalid(
            role,
            &text_frame(role, true, &with_prefix),
            &[],
            "€".as_bytes(),
        );
    }
});

// §8.1: overlong 4-byte forms (F0 80 80 80, F0 8F BF BF is U+FFFF).
both_roles!(overlong_four_byte_forms_fail_1007, |role| {
    for bytes in [
        &[0xf0, 0x80, 0x80, 0x80][..],
        &[0xf0, 0x8f, 0xbf, 0xbf],
        &[0xf0, 0x80, 0x80, 0xaf],
    ] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = ["😀".as_bytes(), bytes].concat();
        expect_invalid(
            role,
            &text_frame(role, true, &with_prefix),
            &[],
            "😀".as_bytes(),
        );
    }
});

// §8.1: UTF-16 surrogates encoded in UTF-8 (single and paired) are invalid.
both_roles!(utf16_surrogates_fail_1007, |role| {
    for bytes in [
        &[0xed, 0xa0, 0x80][..],
        &[0xed, 0xbf, 0xbf],
        &[0xed, 0xad, 0xbf],
        &[0xed, 0xb0, 0x80],
        &[0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
    ] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = ["κ".as_bytes(), bytes, b"tail"].concat();
        expect_invalid(
            role,
            &text_frame(role, true, &with_prefix),
            &[],
            "κ".as_bytes(),
        );
    }
});

// §8.1: code points above U+10FFFF.
both_roles!(above_u10ffff_fails_1007, |role| {
    for bytes in [
        &[0xf4, 0x90, 0x80, 0x80][..],
        &[0xf4, 0xbf, 0xbf, 0xbf],
        &[0xf7, 0xbf, 0xbf, 0xbf],
    ] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = ["\u{10ffff}".as_bytes(), bytes].concat();
        expect_invalid(
            role,
            &text_frame(role, true, &with_prefix),
            &[],
            "\u{10ffff}".as_bytes(),
        );
    }
});

// §8.1: F5 to FF never appear in UTF-8.
both_roles!(bytes_f5_to_ff_fail_1007, |role| {
    for b in 0xf5..=0xffu8 {
        expect_invalid(role, &text_frame(role, true, &[b]), &[], b"");
        expect_invalid(
            role,
            &text_frame(role, true, &[b'o', b'k', b, b'!']),
            &[],
            b"ok",
        );
    }
});

// §8.1: a lead byte followed by something other than a continuation byte.
both_roles!(lead_byte_without_continuation_fails_1007, |role| {
    for bytes in [
        &[0xc3, 0x41][..],
        &[0xe2, 0x82, 0x41],
        &[0xf0, 0x9f, 0x98, 0x41],
        &[0xc3, 0xc3, 0xa9],
    ] {
        expect_invalid(role, &text_frame(role, true, bytes), &[], b"");
        let with_prefix = [b"abc", bytes].concat();
        expect_invalid(role, &text_frame(role, true, &with_prefix), &[], b"abc");
    }
});

// §5.6: "the whole message MUST contain valid UTF-8": a single-frame
// message ending inside a code point.
both_roles!(
    truncated_sequence_at_end_of_single_frame_fails_1007,
    |role| {
        for tail in [
            &[0xc3][..],
            &[0xe2],
            &[0xe2, 0x82],
            &[0xf0],
            &[0xf0, 0x9f],
            &[0xf0, 0x9f, 0x98],
        ] {
            expect_invalid(role, &text_frame(role, true, tail), &[], b"");
            let with_prefix = ["ab€".as_bytes(), tail].concat();
            expect_invalid(
                role,
                &text_frame(role, true, &with_prefix),
                &[],
                "ab€".as_bytes(),
            );
        }
    }
);

// §5.6: the message ends with an empty final continuation frame while a
// code point is unfinished.
both_roles!(
    truncated_sequence_then_empty_final_continuation_fails_1007,
    |role| {
        for tail in [&[0xc3][..], &[0xe2, 0x82], &[0xf0, 0x9f, 0x98]] {
            let msg = [b"hi ", tail].concat();
            let input = cat(&[text_frame(role, false, &msg), cont_frame(role, true, b"")]);
            expect_invalid(role, &input, &[], b"hi ");
            // Only the lead bytes, with nothing valid before them.
            let input = cat(&[text_frame(role, false, tail), cont_frame(role, true, b"")]);
            expect_invalid(role, &input, &[], b"");
        }
    }
);

// §5.6: the final continuation frame adds bytes but still ends inside the
// code point.
both_roles!(truncated_sequence_across_frames_at_end_fails_1007, |role| {
    let input = cat(&[
        text_frame(role, false, &[b'a', 0xf0, 0x9f]),
        cont_frame(role, true, &[0x98]),
    ]);
    expect_invalid(role, &input, &[], b"a");
    let input = cat(&[
        text_frame(role, false, &[b'a', 0xf0]),
        cont_frame(role, false, &[0x9f]),
        cont_frame(role, true, &[0x98]),
    ]);
    expect_invalid(role, &input, &[], b"a");
});

// §8.1 (fail fast): an invalid byte in the FIRST fragment fails the
// connection before any later fragment arrives; only that frame is fed.
both_roles!(fail_fast_on_first_fragment, |role| {
    expect_invalid(
        role,
        &text_frame(role, false, &[b'h', b'i', 0xff, b'x']),
        &[],
        b"hi",
    );
    expect_invalid(
        role,
        &text_frame(role, false, &[0xed, 0xa0, 0x80]),
        &[],
        b"",
    );
    expect_invalid(
        role,
        &text_frame(role, false, &[b'a', 0xc0, 0x80, b'b']),
        &[],
        b"a",
    );
});

// §8.1 (fail fast): a first fragment that ENDS with bytes that cannot start
// any code point (E0 80 overlong, ED A0 surrogate, F4 90 too large, F5, C0,
// C1) fails without waiting for the continuation.
both_roles!(
    fail_fast_on_impossible_prefix_at_end_of_first_fragment,
    |role| {
        for tail in [
            &[0xe0, 0x80][..],
            &[0xed, 0xa0],
            &[0xf4, 0x90],
            &[0xf0, 0x80],
            &[0xf5],
            &[0xc0],
            &[0xc1],
        ] {
            let msg = ["é".as_bytes(), tail].concat();
            expect_invalid(role, &text_frame(role, false, &msg), &[], "é".as_bytes());
        }
    }
);

// §8.1 (fail fast): inside one frame, the failure comes at the invalid byte
// even though the frame announced more payload that never arrives.
both_roles!(fail_fast_inside_a_frame, |role| {
    let input = frame_start(role, 0x81, 100, &[b'o', b'k', 0xe0, 0x80]);
    expect_invalid(role, &input, &[], b"ok");
    let input = frame_start(role, 0x01, 1000, &[0xf4, 0x90]);
    expect_invalid(role, &input, &[], b"");
    let input = cat(&[
        text_frame(role, false, b"first "),
        frame_start(role, 0x00, 70000, &[b'x', 0xfe]),
    ]);
    expect_invalid(role, &input, &[], b"first x");
});

// §8.1: a valid first fragment, then an invalid continuation; the valid
// text before the invalid byte is delivered, exactly, before Closed.
both_roles!(invalid_continuation_after_valid_fragments, |role| {
    let input = cat(&[
        text_frame(role, true, b"done"),
        text_frame(role, false, "κό".as_bytes()),
        cont_frame(role, false, &[0xcf, 0x83, 0xce]),
        cont_frame(role, true, &[0xbc, 0xce, 0xff, b'z']),
    ]);
    expect_invalid(role, &input, &[text("done")], "κόσμ".as_bytes());
});

// §8.1: the prefix delivered is exactly the valid text before the invalid
// byte, never more (no byte of the broken code point, nothing after it).
both_roles!(valid_prefix_delivered_exactly, |role| {
    let cases: [(&[u8], &str); 4] = [
        (&[b'a', b'b', 0xe2, 0x82, 0xff, b'c'], "ab"),
        (&[0xe2, 0x82, 0xac, 0xe2, 0x82, 0xe2, 0x82, 0xac], "€"),
        (&[0xe2, 0x82, 0xac, 0xe2, 0x82], "€"),
        (&[0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f, 0x98, 0x41], "😀"),
    ];
    for (bytes, prefix) in cases {
        expect_invalid(role, &text_frame(role, true, bytes), &[], prefix.as_bytes());
    }
});

// §8.1: an FF byte inserted at every position of a longer message (inside
// code points too): the prefix up to the last whole code point before it is
// delivered, then 1007.
both_roles!(invalid_byte_at_every_position, |role| {
    let msg = "héllo wörld, κόσμε 😀 €!";
    for i in 0..=msg.len() {
        let bad = [&msg.as_bytes()[..i], &[0xff], &msg.as_bytes()[i..]].concat();
        let prefix = &msg.as_bytes()[..floor_boundary(msg, i)];
        expect_invalid(role, &text_frame(role, true, &bad), &[], prefix);
    }
});

// §8.1, §5.4: a surrogate (ED A0 80) inserted at every position of a
// message sent in 5-byte fragments.
both_roles!(surrogate_at_every_position_fragmented, |role| {
    let msg = "ab€cd😀efκόσμε";
    for i in 0..=msg.len() {
        let bad = [
            &msg.as_bytes()[..i],
            &[0xed, 0xa0, 0x80],
            &msg.as_bytes()[i..],
        ]
        .concat();
        let prefix = &msg.as_bytes()[..floor_boundary(msg, i)];
        expect_invalid(role, &text_in_frames(role, &bad, 5), &[], prefix);
    }
});

// §7.1.7, §8.1: after the failure the connection is closed for good.
both_roles!(state_after_invalid_utf8, |role| {
    let mut conn = open(role, Config::default());
    let events = feed_chunks(&mut conn, &text_frame(role, true, &[b'x', 0xff]), 100);
    assert_eq!(
        events,
        vec![partial_text(b"x"), failed(ProtocolError::InvalidUtf8)]
    );
    assert_eq!(conn.error(), Some(ProtocolError::InvalidUtf8));
    assert_eq!(conn.close_sent(), Some(hybi::CloseCode::INVALID_PAYLOAD));
    assert_eq!(conn.close_received(), None);
    assert_eq!(conn.state(), hybi::State::Closed);
    assert_eq!(
        feed_chunks(&mut conn, &text_frame(role, true, b"later"), 100),
        vec![]
    );
    assert_eq!(conn.send_text("x"), Err(UsageError::NotOpen));
    let (bytes, shutdown) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![close_for(ProtocolError::InvalidUtf8)]
    );
    assert!(shutdown);
});

// ---- §5.5.1, §8.1: the reason in a Close frame is UTF-8 too ----

// §5.5.1: "the data MUST be UTF-8"; §8.1: invalid UTF-8 fails with 1007.
both_roles!(close_reason_invalid_utf8_fails_1007, |role| {
    for reason in [
        &[0xff][..],
        &[b'o', b'k', 0xc0, 0x80],
        &[0xed, 0xa0, 0x80],
        &[b'a', 0xe2, 0x82],
    ] {
        let out = feed(role, &close_frame(role, Some(1000), reason));
        assert_eq!(
            out.events,
            vec![failed(ProtocolError::InvalidCloseReason)],
            "{reason:02x?}"
        );
        let body = [
            &1007u16.to_be_bytes()[..],
            ProtocolError::InvalidCloseReason.as_str().as_bytes(),
        ]
        .concat();
        assert_eq!(out.sent, vec![(0x88, body)]);
        assert!(out.shutdown);
    }
});

// §5.5.1: a multi-byte reason is delivered whole; the reply echoes the code.
both_roles!(close_reason_multibyte_valid, |role| {
    let out = feed(role, &close_frame(role, Some(1000), "κόσμε 😀".as_bytes()));
    assert_eq!(
        out.events,
        vec![close(1000, "κόσμε 😀"), closed_clean(1000)]
    );
    assert_eq!(out.sent, vec![(0x88, 1000u16.to_be_bytes().to_vec())]);
});

// ---- §5.6: binary data is never checked ----

// §5.6 Binary: "arbitrary binary data"; every invalid sequence passes.
both_roles!(binary_messages_are_not_utf8_checked, |role| {
    let all_invalid: Vec<u8> = [
        &[
            0x80, 0xbf, 0xc0, 0x80, 0xe0, 0x80, 0x80, 0xf0, 0x80, 0x80, 0x80,
        ][..],
        &[
            0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xf5, 0xfe, 0xff, 0xe2, 0x82,
        ],
    ]
    .concat();
    let out = feed(role, &binary_frame(role, true, &all_invalid));
    assert_eq!(out.events, vec![binary(&all_invalid)]);
    assert!(out.sent.is_empty());
    // Every byte value, alone.
    for b in 0..=255u8 {
        assert_eq!(
            feed(role, &binary_frame(role, true, &[b])).events,
            vec![binary(&[b])]
        );
    }
});

// §5.6, §5.4: a fragmented binary message ending its fragments inside
// "code points", and ending the message on a lead byte.
both_roles!(fragmented_binary_is_not_utf8_checked, |role| {
    let input = cat(&[
        binary_frame(role, false, &[0xe2]),
        cont_frame(role, false, &[0xff, 0xf0]),
        cont_frame(role, true, &[0x9f, 0xc3]),
    ]);
    assert_eq!(
        feed(role, &input).events,
        vec![binary(&[0xe2, 0xff, 0xf0, 0x9f, 0xc3])]
    );
});

// §5.6: a text message after a binary one that ended on a lead byte starts
// fresh.
both_roles!(text_after_binary_ending_in_lead_byte, |role| {
    let input = cat(&[
        binary_frame(role, true, &[b'x', 0xf0, 0x9f]),
        text_frame(role, true, b"abc"),
        binary_frame(role, false, &[0xe2]),
        cont_frame(role, true, &[0xe2]),
        text_frame(role, true, "é".as_bytes()),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            binary(&[b'x', 0xf0, 0x9f]),
            text("abc"),
            binary(&[0xe2, 0xe2]),
            text("é")
        ]
    );
});

// §5.5.2: Ping and Pong payloads are application data, not text.
both_roles!(ping_and_pong_payloads_are_not_utf8_checked, |role| {
    let input = cat(&[
        ping_frame(role, &[0xff, 0xc0, 0x80]),
        pong_frame(role, &[0xed, 0xa0, 0x80]),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            Ev::Ping(vec![0xff, 0xc0, 0x80]),
            Ev::Pong(vec![0xed, 0xa0, 0x80])
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, vec![0xff, 0xc0, 0x80])]);
});

// ---- sending text (§5.6 binds the sender too) ----

// §5.6: `send(Text, ..)` with invalid UTF-8 is refused and queues nothing.
both_roles!(send_invalid_utf8_is_refused, |role| {
    let mut conn = open(role, Config::default());
    for bytes in [
        &[0xff][..],
        &[b'a', 0x80],
        &[0xc0, 0x80],
        &[0xe0, 0x80, 0x80],
        &[0xf0, 0x80, 0x80, 0x80],
        &[0xed, 0xa0, 0x80],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0xe0, 0x80],
    ] {
        for fin in [true, false] {
            assert_eq!(
                conn.send(MessageKind::Text, bytes, fin),
                Err(UsageError::InvalidUtf8),
                "{bytes:02x?}"
            );
            assert_eq!(conn.buffered_output(), 0);
        }
    }
    assert!(conn.poll_transmit().is_none());
    // The connection is unchanged: a new message starts with opcode Text.
    conn.send_text("ok").unwrap();
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(decode_frames(&bytes), vec![(0x81, b"ok".to_vec())]);
});

// §5.6: an invalid continuation is refused and the message stays open.
both_roles!(send_invalid_continuation_leaves_message_open, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, "a€".as_bytes(), false)
        .unwrap();
    let queued = conn.buffered_output();
    assert_eq!(
        conn.send(MessageKind::Text, &[0xff], true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(
        conn.send(MessageKind::Text, &[b'b', 0xc0, 0x80], false),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(conn.buffered_output(), queued);
    conn.send(MessageKind::Text, b"b", true).unwrap();
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![(0x01, "a€".as_bytes().to_vec()), (0x80, b"b".to_vec())]
    );
});

// §5.6: text may be split inside a code point across `send` calls (a frame
// "might include a partial UTF-8 sequence"); the peer gets the message.
both_roles!(send_code_point_split_across_two_sends, |role| {
    let s = "é€😀";
    let msg = s.as_bytes();
    let peer_role = if role == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    for i in 0..=msg.len() {
        let mut conn = open(role, Config::default());
        conn.send(MessageKind::Text, &msg[..i], false).unwrap();
        conn.send(MessageKind::Text, &msg[i..], true).unwrap();
        let (bytes, _) = take_output(&mut conn);
        assert_eq!(
            decode_frames(&bytes),
            vec![(0x01, msg[..i].to_vec()), (0x80, msg[i..].to_vec())],
            "split {i}"
        );
        let out = feed_all_ways(|| open(peer_role, Config::default()), &bytes);
        assert_eq!(out.events, vec![text(s)], "split {i}");
    }
});

// §5.6: ending a message (fin) inside a code point is refused, and nothing
// is queued; the open code point can still be completed afterwards.
both_roles!(send_fin_on_partial_code_point_is_refused, |role| {
    let mut conn = open(role, Config::default());
    assert_eq!(
        conn.send(MessageKind::Text, &[b'a', 0xe2], true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(
        conn.send(MessageKind::Text, &[0xf0, 0x9f, 0x98], true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(conn.buffered_output(), 0);
    conn.send(MessageKind::Text, &[b'a', 0xe2], false).unwrap();
    let queued = conn.buffered_output();
    assert_eq!(
        conn.send(MessageKind::Text, &[0x82], true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(
        conn.send(MessageKind::Text, b"", true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(conn.buffered_output(), queued);
    conn.send(MessageKind::Text, &[0x82, 0xac], true).unwrap();
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![(0x01, vec![b'a', 0xe2]), (0x80, vec![0x82, 0xac])]
    );
});

// §5.6: the sender's validator starts fresh for each message.
both_roles!(send_consecutive_text_messages, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, &[0xf0, 0x9f], false).unwrap();
    conn.send(MessageKind::Text, &[0x98, 0x80], true).unwrap();
    conn.send_text("κόσμε").unwrap();
    // A continuation byte cannot start the next message.
    assert_eq!(
        conn.send(MessageKind::Text, &[0x80], true),
        Err(UsageError::InvalidUtf8)
    );
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![
            (0x01, vec![0xf0, 0x9f]),
            (0x80, vec![0x98, 0x80]),
            (0x81, "κόσμε".as_bytes().to_vec())
        ]
    );
});

// §5.6 Binary: sending bytes that are not UTF-8 as binary is fine.
both_roles!(send_binary_is_not_utf8_checked, |role| {
    let mut conn = open(role, Config::default());
    conn.send_binary(&[0xff, 0xc0, 0x80]).unwrap();
    conn.send(MessageKind::Binary, &[0xe2], false).unwrap();
    conn.send(MessageKind::Binary, &[0xed, 0xa0], true).unwrap();
    let (bytes, _) = take_output(&mut conn);
    assert_eq!(
        decode_frames(&bytes),
        vec![
            (0x82, vec![0xff, 0xc0, 0x80]),
            (0x02, vec![0xe2]),
            (0x80, vec![0xed, 0xa0])
        ]
    );
});

// ---- §8.1: "This rule applies both during the opening handshake" ----

/// The RFC request with its Origin line replaced by `origin` (raw bytes).
fn request_with_origin(origin: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(RFC_REQUEST.to_vec()).unwrap();
    let (before, after) = text.split_once("Origin: http://example.com\r\n").unwrap();
    [
        before.as_bytes(),
        b"Origin: ",
        origin,
        b"\r\n",
        after.as_bytes(),
    ]
    .concat()
}

// §8.1, §4.2.1: a server hands the Origin to the application as text; bytes
// that are not UTF-8 there fail the handshake with 400, and nothing else.
#[test]
fn server_fails_origin_that_is_not_utf8() {
    for origin in [
        &b"http://ex\xffample.com"[..],
        b"http://\xc0\x80.com",
        b"http://\xed\xa0\x80.com",
    ] {
        for chunk in [1, 1000] {
            let mut server = hybi::Connection::server(Config::default(), hybi::Instant::ZERO);
            let events = feed_chunks(&mut server, &request_with_origin(origin), chunk);
            assert_eq!(
                events,
                vec![failed(ProtocolError::InvalidHeaderValue)],
                "{origin:02x?}"
            );
            let (bytes, shutdown) = take_output(&mut server);
            assert!(
                bytes.starts_with(b"HTTP/1.1 400 "),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            assert!(shutdown);
        }
    }
}

// §8.1, §4.2.1: a multi-byte UTF-8 Origin is valid text and handed over.
#[test]
fn server_accepts_multibyte_utf8_origin() {
    let mut server = hybi::Connection::server(Config::default(), hybi::Instant::ZERO);
    let mut input = request_with_origin("http://κόσμε.example".as_bytes());
    let len = input.len();
    let out = server.handle_input(&mut input, NOW);
    assert_eq!(out.consumed, len);
    match out.event {
        Some(hybi::Event::Request(r)) => assert_eq!(r.origin(), Some("http://κόσμε.example")),
        other => panic!("{other:?}"),
    }
}
