//! The client's side of the opening handshake (RFC 6455 §4.1): writing the
//! upgrade request, and checking the server's answer against it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::accept::AcceptKey;
use super::tokens::{
    extension_name, header_lines, is_field_value, is_token, is_valid_header, list_has_token,
    parse_decimal, push_decimal, push_header, with_header_slots, ListItems, Span,
};
use super::uri::{self, default_port, Uri};
use crate::error::{ProtocolError, UsageError};

/// What a client asks for: where to connect (from a `ws://` or `wss://`
/// URI), and the origin, subprotocols, extensions and extra headers of its
/// opening handshake.
///
/// It owns its strings so it can be built once and kept for as long as the
/// connection needs it (the response is checked against the offers). The
/// builder methods cannot fail; everything is validated when the request is
/// written, so a bad value is refused instead of sent.
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

    /// Offers one more subprotocol, after those already offered (the order
    /// is the client's preference, §4.1 item 10). Must be an HTTP token.
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocols.push(String::from(protocol));
        self
    }

    /// Offers one more extension, as a raw `Sec-WebSocket-Extensions` entry
    /// (e.g. `permessage-deflate; client_max_window_bits`). The server may
    /// only accept extensions named here (§4.1).
    pub fn extension(mut self, offer: &str) -> Self {
        self.extensions.push(String::from(offer));
        self
    }

    /// Adds a header line after the handshake's own (Cookie, Authorization,
    /// ...). Headers the handshake sets itself are refused when writing.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((String::from(name), String::from(value)));
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

    /// The subprotocols offered so far, in order.
    pub fn protocols(&self) -> impl Iterator<Item = &str> + '_ {
        self.protocols.iter().map(String::as_str)
    }

    /// The names of the extensions offered (the token of each entry).
    fn offered_extension_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.extensions
            .iter()
            .flat_map(|e| ListItems::new(e))
            .map(extension_name)
    }

    /// Appends `host[:port]` as the Host header and absolute-form carry it:
    /// IPv6 in brackets, port only when not the default (RFC 6455 §4.1 item
    /// 4: "/host/ plus optionally ":" followed by /port/ (when not using the
    /// default port)").
    fn push_authority(&self, out: &mut Vec<u8>) {
        if self.uri.ipv6 {
            out.push(b'[');
            out.extend_from_slice(self.uri.host.as_bytes());
            out.push(b']');
        } else {
            out.extend_from_slice(self.uri.host.as_bytes());
        }
        if self.uri.port != default_port(self.uri.secure) {
            out.push(b':');
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
        if let Some(o) = &self.origin {
            if !is_field_value(o.as_bytes()) {
                return Err(UsageError::InvalidHeader);
            }
        }
        for (i, p) in self.protocols.iter().enumerate() {
            // RFC 6455 §4.1 item 10: "The elements that comprise this value
            // MUST be non-empty strings with characters in the range U+0021 to
            // U+007E not including separator characters as defined in
            // [RFC2616] and MUST all be unique strings."
            let repeated = self.protocols.get(..i).unwrap_or(&[]).contains(p);
            if !is_token(p.as_bytes()) || repeated {
                return Err(UsageError::InvalidToken);
            }
        }
        for e in &self.extensions {
            // RFC 6455 §9.1: extension = extension-token *( ";" extension-param ).
            let mut entries = ListItems::new(e);
            let all_named = entries
                .clone()
                .all(|entry| is_token(extension_name(entry).as_bytes()));
            if !is_field_value(e.as_bytes()) || entries.next().is_none() || !all_named {
                return Err(UsageError::InvalidToken);
            }
        }
        for (name, value) in &self.headers {
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
    pub(crate) fn write(&self, key: &[u8; 24], out: &mut Vec<u8>) -> Result<(), UsageError> {
        self.validate(key)?;

        // RFC 6455 §4.1 item 2: "The method of the request MUST be GET, and
        // the HTTP version MUST be at least 1.1." Item 3: the Request-URI
        // "MUST match the /resource name/ ... or be an absolute http/https
        // URI that, when parsed, has a /resource name/, /host/, and /port/
        // that match the corresponding ws/wss URI."
        out.extend_from_slice(b"GET ");
        if self.absolute_form {
            out.extend_from_slice(if self.uri.secure {
                b"https://"
            } else {
                b"http://"
            });
            self.push_authority(out);
        }
        out.extend_from_slice(self.uri.resource.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        // Item 4: "The request MUST contain a |Host| header field".
        out.extend_from_slice(b"Host: ");
        self.push_authority(out);
        out.extend_from_slice(b"\r\n");
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
        if let Some(o) = &self.origin {
            push_header(out, "Origin", o.as_bytes());
        }
        // Item 10: "one or more comma-separated subprotocol".
        push_list(out, "Sec-WebSocket-Protocol", &self.protocols);
        // Item 11: |Sec-WebSocket-Extensions|.
        push_list(out, "Sec-WebSocket-Extensions", &self.extensions);
        // Item 12: "The request MAY include any other header fields".
        for (name, value) in &self.headers {
            push_header(out, name, value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// Appends `name: a, b, c\r\n`, or nothing for an empty list.
fn push_list(out: &mut Vec<u8>, name: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(item.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
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
    request: &ClientRequest,
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
            if !is_token(chosen) || !request.protocols().any(|o| o.as_bytes() == chosen) {
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
                if !request
                    .offered_extension_names()
                    .any(|offered| offered.eq_ignore_ascii_case(name))
                {
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
    pub fn protocol(&self) -> Option<&'a str> {
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
            .field("protocol", &self.protocol())
            .field("extensions", &self.extensions().collect::<Vec<_>>())
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}
