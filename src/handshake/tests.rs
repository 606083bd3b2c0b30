//! Tests of the opening handshake. Each names its source: an RFC 6455
//! section, /work/shared/rfc/VECTORS.md, or the rule it pins down.

use alloc::vec::Vec;

use super::*;
use crate::error::ProtocolError;

mod client;
mod props;
mod proxy;
mod reject;
mod server;
mod uri;

/// Builds a head from lines: each ends with CRLF, then the empty line.
pub(super) fn head(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

// ---- Sec-WebSocket-Accept (RFC 6455 §4.2.2, VECTORS.md) ----

/// VECTORS.md "Opening handshake" table: all four key/accept pairs.
#[test]
fn accept_key_vectors_md() {
    let pairs = [
        // RFC 6455 §1.3
        ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        // widely quoted example handshake
        ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
        // browser handshake with permessage-deflate
        ("5fTJ1LTuh3RKjSJxydyifQ==", "ZUip34t+bCjhkvxxwhmdEOyx9hE="),
        // echo-server handshake
        ("uRovscZjNol/umbTt5uKmw==", "rLHCkw/SKsO9GAH/ZSFhBATDKrU="),
    ];
    for (key, accept) in pairs {
        let got = accept_key(key.as_bytes());
        assert_eq!(got.as_str(), accept, "key {key}");
        assert_eq!(got.as_bytes(), accept.as_bytes());
    }
}

/// VECTORS.md negative vector: the bad transcription (digit one for l,
/// digit zero for O) is not the accept value of its key.
#[test]
fn accept_key_negative_vector_md() {
    let got = accept_key(b"x3JJHMbDL1EzLkh9GBhXDw==");
    assert_ne!(got.as_str(), "HSmrc0sM1YUkAGmm50PpG2HaGWk=");
}

/// RFC 6455 §1.3: the key is taken "minus any leading and trailing
/// whitespace".
#[test]
fn accept_key_ignores_surrounding_whitespace() {
    assert_eq!(
        accept_key(b" \tdGhlIHNhbXBsZSBub25jZQ== ").as_str(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// AcceptKey is usable as text: Display, Deref<Target = str>, Debug.
#[test]
fn accept_key_text_views() {
    extern crate std;
    use std::format;
    let k = accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(format!("{k}"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(k.len(), 28);
    assert!(k.ends_with('='));
    assert_eq!(
        format!("{k:?}"),
        "AcceptKey(\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\")"
    );
    assert_eq!(k, accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
}

/// RFC 6455 §4.1 item 7: the key is a base64-encoded 16-byte nonce. The
/// RFC's own example prints "AQIDBAUGBwgJCgsMDQ4PEC==" (a known erratum:
/// non-zero trailing bits); canonical base64 ends in "EA==".
#[test]
fn encode_key_rfc_4_1_example_nonce() {
    let nonce: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    assert_eq!(&encode_key(&nonce), b"AQIDBAUGBwgJCgsMDQ4PEA==");
    assert_eq!(&encode_key(&[0; 16]), b"AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(&encode_key(&[0xff; 16]), b"/////////////////////w==");
}

// ---- HeadReader ----

const MAX: usize = 16 * 1024;

/// The RFC 6455 §1.2 request, fed whole: consumed entirely, complete.
#[test]
fn head_reader_whole() {
    let h = head(&["GET /chat HTTP/1.1", "Host: server.example.com"]);
    let mut r = HeadReader::new(Vec::new());
    assert_eq!(r.feed(&h, MAX), Ok((h.len(), true)));
    assert_eq!(r.head(), &h[..]);
    // Once complete, nothing more is taken.
    assert_eq!(r.feed(b"more", MAX), Ok((0, true)));
    assert_eq!(r.head(), &h[..]);
}

/// One byte at a time: complete exactly at the last byte of the empty line.
#[test]
fn head_reader_one_byte_at_a_time() {
    let h = head(&[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
    ]);
    let mut r = HeadReader::new(Vec::new());
    for (i, b) in h.iter().enumerate() {
        let (n, done) = r.feed(core::slice::from_ref(b), MAX).unwrap();
        assert_eq!(n, 1);
        assert_eq!(done, i == h.len() - 1, "byte {i}");
    }
    assert_eq!(r.head(), &h[..]);
    assert_eq!(r.bytes_scanned(), h.len());
}

/// The bytes after the empty line are frames, not head: consumed exactly
/// up to the end of the head, the rest left to the caller.
#[test]
fn head_reader_leaves_trailing_bytes() {
    let h = head(&["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket"]);
    let mut input = h.clone();
    input.extend_from_slice(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    let mut r = HeadReader::new(Vec::new());
    assert_eq!(r.feed(&input, MAX), Ok((h.len(), true)));
    assert_eq!(r.head(), &h[..]);
    assert_eq!(
        &input[h.len()..],
        &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
    );
}

/// Split in two pieces across the CRLF CRLF terminator.
#[test]
fn head_reader_terminator_split_across_feeds() {
    let h = head(&["GET / HTTP/1.1", "Host: a"]);
    for cut in 1..h.len() {
        let mut r = HeadReader::new(Vec::new());
        assert_eq!(r.feed(&h[..cut], MAX), Ok((cut, false)), "cut {cut}");
        let mut rest = h[cut..].to_vec();
        rest.extend_from_slice(b"XYZ");
        assert_eq!(r.feed(&rest, MAX), Ok((h.len() - cut, true)), "cut {cut}");
        assert_eq!(r.head(), &h[..]);
    }
}

/// Bare LF line ends (accepted by httparse) end the head too: LF LF, and the
/// mixed forms LF CR LF and CRLF LF.
#[test]
fn head_reader_bare_lf() {
    for h in [
        &b"GET / HTTP/1.1\nHost: a\n\nrest"[..],
        &b"GET / HTTP/1.1\nHost: a\n\r\nrest"[..],
        &b"GET / HTTP/1.1\r\nHost: a\r\n\nrest"[..],
    ] {
        let mut r = HeadReader::new(Vec::new());
        let (n, done) = r.feed(h, MAX).unwrap();
        assert!(done);
        assert_eq!(&h[n..], b"rest");
        // httparse agrees the head ends exactly there.
        let mut slots = [httparse::EMPTY_HEADER; 4];
        let mut req = httparse::Request::new(&mut slots);
        assert_eq!(req.parse(r.head()), Ok(httparse::Status::Complete(n)));
    }
}

/// RFC 7230 §3.5: empty lines before the start line are skipped, not read
/// as an (empty) end of head.
#[test]
fn head_reader_skips_leading_empty_lines() {
    let mut input = b"\r\n\r\n".to_vec();
    let h = head(&["GET / HTTP/1.1", "Host: a"]);
    input.extend_from_slice(&h);
    let mut r = HeadReader::new(Vec::new());
    assert_eq!(r.feed(&input, MAX), Ok((input.len(), true)));
}

/// RFC 6455 §10.4 limits: a head of exactly `max` bytes is accepted; one of
/// `max + 1` fails with HandshakeTooLarge without storing more than `max`.
#[test]
fn head_reader_size_cap_exact_and_one_over() {
    let h = head(&["GET / HTTP/1.1", "Host: a"]);
    let mut r = HeadReader::new(Vec::new());
    assert_eq!(r.feed(&h, h.len()), Ok((h.len(), true)));

    let mut r = HeadReader::new(Vec::new());
    assert_eq!(
        r.feed(&h, h.len() - 1),
        Err(ProtocolError::HandshakeTooLarge)
    );
    assert!(r.head().len() < h.len());
    // Sticky: the reader is failed for good.
    assert_eq!(
        r.feed(b"\r\n", h.len()),
        Err(ProtocolError::HandshakeTooLarge)
    );

    // Byte by byte, the error comes at the first byte past the cap, and
    // never more than `max` bytes are held.
    let max = h.len() - 1;
    let mut r = HeadReader::new(Vec::new());
    for (i, b) in h.iter().enumerate() {
        let res = r.feed(core::slice::from_ref(b), max);
        if i < max {
            assert_eq!(res, Ok((1, false)));
        } else {
            assert_eq!(res, Err(ProtocolError::HandshakeTooLarge));
        }
        assert!(r.head().len() <= max);
    }
}

/// A cap of zero refuses any byte; empty input is not an error.
#[test]
fn head_reader_zero_cap() {
    let mut r = HeadReader::new(Vec::new());
    assert_eq!(r.feed(b"", 0), Ok((0, false)));
    assert_eq!(r.feed(b"G", 0), Err(ProtocolError::HandshakeTooLarge));
}

/// RUSTSEC-2023-0065: a 64 KiB head fed one byte at a time costs linear
/// work (each byte examined once), and a head that never ends is cut off at
/// the cap with each byte examined once as well.
#[test]
fn head_reader_linear_cost_byte_by_byte() {
    let max = 64 * 1024;
    let mut lines = Vec::new();
    let pad = "a".repeat(100);
    let mut text = alloc::vec![alloc::string::String::from("GET / HTTP/1.1")];
    let mut size = 16;
    let mut i = 0;
    while size + 130 < max - 4 {
        let line = alloc::format!("X-Pad-{i}: {pad}");
        size += line.len() + 2;
        text.push(line);
        i += 1;
    }
    for l in &text {
        lines.push(l.as_str());
    }
    let h = head(&lines);
    assert!(h.len() <= max && h.len() > 60 * 1024);
    let mut r = HeadReader::new(Vec::new());
    for b in &h {
        r.feed(core::slice::from_ref(b), max).unwrap();
    }
    assert_eq!(r.feed(b"", max), Ok((0, true)));
    assert!(r.bytes_scanned() <= h.len());
    assert_eq!(r.head(), &h[..]);

    // Never-ending head: at most `max` bytes examined before the error.
    let mut r = HeadReader::new(Vec::new());
    let mut err = None;
    for _ in 0..max + 10 {
        if let Err(e) = r.feed(b"a", max) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(ProtocolError::HandshakeTooLarge));
    assert!(r.bytes_scanned() <= max);
}
