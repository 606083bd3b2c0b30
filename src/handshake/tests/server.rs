//! Server side: parse_request, Request, write_accept, write_reject,
//! write_error_response (RFC 6455 §4.2, §4.4).

use alloc::string::String;
use alloc::vec::Vec;

use super::head;
use crate::error::{ProtocolError, UsageError};
use crate::handshake::*;

/// The client handshake of RFC 6455 §1.2/§1.3 (VECTORS.md "Full example
/// exchange").
const RFC_REQUEST: [&str; 8] = [
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
];

/// The RFC request with the lines naming `drop` (header name, or the request
/// line for "GET") removed and `add` appended.
fn variant(drop: &[&str], add: &[&str]) -> Vec<u8> {
    let mut lines: Vec<&str> = RFC_REQUEST
        .iter()
        .copied()
        .filter(|l| {
            !drop.iter().any(|d| {
                l.split([':', ' '])
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(d))
            })
        })
        .collect();
    lines.extend_from_slice(add);
    head(&lines)
}

fn parse(h: &[u8]) -> Result<ParsedRequest, ProtocolError> {
    parse_request(h, 64)
}

fn err(h: &[u8]) -> ProtocolError {
    parse(h).unwrap_err()
}

/// VECTORS.md full example exchange (RFC 6455 §1.2/§1.3): parse the request,
/// accept with "chat", and produce the exact response bytes.
#[test]
fn rfc_1_3_full_exchange_byte_for_byte() {
    let h = head(&RFC_REQUEST);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    assert_eq!(req.target(), "/chat");
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), None);
    assert_eq!(req.host(), "server.example.com");
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(
        req.subprotocols().collect::<Vec<_>>(),
        ["chat", "superchat"]
    );
    assert_eq!(req.extensions().count(), 0);

    let mut out = Vec::new();
    write_accept(&mut out, &req, &Accept::new().subprotocol("chat")).unwrap();
    let expected = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "Sec-WebSocket-Protocol: chat",
    ]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}

/// RFC 6455 §4.2.2 step 5: without a subprotocol, no Sec-WebSocket-Protocol
/// line; extra headers come after the handshake's own, in order.
#[test]
fn write_accept_without_protocol_with_extra_headers() {
    let h = head(&RFC_REQUEST);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    let accept = Accept::new()
        .header("Set-Cookie", "id=1; HttpOnly")
        .header("Sec-WebSocket-Extensions", "permessage-deflate");
    assert_eq!(accept.selected_subprotocol(), None);
    let mut out = b"prefix".to_vec();
    write_accept(&mut out, &req, &accept).unwrap();
    let mut expected = b"prefix".to_vec();
    expected.extend(head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "Set-Cookie: id=1; HttpOnly",
        "Sec-WebSocket-Extensions: permessage-deflate",
    ]));
    assert_eq!(out, expected);
}

/// RFC 6455 §4.2.2 /subprotocol/: only an offered value, compared exactly.
#[test]
fn write_accept_refuses_unoffered_protocol() {
    let h = head(&RFC_REQUEST);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    let mut out = Vec::new();
    for p in ["mqtt", "Chat", "", "chat, superchat"] {
        assert_eq!(
            write_accept(&mut out, &req, &Accept::new().subprotocol(p)),
            Err(UsageError::SubprotocolNotOffered),
            "{p:?}"
        );
    }
    assert!(out.is_empty());
    assert!(req.offers_subprotocol("superchat"));
    assert!(!req.offers_subprotocol("SUPERCHAT"));
}

/// Header injection through Accept::header is refused, out untouched; so
/// are headers the 101 sets itself.
#[test]
fn write_accept_refuses_bad_headers() {
    let h = head(&RFC_REQUEST);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    let bad = [
        ("X-A", "a\r\nb"),
        ("X-A", "a\nb"),
        ("X-A", "a\0b"),
        ("X A", "v"),
        ("X-A:", "v"),
        ("", "v"),
        ("X\r\nEvil", "v"),
        ("Sec-WebSocket-Accept", "forged"),
        ("upgrade", "h2c"),
        ("Connection", "close"),
        ("Sec-WebSocket-Protocol", "superchat"),
    ];
    for (n, v) in bad {
        let mut out = Vec::new();
        assert_eq!(
            write_accept(&mut out, &req, &Accept::new().header(n, v)),
            Err(UsageError::InvalidHeader),
            "{n:?}: {v:?}"
        );
        assert!(out.is_empty());
    }
}

/// RFC 6455 §4.1 (offers are tokens) and §4.3 "Sec-WebSocket-Protocol-Server
/// = token": an offer that is not a token (the request is still accepted,
/// leniently) is not listed, so it can never be chosen and echoed.
#[test]
fn write_accept_refuses_non_token_protocol() {
    let h = variant(
        &["Sec-WebSocket-Protocol"],
        &["Sec-WebSocket-Protocol: a b, c/d, chat"],
    );
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    assert_eq!(req.subprotocols().collect::<Vec<_>>(), ["chat"]);
    let mut out = Vec::new();
    assert_eq!(
        write_accept(&mut out, &req, &Accept::new().subprotocol("a b")),
        Err(UsageError::SubprotocolNotOffered)
    );
    assert!(out.is_empty());
    write_accept(&mut out, &req, &Accept::new().subprotocol("chat")).unwrap();
}

/// VECTORS.md real-world shapes: absolute-form target, `Connection:
/// keep-alive, Upgrade`, `Upgrade: WebSocket`, Cookie/Origin/Extensions.
#[test]
fn real_world_shapes_vectors_md() {
    let h = head(&[
        "GET ws://echo.websocket.org/?encoding=text HTTP/1.1",
        "Host: echo.websocket.org",
        "Connection: keep-alive, Upgrade",
        "Upgrade: WebSocket",
        "Origin: http://www.websocket.org",
        "Cookie: a=1; b=2",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: uRovscZjNol/umbTt5uKmw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    assert_eq!(req.target(), "ws://echo.websocket.org/?encoding=text");
    assert_eq!(req.path(), "/");
    assert_eq!(req.query(), Some("encoding=text"));
    assert_eq!(req.host(), "echo.websocket.org");
    assert_eq!(req.header("cookie"), Some(&b"a=1; b=2"[..]));
    assert_eq!(req.header("COOKIE"), Some(&b"a=1; b=2"[..]));
    assert_eq!(req.header("X-Missing"), None);
    assert_eq!(
        req.extensions().collect::<Vec<_>>(),
        ["permessage-deflate; client_max_window_bits"]
    );
    assert_eq!(req.subprotocols().count(), 0);
    assert_eq!(req.headers().count(), 8);
    assert_eq!(
        req.headers().next(),
        Some(("Host", &b"echo.websocket.org"[..]))
    );
    let mut out = Vec::new();
    write_accept(&mut out, &req, &Accept::new()).unwrap();
    assert!(out
        .windows(28)
        .any(|w| w == b"rLHCkw/SKsO9GAH/ZSFhBATDKrU="));
}

/// RFC 6455 §4.2.1 item 1: absolute-form without a path reads as "/"; the
/// authority of an absolute-form target is the host (RFC 9112 §3.2.2).
#[test]
fn absolute_form_without_path_and_authority_as_host() {
    let mut lines: Vec<&str> = alloc::vec!["GET http://Srv.example:8080?x=1 HTTP/1.1"];
    lines.extend(RFC_REQUEST.iter().skip(1).copied());
    let h2 = head(&lines);
    let parsed = parse(&h2).unwrap();
    let req = Request::new(&h2, &parsed);
    assert_eq!(req.path(), "/");
    assert_eq!(req.query(), Some("x=1"));
    assert_eq!(req.host(), "Srv.example:8080");
}

/// Origin-form target: path and query split at the first '?'.
#[test]
fn origin_form_path_and_query() {
    let mut lines: Vec<&str> = alloc::vec!["GET /a/b?x=1&y=?z HTTP/1.1"];
    lines.extend(RFC_REQUEST.iter().skip(1).copied());
    let h = head(&lines);
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    assert_eq!(req.target(), "/a/b?x=1&y=?z");
    assert_eq!(req.path(), "/a/b");
    assert_eq!(req.query(), Some("x=1&y=?z"));
}

/// RFC 6455 §4.2.1 item 1: "*", authority-form and other schemes are not a
/// resource name: 400 (MalformedHttp).
#[test]
fn bad_targets_rejected() {
    for target in [
        "*",
        "server.example.com:80",
        "ftp://h/",
        "http:///x",
        "chat",
    ] {
        let line = alloc::format!("GET {target} HTTP/1.1");
        let mut lines: Vec<&str> = alloc::vec![line.as_str()];
        lines.extend(RFC_REQUEST.iter().skip(1).copied());
        assert_eq!(err(&head(&lines)), ProtocolError::MalformedHttp, "{target}");
    }
}

/// Offsets, not references: the view works on a moved copy of the head.
#[test]
fn parsed_request_survives_moving_the_head() {
    let h = head(&RFC_REQUEST);
    let parsed = parse(&h).unwrap();
    let moved = h.clone();
    drop(h);
    let req = Request::new(&moved, &parsed);
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
}

/// RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
#[test]
fn method_not_get_405() {
    let mut lines: Vec<&str> = alloc::vec!["POST /chat HTTP/1.1"];
    lines.extend(RFC_REQUEST.iter().skip(1).copied());
    assert_eq!(err(&head(&lines)), ProtocolError::MethodNotGet);
    // Methods are case-sensitive (RFC 9110 §9.1).
    lines[0] = "get /chat HTTP/1.1";
    assert_eq!(err(&head(&lines)), ProtocolError::MethodNotGet);
}

/// RFC 6455 §4.2.1 item 1: HTTP/1.0 is too old.
#[test]
fn http_1_0_too_old() {
    let mut lines: Vec<&str> = alloc::vec!["GET /chat HTTP/1.0"];
    lines.extend(RFC_REQUEST.iter().skip(1).copied());
    assert_eq!(err(&head(&lines)), ProtocolError::HttpVersionTooOld);
}

/// RFC 6455 §4.1 item 1: not valid HTTP at all -> 400.
#[test]
fn malformed_http() {
    assert_eq!(err(b"GARBAGE\r\n\r\n"), ProtocolError::MalformedHttp);
    assert_eq!(
        err(b"GET /chat HTTP/1.1\r\nHost"),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        err(b"GET /chat HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        ProtocolError::MalformedHttp
    );
    assert_eq!(
        err(b"GET /chat HTTP/2.0\r\n\r\n"),
        ProtocolError::MalformedHttp
    );
    assert_eq!(err(b""), ProtocolError::MalformedHttp);
}

/// Config::max_headers: more header lines than slots -> 431.
#[test]
fn too_many_headers_431() {
    let h = head(&RFC_REQUEST);
    // RFC_REQUEST has 7 header lines.
    assert_eq!(
        parse_request(&h, 6).unwrap_err(),
        ProtocolError::TooManyHeaders
    );
    assert!(parse_request(&h, 7).is_ok());
    // A "no limit" configuration does not try to allocate usize::MAX slots.
    assert!(parse_request(&h, usize::MAX).is_ok());
    // Densest possible header lines ("a:" + LF): exactly at the limit.
    let mut dense = b"GET / HTTP/1.1\n".to_vec();
    for _ in 0..100 {
        dense.extend_from_slice(b"a:\n");
    }
    dense.push(b'\n');
    assert_eq!(
        parse_request(&dense, 99).unwrap_err(),
        ProtocolError::TooManyHeaders
    );
    assert_eq!(
        parse_request(&dense, 100).unwrap_err(),
        ProtocolError::MissingHost
    );
    assert_eq!(
        parse_request(&dense, usize::MAX).unwrap_err(),
        ProtocolError::MissingHost
    );
    assert_eq!(
        parse_request(&h, 0).unwrap_err(),
        ProtocolError::TooManyHeaders
    );
    assert_eq!(ProtocolError::TooManyHeaders.http_status(), Some(431));
}

/// RFC 6455 §4.2.1 item 2 and RFC 7230 §5.4: exactly one, non-empty Host.
#[test]
fn host_missing_repeated_or_empty() {
    assert_eq!(err(&variant(&["Host"], &[])), ProtocolError::MissingHost);
    assert_eq!(
        err(&variant(&[], &["Host: other.example"])),
        ProtocolError::MissingHost
    );
    assert_eq!(
        err(&variant(&["Host"], &["Host:"])),
        ProtocolError::MissingHost
    );
    assert_eq!(ProtocolError::MissingHost.http_status(), Some(400));
    assert!(parse(&variant(&["Host"], &["hOsT: a"])).is_ok());
}

/// Header values that must be text and are not -> InvalidHeaderValue.
#[test]
fn non_utf8_text_headers() {
    let mut h = variant(&["Host"], &[]);
    h.truncate(h.len() - 2);
    h.extend_from_slice(b"Host: \xff\xfe\r\n\r\n");
    assert_eq!(err(&h), ProtocolError::InvalidHeaderValue);
    let mut h = variant(&["Origin"], &[]);
    h.truncate(h.len() - 2);
    h.extend_from_slice(b"Origin: http://\xc3\x28\r\n\r\n");
    assert_eq!(err(&h), ProtocolError::InvalidHeaderValue);
    let mut h = variant(&[], &[]);
    h.truncate(h.len() - 2);
    h.extend_from_slice(b"Sec-WebSocket-Extensions: x\xff\r\n\r\n");
    assert_eq!(err(&h), ProtocolError::InvalidHeaderValue);
    // A non-UTF-8 Cookie is fine: the server does not interpret it.
    let mut h = variant(&[], &[]);
    h.truncate(h.len() - 2);
    h.extend_from_slice(b"Cookie: \xff\r\n\r\n");
    let parsed = parse(&h).unwrap();
    assert_eq!(
        Request::new(&h, &parsed).header("cookie"),
        Some(&b"\xff"[..])
    );
}

/// RFC 6455 §4.2.1 item 3: Upgrade holding "websocket", any case, in a
/// token list, on any Upgrade line.
#[test]
fn upgrade_header_variants() {
    assert_eq!(
        err(&variant(&["Upgrade"], &[])),
        ProtocolError::MissingUpgrade
    );
    assert_eq!(
        err(&variant(&["Upgrade"], &["Upgrade: h2c"])),
        ProtocolError::MissingUpgrade
    );
    assert_eq!(
        err(&variant(&["Upgrade"], &["Upgrade: websockets"])),
        ProtocolError::MissingUpgrade
    );
    for ok in [
        "Upgrade: WebSocket",
        "UPGRADE: WEBSOCKET",
        "upgrade: h2c, websocket",
        "Upgrade:websocket ",
    ] {
        assert!(parse(&variant(&["Upgrade"], &[ok])).is_ok(), "{ok}");
    }
    assert!(parse(&variant(
        &["Upgrade"],
        &["Upgrade: h2c", "Upgrade: websocket"]
    ))
    .is_ok());
}

/// RFC 6455 §4.2.1 item 4: Connection includes "Upgrade", any case, also
/// when the list is split over two Connection lines (RFC 7230 §3.2.2).
#[test]
fn connection_header_variants() {
    assert_eq!(
        err(&variant(&["Connection"], &[])),
        ProtocolError::MissingConnectionUpgrade
    );
    assert_eq!(
        err(&variant(&["Connection"], &["Connection: keep-alive"])),
        ProtocolError::MissingConnectionUpgrade
    );
    assert_eq!(
        err(&variant(&["Connection"], &["Connection: upgrades"])),
        ProtocolError::MissingConnectionUpgrade
    );
    for ok in [
        "Connection: keep-alive, Upgrade",
        "connection: UPGRADE",
        "Connection: upgrade,keep-alive",
    ] {
        assert!(parse(&variant(&["Connection"], &[ok])).is_ok(), "{ok}");
    }
    assert!(parse(&variant(
        &["Connection"],
        &["Connection: keep-alive", "Connection: Upgrade"]
    ))
    .is_ok());
}

/// RFC 6455 §4.2.1 item 5 and §11.3.1: exactly one key, decoding to 16
/// bytes.
#[test]
fn key_missing_repeated_or_wrong_length() {
    let k = |line: &'static str| variant(&["Sec-WebSocket-Key"], &[line]);
    assert_eq!(
        err(&variant(&["Sec-WebSocket-Key"], &[])),
        ProtocolError::InvalidKey
    );
    assert_eq!(
        err(&variant(
            &[],
            &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
        )),
        ProtocolError::InvalidKey
    );
    // 15 bytes, 17 bytes, not base64, missing padding, empty.
    assert_eq!(
        err(&k("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA")),
        ProtocolError::InvalidKey
    );
    assert_eq!(
        err(&k("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=")),
        ProtocolError::InvalidKey
    );
    assert_eq!(
        err(&k("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!")),
        ProtocolError::InvalidKey
    );
    assert_eq!(
        err(&k("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ")),
        ProtocolError::InvalidKey
    );
    assert_eq!(err(&k("Sec-WebSocket-Key:")), ProtocolError::InvalidKey);
    // The RFC §4.1 example key (non-zero trailing bits) still decodes to 16.
    assert!(parse(&k("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC==")).is_ok());
    assert!(parse(&k("sec-websocket-key:   AQIDBAUGBwgJCgsMDQ4PEA==  ")).is_ok());
}

/// RFC 6455 §4.2.1 item 6, §4.4, §11.3.5: version 13, once.
#[test]
fn version_missing_other_or_repeated() {
    let v = |line: &'static str| variant(&["Sec-WebSocket-Version"], &[line]);
    assert_eq!(
        err(&variant(&["Sec-WebSocket-Version"], &[])),
        ProtocolError::UnsupportedVersion
    );
    for bad in [
        "Sec-WebSocket-Version: 8",
        "Sec-WebSocket-Version: 25",
        "Sec-WebSocket-Version: 13, 8",
    ] {
        assert_eq!(err(&v(bad)), ProtocolError::UnsupportedVersion, "{bad}");
    }
    assert_eq!(
        err(&variant(&[], &["Sec-WebSocket-Version: 13"])),
        ProtocolError::UnsupportedVersion
    );
    assert_eq!(ProtocolError::UnsupportedVersion.http_status(), Some(426));
}

/// Validation order of the brief: method, version, Host, Upgrade,
/// Connection, key, version header.
#[test]
fn validation_order() {
    let h = head(&["POST / HTTP/1.0"]);
    assert_eq!(err(&h), ProtocolError::MethodNotGet);
    let h = head(&["GET / HTTP/1.0"]);
    assert_eq!(err(&h), ProtocolError::HttpVersionTooOld);
    let h = head(&["GET / HTTP/1.1"]);
    assert_eq!(err(&h), ProtocolError::MissingHost);
    let h = head(&["GET / HTTP/1.1", "Host: a"]);
    assert_eq!(err(&h), ProtocolError::MissingUpgrade);
    let h = head(&["GET / HTTP/1.1", "Host: a", "Upgrade: websocket"]);
    assert_eq!(err(&h), ProtocolError::MissingConnectionUpgrade);
    let h = head(&[
        "GET / HTTP/1.1",
        "Host: a",
        "Upgrade: websocket",
        "Connection: upgrade",
    ]);
    assert_eq!(err(&h), ProtocolError::InvalidKey);
    let h = head(&[
        "GET / HTTP/1.1",
        "Host: a",
        "Upgrade: websocket",
        "Connection: upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]);
    assert_eq!(err(&h), ProtocolError::UnsupportedVersion);
}

/// RFC 6455 §11.3.4: Sec-WebSocket-Protocol over several lines is one list;
/// empty entries skipped. §11.3.2 likewise for extensions, and a comma
/// inside a quoted parameter does not split (or panic).
#[test]
fn protocol_and_extension_lists_across_lines() {
    let h = variant(
        &["Sec-WebSocket-Protocol"],
        &[
            "Sec-WebSocket-Protocol: a, ,b",
            "Sec-WebSocket-Protocol: c",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
            "Sec-WebSocket-Extensions: x-bar; p=\"1,2\", x-baz; q=\"unterminated, x",
        ],
    );
    let parsed = parse(&h).unwrap();
    let req = Request::new(&h, &parsed);
    assert_eq!(req.subprotocols().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(
        req.extensions().collect::<Vec<_>>(),
        [
            "permessage-deflate; client_max_window_bits",
            "x-foo",
            "x-bar; p=\"1,2\"",
            "x-baz; q=\"unterminated, x"
        ]
    );
    extern crate std;
    let dbg = std::format!("{req:?}");
    assert!(dbg.contains("server.example.com") && dbg.contains("x-bar"));
}
