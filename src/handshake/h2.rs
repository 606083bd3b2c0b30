//! WebSockets over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220): validating an
//! extended CONNECT request and building its 200 answer, on plain header
//! lists, without any HTTP library.
//!
//! An HTTP/2 stack decodes HEADERS into a list of (name, value) pairs,
//! pseudo-headers first. [`ConnectRequest::parse`] checks that list and
//! gives a borrowed view (path, authority, origin, offered subprotocols and
//! extensions); [`ConnectRequest::accept`] takes the same [`Accept`] as the
//! HTTP/1.1 path, negotiates permessage-deflate with the same code, and
//! returns the answer's header list and the [`Negotiated`] result for
//! `Connection::from_upgraded_server`. The
//! stream of the CONNECT is then the WebSocket's byte stream (RFC 8441 §5:
//! "peers should proceed with The WebSocket Protocol \[RFC6455\] using the
//! HTTP/2 stream from the CONNECT transaction as if it were the TCP
//! connection referred to in \[RFC6455\]").
//!
//! The HTTP/2 stack itself must send `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`
//! (RFC 8441 §3) and accept `:protocol`; hyper's
//! `http2::Builder::enable_connect_protocol` and h2's
//! `server::Builder::enable_connect_protocol` do.
//!
//! # Rules checked, and the status for each ([`ConnectError::http_status`])
//!
//! * The list is a valid HTTP/2 request head (RFC 9113 §8.2, §8.3), else
//!   [`ConnectError::Malformed`], 400: pseudo-headers before regular ones,
//!   each at most once, only request pseudo-headers; names in lower case;
//!   values without NUL, CR, LF or surrounding whitespace; no
//!   connection-specific field (`connection`, `upgrade`, `keep-alive`,
//!   `proxy-connection`, `transfer-encoding`; `te` other than `trailers`).
//!   An HTTP/2 stack usually enforces these already; a list built by hand
//!   may not.
//! * `:method` is `CONNECT` (RFC 8441 §4, §5), else
//!   [`ConnectError::NotConnect`], 400 (methods are case-sensitive, RFC
//!   9110 §9.1).
//! * `:protocol` is present (RFC 8441 §4: "A new pseudo-header field
//!   :protocol MAY be included on request HEADERS indicating the desired
//!   protocol to be spoken on the tunnel created by CONNECT"), else
//!   [`ConnectError::MissingProtocol`], 400: a plain CONNECT is a TCP
//!   tunnel, not a WebSocket.
//! * `:protocol` is `websocket` (RFC 8441 §5), compared case-insensitively
//!   as an upgrade token (RFC 9110 §7.8: "recipients SHOULD use
//!   case-insensitive comparison when matching each protocol-name"), else
//!   [`ConnectError::UnsupportedProtocol`], 501 (RFC 9220 §3: "If a server
//!   advertises support for Extended CONNECT but receives an Extended
//!   CONNECT request with a ":protocol" value that is unknown or is not
//!   supported, the server SHOULD respond to the request with a 501 (Not
//!   Implemented) status code"; RFC 8441 has no such sentence, the same
//!   answer fits).
//! * `:scheme`, `:path` and `:authority` are present and non-empty (RFC 8441
//!   §4: "On requests that contain the :protocol pseudo-header field, the
//!   :scheme and :path pseudo-header fields of the target URI (see Section
//!   5) MUST also be included"; `:authority` is the target's authority, and
//!   RFC 8441 §5 sends it), else [`ConnectError::MissingPseudoHeader`], 400.
//!   `:scheme` is `http` or `https` (RFC 8441 §5: "https" for wss, "http"
//!   for ws) and `:path` starts with `/` (RFC 9113 §8.3.1), else
//!   [`ConnectError::InvalidTarget`], 400.
//! * `sec-websocket-version` appears once with the value `13` (RFC 8441 §5:
//!   "The Origin \[RFC6454\], Sec-WebSocket-Version, Sec-WebSocket-Protocol,
//!   and Sec-WebSocket-Extensions header fields are used in the CONNECT
//!   request and response header fields as defined in \[RFC6455\]"), else
//!   [`ConnectError::UnsupportedVersion`]: 400 with `sec-websocket-version:
//!   13`. RFC 6455 §4.4 suggests 426 Upgrade Required, but 426 must carry an
//!   `Upgrade` header (RFC 9110 §15.5.22), a connection-specific field that
//!   HTTP/2 forbids (RFC 9113 §8.2.2), so the version list is sent with a
//!   400 instead.
//! * `sec-websocket-key` is not required and not read (RFC 8441 §5:
//!   "Implementations using this extended CONNECT to bootstrap WebSockets
//!   do not do the processing of the Sec-WebSocket-Key and
//!   Sec-WebSocket-Accept header fields of \[RFC6455\] as that functionality
//!   has been superseded by the :protocol pseudo-header field"), and the
//!   answer never has `sec-websocket-accept`.
//!
//! # The answer
//!
//! `:status 200` (RFC 8441 §5: a 2xx answer opens the tunnel, as for any
//! CONNECT, RFC 9113 §8.5), `sec-websocket-protocol` when the application
//! chose one of the offered subprotocols (RFC 6455 §4.2.2),
//! `sec-websocket-extensions` when permessage-deflate was negotiated
//! (`Config::deflate`, exactly as the HTTP/1.1 path), then the
//! application's extra headers, with names lower-cased (RFC 9113 §8.2.1).
//!
//! Cost: one `Vec` of borrowed pairs per request, one of owned pairs per
//! answer. Needs `alloc` only.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::negotiated::{Negotiated, Settings};
use super::server::Accept;
use super::tokens::{is_field_value, is_token, ListItems};
use crate::error::UsageError;

/// Why a header list is not a WebSocket extended CONNECT (RFC 8441); each
/// maps to the status to answer with ([`http_status`](Self::http_status)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectError {
    /// Not a valid HTTP/2 request head (RFC 9113 §8.2, §8.3): a
    /// pseudo-header after a regular one, repeated or unknown; an upper-case
    /// name; a value with NUL, CR, LF or surrounding whitespace; a
    /// connection-specific field. 400.
    Malformed,
    /// `:method` is not `CONNECT`. 400.
    NotConnect,
    /// No `:protocol`: a plain CONNECT. 400.
    MissingProtocol,
    /// `:protocol` is not `websocket`. 501 (RFC 9220 §3).
    UnsupportedProtocol,
    /// `:scheme`, `:path` or `:authority` is missing or empty. 400.
    MissingPseudoHeader,
    /// `:scheme` is not `http`/`https`, or `:path` does not start with `/`.
    /// 400.
    InvalidTarget,
    /// `sec-websocket-version` is missing, repeated or not `13`. 400, with
    /// the header `sec-websocket-version: 13`.
    UnsupportedVersion,
    /// The header list is larger than the handshake limits allow (see
    /// [`ConnectRequest::check_limits`]). 431 (RFC 6585 §5).
    TooLarge,
}

impl ConnectError {
    /// The status to answer with.
    pub fn http_status(self) -> u16 {
        match self {
            ConnectError::UnsupportedProtocol => 501,
            ConnectError::TooLarge => 431,
            _ => 400,
        }
    }

    /// Headers the answer must carry: `sec-websocket-version: 13` for
    /// [`UnsupportedVersion`](Self::UnsupportedVersion) (RFC 6455 §4.4),
    /// none otherwise.
    pub fn response_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ConnectError::UnsupportedVersion => &[("sec-websocket-version", "13")],
            _ => &[],
        }
    }

    /// A short, stable description.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectError::Malformed => "malformed HTTP/2 request head",
            ConnectError::NotConnect => ":method is not CONNECT",
            ConnectError::MissingProtocol => "no :protocol pseudo-header (plain CONNECT)",
            ConnectError::UnsupportedProtocol => ":protocol is not websocket",
            ConnectError::MissingPseudoHeader => ":scheme, :path or :authority missing or empty",
            ConnectError::InvalidTarget => ":scheme is not http/https or :path not origin-form",
            ConnectError::UnsupportedVersion => "sec-websocket-version is not 13",
            ConnectError::TooLarge => "header list too large",
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnectError {}

/// RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message
/// containing connection-specific header fields. ... Any message containing
/// connection-specific header fields MUST be treated as malformed".
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
];

/// A valid RFC 8441 WebSocket request: a borrowed view of its header list.
#[derive(Clone)]
pub struct ConnectRequest<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    /// Regular (non-pseudo) fields, in order.
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> ConnectRequest<'a> {
    /// Checks a decoded HEADERS list, in the order received (see the module
    /// docs for every rule and its status).
    ///
    /// ```
    /// use hybi::handshake::h2::ConnectRequest;
    /// // RFC 8441 §5.1's example.
    /// let request = ConnectRequest::parse([
    ///     (":method", "CONNECT"),
    ///     (":protocol", "websocket"),
    ///     (":scheme", "https"),
    ///     (":path", "/chat"),
    ///     (":authority", "server.example.com"),
    ///     ("sec-websocket-protocol", "chat, superchat"),
    ///     ("sec-websocket-extensions", "permessage-deflate"),
    ///     ("sec-websocket-version", "13"),
    ///     ("origin", "http://www.example.com"),
    /// ])?;
    /// assert_eq!(request.path(), "/chat");
    /// assert_eq!(request.subprotocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    /// # Ok::<(), hybi::handshake::h2::ConnectError>(())
    /// ```
    pub fn parse(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConnectError> {
        use ConnectError::*;
        let (mut method, mut protocol, mut scheme, mut authority, mut path) =
            (None, None, None, None, None);
        let mut regular = Vec::new();
        for (name, value) in headers {
            // RFC 9113 §8.2.1: "A field name MUST NOT contain characters in
            // the ranges 0x00-0x20, 0x41-0x5a, or 0x7f-0xff (all ranges
            // inclusive)"; "A field value MUST NOT contain the zero value
            // ..., line feed ..., or carriage return ... at any position. A
            // field value MUST NOT start or end with an ASCII whitespace
            // character". Such a request "MUST be treated as malformed".
            let (pseudo, bare) = match name.strip_prefix(':') {
                Some(bare) => (true, bare),
                None => (false, name),
            };
            if !is_token(bare.as_bytes()) || bare.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(Malformed);
            }
            if !is_field_value(value.as_bytes())
                || value.starts_with([' ', '\t'])
                || value.ends_with([' ', '\t'])
            {
                return Err(Malformed);
            }
            if pseudo {
                // RFC 9113 §8.3: "All pseudo-header fields MUST appear in a
                // field block before all regular field lines"; "The same
                // pseudo-header field name MUST NOT appear more than once";
                // "Endpoints MUST treat a request or response that contains
                // undefined or invalid pseudo-header fields as malformed".
                if !regular.is_empty() {
                    return Err(Malformed);
                }
                let slot = match bare {
                    "method" => &mut method,
                    "protocol" => &mut protocol,
                    "scheme" => &mut scheme,
                    "authority" => &mut authority,
                    "path" => &mut path,
                    _ => return Err(Malformed),
                };
                if slot.replace(value).is_some() {
                    return Err(Malformed);
                }
                continue;
            }
            if CONNECTION_SPECIFIC.contains(&name) || (name == "te" && value != "trailers") {
                return Err(Malformed);
            }
            regular.push((name, value));
        }
        if method != Some("CONNECT") {
            return Err(NotConnect);
        }
        let protocol = protocol.ok_or(MissingProtocol)?;
        if !protocol.eq_ignore_ascii_case("websocket") {
            return Err(UnsupportedProtocol);
        }
        let (Some(scheme), Some(authority), Some(path)) = (scheme, authority, path) else {
            return Err(MissingPseudoHeader);
        };
        if scheme.is_empty() || authority.is_empty() || path.is_empty() {
            return Err(MissingPseudoHeader);
        }
        if !(scheme == "http" || scheme == "https") || !path.starts_with('/') {
            return Err(InvalidTarget);
        }
        let mut versions = regular
            .iter()
            .filter(|(name, _)| *name == "sec-websocket-version");
        match (versions.next(), versions.next()) {
            (Some((_, "13")), None) => {}
            _ => return Err(UnsupportedVersion),
        }
        Ok(ConnectRequest {
            scheme,
            authority,
            path,
            headers: regular,
        })
    }

    /// `:scheme`: `https` for a wss:// WebSocket, `http` for ws://.
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// `:authority`: the host (and port) the client addressed.
    pub fn authority(&self) -> &'a str {
        self.authority
    }

    /// `:path` as sent, query included.
    pub fn target(&self) -> &'a str {
        self.path
    }

    /// The path without its query, what a server routes on.
    pub fn path(&self) -> &'a str {
        let end = self.path.find(['?', '#']).unwrap_or(self.path.len());
        self.path.get(..end).unwrap_or(self.path)
    }

    /// The query, without the '?', if there is one.
    pub fn query(&self) -> Option<&'a str> {
        let rest = self.path.split_once('?')?.1;
        Some(rest.split('#').next().unwrap_or(rest))
    }

    /// The `origin` header, if sent (RFC 6455 §10.2: check it where the
    /// server is not meant for every web page; answer 403 otherwise).
    pub fn origin(&self) -> Option<&'a str> {
        self.header("origin")
    }

    /// The first value of the header `name` (names are lower case in
    /// HTTP/2; `name` is compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    /// Every regular header, in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.headers.iter().copied()
    }

    /// The subprotocols offered, over every `sec-websocket-protocol` field,
    /// valid tokens only, as [`Request::protocols`](crate::handshake::Request::subprotocols).
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.list("sec-websocket-protocol")
            .filter(|p| is_token(p.as_bytes()))
    }

    /// The extension offers, one element each, parameters included, as
    /// [`Request::extensions`](crate::Request::extensions).
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.list("sec-websocket-extensions")
    }

    /// Whether `protocol` was offered, compared exactly.
    pub fn offers_subprotocol(&self, subprotocol: &str) -> bool {
        self.subprotocols().any(|p| p == subprotocol)
    }

    fn list(&self, name: &'static str) -> impl Iterator<Item = &'a str> + '_ {
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .flat_map(|&(_, v)| ListItems::new(v))
    }

    /// Holds the request to the handshake limits an HTTP/1.1 request meets
    /// (`Config::max_handshake_size`, `Config::max_headers`), so a server
    /// that takes both versions has one bound: at most `max_headers`
    /// regular fields, and a header list, pseudo-headers included, of at
    /// most `max_handshake_size` bytes counted as HTTP/2 counts it (RFC 9113
    /// §6.5.2: each field's name and value plus 32). The HTTP/2 layer that
    /// decoded the list may have a bound of its own
    /// (`SETTINGS_MAX_HEADER_LIST_SIZE`); this one is the WebSocket
    /// server's. [`ConnectError::TooLarge`] (431) when over.
    pub fn check_limits(&self, settings: Settings<'_>) -> Result<(), ConnectError> {
        const PER_FIELD: usize = 32;
        let pseudo = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", self.scheme),
            (":authority", self.authority),
            (":path", self.path),
        ];
        let size = pseudo
            .iter()
            .chain(self.headers.iter())
            .map(|(name, value)| name.len() + value.len() + PER_FIELD)
            .fold(0usize, usize::saturating_add);
        if self.headers.len() > settings.max_headers || size > settings.max_size {
            return Err(ConnectError::TooLarge);
        }
        Ok(())
    }

    /// Accepts the request: checks `accept` (the subprotocol must have been
    /// offered, extra headers must be valid and not ones the answer sets),
    /// negotiates permessage-deflate with `settings`' deflate configuration
    /// as the HTTP/1.1 path does, and returns the answer's header list with
    /// what was agreed. Pass the `Config` the settings came from and the
    /// [`Negotiated`] to
    /// `Connection::from_upgraded_server`.
    pub fn accept(
        &self,
        accept: &Accept<'_>,
        settings: Settings<'_>,
    ) -> Result<ConnectResponse, UsageError> {
        let mut negotiated = Negotiated::new();
        let mut headers = Vec::new();
        headers.push((String::from(":status"), String::from("200")));
        if let Some(p) = accept.selected_subprotocol() {
            // RFC 6455 §4.2.2: the value "MUST be derived from the client's
            // handshake, specifically by selecting one of the values from
            // the |Sec-WebSocket-Protocol| field".
            if !self.offers_subprotocol(p) {
                return Err(UsageError::SubprotocolNotOffered);
            }
            headers.push((String::from("sec-websocket-protocol"), p.to_string()));
            negotiated = negotiated.with_subprotocol(p);
        }
        for &(name, value) in accept.extra_headers() {
            let lower = name.to_ascii_lowercase();
            if !is_token(name.as_bytes())
                || !is_field_value(value.as_bytes())
                || RESERVED.contains(&lower.as_str())
                || CONNECTION_SPECIFIC.contains(&lower.as_str())
            {
                return Err(UsageError::InvalidHeader);
            }
            headers.push((lower, value.to_string()));
        }
        #[cfg(feature = "deflate")]
        if let Some(deflate) = settings.deflate {
            if let Some((params, element)) = deflate.negotiate(self.extensions()) {
                headers.insert(
                    1 + usize::from(accept.selected_subprotocol().is_some()),
                    (String::from("sec-websocket-extensions"), element),
                );
                negotiated = negotiated.with_deflate(params);
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = settings;
        Ok(ConnectResponse {
            headers,
            negotiated,
        })
    }
}

/// Headers the 200 answer sets itself, or that an HTTP/2 answer never
/// carries (RFC 8441 §5: no Sec-WebSocket-Accept; `te` is request-only).
/// As on HTTP/1.1, the application may add `sec-websocket-extensions` for an
/// extension of its own; several fields form one list (RFC 6455 §11.3.2).
const RESERVED: [&str; 3] = ["sec-websocket-accept", "sec-websocket-protocol", "te"];

impl fmt::Debug for ConnectRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("origin", &self.origin())
            .field("subprotocols", &self.subprotocols().collect::<Vec<_>>())
            .field("extensions", &self.extensions().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The answer to an accepted extended CONNECT: its header list and what was
/// agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    headers: Vec<(String, String)>,
    negotiated: Negotiated,
}

impl ConnectResponse {
    /// The status, always 200.
    pub fn status(&self) -> u16 {
        200
    }

    /// The header list to send, `:status` first, names in lower case.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// What was agreed, for `Connection::from_upgraded_server`.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Consumes the answer, keeping what was agreed.
    pub fn into_negotiated(self) -> Negotiated {
        self.negotiated
    }
}
