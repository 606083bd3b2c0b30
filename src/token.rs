//! The HTTP token grammar (RFC 9110 §5.6.2, formerly RFC 7230 §3.2.6),
//! shared by the handshake (subprotocols, header names) and the extension
//! grammar (`Sec-WebSocket-Extensions`, RFC 6455 §9.1), so neither borrows
//! it from the other.

/// `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
/// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// `token = 1*tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(b"permessage-deflate"));
        assert!(is_token(b"chat.v2~x"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a,b"));
        assert!(!is_token(b"\"quoted\""));
        assert!((0u8..=127).filter(|&b| is_tchar(b)).count() == 77);
    }
}
