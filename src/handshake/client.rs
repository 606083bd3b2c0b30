//! The client's side of the opening handshake (RFC 6455 §4.1): writing the
//! upgrade request, and checking the server's answer against it.

#[cfg(feature = "alloc")]
use alloc::string::String;
#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::fmt;

use crate::buffer::{write_head, Buffer, Sink};

use super::accept::AcceptKey;
use super::tokens::{
    extension_name, header_lines, is_field_value, is_token, is_valid_header, list_has_token,
    parse_decimal, push_decimal, push_header, with_header_slots, DebugIter, ListItems, Span,
};
#[cfg(feature = "alloc")]
use super::uri::Uri;
use super::uri::{self, default_port, UriParts};
use crate::error::{ProtocolError, UsageError};

/// What a client asks for: where to connect (from a `ws://` or `wss://`
/// URI), and the origin, subprotocols, extensions and extra headers of its
/// opening handshake.
///
/// It owns its strings so it can be built once and kept for as long as the
/// connection needs it (the response is checked against the offers). The
/// builder methods cannot fail; everything is validated when the request is
/// written, so a bad value is refused instead of sent.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct ClientRequest {
    uri: Uri,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: Vec<(String, String)>,
    absolute_form: bool,
}

/// Headers the request sets itself (RFC 6455 §4.1 items 4-7, 9-11); an extra
/// header with one of these names would contradict or duplicate them.
const REQUEST_RESERVED: [&str; 7] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

#[cfg(feature = "alloc")]
impl ClientRequest {
    /// Parses a `ws://` or `wss://` URI (RFC 6455 §3): the scheme
    /// case-insensitively; a host (registered name, IPv4, or a bracketed
    /// IPv6 literal such as `[::1]`); an optional port (80 for `ws`, 443 for
    /// `wss` by default); a path (default `/`) and query.
    ///
    /// Fails with [`UsageError::InvalidUri`] on another scheme, an empty
    /// host, a port that is 0, over 65535 or not a number, userinfo
    /// (`user@`), a fragment (§3: "Fragment identifiers ... MUST NOT be
    /// used"), or a character that must be percent-encoded.
    pub fn new(uri: &str) -> Result<Self, UsageError> {
        Ok(ClientRequest {
            uri: uri::parse(uri)?,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
            absolute_form: false,
        })
    }

    /// Sends `Origin: origin`. RFC 6455 §4.1 item 8: browsers must send it;
    /// other clients may, when servers check it.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(String::from(origin));
        self
    }

    /// The subprotocols to offer, in order of preference (RFC 6455 §4.1
    /// item 10); each must be an HTTP token, none twice. Replaces any
    /// offered before.
    pub fn subprotocols(mut self, subprotocols: &[&str]) -> Self {
        self.protocols = subprotocols.iter().map(|p| String::from(*p)).collect();
        self
    }

    /// Raw `Sec-WebSocket-Extensions` entries to offer (e.g.
    /// `permessage-deflate; client_max_window_bits`); the server may only
    /// accept extensions named here (§4.1). Replaces any offered before.
    /// With `Config::deflate` set the engine adds its own
    /// permessage-deflate offer after these.
    pub fn extensions(mut self, offers: &[&str]) -> Self {
        self.extensions = offers.iter().map(|e| String::from(*e)).collect();
        self
    }

    /// Extra header lines after the handshake's own (Cookie,
    /// Authorization, ...). Headers the handshake sets itself are refused
    /// when writing. Replaces any given before.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Self {
        self.headers = headers
            .iter()
            .map(|(n, v)| (String::from(*n), String::from(*v)))
            .collect();
        self
    }

    /// Appends one extension offer after those given; the engine's own
    /// permessage-deflate offer goes this way.
    #[cfg(feature = "deflate")]
    pub(crate) fn push_extension(mut self, offer: &str) -> Self {
        self.extensions.push(String::from(offer));
        self
    }

    /// Sends the request target in absolute-form (`http://host:port/path?q`,
    /// or `https://` for `wss`), which an HTTP proxy forwarding the request
    /// needs, instead of origin-form (`/path?q`).
    pub fn absolute_form(mut self, yes: bool) -> Self {
        self.absolute_form = yes;
        self
    }

    /// The host to connect to, without brackets for an IPv6 literal (what a
    /// resolver or socket address expects).
    pub fn host(&self) -> &str {
        &self.uri.host
    }

    /// The port to connect to (explicit, or the scheme's default).
    pub fn port(&self) -> u16 {
        self.uri.port
    }

    /// Whether the URI was `wss://`: the caller must run TLS under the
    /// handshake (RFC 6455 §4.1: "If /secure/ is true, the client MUST
    /// perform a TLS handshake").
    pub fn is_secure(&self) -> bool {
        self.uri.secure
    }

    /// The /resource name/ (path and query) as sent in origin-form.
    pub fn target(&self) -> &str {
        &self.uri.resource
    }

    /// The subprotocols offered, in order.
    pub fn offered_subprotocols(&self) -> impl Iterator<Item = &str> + '_ {
        self.protocols.iter().map(String::as_str)
    }

    /// The request as the writer sees it.
    fn parts(&self) -> HeadParts<'_, String, String> {
        HeadParts {
            uri: UriParts {
                secure: self.uri.secure,
                host: &self.uri.host,
                ipv6: self.uri.ipv6,
                port: self.uri.port,
                path: &self.uri.resource,
                query: "",
            },
            absolute_form: self.absolute_form,
            origin: self.origin.as_deref(),
            protocols: &self.protocols,
            extensions: &self.extensions,
            headers: &self.headers,
        }
    }

    /// Appends the opening handshake request (RFC 6455 §4.1); see
    /// [`HeadParts::write`].
    #[cfg(test)]
    pub(crate) fn write(&self, key: &[u8; 24], out: &mut impl Sink) -> Result<(), UsageError> {
        self.parts().write(key, out)
    }
}

/// What a request head is written from, borrowed from a [`ClientRequest`]
/// or a [`BorrowedRequest`], so both are validated and written by one piece
/// of code.
struct HeadParts<'r, P, H> {
    uri: UriParts<'r>,
    absolute_form: bool,
    origin: Option<&'r str>,
    protocols: &'r [P],
    extensions: &'r [P],
    headers: &'r [(H, H)],
}

impl<P: AsRef<str>, H: AsRef<str>> HeadParts<'_, P, H> {
    /// Appends `host[:port]` as the Host header and absolute-form carry it:
    /// IPv6 in brackets, port only when not the default (RFC 6455 §4.1 item
    /// 4: "/host/ plus optionally ":" followed by /port/ (when not using the
    /// default port)").
    fn push_authority(&self, out: &mut impl Sink) {
        if self.uri.ipv6 {
            out.put(b"[");
            out.put(self.uri.host.as_bytes());
            out.put(b"]");
        } else {
            out.put(self.uri.host.as_bytes());
        }
        if self.uri.port != default_port(self.uri.secure) {
            out.put(b":");
            push_decimal(out, u64::from(self.uri.port));
        }
    }

    /// Checks every caller-supplied part of the request.
    fn validate(&self, key: &[u8; 24]) -> Result<(), UsageError> {
        // The key comes from `encode_key`; checking it keeps a wrong caller
        // from writing a line break into the head.
        if !key
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(UsageError::InvalidHeader);
        }
        if let Some(o) = self.origin {
            if !is_field_value(o.as_bytes()) {
                return Err(UsageError::InvalidHeader);
            }
        }
        for (i, p) in self.protocols.iter().map(AsRef::as_ref).enumerate() {
            // RFC 6455 §4.1 item 10: "The elements that comprise this value
            // MUST be non-empty strings with characters in the range U+0021 to
            // U+007E not including separator characters as defined in
            // [RFC2616] and MUST all be unique strings."
            let repeated = self
                .protocols
                .get(..i)
                .unwrap_or(&[])
                .iter()
                .any(|q| q.as_ref() == p);
            if !is_token(p.as_bytes()) || repeated {
                return Err(UsageError::InvalidToken);
            }
        }
        for e in self.extensions.iter().map(AsRef::as_ref) {
            // RFC 6455 §9.1: extension = extension-token *( ";" extension-param ).
            let mut entries = ListItems::new(e);
            let all_named = entries
                .clone()
                .all(|entry| is_token(extension_name(entry).as_bytes()));
            if !is_field_value(e.as_bytes()) || entries.next().is_none() || !all_named {
                return Err(UsageError::InvalidToken);
            }
        }
        for (name, value) in self.headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            let reserved = REQUEST_RESERVED
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
                || (self.origin.is_some() && name.eq_ignore_ascii_case("origin"));
            if !is_valid_header(name, value) || reserved {
                return Err(UsageError::InvalidHeader);
            }
        }
        Ok(())
    }

    /// Appends the opening handshake request (RFC 6455 §4.1), with `key` as
    /// `Sec-WebSocket-Key`. Validates everything first; on error `out` is
    /// untouched: [`UsageError::InvalidHeader`] for a header name that is not
    /// a token, a value with CR, LF or another control character, or a
    /// header the handshake sets itself; [`UsageError::InvalidToken`] for a
    /// subprotocol that is not a token (or is offered twice) or an extension
    /// offer that is not a valid entry.
    fn write(&self, key: &[u8; 24], out: &mut impl Sink) -> Result<(), UsageError> {
        self.validate(key)?;

        // RFC 6455 §4.1 item 2: "The method of the request MUST be GET, and
        // the HTTP version MUST be at least 1.1." Item 3: the Request-URI
        // "MUST match the /resource name/ ... or be an absolute http/https
        // URI that, when parsed, has a /resource name/, /host/, and /port/
        // that match the corresponding ws/wss URI."
        out.put(b"GET ");
        if self.absolute_form {
            out.put(if self.uri.secure {
                b"https://"
            } else {
                b"http://"
            });
            self.push_authority(out);
        }
        // RFC 6455 §3: resource-name is ""/" if the path component is
        // empty", the path, then "?" and the query if it is non-empty.
        if self.uri.path.is_empty() {
            out.put(b"/");
        }
        out.put(self.uri.path.as_bytes());
        if !self.uri.query.is_empty() {
            out.put(b"?");
            out.put(self.uri.query.as_bytes());
        }
        out.put(b" HTTP/1.1\r\n");
        // Item 4: "The request MUST contain a |Host| header field".
        out.put(b"Host: ");
        self.push_authority(out);
        out.put(b"\r\n");
        // Item 5: "an |Upgrade| header field whose value MUST include the
        // "websocket" keyword."
        push_header(out, "Upgrade", b"websocket");
        // Item 6: "a |Connection| header field whose value MUST include the
        // "Upgrade" token."
        push_header(out, "Connection", b"Upgrade");
        // Item 7: "a header field with the name |Sec-WebSocket-Key|".
        push_header(out, "Sec-WebSocket-Key", key);
        // Item 9: "|Sec-WebSocket-Version|. The value of this header field
        // MUST be 13."
        push_header(out, "Sec-WebSocket-Version", b"13");
        // Item 8: |Origin|.
        if let Some(o) = self.origin {
            push_header(out, "Origin", o.as_bytes());
        }
        // Item 10: "one or more comma-separated subprotocol".
        push_list(out, "Sec-WebSocket-Protocol", self.protocols);
        // Item 11: |Sec-WebSocket-Extensions|.
        push_list(out, "Sec-WebSocket-Extensions", self.extensions);
        // Item 12: "The request MAY include any other header fields".
        for (name, value) in self.headers {
            push_header(out, name.as_ref(), value.as_ref().as_bytes());
        }
        out.put(b"\r\n");
        Ok(())
    }
}

/// A client's opening request as a connection keeps it, to write it and
/// then check the answer against its offers: a [`ClientRequest`] (owned,
/// with a heap) or a [`BorrowedRequest`] (borrowed, without one).
pub trait ClientHead: fmt::Debug + sealed::Sealed {
    /// Appends the request head (RFC 6455 §4.1) with `key`, all or nothing:
    /// a value that may not be sent is refused ([`UsageError::InvalidHeader`]
    /// or [`UsageError::InvalidToken`]), a head that does not fit a fixed
    /// buffer is [`UsageError::OutputFull`].
    fn write_head<B: Buffer>(&self, key: &[u8; 24], out: &mut B) -> Result<(), UsageError>;
    /// Whether `protocol` is one of the subprotocols offered.
    fn offers_subprotocol(&self, protocol: &[u8]) -> bool;
    /// Whether an extension named `name` was offered.
    fn offers_extension(&self, name: &str) -> bool;
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "alloc")]
    impl Sealed for super::ClientRequest {}
    impl Sealed for super::BorrowedRequest<'_> {}
}

fn write_all_or_nothing<P: AsRef<str>, H: AsRef<str>, B: Buffer>(
    parts: &HeadParts<'_, P, H>,
    key: &[u8; 24],
    out: &mut B,
) -> Result<(), UsageError> {
    write_head(out, |writer| parts.write(key, writer))
}

fn offers_extension<P: AsRef<str>>(extensions: &[P], name: &str) -> bool {
    extensions
        .iter()
        .flat_map(|e| ListItems::new(e.as_ref()))
        .map(extension_name)
        .any(|offered| offered.eq_ignore_ascii_case(name))
}

#[cfg(feature = "alloc")]
impl ClientHead for ClientRequest {
    fn write_head<B: Buffer>(&self, key: &[u8; 24], out: &mut B) -> Result<(), UsageError> {
        write_all_or_nothing(&self.parts(), key, out)
    }
    fn offers_subprotocol(&self, protocol: &[u8]) -> bool {
        self.protocols.iter().any(|p| p.as_bytes() == protocol)
    }
    fn offers_extension(&self, name: &str) -> bool {
        offers_extension(&self.extensions, name)
    }
}

/// A client request made of borrowed parts, for a connection without a
/// heap ([`Fixed`](crate::storage::Fixed) storage): the same checks and the
/// same bytes on the wire as [`ClientRequest`], and the same methods; it
/// borrows its lists where `ClientRequest` copies them.
///
/// ```
/// use hybi::handshake::BorrowedRequest;
///
/// let request = BorrowedRequest::new("ws://sensor.local:8080/feed")?
///     .subprotocols(&["v2.feed"])
///     .headers(&[("Authorization", "Bearer t0k3n")]);
/// assert_eq!(request.port(), 8080);
/// # Ok::<(), hybi::UsageError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BorrowedRequest<'a> {
    uri: UriParts<'a>,
    origin: Option<&'a str>,
    protocols: &'a [&'a str],
    extensions: &'a [&'a str],
    headers: &'a [(&'a str, &'a str)],
    absolute_form: bool,
}

impl<'a> BorrowedRequest<'a> {
    /// Parses a `ws://` or `wss://` URI exactly as [`ClientRequest::new`]
    /// does, keeping borrows of its parts.
    pub fn new(uri: &'a str) -> Result<Self, UsageError> {
        Ok(BorrowedRequest {
            uri: uri::parse_parts(uri)?,
            origin: None,
            protocols: &[],
            extensions: &[],
            headers: &[],
            absolute_form: false,
        })
    }

    /// Sends `Origin: origin` (see [`ClientRequest::origin`]).
    pub fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// The subprotocols to offer, in order of preference; each a token
    /// (see [`ClientRequest::subprotocols`]).
    pub fn subprotocols(mut self, subprotocols: &'a [&'a str]) -> Self {
        self.protocols = subprotocols;
        self
    }

    /// Raw `Sec-WebSocket-Extensions` entries to offer (see
    /// [`ClientRequest::extensions`]).
    pub fn extensions(mut self, offers: &'a [&'a str]) -> Self {
        self.extensions = offers;
        self
    }

    /// Extra header lines after the handshake's own (see
    /// [`ClientRequest::headers`]).
    pub fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Sends the target in absolute-form (see
    /// [`ClientRequest::absolute_form`]).
    pub fn absolute_form(mut self, yes: bool) -> Self {
        self.absolute_form = yes;
        self
    }

    /// The host to connect to, without brackets for an IPv6 literal.
    pub fn host(&self) -> &'a str {
        self.uri.host
    }

    /// The port to connect to (explicit, or the scheme's default).
    pub fn port(&self) -> u16 {
        self.uri.port
    }

    /// Whether the URI was `wss://` (TLS must run under the handshake).
    pub fn is_secure(&self) -> bool {
        self.uri.secure
    }

    /// The subprotocols offered, in order.
    pub fn offered_subprotocols(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.protocols.iter().copied()
    }

    fn parts(&self) -> HeadParts<'a, &'a str, &'a str> {
        HeadParts {
            uri: self.uri,
            absolute_form: self.absolute_form,
            origin: self.origin,
            protocols: self.protocols,
            extensions: self.extensions,
            headers: self.headers,
        }
    }
}

impl ClientHead for BorrowedRequest<'_> {
    fn write_head<B: Buffer>(&self, key: &[u8; 24], out: &mut B) -> Result<(), UsageError> {
        write_all_or_nothing(&self.parts(), key, out)
    }
    fn offers_subprotocol(&self, protocol: &[u8]) -> bool {
        self.protocols.iter().any(|p| p.as_bytes() == protocol)
    }
    fn offers_extension(&self, name: &str) -> bool {
        offers_extension(self.extensions, name)
    }
}

/// Appends `name: a, b, c\r\n`, or nothing for an empty list.
fn push_list(out: &mut impl Sink, name: &str, items: &[impl AsRef<str>]) {
    if items.is_empty() {
        return;
    }
    out.put(name.as_bytes());
    out.put(b": ");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put(b", ");
        }
        out.put(item.as_ref().as_bytes());
    }
    out.put(b"\r\n");
}

/// Offsets into a response head, built once by [`parse_response`].
#[derive(Debug, Clone)]
pub(crate) struct ParsedResponse {
    status: u16,
    reason: Span,
    protocol: Option<Span>,
    content_length: Option<u64>,
    chunked: bool,
}

impl ParsedResponse {
    /// The status code (100..=599).
    /// Where the agreed subprotocol is in the head, if one was agreed.
    pub(crate) fn protocol_range(&self) -> Option<core::ops::Range<usize>> {
        self.protocol.map(Span::range).filter(|r| !r.is_empty())
    }

    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Length` of a rejection's body, `None` if absent. (An
    /// invalid one fails `parse_response`: RFC 9112 §6.3.)
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Whether `Transfer-Encoding` lists `chunked` (the body is then framed
    /// by chunks, not by a length).
    pub(crate) fn is_chunked(&self) -> bool {
        self.chunked
    }
}

/// Parses the server's answer and, for a 101, checks it as RFC 6455 §4.1
/// requires ("If the server's response does not conform to the requirements
/// for the server's handshake as defined in this section and in Section
/// 4.2.2, the client MUST _Fail the WebSocket Connection_").
///
/// Any status of 200 or more is returned without further checks: the
/// handshake failed and the caller reports it as a rejection (§4.1 step 1:
/// "the client handles the response per HTTP \[RFC2616\] procedures").
pub(crate) fn parse_response(
    head: &[u8],
    max_headers: usize,
    expected: &AcceptKey,
    request: &impl ClientHead,
) -> Result<ParsedResponse, ProtocolError> {
    use ProtocolError::*;

    let (code, reason, version) = with_header_slots(head, max_headers, |slots| {
        let mut resp = httparse::Response::new(slots);
        match resp.parse(head) {
            Ok(httparse::Status::Complete(_)) => Ok((resp.code, resp.reason, resp.version)),
            Ok(httparse::Status::Partial) => Err(MalformedHttp),
            Err(httparse::Error::TooManyHeaders) => Err(TooManyHeaders),
            Err(_) => Err(MalformedHttp),
        }
    })?;
    let status = code.ok_or(MalformedHttp)?;
    // RFC 9110 §15: "Values outside the range 100..599 are invalid."
    if !(100..=599).contains(&status) {
        return Err(MalformedHttp);
    }
    // httparse gives "" (not a subslice) for a reason with obs-text.
    let reason = Span::of(head, reason.unwrap_or("").as_bytes()).unwrap_or_default();
    let named = |name: &'static str| header_lines(head).filter(move |h| h.is(head, name));

    let mut content_length = None;
    let mut lengths_ok = true;
    for h in named("content-length") {
        match parse_decimal(h.value.trimmed(head).bytes(head)) {
            Some(n) if content_length.is_none_or(|c| c == n) => content_length = Some(n),
            _ => lengths_ok = false,
        }
    }
    let content_length = content_length.filter(|_| lengths_ok);
    let chunked =
        named("transfer-encoding").any(|h| list_has_token(h.value.bytes(head), "chunked"));
    let protocol = named("sec-websocket-protocol")
        .next()
        .map(|h| h.value.trimmed(head));

    // RFC 9112 §6.3 rule 5: an invalid Content-Length (not a number, or
    // several differing values) with no Transfer-Encoding makes the framing
    // unknowable: "the user agent MUST close the connection to the server and
    // discard the received response".
    if !lengths_ok && !chunked && status >= 200 {
        return Err(MalformedHttp);
    }

    // A 1xx other than 101 is an interim answer to something the client
    // never asked for (no Expect: 100-continue); the 101 cannot follow it.
    if status != 101 && (100..200).contains(&status) {
        return Err(UnexpectedInformational);
    }

    if status == 101 {
        // 101 is an HTTP/1.1 mechanism (RFC 9110 §15.2.2, §7.8).
        if version != Some(1) {
            return Err(HttpVersionTooOld);
        }
        // RFC 6455 §4.1 step 2: "If the response lacks an |Upgrade| header
        // field or the |Upgrade| header field contains a value that is not an
        // ASCII case-insensitive match for the value "websocket", the client
        // MUST _Fail the WebSocket Connection_."
        if !named("upgrade").any(|h| list_has_token(h.value.bytes(head), "websocket")) {
            return Err(MissingUpgrade);
        }
        // Step 3: "If the response lacks a |Connection| header field or the
        // |Connection| header field doesn't contain a token that is an ASCII
        // case-insensitive match for the value "Upgrade", the client MUST
        // _Fail the WebSocket Connection_."
        if !named("connection").any(|h| list_has_token(h.value.bytes(head), "upgrade")) {
            return Err(MissingConnectionUpgrade);
        }
        // Step 4: "If the response lacks a |Sec-WebSocket-Accept| header field
        // or the |Sec-WebSocket-Accept| contains a value other than the
        // base64-encoded SHA-1 of ... but ignoring any leading and trailing
        // whitespace, the client MUST _Fail the WebSocket Connection_."
        // §11.3.3: it "MUST NOT appear more than once in an HTTP response."
        let mut accepts = named("sec-websocket-accept");
        let accept = accepts.next().ok_or(AcceptMismatch)?;
        if accepts.next().is_some() || accept.value.trimmed(head).bytes(head) != expected.as_bytes()
        {
            return Err(AcceptMismatch);
        }
        // Step 6: "If the response includes a |Sec-WebSocket-Protocol| header
        // field and this header field indicates the use of a subprotocol that
        // was not present in the client's handshake ..., the client MUST
        // _Fail the WebSocket Connection_." §11.3.4: it "MUST NOT appear more
        // than once in an HTTP response", and §4.3 makes it one token.
        if named("sec-websocket-protocol").nth(1).is_some() {
            return Err(UnofferedSubprotocol);
        }
        if let Some(p) = protocol {
            let chosen = p.bytes(head);
            if !is_token(chosen) || !request.offers_subprotocol(chosen) {
                return Err(UnofferedSubprotocol);
            }
        }
        // Step 5: "If the response includes a |Sec-WebSocket-Extensions|
        // header field and this header field indicates the use of an
        // extension that was not present in the client's handshake ..., the
        // client MUST _Fail the WebSocket Connection_."
        for h in named("sec-websocket-extensions") {
            let value =
                core::str::from_utf8(h.value.bytes(head)).map_err(|_| InvalidHeaderValue)?;
            for entry in ListItems::new(value) {
                let name = extension_name(entry);
                if !request.offers_extension(name) {
                    return Err(UnofferedExtension);
                }
            }
        }
    }

    Ok(ParsedResponse {
        status,
        reason,
        protocol,
        content_length,
        chunked,
    })
}

/// The client's read-only view of the server's answer, borrowed from the
/// connection's buffer: the 101 that opened the connection (its subprotocol
/// and extensions), or a rejection (its status, `Location`, headers).
#[derive(Clone, Copy)]
pub struct Response<'a> {
    head: &'a [u8],
    parsed: &'a ParsedResponse,
}

impl<'a> Response<'a> {
    /// Joins a head with the offsets [`parse_response`] found in it.
    pub(crate) fn new(head: &'a [u8], parsed: &'a ParsedResponse) -> Self {
        Response { head, parsed }
    }

    /// The status code: 101 for an accepted handshake, anything else for a
    /// rejection (401 to authenticate, 3xx to redirect, ...).
    pub fn status(&self) -> u16 {
        self.parsed.status
    }

    /// The reason phrase as sent (empty if absent or not ASCII). Meant for
    /// humans only; act on the status.
    pub fn reason(&self) -> &'a str {
        self.parsed.reason.str(self.head)
    }

    /// The value of the first header named `name` (case-insensitive), for
    /// headers this module does not interpret (`Set-Cookie`,
    /// `WWW-Authenticate`, ...).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let head = self.head;
        header_lines(head)
            .find(|h| h.is(head, name))
            .map(|h| h.value.bytes(head))
    }

    /// Every header, in the order received, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let head = self.head;
        header_lines(head).map(move |h| (h.name.str(head), h.value.bytes(head)))
    }

    /// The subprotocol the server selected (RFC 6455 §4.1: the _Subprotocol
    /// In Use_), if any; on a 101 it is always one the client offered.
    pub fn subprotocol(&self) -> Option<&'a str> {
        self.parsed
            .protocol
            .map(|p| p.str(self.head))
            .filter(|p| !p.is_empty())
    }

    /// The extension entries the server accepted, parameters included
    /// (RFC 6455 §4.1: the _Extensions In Use_), over every
    /// `Sec-WebSocket-Extensions` line. An extension's own negotiation reads
    /// the parameters.
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + 'a {
        let head = self.head;
        header_lines(head)
            .filter(move |h| h.is(head, "sec-websocket-extensions"))
            .flat_map(move |h| ListItems::new(h.value.str(head)))
    }

    /// The `Location` of a 3xx redirect (RFC 6455 §4.2.2 step 3: "The server
    /// MAY redirect the client using a 3xx status code"), trimmed, if it is
    /// text. Following it is the caller's choice.
    pub fn location(&self) -> Option<&'a str> {
        let value = self.header("location")?;
        core::str::from_utf8(value)
            .ok()
            .map(|v| v.trim_matches([' ', '\t']))
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status())
            .field("reason", &self.reason())
            .field("subprotocol", &self.subprotocol())
            .field("extensions", &DebugIter(|| self.extensions()))
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}
