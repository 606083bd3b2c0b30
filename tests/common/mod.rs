//! Shared test harness: open connections in either role, raw frame
//! building, and the one helper every decoder case goes through.
//!
//! [`feed_all_ways`] feeds a byte stream whole, one byte at a time, and whole
//! with trailing bytes after it, and asserts the three give the same events
//! (adjacent data chunks of one message joined) and the same output bytes.
//! That is the invariant "any split of the input gives the same events".
//!
//! [`pair::Pair`] wires a client and a server together on a
//! virtual clock, for tests of what happens between two engines.
#![allow(dead_code)] // reason: each test file uses a different part of the harness

pub mod meter;
pub mod pair;

use hybi::{
    accept_key, Accept, ClientRequest, CloseCode, Config, Connection, Entropy, Event, Instant,
    MessageKind, ProtocolError, Role, Transmit,
};

/// A predictable entropy source for tests: counts up from a seed.
pub struct CountingEntropy(pub u8);

impl Entropy for CountingEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

pub const NOW: Instant = Instant::ZERO;

/// The RFC 6455 §1.2 client request.
pub const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// An owned copy of an event, for comparing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Request {
        target: String,
    },
    Accepted {
        status: u16,
        protocol: Option<String>,
    },
    Rejected {
        status: u16,
        body: Vec<u8>,
    },
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: Option<u16>,
        reason: String,
    },
    Closed {
        code: u16,
        clean: bool,
        error: Option<ProtocolError>,
    },
}

impl Ev {
    pub fn from_event(event: &Event<'_>) -> Ev {
        match event {
            Event::Request(r) => Ev::Request {
                target: r.target().to_string(),
            },
            Event::Accepted(r) => Ev::Accepted {
                status: r.status(),
                protocol: r.subprotocol().map(str::to_string),
            },
            Event::Rejected { response, body } => Ev::Rejected {
                status: response.status(),
                body: body.to_vec(),
            },
            Event::Data(d) => {
                if d.kind == MessageKind::Text {
                    // Every text chunk is whole code points.
                    assert!(
                        d.text().is_some(),
                        "text chunk is not a str: {:?}",
                        d.payload
                    );
                }
                Ev::Data {
                    kind: d.kind,
                    payload: d.payload.to_vec(),
                    fin: d.fin,
                }
            }
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close { code, reason } => Ev::Close {
                code: code.map(|c| c.0),
                reason: reason.to_string(),
            },
            Event::Closed(c) => Ev::Closed {
                code: c.code.0,
                clean: c.clean,
                error: c.error,
            },
            other => panic!("unexpected event kind {other:?}"),
        }
    }
}

/// Shorthands for expected events.
pub fn text(s: &str) -> Ev {
    Ev::Data {
        kind: MessageKind::Text,
        payload: s.as_bytes().to_vec(),
        fin: true,
    }
}
pub fn binary(b: &[u8]) -> Ev {
    Ev::Data {
        kind: MessageKind::Binary,
        payload: b.to_vec(),
        fin: true,
    }
}
pub fn close(code: u16, reason: &str) -> Ev {
    Ev::Close {
        code: Some(code),
        reason: reason.to_string(),
    }
}
pub fn closed_clean(code: u16) -> Ev {
    Ev::Closed {
        code,
        clean: true,
        error: None,
    }
}
/// The connection failed because of `error`, before any Close was received.
pub fn failed(error: ProtocolError) -> Ev {
    Ev::Closed {
        code: 1006,
        clean: false,
        error: Some(error),
    }
}

/// Joins adjacent data chunks of the same message.
pub fn merge(events: Vec<Ev>) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for ev in events {
        if let (
            Some(Ev::Data {
                kind: k0,
                payload: p0,
                fin: false,
            }),
            Ev::Data { kind, payload, fin },
        ) = (out.last_mut(), &ev)
        {
            if k0 == kind {
                p0.extend_from_slice(payload);
                let merged = Ev::Data {
                    kind: *kind,
                    payload: std::mem::take(p0),
                    fin: *fin,
                };
                *out.last_mut().unwrap() = merged;
                continue;
            }
        }
        out.push(ev);
    }
    out
}

/// Feeds `input` in the given chunks, calling `handle_input` until each
/// chunk is used up. Returns the raw (unmerged) events.
pub fn feed_chunks(conn: &mut Connection, input: &[u8], chunk: usize) -> Vec<Ev> {
    let mut events = Vec::new();
    let mut buf = input.to_vec();
    let mut start = 0;
    while start < buf.len() {
        let end = (start + chunk.max(1)).min(buf.len());
        // Bytes left unconsumed are kept in front of the next chunk, as an
        // adapter's read buffer would.
        let mut pos = start;
        loop {
            let out = conn.handle_input(&mut buf[pos..end], NOW);
            pos += out.consumed;
            match out.event {
                Some(ev) => events.push(Ev::from_event(&ev)),
                None => break,
            }
        }
        // What the engine raised itself (a `Closed` after a Close).
        events.extend(drain(conn));
        assert!(
            pos == end || matches!(conn.state(), hybi::State::Handshaking),
            "input left over"
        );
        start = end;
    }
    events
}

/// Drains the events the engine raised itself (`poll_event`).
pub fn drain(conn: &mut Connection) -> Vec<Ev> {
    let mut events = Vec::new();
    while let Some(ev) = conn.poll_event() {
        events.push(Ev::from_event(&ev));
    }
    events
}

/// Everything the connection wants to write (and whether it asked for a
/// shutdown), marking it written.
pub fn take_output(conn: &mut Connection) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut shutdown = false;
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Bytes(b) => {
                let n = b.len();
                bytes.extend_from_slice(b);
                conn.transmitted(n);
            }
            Transmit::Shutdown => shutdown = true,
            Transmit::External(_) => panic!("take_output cannot write an external payload"),
        }
    }
    (bytes, shutdown)
}

/// A server that has accepted the RFC request (its 101 already taken).
pub fn open_server(config: Config) -> Connection {
    let mut server = Connection::server(config, hybi::Instant::ZERO);
    let mut req = RFC_REQUEST.to_vec();
    let out = server.handle_input(&mut req, NOW);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    let (bytes, _) = take_output(&mut server);
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    server
}

/// A client that got a valid 101 (its request already taken).
pub fn open_client(config: Config) -> Connection {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    // CountingEntropy(0) makes the nonce 00 01 .. 0f.
    let mut client =
        Connection::client(config, request, CountingEntropy(0), hybi::Instant::ZERO).unwrap();
    let (req, _) = take_output(&mut client);
    let key = header_value(&req, "Sec-WebSocket-Key");
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes()).as_str()
    )
    .into_bytes();
    let out = client.handle_input(&mut response, NOW);
    assert!(
        matches!(out.event, Some(Event::Accepted(_))),
        "{:?}",
        out.event
    );
    client
}

/// An open connection in `role`.
pub fn open(role: Role, config: Config) -> Connection {
    match role {
        Role::Client => open_client(config),
        Role::Server => open_server(config),
    }
}

/// The value of header `name` in an HTTP head.
pub fn header_value(head: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(head);
    for line in text.split("\r\n") {
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                return v.trim().to_string();
            }
        }
    }
    panic!("no {name} header in {text}")
}

/// The masking key `raw_frame_to` uses for frames sent to a server.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A raw frame as the peer of `role` sends it: masked (with `KEY`) when the
/// receiver is a server, unmasked when it is a client. `first` is the whole
/// first byte (FIN, RSV, opcode), so any bit pattern can be built.
pub fn raw_frame_to(role: Role, first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = match role {
        Role::Server => Some(KEY),
        Role::Client => None,
    };
    raw_frame(first, payload, mask)
}

/// Only the header of a frame announcing `len` payload bytes, as the peer
/// of `role` sends it (masked with `KEY` toward a server), minimal length:
/// for frames whose payload is fed separately, or never.
pub fn header(role: Role, first: u8, len: u64) -> Vec<u8> {
    let mask_bit = if role == Role::Server { 0x80 } else { 0 };
    let mut out = vec![first];
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if role == Role::Server {
        out.extend_from_slice(&KEY);
    }
    out
}

/// A raw frame with an explicit mask choice and minimal length encoding.
pub fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Frame shorthands, for a receiver in `role`.
pub fn text_frame(role: Role, fin: bool, s: &[u8]) -> Vec<u8> {
    raw_frame_to(role, if fin { 0x81 } else { 0x01 }, s)
}
pub fn binary_frame(role: Role, fin: bool, b: &[u8]) -> Vec<u8> {
    raw_frame_to(role, if fin { 0x82 } else { 0x02 }, b)
}
pub fn cont_frame(role: Role, fin: bool, b: &[u8]) -> Vec<u8> {
    raw_frame_to(role, if fin { 0x80 } else { 0x00 }, b)
}
pub fn ping_frame(role: Role, b: &[u8]) -> Vec<u8> {
    raw_frame_to(role, 0x89, b)
}
pub fn pong_frame(role: Role, b: &[u8]) -> Vec<u8> {
    raw_frame_to(role, 0x8a, b)
}
pub fn close_frame(role: Role, code: Option<u16>, reason: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(code) = code {
        body.extend_from_slice(&code.to_be_bytes());
    }
    body.extend_from_slice(reason);
    raw_frame_to(role, 0x88, &body)
}

/// Decodes the frames a connection in `sender_role` wrote (unmasking client
/// frames), as (first byte, payload) pairs. Panics on malformed output.
pub fn decode_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let first = bytes[pos];
        let b1 = bytes[pos + 1];
        let (len, mut p) = match b1 & 0x7f {
            126 => (
                u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize,
                pos + 4,
            ),
            127 => (
                u64::from_be_bytes(bytes[pos + 2..pos + 10].try_into().unwrap()) as usize,
                pos + 10,
            ),
            n => (n as usize, pos + 2),
        };
        let key = if b1 & 0x80 != 0 {
            let k = [bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]];
            p += 4;
            Some(k)
        } else {
            None
        };
        let mut payload = bytes[p..p + len].to_vec();
        if let Some(k) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push((first, payload));
        pos = p + len;
    }
    frames
}

/// The result of feeding a stream three ways.
#[derive(Debug)]
pub struct Outcome {
    /// Merged events.
    pub events: Vec<Ev>,
    /// Frames the connection wrote in response, decoded.
    pub sent: Vec<(u8, Vec<u8>)>,
    /// Whether it asked for the transport to be shut.
    pub shutdown: bool,
}

/// Feeds `input` to fresh connections made by `make`: whole, one byte at a
/// time, and whole followed by trailing bytes. Asserts all three agree on the
/// merged events and on the bytes written, and returns them.
///
/// Trailing bytes are the start of another frame header: they must produce
/// no event, and after a Close or a failure they are discarded.
pub fn feed_all_ways(make: impl Fn() -> Connection, input: &[u8]) -> Outcome {
    let run = |data: &[u8], chunk: usize| {
        let mut conn = make();
        let events = merge(feed_chunks(&mut conn, data, chunk));
        let (bytes, shutdown) = take_output(&mut conn);
        (events, bytes, shutdown)
    };
    let whole = run(input, input.len().max(1));
    let bytewise = run(input, 1);
    let mut trailing_input = input.to_vec();
    trailing_input.extend_from_slice(&[0x82, 0x85]);
    let trailing = run(&trailing_input, trailing_input.len());
    assert_eq!(
        whole.0, bytewise.0,
        "events differ: whole vs one byte at a time"
    );
    assert_eq!(
        whole.0, trailing.0,
        "events differ: whole vs with trailing bytes"
    );
    assert_eq!(
        whole.1, bytewise.1,
        "output differs: whole vs one byte at a time"
    );
    assert_eq!(
        whole.1, trailing.1,
        "output differs: whole vs with trailing bytes"
    );
    assert_eq!(whole.2, bytewise.2);
    Outcome {
        events: whole.0,
        sent: decode_frames(&whole.1),
        shutdown: whole.2,
    }
}

/// `feed_all_ways` on an open connection in `role` with `config`.
pub fn feed_open(role: Role, config: Config, input: &[u8]) -> Outcome {
    feed_all_ways(|| open(role, config.clone()), input)
}

/// `feed_open` with the default config.
pub fn feed(role: Role, input: &[u8]) -> Outcome {
    feed_open(role, Config::default(), input)
}

/// Concatenates frames.
pub fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Generates one test per role from a body taking `role: Role`.
#[macro_export]
macro_rules! both_roles {
    ($(#[$meta:meta])* $name:ident, |$role:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($role: hybi::Role) $body
            #[test]
            fn client() {
                run(hybi::Role::Client)
            }
            #[test]
            fn server() {
                run(hybi::Role::Server)
            }
        }
    };
}

/// Expected close code constant for readability.
pub const NORMAL: u16 = CloseCode::NORMAL.0;

/// The frames a connection has queued, decoded, marking them written.
pub fn sent(conn: &mut Connection) -> Vec<(u8, Vec<u8>)> {
    decode_frames(&take_output(conn).0)
}

/// Feeds `input` in two reads cut at every position, to fresh connections,
/// and asserts each gives the same merged events and output as `feed_open`.
pub fn feed_split_everywhere(role: Role, config: Config, input: &[u8]) -> Outcome {
    let reference = feed_open(role, config.clone(), input);
    for at in 0..=input.len() {
        let mut conn = open(role, config.clone());
        let mut events = feed_chunks(&mut conn, &input[..at], at.max(1));
        events.extend(feed_chunks(&mut conn, &input[at..], input.len()));
        events.extend(drain(&mut conn));
        assert_eq!(
            merge(events),
            reference.events,
            "events differ when cut at {at}"
        );
        assert_eq!(
            sent(&mut conn),
            reference.sent,
            "output differs when cut at {at}"
        );
    }
    reference
}

/// A self-signed certificate for `names` and the two configurations
/// that use it: the server's, and a client's that trusts only it (for the
/// TLS tests of tests/io_tls.rs and tests/proxy.rs).
#[cfg(feature = "rustls")]
pub fn certificate(
    names: &[&str],
) -> (
    std::sync::Arc<rustls::ServerConfig>,
    std::sync::Arc<rustls::ClientConfig>,
) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{ClientConfig, RootCertStore, ServerConfig};
    use std::sync::Arc;

    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();

    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}
