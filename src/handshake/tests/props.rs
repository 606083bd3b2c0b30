//! Property tests: no input makes the handshake code panic, and how the
//! bytes are split never changes what the head reader sees.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::head;
use crate::handshake::*;

fn valid_request() -> Vec<u8> {
    head(&[
        "GET /chat?x=1 HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Version: 13",
    ])
}

proptest! {
    /// Arbitrary bytes: parse_request, parse_response and the view methods
    /// return (Ok or a typed error) without panicking.
    #[test]
    fn arbitrary_heads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(parsed) = parse_request(&bytes, 16) {
            let r = Request::new(&bytes, &parsed);
            let _ = (r.target(), r.path(), r.query(), r.host(), r.origin(), r.key());
            let _ = (r.headers().count(), r.subprotocols().count(), r.extensions().count());
        }
        let req = ClientRequest::new("ws://h/").unwrap().subprotocols(&["chat"]).extensions(&["x"]);
        if let Ok(parsed) = parse_response(&bytes, 16, &accept_key(b"k"), &req) {
            let r = Response::new(&bytes, &parsed);
            let _ = (r.status(), r.reason(), r.subprotocol(), r.location(), r.extensions().count());
        }
    }

    /// Mutating one byte of a valid request never panics.
    #[test]
    fn mutated_requests_never_panic(pos in 0usize..300, byte in any::<u8>()) {
        let mut h = valid_request();
        let i = pos % h.len();
        h[i] = byte;
        if let Ok(parsed) = parse_request(&h, 16) {
            let r = Request::new(&h, &parsed);
            let _ = (r.path(), r.query(), r.host(), r.subprotocols().count(), r.extensions().count());
            let mut out = Vec::new();
            let _ = write_accept(&mut out, &r, &Accept::new().subprotocol("chat"));
        }
    }

    /// Any split of the input into pieces gives the same head and the same
    /// number of consumed bytes as feeding it whole.
    #[test]
    fn head_reader_split_invariance(cuts in proptest::collection::vec(1usize..40, 0..40)) {
        let h = valid_request();
        let mut input = h.clone();
        input.extend_from_slice(b"\x81\x00trailing");
        let mut r = HeadReader::new(Vec::new());
        let mut at = 0;
        let mut cuts = cuts.into_iter();
        loop {
            let step = cuts.next().unwrap_or(input.len());
            let end = (at + step).min(input.len());
            let (n, done) = r.feed(&input[at..end], 1024).unwrap();
            if done {
                at += n;
                break;
            }
            prop_assert_eq!(n, end - at);
            at = end;
        }
        prop_assert_eq!(at, h.len());
        prop_assert_eq!(r.head(), &h[..]);
        prop_assert_eq!(r.bytes_scanned(), h.len());
    }

    /// Arbitrary URI strings: Ok or InvalidUri, and an accepted URI always
    /// writes a request that the server side parses back to the same target.
    #[test]
    fn arbitrary_uris(uri in "(ws|wss|WS|http)://[a-z0-9\\[\\]:@/?#%. \\-]{0,30}") {
        if let Ok(req) = ClientRequest::new(&uri) {
            let mut out = Vec::new();
            req.write(&encode_key(&[9; 16]), &mut out).unwrap();
            let parsed = parse_request(&out, 16).unwrap();
            let r = Request::new(&out, &parsed);
            prop_assert_eq!(r.target(), req.target());
        }
    }
}

/// One header line as a generator: a token name, optional spaces and tabs,
/// a value of visible characters, spaces, tabs, colons and obs-text.
fn header_line() -> impl Strategy<Value = Vec<u8>> {
    (
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
        "[ \t]{0,3}",
        proptest::collection::vec(
            prop_oneof![
                Just(b' '),
                Just(b'\t'),
                Just(b':'),
                0x21u8..0x7f,
                0x80u8..=0xff
            ],
            0..24,
        ),
        "[ \t]{0,3}",
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(name, pre, value, post, end)| {
            let mut line = name.into_bytes();
            line.push(b':');
            line.extend_from_slice(pre.as_bytes());
            line.extend_from_slice(&value);
            line.extend_from_slice(post.as_bytes());
            line.extend_from_slice(end.as_bytes());
            line
        })
}

proptest! {
    /// `header_lines` (the allocation-free rescan behind `Request::headers`
    /// and `Response::headers`) finds exactly the headers httparse parsed,
    /// in order, with the same names and the same values once surrounding
    /// spaces and tabs are trimmed, for requests and responses, CRLF or LF,
    /// with empty lines before the start line.
    #[test]
    fn header_lines_match_httparse(
        lines in proptest::collection::vec(header_line(), 0..12),
        leading in 0usize..3,
        response in any::<bool>(),
    ) {
        let mut head = b"\r\n".repeat(leading);
        head.extend_from_slice(if response { b"HTTP/1.1 200 OK\r\n" } else { b"GET / HTTP/1.1\r\n" });
        for line in &lines {
            head.extend_from_slice(line);
        }
        head.extend_from_slice(b"\r\n");
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let parsed: Option<Vec<(Vec<u8>, Vec<u8>)>> = if response {
            let mut r = httparse::Response::new(&mut slots);
            matches!(r.parse(&head), Ok(httparse::Status::Complete(_))).then(|| {
                r.headers.iter().map(|h| (h.name.as_bytes().to_vec(), tokens::trim_ows(h.value).to_vec())).collect()
            })
        } else {
            let mut r = httparse::Request::new(&mut slots);
            matches!(r.parse(&head), Ok(httparse::Status::Complete(_))).then(|| {
                r.headers.iter().map(|h| (h.name.as_bytes().to_vec(), tokens::trim_ows(h.value).to_vec())).collect()
            })
        };
        // Only heads httparse accepted are ever rescanned.
        if let Some(expected) = parsed {
            let found: Vec<(Vec<u8>, Vec<u8>)> = tokens::header_lines(&head)
                .map(|h| (h.name.bytes(&head).to_vec(), h.value.bytes(&head).to_vec()))
                .collect();
            prop_assert_eq!(found, expected);
        }
    }
}
