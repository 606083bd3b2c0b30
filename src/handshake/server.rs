//! The server's side of the opening handshake (RFC 6455 §4.2): validating
//! the client's request, and writing the 101 answer or a rejection.

use crate::buffer::Sink;
use core::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::accept::accept_key;
use super::decision::HeaderList;
use super::tokens::{
    extension_name, header_lines, is_token, is_valid_header, list_has_token, push_header,
    with_header_slots, DebugIter, ListItems, Span,
};
use crate::error::{ProtocolError, UsageError};

/// Standard base64 with the padding required (RFC 6455 §4.3:
/// `base64-value-non-empty` ends in `base64-padding`) but non-zero trailing
/// bits tolerated: they still decode to 16 bytes, which is all §4.2.1 asks,
/// and clients that build keys from random characters produce them.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Offsets into a request head of everything the server needs, built once
/// by [`parse_request`] after the head is complete, so the connection can
/// keep the bytes and this side by side.
#[derive(Debug, Clone)]
pub(crate) struct ParsedRequest {
    target: Span,
    /// The authority of an absolute-form target, which takes the place of
    /// `Host` (RFC 9112 §3.2.2).
    authority: Option<Span>,
    /// Empty when an absolute-form target has no path (read as "/").
    path: Span,
    query: Option<Span>,
    host: Span,
    /// Empty for a plain (non-upgrade) request.
    key: Span,
    origin: Option<Span>,
    /// A WebSocket upgrade, as opposed to a plain HTTP request passed on by
    /// [`parse_any_request`].
    websocket: bool,
}

/// Parses and validates a client's opening handshake (RFC 6455 §4.2.1).
///
/// RFC 6455 §4.2.1: "If the server, while reading the handshake, finds that
/// the client did not send a handshake that matches the description below
/// ..., the server MUST stop processing the client's handshake and return an
/// HTTP response with an appropriate error code (such as 400 Bad Request)."
/// Each check maps to one [`ProtocolError`], whose `http_status` is that
/// code. The head is parsed exactly once, with `max_headers` header slots.
#[cfg(test)]
pub(crate) fn parse_request(
    head: &[u8],
    max_headers: usize,
) -> Result<ParsedRequest, ProtocolError> {
    parse_any_request(head, max_headers, false)
}

/// [`parse_request`], except that with `allow_plain` a valid HTTP/1.1 GET
/// that does not try to upgrade at all (no `Upgrade: websocket` and no
/// `Sec-WebSocket-Key`) is returned as a plain request instead of refused,
/// so one server can answer pages and WebSocket upgrades on one port
/// (`Config::plain_http_requests`). A request that tries to upgrade and gets
/// it wrong is still refused.
pub(crate) fn parse_any_request(
    head: &[u8],
    max_headers: usize,
    allow_plain: bool,
) -> Result<ParsedRequest, ProtocolError> {
    use ProtocolError::*;

    // RFC 6455 §4.1 item 1: "The handshake MUST be a valid HTTP request as
    // specified by [RFC2616]."
    let (method, version, target_str) = with_header_slots(head, max_headers, |slots| {
        let mut req = httparse::Request::new(slots);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => Ok((req.method, req.version, req.path)),
            Ok(httparse::Status::Partial) => Err(MalformedHttp),
            Err(httparse::Error::TooManyHeaders) => Err(TooManyHeaders),
            Err(_) => Err(MalformedHttp),
        }
    })?;

    // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if method != Some("GET") {
        return Err(MethodNotGet);
    }
    if version != Some(1) {
        return Err(HttpVersionTooOld);
    }

    let target_str = target_str.ok_or(MalformedHttp)?;
    let target = Span::of(head, target_str.as_bytes()).ok_or(MalformedHttp)?;
    let (authority, path, query) = split_target(target_str, target)?;
    let named = |name: &'static str| header_lines(head).filter(move |h| h.is(head, name));

    // RFC 6455 §4.2.1 item 2: "A |Host| header field containing the server's
    // authority"; RFC 7230 §5.4: "A server MUST respond with a 400 (Bad
    // Request) status code to any HTTP/1.1 request message that lacks a Host
    // header field and to any request message that contains more than one
    // Host header field".
    let host = exactly_one(named("host")).ok_or(MissingHost)?;
    let host = host.value.trimmed(head);
    if host.bytes(head).is_empty() {
        return Err(MissingHost);
    }
    if core::str::from_utf8(host.bytes(head)).is_err() {
        return Err(InvalidHeaderValue);
    }

    let wants_websocket =
        named("upgrade").any(|h| list_has_token(h.value.bytes(head), "websocket"));
    if allow_plain && !wants_websocket && named("sec-websocket-key").next().is_none() {
        return Ok(ParsedRequest {
            target,
            authority,
            path,
            query,
            host,
            key: Span::default(),
            origin: named("origin").next().map(|h| h.value.trimmed(head)),
            websocket: false,
        });
    }

    // RFC 6455 §4.2.1 item 3: "An |Upgrade| header field containing the
    // value "websocket", treated as an ASCII case-insensitive value."
    if !wants_websocket {
        return Err(MissingUpgrade);
    }

    // RFC 6455 §4.2.1 item 4: "A |Connection| header field that includes the
    // token "Upgrade", treated as an ASCII case-insensitive value." Several
    // Connection lines form one list (RFC 7230 §3.2.2).
    if !named("connection").any(|h| list_has_token(h.value.bytes(head), "upgrade")) {
        return Err(MissingConnectionUpgrade);
    }

    // RFC 6455 §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear
    // more than once in an HTTP request."
    let key = exactly_one(named("sec-websocket-key")).ok_or(InvalidKey)?;
    let key = key.value.trimmed(head);
    // RFC 6455 §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a
    // base64-encoded ... value that, when decoded, is 16 bytes in length."
    // Sixteen bytes encode to exactly 24 characters, so anything longer is
    // refused before decoding.
    let key_bytes = key.bytes(head);
    let mut decoded = [0u8; 18];
    if key_bytes.len() != 24 || KEY_ENGINE.decode_slice(key_bytes, &mut decoded) != Ok(16) {
        return Err(InvalidKey);
    }

    // RFC 6455 §4.2.1 item 6: "A |Sec-WebSocket-Version| header field, with a
    // value of 13." §11.3.5: it "MUST NOT appear more than once in an HTTP
    // request". A missing, repeated or other version gets the 426 of §4.4.
    let version = exactly_one(named("sec-websocket-version")).ok_or(UnsupportedVersion)?;
    if version.value.trimmed(head).bytes(head) != b"13" {
        return Err(UnsupportedVersion);
    }

    // RFC 6455 §4.2.1 items 7-9: Origin, Sec-WebSocket-Protocol and
    // Sec-WebSocket-Extensions are optional, but are handed to the
    // application as text, so they must be text.
    let origin = named("origin").next().map(|h| h.value.trimmed(head));
    for h in header_lines(head).filter(|h| {
        h.is(head, "origin")
            || h.is(head, "sec-websocket-protocol")
            || h.is(head, "sec-websocket-extensions")
    }) {
        if core::str::from_utf8(h.value.bytes(head)).is_err() {
            return Err(InvalidHeaderValue);
        }
    }

    Ok(ParsedRequest {
        target,
        authority,
        path,
        query,
        host,
        key,
        origin,
        websocket: true,
    })
}

/// (absolute-form authority, path, query) of a request target.
type TargetParts = (Option<Span>, Span, Option<Span>);

/// The single item of `iter`, or `None` if it has none or several.
fn exactly_one<T>(mut iter: impl Iterator<Item = T>) -> Option<T> {
    let first = iter.next()?;
    match iter.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// Splits a request target into (absolute-form authority, path, query).
///
/// RFC 6455 §4.2.1 item 1: the "Request-URI" "should be interpreted as a
/// /resource name/ defined in Section 3 (or an absolute HTTP/HTTPS URI
/// containing the /resource name/)". Origin-form starts with '/'; for
/// absolute-form, `http`, `https`, `ws` and `wss` are accepted (clients in
/// the wild send `GET ws://host/ HTTP/1.1`). Anything else (`*`,
/// authority-form) is not a resource name: 400.
fn split_target(target: &str, span: Span) -> Result<TargetParts, ProtocolError> {
    let bytes = target.as_bytes();
    let (authority, path_start) = if bytes.first() == Some(&b'/') {
        (None, 0)
    } else {
        let sep = target.find("://").ok_or(ProtocolError::MalformedHttp)?;
        let scheme = target.get(..sep).unwrap_or("");
        if !["http", "https", "ws", "wss"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(ProtocolError::MalformedHttp);
        }
        let auth_start = sep + 3;
        let auth_len = bytes
            .get(auth_start..)
            .unwrap_or(&[])
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(bytes.len().saturating_sub(auth_start));
        if auth_len == 0 {
            return Err(ProtocolError::MalformedHttp);
        }
        let auth_end = auth_start + auth_len;
        (Some(span.sub(auth_start, auth_end)), auth_end)
    };
    let rest = bytes.get(path_start..).unwrap_or(&[]);
    // A fragment is never sent in a request target; if one is, it is not
    // part of the path or the query.
    let rest_len = rest.iter().position(|&b| b == b'#').unwrap_or(rest.len());
    let rest = rest.get(..rest_len).unwrap_or(rest);
    let path_len = rest.iter().position(|&b| b == b'?').unwrap_or(rest.len());
    let path = span.sub(path_start, path_start + path_len);
    let query = (path_len < rest.len())
        .then(|| span.sub(path_start + path_len + 1, path_start + rest.len()));
    Ok((authority, path, query))
}

/// The application's read-only view of a valid upgrade request: the
/// resource it asks for, its origin, the subprotocols and extensions it
/// offers, and every header, borrowed from the connection's buffer.
///
/// It only exists for a request that passed every check of RFC 6455
/// §4.2.1, so the application can decide (accept, reject with a status)
/// on application grounds only.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    head: &'a [u8],
    parsed: &'a ParsedRequest,
}

impl<'a> Request<'a> {
    /// Joins a head with the offsets [`parse_request`] found in it.
    pub(crate) fn new(head: &'a [u8], parsed: &'a ParsedRequest) -> Self {
        Request { head, parsed }
    }

    /// The request target as sent: origin-form (`/chat?x=1`) or
    /// absolute-form (`ws://host/chat?x=1`). For logging, or routing on
    /// something other than the path.
    pub fn target(&self) -> &'a str {
        self.parsed.target.str(self.head)
    }

    /// The path of the target, from either form (`/` if an absolute-form
    /// target has none): RFC 6455 §4.2.2's /resource name/ without its query,
    /// which is what a server routes on.
    pub fn path(&self) -> &'a str {
        let p = self.parsed.path.str(self.head);
        if p.is_empty() {
            "/"
        } else {
            p
        }
    }

    /// The query of the target, without the '?', if there is one.
    pub fn query(&self) -> Option<&'a str> {
        self.parsed.query.map(|q| q.str(self.head))
    }

    /// The authority the client addressed: the `Host` header, or the
    /// authority of an absolute-form target, which RFC 9112 §3.2.2 says
    /// replaces it ("the origin server MUST ignore the received Host header
    /// field (if any) and instead use the host information of the
    /// request-target"). For virtual hosting and origin checks.
    pub fn host(&self) -> &'a str {
        self.parsed
            .authority
            .unwrap_or(self.parsed.host)
            .str(self.head)
    }

    /// The `Origin` header, if sent. RFC 6455 §10.2: servers that are not
    /// meant for every web page "SHOULD verify the |Origin| field"; reject
    /// with 403 when it is not one you serve.
    pub fn origin(&self) -> Option<&'a str> {
        self.parsed.origin.map(|o| o.str(self.head))
    }

    /// The `Sec-WebSocket-Key` as sent (24 base64 characters), from which the
    /// `Sec-WebSocket-Accept` answer is derived. Empty for a plain request.
    pub fn key(&self) -> &'a str {
        self.parsed.key.str(self.head)
    }

    /// Whether this is a WebSocket upgrade. Only with
    /// `Config::plain_http_requests` can it be `false`: a plain HTTP GET,
    /// which the application answers with `reject` (any status, a page, a
    /// redirect) and cannot `accept`.
    pub fn is_websocket(&self) -> bool {
        self.parsed.websocket
    }

    /// The value of the first header named `name` (case-insensitive), for
    /// headers this module does not interpret (Cookie, Authorization, ...).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let head = self.head;
        header_lines(head)
            .find(|h| h.is(head, name))
            .map(|h| h.value.bytes(head))
    }

    /// Every header, in the order received, as (name, value). Values are
    /// bytes: HTTP does not promise they are UTF-8.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let head = self.head;
        header_lines(head).map(move |h| (h.name.str(head), h.value.bytes(head)))
    }

    /// The subprotocols offered, in the client's order of preference, over
    /// every `Sec-WebSocket-Protocol` line (RFC 6455 §11.3.4: several lines
    /// are "logically the same as a single ... header field that contains all
    /// values"), trimmed, empty entries skipped.
    ///
    /// Only valid names are listed: §4.1 requires each to be a token (no
    /// spaces, no separators), and §4.3 makes the server's answer a token,
    /// so an entry such as `a b` could never be chosen and is skipped. Every
    /// name listed here is one [`Accept::subprotocol`] can choose.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.list("sec-websocket-protocol")
            .filter(|p| is_token(p.as_bytes()))
    }

    /// The extension offers, one entry per comma-separated element over
    /// every `Sec-WebSocket-Extensions` line, parameters included (e.g.
    /// `permessage-deflate; client_max_window_bits`). An extension's own
    /// negotiation (RFC 6455 §9.1) reads these.
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.list("sec-websocket-extensions")
    }

    /// Whether `protocol` was offered, compared exactly (case-sensitively):
    /// RFC 6455 §4.2.2 /subprotocol/ "MUST be derived from the client's
    /// handshake, specifically by selecting one of the values from the
    /// |Sec-WebSocket-Protocol| field".
    pub fn offers_subprotocol(&self, subprotocol: &str) -> bool {
        self.subprotocols().any(|p| p == subprotocol)
    }

    /// Extension names offered, for diagnostics.
    fn extension_names(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.extensions().map(extension_name)
    }

    fn list(&self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        let head = self.head;
        header_lines(head)
            .filter(move |h| h.is(head, name))
            .flat_map(move |h| ListItems::new(h.value.str(head)))
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("target", &self.target())
            .field("host", &self.host())
            .field("origin", &self.origin())
            .field("key", &self.key())
            .field("subprotocols", &DebugIter(|| self.subprotocols()))
            .field("extensions", &DebugIter(|| self.extension_names()))
            .finish_non_exhaustive()
    }
}

/// How the application accepts a request: the subprotocol it picked, if
/// any, and extra headers for the 101 answer (`Set-Cookie`,
/// `Sec-WebSocket-Extensions` from an extension's negotiation, ...).
///
/// A by-value builder so the common case is one expression:
/// `Accept::new().subprotocol("chat")`. Nothing is checked until the answer
/// is written, where a bad header is refused rather than sent. Without
/// `alloc` it holds up to 8 extra headers; `accept` fails with
/// [`UsageError::TooManyHeaders`] past that.
#[derive(Debug, Clone, Default)]
pub struct Accept<'a> {
    subprotocol: Option<&'a str>,
    headers: HeaderList<'a>,
}

impl<'a> Accept<'a> {
    /// How many extra headers an `Accept` holds in a build without `alloc`;
    /// `accept` fails with [`UsageError::TooManyHeaders`] past it.
    pub const MAX_HEADERS_WITHOUT_ALLOC: usize = HeaderList::MAX_WITHOUT_ALLOC;

    /// Accept with no subprotocol and no extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Select `subprotocol`, which must be one of the client's offers
    /// ([`Request::offers_subprotocol`]): RFC 6455 §4.2.2 lets the server
    /// pick one offered value or none.
    pub fn subprotocol(mut self, subprotocol: &'a str) -> Self {
        self.subprotocol = Some(subprotocol);
        self
    }

    /// Add a header to the 101 answer, after the ones the handshake sets.
    /// The name must be an HTTP token and neither part may hold CR, LF or
    /// other control characters, or the answer is refused.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// The subprotocol selected so far, if any.
    pub(crate) fn selected_subprotocol(&self) -> Option<&'a str> {
        self.subprotocol
    }

    /// The extra headers added so far, in order.
    pub(super) fn extra_headers(&self) -> &[(&'a str, &'a str)] {
        self.headers.as_slice()
    }

    /// Whether headers were added past what it can hold.
    fn overflowed(&self) -> bool {
        self.headers.overflowed()
    }
}

/// Headers the 101 answer sets itself; an extra header with one of these
/// names would contradict or duplicate them.
const ACCEPT_RESERVED: [&str; 4] = [
    "upgrade",
    "connection",
    "sec-websocket-accept",
    "sec-websocket-protocol",
];

/// Appends the 101 answer that accepts `request` (RFC 6455 §4.2.2 step 5).
///
/// Refuses (leaving `out` untouched) a subprotocol the client did not offer
/// ([`UsageError::SubprotocolNotOffered`]) and an extra header that is not a
/// valid, non-duplicating header line ([`UsageError::InvalidHeader`]).
pub(crate) fn write_accept(
    out: &mut impl Sink,
    request: &Request<'_>,
    accept: &Accept<'_>,
) -> Result<(), UsageError> {
    if accept.overflowed() {
        return Err(UsageError::TooManyHeaders);
    }
    if let Some(p) = accept.subprotocol {
        // RFC 6455 §4.2.2: "The value chosen MUST be derived from the client's
        // handshake, specifically by selecting one of the values from the
        // |Sec-WebSocket-Protocol| field".
        if !request.offers_subprotocol(p) {
            return Err(UsageError::SubprotocolNotOffered);
        }
        // RFC 6455 §4.3: "Sec-WebSocket-Protocol-Server = token". An offer
        // that is not a token was accepted leniently but is not echoed.
        if !is_token(p.as_bytes()) {
            return Err(UsageError::InvalidToken);
        }
    }
    for &(name, value) in accept.extra_headers() {
        if !is_valid_header(name, value)
            || ACCEPT_RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(UsageError::InvalidHeader);
        }
    }

    // RFC 6455 §4.2.2 step 5.1: "A Status-Line with a 101 response code".
    out.put(b"HTTP/1.1 101 Switching Protocols\r\n");
    // Step 5.2: "An |Upgrade| header field with value "websocket"".
    push_header(out, "Upgrade", b"websocket");
    // Step 5.3: "A |Connection| header field with value "Upgrade"".
    push_header(out, "Connection", b"Upgrade");
    // Step 5.4: "A |Sec-WebSocket-Accept| header field", from /key/.
    push_header(
        out,
        "Sec-WebSocket-Accept",
        accept_key(request.key().as_bytes()).as_bytes(),
    );
    // Step 5.5: "Optionally, a |Sec-WebSocket-Protocol| header field, with a
    // value /subprotocol/".
    if let Some(p) = accept.subprotocol {
        push_header(out, "Sec-WebSocket-Protocol", p.as_bytes());
    }
    for &(name, value) in accept.extra_headers() {
        push_header(out, name, value.as_bytes());
    }
    out.put(b"\r\n");
    Ok(())
}
