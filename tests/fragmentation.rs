//! RFC 6455 §5.4 fragmentation, received and sent, in both roles. The
//! received cases follow the Autobahn TestSuite's section 5 (fragmentation)
//! and the parts of 6.2/6.4 that split UTF-8 across fragments. Every stream
//! goes through `feed_all_ways` (whole, byte by byte, with trailing bytes).

mod common;
use common::*;
use hybi::{Config, MessageKind, ProtocolError, ProtocolError::*, Role, State, UsageError};

// ---- local helpers ----

fn part(kind: MessageKind, payload: &[u8], fin: bool) -> Ev {
    Ev::Data {
        kind,
        payload: payload.to_vec(),
        fin,
    }
}

fn text_part(s: &str, fin: bool) -> Ev {
    part(MessageKind::Text, s.as_bytes(), fin)
}

fn binary_part(b: &[u8], fin: bool) -> Ev {
    part(MessageKind::Binary, b, fin)
}

/// The Close frame a connection sends when it fails with `error`.
fn failure_close(error: ProtocolError) -> (u8, Vec<u8>) {
    let mut body = error.close_code().0.to_be_bytes().to_vec();
    body.extend_from_slice(error.as_str().as_bytes());
    (0x88, body)
}

/// One message of `kind` as the frames `parts`, for a receiver in `role`:
/// the first frame carries the opcode, the rest opcode 0, FIN on the last.
fn fragmented(role: Role, kind: MessageKind, parts: &[&[u8]]) -> Vec<u8> {
    let opcode = match kind {
        MessageKind::Text => 0x1,
        MessageKind::Binary => 0x2,
    };
    let last = parts.len() - 1;
    let frames: Vec<Vec<u8>> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let fin = if i == last { 0x80 } else { 0 };
            let op = if i == 0 { opcode } else { 0 };
            raw_frame_to(role, fin | op, p)
        })
        .collect();
    frames.concat()
}

/// The events a stream gives when its text is cut at byte `at`, a Ping sits
/// at the cut, and the message is `whole`: the whole code points before the
/// cut, the Ping, then the rest.
fn expected_split_with_ping(whole: &str, at: usize, ping: &[u8]) -> Vec<Ev> {
    let bytes = whole.as_bytes();
    let prefix = match std::str::from_utf8(&bytes[..at]) {
        Ok(_) => at,
        Err(e) => e.valid_up_to(),
    };
    let mut events = Vec::new();
    if prefix > 0 {
        events.push(part(MessageKind::Text, &bytes[..prefix], false));
    }
    events.push(Ev::Ping(ping.to_vec()));
    events.push(part(MessageKind::Text, &bytes[prefix..], true));
    events
}

// ---- §5.4: well-formed fragmented messages ----

// §5.4 (Autobahn 5.3): a text message in two fragments.
both_roles!(text_in_two_fragments, |role| {
    let input = fragmented(role, MessageKind::Text, &[b"fragment1", b"fragment2"]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![text("fragment1fragment2")]);
    assert!(out.sent.is_empty());
    assert!(!out.shutdown);
});

// §5.4 (Autobahn 5.4 analogue): a binary message in two fragments.
both_roles!(binary_in_two_fragments, |role| {
    let input = fragmented(
        role,
        MessageKind::Binary,
        &[&[0, 1, 2, 0xff], &[0xfe, 0x80]],
    );
    let out = feed(role, &input);
    assert_eq!(out.events, vec![binary(&[0, 1, 2, 0xff, 0xfe, 0x80])]);
    assert!(out.sent.is_empty());
});

// §5.4 EXAMPLE: three fragments, opcode 1 then 0 then 0 with FIN.
both_roles!(text_in_three_fragments, |role| {
    let input = cat(&[
        text_frame(role, false, b"Hel"),
        cont_frame(role, false, b"lo, "),
        cont_frame(role, true, b"world"),
    ]);
    assert_eq!(feed(role, &input).events, vec![text("Hello, world")]);
});

// §5.4: three binary fragments.
both_roles!(binary_in_three_fragments, |role| {
    let input = cat(&[
        binary_frame(role, false, &[1; 10]),
        cont_frame(role, false, &[2; 20]),
        cont_frame(role, true, &[3; 30]),
    ]);
    let expected: Vec<u8> = [vec![1; 10], vec![2; 20], vec![3; 30]].concat();
    assert_eq!(feed(role, &input).events, vec![binary(&expected)]);
});

// §5.4: "followed by zero or more frames with the FIN bit clear": one byte
// per fragment, 200 fragments.
both_roles!(text_in_many_one_byte_fragments, |role| {
    let message: String = (0..200).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let parts: Vec<&[u8]> = message.as_bytes().chunks(1).collect();
    let input = fragmented(role, MessageKind::Text, &parts);
    assert_eq!(feed(role, &input).events, vec![text(&message)]);
});

// §5.4: "A sender MAY create fragments of any size": many fragments of
// assorted sizes, across the 7-bit / 16-bit length boundary.
both_roles!(binary_in_many_fragments_of_assorted_sizes, |role| {
    let sizes = [1usize, 0, 125, 126, 127, 3, 300, 0, 65, 1];
    let payload: Vec<u8> = (0..sizes.iter().sum::<usize>())
        .map(|i| (i * 7) as u8)
        .collect();
    let mut parts = Vec::new();
    let mut pos = 0;
    for n in sizes {
        parts.push(&payload[pos..pos + n]);
        pos += n;
    }
    let input = fragmented(role, MessageKind::Binary, &parts);
    assert_eq!(feed(role, &input).events, vec![binary(&payload)]);
});

// §5.4: a fragmented message, a single-frame message, another fragmented
// one: each message is delivered whole and in order.
both_roles!(fragmented_and_whole_messages_in_sequence, |role| {
    let input = cat(&[
        fragmented(role, MessageKind::Text, &[b"a", b"b", b"c"]),
        binary_frame(role, true, b"whole"),
        fragmented(role, MessageKind::Binary, &[b"x", b"y"]),
        text_frame(role, true, b"end"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text("abc"), binary(b"whole"), binary(b"xy"), text("end")]
    );
});

// §5.4: a data frame with FIN clear delivers its bytes at once, unfinished
// (streaming, IMPLEMENTATION NOTE); the message is not over.
both_roles!(unfinished_message_is_delivered_as_chunks, |role| {
    let input = cat(&[
        text_frame(role, false, b"Hel"),
        cont_frame(role, false, b"lo"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![text_part("Hello", false)]);
    assert!(out.sent.is_empty());
});

// ---- §5.4: empty fragments ----

// §5.4: an empty first fragment carries only the opcode.
both_roles!(empty_first_fragment, |role| {
    let input = fragmented(role, MessageKind::Text, &[b"", b"Hello"]);
    assert_eq!(feed(role, &input).events, vec![text("Hello")]);
});

// §5.4: an empty middle fragment changes nothing.
both_roles!(empty_middle_fragment, |role| {
    let input = fragmented(role, MessageKind::Binary, &[b"ab", b"", b"cd"]);
    assert_eq!(feed(role, &input).events, vec![binary(b"abcd")]);
});

// §5.4: an empty last fragment ends the message.
both_roles!(empty_last_fragment, |role| {
    let input = fragmented(role, MessageKind::Text, &[b"Hello", b""]);
    assert_eq!(feed(role, &input).events, vec![text("Hello")]);
});

// §5.4: every fragment empty gives one empty message of the first frame's
// kind.
both_roles!(all_fragments_empty, |role| {
    for kind in [MessageKind::Text, MessageKind::Binary] {
        let input = fragmented(role, kind, &[b"", b"", b""]);
        assert_eq!(
            feed(role, &input).events,
            vec![part(kind, b"", true)],
            "{kind:?}"
        );
    }
});

// §5.4: an empty last fragment arriving after a Ping ends the message with
// an empty chunk.
both_roles!(empty_last_fragment_after_a_ping, |role| {
    let input = cat(&[
        text_frame(role, false, b"abc"),
        ping_frame(role, b"p"),
        cont_frame(role, true, b""),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("abc", false),
            Ev::Ping(b"p".to_vec()),
            text_part("", true)
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"p".to_vec())]);
});

// ---- §5.4: control frames between fragments ----

// §5.4 "An endpoint MUST be capable of handling control frames in the
// middle of a fragmented message" (Autobahn 5.6): a Ping between two text
// fragments is delivered in order and answered.
both_roles!(ping_between_text_fragments, |role| {
    let input = cat(&[
        text_frame(role, false, b"fragment1"),
        ping_frame(role, b"pongme!"),
        cont_frame(role, true, b"fragment2"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("fragment1", false),
            Ev::Ping(b"pongme!".to_vec()),
            text_part("fragment2", true),
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"pongme!".to_vec())]);
});

// §5.4 (Autobahn 5.6, binary): a Ping between binary fragments.
both_roles!(ping_between_binary_fragments, |role| {
    let input = cat(&[
        binary_frame(role, false, &[1, 2]),
        ping_frame(role, &[0xff, 0]),
        cont_frame(role, true, &[3]),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            binary_part(&[1, 2], false),
            Ev::Ping(vec![0xff, 0]),
            binary_part(&[3], true)
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, vec![0xff, 0])]);
});

// §5.4, §5.5.3: a Pong between fragments is delivered and not answered.
both_roles!(pong_between_fragments, |role| {
    let input = cat(&[
        text_frame(role, false, b"a"),
        pong_frame(role, b"unsolicited"),
        cont_frame(role, true, b"b"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("a", false),
            Ev::Pong(b"unsolicited".to_vec()),
            text_part("b", true)
        ]
    );
    assert!(out.sent.is_empty());
});

// §5.4, §5.5.3 (Autobahn 5.19): five fragments with two Pings between them,
// all in one read. Both Pings are delivered; the output is polled once, so
// one Pong answers the most recent Ping (§5.5.3 allows it).
both_roles!(two_pings_among_five_fragments_in_one_read, |role| {
    let input = cat(&[
        text_frame(role, false, b"fragment1"),
        ping_frame(role, b"pongme 1!"),
        cont_frame(role, false, b"fragment2"),
        cont_frame(role, false, b"fragment3"),
        ping_frame(role, b"pongme 2!"),
        cont_frame(role, false, b"fragment4"),
        cont_frame(role, true, b"fragment5"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("fragment1", false),
            Ev::Ping(b"pongme 1!".to_vec()),
            text_part("fragment2fragment3", false),
            Ev::Ping(b"pongme 2!".to_vec()),
            text_part("fragment4fragment5", true),
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"pongme 2!".to_vec())]);
});

// §5.4, §5.5.2 (Autobahn 5.20): the same with the output polled after each
// frame, as an event loop does between reads: one Pong per Ping, in order.
both_roles!(two_pings_among_fragments_polled_between_reads, |role| {
    let frames = [
        text_frame(role, false, b"fragment1"),
        ping_frame(role, b"pongme 1!"),
        cont_frame(role, false, b"fragment2"),
        ping_frame(role, b"pongme 2!"),
        cont_frame(role, true, b"fragment3"),
    ];
    let mut conn = open(role, Config::default());
    let mut events = Vec::new();
    let mut out = Vec::new();
    for frame in &frames {
        events.extend(feed_chunks(&mut conn, frame, frame.len()));
        out.extend(sent(&mut conn));
    }
    assert_eq!(
        merge(events),
        vec![
            text_part("fragment1", false),
            Ev::Ping(b"pongme 1!".to_vec()),
            text_part("fragment2", false),
            Ev::Ping(b"pongme 2!".to_vec()),
            text_part("fragment3", true),
        ]
    );
    assert_eq!(
        out,
        vec![(0x8a, b"pongme 1!".to_vec()), (0x8a, b"pongme 2!".to_vec())]
    );
});

// §5.4, §5.5.1 (Autobahn 7.1.5): a Close in the middle of a fragmented
// message ends the connection; the rest of the message is never processed.
both_roles!(close_between_fragments, |role| {
    let input = cat(&[
        text_frame(role, false, b"fragment1"),
        close_frame(role, Some(1000), b""),
        cont_frame(role, true, b"fragment2"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("fragment1", false),
            close(1000, ""),
            closed_clean(1000)
        ]
    );
    assert_eq!(out.sent, vec![(0x88, 1000u16.to_be_bytes().to_vec())]);
});

// ---- §5.4: continuation frames with nothing to continue ----

// §5.4 (Autobahn 5.9): a continuation frame with FIN and no message open.
both_roles!(continuation_with_fin_and_nothing_to_continue, |role| {
    let input = cat(&[
        cont_frame(role, true, b"non-continuation payload"),
        text_frame(role, true, b"Hello"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(UnexpectedContinuation)]);
    assert_eq!(out.sent, vec![failure_close(UnexpectedContinuation)]);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(out.shutdown);
});

// §5.4 (Autobahn 5.12): the same without FIN.
both_roles!(continuation_without_fin_and_nothing_to_continue, |role| {
    let input = cat(&[
        cont_frame(role, false, b"non-continuation payload"),
        text_frame(role, true, b"Hello"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(UnexpectedContinuation)]);
    assert_eq!(out.sent, vec![failure_close(UnexpectedContinuation)]);
});

// §5.4: an empty continuation frame with nothing to continue fails too.
both_roles!(empty_continuation_with_nothing_to_continue, |role| {
    for fin in [true, false] {
        let out = feed(role, &cont_frame(role, fin, b""));
        assert_eq!(
            out.events,
            vec![failed(UnexpectedContinuation)],
            "fin {fin}"
        );
        assert_eq!(out.sent, vec![failure_close(UnexpectedContinuation)]);
    }
});

// §5.4 (Autobahn 5.15): after a finished fragmented message, a continuation
// has nothing to continue.
both_roles!(continuation_after_a_finished_message, |role| {
    let input = cat(&[
        fragmented(role, MessageKind::Text, &[b"fragment1", b"fragment2"]),
        cont_frame(role, false, b"fragment3"),
        text_frame(role, true, b"fragment4"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text("fragment1fragment2"), failed(UnexpectedContinuation)]
    );
    assert_eq!(out.sent, vec![failure_close(UnexpectedContinuation)]);
});

// §5.4 (Autobahn 5.16/5.17): a stray continuation before a valid fragmented
// message: the connection fails at once, the message never arrives.
both_roles!(stray_continuation_before_a_fragmented_message, |role| {
    let input = cat(&[
        cont_frame(role, true, b"fragment1"),
        text_frame(role, false, b"fragment2"),
        cont_frame(role, true, b"fragment3"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(UnexpectedContinuation)]);
});

// §5.4: a continuation after a whole single-frame message.
both_roles!(continuation_after_a_single_frame_message, |role| {
    let input = cat(&[
        binary_frame(role, true, b"one"),
        cont_frame(role, true, b"two"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![binary(b"one"), failed(UnexpectedContinuation)]
    );
});

// ---- §5.4: a new message while one is open ----

// §5.4 "The fragments of one message MUST NOT be interleaved" (Autobahn
// 5.18): two text frames without FIN-then-continuation.
both_roles!(text_frame_while_text_message_open, |role| {
    let input = cat(&[
        text_frame(role, false, b"fragment1"),
        text_frame(role, true, b"fragment2"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text_part("fragment1", false), failed(ExpectedContinuation)]
    );
    assert_eq!(out.sent, vec![failure_close(ExpectedContinuation)]);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(out.shutdown);
});

// §5.4: fragments whose opcodes alternate kinds (text, binary, ...) are
// interleaved messages, in every combination of kinds and FIN on the
// intruder.
both_roles!(alternating_opcodes_fail_expected_continuation, |role| {
    for (first, second) in [(0x1u8, 0x2u8), (0x2, 0x1), (0x2, 0x2), (0x1, 0x1)] {
        for fin in [0u8, 0x80] {
            let input = cat(&[
                raw_frame_to(role, first, b"ab"),
                raw_frame_to(role, fin | second, b"cd"),
                cont_frame(role, true, b"ef"),
            ]);
            let kind = if first == 1 {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            let out = feed(role, &input);
            assert_eq!(
                out.events,
                vec![part(kind, b"ab", false), failed(ExpectedContinuation)],
                "first {first} second {second} fin {fin}"
            );
            assert_eq!(out.sent, vec![failure_close(ExpectedContinuation)]);
        }
    }
});

// §5.4: an empty new data frame while a message is open still fails.
both_roles!(empty_new_message_while_message_open, |role| {
    let input = cat(&[binary_frame(role, false, b""), text_frame(role, true, b"")]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(ExpectedContinuation)]);
});

// §5.4: the intruding frame fails the connection after a control frame too
// (the control frame does not end the message).
both_roles!(new_message_after_ping_inside_message, |role| {
    let input = cat(&[
        text_frame(role, false, b"a"),
        ping_frame(role, b""),
        text_frame(role, true, b"b"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            text_part("a", false),
            Ev::Ping(vec![]),
            failed(ExpectedContinuation)
        ]
    );
});

// ---- §5.4, §5.5: fragmented control frames ----

// §5.5 "Control frames themselves MUST NOT be fragmented" (Autobahn 5.1): a
// Ping without FIN, then a continuation.
both_roles!(fragmented_ping_fails, |role| {
    let input = cat(&[
        raw_frame_to(role, 0x09, b"fragment1"),
        cont_frame(role, true, b"fragment2"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(FragmentedControlFrame)]);
    assert_eq!(out.sent, vec![failure_close(FragmentedControlFrame)]);
    assert!(out.shutdown);
});

// §5.5 (Autobahn 5.2): a Pong without FIN.
both_roles!(fragmented_pong_fails, |role| {
    let input = cat(&[
        raw_frame_to(role, 0x0a, b"fragment1"),
        cont_frame(role, true, b"fragment2"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(FragmentedControlFrame)]);
    assert_eq!(out.sent, vec![failure_close(FragmentedControlFrame)]);
});

// §5.5: a Close without FIN.
both_roles!(fragmented_close_fails, |role| {
    let body = 1000u16.to_be_bytes();
    let out = feed(role, &raw_frame_to(role, 0x08, &body));
    assert_eq!(out.events, vec![failed(FragmentedControlFrame)]);
    assert_eq!(out.sent, vec![failure_close(FragmentedControlFrame)]);
});

// §5.5: an empty control frame without FIN fails as well.
both_roles!(empty_control_frame_without_fin_fails, |role| {
    for op in [0x08u8, 0x09, 0x0a] {
        let out = feed(role, &raw_frame_to(role, op, b""));
        assert_eq!(
            out.events,
            vec![failed(FragmentedControlFrame)],
            "opcode {op}"
        );
    }
});

// §5.4, §5.5: a fragmented Ping in the middle of a fragmented message fails
// after the data before it.
both_roles!(fragmented_ping_inside_fragmented_message, |role| {
    let input = cat(&[
        text_frame(role, false, b"data"),
        raw_frame_to(role, 0x09, b"p"),
        cont_frame(role, true, b"more"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text_part("data", false), failed(FragmentedControlFrame)]
    );
    assert_eq!(out.sent, vec![failure_close(FragmentedControlFrame)]);
});

// ---- §5.4 with §5.6/§8.1: UTF-8 across fragments ----

// §5.6 "a particular text frame might include a partial UTF-8 sequence"
// (Autobahn 6.2.2): a text message cut into two fragments at every byte.
both_roles!(utf8_split_into_two_fragments_at_every_byte, |role| {
    let message = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞 €";
    let bytes = message.as_bytes();
    for at in 0..=bytes.len() {
        let input = fragmented(role, MessageKind::Text, &[&bytes[..at], &bytes[at..]]);
        let out = feed(role, &input);
        assert_eq!(out.events, vec![text(message)], "cut at {at}");
        assert!(out.sent.is_empty());
    }
});

// §5.6 (Autobahn 6.2.3/6.2.4): every byte of a multi-byte text its own
// fragment.
both_roles!(utf8_one_byte_per_fragment, |role| {
    let message = "κόσμε𝄞€ß";
    let parts: Vec<&[u8]> = message.as_bytes().chunks(1).collect();
    let input = fragmented(role, MessageKind::Text, &parts);
    assert_eq!(feed(role, &input).events, vec![text(message)]);
});

// §5.4, §5.6: a code point split between fragments with a Ping between the
// halves; each text chunk is whole code points, in order around the Ping.
both_roles!(utf8_split_with_ping_between_halves, |role| {
    let message = "aκό𝄞€z";
    let bytes = message.as_bytes();
    for at in 0..=bytes.len() {
        let input = cat(&[
            text_frame(role, false, &bytes[..at]),
            ping_frame(role, b"mid"),
            cont_frame(role, true, &bytes[at..]),
        ]);
        let out = feed(role, &input);
        assert_eq!(
            out.events,
            expected_split_with_ping(message, at, b"mid"),
            "cut at {at}"
        );
        assert_eq!(out.sent, vec![(0x8a, b"mid".to_vec())]);
    }
});

// §8.1 (Autobahn 6.4.1): invalid UTF-8 in the second fragment fails at once
// with 1007, after the valid first fragment; the third is never processed.
both_roles!(invalid_utf8_in_a_later_fragment_fails_fast, |role| {
    let input = cat(&[
        text_frame(role, false, "κόσμε".as_bytes()),
        cont_frame(role, false, b"\xf4\x90\x80\x80"),
        cont_frame(role, true, b"edited"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text_part("κόσμε", false), failed(InvalidUtf8)]
    );
    assert_eq!(out.sent, vec![failure_close(InvalidUtf8)]);
    assert_eq!(&out.sent[0].1[..2], &1007u16.to_be_bytes());
});

// §5.6 "the whole message MUST contain valid UTF-8": a message whose last
// (empty) fragment leaves a code point unfinished fails with 1007.
both_roles!(message_ending_inside_a_code_point_fails, |role| {
    let input = cat(&[
        text_frame(role, false, b"a\xce"),
        cont_frame(role, true, b""),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![text_part("a", false), failed(InvalidUtf8)]);
    assert_eq!(out.sent, vec![failure_close(InvalidUtf8)]);
});

// §5.6: binary fragments are never checked as UTF-8.
both_roles!(binary_fragments_are_not_utf8_checked, |role| {
    let input = fragmented(
        role,
        MessageKind::Binary,
        &[b"\xce", b"\xff\xfe", b"\xf4\x90"],
    );
    let out = feed(role, &input);
    assert_eq!(out.events, vec![binary(b"\xce\xff\xfe\xf4\x90")]);
});

// ---- §10.4: limits across fragments ----

// §10.4 "limits on ... total message size after reassembly from multiple
// frames": the sum of the fragments is checked at each header (1009).
both_roles!(message_size_limit_counts_all_fragments, |role| {
    let mut config = Config::default();
    config.max_message_size = 10;
    let input = cat(&[
        binary_frame(role, false, &[1; 6]),
        cont_frame(role, false, &[2; 4]),
        cont_frame(role, true, &[3; 1]),
    ]);
    let out = feed_open(role, config.clone(), &input);
    let mut first = vec![1; 6];
    first.extend_from_slice(&[2; 4]);
    assert_eq!(
        out.events,
        vec![binary_part(&first, false), failed(MessageTooLarge)]
    );
    assert_eq!(out.sent, vec![failure_close(MessageTooLarge)]);
    assert_eq!(&out.sent[0].1[..2], &1009u16.to_be_bytes());
    // Exactly at the limit is fine, and the count restarts per message.
    let input = cat(&[
        fragmented(role, MessageKind::Binary, &[&[1; 6], &[2; 4]]),
        fragmented(role, MessageKind::Binary, &[&[3; 5], &[4; 5]]),
    ]);
    let out = feed_open(role, config, &input);
    assert_eq!(out.events.len(), 2);
    assert!(out.sent.is_empty());
});

// ---- §5.4: sending fragmented messages ----

// §5.4: a text message sent in two fragments: opcode 1 without FIN, then
// opcode 0 with FIN.
both_roles!(send_text_in_two_fragments, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"Hel", false).unwrap();
    conn.send(MessageKind::Text, b"lo", true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x01, b"Hel".to_vec()), (0x80, b"lo".to_vec())]
    );
});

// §5.4 EXAMPLE: three fragments: 0x2, 0x0, 0x0|FIN.
both_roles!(send_binary_in_three_fragments, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Binary, &[1], false).unwrap();
    conn.send(MessageKind::Binary, &[2, 2], false).unwrap();
    conn.send(MessageKind::Binary, &[3, 3, 3], true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x02, vec![1]), (0x00, vec![2, 2]), (0x80, vec![3, 3, 3])]
    );
});

// §5.4: empty fragments may be sent anywhere in a message.
both_roles!(send_empty_fragments, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"", false).unwrap();
    conn.send(MessageKind::Text, b"x", false).unwrap();
    conn.send(MessageKind::Text, b"", true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x01, vec![]), (0x00, b"x".to_vec()), (0x80, vec![])]
    );
});

// §5.4 "all fragments of a message are of the same type": a fragment of the
// other kind is refused and changes nothing; the message can still finish.
both_roles!(send_kind_mismatch_mid_message_is_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"a", false).unwrap();
    let before = sent(&mut conn);
    assert_eq!(
        conn.send(MessageKind::Binary, b"b", false),
        Err(UsageError::MessageInProgress)
    );
    assert_eq!(
        conn.send(MessageKind::Binary, b"b", true),
        Err(UsageError::MessageInProgress)
    );
    assert_eq!(conn.send_binary(b"b"), Err(UsageError::MessageInProgress));
    assert_eq!(conn.buffered_output(), 0);
    conn.send(MessageKind::Text, b"c", true).unwrap();
    assert_eq!(before, vec![(0x01, b"a".to_vec())]);
    assert_eq!(sent(&mut conn), vec![(0x80, b"c".to_vec())]);
    assert_eq!(conn.state(), State::Open);
});

// §5.4 "The fragments of one message MUST NOT be interleaved": starting a
// new whole message of the same kind while one is open is refused
// (UsageError::MessageInProgress: "A new message started while a fragmented
// one is unfinished"), not sent as the open message's last fragment.
both_roles!(send_new_whole_message_mid_message_is_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"first", false).unwrap();
    assert_eq!(conn.send_text("second"), Err(UsageError::MessageInProgress));
    assert_eq!(sent(&mut conn), vec![(0x01, b"first".to_vec())]);

    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Binary, b"first", false).unwrap();
    assert_eq!(
        conn.send_binary(b"second"),
        Err(UsageError::MessageInProgress)
    );
    assert_eq!(sent(&mut conn), vec![(0x02, b"first".to_vec())]);
});

// §5.4: once a fragmented message is finished the next message starts with
// its own opcode again.
both_roles!(send_after_fragmented_message_uses_fresh_opcode, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"a", false).unwrap();
    conn.send(MessageKind::Text, b"b", true).unwrap();
    conn.send(MessageKind::Binary, b"c", false).unwrap();
    conn.send(MessageKind::Binary, b"d", true).unwrap();
    conn.send_text("e").unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![
            (0x01, b"a".to_vec()),
            (0x80, b"b".to_vec()),
            (0x02, b"c".to_vec()),
            (0x80, b"d".to_vec()),
            (0x81, b"e".to_vec()),
        ]
    );
});

// §5.4 "Control frames MAY be injected in the middle of a fragmented
// message": our own Ping and Pong between our fragments.
both_roles!(send_control_frames_between_own_fragments, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Binary, b"one", false).unwrap();
    conn.ping(b"p").unwrap();
    conn.send(MessageKind::Binary, b"two", false).unwrap();
    conn.pong(b"q").unwrap();
    conn.send(MessageKind::Binary, b"three", true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![
            (0x02, b"one".to_vec()),
            (0x89, b"p".to_vec()),
            (0x00, b"two".to_vec()),
            (0x8a, b"q".to_vec()),
            (0x80, b"three".to_vec()),
        ]
    );
});

// §5.4, §5.5.2: a Ping received while our own message is half sent is
// answered between our fragments.
both_roles!(auto_pong_between_own_fragments, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"a", false).unwrap();
    let events = feed_chunks(&mut conn, &ping_frame(role, b"hi"), 100);
    assert_eq!(events, vec![Ev::Ping(b"hi".to_vec())]);
    assert_eq!(
        sent(&mut conn),
        vec![(0x01, b"a".to_vec()), (0x8a, b"hi".to_vec())]
    );
    conn.send(MessageKind::Text, b"b", true).unwrap();
    assert_eq!(sent(&mut conn), vec![(0x80, b"b".to_vec())]);
});

// §5.4, §5.5.1 "MUST NOT send any more data frames after sending a Close
// frame": a Close sent in the middle of our own message ends it; the rest
// is refused.
both_roles!(send_close_in_middle_of_own_message, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"part", false).unwrap();
    conn.close(hybi::CloseCode::GOING_AWAY, "").unwrap();
    assert_eq!(
        conn.send(MessageKind::Text, b"rest", true),
        Err(UsageError::NotOpen)
    );
    assert_eq!(
        sent(&mut conn),
        vec![
            (0x01, b"part".to_vec()),
            (0x88, 1001u16.to_be_bytes().to_vec())
        ]
    );
    assert_eq!(conn.state(), State::Closing);
});

// §5.6: sent text fragments may split a code point; the message as a whole
// must be UTF-8, so FIN inside a code point is refused and changes nothing.
both_roles!(send_text_fragments_split_inside_code_point, |role| {
    let mut conn = open(role, Config::default());
    let euro = "€".as_bytes();
    conn.send(MessageKind::Text, &euro[..1], false).unwrap();
    conn.send(MessageKind::Text, &euro[1..2], false).unwrap();
    // Ending the message with the code point unfinished is refused.
    assert_eq!(
        conn.send(MessageKind::Text, b"", true),
        Err(UsageError::InvalidUtf8)
    );
    // A byte that cannot continue it is refused.
    assert_eq!(
        conn.send(MessageKind::Text, b"A", true),
        Err(UsageError::InvalidUtf8)
    );
    conn.send(MessageKind::Text, &euro[2..], true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![
            (0x01, euro[..1].to_vec()),
            (0x00, euro[1..2].to_vec()),
            (0x80, euro[2..].to_vec())
        ]
    );
});

// §5.6: invalid UTF-8 in a text fragment is refused and nothing is queued;
// the message stays open.
both_roles!(send_invalid_utf8_fragment_is_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Text, b"ok", false).unwrap();
    assert_eq!(
        conn.send(MessageKind::Text, b"\xff", false),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(
        conn.send(MessageKind::Text, b"\xc0\xaf", true),
        Err(UsageError::InvalidUtf8)
    );
    conn.send(MessageKind::Text, b"!", true).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x01, b"ok".to_vec()), (0x80, b"!".to_vec())]
    );
});

// §5.3: every fragment a client sends is masked with its own key; a server
// never masks.
both_roles!(sent_fragments_are_masked_by_role, |role| {
    let mut conn = open(role, Config::default());
    conn.send(MessageKind::Binary, &[9; 8], false).unwrap();
    conn.send(MessageKind::Binary, &[9; 8], true).unwrap();
    let (bytes, _) = take_output(&mut conn);
    match role {
        Role::Client => {
            assert_eq!(bytes.len(), 2 * (2 + 4 + 8));
            assert_eq!(bytes[1], 0x80 | 8);
            assert_eq!(bytes[15], 0x80 | 8);
            assert_ne!(bytes[2..6], bytes[16..20], "a fresh key per fragment");
        }
        Role::Server => {
            assert_eq!(bytes.len(), 2 * (2 + 8));
            assert_eq!(bytes[1], 8);
            assert_eq!(bytes[11], 8);
        }
    }
    assert_eq!(
        decode_frames(&bytes),
        vec![(0x02, vec![9; 8]), (0x80, vec![9; 8])]
    );
});

// ---- §5.4 round trips through a client/server pair ----

// §5.4 "Message fragments MUST be delivered to the recipient in the order
// sent": a client's fragmented text (split inside code points), with a Ping
// between fragments, arrives whole at a server, which answers the Ping.
#[test]
fn round_trip_fragmented_text_client_to_server() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    let message = "κόσμε-€-𝄞";
    let bytes = message.as_bytes();
    client.send(MessageKind::Text, &bytes[..1], false).unwrap();
    client.send(MessageKind::Text, &bytes[1..5], false).unwrap();
    client.ping(b"between").unwrap();
    client.send(MessageKind::Text, &bytes[5..], true).unwrap();
    let (wire, _) = take_output(&mut client);
    let events = merge(feed_chunks(&mut server, &wire, 5));
    let prefix = "κό".len();
    assert_eq!(
        events,
        vec![
            part(MessageKind::Text, &bytes[..prefix], false),
            Ev::Ping(b"between".to_vec()),
            part(MessageKind::Text, &bytes[prefix..], true),
        ]
    );
    let (reply, _) = take_output(&mut server);
    let events = merge(feed_chunks(&mut client, &reply, reply.len()));
    assert_eq!(events, vec![Ev::Pong(b"between".to_vec())]);
}

// §5.4: a server's fragmented binary message arrives whole at a client,
// whatever the read size.
#[test]
fn round_trip_fragmented_binary_server_to_client() {
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 256) as u8).collect();
    for read in [1usize, 7, 100, 4096] {
        let mut client = open_client(Config::default());
        let mut server = open_server(Config::default());
        for (i, chunk) in payload.chunks(128).enumerate() {
            let fin = (i + 1) * 128 >= payload.len();
            server.send(MessageKind::Binary, chunk, fin).unwrap();
        }
        let (wire, _) = take_output(&mut server);
        assert_eq!(decode_frames(&wire).len(), 8);
        let events = merge(feed_chunks(&mut client, &wire, read));
        assert_eq!(events, vec![binary(&payload)], "read size {read}");
    }
}
