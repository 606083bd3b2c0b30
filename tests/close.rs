//! RFC 6455 §5.5.1 and §7: the Close frame, the closing handshake, close
//! codes and reasons, and who shuts the transport, in both roles. The
//! received cases follow the Autobahn TestSuite's section 7.

mod common;
use common::*;
use hybi::{
    ClientRequest, CloseCode, Config, Connection, MessageKind, ProtocolError, ProtocolError::*,
    Role, State, UsageError,
};

// ---- local helpers ----

/// Every code that may appear in a Close frame (§7.4.1, §7.4.2, IANA).
const VALID_CODES: &[u16] = &[
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];

/// Codes that must never appear in a Close frame.
const INVALID_CODES: &[u16] = &[
    0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
];

/// The Close frame a connection sends when it fails with `error`.
fn failure_close(error: ProtocolError) -> (u8, Vec<u8>) {
    let mut body = error.close_code().0.to_be_bytes().to_vec();
    body.extend_from_slice(error.as_str().as_bytes());
    (0x88, body)
}

/// A Close frame body: the code in network order, then the reason.
fn body(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason);
    out
}

fn closed(code: u16, clean: bool, error: Option<ProtocolError>) -> Ev {
    Ev::Closed { code, clean, error }
}

fn close_empty() -> Ev {
    Ev::Close {
        code: None,
        reason: String::new(),
    }
}

fn no_auto_reply() -> Config {
    let mut config = Config::default();
    config.auto_close_reply = false;
    config
}

/// Whether `role` asks for the transport to be shut right after a clean
/// close (§7.1.1: the server at once, the client waits for the server).
fn shuts_after_clean_close(role: Role) -> bool {
    role == Role::Server
}

/// Moves everything `from` wants to write into `to` (in 3-byte reads), and
/// returns the events `to` gave (merged) and whether `from` asked to shut.
fn pump(from: &mut Connection, to: &mut Connection) -> (Vec<Ev>, bool) {
    let (bytes, shutdown) = take_output(from);
    let mut events = feed_chunks(to, &bytes, 3);
    events.extend(drain(to));
    (merge(events), shutdown)
}

// ---- §5.5.1, §7.1.5: receiving a Close ----

// §5.5.1, §7.1.5 "If this Close control frame contains no status code ...
// considered to be 1005" (Autobahn 7.3.1): an empty Close is answered with
// an empty Close and the connection closes cleanly with 1005.
both_roles!(close_with_empty_body, |role| {
    let out = feed(role, &close_frame(role, None, b""));
    assert_eq!(out.events, vec![close_empty(), closed_clean(1005)]);
    assert_eq!(out.sent, vec![(0x88, vec![])]);
    assert_eq!(out.shutdown, shuts_after_clean_close(role));
});

// §5.5.1 (Autobahn 7.3.3): a Close with only a code; the reply echoes it.
both_roles!(close_with_code_only, |role| {
    let out = feed(role, &close_frame(role, Some(1000), b""));
    assert_eq!(out.events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
    assert_eq!(out.shutdown, shuts_after_clean_close(role));
});

// §5.5.1, §7.1.6 (Autobahn 7.3.4): a code and a reason; the reason reaches
// the application, the reply "typically echos the status code".
both_roles!(close_with_code_and_reason, |role| {
    let out = feed(role, &close_frame(role, Some(1000), b"Hello World!"));
    assert_eq!(
        out.events,
        vec![close(1000, "Hello World!"), closed_clean(1000)]
    );
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
});

// §5.5 (Autobahn 7.3.5): a 123-byte reason makes a 125-byte body: accepted.
both_roles!(close_with_123_byte_reason, |role| {
    let ascii = "*".repeat(123);
    let out = feed(role, &close_frame(role, Some(1000), ascii.as_bytes()));
    assert_eq!(out.events, vec![close(1000, &ascii), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
    // 41 three-byte code points: 123 bytes of multi-byte text.
    let euros = "€".repeat(41);
    let out = feed(role, &close_frame(role, Some(3000), euros.as_bytes()));
    assert_eq!(out.events, vec![close(3000, &euros), closed_clean(3000)]);
});

// §5.5 (Autobahn 7.3.6): a 124-byte reason makes a 126-byte control frame:
// failed with 1002, no clean close.
both_roles!(close_with_124_byte_reason_fails, |role| {
    let out = feed(role, &close_frame(role, Some(1000), &[b'*'; 124]));
    assert_eq!(out.events, vec![failed(ControlFrameTooLong)]);
    assert_eq!(out.sent, vec![failure_close(ControlFrameTooLong)]);
    assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
    assert!(out.shutdown);
});

// §5.5.1 "If there is a body, the first two bytes of the body MUST be a
// 2-byte unsigned integer" (Autobahn 7.3.2): a one-byte body fails (1002).
both_roles!(close_with_one_byte_body_fails, |role| {
    for byte in [0x00u8, 0x03, 0xe8, 0xff] {
        let out = feed(role, &raw_frame_to(role, 0x88, &[byte]));
        assert_eq!(
            out.events,
            vec![failed(CloseBodyTooShort)],
            "body {byte:#x}"
        );
        assert_eq!(out.sent, vec![failure_close(CloseBodyTooShort)]);
        assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
        assert!(out.shutdown);
    }
});

// §7.4.1, §7.4.2 (Autobahn 7.7.x): every code valid on the wire is accepted
// and echoed, with and without a reason.
both_roles!(every_valid_code_is_accepted_and_echoed, |role| {
    for &code in VALID_CODES {
        for reason in ["", "reason"] {
            let out = feed(role, &close_frame(role, Some(code), reason.as_bytes()));
            assert_eq!(
                out.events,
                vec![close(code, reason), closed_clean(code)],
                "code {code}"
            );
            assert_eq!(out.sent, vec![(0x88, body(code, b""))], "code {code}");
            assert_eq!(out.shutdown, shuts_after_clean_close(role));
        }
    }
});

// §7.4.1 "MUST NOT be set as a status code in a Close control frame",
// §7.4.2 (Autobahn 7.9.x, 7.13.x): every invalid code fails with 1002.
both_roles!(every_invalid_code_fails, |role| {
    for &code in INVALID_CODES {
        for reason in ["", "reason"] {
            let out = feed(role, &close_frame(role, Some(code), reason.as_bytes()));
            assert_eq!(
                out.events,
                vec![failed(InvalidCloseCode(code))],
                "code {code}"
            );
            assert_eq!(
                out.sent,
                vec![failure_close(InvalidCloseCode(code))],
                "code {code}"
            );
            assert_eq!(&out.sent[0].1[..2], &1002u16.to_be_bytes());
            assert!(out.shutdown);
        }
    }
});

// §5.5.1 "UTF-8-encoded data", §8.1 (Autobahn 7.5.1): a reason that is not
// UTF-8 (here a surrogate) fails with 1007.
both_roles!(close_reason_invalid_utf8_fails_1007, |role| {
    let reason =
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64";
    let out = feed(role, &close_frame(role, Some(1000), reason));
    assert_eq!(out.events, vec![failed(InvalidCloseReason)]);
    assert_eq!(out.sent, vec![failure_close(InvalidCloseReason)]);
    assert_eq!(&out.sent[0].1[..2], &1007u16.to_be_bytes());
    assert!(out.shutdown);
});

// §8.1: a reason ending inside a code point is not UTF-8 either.
both_roles!(close_reason_truncated_code_point_fails, |role| {
    for reason in [&b"abc\xe2\x82"[..], b"\xce", b"\xf0\x9d\x84", b"\xff"] {
        let out = feed(role, &close_frame(role, Some(1001), reason));
        assert_eq!(out.events, vec![failed(InvalidCloseReason)], "{reason:?}");
        assert_eq!(out.sent, vec![failure_close(InvalidCloseReason)]);
    }
});

// §5.5.1: a multi-byte UTF-8 reason is delivered as text.
both_roles!(close_reason_multibyte_utf8_accepted, |role| {
    let reason = "κόσμε 𝄞 ok";
    let out = feed(role, &close_frame(role, Some(4000), reason.as_bytes()));
    assert_eq!(out.events, vec![close(4000, reason), closed_clean(4000)]);
    assert_eq!(out.sent, vec![(0x88, body(4000, b""))]);
});

// §5.5.1: a Close with a reason, cut into two reads at every position.
both_roles!(close_split_at_every_position, |role| {
    let reason = "x€".repeat(30);
    let out = feed_split_everywhere(
        role,
        Config::default(),
        &close_frame(role, Some(1001), reason.as_bytes()),
    );
    assert_eq!(out.events, vec![close(1001, &reason), closed_clean(1001)]);
    assert_eq!(out.sent, vec![(0x88, body(1001, b""))]);
});

// §5.5.1 (Autobahn 7.1.1): a message followed by a Close: the message is
// delivered, then the Close.
both_roles!(message_then_close, |role| {
    let input = cat(&[
        text_frame(role, true, b"Hello World"),
        close_frame(role, Some(1000), b""),
    ]);
    let out = feed(role, &input);
    assert_eq!(
        out.events,
        vec![text("Hello World"), close(1000, ""), closed_clean(1000)]
    );
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
});

// §7.1.1 "discarding any trailing bytes", §5.5.1 (Autobahn 7.1.4): data
// after the peer's Close is never delivered and gets no reply.
both_roles!(data_after_close_is_discarded, |role| {
    let input = cat(&[
        close_frame(role, Some(1000), b""),
        text_frame(role, true, b"after close"),
        binary_frame(role, true, b"more"),
        ping_frame(role, b"ping"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
});

// §5.5.1 (Autobahn 7.1.2): a second Close from the peer is ignored: one
// reply, one Closed.
both_roles!(second_close_is_ignored, |role| {
    let input = cat(&[
        close_frame(role, Some(1000), b""),
        close_frame(role, Some(1001), b"again"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
});

// §7.1.7: even a protocol violation after the peer's Close is not
// processed: the close stays clean.
both_roles!(invalid_frame_after_close_is_not_processed, |role| {
    let input = cat(&[
        close_frame(role, Some(1000), b""),
        raw_frame_to(role, 0x83, b"bad"),
    ]);
    let out = feed(role, &input);
    assert_eq!(out.events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(out.sent, vec![(0x88, body(1000, b""))]);
});

// §7.1.3, §7.1.4: the getters through a peer-initiated close.
both_roles!(peer_initiated_close_getters, |role| {
    let mut conn = open(role, Config::default());
    assert_eq!(conn.state(), State::Open);
    let input = close_frame(role, Some(1001), b"going");
    let mut buf = input.clone();
    let out = conn.handle_input(&mut buf, NOW);
    assert_eq!(out.consumed, input.len());
    assert!(matches!(
        out.event,
        Some(hybi::Event::Close {
            code: Some(CloseCode(1001)),
            reason: "going"
        })
    ));
    assert_eq!(conn.close_received(), Some(CloseCode(1001)));
    assert_eq!(conn.close_sent(), Some(CloseCode(1001)));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(drain(&mut conn), vec![closed_clean(1001)]);
    assert_eq!(conn.error(), None);
});

// ---- §7.1.2: starting the closing handshake ----

// §7.1.2, §7.1.3: we send a Close (state Closing), the peer answers with its
// own code: Closed, clean, with the peer's code (§7.1.5).
both_roles!(we_initiate_then_peer_replies, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.close_sent(), Some(CloseCode::NORMAL));
    assert_eq!(conn.close_received(), None);
    let (bytes, shutdown) = take_output(&mut conn);
    assert_eq!(decode_frames(&bytes), vec![(0x88, body(1000, b"bye"))]);
    assert!(!shutdown, "no shutdown before the reply");
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1001), b"ok"), 100);
    assert_eq!(
        merge([events, drain(&mut conn)].concat()),
        vec![close(1001, "ok"), closed_clean(1001)]
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.close_received(), Some(CloseCode(1001)));
    // No second Close; the server shuts at once, the client waits (§7.1.1).
    assert_eq!(
        take_output(&mut conn),
        (vec![], shuts_after_clean_close(role))
    );
});

// §7.1.5: our Close answered with an empty Close gives 1005.
both_roles!(we_initiate_peer_replies_empty, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode(3001), "").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x88, body(3001, b""))]);
    let mut events = feed_chunks(&mut conn, &close_frame(role, None, b""), 100);
    events.extend(drain(&mut conn));
    assert_eq!(events, vec![close_empty(), closed_clean(1005)]);
    assert!(sent(&mut conn).is_empty());
});

// §5.5.1, §5.3: the Close we send: FIN, opcode 8, code in network order,
// then the reason; masked by a client only.
both_roles!(sent_close_wire_format, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "bye").unwrap();
    let (bytes, _) = take_output(&mut conn);
    match role {
        Role::Server => assert_eq!(bytes, b"\x88\x05\x03\xe8bye"),
        Role::Client => {
            assert_eq!(&bytes[..2], &[0x88, 0x85]);
            assert_eq!(bytes.len(), 2 + 4 + 5);
        }
    }
    assert_eq!(decode_frames(&bytes), vec![(0x88, body(1000, b"bye"))]);
});

// §7.4: every valid code can be sent, with its reason.
both_roles!(every_valid_code_can_be_sent, |role| {
    for &code in VALID_CODES {
        let mut conn = open(role, Config::default());
        conn.close(CloseCode(code), "r").unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![(0x88, body(code, b"r"))],
            "code {code}"
        );
        assert_eq!(conn.close_sent(), Some(CloseCode(code)));
    }
});

// §7.4.1 "1005 ... MUST NOT be set as a status code": `NO_STATUS` with an
// empty reason sends a Close without a body.
both_roles!(no_status_with_empty_reason_sends_empty_close, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NO_STATUS, "").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x88, vec![])]);
    assert_eq!(conn.close_sent(), Some(CloseCode::NO_STATUS));
    assert_eq!(conn.state(), State::Closing);
    let mut events = feed_chunks(&mut conn, &close_frame(role, None, b""), 100);
    events.extend(drain(&mut conn));
    assert_eq!(events, vec![close_empty(), closed_clean(1005)]);
});

// §7.4.1, §7.4.2: codes that may not be sent are refused and change
// nothing (1005 with a reason, 1006, 999, ...); a valid close still works.
both_roles!(close_with_invalid_code_refused, |role| {
    let mut conn = open(role, Config::default());
    assert_eq!(
        conn.close(CloseCode::NO_STATUS, "reason"),
        Err(UsageError::InvalidCloseCode)
    );
    for &code in INVALID_CODES.iter().filter(|&&c| c != 1005) {
        for reason in ["", "r"] {
            assert_eq!(
                conn.close(CloseCode(code), reason),
                Err(UsageError::InvalidCloseCode),
                "code {code}"
            );
        }
    }
    assert_eq!(conn.buffered_output(), 0);
    assert_eq!(conn.state(), State::Open);
    assert_eq!(conn.close_sent(), None);
    conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x88, body(1000, b""))]);
});

// §5.5: code + reason must fit 125 bytes: 123 bytes of reason is the most.
both_roles!(close_reason_length_limit, |role| {
    let mut conn = open(role, Config::default());
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"a".repeat(124)),
        Err(UsageError::ControlPayloadTooLong)
    );
    // 42 three-byte code points = 126 bytes.
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"€".repeat(42)),
        Err(UsageError::ControlPayloadTooLong)
    );
    assert_eq!(conn.buffered_output(), 0);
    assert_eq!(conn.state(), State::Open);
    let reason = "a".repeat(123);
    conn.close(CloseCode::NORMAL, &reason).unwrap();
    assert_eq!(sent(&mut conn), vec![(0x88, body(1000, reason.as_bytes()))]);
});

// §7.1.2 (one Close per side): a second `close` is refused.
both_roles!(close_twice_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        conn.close(CloseCode::NORMAL, ""),
        Err(UsageError::CloseAlreadySent)
    );
    assert_eq!(
        conn.close(CloseCode::GOING_AWAY, "x"),
        Err(UsageError::CloseAlreadySent)
    );
    assert_eq!(sent(&mut conn), vec![(0x88, body(1000, b""))]);
    assert_eq!(conn.close_sent(), Some(CloseCode::NORMAL));
});

// §5.5.1: once the automatic reply went out, `close` is refused.
both_roles!(close_after_auto_reply_refused, |role| {
    let mut conn = open(role, Config::default());
    let _ = feed_chunks(&mut conn, &close_frame(role, Some(1000), b""), 100);
    let _ = drain(&mut conn);
    assert_eq!(
        conn.close(CloseCode::NORMAL, ""),
        Err(UsageError::CloseAlreadySent)
    );
    assert_eq!(sent(&mut conn), vec![(0x88, body(1000, b""))]);
});

// §5.5.1 "The application MUST NOT send any more data frames after sending
// a Close frame": every send is refused and nothing is queued.
both_roles!(send_after_close_refused, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    let _ = sent(&mut conn);
    assert_eq!(conn.send_text("x"), Err(UsageError::NotOpen));
    assert_eq!(conn.send_binary(b"x"), Err(UsageError::NotOpen));
    assert_eq!(
        conn.send(MessageKind::Text, b"x", false),
        Err(UsageError::NotOpen)
    );
    assert_eq!(conn.ping(b""), Err(UsageError::NotOpen));
    assert_eq!(conn.pong(b""), Err(UsageError::NotOpen));
    assert_eq!(conn.buffered_output(), 0);
    assert_eq!(conn.state(), State::Closing);
});

// §7.1.4: after the connection is Closed, sending is refused too.
both_roles!(send_after_closed_refused, |role| {
    let mut conn = open(role, Config::default());
    let _ = feed_chunks(&mut conn, &close_frame(role, Some(1000), b""), 100);
    let _ = drain(&mut conn);
    let _ = sent(&mut conn);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.send_text("x"), Err(UsageError::NotOpen));
    assert_eq!(conn.send_binary(b"x"), Err(UsageError::NotOpen));
    assert_eq!(conn.ping(b""), Err(UsageError::NotOpen));
    assert_eq!(conn.buffered_output(), 0);
});

// §7.1.2 needs an established connection: `close` during the handshake is
// refused, and after EOF too.
#[test]
fn close_when_not_open_refused() {
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    assert_eq!(
        server.close(CloseCode::NORMAL, ""),
        Err(UsageError::NotOpen)
    );
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(
        Config::default(),
        request,
        CountingEntropy(0),
        hybi::Instant::ZERO,
    )
    .unwrap();
    assert_eq!(
        client.close(CloseCode::NORMAL, ""),
        Err(UsageError::NotOpen)
    );
    for role in [Role::Client, Role::Server] {
        let mut conn = open(role, Config::default());
        conn.handle_eof(NOW);
        let _ = drain(&mut conn);
        assert_eq!(
            conn.close(CloseCode::NORMAL, ""),
            Err(UsageError::NotOpen),
            "{role:?}"
        );
    }
}

// ---- §5.5.1, §7.1.3: while Closing ----

// §5.5.1 "there is no guarantee that the endpoint that has already sent a
// Close frame will continue to process data": this engine does, and
// delivers what arrives before the peer's Close; Pings get no Pong.
both_roles!(data_received_while_closing_is_delivered, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    let _ = sent(&mut conn);
    let input = cat(&[
        text_frame(role, true, b"in flight"),
        binary_frame(role, false, b"ab"),
        ping_frame(role, b"p"),
        cont_frame(role, true, b"cd"),
        close_frame(role, Some(1000), b""),
    ]);
    let mut events = feed_chunks(&mut conn, &input, 4);
    events.extend(drain(&mut conn));
    assert_eq!(
        merge(events),
        vec![
            text("in flight"),
            Ev::Data {
                kind: MessageKind::Binary,
                payload: b"ab".to_vec(),
                fin: false
            },
            Ev::Ping(b"p".to_vec()),
            Ev::Data {
                kind: MessageKind::Binary,
                payload: b"cd".to_vec(),
                fin: true
            },
            close(1000, ""),
            closed_clean(1000),
        ]
    );
    assert_eq!(
        take_output(&mut conn),
        (vec![], shuts_after_clean_close(role))
    );
});

// §7.1.7: a protocol error while Closing fails the connection without a
// second Close frame; the close is not clean and the code is 1006.
both_roles!(failure_after_our_close_sends_no_second_close, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    let _ = sent(&mut conn);
    let events = feed_chunks(&mut conn, &raw_frame_to(role, 0x83, b""), 100);
    assert_eq!(events, vec![failed(ReservedOpcode)]);
    assert_eq!(take_output(&mut conn), (vec![], true));
    assert_eq!(conn.error(), Some(ReservedOpcode));
    assert_eq!(conn.state(), State::Closed);
});

// §7.4.1: an invalid reply to our Close fails the connection; still no
// second Close frame.
both_roles!(invalid_close_reply_fails_without_second_close, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    let _ = sent(&mut conn);
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1005), b""), 100);
    assert_eq!(events, vec![failed(InvalidCloseCode(1005))]);
    assert_eq!(take_output(&mut conn), (vec![], true));
});

// ---- Config::auto_close_reply = false ----

// §5.5.1 "MUST send a Close frame in response", left to the application:
// nothing is sent, the state is Closing until `close`, then Closed, clean,
// with the peer's code.
both_roles!(auto_close_reply_off_application_replies, |role| {
    let mut conn = open(role, no_auto_reply());
    let mut events = feed_chunks(&mut conn, &close_frame(role, Some(1000), b"bye"), 100);
    events.extend(drain(&mut conn));
    assert_eq!(events, vec![close(1000, "bye")]);
    assert_eq!(take_output(&mut conn), (vec![], false));
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.close_received(), Some(CloseCode::NORMAL));
    assert_eq!(conn.close_sent(), None);
    conn.close(CloseCode::GOING_AWAY, "me too").unwrap();
    assert_eq!(drain(&mut conn), vec![closed_clean(1000)]);
    assert_eq!(conn.state(), State::Closed);
    let (bytes, shutdown) = take_output(&mut conn);
    assert_eq!(decode_frames(&bytes), vec![(0x88, body(1001, b"me too"))]);
    assert_eq!(shutdown, shuts_after_clean_close(role));
});

// §5.5.1 "An endpoint MAY delay sending a Close frame until its current
// message is sent": with `auto_close_reply` off, the application finishes
// its fragmented message, then replies.
both_roles!(auto_close_reply_off_finish_message_first, |role| {
    let mut conn = open(role, no_auto_reply());
    conn.send(MessageKind::Text, b"half", false).unwrap();
    let _ = sent(&mut conn);
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1000), b""), 100);
    assert_eq!(events, vec![close(1000, "")]);
    conn.send(MessageKind::Text, b" and the rest", true)
        .unwrap();
    conn.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        sent(&mut conn),
        vec![(0x80, b" and the rest".to_vec()), (0x88, body(1000, b""))]
    );
    assert_eq!(drain(&mut conn), vec![closed_clean(1000)]);
});

// §7.1.4, §7.1.5: with `auto_close_reply` off and no reply before EOF, the
// close is not clean, and the code is the peer's (a Close was received).
both_roles!(auto_close_reply_off_eof_before_reply, |role| {
    let mut conn = open(role, no_auto_reply());
    let events = feed_chunks(&mut conn, &close_frame(role, Some(1001), b""), 100);
    assert_eq!(events, vec![close(1001, "")]);
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![closed(1001, false, None)]);
    assert_eq!(take_output(&mut conn), (vec![], true));
});

// §5.5.1: with `auto_close_reply` off, an empty Close is answered by the
// application with `NO_STATUS`: an empty Close; the code is 1005.
both_roles!(auto_close_reply_off_empty_close_answered_empty, |role| {
    let mut conn = open(role, no_auto_reply());
    let events = feed_chunks(&mut conn, &close_frame(role, None, b""), 100);
    assert_eq!(events, vec![close_empty()]);
    assert_eq!(conn.close_received(), Some(CloseCode::NO_STATUS));
    conn.close(CloseCode::NO_STATUS, "").unwrap();
    assert_eq!(sent(&mut conn), vec![(0x88, vec![])]);
    assert_eq!(drain(&mut conn), vec![closed_clean(1005)]);
});

// ---- §7.1.1: who shuts the transport ----

// §7.1.1 "when a server is instructed to _Close the WebSocket Connection_ it
// SHOULD initiate a TCP Close immediately": after a clean close the server
// asks for the shutdown, once.
#[test]
fn server_shuts_down_after_clean_close() {
    // Peer-initiated.
    let mut server = open_server(Config::default());
    let mut events = feed_chunks(
        &mut server,
        &close_frame(Role::Server, Some(1000), b""),
        100,
    );
    events.extend(drain(&mut server));
    assert_eq!(events, vec![close(1000, ""), closed_clean(1000)]);
    let (bytes, shutdown) = take_output(&mut server);
    assert_eq!(decode_frames(&bytes), vec![(0x88, body(1000, b""))]);
    assert!(shutdown);
    assert_eq!(
        take_output(&mut server),
        (vec![], false),
        "Shutdown is given once"
    );
    // Server-initiated.
    let mut server = open_server(Config::default());
    server.close(CloseCode::NORMAL, "").unwrap();
    assert!(!take_output(&mut server).1, "no shutdown before the reply");
    let _ = feed_chunks(
        &mut server,
        &close_frame(Role::Server, Some(1000), b""),
        100,
    );
    let _ = drain(&mut server);
    assert_eq!(take_output(&mut server), (vec![], true));
}

// §7.1.1 "when a client is instructed to do the same, it SHOULD wait for a
// TCP Close from the server": no shutdown after a clean close until EOF,
// then one shutdown and no further event.
#[test]
fn client_waits_for_server_eof_after_clean_close() {
    for client_initiates in [false, true] {
        let mut client = open_client(Config::default());
        if client_initiates {
            client.close(CloseCode::NORMAL, "").unwrap();
            assert!(!take_output(&mut client).1);
        }
        let mut events = feed_chunks(
            &mut client,
            &close_frame(Role::Client, Some(1000), b""),
            100,
        );
        events.extend(drain(&mut client));
        assert_eq!(events, vec![close(1000, ""), closed_clean(1000)]);
        let (bytes, shutdown) = take_output(&mut client);
        assert!(!shutdown, "the client waits for the server to close first");
        let expected_reply = if client_initiates {
            vec![]
        } else {
            vec![(0x88, body(1000, b""))]
        };
        assert_eq!(decode_frames(&bytes), expected_reply);
        assert_eq!(client.state(), State::Closed);
        client.handle_eof(NOW);
        assert_eq!(drain(&mut client), vec![], "no second Closed");
        assert_eq!(take_output(&mut client), (vec![], true));
        assert_eq!(
            take_output(&mut client),
            (vec![], false),
            "Shutdown is given once"
        );
    }
}

// §7.1.5 "no Close control frame was received ... considered to be 1006",
// §7.2.1: EOF before any Close: not clean, no error, no Close sent, and the
// transport is to be shut (both roles: nothing to wait for).
both_roles!(eof_before_close_is_abnormal, |role| {
    let mut conn = open(role, Config::default());
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![closed(1006, false, None)]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(take_output(&mut conn), (vec![], true));
    assert_eq!(conn.error(), None);
});

// §7.1.5: EOF in the middle of a message: the partial message stays
// partial; Closed 1006.
both_roles!(eof_mid_message_is_abnormal, |role| {
    let mut conn = open(role, Config::default());
    let events = feed_chunks(&mut conn, &text_frame(role, false, b"part"), 100);
    assert_eq!(
        events,
        vec![Ev::Data {
            kind: MessageKind::Text,
            payload: b"part".to_vec(),
            fin: false
        }]
    );
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![closed(1006, false, None)]);
});

// §7.1.4: EOF after we sent Close but before the reply: not clean, 1006.
both_roles!(eof_while_closing_is_not_clean, |role| {
    let mut conn = open(role, Config::default());
    conn.close(CloseCode::NORMAL, "").unwrap();
    let _ = sent(&mut conn);
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![closed(1006, false, None)]);
    assert_eq!(take_output(&mut conn), (vec![], true));
});

// §7.1.4: EOF after a clean close adds no second Closed (and EOF twice
// before any Close gives one).
both_roles!(eof_after_clean_close_gives_no_second_closed, |role| {
    let mut conn = open(role, Config::default());
    let mut events = feed_chunks(&mut conn, &close_frame(role, Some(1000), b""), 100);
    events.extend(drain(&mut conn));
    assert_eq!(events, vec![close(1000, ""), closed_clean(1000)]);
    conn.handle_eof(NOW);
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![]);

    let mut conn = open(role, Config::default());
    conn.handle_eof(NOW);
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![closed(1006, false, None)]);
    conn.handle_eof(NOW);
    assert_eq!(drain(&mut conn), vec![]);
});

// §7.1.4: whatever ends the connection, exactly one Closed is ever given,
// and nothing follows it (more input, EOF, commands).
both_roles!(exactly_one_closed_event, |role| {
    type Ending = fn(Role, &mut Connection) -> Vec<Ev>;
    let endings: [(&str, Ending); 4] = [
        ("peer close", |role, c| {
            feed_chunks(c, &close_frame(role, Some(1000), b""), 1)
        }),
        ("failure", |role, c| {
            feed_chunks(c, &raw_frame_to(role, 0x8b, b""), 1)
        }),
        ("eof", |_, c| {
            c.handle_eof(NOW);
            vec![]
        }),
        ("our close then reply", |role, c| {
            c.close(CloseCode::NORMAL, "").unwrap();
            feed_chunks(c, &close_frame(role, Some(1000), b""), 2)
        }),
    ];
    for (name, end) in endings {
        let mut conn = open(role, Config::default());
        let mut events = end(role, &mut conn);
        events.extend(drain(&mut conn));
        events.extend(feed_chunks(
            &mut conn,
            &text_frame(role, true, b"late"),
            100,
        ));
        events.extend(feed_chunks(
            &mut conn,
            &close_frame(role, Some(1000), b""),
            100,
        ));
        conn.handle_eof(NOW);
        events.extend(drain(&mut conn));
        let _ = conn.close(CloseCode::NORMAL, "");
        events.extend(drain(&mut conn));
        let closed_count = events
            .iter()
            .filter(|e| matches!(e, Ev::Closed { .. }))
            .count();
        assert_eq!(closed_count, 1, "{name}: {events:?}");
        assert!(
            matches!(events.last(), Some(Ev::Closed { .. })),
            "{name}: Closed is last: {events:?}"
        );
        assert_eq!(conn.state(), State::Closed, "{name}");
    }
});

// ---- full closing handshakes between a client and a server ----

// §7.1.2, §5.5.1, §7.1.1: the client starts; the server answers and shuts;
// the client shuts only after the server's EOF. Both clean, both see 1000.
#[test]
fn pair_client_initiated_closing_handshake() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    client.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(client.state(), State::Closing);
    let (events, client_shut) = pump(&mut client, &mut server);
    assert!(!client_shut);
    assert_eq!(events, vec![close(1000, "done"), closed_clean(1000)]);
    assert_eq!(server.state(), State::Closed);
    let (events, server_shut) = pump(&mut server, &mut client);
    assert!(server_shut, "the server shuts first");
    assert_eq!(events, vec![close(1000, ""), closed_clean(1000)]);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(take_output(&mut client), (vec![], false));
    client.handle_eof(NOW);
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(take_output(&mut client), (vec![], true));
}

// §7.3 "Servers MAY close the WebSocket connection whenever desired": the
// server starts; the client echoes; the server shuts after the reply.
#[test]
fn pair_server_initiated_closing_handshake() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    server.close(CloseCode::GOING_AWAY, "restart").unwrap();
    let (events, server_shut) = pump(&mut server, &mut client);
    assert!(!server_shut, "no shutdown before the reply");
    assert_eq!(events, vec![close(1001, "restart"), closed_clean(1001)]);
    let (events, client_shut) = pump(&mut client, &mut server);
    assert!(!client_shut, "the client waits for the server's EOF");
    assert_eq!(events, vec![close(1001, ""), closed_clean(1001)]);
    assert_eq!(take_output(&mut server), (vec![], true));
    client.handle_eof(NOW);
    assert_eq!(take_output(&mut client), (vec![], true));
}

// §5.5.1 "If a client and server both send a Close message at the same
// time, both endpoints will have sent and received a Close message", §7.1.5
// NOTE: each sees the other's code. Both clean; no third Close.
#[test]
fn pair_simultaneous_close() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    client.close(CloseCode::NORMAL, "client").unwrap();
    server.close(CloseCode(4001), "server").unwrap();
    let (client_bytes, _) = take_output(&mut client);
    let (server_bytes, server_shut) = take_output(&mut server);
    assert!(!server_shut);
    let mut server_events = feed_chunks(&mut server, &client_bytes, 5);
    server_events.extend(drain(&mut server));
    let mut client_events = feed_chunks(&mut client, &server_bytes, 5);
    client_events.extend(drain(&mut client));
    assert_eq!(
        server_events,
        vec![close(1000, "client"), closed_clean(1000)]
    );
    assert_eq!(
        client_events,
        vec![close(4001, "server"), closed_clean(4001)]
    );
    assert_eq!(take_output(&mut server), (vec![], true));
    assert_eq!(take_output(&mut client), (vec![], false));
    assert_eq!(server.close_sent(), Some(CloseCode(4001)));
    assert_eq!(server.close_received(), Some(CloseCode::NORMAL));
    assert_eq!(client.close_sent(), Some(CloseCode::NORMAL));
    assert_eq!(client.close_received(), Some(CloseCode(4001)));
}

// §5.5.1, §7.1.3: messages sent before a Close still arrive; the closer keeps
// reading what the other side had in flight.
#[test]
fn pair_messages_in_flight_around_close() {
    let mut client = open_client(Config::default());
    let mut server = open_server(Config::default());
    client.send_text("last words").unwrap();
    client.close(CloseCode::NORMAL, "").unwrap();
    server.send_binary(b"in flight").unwrap();
    let (events, _) = pump(&mut client, &mut server);
    assert_eq!(
        events,
        vec![text("last words"), close(1000, ""), closed_clean(1000)]
    );
    let (events, server_shut) = pump(&mut server, &mut client);
    assert!(server_shut);
    assert_eq!(
        events,
        vec![binary(b"in flight"), close(1000, ""), closed_clean(1000)]
    );
}
