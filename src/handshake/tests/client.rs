//! Client side: ClientRequest::write, parse_response, Response (RFC 6455
//! §4.1).

use alloc::vec::Vec;

use super::head;
use crate::error::{ProtocolError, UsageError};
use crate::handshake::*;

/// The widely quoted example key of VECTORS.md.
const KEY: [u8; 24] = *b"x3JJHMbDL1EzLkh9GBhXDw==";

fn request() -> ClientRequest {
    ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .subprotocols(&["chat", "superchat"])
        .extensions(&["permessage-deflate; client_max_window_bits"])
}

fn parse(lines: &[&str], req: &ClientRequest) -> Result<ParsedResponse, ProtocolError> {
    parse_response(&head(lines), 64, &accept_key(&KEY), req)
}

const OK_101: [&str; 4] = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = OK_101.to_vec();
    v.extend_from_slice(extra);
    v
}

fn without(name: &str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut v: Vec<&str> = OK_101
        .iter()
        .copied()
        .filter(|l| {
            !l.to_ascii_lowercase()
                .starts_with(&name.to_ascii_lowercase())
        })
        .collect();
    v.extend_from_slice(extra);
    v
}

/// RFC 6455 §4.1 items 1-12: exact bytes of a request with an origin, two
/// subprotocols, an extension and a Cookie header.
#[test]
fn client_request_exact_bytes() {
    let req = ClientRequest::new("ws://example.com/chat?room=1")
        .unwrap()
        .origin("http://example.com")
        .subprotocols(&["chat", "superchat"])
        .extensions(&["permessage-deflate; client_max_window_bits"])
        .headers(&[("Cookie", "a=b")]);
    assert_eq!(
        req.offered_subprotocols().collect::<Vec<_>>(),
        ["chat", "superchat"]
    );
    let key = encode_key(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    let mut out = Vec::new();
    req.write(&key, &mut out).unwrap();
    let expected = head(&[
        "GET /chat?room=1 HTTP/1.1",
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
        "Sec-WebSocket-Version: 13",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Cookie: a=b",
    ]);
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        core::str::from_utf8(&expected).unwrap()
    );
}

/// A minimal request: no Origin, protocol or extension lines at all.
#[test]
fn client_request_minimal() {
    let mut out = Vec::new();
    ClientRequest::new("ws://h")
        .unwrap()
        .write(&KEY, &mut out)
        .unwrap();
    assert_eq!(
        out,
        head(&[
            "GET / HTTP/1.1",
            "Host: h",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
            "Sec-WebSocket-Version: 13",
        ])
    );
}

/// Header injection attempts are refused with InvalidHeader, out untouched.
#[test]
fn client_request_header_injection() {
    let base = || ClientRequest::new("ws://h/").unwrap();
    let cases = [
        base().headers(&[("X-A", "a\r\nb")]),
        base().headers(&[("X-A", "a\nb")]),
        base().headers(&[("X-A", "a\rb")]),
        base().headers(&[("X-A", "a\0b")]),
        base().headers(&[("a\r\nb", "v")]),
        base().headers(&[("X A", "v")]),
        base().headers(&[("", "v")]),
        base().origin("http://a\r\nX-Evil: 1"),
        // Headers the handshake sets itself.
        base().headers(&[("Host", "evil")]),
        base().headers(&[("upgrade", "h2c")]),
        base().headers(&[("Connection", "close")]),
        base().headers(&[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]),
        base().headers(&[("sec-websocket-version", "8")]),
        base().headers(&[("Sec-WebSocket-Protocol", "chat")]),
        base().headers(&[("Sec-WebSocket-Extensions", "x")]),
        base().origin("http://a").headers(&[("Origin", "http://b")]),
    ];
    for req in cases {
        let mut out = Vec::new();
        assert_eq!(
            req.write(&KEY, &mut out),
            Err(UsageError::InvalidHeader),
            "{req:?}"
        );
        assert!(out.is_empty());
    }
    // Origin as a plain extra header is fine when origin() is not used.
    let mut out = Vec::new();
    base()
        .headers(&[("Origin", "http://b")])
        .write(&KEY, &mut out)
        .unwrap();
    // A key with a line break is refused too.
    let mut bad_key = KEY;
    bad_key[3] = b'\n';
    assert_eq!(
        base().write(&bad_key, &mut Vec::new()),
        Err(UsageError::InvalidHeader)
    );
}

/// RFC 6455 §4.1 item 10: subprotocols are tokens, all unique; §9.1:
/// extension entries start with a token and hold no line breaks.
#[test]
fn client_request_invalid_tokens() {
    let base = || ClientRequest::new("ws://h/").unwrap();
    let cases = [
        base().subprotocols(&[""]),
        base().subprotocols(&["a b"]),
        base().subprotocols(&["a,b"]),
        base().subprotocols(&["chat\r\n"]),
        base().subprotocols(&["caf\u{e9}"]),
        base().subprotocols(&["chat", "chat"]),
        base().extensions(&["permessage-deflate\r\nX: y"]),
        base().extensions(&["x\n"]),
        base().extensions(&[""]),
        base().extensions(&[" , "]),
        base().extensions(&["; p=1"]),
        base().extensions(&["bad name; p"]),
    ];
    for req in cases {
        let mut out = Vec::new();
        assert_eq!(
            req.write(&KEY, &mut out),
            Err(UsageError::InvalidToken),
            "{req:?}"
        );
        assert!(out.is_empty());
    }
}

/// RFC 6455 §4.1 "If the status code received from the server is not 101"
/// list: the 101 happy path, with and without a subprotocol.
#[test]
fn response_101_happy_path() {
    let req = request();
    let h = head(&OK_101);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    assert_eq!(parsed.status(), 101);
    let resp = Response::new(&h, &parsed);
    assert_eq!((resp.status(), resp.reason()), (101, "Switching Protocols"));
    assert_eq!(resp.subprotocol(), None);
    assert_eq!(resp.extensions().count(), 0);

    let lines = with(&[
        "Sec-WebSocket-Protocol: superchat",
        "Sec-WebSocket-Extensions: permessage-deflate",
    ]);
    let h = head(&lines);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    let resp = Response::new(&h, &parsed);
    assert_eq!(resp.subprotocol(), Some("superchat"));
    assert_eq!(
        resp.extensions().collect::<Vec<_>>(),
        ["permessage-deflate"]
    );
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some(&b"HSmrc0sMlYUkAGmm5OPpG2HaGWk="[..])
    );
    assert_eq!(resp.headers().count(), 5);
    extern crate std;
    assert!(std::format!("{resp:?}").contains("superchat"));
}

/// §4.1 steps 2-3: Upgrade and Connection compare case-insensitively.
#[test]
fn response_case_variants() {
    let req = request();
    let lines = [
        "HTTP/1.1 101 Web Socket Protocol Handshake",
        "UPGRADE: WebSocket",
        "connection: keep-alive, UPGRADE",
        "sec-websocket-accept:  HSmrc0sMlYUkAGmm5OPpG2HaGWk=  ",
        "SEC-WEBSOCKET-PROTOCOL: chat",
        "sec-websocket-extensions: PerMessage-Deflate; server_no_context_takeover",
    ];
    assert!(parse(&lines, &req).is_ok());
}

/// §4.1 step 2: MissingUpgrade.
#[test]
fn response_missing_upgrade() {
    let req = request();
    assert_eq!(
        parse(&without("Upgrade", &[]), &req).unwrap_err(),
        ProtocolError::MissingUpgrade
    );
    assert_eq!(
        parse(&without("Upgrade", &["Upgrade: h2c"]), &req).unwrap_err(),
        ProtocolError::MissingUpgrade
    );
}

/// §4.1 step 3: MissingConnectionUpgrade.
#[test]
fn response_missing_connection_upgrade() {
    let req = request();
    assert_eq!(
        parse(&without("Connection", &[]), &req).unwrap_err(),
        ProtocolError::MissingConnectionUpgrade
    );
    assert_eq!(
        parse(&without("Connection", &["Connection: keep-alive"]), &req).unwrap_err(),
        ProtocolError::MissingConnectionUpgrade
    );
}

/// §4.1 step 4 and §11.3.3: Sec-WebSocket-Accept missing, repeated or wrong,
/// including the VECTORS.md negative vector.
#[test]
fn response_accept_mismatch() {
    let req = request();
    let e = |lines: &[&str]| parse(lines, &req).unwrap_err();
    assert_eq!(
        e(&without("Sec-WebSocket-Accept", &[])),
        ProtocolError::AcceptMismatch
    );
    // VECTORS.md negative vector for key x3JJHMbDL1EzLkh9GBhXDw==.
    assert_eq!(
        e(&without(
            "Sec-WebSocket-Accept",
            &["Sec-WebSocket-Accept: HSmrc0sM1YUkAGmm50PpG2HaGWk="]
        )),
        ProtocolError::AcceptMismatch
    );
    assert_eq!(
        e(&with(&[
            "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        ])),
        ProtocolError::AcceptMismatch
    );
    // The RFC §1.3 accept belongs to another key.
    assert_eq!(
        e(&without(
            "Sec-WebSocket-Accept",
            &["Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
        )),
        ProtocolError::AcceptMismatch
    );
    // Base64 is case-sensitive.
    assert_eq!(
        e(&without(
            "Sec-WebSocket-Accept",
            &["Sec-WebSocket-Accept: hsmrc0smlyukagmm5oppg2hagwk="]
        )),
        ProtocolError::AcceptMismatch
    );
}

/// §4.1 step 6, §11.3.4: one offered token, once; exact case.
#[test]
fn response_unoffered_subprotocol() {
    let req = request();
    let e = |extra: &[&'static str], req: &ClientRequest| parse(&with(extra), req).unwrap_err();
    assert_eq!(
        e(&["Sec-WebSocket-Protocol: mqtt"], &req),
        ProtocolError::UnofferedSubprotocol
    );
    assert_eq!(
        e(&["Sec-WebSocket-Protocol: Chat"], &req),
        ProtocolError::UnofferedSubprotocol
    );
    assert_eq!(
        e(&["Sec-WebSocket-Protocol: chat, superchat"], &req),
        ProtocolError::UnofferedSubprotocol
    );
    assert_eq!(
        e(&["Sec-WebSocket-Protocol:"], &req),
        ProtocolError::UnofferedSubprotocol
    );
    assert_eq!(
        e(
            &[
                "Sec-WebSocket-Protocol: chat",
                "Sec-WebSocket-Protocol: chat"
            ],
            &req
        ),
        ProtocolError::UnofferedSubprotocol
    );
    // Present although nothing was offered.
    let bare = ClientRequest::new("ws://h/").unwrap();
    assert_eq!(
        e(&["Sec-WebSocket-Protocol: chat"], &bare),
        ProtocolError::UnofferedSubprotocol
    );
}

/// §4.1 step 5: every accepted extension name was offered (name compared
/// case-insensitively); several lines accepted.
#[test]
fn response_unoffered_extension() {
    let req = request();
    let e = |extra: &[&'static str], req: &ClientRequest| parse(&with(extra), req).unwrap_err();
    assert_eq!(
        e(&["Sec-WebSocket-Extensions: x-webkit-deflate-frame"], &req),
        ProtocolError::UnofferedExtension
    );
    assert_eq!(
        e(
            &["Sec-WebSocket-Extensions: permessage-deflate, x-foo"],
            &req
        ),
        ProtocolError::UnofferedExtension
    );
    assert_eq!(
        e(
            &[
                "Sec-WebSocket-Extensions: permessage-deflate",
                "Sec-WebSocket-Extensions: x-foo"
            ],
            &req
        ),
        ProtocolError::UnofferedExtension
    );
    let bare = ClientRequest::new("ws://h/").unwrap();
    assert_eq!(
        e(&["Sec-WebSocket-Extensions: permessage-deflate"], &bare),
        ProtocolError::UnofferedExtension
    );
    // Parameters do not matter to this check; empty entries are skipped.
    assert!(parse(
        &with(&["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10, "]),
        &req
    )
    .is_ok());
    // Non-UTF-8 extension values are not text.
    let mut h = head(&OK_101);
    h.truncate(h.len() - 2);
    h.extend_from_slice(b"Sec-WebSocket-Extensions: \xff\r\n\r\n");
    assert_eq!(
        parse_response(&h, 64, &accept_key(&KEY), &req).unwrap_err(),
        ProtocolError::InvalidHeaderValue
    );
}

/// §4.1 step 1: a non-101 answer is handled per HTTP; Ok with its status,
/// no WebSocket checks. location() for redirects.
#[test]
fn response_rejections_are_ok() {
    let req = request();
    let h = head(&[
        "HTTP/1.1 401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"x\"",
        "Content-Length: 12",
    ]);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    assert_eq!(
        (
            parsed.status(),
            parsed.content_length(),
            parsed.is_chunked()
        ),
        (401, Some(12), false)
    );
    let resp = Response::new(&h, &parsed);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(&b"Basic realm=\"x\""[..])
    );
    assert_eq!(resp.location(), None);

    let h = head(&["HTTP/1.1 403 Forbidden", "Transfer-Encoding: gzip, chunked"]);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    assert_eq!(
        (
            parsed.status(),
            parsed.content_length(),
            parsed.is_chunked()
        ),
        (403, None, true)
    );
    assert_eq!(Response::new(&h, &parsed).reason(), "Forbidden");

    let h = head(&[
        "HTTP/1.1 302 Found",
        "Location:  wss://other.example/chat ",
        "Content-Length: 0",
    ]);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    let resp = Response::new(&h, &parsed);
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.location(), Some("wss://other.example/chat"));

    // HTTP/1.0 rejections are fine; a bogus protocol header is not checked.
    let h = head(&["HTTP/1.0 500 Oops", "Sec-WebSocket-Protocol: nope"]);
    let parsed = parse_response(&h, 64, &accept_key(&KEY), &req).unwrap();
    assert_eq!(Response::new(&h, &parsed).subprotocol(), Some("nope"));
}

/// Content-Length: absent -> None; invalid or conflicting -> the response
/// is refused (RFC 9112 §6.3 rule 5), unless chunked framing overrides it.
#[test]
fn response_content_length_rules() {
    let req = request();
    let cl = |lines: &[&str]| parse(lines, &req).map(|p| p.content_length());
    assert_eq!(cl(&["HTTP/1.1 400 Bad Request"]), Ok(None));
    for bad in [
        &["HTTP/1.1 400 Bad Request", "Content-Length: x"][..],
        &["HTTP/1.1 400 Bad Request", "Content-Length: -1"],
        &[
            "HTTP/1.1 400 Bad Request",
            "Content-Length: 99999999999999999999999",
        ],
        &[
            "HTTP/1.1 400 Bad Request",
            "Content-Length: 5",
            "Content-Length: 6",
        ],
    ] {
        assert_eq!(cl(bad), Err(ProtocolError::MalformedHttp), "{bad:?}");
    }
    let chunked = [
        "HTTP/1.1 400 Bad Request",
        "Transfer-Encoding: chunked",
        "Content-Length: x",
    ];
    assert!(parse(&chunked, &req).unwrap().is_chunked());
    assert_eq!(
        cl(&[
            "HTTP/1.1 400 Bad Request",
            "Content-Length: 5",
            "content-length: 5"
        ]),
        Ok(Some(5))
    );
}

/// A 1xx other than 101 cannot continue the handshake.
#[test]
fn response_informational() {
    let req = request();
    assert_eq!(
        parse(&["HTTP/1.1 100 Continue"], &req).unwrap_err(),
        ProtocolError::UnexpectedInformational
    );
    assert_eq!(
        parse(&["HTTP/1.1 103 Early Hints"], &req).unwrap_err(),
        ProtocolError::UnexpectedInformational
    );
}

/// Syntax: malformed heads, out-of-range statuses, too many headers, and a
/// 101 over HTTP/1.0.
#[test]
fn response_syntax_errors() {
    let req = request();
    let exp = accept_key(&KEY);
    assert_eq!(
        parse_response(b"HTTP/1.1 abc\r\n\r\n", 64, &exp, &req).unwrap_err(),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 101", 64, &exp, &req).unwrap_err(),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        parse_response(b"", 64, &exp, &req).unwrap_err(),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        parse(&["HTTP/1.1 099 X"], &req).unwrap_err(),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        parse(&["HTTP/1.1 600 X"], &req).unwrap_err(),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        parse_response(&head(&OK_101), 2, &exp, &req).unwrap_err(),
        ProtocolError::TooManyHeaders
    );
    assert!(parse_response(&head(&OK_101), usize::MAX, &exp, &req).is_ok());
    let mut old = OK_101;
    old[0] = "HTTP/1.0 101 Switching Protocols";
    assert_eq!(
        parse(&old, &req).unwrap_err(),
        ProtocolError::HttpVersionTooOld
    );
    // Bare LF line ends parse (as httparse accepts them).
    let h = b"HTTP/1.1 101 OK\nUpgrade: websocket\nConnection: upgrade\nSec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\n\n";
    assert!(parse_response(h, 64, &exp, &req).is_ok());
    // A reason phrase with obs-text reads as empty, not garbage.
    let h = b"HTTP/1.1 400 B\xe4d\r\n\r\n";
    let parsed = parse_response(h, 64, &exp, &req).unwrap();
    assert_eq!(Response::new(h, &parsed).reason(), "");
}

/// Both roles together: the client's request parses on the server, the
/// server's 101 validates on the client (RFC 6455 §4.1 + §4.2).
#[test]
fn round_trip_client_server_client() {
    let creq = ClientRequest::new("wss://[::1]:9001/chat?x=1")
        .unwrap()
        .origin("https://example.com")
        .subprotocols(&["v2.chat", "v1.chat"])
        .extensions(&["permessage-deflate; client_max_window_bits"])
        .headers(&[("Authorization", "Bearer t")]);
    let key = encode_key(&[7; 16]);
    let mut wire = Vec::new();
    creq.write(&key, &mut wire).unwrap();

    let parsed = parse_request(&wire, 64).unwrap();
    let sreq = Request::new(&wire, &parsed);
    assert_eq!(
        (sreq.host(), sreq.path(), sreq.query()),
        ("[::1]:9001", "/chat", Some("x=1"))
    );
    assert_eq!(sreq.origin(), Some("https://example.com"));
    assert_eq!(sreq.header("authorization"), Some(&b"Bearer t"[..]));
    let chosen = sreq.subprotocols().find(|p| *p == "v1.chat").unwrap();
    let mut answer = Vec::new();
    write_accept(
        &mut answer,
        &sreq,
        &Accept::new()
            .subprotocol(chosen)
            .header("Sec-WebSocket-Extensions", "permessage-deflate"),
    )
    .unwrap();

    let mut reader = HeadReader::new(Vec::new());
    answer.extend_from_slice(&[0x81, 0x00]);
    let (n, done) = reader.feed(&answer, 16 * 1024).unwrap();
    assert!(done);
    assert_eq!(&answer[n..], &[0x81, 0x00]);
    let presp = parse_response(reader.head(), 64, &accept_key(&key), &creq).unwrap();
    let resp = Response::new(reader.head(), &presp);
    assert_eq!((resp.status(), resp.subprotocol()), (101, Some("v1.chat")));
    assert_eq!(
        resp.extensions().collect::<Vec<_>>(),
        ["permessage-deflate"]
    );
}
