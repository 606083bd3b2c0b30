//! The CONNECT tunnel (RFC 9110 §9.3.6): the request it writes, and every
//! kind of answer, whole, byte by byte and in any chunking.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::error::UsageError;
use crate::handshake::{ClientRequest, ProxyConnect, ProxyError, ProxyInput};

fn request_of(tunnel: &ProxyConnect) -> Result<String, UsageError> {
    let mut out = Vec::new();
    tunnel.write_request(&mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

/// Feeds `input` in pieces of `chunk` bytes until an error, the tunnel, or
/// the end; the outcome and the total consumed (0 after an error, which
/// ends the exchange whatever was consumed).
fn feed_chunks(input: &[u8], chunk: usize) -> (Result<bool, ProxyError>, usize) {
    let mut tunnel = ProxyConnect::new("example.com", 443).unwrap();
    let mut consumed = 0;
    for piece in input.chunks(chunk.max(1)) {
        match tunnel.handle_input(piece) {
            Err(e) => return (Err(e), 0),
            Ok(ProxyInput {
                consumed: n,
                established,
            }) => {
                consumed += n;
                if established {
                    return (Ok(true), consumed);
                }
                assert_eq!(n, piece.len(), "a partial answer consumes everything");
            }
        }
    }
    (Ok(false), consumed)
}

/// The outcome of feeding `input` whole, checked to be the same byte by
/// byte and in pieces of 2, 3 and 7 (the h11 `tr` idea).
fn feed(input: &[u8]) -> (Result<bool, ProxyError>, usize) {
    let whole = feed_chunks(input, input.len());
    for chunk in [1, 2, 3, 7] {
        assert_eq!(feed_chunks(input, chunk), whole, "chunk size {chunk}");
    }
    whole
}

#[test]
fn request_is_authority_form_with_host() {
    let tunnel = ProxyConnect::new("example.com", 443).unwrap();
    assert_eq!(
        request_of(&tunnel).unwrap(),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    );
}

#[test]
fn ipv6_targets_are_bracketed_with_or_without_brackets_given() {
    for host in ["::1", "[::1]"] {
        let tunnel = ProxyConnect::new(host, 8080).unwrap();
        assert_eq!(tunnel.authority(), "[::1]:8080");
    }
    let request = ClientRequest::new("ws://[2001:db8::1]/").unwrap();
    assert_eq!(
        ProxyConnect::for_request(&request).authority(),
        "[2001:db8::1]:80"
    );
}

#[test]
fn for_request_writes_the_default_port() {
    let request = ClientRequest::new("wss://Example.com/chat?x").unwrap();
    assert_eq!(
        ProxyConnect::for_request(&request).authority(),
        "Example.com:443"
    );
}

#[test]
fn invalid_targets_are_refused() {
    for (host, port) in [
        ("", 80),
        ("a b", 80),
        ("a\r\nX: y", 80),
        ("h/x", 80),
        ("h", 0),
        ("[::1", 80),
    ] {
        assert_eq!(
            ProxyConnect::new(host, port).map(|_| ()),
            Err(UsageError::InvalidUri),
            "{host:?}"
        );
    }
}

/// RFC 7617 §2's example: "Aladdin" / "open sesame".
#[test]
fn basic_credentials_are_base64_of_user_colon_password() {
    let tunnel = ProxyConnect::new("h", 80)
        .unwrap()
        .basic_auth("Aladdin", "open sesame")
        .header("User-Agent", "hybi");
    assert_eq!(
        request_of(&tunnel).unwrap(),
        "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\n\
         Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\
         User-Agent: hybi\r\n\r\n"
    );
}

#[test]
fn bad_credentials_and_headers_are_refused_before_writing() {
    let base = || ProxyConnect::new("h", 80).unwrap();
    for tunnel in [
        base().basic_auth("a:b", "c"),
        base().basic_auth("a", "c\r\nX: y"),
        base().header("Host", "other"),
        base().header("proxy-authorization", "Basic x"),
        base().header("X", "a\nb"),
        base().header("bad name", "v"),
    ] {
        let mut out = Vec::from(&b"kept"[..]);
        assert_eq!(
            tunnel.write_request(&mut out),
            Err(UsageError::InvalidHeader)
        );
        assert_eq!(out, b"kept");
    }
}

#[test]
fn any_2xx_opens_the_tunnel_and_leaves_what_follows() {
    let head = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let mut input = head.to_vec();
    input.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    assert_eq!(feed(&input), (Ok(true), head.len()));
    // HTTP/1.0 answers (old proxies) and other 2xx codes count too; a body
    // length on a 2xx is ignored (RFC 9110 §9.3.6 "MUST ignore").
    for answer in [
        &b"HTTP/1.0 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",
    ] {
        assert_eq!(feed(answer), (Ok(true), answer.len()));
    }
}

#[test]
fn after_the_tunnel_opens_nothing_more_is_consumed() {
    let mut tunnel = ProxyConnect::new("h", 80).unwrap();
    let input = tunnel.handle_input(b"HTTP/1.1 200 OK\r\n\r\nxyz").unwrap();
    assert_eq!(input.consumed, 19);
    assert!(tunnel.is_established());
    let again = tunnel.handle_input(b"more").unwrap();
    assert_eq!((again.consumed, again.established), (0, true));
}

#[test]
fn interim_answers_are_skipped() {
    let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n!";
    assert_eq!(feed(input), (Ok(true), input.len() - 1));
}

#[test]
fn a_101_is_refused() {
    let input = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
    assert_eq!(feed(input).0, Err(ProxyError::Refused(101)));
}

#[test]
fn a_407_asks_for_credentials() {
    let input = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n";
    let (outcome, _) = feed(input);
    assert_eq!(outcome, Err(ProxyError::AuthenticationRequired));
    assert_eq!(ProxyError::AuthenticationRequired.status(), Some(407));
}

#[test]
fn other_statuses_are_refusals_carrying_the_code() {
    for (answer, status) in [
        (
            &b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad"[..],
            502,
        ),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", 403),
        (b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", 301),
        (b"HTTP/1.1 401 Unauthorized\r\n\r\n", 401),
    ] {
        assert_eq!(feed(answer).0, Err(ProxyError::Refused(status)));
        assert_eq!(ProxyError::Refused(status).status(), Some(status));
    }
}

#[test]
fn malformed_answers_are_typed_errors() {
    for answer in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 600 High\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ] {
        assert_eq!(feed(answer).0, Err(ProxyError::Malformed), "{answer:?}");
    }
}

#[test]
fn too_many_headers_is_its_own_error() {
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..5 {
        answer.extend_from_slice(alloc::format!("X-{i}: v\r\n").as_bytes());
    }
    answer.extend_from_slice(b"\r\n");
    let mut tunnel = ProxyConnect::new("h", 80).unwrap().limits(1024, 4);
    assert_eq!(
        tunnel.handle_input(&answer),
        Err(ProxyError::TooManyHeaders)
    );
    let mut tunnel = ProxyConnect::new("h", 80).unwrap().limits(1024, 5);
    assert!(tunnel.handle_input(&answer).unwrap().established);
}

#[test]
fn the_size_limit_covers_interim_heads_and_is_sticky() {
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let fin = b"HTTP/1.1 200 OK\r\n\r\n";
    let mut input = interim.to_vec();
    input.extend_from_slice(fin);
    let exact = input.len();
    let mut ok = ProxyConnect::new("h", 80).unwrap().limits(exact, 8);
    assert!(ok.handle_input(&input).unwrap().established);
    let mut tight = ProxyConnect::new("h", 80).unwrap().limits(exact - 1, 8);
    assert_eq!(tight.handle_input(&input), Err(ProxyError::HeadTooLarge));
    assert_eq!(tight.handle_input(b""), Err(ProxyError::HeadTooLarge));
    // An endless head fails at the limit without storing more.
    let mut endless = ProxyConnect::new("h", 80).unwrap().limits(64, 8);
    assert!(
        !endless
            .handle_input(b"HTTP/1.1 200 OK\r\nX: ")
            .unwrap()
            .established
    );
    assert_eq!(
        endless.handle_input(&[b'a'; 100]),
        Err(ProxyError::HeadTooLarge)
    );
}

#[test]
fn errors_are_sticky() {
    let mut tunnel = ProxyConnect::new("h", 80).unwrap();
    let answer = b"HTTP/1.1 502 Bad Gateway\r\n\r\n";
    assert_eq!(tunnel.handle_input(answer), Err(ProxyError::Refused(502)));
    assert_eq!(
        tunnel.handle_input(b"HTTP/1.1 200 OK\r\n\r\n"),
        Err(ProxyError::Refused(502))
    );
    assert!(!tunnel.is_established());
}

#[test]
fn empty_input_consumes_nothing() {
    let mut tunnel = ProxyConnect::new("h", 80).unwrap();
    assert_eq!(
        tunnel.handle_input(b""),
        Ok(ProxyInput {
            consumed: 0,
            established: false
        })
    );
}

fn answers() -> impl Strategy<Value = Vec<u8>> {
    let canned = prop::sample::select(vec![
        &b"HTTP/1.1 200 Connection established\r\n\r\n"[..],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nVia: p\r\n\r\n",
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: ",
    ]);
    let tail = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (canned, tail).prop_map(|(head, tail)| [head, &tail[..]].concat()),
        proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

proptest! {
    /// Any split of the answer into pieces gives the same outcome and the
    /// same number of consumed bytes as feeding it whole; nothing panics.
    #[test]
    fn any_chunking_gives_the_same_outcome(
        input in answers(),
        cuts in proptest::collection::vec(0usize..300, 0..8),
    ) {
        let whole = {
            let mut tunnel = ProxyConnect::new("h", 80).unwrap().limits(96, 4);
            tunnel.handle_input(&input).map(|i| (i.consumed, i.established))
        };
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut tunnel = ProxyConnect::new("h", 80).unwrap().limits(96, 4);
        let mut consumed = 0;
        let mut start = 0;
        let mut split = Ok((0, false));
        for cut in cuts {
            split = tunnel.handle_input(&input[start..cut]).map(|i| {
                consumed += i.consumed;
                (consumed, i.established)
            });
            match split {
                Ok((_, true)) | Err(_) => break,
                Ok(_) => start = cut,
            }
        }
        prop_assert_eq!(split, whole);
    }
}
