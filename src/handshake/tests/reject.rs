//! Rejections: write_reject and write_error_response (RFC 6455 §4.2.2,
//! §4.4).

use alloc::vec::Vec;

use crate::error::{ProtocolError, UsageError};
use crate::handshake::*;

fn text(out: &[u8]) -> &str {
    core::str::from_utf8(out).unwrap()
}

/// RFC 6455 §4.2.2 step 2-4 rejections: status line, caller headers,
/// Content-Length, Connection: close, body.
#[test]
fn write_reject_shapes() {
    let mut out = Vec::new();
    write_reject(&mut out, 403, &[("X-Why", "origin")], b"no").unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 403 Forbidden\r\nX-Why: origin\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
    );
    let mut out = Vec::new();
    write_reject(
        &mut out,
        302,
        &[
            ("Location", "wss://elsewhere/"),
            ("Connection", "keep-alive"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 302 Found\r\nLocation: wss://elsewhere/\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    );
    let mut out = Vec::new();
    write_reject(
        &mut out,
        401,
        &[("WWW-Authenticate", "Basic"), ("content-length", "0")],
        b"",
    )
    .unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\ncontent-length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    write_reject(&mut out, 599, &[], b"").unwrap();
    assert!(text(&out).starts_with("HTTP/1.1 599 Error\r\n"));
    let mut out = Vec::new();
    write_reject(&mut out, 204, &[], b"").unwrap();
    assert_eq!(
        text(&out),
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    );
}

/// write_reject refuses statuses outside 200..=599 (101 included) and bad
/// headers, leaving out untouched.
#[test]
fn write_reject_errors() {
    let mut out = Vec::new();
    for status in [0, 100, 101, 199, 600, 999] {
        assert_eq!(
            write_reject(&mut out, status, &[], b""),
            Err(UsageError::InvalidStatus)
        );
    }
    assert_eq!(
        write_reject(&mut out, 204, &[], b"x"),
        Err(UsageError::InvalidStatus)
    );
    assert_eq!(
        write_reject(&mut out, 400, &[("X", "a\r\nSet-Cookie: evil")], b""),
        Err(UsageError::InvalidHeader)
    );
    assert_eq!(
        write_reject(&mut out, 400, &[("X Y", "v")], b""),
        Err(UsageError::InvalidHeader)
    );
    assert!(out.is_empty());
}

/// write_error_response: 400, 405 (Allow: GET), 426 (RFC 6455 §4.4
/// Sec-WebSocket-Version: 13), 431.
#[test]
fn write_error_response_statuses() {
    let mut out = Vec::new();
    write_error_response(&mut out, ProtocolError::InvalidKey);
    let body = "missing or invalid Sec-WebSocket-Key";
    assert_eq!(
        text(&out),
        alloc::format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    );

    let mut out = Vec::new();
    write_error_response(&mut out, ProtocolError::MethodNotGet);
    assert!(text(&out).starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(text(&out).contains("\r\nAllow: GET\r\n"));
    assert!(text(&out).ends_with("\r\n\r\nmethod must be GET"));

    let mut out = Vec::new();
    write_error_response(&mut out, ProtocolError::UnsupportedVersion);
    let t = text(&out);
    assert!(t.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(t.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(t.contains("\r\nUpgrade: websocket\r\n"));
    assert_eq!(t.matches("Connection:").count(), 1);

    for e in [
        ProtocolError::HandshakeTooLarge,
        ProtocolError::TooManyHeaders,
    ] {
        let mut out = Vec::new();
        write_error_response(&mut out, e);
        assert!(text(&out).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(!text(&out).contains("Sec-WebSocket-Version"));
    }

    // An error with no HTTP status (a framing error) still answers 400.
    let mut out = Vec::new();
    write_error_response(&mut out, ProtocolError::ReservedOpcode);
    assert!(text(&out).starts_with("HTTP/1.1 400 Bad Request\r\n"));

    // Every answer is itself a well-formed response with a matching length.
    let mut slots = [httparse::EMPTY_HEADER; 8];
    let mut resp = httparse::Response::new(&mut slots);
    let n = resp.parse(&out).unwrap().unwrap();
    assert_eq!(&out[n..], ProtocolError::ReservedOpcode.as_str().as_bytes());
}
