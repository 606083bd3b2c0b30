//! Connections whose opening handshake is done and its output taken, with
//! permessage-deflate agreed when the config asks for it.

use hybi::{accept_key, Accept, ClientRequest, Config, Connection, Role};

use super::{feed_chunk, take_output, Counting, Ev, Watch, CLIENT_KEY, CLIENT_URI, NOW};

/// The RFC 6455 §1.2 client request.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A connection in `role` whose handshake is done and its output taken.
pub(crate) fn open(role: Role, config: Config) -> Connection {
    let mut watch = Watch::new(&config);
    let deflate = deflate_headers(&config);
    match role {
        Role::Server => {
            let mut server = Connection::server(config, NOW);
            let mut request = RFC_REQUEST.to_vec();
            if let Some((offer, _)) = deflate {
                // Before the empty line that ends the head.
                request.truncate(request.len() - 2);
                request.extend_from_slice(offer.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
            feed_chunk(&mut server, &mut watch, &mut request, &mut |conn, _, _| {
                conn.accept(Accept::new()).expect("accept");
            });
            let answer = take_output(&mut server, &mut watch);
            assert!(answer.starts_with(b"HTTP/1.1 101 "));
            assert_eq!(has_deflate(&server), deflate.is_some());
            server
        }
        Role::Client => {
            let request = ClientRequest::new(CLIENT_URI).expect("URI");
            let mut client = Connection::client(config, request, Counting(0), NOW).expect("client");
            let _ = take_output(&mut client, &mut watch);
            let mut response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{}\r\n",
                accept_key(CLIENT_KEY.as_bytes()),
                deflate.map_or("", |(_, answer)| answer)
            )
            .into_bytes();
            feed_chunk(&mut client, &mut watch, &mut response, &mut |_, _, _| {});
            assert!(matches!(watch.events[..], [Ev::Accepted { .. }]));
            assert_eq!(has_deflate(&client), deflate.is_some());
            client
        }
    }
}

#[cfg(feature = "deflate")]
fn has_deflate(conn: &Connection) -> bool {
    conn.deflate().is_some()
}

#[cfg(not(feature = "deflate"))]
fn has_deflate(_: &Connection) -> bool {
    false
}

/// The permessage-deflate offer a server is given, and the answer a client
/// is given, when `config` asks for deflate (RFC 7692 §5; the
/// no_context_takeover variant asks the peer to reset).
#[cfg(feature = "deflate")]
fn deflate_headers(config: &Config) -> Option<(&'static str, &'static str)> {
    let deflate = config.deflate.as_ref()?;
    Some(if deflate.remote_no_context_takeover {
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        )
    } else {
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        )
    })
}

#[cfg(not(feature = "deflate"))]
fn deflate_headers(_: &Config) -> Option<(&'static str, &'static str)> {
    None
}
