//! Target 2, `server_handshake`: a server fed a request, then frames.

use std::time::Duration;

use hybi::{
    accept_key, Accept, Config, Connection, ProtocolError, Reject, Role, State, Transmit,
    UsageError,
};

use super::shared::{
    check_close_frame, contains, decode_output, feed, feed_chunk, head_len, http_response, Chunks,
    Cursor, Ev, Snapshot, Watch, NOW,
};

/// A server [`Connection`] fed arbitrary bytes (a request, then frames) in
/// arbitrary chunks.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0
/// `plain_http_requests`, bit 1 `max_handshake_size = 256`, bit 2
/// `max_headers = 4`, bit 3 accept with the first offered subprotocol, bit 4
/// reject WebSocket requests with 403, bit 5 let the handshake deadline
/// pass after the stream. [`Chunks`] describes the split.
///
/// Beyond [`Watch`]'s invariants:
/// * `Request` only for a valid request: a WebSocket one has a 24-character
///   base64 key of 16 bytes and `accept` succeeds; a plain one only with
///   `plain_http_requests`, `accept` refuses it with `NotAnUpgrade` and
///   changes nothing, `reject(200)` succeeds.
/// * An accepted request is answered `HTTP/1.1 101 Switching Protocols` with
///   `Sec-WebSocket-Accept: accept_key(key)` (and the chosen subprotocol),
///   then only valid server frames.
/// * A handshake that fails has `error().http_status() == Some(4xx)`, the
///   `Closed` event carries that error, and the output is exactly one HTTP
///   response with that status and a `Content-Length` matching its body.
/// * Past `handshake_timeout`, a request still incomplete fails with
///   `HandshakeTimeout` (so 408), and a decided one is left alone.
/// * A rejection is exactly one response with the status we gave.
/// * While the request is incomplete nothing is written.
pub fn server_handshake(data: &[u8]) {
    let mut input = Cursor::new(data);
    let options = input.byte();
    let mut chunks = Chunks::read(&mut input);
    let stream = input.rest();

    let mut config = Config::default();
    config.plain_http_requests = options & 1 != 0;
    if options & 2 != 0 {
        config.max_handshake_size = 256;
    }
    if options & 4 != 0 {
        config.max_headers = 4;
    }
    let choose_protocol = options & 8 != 0;
    let reject = options & 16 != 0;
    let deadline = options & 32 != 0;

    let mut server = Connection::server(config.clone(), NOW);
    let mut watch = Watch::new(&config);
    let mut decision: Option<u16> = None;
    feed(
        &mut server,
        &mut watch,
        stream,
        &mut chunks,
        |conn, event, _| {
            let Ev::Request {
                key,
                websocket,
                protocols,
            } = event
            else {
                return;
            };
            assert!(decision.is_none(), "a second Request");
            if !websocket {
                assert!(
                    config.plain_http_requests,
                    "plain request without the switch"
                );
                assert!(key.is_empty());
                let before = Snapshot::of(conn);
                assert_eq!(conn.accept(Accept::new()), Err(UsageError::NotAnUpgrade));
                assert_eq!(Snapshot::of(conn), before, "failed accept changed things");
                conn.reject(Reject::new(200).body(b"page"))
                    .expect("reject(200) of a plain GET");
                decision = Some(200);
                return;
            }
            assert!(is_key(key), "Request with an invalid key {key:?}");
            if reject {
                conn.reject(Reject::new(403).header("X-Why", "fuzz").body(b"no"))
                    .expect("reject(403)");
                decision = Some(403);
                return;
            }
            let protocol = protocols.first().filter(|_| choose_protocol);
            let accept = match protocol {
                Some(p) => Accept::new().subprotocol(p),
                None => Accept::new(),
            };
            conn.accept(accept).expect("accept of a valid request");
            assert_eq!(conn.subprotocol(), protocol.map(String::as_str));
            assert_eq!(conn.state(), State::Open);
            let out = peek_output(conn);
            assert!(
                out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
                "{}",
                String::from_utf8_lossy(&out)
            );
            let expected = format!(
                "\r\nSec-WebSocket-Accept: {}\r\n",
                accept_key(key.as_bytes())
            );
            assert!(
                contains(&out, expected.as_bytes()),
                "wrong accept for {key}"
            );
            if let Some(p) = protocol {
                let line = format!("\r\nSec-WebSocket-Protocol: {p}\r\n");
                assert!(contains(&out, line.as_bytes()), "chosen protocol not sent");
            }
            decision = Some(101);
        },
    );

    if deadline {
        let before = Snapshot::of(&server);
        let timeout = config.handshake_timeout.expect("a handshake timeout");
        let later = NOW + timeout + Duration::from_millis(1);
        watch.timeout(&mut server, later);
        if before.state == State::Handshaking {
            assert_eq!(server.error(), Some(ProtocolError::HandshakeTimeout));
        } else {
            assert_eq!(
                Snapshot::of(&server),
                before,
                "deadline after the handshake"
            );
        }
        feed_chunk(&mut server, &mut watch, &mut [], &mut |_, _, _| {});
    }

    let check = |out: &[u8], watch: &Watch, conn: &Connection| match (
        decision,
        watch.closed.and_then(|c| c.error),
    ) {
        (Some(101), None) => {
            let head = head_len(out).expect("101 head");
            let frames = decode_output(&out[head..], Role::Server);
            check_close_frame(&frames, conn);
        }
        (Some(status), None) => assert_eq!(http_response(out), status),
        (None, Some(error)) => {
            let status = error.http_status();
            assert!(
                matches!(status, Some(400..=499)),
                "{error:?} in a server handshake answers {status:?}"
            );
            assert_eq!(Some(http_response(out)), status, "answer to {error:?}");
        }
        (None, None) => assert!(out.is_empty(), "output before a decision"),
        (Some(101), Some(_)) => {
            // Failed after the handshake: a Close with the error's code.
            let head = head_len(out).expect("101 head");
            let frames = decode_output(&out[head..], Role::Server);
            check_close_frame(&frames, conn);
        }
        (Some(_), Some(error)) => panic!("{error:?} after the request was rejected"),
    };
    let out = peek_output(&mut server);
    check(&out, &watch, &server);
    let out = watch.finish(&mut server);
    check(&out, &watch, &server);
}

/// A Sec-WebSocket-Key that decodes to 16 bytes: 22 base64 characters and
/// `==` (RFC 6455 §4.2.1 item 5).
fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b.ends_with(b"==")
        && b[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// The queued bytes, without marking them written.
fn peek_output(conn: &mut Connection) -> Vec<u8> {
    match conn.poll_transmit() {
        Some(Transmit::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}
