//! The oracles of hybi's fuzz targets: one function per target, taking the
//! fuzzer's raw bytes and panicking when hybi breaks a documented promise.
//!
//! Each `fuzz_targets/<name>.rs` calls the function of the same name, and
//! `tests/fuzz_regressions.rs` includes this file as a module (with
//! `#[path]`) to replay `fuzz/seeds/` and `fuzz/regressions/` on stable. So
//! these files depend on nothing but `hybi` and `std`: inputs are decoded
//! from raw bytes by hand (a `Cursor` hands out bytes, then zeros once the
//! input is used up), never with `arbitrary`. Every module path below
//! resolves the same from both places: a file included with `#[path]` owns
//! its folder, as `lib.rs` does.
//!
//! One module per oracle, and `shared` for what several of them use:
//!
//! | module | oracle (fuzz target) |
//! |--------|----------------------|
//! | `frame_header` | `FrameHeader::parse` against an independent reading of §5.2 |
//! | `server_handshake` | a server fed a request, then frames |
//! | `client_response` | a client fed the server's answer, then frames |
//! | `open_connection` | an open server (`server_connection`) or client (`client_connection`) |
//! | `api_ops` | a sequence of commands and inputs on a wired pair |
//! | `round_trip` | messages both ways through two engines, then a close |
//! | `fixed_storage` | heap and fixed buffers give the same events and bytes |
//! | `shared` | input decoding, owned events, the `Watch` checks, the output decoder |
//!
//! The oracles are at least as strict as the proptest suite
//! (`tests/robustness.rs`): every target that drives a [`Connection`] goes
//! through `Watch`, which checks after every call that `consumed` never
//! exceeds the input (and is all of it when there is no event), that the
//! public state never moves backwards, that at most one `Closed` comes and
//! nothing after it, and that each event is consistent with the getters.
//! Everything a connection writes is decoded by `decode_output`, which
//! checks it is a valid RFC 6455 stream in its role.
//!
//! Input layouts, byte by byte, are documented on each target (the seed
//! generator `fuzz/make_seeds.py` writes the same layouts).
//!
//! [`Connection`]: hybi::Connection
#![forbid(unsafe_code)]

mod api_ops;
mod client_response;
mod fixed_storage;
mod frame_header;
mod open_connection;
mod round_trip;
mod server_handshake;
mod shared;

pub use api_ops::api_ops;
pub use client_response::client_response;
pub use fixed_storage::fixed_storage;
pub use frame_header::frame_header;
pub use open_connection::{client_connection, server_connection};
pub use round_trip::round_trip;
pub use server_handshake::server_handshake;

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
