//! Deadlines as sans-IO timers (`poll_timeout` / `handle_timeout`), on a
//! virtual clock: no test sleeps. RFC 6455 §7.1.1 (who closes the transport,
//! and the client's "reasonable time period"), §5.5.2 (Ping), plus the
//! handshake deadline that stops a slowloris peer.
//!
//! Where a test needs a peer that behaves as hybi does (answers a Ping, echoes
//! a Close, shuts its transport), the peer is a real engine in a `Pair`,
//! and a peer that must stay silent for a while stops reading. Where the
//! peer must do something hybi never does, or there is none, its bytes are
//! fed by hand.

mod common;
use std::time::Duration;

use common::pair::Pair;
use common::*;
use hybi::{
    Accept, ClientRequest, CloseCode, Config, Connection, Event, Instant, ProtocolError, Role,
    State,
};

fn at(secs: f64) -> Instant {
    Instant::from_micros((secs * 1e6) as u64)
}

fn feed_at(conn: &mut Connection, bytes: &[u8], secs: f64) -> Vec<Ev> {
    let mut buf = bytes.to_vec();
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        let out = conn.handle_input(&mut buf[pos..], at(secs));
        pos += out.consumed;
        match out.event {
            Some(Event::Request(_)) => {
                events.push(Ev::Request {
                    target: String::new(),
                });
                conn.accept(Accept::new()).unwrap();
            }
            Some(ev) => events.push(Ev::from_event(&ev)),
            None => break,
        }
    }
    events.extend(drain(conn));
    events
}

fn timeout_at(conn: &mut Connection, secs: f64) -> Vec<Ev> {
    conn.handle_timeout(at(secs));
    drain(conn)
}

fn config() -> Config {
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_secs(10));
    config
}

/// A server opened at `secs` with `config`.
fn server_open_at(config: Config, secs: f64) -> Connection {
    let mut server = Connection::server(config, at(secs));
    assert_eq!(feed_at(&mut server, RFC_REQUEST, secs).len(), 1);
    take_output(&mut server);
    server
}

// ---- opening handshake deadline ----

// A slowloris peer trickling a request is stopped at the deadline: 408.
#[test]
fn server_handshake_deadline_answers_408() {
    let mut server = Connection::server(config(), at(0.0));
    assert_eq!(server.poll_timeout(), Some(at(10.0)));
    for (i, byte) in RFC_REQUEST[..40].iter().enumerate() {
        assert!(feed_at(&mut server, &[*byte], i as f64 * 0.2).is_empty());
    }
    assert!(timeout_at(&mut server, 9.999).is_empty());
    let events = timeout_at(&mut server, 10.0);
    assert_eq!(events, vec![failed(ProtocolError::HandshakeTimeout)]);
    let (out, shutdown) = take_output(&mut server);
    assert!(
        out.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(shutdown);
    assert_eq!(server.poll_timeout(), None);
}

// A peer that connects and sends nothing at all is stopped too.
#[test]
fn server_handshake_deadline_with_no_input_at_all() {
    let mut server = Connection::server(config(), at(5.0));
    assert_eq!(server.poll_timeout(), Some(at(15.0)));
    assert_eq!(
        timeout_at(&mut server, 15.0),
        vec![failed(ProtocolError::HandshakeTimeout)]
    );
}

#[test]
fn client_handshake_deadline_gives_up() {
    let request = ClientRequest::new("ws://h/").unwrap();
    let mut client = Connection::client(config(), request, CountingEntropy(0), at(0.0)).unwrap();
    let (request_bytes, _) = take_output(&mut client);
    assert!(request_bytes.starts_with(b"GET / HTTP/1.1"));
    assert_eq!(
        timeout_at(&mut client, 10.0),
        vec![failed(ProtocolError::HandshakeTimeout)]
    );
    let (out, shutdown) = take_output(&mut client);
    assert!(out.is_empty(), "a client sends nothing more");
    assert!(shutdown);
}

#[test]
fn completed_handshake_stops_the_deadline() {
    let server = server_open_at(config(), 1.0);
    assert_eq!(server.state(), State::Open);
    assert_eq!(
        server.poll_timeout(),
        None,
        "no timer armed by default once open"
    );
}

#[test]
fn handshake_deadline_can_be_turned_off() {
    let mut config = Config::default();
    config.handshake_timeout = None;
    let server = Connection::server(config, at(0.0));
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn default_handshake_deadline_is_30_s() {
    let server = Connection::server(Config::default(), at(2.0));
    assert_eq!(server.poll_timeout(), Some(at(32.0)));
}

// ---- keepalive: a Ping after silence, a deadline for its Pong ----

fn keepalive_config() -> Config {
    let mut config = config();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(5);
    config
}

#[test]
fn keepalive_pings_after_silence_and_a_pong_rearms_it() {
    let mut pair = Pair::connected(config(), keepalive_config());
    // The client reads (and so answers) only at 12 s.
    pair.client.reading = false;
    assert_eq!(pair.server.conn.poll_timeout(), Some(at(10.0)));
    pair.advance_to(at(10.0));
    assert!(pair.server.take_events().is_empty());
    let frames = pair.server.take_frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 0x89, "a Ping");
    assert_eq!(
        pair.server.conn.poll_timeout(),
        Some(at(15.0)),
        "the Pong deadline"
    );
    pair.advance_to(at(12.0));
    pair.client.reading = true;
    pair.drive();
    assert_eq!(
        pair.client.take_events(),
        vec![Ev::Ping(frames[0].1.clone())]
    );
    assert_eq!(
        pair.server.take_events(),
        vec![Ev::Pong(frames[0].1.clone())]
    );
    assert_eq!(
        pair.server.conn.poll_timeout(),
        Some(at(22.0)),
        "re-armed from the Pong"
    );
}

#[test]
fn keepalive_fails_with_1011_when_no_pong_comes() {
    let mut pair = Pair::connected(config(), keepalive_config());
    // The client never reads, so it never answers the Ping.
    pair.client.reading = false;
    pair.advance_to(at(10.0));
    assert_eq!(pair.server.take_frames()[0].0, 0x89, "a Ping");
    // Data is not a Pong: the deadline stands.
    pair.advance_to(at(12.0));
    pair.client.conn.send_text("busy").unwrap();
    pair.drive();
    assert_eq!(pair.server.take_events(), vec![text("busy")]);
    assert_eq!(pair.server.conn.poll_timeout(), Some(at(15.0)));
    pair.advance_to(at(15.0));
    assert_eq!(
        pair.server.take_events(),
        vec![failed(ProtocolError::KeepaliveTimeout)]
    );
    let frames = pair.server.take_frames();
    assert_eq!(frames[0].0, 0x88);
    assert_eq!(&frames[0].1[..2], &1011u16.to_be_bytes());
    assert!(pair.server.shut_down());
}

#[test]
fn incoming_data_postpones_the_keepalive_ping() {
    let mut pair = Pair::connected(config(), keepalive_config());
    pair.advance_to(at(8.0));
    pair.client.conn.send_binary(b"x").unwrap();
    pair.drive();
    assert_eq!(pair.server.take_events(), vec![binary(b"x")]);
    assert_eq!(pair.server.conn.poll_timeout(), Some(at(18.0)));
    pair.advance_to(at(17.0));
    assert!(pair.server.take_events().is_empty());
    assert!(pair.server.take_written().is_empty(), "no Ping yet");
}

#[test]
fn client_keepalive_pings_are_masked() {
    let mut pair = Pair::connected(keepalive_config(), config());
    pair.advance_to(at(10.0));
    let out = pair.client.take_written();
    assert_eq!(out[0], 0x89);
    assert_eq!(out[1] & 0x80, 0x80, "client frames are masked");
}

// A client and a server with keepalive on both sides stay up for a long
// quiet stretch, answering each other's pings, on one virtual clock.
#[test]
fn keepalive_pair_stays_alive_when_both_answer() {
    let mut pair = Pair::connected(keepalive_config(), keepalive_config());
    let mut pings = 0;
    for _ in 0..200 {
        pair.advance(Duration::from_secs(1));
        for ev in pair
            .client
            .take_events()
            .into_iter()
            .chain(pair.server.take_events())
        {
            assert!(matches!(ev, Ev::Ping(_) | Ev::Pong(_)), "{ev:?}");
            pings += usize::from(matches!(ev, Ev::Ping(_)));
        }
    }
    assert!(pings >= 20, "only {pings} keepalive Pings in 200 s");
    assert_eq!(pair.client.conn.state(), State::Open);
    assert_eq!(pair.server.conn.state(), State::Open);
}

// ---- idle timeout ----

#[test]
fn idle_timeout_starts_the_closing_handshake_with_1001() {
    let mut idle = config();
    idle.idle_timeout = Some(Duration::from_secs(60));
    let mut pair = Pair::connected(config(), idle);
    pair.advance_to(at(30.0));
    pair.client.conn.send_text("hi").unwrap();
    pair.drive();
    assert_eq!(pair.server.take_events(), vec![text("hi")]);
    assert_eq!(pair.server.conn.poll_timeout(), Some(at(90.0)));
    // The client reads the Close only at 91 s.
    pair.client.reading = false;
    pair.advance_to(at(90.0));
    assert!(pair.server.take_events().is_empty());
    assert_eq!(pair.server.conn.state(), State::Closing);
    assert_eq!(
        pair.server.take_frames(),
        vec![(0x88, [&1001u16.to_be_bytes()[..], b"idle timeout"].concat())]
    );
    // The peer answers: a clean close.
    pair.advance_to(at(91.0));
    pair.client.reading = true;
    pair.drive();
    assert_eq!(
        pair.server.take_events(),
        vec![close(1001, ""), closed_clean(1001)]
    );
}

// ---- closing handshake deadline (§7.1.1) ----

#[test]
fn close_deadline_gives_up_on_a_silent_peer() {
    let mut pair = Pair::connected(config(), config());
    pair.client.reading = false;
    pair.advance_to(at(1.0));
    pair.server.conn.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(pair.server.conn.poll_timeout(), Some(at(31.0)));
    pair.drive();
    assert_eq!(pair.server.take_frames()[0].0, 0x88);
    pair.advance_to(at(31.0));
    assert_eq!(
        pair.server.take_events(),
        vec![failed(ProtocolError::CloseTimeout)]
    );
    assert!(pair.server.take_written().is_empty(), "no second Close");
    assert!(pair.server.shut_down());
}

// After a clean close the client waits for the server to close the
// transport, but not for ever: at the deadline it shuts down itself.
#[test]
fn client_stops_waiting_for_the_servers_eof_at_the_close_deadline() {
    let mut client = open_client(config());
    feed_at(&mut client, &[], 2.0);
    client.close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut client);
    let reply = close_frame(hybi::Role::Client, Some(1000), b"");
    assert_eq!(
        feed_at(&mut client, &reply, 3.0),
        vec![close(1000, ""), closed_clean(1000)]
    );
    let (_, shutdown) = take_output(&mut client);
    assert!(!shutdown, "the client waits for the server's EOF");
    assert_eq!(client.poll_timeout(), Some(at(32.0)));
    assert!(timeout_at(&mut client, 32.0).is_empty(), "no second Closed");
    let (_, shutdown) = take_output(&mut client);
    assert!(shutdown);
    assert_eq!(client.poll_timeout(), None);
}

// The server echoes the Close and shuts its transport: the client's EOF.
#[test]
fn eof_stops_the_close_deadline() {
    let mut pair = Pair::connected(config(), config());
    pair.client.conn.close(CloseCode::NORMAL, "").unwrap();
    pair.drive();
    assert_eq!(pair.shutdowns(), [Role::Server, Role::Client]);
    assert!(pair.client.eof_received());
    assert_eq!(pair.client.conn.poll_timeout(), None);
    // EOF after the clean close adds no event.
    assert_eq!(
        pair.client.take_events(),
        vec![close(1000, ""), closed_clean(1000)]
    );
    assert!(pair.client.shut_down());
}

#[test]
fn time_never_goes_backwards() {
    let mut server = Connection::server(config(), at(100.0));
    // An earlier `now` is ignored rather than trusted.
    server.handle_timeout(at(50.0));
    assert!(drain(&mut server).is_empty());
    assert_eq!(server.poll_timeout(), Some(at(110.0)));
}
