//! Targets 4 and 5, `server_connection` and `client_connection`: an open
//! connection fed arbitrary frames, in arbitrary chunks and whole.

use hybi::{Config, Role, State};

use super::shared::{
    check_close_frame, decode_output, feed, open, rank, take_output, Chunks, Cursor, Ev, Watch,
    OUTPUT_SLACK,
};

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
