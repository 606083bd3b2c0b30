//! The oracles of hybi's fuzz targets: one function per target, taking the
//! fuzzer's raw bytes and panicking when hybi breaks a documented promise.
//!
//! Each `fuzz_targets/<name>.rs` calls the function of the same name, and
//! `tests/fuzz_regressions.rs` includes this file as a module (with
//! `#[path]`) to replay `fuzz/seeds/` and `fuzz/regressions/` on stable. So
//! this file depends on nothing but `hybi` and `std`: inputs are decoded from
//! raw bytes by hand (a [`Cursor`] hands out bytes, then zeros once the input
//! is used up), never with `arbitrary`.
//!
//! The oracles are at least as strict as the proptest suite
//! (`tests/robustness.rs`): every target that drives a [`Connection`] goes
//! through [`Watch`], which checks after every call that `consumed` never
//! exceeds the input (and is all of it when there is no event), that the
//! public state never moves backwards, that at most one `Closed` comes and
//! nothing after it, and that each event is consistent with the getters.
//! Everything a connection writes is decoded by [`decode_output`], which
//! checks it is a valid RFC 6455 stream in its role.
//!
//! Input layouts, byte by byte, are documented on each target (the seed
//! generator `fuzz/make_seeds.py` writes the same layouts).
#![forbid(unsafe_code)]

use std::time::Duration;

use hybi::frame::{FrameHeader, Parsed, MAX_HEADER_LEN};
use hybi::{
    accept_key, Accept, ClientRequest, CloseCode, Closed, Config, Connection, Entropy, Event,
    Instant, MessageKind, ProtocolError, Role, State, Transmit, UsageError,
};

/// An oracle: panics if hybi misbehaves on this input.
pub type Oracle = fn(&[u8]);

/// Every target, by the name of its fuzz target and its regressions folder.
pub const TARGETS: &[(&str, Oracle)] = &[
    ("frame_header", frame_header),
    ("server_handshake", server_handshake),
    ("client_response", client_response),
    ("server_connection", server_connection),
    ("client_connection", client_connection),
    ("api_ops", api_ops),
    ("round_trip", round_trip),
    ("fixed_storage", fixed_storage),
];

/// Where every connection's clock starts. Only `api_ops` and the handshake
/// deadline of `server_handshake` move it; each [`Watch`] holds its
/// connection's `now`, so time never goes backwards.
const NOW: Instant = Instant::ZERO;

/// How far queued output may go past `max_buffered_output`: one Pong and
/// one Close of 131 bytes each (`send.rs`: "at most 2 x 131 bytes past it").
const OUTPUT_SLACK: usize = 262;

/// The RFC 6455 §1.2 client request.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The Sec-WebSocket-Key of a client whose entropy is `Counting(0)`: the
/// nonce 00 01 .. 0f in base64. Seeds for `client_response` carry its
/// accept value, `bbMR9ZKKaLbXX4Ax/F0r2vXNtQ0=` (not computed here: the
/// oracle uses `accept_key`).
const CLIENT_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

const CLIENT_URI: &str = "ws://server.example.com/chat";

// ---------------------------------------------------------------------------
// Target 1: frame_header
// ---------------------------------------------------------------------------

/// `FrameHeader::parse` on arbitrary bytes (the input is the buffer).
///
/// Checked against an independent reading of RFC 6455 §5.2:
/// * `Complete(h, n)`: `n <= len` and `n` is the length the first two bytes
///   announce; every field of `h` is the bits of the input; a control frame
///   is final and at most 125 bytes; the length is below 2^63. If `h` is
///   minimal, `encode` reproduces `input[..n]` exactly; if not, `encode`
///   writes a shorter header that parses back to the same `h`.
/// * `Partial(need)`: `need > len`, and it is 2 before two bytes arrived and
///   the announced length after; the same bytes completed with zeros never
///   give `Partial` again.
/// * An error is one of the four documented for `parse` (ReservedOpcode,
///   LengthTopBitSet, ControlFrameTooLong, FragmentedControlFrame), and a
///   rule that the header really breaks; a header breaking no rule parses.
/// * `parse` never looks past the header: `input[..n]` gives the same
///   result as the whole input, and every shorter prefix gives `Partial`.
pub fn frame_header(data: &[u8]) {
    let result = FrameHeader::parse(data);
    let announced = match data {
        [b0, b1, ..] => FrameHeader::len_from_prefix([*b0, *b1]),
        _ => 2,
    };
    // Every shorter prefix is incomplete, whatever the header holds.
    for k in 0..announced.min(data.len()) {
        assert!(
            matches!(FrameHeader::parse(&data[..k]), Ok(Parsed::Partial(_))),
            "prefix of {k} bytes of {data:02x?} is not Partial"
        );
    }
    match result {
        Ok(Parsed::Partial(need)) => {
            assert!(
                need > data.len(),
                "Partial({need}) for {} bytes",
                data.len()
            );
            assert_eq!(need, announced, "Partial({need}) for {data:02x?}");
            let mut completed = data.to_vec();
            completed.resize(need, 0);
            assert!(
                !matches!(FrameHeader::parse(&completed), Ok(Parsed::Partial(_))),
                "still Partial after {need} bytes: {completed:02x?}"
            );
        }
        Ok(Parsed::Complete(h, n)) => {
            assert!(n <= data.len() && n <= MAX_HEADER_LEN, "consumed {n}");
            assert_eq!(n, announced, "header length for {data:02x?}");
            assert!(rules_broken(data).is_empty(), "{data:02x?} parsed: {h:?}");
            let (b0, b1) = (data[0], data[1]);
            assert_eq!(h.fin, b0 & 0x80 != 0);
            assert_eq!(h.rsv, (b0 >> 4) & 7);
            assert_eq!(h.opcode as u8, b0 & 0x0f);
            assert_eq!(h.mask.is_some(), b1 & 0x80 != 0);
            if let Some(key) = h.mask {
                assert_eq!(key[..], data[n - 4..n], "masking key");
            }
            assert_eq!(h.payload_len, announced_length(data), "payload length");
            assert!(h.payload_len >> 63 == 0);
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125, "control frame {h:?}");
            }
            let mut out = [0u8; MAX_HEADER_LEN];
            let written = h.encode(&mut out);
            assert_eq!(written, h.encoded_len());
            if h.is_minimal(n) {
                assert_eq!(&out[..written], &data[..n], "encode(parse(x)) != x");
            } else {
                assert!(written < n, "non-minimal {n} bytes re-encoded in {written}");
                assert_eq!(
                    FrameHeader::parse(&out[..written]),
                    Ok(Parsed::Complete(h, written)),
                    "re-encoded header does not parse back"
                );
            }
            // Nothing past the header is read.
            assert_eq!(FrameHeader::parse(&data[..n]), result);
        }
        Err(e) => {
            assert!(
                data.len() >= announced,
                "error {e:?} before the whole header"
            );
            assert!(
                rules_broken(data).contains(&e),
                "{e:?} for {data:02x?}, which breaks only {:?}",
                rules_broken(data)
            );
            assert_eq!(FrameHeader::parse(&data[..announced]), result);
        }
    }
}

/// The 64-bit-or-less payload length field of a complete header.
fn announced_length(h: &[u8]) -> u64 {
    match h[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
        127 => h[2..10].iter().fold(0, |acc, &b| (acc << 8) | u64::from(b)),
        n => u64::from(n),
    }
}

/// The §5.2/§5.5 rules a complete header breaks, worked out bit by bit.
fn rules_broken(h: &[u8]) -> Vec<ProtocolError> {
    let mut broken = Vec::new();
    let opcode = h[0] & 0x0f;
    if matches!(opcode, 3..=7 | 0xb..=0xf) {
        broken.push(ProtocolError::ReservedOpcode);
    }
    let len = announced_length(h);
    if len >> 63 != 0 {
        broken.push(ProtocolError::LengthTopBitSet);
    }
    if opcode & 0x8 != 0 {
        if len > 125 {
            broken.push(ProtocolError::ControlFrameTooLong);
        }
        if h[0] & 0x80 == 0 {
            broken.push(ProtocolError::FragmentedControlFrame);
        }
    }
    broken
}

// ---------------------------------------------------------------------------
// Target 2: server_handshake
// ---------------------------------------------------------------------------

/// A server [`Connection`] fed arbitrary bytes (a request, then frames) in
/// arbitrary chunks.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0
/// `plain_http_requests`, bit 1 `max_handshake_size = 256`, bit 2
/// `max_headers = 4`, bit 3 accept with the first offered subprotocol, bit 4
/// reject WebSocket requests with 403, bit 5 let the handshake deadline
/// pass after the stream. [`Chunks`] describes the split.
///
/// Beyond [`Watch`]'s invariants:
/// * `Request` only for a valid request: a WebSocket one has a 24-character
///   base64 key of 16 bytes and `accept` succeeds; a plain one only with
///   `plain_http_requests`, `accept` refuses it with `NotAnUpgrade` and
///   changes nothing, `reject(200)` succeeds.
/// * An accepted request is answered `HTTP/1.1 101 Switching Protocols` with
///   `Sec-WebSocket-Accept: accept_key(key)` (and the chosen subprotocol),
///   then only valid server frames.
/// * A handshake that fails has `error().http_status() == Some(4xx)`, the
///   `Closed` event carries that error, and the output is exactly one HTTP
///   response with that status and a `Content-Length` matching its body.
/// * Past `handshake_timeout`, a request still incomplete fails with
///   `HandshakeTimeout` (so 408), and a decided one is left alone.
/// * A rejection is exactly one response with the status we gave.
/// * While the request is incomplete nothing is written.
pub fn server_handshake(data: &[u8]) {
    let mut input = Cursor::new(data);
    let options = input.byte();
    let mut chunks = Chunks::read(&mut input);
    let stream = input.rest();

    let mut config = Config::default();
    config.plain_http_requests = options & 1 != 0;
    if options & 2 != 0 {
        config.max_handshake_size = 256;
    }
    if options & 4 != 0 {
        config.max_headers = 4;
    }
    let choose_protocol = options & 8 != 0;
    let reject = options & 16 != 0;
    let deadline = options & 32 != 0;

    let mut server = Connection::server(config.clone(), NOW);
    let mut watch = Watch::new(&config);
    let mut decision: Option<u16> = None;
    feed(
        &mut server,
        &mut watch,
        stream,
        &mut chunks,
        |conn, event, _| {
            let Ev::Request {
                key,
                websocket,
                protocols,
            } = event
            else {
                return;
            };
            assert!(decision.is_none(), "a second Request");
            if !websocket {
                assert!(
                    config.plain_http_requests,
                    "plain request without the switch"
                );
                assert!(key.is_empty());
                let before = Snapshot::of(conn);
                assert_eq!(conn.accept(Accept::new()), Err(UsageError::NotAnUpgrade));
                assert_eq!(Snapshot::of(conn), before, "failed accept changed things");
                conn.reject(200, &[], b"page")
                    .expect("reject(200) of a plain GET");
                decision = Some(200);
                return;
            }
            assert!(is_key(key), "Request with an invalid key {key:?}");
            if reject {
                conn.reject(403, &[("X-Why", "fuzz")], b"no")
                    .expect("reject(403)");
                decision = Some(403);
                return;
            }
            let protocol = protocols.first().filter(|_| choose_protocol);
            let accept = match protocol {
                Some(p) => Accept::new().protocol(p),
                None => Accept::new(),
            };
            conn.accept(accept).expect("accept of a valid request");
            assert_eq!(conn.subprotocol(), protocol.map(String::as_str));
            assert_eq!(conn.state(), State::Open);
            let out = peek_output(conn);
            assert!(
                out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
                "{}",
                String::from_utf8_lossy(&out)
            );
            let expected = format!(
                "\r\nSec-WebSocket-Accept: {}\r\n",
                accept_key(key.as_bytes())
            );
            assert!(
                contains(&out, expected.as_bytes()),
                "wrong accept for {key}"
            );
            if let Some(p) = protocol {
                let line = format!("\r\nSec-WebSocket-Protocol: {p}\r\n");
                assert!(contains(&out, line.as_bytes()), "chosen protocol not sent");
            }
            decision = Some(101);
        },
    );

    if deadline {
        let before = Snapshot::of(&server);
        let timeout = config.handshake_timeout.expect("a handshake timeout");
        let later = NOW + timeout + Duration::from_millis(1);
        watch.timeout(&mut server, later);
        if before.state == State::Handshaking {
            assert_eq!(server.error(), Some(ProtocolError::HandshakeTimeout));
        } else {
            assert_eq!(
                Snapshot::of(&server),
                before,
                "deadline after the handshake"
            );
        }
        feed_chunk(&mut server, &mut watch, &mut [], &mut |_, _, _| {});
    }

    let check = |out: &[u8], watch: &Watch, conn: &Connection| match (
        decision,
        watch.closed.and_then(|c| c.error),
    ) {
        (Some(101), None) => {
            let head = head_len(out).expect("101 head");
            let frames = decode_output(&out[head..], Role::Server);
            check_close_frame(&frames, conn);
        }
        (Some(status), None) => assert_eq!(http_response(out), status),
        (None, Some(error)) => {
            let status = error.http_status();
            assert!(
                matches!(status, Some(400..=499)),
                "{error:?} in a server handshake answers {status:?}"
            );
            assert_eq!(Some(http_response(out)), status, "answer to {error:?}");
        }
        (None, None) => assert!(out.is_empty(), "output before a decision"),
        (Some(101), Some(_)) => {
            // Failed after the handshake: a Close with the error's code.
            let head = head_len(out).expect("101 head");
            let frames = decode_output(&out[head..], Role::Server);
            check_close_frame(&frames, conn);
        }
        (Some(_), Some(error)) => panic!("{error:?} after the request was rejected"),
    };
    let out = peek_output(&mut server);
    check(&out, &watch, &server);
    let out = watch.finish(&mut server);
    check(&out, &watch, &server);
}

// ---------------------------------------------------------------------------
// Target 3: client_response
// ---------------------------------------------------------------------------

/// A client [`Connection`] (entropy fixed, so its key is known) fed
/// arbitrary bytes as the server's response, then as frames.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0
/// `max_handshake_size = 256`, bit 1 `max_headers = 4`, bit 2
/// `max_rejection_body = 8`, bit 3 offer the subprotocols `chat` and
/// `superchat`, bit 4 offer the extension `permessage-deflate`.
///
/// Beyond [`Watch`]'s invariants:
/// * `Accepted` only for a 101 whose `Sec-WebSocket-Accept` is
///   `accept_key(key)` for the key the client sent, which must appear in the
///   bytes consumed so far; its subprotocol was offered (and is what
///   `subprotocol()` returns), and so was every extension.
/// * `Rejected` only for another status, with at most `max_rejection_body`
///   body bytes, and `Closed` follows.
/// * A client writes nothing but its request until `Accepted`, not even
///   when the handshake fails; afterwards only valid masked frames.
pub fn client_response(data: &[u8]) {
    let mut input = Cursor::new(data);
    let options = input.byte();
    let mut chunks = Chunks::read(&mut input);
    let stream = input.rest();

    let mut config = Config::default();
    if options & 1 != 0 {
        config.max_handshake_size = 256;
    }
    if options & 2 != 0 {
        config.max_headers = 4;
    }
    if options & 4 != 0 {
        config.max_rejection_body = 8;
    }
    let mut request = ClientRequest::new(CLIENT_URI).expect("URI");
    let mut offered: Vec<&str> = Vec::new();
    if options & 8 != 0 {
        request = request.protocol("chat").protocol("superchat");
        offered.extend(["chat", "superchat"]);
    }
    let deflate = options & 16 != 0;
    if deflate {
        request = request.extension("permessage-deflate");
    }

    let mut client = Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
    let mut watch = Watch::new(&config);
    let head = take_output(&mut client, &mut watch);
    assert!(head.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let key_line = format!("\r\nSec-WebSocket-Key: {CLIENT_KEY}\r\n");
    assert!(contains(&head, key_line.as_bytes()), "unexpected key");
    let expected = accept_key(CLIENT_KEY.as_bytes());

    let mut accepted = false;
    let mut rejected = false;
    feed(
        &mut client,
        &mut watch,
        stream,
        &mut chunks,
        |conn, event, fed| match event {
            Ev::Accepted {
                status,
                accept,
                protocol,
                extensions,
            } => {
                assert_eq!(*status, 101);
                assert_eq!(accept.as_deref(), Some(expected.as_bytes()), "accept value");
                assert!(
                    contains(&stream[..fed], expected.as_bytes()),
                    "Accepted without the right Sec-WebSocket-Accept in the bytes"
                );
                if let Some(p) = protocol {
                    assert!(offered.contains(&p.as_str()), "unoffered protocol {p}");
                }
                assert_eq!(conn.subprotocol(), protocol.as_deref());
                for e in extensions {
                    let name = e.split(';').next().unwrap_or("").trim();
                    assert!(
                        deflate && name.eq_ignore_ascii_case("permessage-deflate"),
                        "unoffered extension {e}"
                    );
                }
                assert_eq!(conn.state(), State::Open);
                accepted = true;
            }
            Ev::Rejected { status, body } => {
                assert_ne!(*status, 101);
                assert!(
                    body.len() <= config.max_rejection_body,
                    "body {}",
                    body.len()
                );
                rejected = true;
            }
            _ => {}
        },
    );
    assert!(!(accepted && rejected));
    if !accepted {
        assert_eq!(
            client.buffered_output(),
            0,
            "client wrote during its handshake"
        );
    }
    let out = watch.finish(&mut client);
    if accepted {
        decode_output(&out, Role::Client);
    } else {
        assert!(out.is_empty(), "client wrote after a failed handshake");
    }
    if rejected {
        assert!(matches!(watch.closed, Some(Closed { error: None, .. })));
    }
}

// ---------------------------------------------------------------------------
// Targets 4 and 5: server_connection, client_connection
// ---------------------------------------------------------------------------

/// An open server fed arbitrary bytes as frames; see [`open_connection`].
pub fn server_connection(data: &[u8]) {
    open_connection(Role::Server, data);
}

/// An open client fed arbitrary bytes as frames; see [`open_connection`].
pub fn client_connection(data: &[u8]) {
    open_connection(Role::Client, data);
}

/// An open connection in `role` (handshake done, its output taken) fed
/// arbitrary bytes in arbitrary chunks, then EOF.
///
/// Layout: `[options] [chunks] [stream..]`; options pick the [`Config`]
/// (see [`open_config`]), small limits included, so the size checks fire.
///
/// Beyond [`Watch`]'s invariants (consumed, states, one final `Closed`,
/// `Closed.code`/`clean`/`error` agreeing with the Close received and the
/// getters, text chunks valid `str`, one kind per message, data per message
/// at most `max_message_size`, output at most `max_buffered_output` + 262):
/// * the same bytes fed whole give the same events, once adjacent data
///   chunks of a message are joined, and the same output bytes (the
///   engine's promise that any split gives the same result);
/// * the output is a valid stream of frames for the role, whose Close (if
///   any) is last and carries `close_sent()`'s code; a failure sends
///   `error.close_code()`;
/// * after EOF, `Closed` has come, the state is `Closed`, and the transport
///   was told to shut down exactly once.
fn open_connection(role: Role, data: &[u8]) {
    let mut input = Cursor::new(data);
    let config = open_config(input.byte());
    let chunks = Chunks::read(&mut input);
    let stream = input.rest();
    let chunked = run_open(role, &config, stream, chunks);
    let whole = run_open(role, &config, stream, Chunks::whole());
    assert_eq!(
        merge(&chunked.0),
        merge(&whole.0),
        "events depend on the chunking"
    );
    assert_eq!(chunked.1, whole.1, "output depends on the chunking");
}

/// The config of an `open_connection` run: bit 0 `auto_pong` off, bit 1
/// `auto_close_reply` off, bit 2 `reject_non_minimal_lengths`, bit 3
/// `max_frame_size = 100`, bit 4 `max_message_size = 150`, bit 5
/// `max_buffered_output = 200`, bit 6 permessage-deflate agreed (RFC 7692
/// defaults: RSV1 frames are inflated, and the inflated size is what
/// `max_message_size` bounds), bit 7 with it the peer's
/// no_context_takeover (the inflater resets after each message).
fn open_config(options: u8) -> Config {
    let mut config = Config::default();
    config.auto_pong = options & 1 == 0;
    config.auto_close_reply = options & 2 == 0;
    config.reject_non_minimal_lengths = options & 4 != 0;
    if options & 8 != 0 {
        config.max_frame_size = 100;
    }
    if options & 16 != 0 {
        config.max_message_size = 150;
    }
    if options & 32 != 0 {
        config.max_buffered_output = 200;
    }
    #[cfg(feature = "deflate")]
    if options & 64 != 0 {
        let mut deflate = hybi::DeflateConfig::default();
        deflate.remote_no_context_takeover = options & 128 != 0;
        config.deflate = Some(deflate);
    }
    config
}

/// The permessage-deflate offer a server is given, and the answer a client
/// is given, when `config` asks for deflate (RFC 7692 §5; the
/// no_context_takeover variant asks the peer to reset).
#[cfg(feature = "deflate")]
fn deflate_headers(config: &Config) -> Option<(&'static str, &'static str)> {
    let deflate = config.deflate.as_ref()?;
    Some(if deflate.remote_no_context_takeover {
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        )
    } else {
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        )
    })
}

#[cfg(not(feature = "deflate"))]
fn deflate_headers(_: &Config) -> Option<(&'static str, &'static str)> {
    None
}

/// One run of `open_connection`: the events, and the output written before
/// EOF. The output is only taken at the end, so owed Pongs do not depend on
/// when it is polled.
fn run_open(role: Role, config: &Config, stream: &[u8], mut chunks: Chunks) -> (Vec<Ev>, Vec<u8>) {
    let mut conn = open(role, config.clone());
    let mut watch = Watch::new(config);
    watch.rank = rank(State::Open);
    watch.output_limit = Some(config.max_buffered_output + OUTPUT_SLACK);
    feed(&mut conn, &mut watch, stream, &mut chunks, |_, _, _| {});
    let mut out = take_output(&mut conn, &mut watch);
    out.extend(watch.finish(&mut conn));
    let frames = decode_output(&out, role);
    check_close_frame(&frames, &conn);
    (watch.events, out)
}

// ---------------------------------------------------------------------------
// Target 6: api_ops
// ---------------------------------------------------------------------------

/// A sequence of operations on a client and a server wired together (the
/// handshake included), or on one open connection whose peer is the input.
///
/// Layout: `[setup] [op ..]`. Setup: bit 0 one connection instead of a
/// pair, bit 1 that connection is a client, bit 2 `max_buffered_output =
/// 300`, bit 3 `auto_pong` off, bit 4 `auto_close_reply` off, bit 5 the
/// server rejects the request (403), bit 6 keepalive (Ping after 3 s of
/// silence, fail 2 s later without a Pong), bit 7 idle timeout (5 s); the
/// handshake deadline is 10 s and the close deadline 4 s. Each op is a byte whose top bit picks
/// the side (in a pair) and whose low 4 bits pick the operation, then its
/// arguments ([`Pair::op`]): `send` a fragment, `send_text`, `send_binary`,
/// `ping`, `pong` (payloads up to 255 bytes, so over 125 too), `close` with a
/// code (valid, local-only or raw) and reason, inject N arbitrary bytes into
/// a side's input, deliver N bytes of its input, EOF, `poll_transmit` +
/// `transmitted(k)`, a stray `accept`/`reject`, time passing (0-25.5 s,
/// then `handle_timeout` on each side), a full pump.
///
/// Checked:
/// * a command that fails changes nothing (state, close codes, error,
///   buffered output, subprotocol); after `Closed` every command fails; a
///   successful send/ping/pong happened while open and before our Close;
///   `close` after a Close fails with `CloseAlreadySent`, a successful one
///   sets `close_sent`; control payloads over 125 bytes are refused; a new
///   whole message is refused inside a fragmented one;
/// * the bytes written are the handshake head, then a valid frame stream
///   for the role with at most one Close, nothing after it, carrying
///   `close_sent()`'s code; its data and Ping frames are exactly the
///   successful sends and pings, in order (with keepalive on, the engine's
///   own Pings may come between them);
/// * [`Watch`]'s invariants for each side on every call, the output bound
///   (`max_buffered_output` + 262) included, and its checks of what each
///   deadline may do;
/// * a side whose input was never tampered with gets no protocol error, the
///   data messages it received are a prefix of what its peer sent, and the
///   Close it received is the one its peer sent.
pub fn api_ops(data: &[u8]) {
    let mut input = Cursor::new(data);
    let setup = input.byte();
    let mut pair = Pair::new(setup);
    let mut ops = 0;
    while !input.is_empty() && ops < 4096 {
        pair.op(&mut input);
        pair.check();
        ops += 1;
    }
    pair.end();
}

/// What a side of `api_ops` queued successfully: (opcode, fin, payload) of
/// each data frame and Ping, in order.
type Queued = Vec<(u8, bool, Vec<u8>)>;

struct Side {
    conn: Connection,
    watch: Watch,
    role: Role,
    /// Bytes from the peer (or injected) not yet given to `handle_input`.
    inbox: Vec<u8>,
    /// Everything this side wrote.
    wire: Vec<u8>,
    /// Bytes that did not come from the peer were injected into `inbox`.
    tainted: bool,
    queued: Queued,
    /// The fragmented message this side is sending, as the model sees it.
    sending: Option<MessageKind>,
    sent_messages: Messages,
    received_messages: Messages,
    reject: bool,
    /// Deadlines may send a keepalive Ping / an idle Close.
    keepalive: bool,
    idle: bool,
    /// The payload of the last `send_external`, written from here.
    external: Vec<u8>,
}

impl Side {
    fn new(conn: Connection, config: &Config, reject: bool) -> Side {
        let role = conn.role();
        let mut watch = Watch::new(config);
        // Handshake heads are written whole, but all of them here are far
        // below the limit, so the bound holds from the start.
        watch.output_limit = Some(config.max_buffered_output + OUTPUT_SLACK);
        Side {
            watch,
            conn,
            role,
            inbox: Vec::new(),
            wire: Vec::new(),
            tainted: false,
            queued: Vec::new(),
            sending: None,
            sent_messages: Messages::default(),
            received_messages: Messages::default(),
            reject,
            keepalive: config.keepalive_interval.is_some(),
            idle: config.idle_timeout.is_some(),
            external: Vec::new(),
        }
    }

    /// Runs a command and checks the rules every command follows.
    fn command(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<(), UsageError>,
    ) -> Result<(), UsageError> {
        let before = Snapshot::of(&self.conn);
        let result = f(&mut self.conn);
        let after = Snapshot::of(&self.conn);
        if result.is_err() {
            assert_eq!(
                before, after,
                "a failed command ({result:?}) changed things"
            );
        }
        if before.state == State::Closed || self.watch.closed.is_some() {
            assert!(result.is_err(), "a command succeeded after Closed");
        }
        result
    }

    /// A data send succeeded or not; checks it against the model.
    fn sent(&mut self, before: Snapshot, ok: bool, kind: MessageKind, payload: &[u8], fin: bool) {
        if !ok {
            return;
        }
        assert!(may_send(&before), "send succeeded in {before:?}");
        let opcode = match (self.sending, kind) {
            (None, MessageKind::Text) => 1,
            (None, MessageKind::Binary) => 2,
            (Some(k), _) if k == kind => 0,
            (Some(k), _) => panic!("a {kind:?} fragment continued a {k:?} message"),
        };
        self.queued.push((opcode, fin, payload.to_vec()));
        self.sending = if fin { None } else { Some(kind) };
        self.sent_messages.push(kind, payload, fin);
    }

    fn control(&mut self, opcode: u8, payload: &[u8]) {
        let before = Snapshot::of(&self.conn);
        let result = self.command(|c| {
            if opcode == 9 {
                c.ping(payload)
            } else {
                c.pong(payload)
            }
        });
        if result.is_ok() {
            assert!(may_send(&before), "control frame sent in {before:?}");
            assert!(payload.len() <= 125, "control payload of {}", payload.len());
            if opcode == 9 {
                self.queued.push((9, true, payload.to_vec()));
            }
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        let before = Snapshot::of(&self.conn);
        let result = self.command(|c| c.close(CloseCode(code), reason));
        if before.close_sent.is_some() {
            assert_eq!(result, Err(UsageError::CloseAlreadySent));
        }
        if result.is_ok() {
            let empty = code == 1005 && reason.is_empty();
            assert!(
                empty || CloseCode(code).is_valid_on_wire(),
                "close({code}) sent"
            );
            assert!(2 + reason.len() <= 125, "close reason of {}", reason.len());
            assert!(matches!(before.state, State::Open | State::Closing));
            assert_eq!(self.conn.close_sent(), Some(CloseCode(code)));
        }
    }

    /// Hands up to `n` bytes of the inbox to `handle_input`.
    fn deliver(&mut self, n: usize) {
        let n = n.min(self.inbox.len());
        let mut chunk: Vec<u8> = self.inbox.drain(..n).collect();
        let reject = self.reject;
        let received = &mut self.received_messages;
        feed_chunk(
            &mut self.conn,
            &mut self.watch,
            &mut chunk,
            &mut |conn, event, _| match event {
                Ev::Request { websocket, .. } => {
                    assert!(websocket);
                    let result = if reject {
                        conn.reject(403, &[], b"")
                    } else {
                        conn.accept(Accept::new())
                    };
                    result.expect("decision on a valid request");
                }
                Ev::Data { kind, payload, fin } => received.push(*kind, payload, *fin),
                _ => {}
            },
        );
    }

    /// `poll_transmit`, then `transmitted` of at most `k` bytes (all if 0);
    /// returns the bytes taken.
    fn transmit(&mut self, k: usize) -> Vec<u8> {
        let mut taken = Vec::new();
        match self.conn.poll_transmit() {
            Some(Transmit::Bytes(bytes)) => {
                assert!(!bytes.is_empty(), "Transmit::Bytes of nothing");
                let n = if k == 0 {
                    bytes.len()
                } else {
                    k.min(bytes.len())
                };
                taken.extend_from_slice(&bytes[..n]);
                self.conn.transmitted(n);
            }
            Some(Transmit::External(owed)) => {
                assert!(owed > 0, "Transmit::External of nothing");
                let rest = &self.external[self.external.len() - owed..];
                let n = if k == 0 { owed } else { k.min(owed) };
                taken.extend_from_slice(&rest[..n]);
                self.conn.transmitted(n);
            }
            Some(Transmit::Shutdown) => {
                assert_eq!(self.conn.external_owed(), 0, "shutdown with a payload owed");
                self.watch.shutdown(&self.conn)
            }
            None => assert_eq!(
                self.conn.external_owed(),
                0,
                "nothing to do, a payload owed"
            ),
        }
        self.wire.extend_from_slice(&taken);
        taken
    }
}

/// The data and Ping frames written are exactly those queued, in order;
/// with keepalive on, the engine's own Pings may come between them.
fn check_queued(written: Queued, queued: &Queued, keepalive: bool) {
    let mut expected = queued.iter().peekable();
    for frame in written {
        if expected.peek() == Some(&&frame) {
            expected.next();
            continue;
        }
        assert!(
            keepalive && frame.0 == 9,
            "frame {frame:?} written, but the next queued is {:?}",
            expected.peek()
        );
    }
    let missing: Vec<_> = expected.collect();
    assert!(missing.is_empty(), "queued, never written: {missing:?}");
}

/// A send is allowed while open and before our own Close.
fn may_send(before: &Snapshot) -> bool {
    matches!(before.state, State::Open | State::Closing) && before.close_sent.is_none()
}

struct Pair {
    sides: Vec<Side>,
    wired: bool,
}

impl Pair {
    fn new(setup: u8) -> Pair {
        let mut config = Config::default();
        if setup & 4 != 0 {
            config.max_buffered_output = 300;
        }
        config.auto_pong = setup & 8 == 0;
        config.auto_close_reply = setup & 16 == 0;
        let reject = setup & 32 != 0;
        // Deadlines short enough for the time operation to reach.
        config.handshake_timeout = Some(Duration::from_secs(10));
        config.close_timeout = Some(Duration::from_secs(4));
        if setup & 64 != 0 {
            config.keepalive_interval = Some(Duration::from_secs(3));
            config.keepalive_timeout = Duration::from_secs(2);
        }
        if setup & 128 != 0 {
            config.idle_timeout = Some(Duration::from_secs(5));
        }
        if setup & 1 != 0 {
            let role = if setup & 2 != 0 {
                Role::Client
            } else {
                Role::Server
            };
            let mut side = Side::new(open(role, config.clone()), &config, reject);
            side.watch.rank = rank(State::Open);
            // The handshake is done and its output taken: the wire is frames.
            side.tainted = true;
            return Pair {
                sides: vec![side],
                wired: false,
            };
        }
        let request = ClientRequest::new(CLIENT_URI).expect("URI");
        let client = Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
        let server = Connection::server(config.clone(), NOW);
        Pair {
            sides: vec![
                Side::new(client, &config, reject),
                Side::new(server, &config, reject),
            ],
            wired: true,
        }
    }

    /// Decodes and runs one operation.
    fn op(&mut self, input: &mut Cursor<'_>) {
        let op = input.byte();
        let i = usize::from(op >> 7) % self.sides.len();
        let side = &mut self.sides[i];
        match op & 0x0f {
            15 => {
                let flags = input.byte();
                if flags & 8 != 0 && side.conn.external_owed() > 0 {
                    // The transport would block: the owed rest is copied in.
                    let owed = side.conn.external_owed();
                    let rest = side.external[side.external.len() - owed..].to_vec();
                    // Copied in past the output limit (the caller's bytes,
                    // accepted already): the bound grows by them.
                    if let Some(limit) = side.watch.output_limit.as_mut() {
                        *limit += owed;
                    }
                    side.conn
                        .buffer_external(&rest)
                        .expect("buffer_external with exactly the owed bytes");
                    assert_eq!(side.conn.external_owed(), 0);
                    return;
                }
                let kind = if flags & 1 != 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let fin = flags & 2 != 0;
                let len = usize::from(input.byte()) << (flags >> 4);
                let raw = input.bytes(len);
                let payload = if kind == MessageKind::Text && flags & 4 == 0 {
                    String::from_utf8_lossy(raw).into_owned().into_bytes()
                } else {
                    raw.to_vec()
                };
                let owed_before = side.conn.external_owed();
                let before = Snapshot::of(&side.conn);
                let ok = side
                    .command(|c| c.send_external(kind, &payload, fin))
                    .is_ok();
                if ok {
                    assert_eq!(side.role, Role::Server, "external send on a client");
                    assert_eq!(owed_before, 0, "two external payloads owed");
                    assert_eq!(side.conn.external_owed(), payload.len());
                    side.external.clone_from(&payload);
                }
                side.sent(before, ok, kind, &payload, fin);
            }
            0 => {
                let flags = input.byte();
                let kind = if flags & 1 != 0 {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let fin = flags & 2 != 0;
                let len = usize::from(input.byte());
                let raw = input.bytes(len);
                // Mostly valid text; raw bytes (maybe not UTF-8) with bit 2.
                let payload = if kind == MessageKind::Text && flags & 4 == 0 {
                    String::from_utf8_lossy(raw).into_owned().into_bytes()
                } else {
                    raw.to_vec()
                };
                let before = Snapshot::of(&side.conn);
                let ok = side.command(|c| c.send(kind, &payload, fin)).is_ok();
                side.sent(before, ok, kind, &payload, fin);
            }
            1 => {
                let len = usize::from(input.byte());
                let text = String::from_utf8_lossy(input.bytes(len)).into_owned();
                let before = Snapshot::of(&side.conn);
                let in_progress = side.sending.is_some();
                let ok = side.command(|c| c.send_text(&text)).is_ok();
                assert!(
                    !(ok && in_progress),
                    "whole message inside a fragmented one"
                );
                side.sent(before, ok, MessageKind::Text, text.as_bytes(), true);
            }
            2 => {
                let len = usize::from(input.byte());
                let payload = input.bytes(len).to_vec();
                let before = Snapshot::of(&side.conn);
                let in_progress = side.sending.is_some();
                let ok = side.command(|c| c.send_binary(&payload)).is_ok();
                assert!(
                    !(ok && in_progress),
                    "whole message inside a fragmented one"
                );
                side.sent(before, ok, MessageKind::Binary, &payload, true);
            }
            3 | 4 => {
                let len = usize::from(input.byte());
                let payload = input.bytes(len).to_vec();
                side.control(if op & 0x0f == 3 { 9 } else { 10 }, &payload);
            }
            5 => {
                let code = match input.byte() % 8 {
                    0 => 1000,
                    1 => 1001,
                    2 => 1005, // empty Close, or refused with a reason
                    3 => 3000,
                    4 => 4999,
                    5 => 1006, // never valid
                    6 => 999,  // never valid
                    _ => u16::from_be_bytes([input.byte(), input.byte()]),
                };
                let len = usize::from(input.byte() % 160);
                let reason = String::from_utf8_lossy(input.bytes(len)).into_owned();
                side.close(code, &reason);
            }
            6 => {
                let len = usize::from(input.byte());
                side.inbox.extend_from_slice(input.bytes(len));
                side.tainted = true;
            }
            7 | 11 => {
                let n = match input.byte() {
                    0 => usize::MAX,
                    n => usize::from(n),
                };
                side.deliver(n);
            }
            8 => side.conn.handle_eof(side.watch.now),
            9 | 12 => {
                let k = usize::from(input.byte());
                let taken = side.transmit(k);
                self.carry(i, taken);
            }
            10 => {
                // No request is ever left pending: deciding again fails.
                let status = 200 + u16::from(input.byte());
                let accept = side.command(|c| c.accept(Accept::new()));
                assert_eq!(accept, Err(UsageError::NoPendingRequest));
                let reject = side.command(|c| c.reject(status, &[], b""));
                assert_eq!(reject, Err(UsageError::NoPendingRequest));
            }
            14 => {
                // Time passes for both sides: 0 to 25.5 s.
                let step = Duration::from_millis(100 * u64::from(input.byte()));
                for side in &mut self.sides {
                    let now = side.watch.now + step;
                    side.watch
                        .timeout_with(&mut side.conn, now, side.idle, side.keepalive);
                }
            }
            _ => self.pump(),
        }
    }

    fn carry(&mut self, from: usize, bytes: Vec<u8>) {
        if self.wired {
            self.sides[1 - from].inbox.extend_from_slice(&bytes);
        }
    }

    /// Everything written is carried over and delivered, both ways, once.
    fn pump(&mut self) {
        for i in 0..self.sides.len() {
            loop {
                let taken = self.sides[i].transmit(0);
                if taken.is_empty() {
                    break;
                }
                self.carry(i, taken);
            }
        }
        for side in &mut self.sides {
            side.deliver(usize::MAX);
        }
    }

    /// Checks that hold between operations.
    fn check(&mut self) {
        for side in &mut self.sides {
            side.watch.state(&side.conn);
        }
    }

    /// Drains both ways, checks the pair, ends both sides with EOF and
    /// checks everything each side wrote.
    fn end(mut self) {
        self.pump();
        self.pump();
        if self.wired {
            for i in 0..2 {
                let (me, peer) = (&self.sides[i], &self.sides[1 - i]);
                if me.tainted {
                    continue;
                }
                // hybi's own output never breaks a rule (deadlines may end
                // a connection, but that is not the peer's output).
                assert!(
                    matches!(
                        me.conn.error(),
                        None | Some(
                            ProtocolError::HandshakeTimeout
                                | ProtocolError::KeepaliveTimeout
                                | ProtocolError::CloseTimeout
                        )
                    ),
                    "{:?} failed on its peer's output: {:?}",
                    me.role,
                    me.conn.error()
                );
                assert!(
                    me.received_messages.is_prefix_of(&peer.sent_messages),
                    "{:?} received {:?}, peer sent {:?}",
                    me.role,
                    me.received_messages,
                    peer.sent_messages
                );
                if let Some(code) = me.conn.close_received() {
                    assert_eq!(peer.conn.close_sent(), Some(code), "Close received != sent");
                }
            }
        }
        for side in &mut self.sides {
            let rest = side.watch.finish(&mut side.conn);
            side.wire.extend_from_slice(&rest);
            for _ in 0..2 {
                // After Closed, every command fails and changes nothing.
                let _ = side.command(|c| c.send_binary(b"x"));
                let _ = side.command(|c| c.send(MessageKind::Text, b"x", false));
                let _ = side.command(|c| c.ping(b""));
                let _ = side.command(|c| c.pong(b""));
                let _ = side.command(|c| c.close(CloseCode::NORMAL, ""));
                let _ = side.command(|c| c.accept(Accept::new()));
                let _ = side.command(|c| c.reject(400, &[], b""));
            }
            assert!(side.conn.poll_transmit().is_none(), "output after Closed");
            let frames = match side.role {
                Role::Client if !side.tainted || side.wire.starts_with(b"GET ") => {
                    let head = head_len(&side.wire).expect("request head");
                    assert!(side.wire.starts_with(b"GET /chat HTTP/1.1\r\n"));
                    decode_output(&side.wire[head..], Role::Client)
                }
                Role::Server if side.wire.starts_with(b"HTTP/1.1 101 ") => {
                    let head = head_len(&side.wire).expect("101 head");
                    decode_output(&side.wire[head..], Role::Server)
                }
                Role::Server if side.wire.starts_with(b"HTTP/") => {
                    http_response(&side.wire);
                    Vec::new()
                }
                role => decode_output(&side.wire, role),
            };
            check_close_frame(&frames, &side.conn);
            let data_and_pings: Queued = frames
                .into_iter()
                .filter(|f| matches!(f.opcode, 0 | 1 | 2 | 9))
                .map(|f| (f.opcode, f.fin, f.payload))
                .collect();
            check_queued(data_and_pings, &side.queued, side.keepalive);
        }
    }
}

// ---------------------------------------------------------------------------
// Target 7: round_trip
// ---------------------------------------------------------------------------

/// Messages from a client to a server and back through the engines, the
/// bytes split arbitrarily on the way, then a closing handshake.
///
/// Layout: `[chunks to server] [chunks to client] [close] [message ..]`.
/// Close: a byte `b`, `code = [1000, 1001, 1005 (none), 1011, 3000,
/// 4999][b % 6]`, the server closes if bit 7 is set and the client if not,
/// permessage-deflate is agreed (everything compressed) if bit 6 is set;
/// then a byte for the length of the reason and its bytes (lossy UTF-8). Each
/// message: a header byte (bit 0 server to client, bit 1 text, bits 2-3 one
/// to four fragments, bit 4 a Ping after the first fragment), a length byte,
/// the payload (lossy UTF-8 for text), then one byte per cut point.
///
/// Checked: the handshake completes with subprotocol `chat` on both sides;
/// every send succeeds (text cut anywhere, even inside a code point); the
/// messages each side receives (chunks joined) are exactly those the other
/// sent, text as text, even those arriving after the receiver's own Close;
/// Pings arrive in order and every Pong answers one; the Close arrives with
/// its code and reason and the echo with its code; nothing follows a Close;
/// both end `Closed` clean with that code; the server asks to shut the
/// transport at once, the client only after EOF (RFC 6455 §7.1.1); plus
/// [`Watch`]'s invariants throughout.
pub fn round_trip(data: &[u8]) {
    let mut input = Cursor::new(data);
    let mut to_server = Chunks::read(&mut input);
    let mut to_client = Chunks::read(&mut input);
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let mut config = Config::default();
    let close = input.byte();
    let code = [1000, 1001, 1005, 1011, 3000, 4999][usize::from(close % 6)];
    let server_closes = close & 0x80 != 0;
    // Bit 6: both ends agree permessage-deflate and compress every message
    // (so fragments, Pings between them and the close all cross compressed).
    #[cfg(feature = "deflate")]
    if close & 0x40 != 0 {
        let mut deflate = hybi::DeflateConfig::default();
        deflate.min_compress_size = 0;
        config.deflate = Some(deflate);
    }
    let len = usize::from(input.byte() % 124);
    let mut reason = String::from_utf8_lossy(input.bytes(len)).into_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    if code == 1005 {
        reason.clear();
    }

    let request = ClientRequest::new(CLIENT_URI)
        .expect("URI")
        .protocol("chat");
    let mut client = Connection::client(config.clone(), request, Counting(7), NOW).expect("client");
    let mut server = Connection::server(config.clone(), NOW);
    let (mut cw, mut sw) = (Watch::new(&config), Watch::new(&config));

    // The opening handshake, through the engines.
    let head = take_output(&mut client, &mut cw);
    feed(
        &mut server,
        &mut sw,
        &head,
        &mut to_server,
        |conn, event, _| {
            assert!(matches!(event, Ev::Request { protocols, .. } if protocols[..] == ["chat"]));
            conn.accept(Accept::new().protocol("chat")).expect("accept");
        },
    );
    let answer = take_output(&mut server, &mut sw);
    feed(&mut client, &mut cw, &answer, &mut to_client, |_, _, _| {});
    assert!(
        matches!(cw.events[..], [Ev::Accepted { .. }]),
        "{:?}",
        cw.events
    );
    assert_eq!(client.subprotocol(), Some("chat"));
    assert_eq!(server.subprotocol(), Some("chat"));
    assert_eq!((client.state(), server.state()), (State::Open, State::Open));

    // Both sides queue their messages, then the client closes.
    let mut sent = [Messages::default(), Messages::default()];
    let mut pings: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    while !input.is_empty() {
        let header = input.byte();
        let dir = usize::from(header & 1);
        let kind = if header & 2 != 0 {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        let fragments = 1 + usize::from((header >> 2) & 3);
        let len = usize::from(input.byte());
        let raw = input.bytes(len);
        let payload = match kind {
            MessageKind::Text => String::from_utf8_lossy(raw).into_owned().into_bytes(),
            MessageKind::Binary => raw.to_vec(),
        };
        let mut cuts: Vec<usize> = (1..fragments)
            .map(|_| usize::from(input.byte()) % (payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let conn = if dir == 0 { &mut client } else { &mut server };
        let mut start = 0;
        for (n, &end) in cuts.iter().enumerate() {
            let fin = n + 1 == cuts.len();
            conn.send(kind, &payload[start..end], fin)
                .expect("send of a valid fragment");
            if n == 0 && header & 16 != 0 {
                let ping = &payload[..payload.len().min(125)];
                conn.ping(ping).expect("ping");
                pings[dir].push(ping.to_vec());
            }
            start = end;
        }
        sent[dir].push(kind, &payload, true);
    }
    let closer = if server_closes {
        &mut server
    } else {
        &mut client
    };
    closer.close(CloseCode(code), &reason).expect("close");

    // Client to server, server to client, and the client's answer to a
    // server's Close back.
    let bytes = take_output(&mut client, &mut cw);
    feed(&mut server, &mut sw, &bytes, &mut to_server, |_, _, _| {});
    let bytes = take_output(&mut server, &mut sw);
    feed(&mut client, &mut cw, &bytes, &mut to_client, |_, _, _| {});
    let bytes = take_output(&mut client, &mut cw);
    if server_closes {
        feed(&mut server, &mut sw, &bytes, &mut to_server, |_, _, _| {});
    } else {
        assert!(bytes.is_empty(), "client wrote after its Close");
    }
    assert!(
        take_output(&mut server, &mut sw).is_empty(),
        "server wrote after its Close"
    );
    assert_eq!(sw.shutdowns, 1, "server did not shut the transport");
    assert_eq!(cw.shutdowns, 0, "client shut the transport before EOF");

    let code_received = (code != 1005).then_some(code);
    // The closer's peer gets the reason; the closer gets the code back.
    let (to_server_reason, to_client_reason) = match server_closes {
        false => (reason.as_str(), ""),
        true => ("", reason.as_str()),
    };
    for (watch, from, reason) in [(&sw, 0, to_server_reason), (&cw, 1, to_client_reason)] {
        let received = Messages::from_events(&watch.events);
        assert_eq!(received, sent[from], "messages changed on the way");
        let got_pings: Vec<Vec<u8>> = watch
            .events
            .iter()
            .filter_map(|e| match e {
                Ev::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got_pings, pings[from], "pings changed");
        for e in &watch.events {
            if let Ev::Pong(p) = e {
                assert!(pings[1 - from].contains(p), "Pong {p:?} answers no Ping");
            }
        }
        let close = Ev::Close {
            code: code_received,
            reason: reason.to_string(),
        };
        assert!(watch.events.contains(&close), "expected {close:?}");
        let closed = watch.closed.expect("Closed");
        assert_eq!(
            (closed.code.0, closed.clean, closed.error),
            (code, true, None)
        );
    }
    client.handle_eof(cw.now);
    let _ = take_output(&mut client, &mut cw);
    assert_eq!(
        cw.shutdowns, 1,
        "client did not shut the transport after EOF"
    );
}

// ---------------------------------------------------------------------------
// Shared machinery
// ---------------------------------------------------------------------------

/// Reads an input front to back; past its end every byte is 0.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// How a stream is split: a count byte (`% 8`), then that many size bytes,
/// used in a cycle; a size byte of 0 means "everything left", and no sizes
/// means the stream goes in whole.
struct Chunks {
    sizes: Vec<usize>,
    next: usize,
}

impl Chunks {
    fn read(input: &mut Cursor<'_>) -> Chunks {
        let count = input.byte() % 8;
        let sizes = (0..count)
            .map(|_| match input.byte() {
                0 => usize::MAX,
                n => usize::from(n),
            })
            .collect();
        Chunks { sizes, next: 0 }
    }

    fn whole() -> Chunks {
        Chunks {
            sizes: Vec::new(),
            next: 0,
        }
    }

    fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        size
    }
}

/// An entropy source that counts up from a seed, so keys are known.
struct Counting(u8);

impl Entropy for Counting {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

/// An owned copy of an event, with what the oracles look at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Request {
        key: String,
        websocket: bool,
        protocols: Vec<String>,
    },
    Accepted {
        status: u16,
        accept: Option<Vec<u8>>,
        protocol: Option<String>,
        extensions: Vec<String>,
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
    Closed(Closed),
}

impl Ev {
    fn of(event: &Event<'_>) -> Ev {
        match event {
            Event::Request(r) => Ev::Request {
                key: r.key().to_string(),
                websocket: r.is_websocket(),
                protocols: r.protocols().map(str::to_string).collect(),
            },
            Event::Accepted(r) => Ev::Accepted {
                status: r.status(),
                accept: r
                    .header("sec-websocket-accept")
                    .map(|v| v.trim_ascii().to_vec()),
                protocol: r.protocol().map(str::to_string),
                extensions: r.extensions().map(str::to_string).collect(),
            },
            Event::Rejected { response, body } => Ev::Rejected {
                status: response.status(),
                body: body.to_vec(),
            },
            Event::Data(d) => {
                if d.kind == MessageKind::Text {
                    assert!(d.text().is_some(), "text chunk not UTF-8: {:?}", d.payload);
                } else {
                    assert!(d.text().is_none());
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
            Event::Closed(c) => Ev::Closed(*c),
            other => panic!("unknown event {other:?}"),
        }
    }
}

/// Joins adjacent data chunks of one message, so runs with different
/// chunkings compare equal.
fn merge(events: &[Ev]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for ev in events {
        if let (
            Some(Ev::Data {
                kind: k0,
                payload: p0,
                fin: f0 @ false,
            }),
            Ev::Data { kind, payload, fin },
        ) = (out.last_mut(), ev)
        {
            if k0 == kind {
                p0.extend_from_slice(payload);
                *f0 = *fin;
                continue;
            }
        }
        out.push(ev.clone());
    }
    out
}

/// Data messages, joined from their pieces; the last may be unfinished.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Messages {
    done: Vec<(MessageKind, Vec<u8>)>,
    open: Option<(MessageKind, Vec<u8>)>,
}

impl Messages {
    fn push(&mut self, kind: MessageKind, payload: &[u8], fin: bool) {
        let open = self.open.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(open.0, kind, "message changed kind");
        open.1.extend_from_slice(payload);
        if fin {
            self.done.extend(self.open.take());
        }
    }

    fn from_events(events: &[Ev]) -> Messages {
        let mut messages = Messages::default();
        for e in events {
            if let Ev::Data { kind, payload, fin } = e {
                messages.push(*kind, payload, *fin);
            }
        }
        messages
    }

    /// Every byte here was sent, in the same messages, in order; a message
    /// finished here was finished there.
    fn is_prefix_of(&self, sent: &Messages) -> bool {
        let n = self.done.len();
        if n > sent.done.len() || sent.done[..n] != self.done[..] {
            return false;
        }
        match &self.open {
            None => true,
            Some((kind, bytes)) => sent
                .done
                .iter()
                .chain(&sent.open)
                .nth(n)
                .is_some_and(|(k, b)| k == kind && b.starts_with(bytes)),
        }
    }
}

/// What a command may not change when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    state: State,
    close_sent: Option<CloseCode>,
    close_received: Option<CloseCode>,
    error: Option<ProtocolError>,
    buffered: usize,
    has_subprotocol: bool,
}

impl Snapshot {
    fn of(conn: &Connection) -> Snapshot {
        Snapshot {
            state: conn.state(),
            close_sent: conn.close_sent(),
            close_received: conn.close_received(),
            error: conn.error(),
            buffered: conn.buffered_output(),
            has_subprotocol: conn.subprotocol().is_some(),
        }
    }
}

fn rank(state: State) -> u8 {
    match state {
        State::Handshaking => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => 3,
    }
}

/// The invariants of one connection over its life, checked on every call.
struct Watch {
    /// The highest state seen; it never goes down.
    rank: u8,
    /// The `Closed` event, once given.
    closed: Option<Closed>,
    /// The code of the `Close` event, once given.
    close_event: Option<Option<u16>>,
    /// The data message being received and its length so far.
    message: Option<MessageKind>,
    message_len: u64,
    max_message_size: u64,
    /// Bound on `buffered_output`, once the handshake's output is taken.
    output_limit: Option<usize>,
    /// The connection's clock: the `now` of every call on it.
    now: Instant,
    shutdowns: usize,
    events: Vec<Ev>,
}

impl Watch {
    fn new(config: &Config) -> Watch {
        Watch {
            rank: 0,
            closed: None,
            close_event: None,
            message: None,
            message_len: 0,
            max_message_size: config.max_message_size,
            output_limit: None,
            now: NOW,
            shutdowns: 0,
            events: Vec::new(),
        }
    }

    /// State checks that hold at any time: monotone, and final once closed.
    fn state(&mut self, conn: &Connection) {
        let rank = rank(conn.state());
        assert!(rank >= self.rank, "state went back to {:?}", conn.state());
        self.rank = rank;
        if self.closed.is_some() {
            assert_eq!(conn.state(), State::Closed, "not Closed after Closed");
        }
        if let Some(limit) = self.output_limit {
            // An owed external payload is not in memory.
            let buffered = conn.buffered_output() - conn.external_owed();
            assert!(buffered <= limit, "{buffered} bytes queued, limit {limit}");
        }
    }

    /// Checks one event against the connection it came from (`before` is the
    /// connection just before the call).
    fn event(&mut self, conn: &Connection, before: &Snapshot, ev: &Ev) {
        assert!(self.closed.is_none(), "event after Closed: {ev:?}");
        match ev {
            Ev::Request { .. } | Ev::Accepted { .. } => {
                assert_eq!(
                    before.state,
                    State::Handshaking,
                    "{ev:?} after the handshake"
                );
            }
            Ev::Rejected { .. } => {
                // A rejection whose body runs to EOF is handed out after
                // `handle_eof`, which already made the state `Closed`.
                assert!(
                    matches!(before.state, State::Handshaking | State::Closed),
                    "{ev:?} in {:?}",
                    before.state
                );
            }
            Ev::Data { kind, payload, fin } => {
                assert!(
                    matches!(before.state, State::Open | State::Closing),
                    "data in {:?}",
                    before.state
                );
                if let Some(k) = self.message {
                    assert_eq!(k, *kind, "a message changed kind");
                }
                self.message_len += payload.len() as u64;
                assert!(
                    self.message_len <= self.max_message_size,
                    "message of {} bytes delivered, limit {}",
                    self.message_len,
                    self.max_message_size
                );
                if *fin {
                    self.message = None;
                    self.message_len = 0;
                } else {
                    self.message = Some(*kind);
                }
            }
            Ev::Ping(p) | Ev::Pong(p) => assert!(p.len() <= 125, "control payload {}", p.len()),
            Ev::Close { code, reason } => {
                assert!(self.close_event.is_none(), "two Close events");
                match code {
                    Some(c) => assert!(CloseCode(*c).is_valid_on_wire(), "Close code {c}"),
                    None => assert!(reason.is_empty(), "reason without a code"),
                }
                assert!(reason.len() <= 123);
                let code = CloseCode(code.unwrap_or(1005));
                assert_eq!(conn.close_received(), Some(code));
                self.close_event = Some(code_u16(code));
            }
            Ev::Closed(closed) => {
                let expected = match self.close_event {
                    Some(code) => code.unwrap_or(1005),
                    None => 1006,
                };
                assert_eq!(closed.code.0, expected, "Closed code");
                let both = conn.close_sent().is_some() && conn.close_received().is_some();
                assert_eq!(closed.clean, both, "clean iff a Close went each way");
                assert_eq!(closed.error, conn.error(), "Closed.error != error()");
                assert_eq!(conn.state(), State::Closed);
                if let Some(error) = closed.error {
                    // Failed by this very call (not by EOF or a deadline).
                    let open = matches!(before.state, State::Open | State::Closing);
                    if open && before.close_sent.is_none() {
                        assert_eq!(
                            conn.close_sent(),
                            Some(error.close_code()),
                            "failure on {error:?} did not send its close code"
                        );
                    }
                }
                self.closed = Some(*closed);
            }
        }
    }

    /// Moves the clock to `now` and lets the deadlines fire: afterwards no
    /// deadline at or before `now` is armed; a deadline that ends the
    /// connection does so with a timeout error (and, if it was open and had
    /// not sent one, a Close with that error's code); one that closes
    /// without an error is the idle timeout's 1001; one that only queues
    /// output is a keepalive Ping (`keepalive` says if one may be sent).
    fn timeout(&mut self, conn: &mut Connection, now: Instant) {
        self.timeout_with(conn, now, true, true);
    }

    fn timeout_with(&mut self, conn: &mut Connection, now: Instant, idle: bool, keepalive: bool) {
        assert!(now >= self.now, "the clock went back");
        self.now = now;
        let before = Snapshot::of(conn);
        conn.handle_timeout(now);
        let after = Snapshot::of(conn);
        if let Some(next) = conn.poll_timeout() {
            assert!(next > now, "deadline {next:?} left armed at {now:?}");
        }
        if after.error != before.error {
            assert_eq!(before.error, None, "error replaced");
            let error = after.error.expect("error");
            assert!(
                matches!(
                    error,
                    ProtocolError::HandshakeTimeout
                        | ProtocolError::KeepaliveTimeout
                        | ProtocolError::CloseTimeout
                ),
                "{error:?} from a deadline"
            );
            if matches!(before.state, State::Open | State::Closing) && before.close_sent.is_none() {
                assert_eq!(after.close_sent, Some(error.close_code()), "{error:?}");
            }
            assert_eq!(after.state, State::Closed, "failed but not closed");
        } else if after.close_sent != before.close_sent {
            assert!(idle, "a Close without an idle timeout");
            assert_eq!(after.close_sent, Some(CloseCode::GOING_AWAY), "idle Close");
        } else if after.buffered != before.buffered {
            assert!(keepalive, "output queued by a deadline without keepalive");
        }
        self.state(conn);
    }

    fn shutdown(&mut self, conn: &Connection) {
        self.shutdowns += 1;
        assert_eq!(self.shutdowns, 1, "Transmit::Shutdown given twice");
        assert_eq!(conn.buffered_output(), 0, "Shutdown with bytes queued");
    }

    /// EOF, then drain: exactly one `Closed` in all, state `Closed`, and
    /// the transport told to shut down. Returns the output taken.
    fn finish(&mut self, conn: &mut Connection) -> Vec<u8> {
        conn.handle_eof(self.now);
        feed_chunk(conn, self, &mut [], &mut |_, _, _| {});
        assert!(self.closed.is_some(), "no Closed after EOF");
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(
            conn.close_sent().is_some() && conn.close_received().is_some(),
            self.closed.is_some_and(|c| c.clean)
        );
        let out = take_output(conn, self);
        assert_eq!(self.shutdowns, 1, "no Transmit::Shutdown after EOF");
        assert!(conn.poll_transmit().is_none());
        out
    }
}

/// `Some(code)` unless it stands for "no code" (1005).
fn code_u16(code: CloseCode) -> Option<u16> {
    (code != CloseCode::NO_STATUS).then_some(code.0)
}

/// Feeds `stream` split by `chunks`, calling `decide` on each event (to
/// accept a request, ...) after the oracles saw it, with how much of the
/// stream was consumed by then.
fn feed(
    conn: &mut Connection,
    watch: &mut Watch,
    stream: &[u8],
    chunks: &mut Chunks,
    mut decide: impl FnMut(&mut Connection, &Ev, usize),
) {
    let mut buf = stream.to_vec();
    let mut start = 0;
    while start < buf.len() {
        let end = start.saturating_add(chunks.next()).min(buf.len());
        feed_chunk(conn, watch, &mut buf[start..end], &mut |conn, ev, pos| {
            decide(conn, ev, start + pos)
        });
        start = end;
    }
}

/// Calls `handle_input` on `chunk` until it gives no event, checking each
/// call; the whole chunk must be consumed by then.
fn feed_chunk(
    conn: &mut Connection,
    watch: &mut Watch,
    chunk: &mut [u8],
    decide: &mut dyn FnMut(&mut Connection, &Ev, usize),
) {
    let mut pos = 0;
    loop {
        let len = chunk.len() - pos;
        let before = Snapshot::of(conn);
        let out = conn.handle_input(&mut chunk[pos..], watch.now);
        let consumed = out.consumed;
        let ev = out.event.map(|e| Ev::of(&e));
        assert!(consumed <= len, "consumed {consumed} of {len}");
        pos += consumed;
        watch.state(conn);
        let Some(ev) = ev else {
            // We decide every request at once, so nothing is ever held back.
            assert_eq!(consumed, len, "no event, yet input left over");
            return;
        };
        watch.event(conn, &before, &ev);
        decide(conn, &ev, pos);
        watch.state(conn);
        watch.events.push(ev);
    }
}

/// Everything queued, marked written; counts a `Shutdown`.
fn take_output(conn: &mut Connection, watch: &mut Watch) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Bytes(b) => {
                assert!(!b.is_empty(), "Transmit::Bytes of nothing");
                let n = b.len();
                bytes.extend_from_slice(b);
                conn.transmitted(n);
            }
            Transmit::Shutdown => watch.shutdown(conn),
            Transmit::External(_) => panic!("no external sends outside api_ops"),
        }
    }
    bytes
}

/// The queued bytes, without marking them written.
fn peek_output(conn: &mut Connection) -> Vec<u8> {
    match conn.poll_transmit() {
        Some(Transmit::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// A connection in `role` whose handshake is done and its output taken.
fn open(role: Role, config: Config) -> Connection {
    let mut watch = Watch::new(&config);
    let deflate = deflate_headers(&config);
    match role {
        Role::Server => {
            let mut server = Connection::server(config, NOW);
            let mut request = RFC_REQUEST.to_vec();
            if let Some((offer, _)) = deflate {
                // Before the empty line that ends the head.
                request.truncate(request.len() - 2);
                request.extend_from_slice(offer.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
            feed_chunk(&mut server, &mut watch, &mut request, &mut |conn, _, _| {
                conn.accept(Accept::new()).expect("accept");
            });
            let answer = take_output(&mut server, &mut watch);
            assert!(answer.starts_with(b"HTTP/1.1 101 "));
            assert_eq!(has_deflate(&server), deflate.is_some());
            server
        }
        Role::Client => {
            let request = ClientRequest::new(CLIENT_URI).expect("URI");
            let mut client = Connection::client(config, request, Counting(0), NOW).expect("client");
            let _ = take_output(&mut client, &mut watch);
            let mut response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{}\r\n",
                accept_key(CLIENT_KEY.as_bytes()),
                deflate.map_or("", |(_, answer)| answer)
            )
            .into_bytes();
            feed_chunk(&mut client, &mut watch, &mut response, &mut |_, _, _| {});
            assert!(matches!(watch.events[..], [Ev::Accepted { .. }]));
            assert_eq!(has_deflate(&client), deflate.is_some());
            client
        }
    }
}

#[cfg(feature = "deflate")]
fn has_deflate(conn: &Connection) -> bool {
    conn.deflate().is_some()
}

#[cfg(not(feature = "deflate"))]
fn has_deflate(_: &Connection) -> bool {
    false
}

/// A frame a connection wrote, unmasked.
#[derive(Debug)]
struct Frame {
    opcode: u8,
    fin: bool,
    payload: Vec<u8>,
}

/// Decodes what a connection in `role` wrote after its handshake and
/// checks it is a valid RFC 6455 stream from that role: whole frames only,
/// no RSV bit, no reserved opcode, minimal lengths (§5.2: the sender "MUST"),
/// masked exactly when a client sent it (§5.1), control frames final and at
/// most 125 bytes (§5.5), continuations only inside a fragmented message and
/// no new message inside one (§5.4), each text message valid UTF-8 (§5.6),
/// a Close body empty or a valid code and UTF-8 reason (§5.5.1, §7.4), and
/// nothing at all after the Close (§5.5.1).
fn decode_output(bytes: &[u8], role: Role) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut message: Option<u8> = None;
    let mut text = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if let Some(last) = frames.last() {
            assert_ne!(last.opcode, 8, "a frame after our Close");
        }
        assert!(rest.len() >= 2, "truncated frame header");
        let (b0, b1) = (rest[0], rest[1]);
        assert_eq!(b0 & 0x70, 0, "RSV bits sent");
        let (opcode, fin) = (b0 & 0x0f, b0 & 0x80 != 0);
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                assert!(rest.len() >= 4, "truncated frame header");
                let len = u64::from(u16::from_be_bytes([rest[2], rest[3]]));
                assert!(len >= 126, "non-minimal 16-bit length {len}");
                (len, 4)
            }
            127 => {
                assert!(rest.len() >= 10, "truncated frame header");
                let len = announced_length(rest);
                assert!(len > 0xffff && len >> 63 == 0, "bad 64-bit length {len}");
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let masked = b1 & 0x80 != 0;
        assert_eq!(masked, role == Role::Client, "{role:?} masking");
        let mut key = [0u8; 4];
        if masked {
            assert!(rest.len() >= pos + 4, "truncated masking key");
            key.copy_from_slice(&rest[pos..pos + 4]);
            pos += 4;
        }
        let len = usize::try_from(len).expect("length");
        assert!(rest.len() - pos >= len, "truncated payload");
        let payload: Vec<u8> = rest[pos..pos + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        rest = &rest[pos + len..];
        match opcode {
            0 => assert!(message.is_some(), "continuation with nothing to continue"),
            1 | 2 => {
                assert!(message.is_none(), "new message inside a fragmented one");
                message = Some(opcode);
            }
            8..=10 => assert!(fin && len <= 125, "control frame fin={fin} len={len}"),
            _ => panic!("reserved opcode {opcode} sent"),
        }
        if opcode <= 2 {
            if message == Some(1) {
                text.extend_from_slice(&payload);
            }
            if fin {
                assert!(std::str::from_utf8(&text).is_ok(), "invalid text sent");
                text.clear();
                message = None;
            }
        }
        if opcode == 8 {
            assert_ne!(payload.len(), 1, "one-byte Close body");
            if payload.len() >= 2 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                assert!(CloseCode(code).is_valid_on_wire(), "sent Close code {code}");
                assert!(std::str::from_utf8(&payload[2..]).is_ok(), "Close reason");
            }
        }
        frames.push(Frame {
            opcode,
            fin,
            payload,
        });
    }
    if let Err(e) = std::str::from_utf8(&text) {
        assert!(
            e.error_len().is_none(),
            "invalid text sent in an unfinished message"
        );
    }
    frames
}

/// The Close frame written, if any, carries `close_sent()`'s code, and one
/// was written if `close_sent()` says so.
fn check_close_frame(frames: &[Frame], conn: &Connection) {
    let close = frames.iter().find(|f| f.opcode == 8);
    let code = close.map(|f| match f.payload[..] {
        [a, b, ..] => CloseCode(u16::from_be_bytes([a, b])),
        _ => CloseCode::NO_STATUS,
    });
    assert_eq!(
        code,
        conn.close_sent(),
        "Close frame written vs close_sent()"
    );
}

/// Length of the HTTP head at the start of `bytes`, empty line included.
fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// Checks `bytes` is exactly one HTTP/1.1 response whose Content-Length is
/// its body's length, and returns its status.
fn http_response(bytes: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(bytes);
    let head = head_len(bytes).unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status: u16 = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP/1.1 status line in {text:?}"));
    let length = text[..head]
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {text:?}"));
    assert_eq!(bytes.len() - head, length, "body length in {text:?}");
    status
}

/// A Sec-WebSocket-Key that decodes to 16 bytes: 22 base64 characters and
/// `==` (RFC 6455 §4.2.1 item 5).
fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b.ends_with(b"==")
        && b[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Target 8: fixed_storage
// ---------------------------------------------------------------------------

/// The same bytes, in the same chunks, through a connection on heap storage
/// and one on fixed buffers sized to the heap one's limits: every event and
/// every output byte must be the same, in either role. Fixed storage changes
/// only what happens when a buffer would grow past its slice; with slices
/// as large as `Config`'s limits that never differs.
///
/// Layout: `[options] [chunks] [stream..]`. Options: bit 0 client (else
/// server), bit 1 `plain_http_requests`, bit 2 accept with the first
/// offered subprotocol, bit 3 `max_handshake_size = 256`, bit 4 the client
/// offers subprotocols `chat` and `v2`. [`Chunks`] describes the split.
pub fn fixed_storage(data: &[u8]) {
    use hybi::handshake::BorrowedRequest;
    use hybi::storage::{FixedBuffers, Storage};

    let mut input = Cursor::new(data);
    let options = input.byte();
    let chunks = Chunks::read(&mut input);
    let stream = input.rest();
    let client = options & 1 != 0;
    let mut config = Config::default();
    config.plain_http_requests = options & 2 != 0;
    let choose_protocol = options & 4 != 0;
    if options & 8 != 0 {
        config.max_handshake_size = 256;
    }
    config.max_rejection_body = 512;
    let protocols: &[&str] = if options & 16 != 0 {
        &["chat", "v2"]
    } else {
        &[]
    };

    /// Feeds the stream, answers a request, drains the output after every
    /// chunk; returns the events (as their Debug text) and all output.
    fn run<S: Storage>(
        conn: &mut Connection<S>,
        stream: &[u8],
        mut chunks: Chunks,
        choose_protocol: bool,
    ) -> (Vec<String>, Vec<u8>) {
        let mut events = Vec::new();
        let mut output = Vec::new();
        let mut bytes = stream.to_vec();
        let mut pos: usize = 0;
        let drain = |conn: &mut Connection<S>, output: &mut Vec<u8>| {
            while let Some(Transmit::Bytes(b)) = conn.poll_transmit() {
                output.extend_from_slice(b);
                let n = b.len();
                conn.transmitted(n);
            }
        };
        drain(conn, &mut output);
        loop {
            let end = pos.saturating_add(chunks.next()).min(bytes.len());
            let mut at = pos;
            loop {
                let step = conn.handle_input(&mut bytes[at..end], NOW);
                at += step.consumed;
                let Some(event) = step.event else { break };
                events.push(format!("{event:?}"));
                let decision = match event {
                    Event::Request(request) if request.is_websocket() => Some(Ok(request
                        .protocols()
                        .next()
                        .filter(|_| choose_protocol)
                        .map(String::from))),
                    Event::Request(_) => Some(Err(())),
                    _ => None,
                };
                match decision {
                    Some(Ok(protocol)) => {
                        let accept = match &protocol {
                            Some(p) => Accept::new().protocol(p),
                            None => Accept::new(),
                        };
                        let result = conn.accept(accept);
                        events.push(format!("accept {result:?} {:?}", conn.subprotocol()));
                    }
                    Some(Err(())) => {
                        let result = conn.reject(200, &[], b"page");
                        events.push(format!("reject {result:?}"));
                    }
                    None => {}
                }
            }
            drain(conn, &mut output);
            pos = end;
            if pos >= bytes.len() {
                break;
            }
        }
        conn.handle_eof(NOW);
        while let Some(event) = conn.handle_input(&mut [], NOW).event {
            events.push(format!("{event:?}"));
        }
        drain(conn, &mut output);
        events.push(format!(
            "{:?} {:?} {:?}",
            conn.state(),
            conn.error(),
            conn.subprotocol()
        ));
        (events, output)
    }

    let replay = || Chunks {
        sizes: chunks.sizes.clone(),
        next: 0,
    };
    // A head, then a rejection body, fit the handshake slice exactly as
    // the limits allow; the output slice holds all a session queues
    // between drains.
    let mut handshake = vec![0u8; config.max_handshake_size + config.max_rejection_body];
    let mut output = vec![0u8; 64 * 1024];
    let buffers = FixedBuffers {
        output: &mut output,
        handshake: &mut handshake,
    };
    let (heap, fixed) = if client {
        let uri = "ws://fuzz.example/chat";
        let mut request = ClientRequest::new(uri).expect("uri");
        for p in protocols {
            request = request.protocol(p);
        }
        let mut heap =
            Connection::client(config.clone(), request, Counting(0), NOW).expect("client");
        // The same nonce as `client_response`, so its seeds' answers verify.
        let mut rng = Counting(0);
        let request = BorrowedRequest::new(uri).expect("uri").protocols(protocols);
        let mut fixed = Connection::client_in(config.clone(), request, &mut rng, buffers, NOW)
            .expect("client_in");
        (
            run(&mut heap, stream, replay(), choose_protocol),
            run(&mut fixed, stream, replay(), choose_protocol),
        )
    } else {
        let mut heap = Connection::server(config.clone(), NOW);
        let mut fixed = Connection::server_in(config.clone(), buffers, NOW);
        (
            run(&mut heap, stream, replay(), choose_protocol),
            run(&mut fixed, stream, replay(), choose_protocol),
        )
    };
    assert_eq!(
        heap.0, fixed.0,
        "events differ between heap and fixed storage"
    );
    assert_eq!(
        heap.1, fixed.1,
        "output differs between heap and fixed storage"
    );
}
