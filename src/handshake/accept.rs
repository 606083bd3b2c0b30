//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §4.1, §4.2.2).
//!
//! Both values are fixed-size base64 strings, so they live in arrays: this
//! file needs no allocator and is available in every build.

use core::fmt;
use core::ops::Deref;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: the "Globally Unique Identifier (GUID, \[RFC4122\])
/// "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" in string form, which is unlikely
/// to be used by network endpoints that do not understand the WebSocket
/// Protocol".
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`:
/// base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455
/// §4.2.2.
///
/// A server sends it to prove it read a WebSocket handshake (not a form post
/// or an XMLHttpRequest aimed at it); a client recomputes it to check the
/// proof. The key is used as the encoded string, never base64-decoded (§4.2.2:
/// "It is not necessary for the server to base64-decode the
/// |Sec-WebSocket-Key| value"). Leading and trailing spaces and tabs are
/// ignored, as §1.3 says the value is taken "minus any leading and trailing
/// whitespace". Works without an allocator.
pub fn accept_key(sec_websocket_key: &[u8]) -> AcceptKey {
    let key = trim_ows(sec_websocket_key);
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    let digest = sha1.finalize();
    // 20 bytes always encode to exactly 28 base64 characters, so the encoder
    // cannot run out of room; the '=' fill keeps the value ASCII regardless.
    let mut out = [b'='; 28];
    let _ = STANDARD.encode_slice(digest, &mut out);
    AcceptKey(out)
}

/// A `Sec-WebSocket-Accept` value: 28 ASCII characters, held inline so it can
/// be computed and compared without an allocator.
///
/// A client keeps the one it expects while waiting for the response; the
/// comparison is byte-for-byte (RFC 6455 §4.1: a value "other than the
/// base64-encoded SHA-1 ..." fails the connection).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// The value as text, ready to be written after `Sec-WebSocket-Accept: `.
    pub fn as_str(&self) -> &str {
        // Always ASCII (base64 alphabet and '='), so this never falls back.
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The value as bytes, for comparing with a header value as received
    /// (header values are bytes, not necessarily UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

impl fmt::Display for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Deref for AcceptKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Encodes a 16-byte nonce as a `Sec-WebSocket-Key` (always 24 ASCII bytes).
///
/// RFC 6455 §4.1 item 7: "The value of this header field MUST be a nonce
/// consisting of a randomly selected 16-byte value that has been
/// base64-encoded". The caller draws the nonce from its `Entropy`; this only
/// encodes it, in a fixed array so no allocator is needed.
// Only the alloc-backed client engine calls it.
#[cfg_attr(not(feature = "alloc"), allow(dead_code))]
pub(crate) fn encode_key(nonce: &[u8; 16]) -> [u8; 24] {
    // 16 bytes always encode to exactly 24 characters (with "==" padding);
    // the 'A' fill keeps the value valid base64 text regardless.
    let mut out = [b'A'; 24];
    let _ = STANDARD.encode_slice(nonce, &mut out);
    out
}

/// Strips HTTP optional whitespace (SP and HTAB) from both ends (RFC 7230
/// §3.2.3 OWS), which never belongs to a field value.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
