//! What several oracles use: input decoding (`input`), owned events and
//! messages (`events`), the per-connection invariants and the feeding loops
//! (`watch`), the decoder of everything a connection writes (`wire`), and
//! connections whose handshake is done (`open`).

mod events;
mod input;
mod open;
mod watch;
mod wire;

use hybi::Instant;

pub(crate) use events::{Ev, Messages};
pub(crate) use input::{Chunks, Counting, Cursor};
pub(crate) use open::open;
pub(crate) use watch::{feed, feed_chunk, rank, take_output, Snapshot, Watch};
pub(crate) use wire::{
    announced_length, check_close_frame, contains, decode_output, head_len, http_response,
};

/// Where every connection's clock starts. Only `api_ops` and the handshake
/// deadline of `server_handshake` move it; each [`Watch`] holds its
/// connection's `now`, so time never goes backwards.
pub(crate) const NOW: Instant = Instant::ZERO;

/// How far queued output may go past `max_buffered_output`: one Pong and
/// one Close of 131 bytes each (`send.rs`: "at most 2 x 131 bytes past it").
pub(crate) const OUTPUT_SLACK: usize = 262;

/// The Sec-WebSocket-Key of a client whose entropy is `Counting(0)`: the
/// nonce 00 01 .. 0f in base64. Seeds for `client_response` carry its
/// accept value, `bbMR9ZKKaLbXX4Ax/F0r2vXNtQ0=` (not computed here: the
/// oracle uses `accept_key`).
pub(crate) const CLIENT_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

pub(crate) const CLIENT_URI: &str = "ws://server.example.com/chat";
