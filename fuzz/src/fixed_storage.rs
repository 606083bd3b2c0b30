//! Target 8, `fixed_storage`: heap and fixed storage, same bytes, same result.

use hybi::{Accept, ClientRequest, Config, Connection, Event, Reject, Transmit};

use super::shared::{Chunks, Counting, Cursor, NOW};

/// The same bytes, in the same chunks, through a connection on heap storage
/// and one on fixed buffers sized to the heap one's limits: every event and
/// every output byte must be the same, in either role. Fixed storage changes
/// only what happens when a buffer would grow past its slice; with slices
/// as large as `Config`'s limits that never differs.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0 client (else
/// server), bit 1 `plain_http_requests`, bit 2 accept with the first
/// offered subprotocol, bit 3 `max_handshake_size = 256`, bit 4 the client
/// offers subprotocols `chat` and `v2`. [`Chunks`] describes the split.
pub fn fixed_storage(data: &[u8]) {
    use hybi::handshake::BorrowedRequest;
    use hybi::storage::{FixedBuffers, Storage};

    let mut input = Cursor::new(data);
    let options = input.byte();
    let chunks = Chunks::read(&mut input);
    let stream = input.rest();
    let client = options & 1 != 0;
    let mut config = Config::default();
    config.plain_http_requests = options & 2 != 0;
    let choose_protocol = options & 4 != 0;
    if options & 8 != 0 {
        config.max_handshake_size = 256;
    }
    config.max_rejection_body = 512;
    let protocols: &[&str] = if options & 16 != 0 {
        &["chat", "v2"]
    } else {
        &[]
    };

    /// Feeds the stream, answers a request, drains the output after every
    /// chunk; returns the events (as their Debug text) and all output.
    fn run<S: Storage>(
        conn: &mut Connection<S>,
        stream: &[u8],
        mut chunks: Chunks,
        choose_protocol: bool,
    ) -> (Vec<String>, Vec<u8>) {
        let mut events = Vec::new();
        let mut output = Vec::new();
        let mut bytes = stream.to_vec();
        let mut pos: usize = 0;
        let drain = |conn: &mut Connection<S>, output: &mut Vec<u8>| {
            while let Some(Transmit::Bytes(b)) = conn.poll_transmit() {
                output.extend_from_slice(b);
                let n = b.len();
                conn.transmitted(n);
            }
        };
        drain(conn, &mut output);
        loop {
            let end = pos.saturating_add(chunks.next()).min(bytes.len());
            let mut at = pos;
            loop {
                let step = conn.handle_input(&mut bytes[at..end], NOW);
                at += step.consumed;
                let Some(event) = step.event else { break };
                events.push(format!("{event:?}"));
                let decision = match event {
                    Event::Request(request) if request.is_websocket() => Some(Ok(request
                        .subprotocols()
                        .next()
                        .filter(|_| choose_protocol)
                        .map(String::from))),
                    Event::Request(_) => Some(Err(())),
                    _ => None,
                };
                match decision {
                    Some(Ok(protocol)) => {
                        let accept = match &protocol {
                            Some(p) => Accept::new().subprotocol(p),
                            None => Accept::new(),
                        };
                        let result = conn.accept(accept);
                        events.push(format!("accept {result:?} {:?}", conn.subprotocol()));
                    }
                    Some(Err(())) => {
                        let result = conn.reject(Reject::new(200).body(b"page"));
                        events.push(format!("reject {result:?}"));
                    }
                    None => {}
                }
            }
            while let Some(event) = conn.poll_event() {
                events.push(format!("{event:?}"));
            }
            drain(conn, &mut output);
            pos = end;
            if pos >= bytes.len() {
                break;
            }
        }
        conn.handle_eof(NOW);
        while let Some(event) = conn.poll_event() {
            events.push(format!("{event:?}"));
        }
        drain(conn, &mut output);
        events.push(format!(
            "{:?} {:?} {:?}",
            conn.state(),
            conn.error(),
            conn.subprotocol()
        ));
        (events, output)
    }

    let replay = || Chunks {
        sizes: chunks.sizes.clone(),
        next: 0,
    };
    // A head, then a rejection body, fit the handshake slice exactly as
    // the limits allow; the output slice holds all a session queues
    // between drains.
    let mut handshake = vec![0u8; config.max_handshake_size + config.max_rejection_body];
    let mut output = vec![0u8; 64 * 1024];
    let buffers = FixedBuffers {
        output: &mut output,
        handshake: &mut handshake,
    };
    let (heap, fixed) = if client {
        let uri = "ws://fuzz.example/chat";
        let request = ClientRequest::new(uri)
            .expect("uri")
            .subprotocols(protocols);
        let mut heap =
            Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
        // The same nonce as `client_response`, so its seeds' answers verify.
        let mut rng = Counting(0);
        let request = BorrowedRequest::new(uri)
            .expect("uri")
            .subprotocols(protocols);
        let mut fixed = Connection::client_in(config.clone(), request, &mut rng, buffers, NOW)
            .expect("client_in");
        (
            run(&mut heap, stream, replay(), choose_protocol),
            run(&mut fixed, stream, replay(), choose_protocol),
        )
    } else {
        let mut heap = Connection::server(config.clone(), NOW);
        let mut fixed = Connection::server_in(config.clone(), buffers, NOW);
        (
            run(&mut heap, stream, replay(), choose_protocol),
            run(&mut fixed, stream, replay(), choose_protocol),
        )
    };
    assert_eq!(
        heap.0, fixed.0,
        "events differ between heap and fixed storage"
    );
    assert_eq!(
        heap.1, fixed.1,
        "output differs between heap and fixed storage"
    );
}
