//! Target 1, `frame_header`: `FrameHeader::parse` on arbitrary bytes.

use hybi::frame::{FrameHeader, Parsed, MAX_HEADER_LEN};
use hybi::ProtocolError;

use super::shared::announced_length;

/// `FrameHeader::parse` on arbitrary bytes (the input is the buffer).
///
/// Checked against an independent reading of RFC 6455 §5.2:
/// * `Complete(h, n)`: `n <= len` and `n` is the length the first two bytes
///   announce; every field of `h` is the bits of the input; a control frame
///   is final and at most 125 bytes; the length is below 2^63. If `h` is
///   minimal, `encode` reproduces `input[..n]` exactly; if not, `encode`
///   writes a shorter header that parses back to the same `h`.
/// * `Partial(need)`: `need > len`, and it is 2 before two bytes arrived and
///   the announced length after; the same bytes completed with zeros never
///   give `Partial` again.
/// * An error is one of the four documented for `parse` (ReservedOpcode,
///   LengthTopBitSet, ControlFrameTooLong, FragmentedControlFrame), and a
///   rule that the header really breaks; a header breaking no rule parses.
/// * `parse` never looks past the header: `input[..n]` gives the same
///   result as the whole input, and every shorter prefix gives `Partial`.
pub fn frame_header(data: &[u8]) {
    let result = FrameHeader::parse(data);
    let announced = match data {
        [b0, b1, ..] => FrameHeader::len_from_prefix([*b0, *b1]),
        _ => 2,
    };
    // Every shorter prefix is incomplete, whatever the header holds.
    for k in 0..announced.min(data.len()) {
        assert!(
            matches!(FrameHeader::parse(&data[..k]), Ok(Parsed::Partial(_))),
            "prefix of {k} bytes of {data:02x?} is not Partial"
        );
    }
    match result {
        Ok(Parsed::Partial(need)) => {
            assert!(
                need > data.len(),
                "Partial({need}) for {} bytes",
                data.len()
            );
            assert_eq!(need, announced, "Partial({need}) for {data:02x?}");
            let mut completed = data.to_vec();
            completed.resize(need, 0);
            assert!(
                !matches!(FrameHeader::parse(&completed), Ok(Parsed::Partial(_))),
                "still Partial after {need} bytes: {completed:02x?}"
            );
        }
        Ok(Parsed::Complete(h, n)) => {
            assert!(n <= data.len() && n <= MAX_HEADER_LEN, "consumed {n}");
            assert_eq!(n, announced, "header length for {data:02x?}");
            assert!(rules_broken(data).is_empty(), "{data:02x?} parsed: {h:?}");
            let (b0, b1) = (data[0], data[1]);
            assert_eq!(h.fin, b0 & 0x80 != 0);
            assert_eq!(h.rsv, (b0 >> 4) & 7);
            assert_eq!(h.opcode as u8, b0 & 0x0f);
            assert_eq!(h.mask.is_some(), b1 & 0x80 != 0);
            if let Some(key) = h.mask {
                assert_eq!(key[..], data[n - 4..n], "masking key");
            }
            assert_eq!(h.payload_len, announced_length(data), "payload length");
            assert!(h.payload_len >> 63 == 0);
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125, "control frame {h:?}");
            }
            let mut out = [0u8; MAX_HEADER_LEN];
            let written = h.encode(&mut out);
            assert_eq!(written, h.encoded_len());
            if h.is_minimal(n) {
                assert_eq!(&out[..written], &data[..n], "encode(parse(x)) != x");
            } else {
                assert!(written < n, "non-minimal {n} bytes re-encoded in {written}");
                assert_eq!(
                    FrameHeader::parse(&out[..written]),
                    Ok(Parsed::Complete(h, written)),
                    "re-encoded header does not parse back"
                );
            }
            // Nothing past the header is read.
            assert_eq!(FrameHeader::parse(&data[..n]), result);
        }
        Err(e) => {
            assert!(
                data.len() >= announced,
                "error {e:?} before the whole header"
            );
            assert!(
                rules_broken(data).contains(&e),
                "{e:?} for {data:02x?}, which breaks only {:?}",
                rules_broken(data)
            );
            assert_eq!(FrameHeader::parse(&data[..announced]), result);
        }
    }
}

/// The §5.2/§5.5 rules a complete header breaks, worked out bit by bit.
fn rules_broken(h: &[u8]) -> Vec<ProtocolError> {
    let mut broken = Vec::new();
    let opcode = h[0] & 0x0f;
    if matches!(opcode, 3..=7 | 0xb..=0xf) {
        broken.push(ProtocolError::ReservedOpcode);
    }
    let len = announced_length(h);
    if len >> 63 != 0 {
        broken.push(ProtocolError::LengthTopBitSet);
    }
    if opcode & 0x8 != 0 {
        if len > 125 {
            broken.push(ProtocolError::ControlFrameTooLong);
        }
        if h[0] & 0x80 == 0 {
            broken.push(ProtocolError::FragmentedControlFrame);
        }
    }
    broken
}
