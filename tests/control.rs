//! RFC 6455 §5.5, §5.5.2, §5.5.3: control frames, Ping and Pong, in both
//! roles. The received cases follow the Autobahn TestSuite's section 2
//! (pings and pongs) and the control-frame parts of sections 5 and 7.

mod common;
use common::*;
use hybi::{
    ClientRequest, CloseCode, Config, Connection, MessageKind, ProtocolError, ProtocolError::*,
    Role, State, Transmit, UsageError,
};

// ---- local helpers ----

/// The Close frame a connection sends when it fails with `error`.
fn failure_close(error: ProtocolError) -> (u8, Vec<u8>) {
    let mut body = error.close_code().0.to_be_bytes().to_vec();
    body.extend_from_slice(error.as_str().as_bytes());
    (0x88, body)
}

fn close_body(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

fn no_auto_pong() -> Config {
    let mut config = Config::default();
    config.auto_pong = false;
    config
}

/// A payload of `n` bytes covering many byte values.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 37 + 5) as u8).collect()
}

// ---- §5.5.2 / §5.5.3: Ping received, Pong sent ----

// §5.5.2 (Autobahn 2.1): a Ping without payload gets a Pong without payload.
both_roles!(ping_without_payload, |role| {
    let out = feed(role, &ping_frame(role, b""));
    assert_eq!(out.events, vec![Ev::Ping(vec![])]);
    assert_eq!(out.sent, vec![(0x8a, vec![])]);
    assert!(!out.shutdown);
});

// §5.5.3 "identical Application data" (Autobahn 2.2): a small text payload.
both_roles!(ping_with_small_text_payload, |role| {
    let out = feed(role, &ping_frame(role, b"Hello, world!"));
    assert_eq!(out.events, vec![Ev::Ping(b"Hello, world!".to_vec())]);
    assert_eq!(out.sent, vec![(0x8a, b"Hello, world!".to_vec())]);
});

// §5.5.3 (Autobahn 2.3): a binary payload, echoed byte for byte.
both_roles!(ping_with_binary_payload, |role| {
    let data = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    let out = feed(role, &ping_frame(role, &data));
    assert_eq!(out.events, vec![Ev::Ping(data.to_vec())]);
    assert_eq!(out.sent, vec![(0x8a, data.to_vec())]);
});

// §5.5 "payload length of 125 bytes or less" (Autobahn 2.4): 125 is fine.
both_roles!(ping_with_125_byte_payload, |role| {
    let data = vec![0xfe; 125];
    let out = feed(role, &ping_frame(role, &data));
    assert_eq!(out.events, vec![Ev::Ping(data.clone())]);
    assert_eq!(out.sent, vec![(0x8a, data)]);
});

// §5.5 (Autobahn 2.5): a 126-byte Ping fails the connection with 1002; the
// frames after it are never processed.
both_roles!(ping_with_126_byte_payload_fails, |role| {
    let input = cat(&[
        ping_frame(role, &[0xfe; 126]),
        text_frame(role, true, b"after"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(ControlFrameTooLong)]);
    assert_eq!(out.sent, vec![failure_close(ControlFrameTooLong)]);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(out.shutdown);
});

// §5.5: a Ping whose 64-bit length says 65536 fails at its header.
both_roles!(ping_with_64_bit_length_fails, |role| {
    let mut input = vec![0x89, 127, 0, 0, 0, 0, 0, 1, 0, 0];
    if role == Role::Server {
        input[1] |= 0x80;
        input.extend_from_slice(&[1, 2, 3, 4]);
    }
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(ControlFrameTooLong)]);
    assert_eq!(out.sent, vec![failure_close(ControlFrameTooLong)]);
});

// §5.5: a Pong over 125 bytes fails the same way.
both_roles!(pong_with_126_byte_payload_fails, |role| {
    let out = feed(role, &pong_frame(role, &[0x20; 126]));
    assert_eq!(out.events, vec![failed(ControlFrameTooLong)]);
    assert_eq!(out.sent, vec![failure_close(ControlFrameTooLong)]);
});

// §5.5 "MUST NOT be fragmented": a Ping without FIN fails (1002).
both_roles!(ping_without_fin_fails, |role| {
    let out = feed(role, &raw_frame_to(role, 0x09, b"ping"));
    assert_eq!(out.events, vec![failed(FragmentedControlFrame)]);
    assert_eq!(out.sent, vec![failure_close(FragmentedControlFrame)]);
});

// §5.5.3: the auto Pong carries the Ping's payload for every length from 0
// to 125.
both_roles!(auto_pong_echoes_every_payload_length, |role| {
    for n in 0..=125 {
        let data = payload(n);
        let mut conn = open(role, Config::default());
        let events = feed_chunks(&mut conn, &ping_frame(role, &data), 1000);
        assert_eq!(events, vec![Ev::Ping(data.clone())], "length {n}");
        assert_eq!(sent(&mut conn), vec![(0x8a, data)], "length {n}");
    }
});

// §5.3, §5.5.3: the client's Pong is masked, the server's is not; both are
// minimal single frames with FIN set.
both_roles!(auto_pong_wire_format, |role| {
    let data = payload(125);
    let mut conn = open(role, Config::default());
    let _ = feed_chunks(&mut conn, &ping_frame(role, &data), 1000);
    let (bytes, shutdown) = take_output(&mut conn);
    assert!(!shutdown);
    assert_eq!(bytes[0], 0x8a);
    match role {
        Role::Client => {
            assert_eq!(bytes[1], 0x80 | 125);
            assert_eq!(bytes.len(), 2 + 4 + 125);
        }
        Role::Server => {
            assert_eq!(bytes[1], 125);
            assert_eq!(bytes.len(), 2 + 125);
            assert_eq!(&bytes[2..], &data[..]);
        }
    }
    assert_eq!(decode_frames(&bytes), vec![(0x8a, data)]);
});

// §5.5.2, §5.5.3: a Pong is sent once; polling again gives nothing more.
both_roles!(auto_pong_is_sent_once, |role| {
    let mut conn = open(role, Config::default());
    let _ = feed_chunks(&mut conn, &ping_frame(role, b"once"), 100);
    assert_eq!(sent(&mut conn), vec![(0x8a, b"once".to_vec())]);
    assert_eq!(take_output(&mut conn), (vec![], false));
    assert!(conn.poll_transmit().is_none());
});

// §5.5.2 (Autobahn 2.6): a 125-byte Ping cut into two reads at every
// position (and one byte at a time, by `feed_open`) gives the same Pong.
both_roles!(ping_125_bytes_split_at_every_position, |role| {
    let data = payload(125);
    let out = feed_split_everywhere(role, Config::default(), &ping_frame(role, &data));
    assert_eq!(out.events, vec![Ev::Ping(data.clone())]);
    assert_eq!(out.sent, vec![(0x8a, data)]);
});

// §5.5.3: a Pong cut at every position.
both_roles!(pong_split_at_every_position, |role| {
    let data = payload(40);
    let out = feed_split_everywhere(role, Config::default(), &pong_frame(role, &data));
    assert_eq!(out.events, vec![Ev::Pong(data)]);
    assert!(out.sent.is_empty());
});

// §5.5, §5.4: control frames between data frames, the whole stream cut at
// every position.
both_roles!(control_frames_among_data_split_at_every_position, |role| {
    let input = cat(&[
        text_frame(role, false, "κό".as_bytes()),
        ping_frame(role, b"ping-1"),
        pong_frame(role, b""),
        cont_frame(role, true, "σμε".as_bytes()),
        ping_frame(role, b"ping-2"),
    ]);
    let out = feed_split_everywhere(role, Config::default(), &input);
    assert_eq!(
        out.events,
        vec![
            Ev::Data {
                kind: MessageKind::Text,
                payload: "κό".as_bytes().to_vec(),
                fin: false
            },
            Ev::Ping(b"ping-1".to_vec()),
            Ev::Pong(vec![]),
            Ev::Data {
                kind: MessageKind::Text,
                payload: "σμε".as_bytes().to_vec(),
                fin: true
            },
            Ev::Ping(b"ping-2".to_vec()),
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"ping-2".to_vec())]);
});

// ---- §5.5.3: several Pings before the output is polled ----

// §5.5.3 "MAY elect to send a Pong frame for only the most recently
// processed Ping frame" (Autobahn 2.10): ten Pings in one read, all
// delivered, one Pong with the last payload.
both_roles!(ten_pings_in_one_read_one_pong_for_the_last, |role| {
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|i| ping_frame(role, format!("payload-{i}").as_bytes()))
        .collect();
    let out = feed(role, &cat(&frames));
    let expected: Vec<Ev> = (0..10)
        .map(|i| Ev::Ping(format!("payload-{i}").into_bytes()))
        .collect();
    assert_eq!(out.events, expected);
    assert_eq!(out.sent, vec![(0x8a, b"payload-9".to_vec())]);
});

// §5.5.2 (Autobahn 2.11 with the output written between reads): one Pong
// per Ping, in order.
both_roles!(ten_pings_polled_between_reads_ten_pongs, |role| {
    let mut conn = open(role, Config::default());
    let mut out = Vec::new();
    for i in 0..10 {
        let data = format!("payload-{i}").into_bytes();
        let events = feed_chunks(&mut conn, &ping_frame(role, &data), 1);
        assert_eq!(events, vec![Ev::Ping(data)]);
        out.extend(sent(&mut conn));
    }
    let expected: Vec<(u8, Vec<u8>)> = (0..10)
        .map(|i| (0x8a, format!("payload-{i}").into_bytes()))
        .collect();
    assert_eq!(out, expected);
});

// §5.5.3: the Pong owed is replaced by a later Ping even when the later
// payload is shorter (no bytes of the older payload leak into it).
both_roles!(later_shorter_ping_replaces_owed_pong, |role| {
    let input = cat(&[
        ping_frame(role, &[0xaa; 125]),
        ping_frame(role, b"s"),
        ping_frame(role, b""),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events.len(), 3);
    assert_eq!(out.sent, vec![(0x8a, vec![])]);
});

// §5.5.3, §10: a flood of 10,000 Pings read without polling: the output
// stays bounded (nothing is queued until polled, then one Pong).
both_roles!(ping_flood_keeps_output_bounded, |role| {
    let frames: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| ping_frame(role, &i.to_be_bytes()))
        .collect();
    let input = cat(&frames);
    let mut conn = open(role, Config::default());
    let events = feed_chunks(&mut conn, &input, input.len());
    assert_eq!(events.len(), 10_000);
    assert_eq!(events[9_999], Ev::Ping(9_999u32.to_be_bytes().to_vec()));
    assert_eq!(conn.buffered_output(), 0);
    let (bytes, _) = take_output(&mut conn);
    let pong_len = if role == Role::Client {
        2 + 4 + 4
    } else {
        2 + 4
    };
    assert_eq!(bytes.len(), pong_len);
    assert_eq!(
        decode_frames(&bytes),
        vec![(0x8a, 9_999u32.to_be_bytes().to_vec())]
    );
    // The same through every chunking of `feed_all_ways`.
    let out = feed(role, &input);
    assert_eq!(out.sent, vec![(0x8a, 9_999u32.to_be_bytes().to_vec())]);
});

// §5.5.2, §10: a Pong owed while the output is full waits for room instead
// of growing past `max_buffered_output`, and is sent once the bytes ahead
// of it are written.
both_roles!(owed_pong_waits_for_room_in_full_output, |role| {
    let frame_len = if role == Role::Client {
        2 + 4 + 4
    } else {
        2 + 4
    };
    let mut config = Config::default();
    config.max_buffered_output = frame_len;
    let mut conn = open(role, config);
    conn.send_binary(&[1, 2, 3, 4]).unwrap();
    let events = feed_chunks(&mut conn, &ping_frame(role, b"p"), 100);
    assert_eq!(events, vec![Ev::Ping(b"p".to_vec())]);
    let first = match conn.poll_transmit() {
        Some(Transmit::Bytes(b)) => b.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first.len(), frame_len, "only the binary frame fits");
    assert_eq!(decode_frames(&first), vec![(0x82, vec![1, 2, 3, 4])]);
    assert_eq!(conn.buffered_output(), frame_len);
    conn.transmitted(first.len());
    assert_eq!(sent(&mut conn), vec![(0x8a, b"p".to_vec())]);
});

// ---- §5.5.3: Pongs received ----

// §5.5.3 "A Pong frame MAY be sent unsolicited" (Autobahn 2.7): accepted,
// delivered, not answered.
both_roles!(unsolicited_pong_without_payload, |role| {
    let out = feed(role, &pong_frame(role, b""));
    assert_eq!(out.events, vec![Ev::Pong(vec![])]);
    assert!(out.sent.is_empty());
    assert!(!out.shutdown);
});

// §5.5.3 (Autobahn 2.8): an unsolicited Pong with a 125-byte payload.
both_roles!(unsolicited_pong_with_payload, |role| {
    let data = payload(125);
    let out = feed(role, &pong_frame(role, &data));
    assert_eq!(out.events, vec![Ev::Pong(data)]);
    assert!(out.sent.is_empty());
});

// §5.5.3 (Autobahn 2.9): an unsolicited Pong, then a Ping: only the Ping is
// answered, with its own payload.
both_roles!(unsolicited_pong_then_ping, |role| {
    let input = cat(&[
        pong_frame(role, b"unsolicited pong payload"),
        ping_frame(role, b"ping payload"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            Ev::Pong(b"unsolicited pong payload".to_vec()),
            Ev::Ping(b"ping payload".to_vec())
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"ping payload".to_vec())]);
});

// §5.5.3: a Pong answering our own Ping is delivered with its payload.
both_roles!(pong_answering_our_ping_is_delivered, |role| {
    let mut conn = open(role, Config::default());
    conn.ping(b"are you there").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x89, b"are you there".to_vec())]);
    let events = feed_chunks(&mut conn, &pong_frame(role, b"are you there"), 3);
    assert_eq!(events, vec![Ev::Pong(b"are you there".to_vec())]);
    assert!(sent(&mut conn).is_empty());
});

// ---- Config::auto_pong = false ----

// §5.5.2 with `auto_pong` off: the Ping is delivered, nothing is sent.
both_roles!(auto_pong_off_sends_nothing, |role| {
    let out = feed_open(role, no_auto_pong(), &ping_frame(role, b"manual"));
    assert_eq!(out.events, vec![Ev::Ping(b"manual".to_vec())]);
    assert!(out.sent.is_empty());
});

// §5.5.2 with `auto_pong` off: the application answers with `pong`.
both_roles!(auto_pong_off_application_replies, |role| {
    let mut conn = open(role, no_auto_pong());
    let events = feed_chunks(&mut conn, &ping_frame(role, b"manual"), 100);
    assert_eq!(events, vec![Ev::Ping(b"manual".to_vec())]);
    assert!(sent(&mut conn).is_empty());
    conn.pong(b"manual").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x8a, b"manual".to_vec())]);
});

// `auto_pong` off: a flood of Pings produces no output at all.
both_roles!(auto_pong_off_ping_flood_sends_nothing, |role| {
    let frames: Vec<Vec<u8>> = (0..100u8).map(|i| ping_frame(role, &[i])).collect();
    let out = feed_open(role, no_auto_pong(), &cat(&frames));
    assert_eq!(out.events.len(), 100);
    assert!(out.sent.is_empty());
});

// ---- sending Ping and Pong (§5.5, §5.5.2, §5.5.3) ----

// §5.5.2 "An endpoint MAY send a Ping frame any time after the connection
// is established": `ping` queues one Ping frame; payloads up to 125 bytes.
both_roles!(ping_api_sends_ping, |role| {
    let mut conn = open(role, Config::default());
    conn.ping(b"").unwrap();
    conn.ping(&payload(125)).unwrap();
    assert_eq!(sent(&mut conn), vec![(0x89, vec![]), (0x89, payload(125))]);
});

// §5.5.3 "A Pong frame MAY be sent unsolicited": `pong` queues one Pong.
both_roles!(pong_api_sends_unsolicited_pong, |role| {
    let mut conn = open(role, Config::default());
    conn.pong(b"heartbeat").unwrap();
    conn.pong(&payload(125)).unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x8a, b"heartbeat".to_vec()), (0x8a, payload(125))]
    );
});

// §5.5: `ping` and `pong` over 125 bytes are refused and queue nothing.
both_roles!(control_payload_over_125_refused, |role| {
    let mut conn = open(role, Config::default());
    assert_eq!(conn.ping(&[0; 126]), Err(UsageError::ControlPayloadTooLong));
    assert_eq!(conn.pong(&[0; 126]), Err(UsageError::ControlPayloadTooLong));
    assert_eq!(
        conn.ping(&[0; 1000]),
        Err(UsageError::ControlPayloadTooLong)
    );
    assert_eq!(conn.buffered_output(), 0);
    assert_eq!(take_output(&mut conn), (vec![], false));
    assert_eq!(conn.state(), State::Open);
    conn.ping(b"still open").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x89, b"still open".to_vec())]);
});

// §5.5.2 "after the connection is established": no Ping before the
// handshake completes.
#[test]
fn ping_before_handshake_is_refused() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    assert_eq!(server.ping(b"x"), Err(UsageError::NotOpen));
    assert_eq!(server.pong(b"x"), Err(UsageError::NotOpen));
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(
        Config::default(),
        request,
        CountingEntropy(0),
        hybi::Instant::ZERO,
    )
    .unwrap();
    assert_eq!(client.ping(b"x"), Err(UsageError::NotOpen));
    assert_eq!(client.pong(b"x"), Err(UsageError::NotOpen));
}

// §5.5.1: after our Close nothing more is sent: `ping` and `pong` are
// refused.
both_roles!(ping_and_pong_after_our_close_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(conn.ping(b"x"), Err(UsageError::NotOpen));
    assert_eq!(conn.pong(b"x"), Err(UsageError::NotOpen));
    assert_eq!(sent(&mut conn), vec![(0x88, close_body(1000))]);
});

// §5.5.2 "before the connection is closed": refused once Closed.
both_roles!(ping_after_closed_refused, |role| {
    let mut conn = open(role, Config::default());
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1000), b""), 100);
    assert_eq!(events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.ping(b"x"), Err(UsageError::NotOpen));
    assert_eq!(conn.pong(b"x"), Err(UsageError::NotOpen));
    assert_eq!(sent(&mut conn), vec![(0x88, close_body(1000))]);
});

// ---- Pings around the closing handshake (§5.5.1, §5.5.2) ----

// §5.5.1, §5.5.2: a Ping that arrives after we sent our Close is delivered,
// but nothing follows our Close, so no Pong.
both_roles!(no_pong_after_our_close, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "bye").unwrap();
    let _ = sent(&mut conn);
    let events = feed_chunks(&mut conn, &ping_frame(role, b"late"), 100);
    assert_eq!(events, vec![Ev::Ping(b"late".to_vec())]);
    assert_eq!(take_output(&mut conn).0, Vec::<u8>::new());
    assert_eq!(conn.state(), State::Closing);
});

// §5.5.2 "unless it already received a Close frame" (Autobahn 7.1.3): a
// Ping after the peer's Close is not processed and not answered.
both_roles!(no_pong_after_close_received, |role| {
    let input = cat(&[
        close_frame(role, Some(1000), b""),
        ping_frame(role, b"after close"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, close_body(1000))]);
});

// §5.5.2: the same with `auto_close_reply` off: the connection is Closing,
// the Ping is not processed, no Pong and no Close are sent.
both_roles!(no_pong_after_close_received_without_auto_reply, |role| {
    let mut config = Config::default();
    config.auto_close_reply = false;
    let input = cat(&[
        close_frame(role, Some(1001), b""),
        ping_frame(role, b"after close"),
    ]);
    let out = feed_open(role, config.clone(), &input);
    assert_eq!(out.events, vec![close(1001, "")]);
    assert!(out.sent.is_empty());
    let mut conn = open(role, config);
    let _ = feed_chunks(&mut conn, &input, input.len());
    assert_eq!(conn.state(), State::Closing);
});

// §5.5.2 "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
// in response, unless it already received a Close frame": a Ping read
// before the peer's Close (same read) is owed a Pong; it goes out before
// the Close reply, since nothing may follow a Close.
both_roles!(
    ping_then_close_in_one_read_pong_precedes_close_reply,
    |role| {
        let input = cat(&[
            ping_frame(role, b"before close"),
            close_frame(role, Some(1000), b""),
        ]);
        let out = feed(role, &input);
        assert_eq!(
            out.events,
            vec![
                Ev::Ping(b"before close".to_vec()),
                close(1000, ""),
                closed_clean(1000)
            ]
        );
        assert_eq!(
            out.sent,
            vec![(0x8a, b"before close".to_vec()), (0x88, close_body(1000))]
        );
    }
);

// §5.5.2: a Ping received while open is owed a Pong even if the application
// starts the closing handshake before the output is polled; the Pong goes
// out ahead of our Close.
both_roles!(
    ping_then_our_close_before_polling_pong_precedes_close,
    |role| {
        let mut conn = open(role, Config::default());
        let events = feed_chunks(&mut conn, &ping_frame(role, b"owed"), 100);
        assert_eq!(events, vec![Ev::Ping(b"owed".to_vec())]);
        conn.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![(0x8a, b"owed".to_vec()), (0x88, close_body(1000))]
        );
    }
);

// §5.4, §5.5.2: a Ping between fragments of the peer's message is answered
// while the message is still open.
both_roles!(ping_between_fragments_is_answered, |role| {
    let mut conn = open(role, Config::default());
    let input = cat(&[text_frame(role, false, b"first"), ping_frame(role, b"mid")]);
    let events = feed_chunks(&mut conn, &input, input.len());
    assert_eq!(
        events,
        vec![
            Ev::Data {
                kind: MessageKind::Text,
                payload: b"first".to_vec(),
                fin: false
            },
            Ev::Ping(b"mid".to_vec()),
        ]
    );
    assert_eq!(sent(&mut conn), vec![(0x8a, b"mid".to_vec())]);
    let events = feed_chunks(&mut conn, &cont_frame(role, true, b"last"), 100);
    assert_eq!(
        events,
        vec![Ev::Data {
            kind: MessageKind::Text,
            payload: b"last".to_vec(),
            fin: true
        }]
    );
});

// §5.5: Pings and Pongs mixed with data messages are delivered in order.
both_roles!(control_frames_in_order_with_data, |role| {
    let input = cat(&[
        ping_frame(role, b"1"),
        text_frame(role, true, b"a"),
        pong_frame(role, b"2"),
        binary_frame(role, true, b"b"),
        ping_frame(role, b"3"),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![
            Ev::Ping(b"1".to_vec()),
            text("a"),
            Ev::Pong(b"2".to_vec()),
            binary(b"b"),
            Ev::Ping(b"3".to_vec()),
        ]
    );
    assert_eq!(out.sent, vec![(0x8a, b"3".to_vec())]);
});

// §5.5: a control frame whose length is not minimally encoded (16-bit form
// for 5 bytes) is accepted by default, like data frames.
both_roles!(ping_with_non_minimal_length_accepted_by_default, |role| {
    let mut input = vec![0x89, 126, 0, 5];
    match role {
        Role::Server => {
            input[1] |= 0x80;
            input.extend_from_slice(&[0, 0, 0, 0]);
        }
        Role::Client => {}
    }
    input.extend_from_slice(b"hello");
    let out = feed(role, &input);
    assert_eq!(out.events, vec![Ev::Ping(b"hello".to_vec())]);
    assert_eq!(out.sent, vec![(0x8a, b"hello".to_vec())]);
});

// §7.1.7 "MUST NOT continue to attempt to process data": a Ping after a
// frame that fails the connection is never processed; only the failure's
// Close is sent.
both_roles!(ping_after_protocol_error_is_ignored, |role| {
    let input = cat(&[raw_frame_to(role, 0x83, b""), ping_frame(role, b"never")]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(ReservedOpcode)]);
    assert_eq!(out.sent, vec![failure_close(ReservedOpcode)]);
});
