//! ClientRequest::new: WebSocket URIs (RFC 6455 §3) and the Host header and
//! request line they produce (§4.1 items 2-4).

use alloc::vec::Vec;

use crate::error::UsageError;
use crate::handshake::*;

const KEY: [u8; 24] = *b"dGhlIHNhbXBsZSBub25jZQ==";

fn first_lines(req: &ClientRequest) -> (String, String) {
    let mut out = Vec::new();
    req.write(&KEY, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.split("\r\n");
    (
        String::from(lines.next().unwrap()),
        String::from(lines.next().unwrap()),
    )
}

use alloc::string::String;

fn invalid(uri: &str) {
    assert_eq!(
        ClientRequest::new(uri).unwrap_err(),
        UsageError::InvalidUri,
        "{uri:?} should be refused"
    );
}

/// RFC 6455 §3: "the default for "ws" is port 80, while the default for
/// "wss" is port 443"; the port is left out of Host when default (§4.1
/// item 4).
#[test]
fn default_ports() {
    let r = ClientRequest::new("ws://example.com/chat").unwrap();
    assert_eq!(
        (r.host(), r.port(), r.is_secure(), r.target()),
        ("example.com", 80, false, "/chat")
    );
    assert_eq!(
        first_lines(&r),
        ("GET /chat HTTP/1.1".into(), "Host: example.com".into())
    );
    let r = ClientRequest::new("wss://example.com/chat").unwrap();
    assert_eq!((r.port(), r.is_secure()), (443, true));
    assert_eq!(first_lines(&r).1, "Host: example.com");
    // An explicit default port is still left out of Host.
    let r = ClientRequest::new("ws://example.com:80/").unwrap();
    assert_eq!(first_lines(&r).1, "Host: example.com");
    // ws on 443 is not the default for ws.
    let r = ClientRequest::new("ws://example.com:443/").unwrap();
    assert_eq!(first_lines(&r).1, "Host: example.com:443");
}

/// RFC 6455 §4.1 item 4: "/host/ plus optionally ":" followed by /port/".
#[test]
fn explicit_ports() {
    let r = ClientRequest::new("ws://127.0.0.1:9001/").unwrap();
    assert_eq!((r.host(), r.port()), ("127.0.0.1", 9001));
    assert_eq!(first_lines(&r).1, "Host: 127.0.0.1:9001");
    let r = ClientRequest::new("wss://h:65535").unwrap();
    assert_eq!(r.port(), 65535);
    let r = ClientRequest::new("ws://h:0080/").unwrap();
    assert_eq!(r.port(), 80);
    // RFC 3986 §3.2.3: an empty port is the default.
    let r = ClientRequest::new("ws://h:/x").unwrap();
    assert_eq!(r.port(), 80);
}

/// RFC 3986 §3.2.2 IP-literal: host() without brackets, Host header with.
#[test]
fn ipv6_literal() {
    let r = ClientRequest::new("ws://[::1]:9001/chat").unwrap();
    assert_eq!((r.host(), r.port()), ("::1", 9001));
    assert_eq!(first_lines(&r).1, "Host: [::1]:9001");
    let r = ClientRequest::new("wss://[2001:db8::7]").unwrap();
    assert_eq!((r.host(), r.port(), r.target()), ("2001:db8::7", 443, "/"));
    assert_eq!(first_lines(&r).1, "Host: [2001:db8::7]");
    invalid("ws://[::1");
    invalid("ws://[not-ipv6]/");
    invalid("ws://[::1]x/");
    invalid("ws://[fe80::1%25eth0]/");
    invalid("ws://::1/");
}

/// RFC 6455 §3 resource-name: "/" if the path is empty, then the path, then
/// "?" and the query if the query is non-empty.
#[test]
fn resource_name() {
    let cases = [
        ("ws://h", "/"),
        ("ws://h/", "/"),
        ("ws://h?x=1", "/?x=1"),
        ("ws://h/a/b?x=1&y=2", "/a/b?x=1&y=2"),
        ("ws://h/p?", "/p"),
        ("ws://h/p%20q?a=%2F", "/p%20q?a=%2F"),
        ("ws://h/a:b@c/?q=/?", "/a:b@c/?q=/?"),
    ];
    for (uri, target) in cases {
        let r = ClientRequest::new(uri).unwrap();
        assert_eq!(r.target(), target, "{uri}");
        assert_eq!(first_lines(&r).0, alloc::format!("GET {target} HTTP/1.1"));
    }
}

/// RFC 3986 §3.1: "schemes are case-insensitive"; §3 of RFC 6455 "wss"
/// matched "case-insensitively".
#[test]
fn uppercase_scheme() {
    assert!(!ClientRequest::new("WS://h/").unwrap().is_secure());
    assert!(ClientRequest::new("WsS://h/").unwrap().is_secure());
}

/// RFC 6455 §3: "Fragment identifiers ... MUST NOT be used on these URIs."
#[test]
fn fragment_rejected() {
    invalid("ws://h/chat#frag");
    invalid("ws://h/#");
    invalid("ws://h#x");
    invalid("ws://h/?q=a#b");
}

/// RFC 6455 §3 ABNF has no userinfo.
#[test]
fn userinfo_rejected() {
    invalid("ws://user@h/");
    invalid("ws://user:pass@h:80/");
}

/// RFC 6455 §3: only ws and wss.
#[test]
fn other_schemes_rejected() {
    invalid("http://h/");
    invalid("https://h/");
    invalid("wss:h/");
    invalid("ws:/h/");
    invalid("ws//h/");
    invalid("h/");
    invalid("");
    invalid(":");
}

/// §4.1 item 4 needs a host; RFC 3986 §3.2.3 port is digits, and 0 or over
/// 65535 cannot be connected to.
#[test]
fn empty_host_and_bad_ports() {
    invalid("ws://");
    invalid("ws:///chat");
    invalid("ws://:80/");
    invalid("ws://h:0/");
    invalid("ws://h:65536/");
    invalid("ws://h:99999999999999999999/");
    invalid("ws://h:8o/");
    invalid("ws://h:-1/");
    invalid("ws://h:80:81/");
    invalid("ws://h: 80/");
}

/// Characters that would break the request line or Host header (or are
/// simply not allowed in a URI) must be percent-encoded.
#[test]
fn unencoded_characters_rejected() {
    invalid("ws://h/a b");
    invalid("ws://h/a\r\nX: y");
    invalid("ws://h/?q=a b");
    invalid("ws://h/\u{e9}");
    invalid("ws://h\r\n/");
    invalid("ws://h /");
    invalid("ws://h/%zz");
    invalid("ws://h/%4");
    invalid(" ws://h/");
}

/// RFC 6455 §4.1 item 3: absolute-form is "an absolute http/https URI" with
/// the same host, port and resource name.
#[test]
fn absolute_form_output() {
    let r = ClientRequest::new("ws://example.com:8080/chat?x=1")
        .unwrap()
        .absolute_form(true);
    assert_eq!(
        first_lines(&r),
        (
            "GET http://example.com:8080/chat?x=1 HTTP/1.1".into(),
            "Host: example.com:8080".into()
        )
    );
    let r = ClientRequest::new("wss://[::1]/")
        .unwrap()
        .absolute_form(true);
    assert_eq!(first_lines(&r).0, "GET https://[::1]/ HTTP/1.1");
    let r = r.absolute_form(false);
    assert_eq!(first_lines(&r).0, "GET / HTTP/1.1");
}
