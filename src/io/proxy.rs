//! HTTP CONNECT proxies for the `connect` conveniences (feature `std`):
//! where the proxy is, read from a URL or the environment, and the blocking
//! tunnel over a stream. The exchange itself is the sans-IO
//! [`ProxyConnect`]; this module only moves its bytes.
//!
//! The rules (schemes, environment variables, `NO_PROXY`) are documented
//! on [`Proxy`], where users of the crate read them.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::string::String;
use std::vec::Vec;

use super::Error;
use crate::config::Config;
use crate::handshake::{ClientRequest, ProxyConnect, ProxyError};

/// An HTTP proxy to tunnel through with CONNECT (RFC 9110 §9.3.6), and the
/// credentials it wants, if any.
///
/// Choices, and why:
///
/// * Only `http://` proxies: the CONNECT request travels in clear to the
///   proxy, and TLS to a `wss://` server runs inside the tunnel. An
///   `https://` proxy (TLS to the proxy itself) or a `socks5://` one is
///   refused with [`ProxyError::UnsupportedScheme`], never silently
///   bypassed. A URL without a scheme (`proxy:3128`, common in the
///   environment) is `http://`. A missing port is 80, the `http` default
///   (curl assumes 1080 instead).
/// * The environment, as curl and most HTTP clients read it: for `wss://`
///   `https_proxy`, then `HTTPS_PROXY`; for `ws://` `http_proxy`, then
///   `HTTP_PROXY`, except that `HTTP_PROXY` is ignored when
///   `REQUEST_METHOD` is set: in a CGI program it comes from the client's
///   `Proxy:` header ("httpoxy"), as Go's `net/http` also guards.
///   `ALL_PROXY` is not honoured: it usually names a SOCKS proxy, which
///   would make every `connect` fail.
/// * `no_proxy`, then `NO_PROXY`: comma-separated entries, case-insensitive,
///   spaces ignored. `*` alone bypasses the proxy for every host. A name
///   matches itself and its subdomains (`example.com` and `.example.com`
///   and `*.example.com` all match `example.com` and `a.example.com`, not
///   `badexample.com`). An IP literal (IPv6 with or without brackets)
///   matches that address only; CIDR ranges are not supported. An entry may
///   end in `:port`, and then applies to that port only.
/// * Plain `connect(url)` honours the environment, as curl does, so a
///   program behind a corporate proxy works without code changes. Requests
///   to `localhost`, `*.localhost` and loopback addresses never use the
///   environment's proxy (Go's rule): a proxy cannot reach the client's own
///   loopback. An explicit [`Proxy`] is used for every host.
/// * For `wss://`: CONNECT first, then TLS inside the tunnel, verified
///   against the target's name; the WebSocket request's `Host` is the
///   target, never the proxy. Bytes the proxy sends after its 2xx are the
///   target's: for `ws://` they go to the WebSocket handshake; for `wss://`
///   they are refused (`InvalidData`), since a TLS server never speaks
///   before the client's hello.
/// * No timeout is applied to the CONNECT exchange, as none is to the rest
///   of `connect`.
/// * `Debug` shows the user name, never the password. On the wire, Basic
///   credentials to an `http://` proxy travel in clear (RFC 7617 §4): use
///   them only on a network you trust.
/// * The environment's credentials come from the URL's userinfo
///   (`http://user:password@proxy:3128`), percent-decoded.
///
/// ```
/// use hybi::io::Proxy;
///
/// let proxy = Proxy::new("http://alice:s3cret@proxy.example:3128").unwrap();
/// assert_eq!((proxy.host(), proxy.port()), ("proxy.example", 3128));
/// // The environment, read through a function so it can be tested:
/// let request = hybi::ClientRequest::new("wss://chat.internal/").unwrap();
/// let vars = |name: &str| match name {
///     "HTTPS_PROXY" => Some("proxy.example:3128".to_string()),
///     "NO_PROXY" => Some(".internal".to_string()),
///     _ => None,
/// };
/// assert_eq!(Proxy::from_env_vars(&request, vars), Ok(None));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Without brackets for an IPv6 literal, as sockets want it.
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    /// Never prints the password: a `Proxy` ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Proxy {
    /// Parses `[http://][user[:password]@]host[:port][/]`. The user and
    /// password are percent-decoded (a `@` in a password is written `%40`).
    ///
    /// Fails with [`ProxyError::UnsupportedScheme`] for another scheme
    /// (`https://`, `socks5://`) and [`ProxyError::InvalidUrl`] for
    /// anything else that is not such a URL.
    pub fn new(url: &str) -> Result<Self, ProxyError> {
        use ProxyError::InvalidUrl as InvalidProxyUrl;

        let url = url.trim();
        let rest = match url.find("://") {
            Some(i) if url[..i].eq_ignore_ascii_case("http") => &url[i + 3..],
            Some(_) => return Err(ProxyError::UnsupportedScheme),
            None => url,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(InvalidProxyUrl);
        }
        let (userinfo, authority) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (host, port) = split_host_port(authority).ok_or(InvalidProxyUrl)?;
        let port = match port {
            None => 80,
            Some(p) => p.parse::<u16>().map_err(|_| InvalidProxyUrl)?,
        };
        // The same host rules as the tunnel's target: nothing that could
        // break a request line, no port 0.
        ProxyConnect::new(host, port).map_err(|_| InvalidProxyUrl)?;
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user).ok_or(InvalidProxyUrl)?;
                let password = percent_decode(password).ok_or(InvalidProxyUrl)?;
                Some((user, password))
            }
        };
        Ok(Proxy {
            host: String::from(host),
            port,
            credentials,
        })
    }

    /// Sets (or replaces) the Basic credentials sent in
    /// `Proxy-Authorization` (RFC 9110 §11.7.2).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((String::from(user), String::from(password)));
        self
    }

    /// The proxy's host, without brackets for an IPv6 literal.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy the process environment names for `request`, `None` for
    /// a direct connection: see the [type's rules](Proxy) for which
    /// variables are read. A value that is not a valid proxy URL is an
    /// error rather than a silent direct connection.
    pub fn from_env(request: &ClientRequest) -> Result<Option<Self>, ProxyError> {
        Self::from_env_vars(request, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `var`
    /// (a name in, its value out), so that tests and programs with their
    /// own configuration need not touch the process environment.
    pub fn from_env_vars(
        request: &ClientRequest,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ProxyError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let url = if request.is_secure() {
            set("https_proxy").or_else(|| set("HTTPS_PROXY"))
        } else if var("REQUEST_METHOD").is_some() {
            set("http_proxy")
        } else {
            set("http_proxy").or_else(|| set("HTTP_PROXY"))
        };
        let Some(url) = url else {
            return Ok(None);
        };
        let no_proxy = set("no_proxy").or_else(|| set("NO_PROXY"));
        let (host, port) = (request.host(), request.port());
        if is_loopback(host) || no_proxy.is_some_and(|list| bypasses(&list, host, port)) {
            return Ok(None);
        }
        Self::new(&url).map(Some)
    }

    /// The CONNECT exchange for `request` through this proxy, limited as
    /// the WebSocket handshake is by `config`.
    pub(super) fn tunnel_for(&self, request: &ClientRequest, config: &Config) -> ProxyConnect {
        let tunnel = ProxyConnect::for_request(request)
            .limits(config.max_handshake_size, config.max_headers);
        match &self.credentials {
            Some((user, password)) => tunnel.basic_auth(user, password),
            None => tunnel,
        }
    }
}

/// Opens the tunnel to `request`'s host over `stream`, already connected to
/// `proxy`: writes the CONNECT request, reads until the answer is complete.
/// Returns the bytes read past the answer, which belong to the target.
pub(crate) fn tunnel<S: Read + Write>(
    stream: &mut S,
    proxy: &Proxy,
    request: &ClientRequest,
    config: &Config,
) -> Result<Vec<u8>, Error> {
    let mut tunnel = proxy.tunnel_for(request, config);
    let mut out = Vec::new();
    tunnel.write_request(&mut out)?;
    stream.write_all(&out)?;
    stream.flush()?;
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut buf)?;
        let read = buf.get(..n).unwrap_or_default();
        let input = tunnel.handle_input(read)?;
        if input.established {
            return Ok(read.get(input.consumed..).unwrap_or_default().to_vec());
        }
        if n == 0 {
            return Err(proxy_eof());
        }
    }
}

/// Bytes read from the proxy per call while its answer is incomplete;
/// what is read past the answer must fit the adapter's read buffer.
pub(crate) const READ_CHUNK: usize = 4096;

/// The error for a proxy that hangs up before its answer is complete.
pub(crate) fn proxy_eof() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the proxy closed the connection before answering CONNECT",
    ))
}

/// The error for bytes that arrive in a tunnel before the client has sent
/// its TLS ClientHello: a TLS server speaks only after it, so they cannot
/// be the server's.
#[cfg(feature = "rustls")]
pub(crate) fn early_tls_data() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        "data in the proxy tunnel before the TLS handshake",
    ))
}

/// Splits `host[:port]` or `[v6][:port]`; the host keeps no brackets.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, tail) = bracketed.split_once(']')?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        return Some((host, port));
    }
    match s.split_once(':') {
        // Two colons or more without brackets: a bare IPv6 literal.
        Some((_, p)) if p.contains(':') => Some((s, None)),
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

/// Whether a connection to `host` stays on this machine.
fn is_loopback(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.strip_suffix('.').unwrap_or(host);
            host.eq_ignore_ascii_case("localhost") || ends_with_label(host, "localhost")
        }
    }
}

/// Whether `name` ends with `.suffix`, ASCII case-insensitively. Compared
/// as bytes, so no character boundary can be missed.
fn ends_with_label(name: &str, suffix: &str) -> bool {
    let (name, suffix) = (name.as_bytes(), suffix.as_bytes());
    let Some(dot) = name.len().checked_sub(suffix.len() + 1) else {
        return false;
    };
    name.get(dot) == Some(&b'.')
        && name
            .get(dot + 1..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// Whether a `NO_PROXY` list exempts `host:port` (rules on [`Proxy`]).
fn bypasses(list: &str, host: &str, port: u16) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let Some((pattern, entry_port)) = split_host_port(entry) else {
            return false;
        };
        if let Some(p) = entry_port {
            if p.parse::<u16>() != Ok(port) {
                return false;
            }
        }
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            return host_ip == Some(ip);
        }
        let pattern = pattern.strip_prefix('*').unwrap_or(pattern);
        let pattern = pattern.strip_prefix('.').unwrap_or(pattern);
        let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
        !pattern.is_empty()
            && host_ip.is_none()
            && (host.eq_ignore_ascii_case(pattern) || ends_with_label(host, pattern))
    })
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}
