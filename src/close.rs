//! Close codes and Close frame bodies (RFC 6455 §5.5.1, §7.4).
//!
//! A Close body is empty, or a two-byte code in network order followed by a
//! UTF-8 reason. The codes that may travel on the wire are those defined in
//! §7.4.1 and registered with IANA, plus the 3000-4999 ranges of §7.4.2;
//! 1004, 1005, 1006 and 1015 are reserved for local use and never valid in a
//! frame.

use core::fmt;

use crate::error::ProtocolError;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// A thin wrapper over the `u16`: any value can be represented (a peer may
/// send anything), and [`is_valid_on_wire`](Self::is_valid_on_wire) says
/// whether it may appear in a Close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was present in the Close frame. Never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a Close frame. Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a policy violation.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed. Never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame, sent or received.
    ///
    /// RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011; the IANA registry adds
    /// 1012-1014. 1004 is reserved, and 1005, 1006 and 1015 "MUST NOT be set
    /// as a status code in a Close control frame by an endpoint". §7.4.2:
    /// 0-999 are not used, the rest of 1000-2999 is for future RFCs (so not
    /// valid today), 3000-4999 are for libraries and applications.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses and validates the body of a received Close frame.
///
/// Returns `None` for an empty body (the close code is then 1005 by §7.1.5),
/// or the code and the reason.
pub fn parse_close_body(body: &[u8]) -> Result<Option<(CloseCode, &str)>, ProtocolError> {
    match body {
        [] => Ok(None),
        // RFC 6455 §5.5.1: "If there is a body, the first two bytes of the body
        // MUST be a 2-byte unsigned integer".
        [_] => Err(ProtocolError::CloseBodyTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            // RFC 6455 §8.1: invalid UTF-8 fails the connection (with 1007).
            let reason =
                core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_rfc_and_registry() {
        let valid: &[u16] = &[
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid: &[u16] = &[
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for &c in valid {
            assert!(CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for &c in invalid {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_close_body(&[]), Ok(None));
        assert_eq!(
            parse_close_body(&[0x03]),
            Err(ProtocolError::CloseBodyTooShort)
        );
        assert_eq!(
            parse_close_body(&[0x03, 0xe8, b'o', b'k']),
            Ok(Some((CloseCode::NORMAL, "ok")))
        );
        assert_eq!(
            parse_close_body(&[0x03, 0xed]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_body(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidCloseReason)
        );
    }
}
