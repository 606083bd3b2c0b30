//! Encoding into a buffer the caller lends: `Connection::send_into`. The
//! frame is the one `send` would queue (RFC 6455 §5.2), masked as it is
//! copied for a client (§5.3), and frames stay in order.

mod common;
use common::pair::Pair;
use common::*;
use hybi::{Compression, Config, DeflateConfig, MessageKind, UsageError};

#[test]
fn a_client_frame_in_the_callers_buffer_is_what_send_would_queue() {
    for len in [0, 1, 125, 126, 65_535, 65_536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        // Two clients with the same entropy: one queues, one encodes in place.
        let mut queued = Pair::connected(Config::default(), Config::default());
        let mut lent = Pair::connected(Config::default(), Config::default());
        queued
            .client
            .conn
            .send(MessageKind::Binary, &payload, true)
            .unwrap();
        let expected = take_output(&mut queued.client.conn).0;
        let mut out = vec![0u8; len + 14];
        let n = lent
            .client
            .conn
            .send_into(MessageKind::Binary, &payload, true, &mut out)
            .unwrap();
        assert_eq!(&out[..n], &expected[..], "len {len}");
        // And the server reads it.
        let events = feed_chunks(&mut lent.server.conn, &out[..n], 4096);
        assert_eq!(merge(events), vec![binary(&payload)], "len {len}");
    }
}

#[test]
fn fragments_and_text_keep_their_rules() {
    let mut pair = Pair::connected(Config::default(), Config::default());
    let mut out = [0u8; 64];
    let mut wire = Vec::new();
    let n = pair
        .server
        .conn
        .send_into(MessageKind::Text, "κό".as_bytes(), false, &mut out)
        .unwrap();
    wire.extend_from_slice(&out[..n]);
    // §5.4: a continuation keeps the message's kind.
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Binary, b"x", true, &mut out),
        Err(UsageError::MessageInProgress)
    );
    // Text must end on a code point with fin.
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Text, &"σ".as_bytes()[..1], true, &mut out),
        Err(UsageError::InvalidUtf8)
    );
    let n = pair
        .server
        .conn
        .send_into(MessageKind::Text, "σμε".as_bytes(), true, &mut out)
        .unwrap();
    wire.extend_from_slice(&out[..n]);
    let events = feed_chunks(&mut pair.client.conn, &wire, 3);
    assert_eq!(merge(events), vec![text("κόσμε")]);
}

#[test]
fn refusals_change_nothing() {
    let mut pair = Pair::connected(Config::default(), Config::default());
    let mut small = [0u8; 8];
    // A server frame of 7 bytes needs 9.
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Binary, b"1234567", true, &mut small),
        Err(UsageError::OutputFull)
    );
    // Queued frames go first.
    pair.server.conn.ping(b"p").unwrap();
    let mut out = [0u8; 32];
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Binary, b"x", true, &mut out),
        Err(UsageError::OutputPending)
    );
    pair.drive();
    let n = pair
        .server
        .conn
        .send_into(MessageKind::Binary, b"1234567", true, &mut out)
        .unwrap();
    assert_eq!(&out[..n], b"\x82\x071234567");
    // Not after our Close.
    pair.server.conn.close(hybi::CloseCode::NORMAL, "").unwrap();
    pair.drive();
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Binary, b"x", true, &mut out),
        Err(UsageError::NotOpen)
    );
}

#[test]
fn never_compressed_and_refused_inside_a_compressed_message() {
    let mut deflate = DeflateConfig::default();
    deflate.min_compress_size = 0;
    let mut config = Config::default();
    config.deflate = Some(deflate);
    let mut pair = Pair::connected(config.clone(), config);
    assert!(pair.server.conn.deflate().is_some());
    let mut out = [0u8; 64];
    // A whole message in place goes out plain (RSV1 clear), allowed per
    // message (RFC 7692 §6).
    let n = pair
        .server
        .conn
        .send_into(MessageKind::Text, b"hello", true, &mut out)
        .unwrap();
    assert_eq!(out[0], 0x81);
    let mut wire = out[..n].to_vec();
    // Inside a message being sent compressed, the stream must go on.
    pair.server
        .conn
        .send_with(MessageKind::Text, b"compressed ", false, Compression::Auto)
        .unwrap();
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Text, b"more", true, &mut out),
        Err(UsageError::OutputPending)
    );
    wire.extend(take_output(&mut pair.server.conn).0);
    assert_eq!(
        pair.server
            .conn
            .send_into(MessageKind::Text, b"more", true, &mut out),
        Err(UsageError::ExternalInCompressedMessage)
    );
    pair.server
        .conn
        .send(MessageKind::Text, b"start", true)
        .unwrap();
    wire.extend(take_output(&mut pair.server.conn).0);
    let events = feed_chunks(&mut pair.client.conn, &wire, 7);
    assert_eq!(merge(events), vec![text("hello"), text("compressed start")]);
}

#[test]
fn a_whole_str_goes_in_place_without_a_pass_and_only_between_messages() {
    let mut pair = Pair::connected(Config::default(), Config::default());
    let mut out = [0u8; 64];
    let n = pair.client.conn.send_text_into("héllo", &mut out).unwrap();
    let events = feed_chunks(&mut pair.server.conn, &out[..n], 5);
    assert_eq!(merge(events), vec![text("héllo")]);
    pair.client
        .conn
        .send(MessageKind::Text, b"open", false)
        .unwrap();
    take_output(&mut pair.client.conn);
    assert_eq!(
        pair.client.conn.send_text_into("x", &mut out),
        Err(UsageError::MessageInProgress)
    );
}
