//! Target 7, `round_trip`: messages both ways through a client and a
//! server, then a closing handshake.

use hybi::{Accept, ClientRequest, CloseCode, Config, Connection, MessageKind, State};

use super::shared::{
    feed, take_output, Chunks, Counting, Cursor, Ev, Messages, Watch, CLIENT_URI, NOW,
};

/// Messages from a client to a server and back through the engines, the
/// bytes split arbitrarily on the way, then a closing handshake.
///
/// Layout: `[chunks to server] [chunks to client] [close] [message ..]`.
/// Close: a byte `b`, `code = [1000, 1001, 1005 (none), 1011, 3000,
/// 4999][b % 6]`, the server closes if bit 7 is set and the client if not,
/// permessage-deflate is agreed (everything compressed) if bit 6 is set;
/// then a byte for the length of the reason and its bytes (lossy UTF-8). Each
/// message: a header byte (bit 0 server to client, bit 1 text, bits 2-3 one
/// to four fragments, bit 4 a Ping after the first fragment), a length byte,
/// the payload (lossy UTF-8 for text), then one byte per cut point.
///
/// Checked: the handshake completes with subprotocol `chat` on both sides;
/// every send succeeds (text cut anywhere, even inside a code point); the
/// messages each side receives (chunks joined) are exactly those the other
/// sent, text as text, even those arriving after the receiver's own Close;
/// Pings arrive in order and every Pong answers one; the Close arrives with
/// its code and reason and the echo with its code; nothing follows a Close;
/// both end `Closed` clean with that code; the server asks to shut the
/// transport at once, the client only after EOF (RFC 6455 §7.1.1); plus
/// [`Watch`]'s invariants throughout.
pub fn round_trip(data: &[u8]) {
    let mut input = Cursor::new(data);
    let mut to_server = Chunks::read(&mut input);
    let mut to_client = Chunks::read(&mut input);
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let mut config = Config::default();
    let close = input.byte();
    let code = [1000, 1001, 1005, 1011, 3000, 4999][usize::from(close % 6)];
    let server_closes = close & 0x80 != 0;
    // Bit 6: both ends agree permessage-deflate and compress every message
    // (so fragments, Pings between them and the close all cross compressed).
    #[cfg(feature = "deflate")]
    if close & 0x40 != 0 {
        let mut deflate = hybi::DeflateConfig::default();
        deflate.min_compress_size = 0;
        config.deflate = Some(deflate);
    }
    let len = usize::from(input.byte() % 124);
    let mut reason = String::from_utf8_lossy(input.bytes(len)).into_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    if code == 1005 {
        reason.clear();
    }

    let request = ClientRequest::new(CLIENT_URI)
        .expect("URI")
        .subprotocols(&["chat"]);
    let mut client = Connection::client(config.clone(), request, Counting(7), NOW).expect("client");
    let mut server = Connection::server(config.clone(), NOW);
    let (mut cw, mut sw) = (Watch::new(&config), Watch::new(&config));

    // The opening handshake, through the engines.
    let head = take_output(&mut client, &mut cw);
    feed(
        &mut server,
        &mut sw,
        &head,
        &mut to_server,
        |conn, event, _| {
            assert!(matches!(event, Ev::Request { protocols, .. } if protocols[..] == ["chat"]));
            conn.accept(Accept::new().subprotocol("chat"))
                .expect("accept");
        },
    );
    let answer = take_output(&mut server, &mut sw);
    feed(&mut client, &mut cw, &answer, &mut to_client, |_, _, _| {});
    assert!(
        matches!(cw.events[..], [Ev::Accepted { .. }]),
        "{:?}",
        cw.events
    );
    assert_eq!(client.subprotocol(), Some("chat"));
    assert_eq!(server.subprotocol(), Some("chat"));
    assert_eq!((client.state(), server.state()), (State::Open, State::Open));

    // Both sides queue their messages, then the client closes.
    let mut sent = [Messages::default(), Messages::default()];
    let mut pings: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    while !input.is_empty() {
        let header = input.byte();
        let dir = usize::from(header & 1);
        let kind = if header & 2 != 0 {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        let fragments = 1 + usize::from((header >> 2) & 3);
        let len = usize::from(input.byte());
        let raw = input.bytes(len);
        let payload = match kind {
            MessageKind::Text => String::from_utf8_lossy(raw).into_owned().into_bytes(),
            MessageKind::Binary => raw.to_vec(),
        };
        let mut cuts: Vec<usize> = (1..fragments)
            .map(|_| usize::from(input.byte()) % (payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let conn = if dir == 0 { &mut client } else { &mut server };
        let mut start = 0;
        for (n, &end) in cuts.iter().enumerate() {
            let fin = n + 1 == cuts.len();
            conn.send(kind, &payload[start..end], fin)
                .expect("send of a valid fragment");
            if n == 0 && header & 16 != 0 {
                let ping = &payload[..payload.len().min(125)];
                conn.ping(ping).expect("ping");
                pings[dir].push(ping.to_vec());
            }
            start = end;
        }
        sent[dir].push(kind, &payload, true);
    }
    let closer = if server_closes {
        &mut server
    } else {
        &mut client
    };
    closer.close(CloseCode(code), &reason).expect("close");

    // Client to server, server to client, and the client's answer to a
    // server's Close back.
    let bytes = take_output(&mut client, &mut cw);
    feed(&mut server, &mut sw, &bytes, &mut to_server, |_, _, _| {});
    let bytes = take_output(&mut server, &mut sw);
    feed(&mut client, &mut cw, &bytes, &mut to_client, |_, _, _| {});
    let bytes = take_output(&mut client, &mut cw);
    if server_closes {
        feed(&mut server, &mut sw, &bytes, &mut to_server, |_, _, _| {});
    } else {
        assert!(bytes.is_empty(), "client wrote after its Close");
    }
    assert!(
        take_output(&mut server, &mut sw).is_empty(),
        "server wrote after its Close"
    );
    assert_eq!(sw.shutdowns, 1, "server did not shut the transport");
    assert_eq!(cw.shutdowns, 0, "client shut the transport before EOF");

    let code_received = (code != 1005).then_some(code);
    // The closer's peer gets the reason; the closer gets the code back.
    let (to_server_reason, to_client_reason) = match server_closes {
        false => (reason.as_str(), ""),
        true => ("", reason.as_str()),
    };
    for (watch, from, reason) in [(&sw, 0, to_server_reason), (&cw, 1, to_client_reason)] {
        let received = Messages::from_events(&watch.events);
        assert_eq!(received, sent[from], "messages changed on the way");
        let got_pings: Vec<Vec<u8>> = watch
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got_pings, pings[from], "pings changed");
        for e in &watch.events {
            if let Ev::Pong(p) = e {
                assert!(pings[1 - from].contains(p), "Pong {p:?} answers no Ping");
            }
        }
        let close = Ev::Close {
            code: code_received,
            reason: reason.to_string(),
        };
        assert!(watch.events.contains(&close), "expected {close:?}");
        let closed = watch.closed.expect("Closed");
        assert_eq!(
            (closed.code.0, closed.clean, closed.error),
            (code, true, None)
        );
    }
    client.handle_eof(cw.now);
    let _ = take_output(&mut client, &mut cw);
    assert_eq!(
        cw.shutdowns, 1,
        "client did not shut the transport after EOF"
    );
}
