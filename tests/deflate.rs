//! permessage-deflate (RFC 7692), feature `deflate`: the VECTORS.md frames
//! byte for byte, the negotiation matrix in both roles, the receive rules
//! (RSV1, the tail, context takeover, BFINAL, bad data, UTF-8 on inflated
//! text, the size cap while inflating), the send rules (RSV1 on the first
//! frame only, tail stripped, threshold, per-send opt-out, control frames
//! never compressed) and a property test that random message sequences
//! round-trip between two engines under every window and context setting.
//!
//! Where two engines talk to each other (negotiation engine to engine, a
//! sender read back by its peer), they are a `common::pair::Pair`.
#![cfg(feature = "deflate")]

mod common;
use common::pair::Pair;
use common::*;
use hybi::{
    accept_key, Accept, ClientRequest, Compression, Config, Connection, DeflateConfig,
    DeflateParams, Event, MessageKind, ProtocolError, Role, UsageError,
};
use proptest::prelude::*;

// ---- helpers ----

fn config_with(deflate: DeflateConfig) -> Config {
    let mut config = Config::default();
    config.deflate = Some(deflate);
    config
}

/// Compress everything, however short, so the RFC's "Hello" vectors apply.
fn eager() -> DeflateConfig {
    let mut d = DeflateConfig::default();
    d.min_compress_size = 0;
    d
}

fn request_with(offers: &[&str]) -> Vec<u8> {
    let mut req = String::from(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n",
    );
    for offer in offers {
        req.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// A server with `config` that accepted a request carrying `offers` (one
/// header line each); returns it and its `Sec-WebSocket-Extensions` answer.
fn server_with_offers(config: Config, offers: &[&str]) -> (Connection, Option<String>) {
    let mut server = Connection::server(config, NOW);
    let mut req = request_with(offers);
    let len = req.len();
    let out = server.handle_input(&mut req, NOW);
    assert_eq!(out.consumed, len);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    let (bytes, _) = take_output(&mut server);
    let head = String::from_utf8(bytes).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let answers: Vec<&str> = head
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .collect();
    assert!(answers.len() <= 1, "{head}");
    (server, answers.first().map(|s| s.to_string()))
}

/// A client with `config` given a 101 carrying `answer`; returns it, its
/// offer and the events of reading the 101.
fn client_with_answer(config: Config, answer: Option<&str>) -> (Connection, String, Vec<Ev>) {
    let request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    let mut client = Connection::client(config, request, CountingEntropy(0), NOW).unwrap();
    let (req, _) = take_output(&mut client);
    let key = header_value(&req, "Sec-WebSocket-Key");
    let text = String::from_utf8_lossy(&req).to_string();
    let offer = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .unwrap_or("")
        .to_string();
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key.as_bytes()).as_str()
    );
    if let Some(answer) = answer {
        response.push_str(&format!("Sec-WebSocket-Extensions: {answer}\r\n"));
    }
    response.push_str("\r\n");
    let bytes = response.into_bytes();
    let events = feed_chunks(&mut client, &bytes, 1 << 30);
    (client, offer, events)
}

/// An open connection in `role` with permessage-deflate agreed on RFC 7692
/// defaults (15-bit windows, context takeover).
fn open_deflate(role: Role, deflate: DeflateConfig) -> Connection {
    match role {
        Role::Server => {
            let (server, answer) = server_with_offers(
                config_with(deflate),
                &["permessage-deflate; client_max_window_bits"],
            );
            assert!(answer.is_some());
            server
        }
        Role::Client => {
            let (client, _, events) =
                client_with_answer(config_with(deflate), Some("permessage-deflate"));
            assert!(matches!(events[..], [Ev::Accepted { .. }]), "{events:?}");
            client
        }
    }
}

fn feed_deflate(role: Role, input: &[u8]) -> Outcome {
    feed_all_ways(|| open_deflate(role, eager()), input)
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// A frame from VECTORS.md (written server to client), as the peer of
/// `role` sends it.
fn vector_frame(role: Role, bytes: &str) -> Vec<u8> {
    let bytes = hex(bytes);
    let len = bytes[1] as usize;
    assert!(len <= 125 && bytes.len() == 2 + len);
    raw_frame_to(role, bytes[0], &bytes[2..])
}

fn params(
    role_local_nct: bool,
    remote_nct: bool,
    local_bits: u8,
    remote_bits: u8,
) -> DeflateParams {
    // DeflateParams is non_exhaustive: build it through a negotiation.
    let mut d = DeflateConfig::default();
    d.local_no_context_takeover = role_local_nct;
    d.remote_no_context_takeover = remote_nct;
    d.local_max_window_bits = local_bits;
    d.remote_max_window_bits = remote_bits;
    let pair = deflate_pair(d, DeflateConfig::default());
    let p = pair.client.conn.deflate().unwrap();
    assert_eq!(
        pair.server.conn.deflate().unwrap().local_max_window_bits,
        p.remote_max_window_bits
    );
    p
}

/// A client and a server with these deflate settings, handshake done
/// through each other's bytes.
fn deflate_pair(client: DeflateConfig, server: DeflateConfig) -> Pair {
    Pair::connected(config_with(client), config_with(server))
}

// ---- VECTORS.md, RFC 7692 §7.2.3: decoding, both roles ----

both_roles!(vector_hello_one_frame, |role| {
    let out = feed_deflate(role, &vector_frame(role, "c1 07 f2 48 cd c9 c9 07 00"));
    assert_eq!(out.events, vec![text("Hello")]);
});

both_roles!(vector_hello_fragmented, |role| {
    let input = cat(&[
        vector_frame(role, "41 03 f2 48 cd"),
        vector_frame(role, "80 04 c9 c9 07 00"),
    ]);
    assert_eq!(feed_deflate(role, &input).events, vec![text("Hello")]);
});

both_roles!(vector_context_takeover, |role| {
    let input = cat(&[
        vector_frame(role, "c1 07 f2 48 cd c9 c9 07 00"),
        vector_frame(role, "c1 05 f2 00 11 00 00"),
    ]);
    assert_eq!(
        feed_deflate(role, &input).events,
        vec![text("Hello"), text("Hello")]
    );
});

both_roles!(vector_stored_block, |role| {
    let input = vector_frame(role, "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00");
    assert_eq!(feed_deflate(role, &input).events, vec![text("Hello")]);
});

both_roles!(vector_bfinal_block, |role| {
    // The stream ends inside the message; the next message starts a new
    // stream (the inflater is reset), so a fresh "Hello" still inflates.
    let input = cat(&[
        vector_frame(role, "c1 08 f3 48 cd c9 c9 07 00 00"),
        vector_frame(role, "c1 07 f2 48 cd c9 c9 07 00"),
    ]);
    assert_eq!(
        feed_deflate(role, &input).events,
        vec![text("Hello"), text("Hello")]
    );
});

both_roles!(vector_two_blocks, |role| {
    let input = vector_frame(role, "c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00");
    assert_eq!(feed_deflate(role, &input).events, vec![text("Hello")]);
});

// ---- VECTORS.md: encoding, where deterministic (zlib's level 6) ----

both_roles!(encodes_hello_as_the_rfc_does, |role| {
    let mut conn = open_deflate(role, eager());
    conn.send_text("Hello").unwrap();
    conn.send_text("Hello").unwrap();
    let frames = sent(&mut conn);
    assert_eq!(
        frames,
        vec![
            (0xc1, hex("f2 48 cd c9 c9 07 00")),
            (0xc1, hex("f2 00 11 00 00")),
        ]
    );
});

both_roles!(fragmented_send_sets_rsv1_on_the_first_frame_only, |role| {
    let mut pair = deflate_pair(eager(), eager());
    // The peer reads it in pieces of 3 bytes.
    pair.party(role).max_write = Some(3);
    let conn = &mut pair.party(role).conn;
    conn.send(MessageKind::Text, b"Hel", false).unwrap();
    conn.send(MessageKind::Text, b"lo", true).unwrap();
    pair.drive();
    let frames = pair.party(role).take_frames();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].0, 0x41, "RSV1 + text, no FIN");
    assert_eq!(frames[1].0, 0x80, "FIN + continuation, no RSV1");
    // A non-final fragment keeps its sync-flush marker; the last loses it.
    assert!(frames[0].1.ends_with(&[0, 0, 0xff, 0xff]));
    assert!(!frames[1].1.ends_with(&[0, 0, 0xff, 0xff]));
    // And the peer reads it back.
    assert_eq!(
        merge(pair.party(peer_role(role)).take_events()),
        vec![text("Hello")]
    );
});

fn peer_role(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

both_roles!(control_frames_are_never_compressed, |role| {
    let mut conn = open_deflate(role, eager());
    conn.ping(b"ping payload that would compress well well well")
        .unwrap();
    conn.pong(b"x").unwrap();
    conn.close(hybi::CloseCode::NORMAL, "bye bye bye bye bye bye")
        .unwrap();
    let firsts: Vec<u8> = sent(&mut conn).iter().map(|f| f.0).collect();
    assert_eq!(firsts, vec![0x89, 0x8a, 0x88]);
});

both_roles!(short_messages_and_opt_outs_go_uncompressed, |role| {
    let mut conn = open_deflate(role, DeflateConfig::default());
    conn.send_text("short").unwrap(); // under min_compress_size (64)
    let long = "a fairly long and repetitive message, repetitive message ".repeat(4);
    conn.send_text(&long).unwrap();
    conn.send_with(MessageKind::Binary, long.as_bytes(), true, Compression::Off)
        .unwrap();
    let frames = sent(&mut conn);
    assert_eq!(frames[0], (0x81, b"short".to_vec()));
    assert_eq!(frames[1].0, 0xc1);
    assert!(frames[1].1.len() < long.len() / 2);
    assert_eq!(frames[2], (0x82, long.as_bytes().to_vec()));
});

both_roles!(local_no_context_takeover_resets_between_messages, |role| {
    let mut d = eager();
    d.local_no_context_takeover = true;
    let mut conn = open_deflate(role, d);
    conn.send_text("Hello").unwrap();
    conn.send_text("Hello").unwrap();
    let frames = sent(&mut conn);
    assert_eq!(
        frames[0], frames[1],
        "each message starts from an empty window"
    );
});

both_roles!(empty_messages_round_trip, |role| {
    let mut pair = deflate_pair(eager(), eager());
    // The peer reads one byte at a time.
    pair.party(role).max_write = Some(1);
    let conn = &mut pair.party(role).conn;
    conn.send_text("").unwrap();
    conn.send_binary(b"").unwrap();
    conn.send_text("after").unwrap();
    pair.drive();
    let frames = pair.party(role).take_frames();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.0 & 0x40 != 0));
    assert_eq!(
        merge(pair.party(peer_role(role)).take_events()),
        vec![text(""), binary(b""), text("after")]
    );
});

#[test]
fn a_send_refused_for_space_leaves_the_stream_intact() {
    let mut config = config_with(eager());
    config.max_buffered_output = 200;
    let mut pair = Pair::connected(config_with(eager()), config);
    let server = &mut pair.server.conn;
    assert!(server.deflate().is_some());
    server.send_text("Hello").unwrap();
    let big = "x".repeat(300);
    assert_eq!(server.send_text(&big), Err(UsageError::OutputFull));
    // The refused message never touched the stream: the next one still
    // refers back to the first "Hello" correctly.
    server.send_text("Hello").unwrap();
    pair.server.max_write = Some(5);
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![text("Hello"), text("Hello")]
    );
}

// ---- receive rules ----

both_roles!(rsv1_on_a_continuation_fails_1002, |role| {
    // RFC 7692 §6.1: RSV1 only on a message's first frame.
    let input = cat(&[
        vector_frame(role, "41 03 f2 48 cd"),
        vector_frame(role, "c0 04 c9 c9 07 00"),
    ]);
    let out = feed_deflate(role, &input);
    // The first fragment's text is handed out as it inflates.
    assert_eq!(
        out.events,
        vec![
            Ev::Data {
                kind: MessageKind::Text,
                payload: b"He".to_vec(),
                fin: false
            },
            failed(ProtocolError::ReservedBits)
        ]
    );
    assert_eq!(out.sent.last().unwrap().1[..2], 1002u16.to_be_bytes());
});

both_roles!(rsv1_on_a_control_frame_fails_1002, |role| {
    let input = raw_frame_to(role, 0xc9, b"");
    let out = feed_deflate(role, &input);
    assert_eq!(out.events, vec![failed(ProtocolError::ReservedBits)]);
});

both_roles!(rsv1_without_agreement_fails_1002, |role| {
    let input = vector_frame(role, "c1 07 f2 48 cd c9 c9 07 00");
    let out = feed(role, &input);
    assert_eq!(out.events, vec![failed(ProtocolError::ReservedBits)]);
});

both_roles!(uncompressed_messages_still_flow, |role| {
    // RSV1 clear: the message is not compressed (RFC 7692 §6).
    let input = cat(&[
        text_frame(role, true, b"plain"),
        binary_frame(role, true, &[1, 2]),
    ]);
    assert_eq!(
        feed_deflate(role, &input).events,
        vec![text("plain"), binary(&[1, 2])]
    );
});

both_roles!(invalid_deflate_data_fails_1007, |role| {
    // Block type 11 is reserved (RFC 1951 §3.2.3).
    let input = raw_frame_to(role, 0xc2, &[0xff, 0xff, 0xff]);
    let out = feed_deflate(role, &input);
    assert_eq!(
        out.events,
        vec![failed(ProtocolError::InvalidCompressedData)]
    );
    assert_eq!(out.sent.last().unwrap().1[..2], 1007u16.to_be_bytes());
});

/// Raw DEFLATE of `data` with a sync flush and the tail removed, as a
/// peer would send one whole message (fresh stream).
fn compress(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

both_roles!(
    invalid_utf8_after_inflating_fails_1007_after_the_valid_part,
    |role| {
        let mut payload = b"valid start ".to_vec();
        payload.extend_from_slice(&[0xff]);
        payload.extend_from_slice(b" more");
        let input = raw_frame_to(role, 0xc1, &compress(&payload));
        let out = feed_deflate(role, &input);
        assert_eq!(
            out.events,
            vec![
                Ev::Data {
                    kind: MessageKind::Text,
                    payload: b"valid start ".to_vec(),
                    fin: false
                },
                failed(ProtocolError::InvalidUtf8)
            ]
        );
    }
);

both_roles!(text_ending_inside_a_code_point_fails_1007, |role| {
    let input = raw_frame_to(role, 0xc1, &compress(&"é".as_bytes()[..1]));
    let out = feed_deflate(role, &input);
    assert_eq!(out.events, vec![failed(ProtocolError::InvalidUtf8)]);
});

both_roles!(
    large_text_streams_in_bounded_whole_code_point_chunks,
    |role| {
        // 1 MiB of mixed-width text: many Data events, each a str (checked by
        // Ev::from_event), none larger than the inflater's output buffer.
        let text_in: String = "héllo wörld € 😀 ".chars().cycle().take(300_000).collect();
        let compressed = compress(text_in.as_bytes());
        let input = cat(&[
            raw_frame_to(role, 0x41, &compressed[..compressed.len() / 2]),
            raw_frame_to(role, 0x80, &compressed[compressed.len() / 2..]),
        ]);
        let mut conn = open_deflate(role, eager());
        let events = feed_chunks(&mut conn, &input, 4096);
        assert!(events.len() > 10, "{} events", events.len());
        for e in &events {
            if let Ev::Data { payload, .. } = e {
                assert!(payload.len() <= 32 * 1024);
            }
        }
        assert_eq!(merge(events), vec![text(&text_in)]);
    }
);

both_roles!(a_small_bomb_fails_1009_while_inflating, |role| {
    // 16 MiB of zeros compress to about 16 KiB; the cap is 1 MiB.
    let bomb = compress(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 20 * 1024);
    let mut config = config_with(eager());
    config.max_message_size = 1 << 20;
    let mut conn = match role {
        Role::Server => server_with_offers(config, &["permessage-deflate"]).0,
        Role::Client => client_with_answer(config, Some("permessage-deflate")).0,
    };
    let input = raw_frame_to(role, 0xc2, &bomb);
    let events = feed_chunks(&mut conn, &input, input.len());
    let delivered: usize = events
        .iter()
        .map(|e| match e {
            Ev::Data { payload, .. } => payload.len(),
            _ => 0,
        })
        .sum();
    assert!(delivered <= 1 << 20);
    assert_eq!(events.last(), Some(&failed(ProtocolError::MessageTooLarge)));
    let frames = sent(&mut conn);
    assert_eq!(frames.last().unwrap().1[..2], 1009u16.to_be_bytes());
});

both_roles!(remote_no_context_takeover_resets_the_inflater, |role| {
    // With the peer's no_context_takeover agreed, a message that refers back
    // into the previous one is invalid: the window was emptied.
    let mut d = eager();
    d.remote_no_context_takeover = true;
    let mut conn = match role {
        Role::Server => {
            let (s, answer) = server_with_offers(config_with(d), &["permessage-deflate"]);
            assert_eq!(
                answer.as_deref(),
                Some("permessage-deflate; client_no_context_takeover")
            );
            s
        }
        Role::Client => {
            let (c, _, events) = client_with_answer(
                config_with(d),
                Some("permessage-deflate; server_no_context_takeover"),
            );
            assert!(matches!(events[..], [Ev::Accepted { .. }]));
            c
        }
    };
    let input = cat(&[
        vector_frame(role, "c1 07 f2 48 cd c9 c9 07 00"),
        vector_frame(role, "c1 05 f2 00 11 00 00"),
    ]);
    let events = feed_chunks(&mut conn, &input, input.len());
    assert_eq!(events[0], text("Hello"));
    assert_eq!(
        events.last(),
        Some(&failed(ProtocolError::InvalidCompressedData))
    );
});

// ---- negotiation: the server ----

fn server_answer(deflate: DeflateConfig, offers: &[&str]) -> Option<String> {
    server_with_offers(config_with(deflate), offers).1
}

#[test]
fn server_accepts_the_rfc_examples() {
    let d = DeflateConfig::default;
    assert_eq!(
        server_answer(d(), &["permessage-deflate"]).as_deref(),
        Some("permessage-deflate")
    );
    assert_eq!(
        server_answer(d(), &["permessage-deflate; client_max_window_bits"]).as_deref(),
        Some("permessage-deflate")
    );
    assert_eq!(
        server_answer(
            d(),
            &["permessage-deflate; client_no_context_takeover; server_max_window_bits=10"]
        )
        .as_deref(),
        Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10")
    );
    // Two offers: the first is accepted.
    assert_eq!(
        server_answer(
            d(),
            &["permessage-deflate; server_max_window_bits=10, permessage-deflate"]
        )
        .as_deref(),
        Some("permessage-deflate; server_max_window_bits=10")
    );
}

#[test]
fn server_without_deflate_config_never_answers() {
    let (_, answer) = server_with_offers(Config::default(), &["permessage-deflate"]);
    assert_eq!(answer, None);
}

#[test]
fn server_declines_invalid_offers_without_failing() {
    for offer in [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover=\"x\"",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate;",
        "permessage-deflate; =",
        "x-webkit-deflate-frame",
    ] {
        let (mut server, answer) = server_with_offers(config_with(eager()), &[offer]);
        assert_eq!(answer, None, "{offer}");
        assert_eq!(server.deflate(), None);
        // The connection is open, without compression.
        server.send_text("Hello").unwrap();
        assert_eq!(sent(&mut server)[0].0, 0x81);
    }
}

#[test]
fn server_skips_an_invalid_offer_for_a_valid_one() {
    assert_eq!(
        server_answer(
            eager(),
            &[
                "permessage-deflate; bogus",
                "permessage-deflate; server_max_window_bits=12"
            ]
        )
        .as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    // Quoted values are tokens once unquoted (RFC 6455 §9.1).
    assert_eq!(
        server_answer(
            eager(),
            &["permessage-deflate; server_max_window_bits=\"11\""]
        )
        .as_deref(),
        Some("permessage-deflate; server_max_window_bits=11")
    );
}

#[test]
fn server_prefers_an_offer_it_can_compress_with() {
    // zlib cannot compress with an 8-bit window: a later offer without that
    // limit wins; alone, the 8-bit offer is accepted and we send plain.
    assert_eq!(
        server_answer(
            eager(),
            &["permessage-deflate; server_max_window_bits=8, permessage-deflate"]
        )
        .as_deref(),
        Some("permessage-deflate")
    );
    let (mut server, answer) = server_with_offers(
        config_with(eager()),
        &["permessage-deflate; server_max_window_bits=8"],
    );
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_max_window_bits=8")
    );
    assert!(!server.deflate().unwrap().compresses());
    server.send_text("Hello").unwrap();
    assert_eq!(sent(&mut server)[0], (0x81, b"Hello".to_vec()));
    // It still inflates what the client compresses.
    let input = vector_frame(Role::Server, "c1 07 f2 48 cd c9 c9 07 00");
    assert_eq!(
        merge(feed_chunks(&mut server, &input, 1)),
        vec![text("Hello")]
    );
}

#[test]
fn server_settings_shape_the_answer() {
    let mut d = eager();
    d.local_max_window_bits = 10;
    d.remote_max_window_bits = 9;
    d.local_no_context_takeover = true;
    d.remote_no_context_takeover = true;
    // client_max_window_bits may be answered only when offered (§7.1.2.2).
    assert_eq!(
        server_answer(d.clone(), &["permessage-deflate"]).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")
    );
    assert_eq!(
        server_answer(d.clone(), &["permessage-deflate; client_max_window_bits"]).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
    );
    // Never above what the client offered, and never above our own limit.
    assert_eq!(
        server_answer(d.clone(), &["permessage-deflate; client_max_window_bits=8; server_max_window_bits=12"]).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=8")
    );
}

// ---- negotiation: the client ----

fn client_result(
    deflate: DeflateConfig,
    answer: Option<&str>,
) -> Result<Option<DeflateParams>, ProtocolError> {
    let (client, _, events) = client_with_answer(config_with(deflate), answer);
    match &events[..] {
        [Ev::Accepted { .. }] => Ok(client.deflate()),
        [Ev::Closed { error: Some(e), .. }] => Err(*e),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_offers_its_settings() {
    let offer = |d: DeflateConfig| client_with_answer(config_with(d), None).1;
    assert_eq!(
        offer(DeflateConfig::default()),
        "permessage-deflate; client_max_window_bits"
    );
    let mut d = DeflateConfig::default();
    d.local_max_window_bits = 12;
    d.remote_max_window_bits = 10;
    d.local_no_context_takeover = true;
    d.remote_no_context_takeover = true;
    assert_eq!(
        offer(d),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
    );
    // Without a deflate config nothing is offered.
    let (_, offer, _) = client_with_answer(Config::default(), None);
    assert_eq!(offer, "");
}

#[test]
fn client_accepts_valid_answers() {
    let d = DeflateConfig::default;
    assert_eq!(
        client_result(d(), None),
        Ok(None),
        "a decline is not an error"
    );
    let p = client_result(d(), Some("permessage-deflate"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.local_no_context_takeover,
            p.remote_no_context_takeover,
            p.local_max_window_bits,
            p.remote_max_window_bits
        ),
        (false, false, 15, 15)
    );
    let p = client_result(
        d(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            p.local_no_context_takeover,
            p.remote_no_context_takeover,
            p.local_max_window_bits,
            p.remote_max_window_bits
        ),
        (true, true, 10, 9)
    );
    // A quoted value, any case in names, and another extension beside it is
    // not ours to judge here.
    let p = client_result(
        d(),
        Some("Permessage-Deflate; Server_Max_Window_Bits=\"12\""),
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.remote_max_window_bits, 12);
    // client_max_window_bits=8: we may not compress with 8 bits, so we
    // send plain.
    let p = client_result(d(), Some("permessage-deflate; client_max_window_bits=8"))
        .unwrap()
        .unwrap();
    assert!(!p.compresses());
}

#[test]
fn client_fails_on_every_invalid_answer() {
    let d = DeflateConfig::default;
    let mut asks_window = DeflateConfig::default();
    asks_window.remote_max_window_bits = 10;
    let mut asks_nct = DeflateConfig::default();
    asks_nct.remote_no_context_takeover = true;
    let cases: Vec<(DeflateConfig, &str)> = vec![
        (d(), "permessage-deflate; unknown"),
        (
            d(),
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ),
        (
            d(),
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
        ),
        (d(), "permessage-deflate; server_no_context_takeover=1"),
        (d(), "permessage-deflate; client_no_context_takeover=\"x\""),
        (d(), "permessage-deflate; server_max_window_bits"),
        (d(), "permessage-deflate; client_max_window_bits"),
        (d(), "permessage-deflate; server_max_window_bits=7"),
        (d(), "permessage-deflate; server_max_window_bits=16"),
        (d(), "permessage-deflate; client_max_window_bits=0"),
        (d(), "permessage-deflate; client_max_window_bits=abc"),
        (d(), "permessage-deflate, permessage-deflate"),
        (d(), "permessage-deflate; server_max_window_bits=\"10"),
        (asks_window.clone(), "permessage-deflate"),
        (asks_window, "permessage-deflate; server_max_window_bits=11"),
        (asks_nct, "permessage-deflate"),
    ];
    for (config, answer) in cases {
        assert_eq!(
            client_result(config, Some(answer)),
            Err(ProtocolError::InvalidExtensionAnswer),
            "{answer}"
        );
    }
    // An extension we never offered is refused by the handshake itself.
    assert_eq!(
        client_result(d(), Some("x-other")),
        Err(ProtocolError::UnofferedExtension)
    );
}

// ---- the matrix: every setting on each side, negotiated engine to engine ----

fn all_configs() -> Vec<DeflateConfig> {
    let mut out = Vec::new();
    for local_nct in [false, true] {
        for remote_nct in [false, true] {
            for local_bits in [9, 12, 15] {
                for remote_bits in [8, 9, 12, 15] {
                    let mut d = eager();
                    d.local_no_context_takeover = local_nct;
                    d.remote_no_context_takeover = remote_nct;
                    d.local_max_window_bits = local_bits;
                    d.remote_max_window_bits = remote_bits;
                    out.push(d);
                }
            }
        }
    }
    out
}

#[test]
fn every_pair_of_settings_agrees_and_round_trips() {
    let configs = all_configs();
    let message = "negotiated both ways, negotiated both ways, negotiated both ways";
    for c in &configs {
        for s in &configs {
            let mut pair = deflate_pair(c.clone(), s.clone());
            let cp = pair.client.conn.deflate().expect("agreed");
            let sp = pair.server.conn.deflate().expect("agreed");
            // The two views mirror each other.
            assert_eq!(cp.local_no_context_takeover, sp.remote_no_context_takeover);
            assert_eq!(cp.remote_no_context_takeover, sp.local_no_context_takeover);
            assert_eq!(
                cp.remote_max_window_bits, sp.local_max_window_bits,
                "{c:?} {s:?}"
            );
            // Each side's wishes hold.
            assert!(sp.local_max_window_bits <= s.local_max_window_bits.max(9));
            assert!(sp.local_max_window_bits <= c.remote_max_window_bits);
            assert!(cp.local_max_window_bits <= c.local_max_window_bits);
            assert!(cp.local_max_window_bits <= sp.remote_max_window_bits);
            assert_eq!(
                cp.local_no_context_takeover,
                c.local_no_context_takeover || s.remote_no_context_takeover
            );
            assert_eq!(
                sp.local_no_context_takeover,
                s.local_no_context_takeover || c.remote_no_context_takeover
            );
            // Messages flow both ways, twice (context takeover or not), in
            // writes of 7 bytes.
            for _ in 0..2 {
                pair.client.conn.send_text(message).unwrap();
                pair.server.conn.send_text(message).unwrap();
            }
            pair.client.max_write = Some(7);
            pair.server.max_write = Some(7);
            pair.drive();
            assert_eq!(
                merge(pair.server.take_events()),
                vec![text(message), text(message)]
            );
            assert_eq!(
                merge(pair.client.take_events()),
                vec![text(message), text(message)]
            );
        }
    }
}

// ---- property: random messages round-trip under every setting ----

fn message() -> impl Strategy<Value = (MessageKind, Vec<u8>, Vec<usize>)> {
    let text = "[a-z é€😀]{0,300}".prop_map(|s: String| (MessageKind::Text, s.into_bytes()));
    let repetitive = (1usize..20_000).prop_map(|n| {
        let s: String = "abcabcabd 😀 ".chars().cycle().take(n).collect();
        (MessageKind::Text, s.into_bytes())
    });
    let random =
        proptest::collection::vec(any::<u8>(), 0..5000).prop_map(|b| (MessageKind::Binary, b));
    (
        prop_oneof![text, repetitive, random],
        proptest::collection::vec(0usize..100_000, 0..3),
    )
        .prop_map(|((kind, payload), cuts)| (kind, payload, cuts))
}

/// Sends `payload` in fragments cut at `cuts` (snapped to code points for
/// text, since a fragment must be valid so far).
fn send_fragments(conn: &mut Connection, kind: MessageKind, payload: &[u8], cuts: &[usize]) {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if payload.is_empty() {
                0
            } else {
                c % payload.len()
            }
        })
        .filter(|&c| kind == MessageKind::Binary || std::str::from_utf8(&payload[..c]).is_ok())
        .collect();
    points.sort();
    let mut start = 0;
    for p in points {
        conn.send(kind, &payload[start..p], false).unwrap();
        start = p;
    }
    conn.send(kind, &payload[start..], true).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn messages_round_trip_under_every_setting(
        client_cfg in 0usize..48,
        server_cfg in 0usize..48,
        messages in proptest::collection::vec(message(), 1..8),
        chunk in 1usize..5000,
    ) {
        let configs = all_configs();
        let mut pair = deflate_pair(configs[client_cfg].clone(), configs[server_cfg].clone());
        let expected: Vec<Ev> = messages
            .iter()
            .map(|(kind, payload, _)| Ev::Data { kind: *kind, payload: payload.clone(), fin: true })
            .collect();
        for (kind, payload, cuts) in &messages {
            send_fragments(&mut pair.client.conn, *kind, payload, cuts);
            send_fragments(&mut pair.server.conn, *kind, payload, cuts);
        }
        pair.client.max_write = Some(chunk);
        pair.server.max_write = Some(chunk);
        pair.drive();
        prop_assert_eq!(merge(pair.server.take_events()), expected.clone());
        prop_assert_eq!(merge(pair.client.take_events()), expected);
    }
}

#[test]
fn window_settings_are_reported() {
    let p = params(true, false, 11, 13);
    assert!(p.local_no_context_takeover);
    assert!(!p.remote_no_context_takeover);
    assert_eq!(p.local_max_window_bits, 11);
    assert_eq!(p.remote_max_window_bits, 13);
}

both_roles!(
    bad_deflate_data_after_good_hands_out_the_good_part_first,
    |role| {
        // "He" in a fixed block, then an empty stored block whose length check
        // fails (found by the fuzz seeds: a typo'd vector). Fed whole, the
        // error and the "He" come from one inflate call; fed in pieces, from
        // two. Both must give "He" and then 1007.
        let input = vector_frame(role, "c1 0e f2 48 05 00 00 00 00 ff ff ca c9 c9 07 00");
        let out = feed_deflate(role, &input);
        assert_eq!(
            out.events,
            vec![
                Ev::Data {
                    kind: MessageKind::Text,
                    payload: b"He".to_vec(),
                    fin: false
                },
                failed(ProtocolError::InvalidCompressedData)
            ]
        );
    }
);

both_roles!(all_the_vectors_in_one_stream, |role| {
    let frames = [
        "c1 07 f2 48 cd c9 c9 07 00",
        "c1 05 f2 00 11 00 00",
        "41 03 f2 48 cd",
        "80 04 c9 c9 07 00",
        "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00",
        "c1 08 f3 48 cd c9 c9 07 00 00",
        "c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00",
    ];
    let input = cat(&frames
        .iter()
        .map(|f| vector_frame(role, f))
        .collect::<Vec<_>>());
    assert_eq!(feed_deflate(role, &input).events, vec![text("Hello"); 6]);
});

both_roles!(
    a_code_point_cut_at_the_output_buffer_edge_does_not_stall,
    |role| {
        // The first fragment inflates to exactly the 32 KiB output buffer, and
        // ends two bytes into "€": the inflater hands out all but those two,
        // then must go on reading the next fragment rather than stop.
        let mut message = "a".repeat(32 * 1024 - 2);
        message.push('€');
        message.push_str(" and more");
        let bytes = message.as_bytes();
        let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
        let mut first = Vec::with_capacity(64 * 1024);
        c.compress_vec(&bytes[..32 * 1024], &mut first, flate2::FlushCompress::Sync)
            .unwrap();
        let mut second = Vec::with_capacity(1024);
        c.compress_vec(
            &bytes[32 * 1024..],
            &mut second,
            flate2::FlushCompress::Sync,
        )
        .unwrap();
        second.truncate(second.len() - 4);
        let input = cat(&[
            raw_frame_to(role, 0x41, &first),
            raw_frame_to(role, 0x80, &second),
        ]);
        assert_eq!(feed_deflate(role, &input).events, vec![text(&message)]);
    }
);

// ---- interop regressions (found against Python websockets and Node ws) ----

/// A peer's 1 MiB of repetitive text in 16 compressed fragments of 64 KiB
/// (one DEFLATE stream, each fragment sync-flushed, the tail kept on all but
/// the last), as websockets and ws send one: each ~200-byte fragment
/// inflates to 64 KiB, more than one output chunk.
fn highly_compressible_fragments(role: Role) -> (Vec<u8>, Vec<u8>) {
    let line = b"The quick brown fox jumps over the lazy dog. ";
    let text: Vec<u8> = line.iter().copied().cycle().take(1 << 20).collect();
    let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut input = Vec::new();
    let chunks: Vec<&[u8]> = text.chunks(1 << 16).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut out = Vec::with_capacity(chunk.len() + 1024);
        c.compress_vec(chunk, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        assert_eq!(c.total_in() as usize, (i + 1) << 16);
        let last = i == chunks.len() - 1;
        if last {
            out.truncate(out.len() - 4);
        }
        let first = match (i, last) {
            (0, _) => 0x41,
            (_, false) => 0x00,
            (_, true) => 0x80,
        };
        input.extend(raw_frame_to(role, first, &out));
    }
    (text, input)
}

both_roles!(fragments_that_each_inflate_past_an_output_chunk, |role| {
    let (text, input) = highly_compressible_fragments(role);
    for chunk in [input.len(), 4096, 7] {
        let mut conn = open_deflate(role, DeflateConfig::default());
        let events = merge(feed_chunks(&mut conn, &input, chunk));
        assert_eq!(events.len(), 1, "reads of {chunk}: {:?}", &events[1..]);
        match &events[0] {
            Ev::Data { kind, payload, fin } => {
                assert_eq!(*kind, MessageKind::Text);
                assert!(*fin, "reads of {chunk}: the message did not end");
                assert_eq!(payload.len(), text.len(), "reads of {chunk}");
                assert!(*payload == text, "reads of {chunk}: content differs");
            }
            other => panic!("reads of {chunk}: {other:?}"),
        }
    }
});

both_roles!(
    an_incompressible_message_at_the_frame_limit_passes_compressed,
    |role| {
        // Random bytes grow a little when compressed; a message exactly at
        // max_frame_size must still be accepted (and one well past it not).
        let mut config = config_with(eager());
        config.max_frame_size = 64 * 1024;
        config.max_message_size = 64 * 1024;
        let mut seed = 0x1234_5678_u32;
        let random: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let compressed = compress(&random);
        assert!(compressed.len() > random.len());
        let make = || match role {
            Role::Server => server_with_offers(config.clone(), &["permessage-deflate"]).0,
            Role::Client => client_with_answer(config.clone(), Some("permessage-deflate")).0,
        };
        let input = raw_frame_to(role, 0xc2, &compressed);
        assert_eq!(feed_all_ways(make, &input).events, vec![binary(&random)]);
        let too_big = raw_frame_to(role, 0xc2, &vec![0; 64 * 1024 + 1024 + 64 + 1]);
        assert_eq!(
            feed_all_ways(make, &too_big).events,
            vec![failed(ProtocolError::FrameTooLarge)]
        );
    }
);

both_roles!(past_the_cap_the_output_up_to_it_comes_first, |role| {
    // Found by the fuzzer: a message that inflates past max_message_size in
    // one inflate call gave no data before the 1009 when fed whole, but
    // some when fed in pieces. Now every chunking hands out exactly the
    // bytes up to the cap, then fails with 1009.
    let mut config = config_with(eager());
    config.max_message_size = 150;
    let payload = compress(&[b'x'; 400]);
    let input = raw_frame_to(role, 0xc2, &payload);
    let make = || match role {
        Role::Server => server_with_offers(config.clone(), &["permessage-deflate"]).0,
        Role::Client => client_with_answer(config.clone(), Some("permessage-deflate")).0,
    };
    let out = feed_all_ways(make, &input);
    assert_eq!(
        out.events,
        vec![
            Ev::Data {
                kind: MessageKind::Binary,
                payload: vec![b'x'; 150],
                fin: false
            },
            failed(ProtocolError::MessageTooLarge)
        ]
    );
    assert_eq!(out.sent.last().unwrap().1[..2], 1009u16.to_be_bytes());
});
