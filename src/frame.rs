//! The frame wire format (RFC 6455 §5.2): opcodes, headers, length rules.
//!
//! No allocation and no state: [`FrameHeader::parse`] reads a header from the
//! front of a buffer (or says how many more bytes it needs), and
//! [`FrameHeader::encode`] writes one into a 14-byte array. The rules that
//! depend on the connection (which side masks, which RSV bits an extension
//! owns, the size limits, fragmentation order) are checked by the connection;
//! the rules that hold for every frame are checked here.

use crate::error::ProtocolError;

/// The two kinds of data message (RFC 6455 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text, validated by the engine.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// The longest possible frame header: 2 + 8 (64-bit length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest control frame payload (§5.5: "125 bytes or less").
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame opcode (§5.2). The reserved values 0x3-0x7 and 0xB-0xF have no
/// variant: parsing them is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: the first frame of a text message.
    Text = 0x1,
    /// 0x2: the first frame of a binary message.
    Binary = 0x2,
    /// 0x8: starts or answers the closing handshake.
    Close = 0x8,
    /// 0x9: asks for a Pong.
    Ping = 0x9,
    /// 0xA: answers a Ping, or a unidirectional heartbeat.
    Pong = 0xA,
}

impl Opcode {
    /// The opcode for a 4-bit value, or `None` if it is reserved.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        Some(match value {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Control frames have the top bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// RSV1 as it sits in the header's first byte's `rsv` field (bit 2 of 3).
pub const RSV1: u8 = 0b100;
/// RSV2.
pub const RSV2: u8 = 0b010;
/// RSV3.
pub const RSV3: u8 = 0b001;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// RSV1, RSV2 and RSV3 as three bits (RSV1 is `0b100`).
    pub rsv: u8,
    /// What the payload is.
    pub opcode: Opcode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length, at most 2^63 - 1.
    pub payload_len: u64,
}

/// The outcome of [`FrameHeader::parse`] on a buffer that may be short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The header, and how many bytes it took.
    Complete(FrameHeader, usize),
    /// The buffer is too short to decide: the header needs this many bytes
    /// in all (known after the first two). The rules are checked once the
    /// whole header is there, so the verdict does not depend on how the
    /// bytes were split.
    Partial(usize),
}

impl FrameHeader {
    /// The header length announced by its first two bytes.
    pub fn len_from_prefix(b0_b1: [u8; 2]) -> usize {
        let ext = match b0_b1[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b0_b1[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    /// Parses a header at the start of `buf`.
    ///
    /// Checks the rules that hold for every frame: no reserved opcode, the
    /// top bit of a 64-bit length clear, and control frames unfragmented and
    /// at most 125 bytes. RSV bits, masking direction and size limits are
    /// left to the caller, which knows the negotiated extensions and role.
    pub fn parse(buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(Parsed::Partial(2));
        };
        let header_len = Self::len_from_prefix([b0, b1]);
        if buf.len() < header_len {
            return Ok(Parsed::Partial(header_len));
        }
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        // RFC 6455 §5.2: "If an unknown opcode is received, the receiving
        // endpoint MUST _Fail the WebSocket Connection_."
        let opcode = Opcode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(be);
                // RFC 6455 §5.2: "the most significant bit MUST be 0".
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            // RFC 6455 §5.5: "All control frames MUST have a payload length of
            // 125 bytes or less and MUST NOT be fragmented."
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        let mask = if masked {
            let key = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
            pos += 4;
            Some(key)
        } else {
            None
        };
        Ok(Parsed::Complete(
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        ))
    }

    /// Whether the length field of a header that took `header_len` bytes was
    /// the shortest encoding of its value (§5.2: "the minimal number of bytes
    /// MUST be used to encode the length").
    pub fn is_minimal(&self, header_len: usize) -> bool {
        header_len == self.encoded_len()
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length encoding; returns its length.
    ///
    /// A `payload_len` of 2^63 or more cannot be represented and is written
    /// with its top bit cleared; callers never build such a header.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&(len & (u64::MAX >> 1)).to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(bytes: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::parse(bytes) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7, single-frame unmasked text "Hello".
        let (h, n) = parse_ok(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, Opcode::Text, None, 5, 2)
        );
        // Masked "Hello".
        let (h, n) = parse_ok(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f]);
        assert_eq!(
            (h.mask, h.payload_len, n),
            (Some([0x37, 0xfa, 0x21, 0x3d]), 5, 6)
        );
        // 256 bytes binary, 65536 bytes binary.
        assert_eq!(parse_ok(&[0x82, 0x7e, 0x01, 0x00]).0.payload_len, 256);
        let (h, n) = parse_ok(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn partial_reports_needed_length() {
        assert_eq!(FrameHeader::parse(&[]), Ok(Parsed::Partial(2)));
        assert_eq!(FrameHeader::parse(&[0x82]), Ok(Parsed::Partial(2)));
        assert_eq!(
            FrameHeader::parse(&[0x82, 0xff, 0]),
            Ok(Parsed::Partial(14))
        );
        assert_eq!(FrameHeader::parse(&[0x82, 0x7e, 0]), Ok(Parsed::Partial(4)));
    }

    #[test]
    fn every_rule() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode)
            );
        }
        assert_eq!(
            FrameHeader::parse(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::LengthTopBitSet)
        );
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong)
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        // 125-byte ping is fine.
        assert_eq!(parse_ok(&[0x89, 125]).0.payload_len, 125);
    }

    #[test]
    fn minimal_lengths_round_trip() {
        for len in [0u64, 1, 125, 126, 65535, 65536, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: Opcode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut out);
                assert_eq!(n, h.encoded_len());
                let (back, m) = parse_ok(&out[..n]);
                assert_eq!((back, m), (h, n));
                assert!(back.is_minimal(m));
            }
        }
        // 124 encoded in the 16-bit form is valid syntax but not minimal.
        let (h, n) = parse_ok(&[0x82, 126, 0, 124]);
        assert_eq!(h.payload_len, 124);
        assert!(!h.is_minimal(n));
    }
}
