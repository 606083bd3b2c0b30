//! An HTTP CONNECT tunnel through a proxy (RFC 9110 §9.3.6), as a sans-IO
//! step before the WebSocket handshake: build the `CONNECT` request, read
//! the proxy's answer in any chunking, and say where the tunnel's bytes
//! begin.
//!
//! The public type, [`ProxyConnect`], documents the choices made.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;

use super::head::HeadReader;
use super::tokens::{
    is_field_value, is_valid_header, push_decimal, push_header, with_header_slots,
};
use super::uri::valid_chars;
use super::ClientRequest;
use crate::error::UsageError;

/// The CONNECT exchange with one proxy, for one target (RFC 9110 §9.3.6),
/// without I/O: it writes the request, reads the proxy's answer in any
/// chunking, and says where the tunnel's bytes begin.
///
/// ```
/// use hybi::handshake::ProxyConnect;
/// use hybi::ClientRequest;
///
/// let request = ClientRequest::new("wss://example.com/chat").unwrap();
/// let mut tunnel = ProxyConnect::for_request(&request).basic_auth("alice", "s3cret");
/// let mut out = Vec::new();
/// tunnel.write_request(&mut out).unwrap();
/// assert!(out.starts_with(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"));
/// // ... write `out` to the proxy, then feed what it answers:
/// let answer = b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03";
/// let input = tunnel.handle_input(answer).unwrap();
/// assert!(input.established);
/// // Bytes after the head already belong to the tunnel (TLS or the
/// // server's 101): hand them to the next layer, never drop them.
/// assert_eq!(&answer[input.consumed..], b"\x16\x03");
/// ```
///
/// Choices, and why:
///
/// * The request target is authority-form `host:port` (RFC 9112 §3.2.3),
///   the port always written, an IPv6 literal in brackets. `Host` carries
///   the same authority, as curl sends it.
/// * `Proxy-Authorization: Basic base64(user ":" password)` (RFC 9110
///   §11.7.2, RFC 7617) when credentials are set. A user name containing
///   `:` cannot be expressed in Basic and is refused
///   ([`UsageError::InvalidHeader`]), as are control characters.
/// * Any 2xx establishes the tunnel (RFC 9110 §9.3.6: "Any 2xx (Successful)
///   response indicates that the sender (and all inbound proxies) will
///   switch to tunnel mode immediately after the response header section").
///   Its `Content-Length` and `Transfer-Encoding` are ignored, as the same
///   section requires.
/// * Interim 1xx answers (say, a `100 Continue`) are skipped and the next
///   head read (RFC 9110 §15.2: "A client MUST be able to parse one or more
///   1xx responses received prior to a final response"). A 101 is not
///   interim here: switching protocols makes no sense for CONNECT, so it
///   fails like any other non-2xx final answer.
/// * 407 is its own error, [`ProxyError::AuthenticationRequired`], so a
///   caller can ask the user for credentials and try again (RFC 9110
///   §11.7.1, §15.5.8). Every other status is [`ProxyError::Refused`] with
///   the code. The body of a refusal is not read: the connection is to be
///   closed.
/// * The whole answer (interim heads included) is bounded by
///   `max_head_size` (default 16 KiB, the default
///   `Config::max_handshake_size`) and `max_headers` (default 64), with the
///   linear-time head reader the WebSocket handshake uses.
///
/// Errors are sticky: once failed, every later call returns the same error.
/// Nothing here panics on any input.
#[derive(Debug, Clone)]
pub struct ProxyConnect {
    /// `host:port`, an IPv6 literal in brackets: the request target and the
    /// `Host` value.
    authority: String,
    credentials: Option<(String, String)>,
    headers: Vec<(String, String)>,
    max_head_size: usize,
    max_headers: usize,
    reader: HeadReader<Vec<u8>>,
    /// Bytes of interim (1xx) heads already read: they count toward
    /// `max_head_size`.
    interim: usize,
    state: TunnelState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelState {
    Reading,
    Established,
    Failed(ProxyError),
}

/// What one [`ProxyConnect::handle_input`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyInput {
    /// How many bytes of the input were the proxy's answer. Bytes after them
    /// are the tunnel's (the target's TLS or WebSocket bytes) and must be
    /// given to the next layer.
    pub consumed: usize,
    /// Whether the proxy answered 2xx: the tunnel is open.
    pub established: bool,
}

/// Why the proxy did not open the tunnel.
///
/// Kept apart from [`ProtocolError`](crate::ProtocolError): these are HTTP
/// answers from the proxy, not WebSocket violations, and have no close
/// code. `Copy`, no `String`, like the crate's other errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyError {
    /// 407 Proxy Authentication Required: credentials are missing or wrong
    /// (RFC 9110 §15.5.8).
    AuthenticationRequired,
    /// Any other status that is not 2xx (a 502 when the proxy could not reach
    /// the target, a 403 from a filtering proxy, a 101).
    Refused(u16),
    /// The answer grew past its size limit before its empty line.
    HeadTooLarge,
    /// The answer had more header lines than allowed.
    TooManyHeaders,
    /// The answer is not an HTTP/1.x response head.
    Malformed,
    /// The proxy's URL could not be read (no host, a bad port, a bad
    /// percent-encoding in its credentials).
    InvalidUrl,
    /// The proxy's URL has a scheme other than `http://` (an `https://` or
    /// `socks5://` proxy is not supported, and never silently bypassed).
    UnsupportedScheme,
}

impl ProxyError {
    /// The proxy's status code, for the errors that carry one.
    pub fn status(self) -> Option<u16> {
        match self {
            ProxyError::AuthenticationRequired => Some(407),
            ProxyError::Refused(status) => Some(status),
            _ => None,
        }
    }

    /// A short, stable description.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyError::AuthenticationRequired => "proxy authentication required",
            ProxyError::Refused(_) => "proxy refused the tunnel",
            ProxyError::HeadTooLarge => "proxy answer too large",
            ProxyError::TooManyHeaders => "too many header fields in the proxy answer",
            ProxyError::Malformed => "malformed proxy answer",
            ProxyError::InvalidUrl => "invalid proxy URL",
            ProxyError::UnsupportedScheme => "unsupported proxy scheme (only http:// proxies are)",
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status() {
            Some(status) => write!(f, "{} (HTTP {status})", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProxyError {}

/// Headers the CONNECT request sets itself.
const RESERVED: [&str; 2] = ["host", "proxy-authorization"];

impl ProxyConnect {
    /// A tunnel to `host:port`. `host` is a registered name, an IPv4
    /// address or an IPv6 literal (with or without brackets). Fails with
    /// [`UsageError::InvalidUri`] for an empty host, port 0, or a character
    /// that has no place in a URI authority (which could otherwise break
    /// the request line).
    pub fn new(host: &str, port: u16) -> Result<Self, UsageError> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ipv6 = bare.parse::<core::net::Ipv6Addr>().is_ok();
        if port == 0 || (!ipv6 && (host.is_empty() || !valid_chars(host, b""))) {
            return Err(UsageError::InvalidUri);
        }
        Ok(Self::unchecked(bare, ipv6, port))
    }

    /// A tunnel to the host and port of a WebSocket request (its URI was
    /// validated when it was parsed).
    pub fn for_request(request: &ClientRequest) -> Self {
        let host = request.host();
        let ipv6 = host.parse::<core::net::Ipv6Addr>().is_ok();
        Self::unchecked(host, ipv6, request.port())
    }

    /// Builds the tunnel from a host already known to be valid.
    fn unchecked(host: &str, ipv6: bool, port: u16) -> Self {
        let mut authority = String::with_capacity(host.len() + 8);
        if ipv6 {
            authority.push('[');
            authority.push_str(host);
            authority.push(']');
        } else {
            authority.push_str(host);
        }
        authority.push(':');
        let mut digits = Vec::with_capacity(5);
        push_decimal(&mut digits, u64::from(port));
        authority.extend(digits.iter().map(|&d| char::from(d)));
        ProxyConnect {
            authority,
            credentials: None,
            headers: Vec::new(),
            max_head_size: 16 * 1024,
            max_headers: 64,
            reader: HeadReader::new(Vec::new()),
            interim: 0,
            state: TunnelState::Reading,
        }
    }

    /// Sends `Proxy-Authorization: Basic base64(user:password)` (RFC 9110
    /// §11.7.2, RFC 7617 §2). Checked when the request is written.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((String::from(user), String::from(password)));
        self
    }

    /// Adds a header line to the CONNECT request (a `User-Agent`, a
    /// proxy-specific header). `Host` and `Proxy-Authorization` are set by
    /// the request itself and refused here when it is written.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((String::from(name), String::from(value)));
        self
    }

    /// Limits the proxy's answer: at most `max_head_size` bytes in all its
    /// heads, at most `max_headers` header lines in one. The adapters pass
    /// `Config::max_handshake_size` and `Config::max_headers`.
    pub fn limits(mut self, max_head_size: usize, max_headers: usize) -> Self {
        self.max_head_size = max_head_size;
        self.max_headers = max_headers;
        self
    }

    /// The `host:port` the tunnel is asked for.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Appends the CONNECT request. Validates first; on error `out` is
    /// untouched: [`UsageError::InvalidHeader`] for an extra header that is
    /// not a valid line or is one the request sets, or credentials that
    /// Basic cannot carry (a `:` in the user name, a control character).
    pub fn write_request(&self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        for (name, value) in &self.headers {
            let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
            if reserved || !is_valid_header(name, value) {
                return Err(UsageError::InvalidHeader);
            }
        }
        if let Some((user, password)) = &self.credentials {
            // RFC 7617 §2: "a user-id containing a colon character is
            // invalid"; CTLs are excluded from both parts.
            let plain = |s: &str| is_field_value(s.as_bytes()) && !s.contains('\t');
            if user.contains(':') || !plain(user) || !plain(password) {
                return Err(UsageError::InvalidHeader);
            }
        }
        // RFC 9110 §9.3.6: "A client sending a CONNECT request MUST send the
        // authority form of request-target"; RFC 9112 §3.2.3: "the
        // request-target consists of only the uri-host and port number of
        // the tunnel destination, separated by a colon".
        out.extend_from_slice(b"CONNECT ");
        out.extend_from_slice(self.authority.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        push_header(out, "Host", self.authority.as_bytes());
        if let Some((user, password)) = &self.credentials {
            let mut plain = String::with_capacity(user.len() + password.len() + 1);
            plain.push_str(user);
            plain.push(':');
            plain.push_str(password);
            // base64 is built without its `alloc` feature: encode into a
            // buffer of the exact size.
            let prefix = b"Basic ";
            let len = base64::encoded_len(plain.len(), true).unwrap_or(0);
            let mut value = vec![0; prefix.len() + len];
            value[..prefix.len()].copy_from_slice(prefix);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(plain, &mut value[prefix.len()..])
                .unwrap_or(0);
            value.truncate(prefix.len() + written);
            push_header(out, "Proxy-Authorization", &value);
        }
        for (name, value) in &self.headers {
            push_header(out, name, value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Feeds bytes the proxy sent. Consumes up to the end of its answer and
    /// never beyond: once `established`, the bytes at `consumed..` belong to
    /// the tunnel. Any split of the same bytes over calls gives the same
    /// result. After the tunnel is open, calls consume nothing.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<ProxyInput, ProxyError> {
        let mut consumed = 0;
        loop {
            match self.state {
                TunnelState::Failed(e) => return Err(e),
                TunnelState::Established => {
                    return Ok(ProxyInput {
                        consumed,
                        established: true,
                    })
                }
                TunnelState::Reading => {}
            }
            let rest = input.get(consumed..).unwrap_or_default();
            let room = self.max_head_size.saturating_sub(self.interim);
            let fed = self.reader.feed(rest, room);
            let (n, complete) = match fed {
                Ok(progress) => progress,
                Err(_) => return Err(self.fail(ProxyError::HeadTooLarge)),
            };
            consumed += n;
            if !complete {
                return Ok(ProxyInput {
                    consumed,
                    established: false,
                });
            }
            match self.status() {
                // 101 is no interim answer to a CONNECT: it falls through
                // to the refusals below.
                Ok(100 | 102..=199) => {
                    // Interim: skip it and read the final answer after it.
                    self.interim += self.reader.head().len();
                    self.reader = HeadReader::new(Vec::new());
                }
                Ok(200..=299) => self.state = TunnelState::Established,
                Ok(407) => return Err(self.fail(ProxyError::AuthenticationRequired)),
                Ok(status) => return Err(self.fail(ProxyError::Refused(status))),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Whether the tunnel is open.
    pub fn is_established(&self) -> bool {
        self.state == TunnelState::Established
    }

    /// Parses the complete head in the reader and returns its status code.
    fn status(&self) -> Result<u16, ProxyError> {
        let head = self.reader.head();
        let code = with_header_slots(head, self.max_headers, |slots| {
            let mut response = httparse::Response::new(slots);
            match response.parse(head) {
                Ok(httparse::Status::Complete(_)) => Ok(response.code),
                Err(httparse::Error::TooManyHeaders) => Err(ProxyError::TooManyHeaders),
                Ok(httparse::Status::Partial) | Err(_) => Err(ProxyError::Malformed),
            }
        })?;
        // RFC 9110 §15: "Values outside the range 100..599 are invalid."
        match code {
            Some(code @ 100..=599) => Ok(code),
            _ => Err(ProxyError::Malformed),
        }
    }

    fn fail(&mut self, error: ProxyError) -> ProxyError {
        self.state = TunnelState::Failed(error);
        error
    }
}
