//! Target 3, `client_response`: a client fed the server's answer, then frames.

use hybi::{accept_key, ClientRequest, Closed, Config, Connection, Role, State};

use super::shared::{
    contains, decode_output, feed, take_output, Chunks, Counting, Cursor, Ev, Watch, CLIENT_KEY,
    CLIENT_URI, NOW,
};

/// A client [`Connection`] (entropy fixed, so its key is known) fed
/// arbitrary bytes as the server's response, then as frames.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0
/// `max_handshake_size = 256`, bit 1 `max_headers = 4`, bit 2
/// `max_rejection_body = 8`, bit 3 offer the subprotocols `chat` and
/// `superchat`, bit 4 offer the extension `permessage-deflate`.
///
/// Beyond [`Watch`]'s invariants:
/// * `Accepted` only for a 101 whose `Sec-WebSocket-Accept` is
///   `accept_key(key)` for the key the client sent, which must appear in the
///   bytes consumed so far; its subprotocol was offered (and is what
///   `subprotocol()` returns), and so was every extension.
/// * `Rejected` only for another status, with at most `max_rejection_body`
///   body bytes, and `Closed` follows.
/// * A client writes nothing but its request until `Accepted`, not even
///   when the handshake fails; afterwards only valid masked frames.
pub fn client_response(data: &[u8]) {
    let mut input = Cursor::new(data);
    let options = input.byte();
    let mut chunks = Chunks::read(&mut input);
    let stream = input.rest();

    let mut config = Config::default();
    if options & 1 != 0 {
        config.max_handshake_size = 256;
    }
    if options & 2 != 0 {
        config.max_headers = 4;
    }
    if options & 4 != 0 {
        config.max_rejection_body = 8;
    }
    let mut request = ClientRequest::new(CLIENT_URI).expect("URI");
    let mut offered: Vec<&str> = Vec::new();
    if options & 8 != 0 {
        request = request.subprotocols(&["chat", "superchat"]);
        offered.extend(["chat", "superchat"]);
    }
    let deflate = options & 16 != 0;
    if deflate {
        request = request.extensions(&["permessage-deflate"]);
    }

    let mut client = Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
    let mut watch = Watch::new(&config);
    let head = take_output(&mut client, &mut watch);
    assert!(head.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let key_line = format!("\r\nSec-WebSocket-Key: {CLIENT_KEY}\r\n");
    assert!(contains(&head, key_line.as_bytes()), "unexpected key");
    let expected = accept_key(CLIENT_KEY.as_bytes());

    let mut accepted = false;
    let mut rejected = false;
    feed(
        &mut client,
        &mut watch,
        stream,
        &mut chunks,
        |conn, event, fed| match event {
            Ev::Accepted {
                status,
                accept,
                protocol,
                extensions,
            } => {
                assert_eq!(*status, 101);
                assert_eq!(accept.as_deref(), Some(expected.as_bytes()), "accept value");
                assert!(
                    contains(&stream[..fed], expected.as_bytes()),
                    "Accepted without the right Sec-WebSocket-Accept in the bytes"
                );
                if let Some(p) = protocol {
                    assert!(offered.contains(&p.as_str()), "unoffered protocol {p}");
                }
                assert_eq!(conn.subprotocol(), protocol.as_deref());
                for e in extensions {
                    let name = e.split(';').next().unwrap_or("").trim();
                    assert!(
                        deflate && name.eq_ignore_ascii_case("permessage-deflate"),
                        "unoffered extension {e}"
                    );
                }
                assert_eq!(conn.state(), State::Open);
                accepted = true;
            }
            Ev::Rejected { status, body } => {
                assert_ne!(*status, 101);
                assert!(
                    body.len() <= config.max_rejection_body,
                    "body {}",
                    body.len()
                );
                rejected = true;
            }
            _ => {}
        },
    );
    assert!(!(accepted && rejected));
    if !accepted {
        assert_eq!(
            client.buffered_output(),
            0,
            "client wrote during its handshake"
        );
    }
    let out = watch.finish(&mut client);
    if accepted {
        decode_output(&out, Role::Client);
    } else {
        assert!(out.is_empty(), "client wrote after a failed handshake");
    }
    if rejected {
        assert!(matches!(watch.closed, Some(Closed { error: None, .. })));
    }
}
