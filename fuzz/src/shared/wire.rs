//! Reading what a connection wrote: frames checked against RFC 6455, and
//! HTTP heads.

use hybi::{CloseCode, Connection, Role};

/// A frame a connection wrote, unmasked.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) opcode: u8,
    pub(crate) fin: bool,
    pub(crate) payload: Vec<u8>,
}

/// Decodes what a connection in `role` wrote after its handshake and
/// checks it is a valid RFC 6455 stream from that role: whole frames only,
/// no RSV bit, no reserved opcode, minimal lengths (§5.2: the sender "MUST"),
/// masked exactly when a client sent it (§5.1), control frames final and at
/// most 125 bytes (§5.5), continuations only inside a fragmented message and
/// no new message inside one (§5.4), each text message valid UTF-8 (§5.6),
/// a Close body empty or a valid code and UTF-8 reason (§5.5.1, §7.4), and
/// nothing at all after the Close (§5.5.1).
pub(crate) fn decode_output(bytes: &[u8], role: Role) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut message: Option<u8> = None;
    let mut text = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if let Some(last) = frames.last() {
            assert_ne!(last.opcode, 8, "a frame after our Close");
        }
        assert!(rest.len() >= 2, "truncated frame header");
        let (b0, b1) = (rest[0], rest[1]);
        assert_eq!(b0 & 0x70, 0, "RSV bits sent");
        let (opcode, fin) = (b0 & 0x0f, b0 & 0x80 != 0);
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                assert!(rest.len() >= 4, "truncated frame header");
                let len = u64::from(u16::from_be_bytes([rest[2], rest[3]]));
                assert!(len >= 126, "non-minimal 16-bit length {len}");
                (len, 4)
            }
            127 => {
                assert!(rest.len() >= 10, "truncated frame header");
                let len = announced_length(rest);
                assert!(len > 0xffff && len >> 63 == 0, "bad 64-bit length {len}");
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let masked = b1 & 0x80 != 0;
        assert_eq!(masked, role == Role::Client, "{role:?} masking");
        let mut key = [0u8; 4];
        if masked {
            assert!(rest.len() >= pos + 4, "truncated masking key");
            key.copy_from_slice(&rest[pos..pos + 4]);
            pos += 4;
        }
        let len = usize::try_from(len).expect("length");
        assert!(rest.len() - pos >= len, "truncated payload");
        let payload: Vec<u8> = rest[pos..pos + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        rest = &rest[pos + len..];
        match opcode {
            0 => assert!(message.is_some(), "continuation with nothing to continue"),
            1 | 2 => {
                assert!(message.is_none(), "new message inside a fragmented one");
                message = Some(opcode);
            }
            8..=10 => assert!(fin && len <= 125, "control frame fin={fin} len={len}"),
            _ => panic!("reserved opcode {opcode} sent"),
        }
        if opcode <= 2 {
            if message == Some(1) {
                text.extend_from_slice(&payload);
            }
            if fin {
                assert!(std::str::from_utf8(&text).is_ok(), "invalid text sent");
                text.clear();
                message = None;
            }
        }
        if opcode == 8 {
            assert_ne!(payload.len(), 1, "one-byte Close body");
            if payload.len() >= 2 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                assert!(CloseCode(code).is_valid_on_wire(), "sent Close code {code}");
                assert!(std::str::from_utf8(&payload[2..]).is_ok(), "Close reason");
            }
        }
        frames.push(Frame {
            opcode,
            fin,
            payload,
        });
    }
    if let Err(e) = std::str::from_utf8(&text) {
        assert!(
            e.error_len().is_none(),
            "invalid text sent in an unfinished message"
        );
    }
    frames
}

/// The Close frame written, if any, carries `close_sent()`'s code, and one
/// was written if `close_sent()` says so.
pub(crate) fn check_close_frame(frames: &[Frame], conn: &Connection) {
    let close = frames.iter().find(|f| f.opcode == 8);
    let code = close.map(|f| match f.payload[..] {
        [a, b, ..] => CloseCode(u16::from_be_bytes([a, b])),
        _ => CloseCode::NO_STATUS,
    });
    assert_eq!(
        code,
        conn.close_sent(),
        "Close frame written vs close_sent()"
    );
}

/// The 64-bit-or-less payload length field of a complete header.
pub(crate) fn announced_length(h: &[u8]) -> u64 {
    match h[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
        127 => h[2..10].iter().fold(0, |acc, &b| (acc << 8) | u64::from(b)),
        n => u64::from(n),
    }
}

/// Length of the HTTP head at the start of `bytes`, empty line included.
pub(crate) fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// Checks `bytes` is exactly one HTTP/1.1 response whose Content-Length is
/// its body's length, and returns its status.
pub(crate) fn http_response(bytes: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(bytes);
    let head = head_len(bytes).unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status: u16 = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP/1.1 status line in {text:?}"));
    let length = text[..head]
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {text:?}"));
    assert_eq!(bytes.len() - head, length, "body length in {text:?}");
    status
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
