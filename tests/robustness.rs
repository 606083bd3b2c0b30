//! No input panics the engine, in any chunking, in either role, and the
//! state machine's invariants hold on every path:
//!
//! * `consumed` never exceeds the input, and with no event the whole input
//!   was consumed (except while a server's request awaits a decision);
//! * at most one `Closed` event, and nothing after it;
//! * the public state never moves backwards (Handshaking -> Open -> Closing
//!   -> Closed);
//! * queued output stays within `max_buffered_output` plus one Pong and one
//!   Close frame.

mod common;
use common::*;
use hybi::{Config, Connection, Event, Role, State};
use proptest::prelude::*;

fn rank(state: State) -> u8 {
    match state {
        State::Handshaking => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => 3,
    }
}

/// Feeds `input` in pieces of the given sizes, accepting any request, and
/// checks every invariant along the way.
fn check(mut conn: Connection, input: &[u8], cuts: &[usize]) {
    let mut buf = input.to_vec();
    let mut closed_seen = false;
    let mut last_rank = rank(conn.state());
    let mut start = 0;
    let mut cut = cuts.iter().cycle();
    let limit = Config::default().max_buffered_output + 2 * 131;
    while start < buf.len() {
        let end = (start + cut.next().copied().unwrap_or(1).max(1)).min(buf.len());
        let mut pos = start;
        loop {
            let len = end - pos;
            let out = conn.handle_input(&mut buf[pos..end], NOW);
            assert!(out.consumed <= len, "consumed {} of {}", out.consumed, len);
            pos += out.consumed;
            let accept = matches!(out.event, Some(Event::Request(_)));
            match out.event {
                None => {
                    assert!(pos == end || conn.state() == State::Handshaking, "stalled");
                    break;
                }
                Some(Event::Closed(_)) => {
                    assert!(!closed_seen, "two Closed events");
                    closed_seen = true;
                }
                Some(_) => assert!(!closed_seen, "event after Closed"),
            }
            if accept {
                conn.accept(hybi::Accept::new()).unwrap();
            }
            let r = rank(conn.state());
            assert!(r >= last_rank, "state went backwards");
            last_rank = r;
        }
        // Stop feeding a server that never got a full request.
        if pos < end {
            break;
        }
        assert!(conn.buffered_output() <= limit);
        start = end;
    }
    conn.handle_eof(NOW);
    for ev in drain(&mut conn) {
        assert!(!closed_seen, "event after Closed: {ev:?}");
        if let Ev::Closed { .. } = ev {
            closed_seen = true;
        }
    }
    assert!(closed_seen, "EOF must end every connection with Closed");
    assert_eq!(conn.state(), State::Closed);
    let _ = take_output(&mut conn);
}

/// Bytes biased towards frame-like input: random headers with small
/// lengths, so the fuzz reaches payload, control and close paths.
fn frameish() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        any::<u8>(),
        0u8..=130,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(first, len, masked, payload)| {
            let mut f = vec![first, if masked { 0x80 } else { 0 } | (len & 0x7f)];
            if masked {
                f.extend_from_slice(&[1, 2, 3, 4]);
            }
            f.extend_from_slice(&payload);
            f
        });
    proptest::collection::vec(frame, 0..12).prop_map(|frames| frames.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_survives_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..600),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        check(Connection::server(Config::default(), hybi::Instant::ZERO), &input, &cuts);
    }

    #[test]
    fn server_survives_any_frames_after_a_valid_request(frames in frameish(),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        let input = [RFC_REQUEST, &frames[..]].concat();
        check(Connection::server(Config::default(), hybi::Instant::ZERO), &input, &cuts);
    }

    #[test]
    fn open_client_survives_any_frames(frames in frameish(),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        check(open(Role::Client, Config::default()), &frames, &cuts);
    }

    #[test]
    fn open_server_survives_any_frames(frames in frameish(),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        check(open(Role::Server, Config::default()), &frames, &cuts);
    }

    #[test]
    fn client_survives_any_response(input in proptest::collection::vec(any::<u8>(), 0..600),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        let request = hybi::ClientRequest::new("ws://h/").unwrap();
        let conn = Connection::client(Config::default(), request, CountingEntropy(9), hybi::Instant::ZERO).unwrap();
        check(conn, &input, &cuts);
    }

    #[test]
    fn client_survives_mutated_responses(flip in 0usize..200, byte in any::<u8>(),
                                 cuts in proptest::collection::vec(1usize..50, 1..8)) {
        // A valid 101 for CountingEntropy(0)'s key, with one byte changed.
        let request = hybi::ClientRequest::new("ws://h/").unwrap();
        let mut conn = Connection::client(Config::default(), request, CountingEntropy(0), hybi::Instant::ZERO).unwrap();
        let (req, _) = take_output(&mut conn);
        let key = header_value(&req, "Sec-WebSocket-Key");
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            hybi::accept_key(key.as_bytes()).as_str()
        ).into_bytes();
        response.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let at = flip % response.len();
        response[at] = byte;
        check(conn, &response, &cuts);
    }
}
