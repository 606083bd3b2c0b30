//! WebSocket URIs (RFC 6455 §3): `ws://` and `wss://`, parsed strictly,
//! because the host, port and resource name end up in the request line and
//! the `Host` header, where a stray space or line break would change the
//! request's meaning.

#[cfg(feature = "alloc")]
use alloc::string::String;

use crate::error::UsageError;

/// The components of a WebSocket URI that RFC 6455 §4.1 needs, borrowed
/// from the URI text: /host/, /port/, the /resource name/ as path and query,
/// and the /secure/ flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts<'u> {
    pub(crate) secure: bool,
    /// Without brackets for an IPv6 literal.
    pub(crate) host: &'u str,
    pub(crate) ipv6: bool,
    pub(crate) port: u16,
    /// Possibly empty (the resource name is then "/").
    pub(crate) path: &'u str,
    /// Without the "?"; empty when absent or empty.
    pub(crate) query: &'u str,
}

/// [`UriParts`] owned, with the resource name built once.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uri {
    pub(super) secure: bool,
    /// Without brackets for an IPv6 literal.
    pub(super) host: String,
    pub(super) ipv6: bool,
    pub(super) port: u16,
    /// RFC 6455 §3 "resource-name": path (or "/") plus "?" and the query if
    /// the query is non-empty.
    pub(super) resource: String,
}

/// The default port of a scheme. RFC 6455 §3: "the default for "ws" is port
/// 80, while the default for "wss" is port 443."
pub(super) fn default_port(secure: bool) -> u16 {
    if secure {
        443
    } else {
        80
    }
}

/// Parses `ws-URI` / `wss-URI` (RFC 6455 §3). RFC 6455 §4.1 item 1: the
/// components "MUST be valid according to the specification of WebSocket
/// URIs specified in Section 3. If any of the components are invalid, the
/// client MUST _Fail the WebSocket Connection_".
#[cfg(feature = "alloc")]
pub(super) fn parse(uri: &str) -> Result<Uri, UsageError> {
    let parts = parse_parts(uri)?;
    let (path, query) = (parts.path, parts.query);
    // RFC 6455 §3: resource-name is ""/" if the path component is empty",
    // "the path component", ""?" if the query component is non-empty", "the
    // query component".
    let mut resource = String::with_capacity(path.len() + query.len() + 2);
    if path.is_empty() {
        resource.push('/');
    }
    resource.push_str(path);
    if !query.is_empty() {
        resource.push('?');
        resource.push_str(query);
    }
    Ok(Uri {
        secure: parts.secure,
        host: String::from(parts.host),
        ipv6: parts.ipv6,
        port: parts.port,
        resource,
    })
}

/// [`parse`] without allocating: the parts borrow `uri`.
pub(crate) fn parse_parts(uri: &str) -> Result<UriParts<'_>, UsageError> {
    use UsageError::InvalidUri;

    let colon = uri.find(':').ok_or(InvalidUri)?;
    let scheme = uri.get(..colon).ok_or(InvalidUri)?;
    // RFC 6455 §3: the URI "is called "secure" ... if the scheme component
    // matches "wss" case-insensitively"; RFC 3986 §3.1: "schemes are
    // case-insensitive".
    let secure = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else {
        return Err(InvalidUri);
    };
    // RFC 6455 §3: ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ].
    let rest = uri
        .get(colon + 1..)
        .and_then(|r| r.strip_prefix("//"))
        .ok_or(InvalidUri)?;
    // RFC 6455 §3: "Fragment identifiers are meaningless in the context of
    // WebSocket URIs and MUST NOT be used on these URIs."
    if rest.contains('#') {
        return Err(InvalidUri);
    }
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..auth_end).ok_or(InvalidUri)?;
    let after = rest.get(auth_end..).ok_or(InvalidUri)?;

    // The ABNF of §3 has `host [ ":" port ]` where RFC 3986 has
    // `[ userinfo "@" ] host [ ":" port ]`: credentials have no place here.
    if authority.contains('@') {
        return Err(InvalidUri);
    }
    let (host, ipv6, port) = split_authority(authority)?;
    let port = match port {
        // RFC 3986 §3.2.3: "URI producers and normalizers should omit the
        // port component and its ":" delimiter if port is empty"; read as the
        // default.
        None | Some("") => default_port(secure),
        Some(p) => parse_port(p)?,
    };

    let (path, query) = match after.find('?') {
        Some(q) => (
            after.get(..q).ok_or(InvalidUri)?,
            after.get(q + 1..).ok_or(InvalidUri)?,
        ),
        None => (after, ""),
    };
    // RFC 3986 §3.3: path-abempty = *( "/" segment ), segment = *pchar.
    if !valid_chars(path, b":@/") {
        return Err(InvalidUri);
    }
    // RFC 3986 §3.4: query = *( pchar / "/" / "?" ).
    if !valid_chars(query, b":@/?") {
        return Err(InvalidUri);
    }

    Ok(UriParts {
        secure,
        host,
        ipv6,
        port,
        path,
        query,
    })
}

/// Splits `host [ ":" port ]` into (host without brackets, is IPv6, port).
fn split_authority(authority: &str) -> Result<(&str, bool, Option<&str>), UsageError> {
    use UsageError::InvalidUri;

    if let Some(bracketed) = authority.strip_prefix('[') {
        // RFC 3986 §3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]".
        // IPvFuture and zone identifiers name nothing a resolver accepts.
        let close = bracketed.find(']').ok_or(InvalidUri)?;
        let literal = bracketed.get(..close).ok_or(InvalidUri)?;
        if literal.parse::<core::net::Ipv6Addr>().is_err() {
            return Err(InvalidUri);
        }
        let tail = bracketed.get(close + 1..).ok_or(InvalidUri)?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or(InvalidUri)?),
        };
        return Ok((literal, true, port));
    }
    let (host, port) = match authority.find(':') {
        Some(c) => (
            authority.get(..c).ok_or(InvalidUri)?,
            Some(authority.get(c + 1..).ok_or(InvalidUri)?),
        ),
        None => (authority, None),
    };
    // RFC 6455 §4.1 item 4 needs a /host/ for the Host header; RFC 3986
    // §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ), which
    // also covers IPv4address.
    if host.is_empty() || !valid_chars(host, b"") {
        return Err(InvalidUri);
    }
    Ok((host, false, port))
}

/// RFC 3986 §3.2.3: port = *DIGIT; port 0 cannot be connected to and
/// anything over 65535 does not exist.
fn parse_port(p: &str) -> Result<u16, UsageError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsageError::InvalidUri);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UsageError::InvalidUri),
        Ok(port) => Ok(port),
    }
}

/// Whether `s` is made only of RFC 3986 unreserved characters, sub-delims,
/// well-formed percent-encodings and the bytes in `extra`. Everything else
/// (spaces, controls, non-ASCII, '#', '[', ...) must be percent-encoded by
/// the caller, so nothing can break out of the request line.
pub(super) fn valid_chars(s: &str, extra: &[u8]) -> bool {
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        let ok = match b {
            // RFC 3986 §2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => true,
            // RFC 3986 §2.2: sub-delims.
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => true,
            // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG.
            b'%' => {
                matches!(bytes.next(), Some(h) if h.is_ascii_hexdigit())
                    && matches!(bytes.next(), Some(h) if h.is_ascii_hexdigit())
            }
            other => extra.contains(&other),
        };
        if !ok {
            return false;
        }
    }
    true
}
