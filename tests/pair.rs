//! The two-party harness (`common::pair::Pair`) and its options, each shown
//! on a protocol behaviour between two engines: partial writes, a side that
//! stops reading, a connection dropped without a Close (RFC 6455 §7.1.5),
//! and the server's decision on the opening request (§4.2.2). Keepalive and
//! the other deadlines on the pair's clock are in tests/timers.rs.

mod common;
use common::pair::{Cut, Decision, Pair, PAIR_URI};
use common::*;
use hybi::{Accept, ClientRequest, Config, Role, State};

fn connected() -> Pair {
    Pair::connected(Config::default(), Config::default())
}

/// What a side reports when its peer vanished without a Close (§7.1.5:
/// "considered to be 1006"), not clean, and no protocol error of its own.
fn abnormal() -> Ev {
    Ev::Closed {
        code: 1006,
        clean: false,
        error: None,
    }
}

#[test]
fn messages_cross_in_partial_writes() {
    let mut pair = connected();
    pair.client.max_write = Some(2);
    pair.server.max_write = Some(2);
    pair.client.conn.send_text("hello").unwrap();
    pair.server.conn.send_binary(&[1, 2, 3]).unwrap();
    pair.drive();
    assert_eq!(merge(pair.server.take_events()), [text("hello")]);
    assert_eq!(merge(pair.client.take_events()), [binary(&[1, 2, 3])]);
}

#[test]
fn a_side_that_stops_reading_gets_everything_later() {
    let mut pair = connected();
    pair.server.reading = false;
    pair.client.conn.send_text("one").unwrap();
    pair.client.conn.send_text("two").unwrap();
    pair.drive();
    assert!(pair.server.take_events().is_empty());
    assert!(pair.server.unread() > 0);
    pair.server.reading = true;
    pair.drive();
    assert_eq!(merge(pair.server.take_events()), [text("one"), text("two")]);
    assert_eq!(pair.server.unread(), 0);
}

// §7.1.5: what was sent before the transport closed still arrives, then
// the connection ends with 1006.
#[test]
fn a_client_gone_without_a_close_ends_the_server_with_1006() {
    let mut pair = connected();
    pair.server.reading = false;
    pair.client.conn.send_text("last").unwrap();
    pair.drive();
    pair.drop_connection(Role::Client, Cut::Eof);
    pair.server.reading = true;
    pair.drive();
    assert_eq!(merge(pair.server.take_events()), [text("last"), abnormal()]);
    assert!(pair.server.eof_received());
    assert_eq!(pair.server.conn.state(), State::Closed);
    assert!(
        pair.server.shut_down(),
        "the server closes its side at once"
    );
}

// A reset loses what was still in flight.
#[test]
fn a_reset_loses_what_was_in_flight() {
    let mut pair = connected();
    pair.server.reading = false;
    pair.client.conn.send_text("lost").unwrap();
    pair.drive();
    pair.drop_connection(Role::Client, Cut::Reset);
    pair.server.reading = true;
    pair.drive();
    assert_eq!(pair.server.take_events(), [abnormal()]);
}

// A dropped side sees nothing more: the server's reply never reaches it.
#[test]
fn a_dropped_server_leaves_the_client_to_end_alone() {
    let mut pair = connected();
    pair.client.conn.send_text("hello?").unwrap();
    pair.drop_connection(Role::Server, Cut::Eof);
    pair.drive();
    assert!(pair.server.take_events().is_empty(), "nothing reached it");
    assert_eq!(pair.client.take_events(), [abnormal()]);
    assert!(pair.client.shut_down(), "no server left to wait for");
}

// §4.2.2: the server may answer the request with another status; the
// client reports it and ends.
#[test]
fn a_rejected_request_reaches_the_client() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.server.decision = Decision::Reject(403);
    pair.drive();
    let events = pair.client.take_events();
    assert!(
        matches!(
            events[..],
            [
                Ev::Rejected { status: 403, .. },
                Ev::Closed {
                    clean: false,
                    error: None,
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    assert_eq!(pair.client.conn.state(), State::Closed);
    assert_eq!(pair.server.conn.state(), State::Closed);
    assert_eq!(pair.shutdowns(), [Role::Server, Role::Client]);
}

// §4.2.2 item 4: the server picks one of the subprotocols offered; held,
// it decides when it likes, and nothing moves until then.
#[test]
fn a_held_request_waits_for_the_servers_choice_of_subprotocol() {
    let request = ClientRequest::new(PAIR_URI)
        .unwrap()
        .subprotocols(&["chat", "superchat"]);
    let mut pair = Pair::with_request(Config::default(), request, Config::default());
    pair.server.decision = Decision::Hold;
    pair.drive();
    assert!(matches!(
        pair.server.take_events()[..],
        [Ev::Request { .. }]
    ));
    assert_eq!(pair.server.conn.state(), State::Handshaking);
    assert!(pair.client.take_events().is_empty());
    pair.server
        .conn
        .accept(Accept::new().subprotocol("superchat"))
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.take_events(),
        [Ev::Accepted {
            status: 101,
            protocol: Some("superchat".to_string())
        }]
    );
    assert_eq!(pair.client.conn.subprotocol(), Some("superchat"));
}

#[test]
fn accept_protocol_answers_with_that_subprotocol() {
    let request = ClientRequest::new(PAIR_URI)
        .unwrap()
        .subprotocols(&["chat"]);
    let mut pair = Pair::with_request(Config::default(), request, Config::default());
    pair.server.decision = Decision::AcceptProtocol("chat".to_string());
    pair.drive();
    assert_eq!(pair.client.conn.subprotocol(), Some("chat"));
    assert_eq!(pair.server.conn.subprotocol(), Some("chat"));
    assert_eq!(pair.client.conn.state(), State::Open);
}
