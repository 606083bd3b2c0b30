#![doc = include_str!("../README.md")]
// The crate is no_std unconditionally; `std` is linked only for OS entropy and
// the std::error::Error impls. The nostd-check/ crate proves it.
#![no_std]
// No unsafe code in the crate but one place: `mask`'s run-time choice of
// AVX2 unmasking on x86-64 with `std` (calling a `#[target_feature]`
// function after detecting the feature), which measured up to twice as fast
// as the portable loop (perf/). `deny` rather than `forbid` so that module
// alone can `allow` it, with its reason; SECURITY.md lists it. Everything
// else, UTF-8 validation and parsing included, is safe Rust, and a build
// without `std` has no unsafe code at all.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(any(feature = "std", feature = "embedded-io"))]
mod adapter;
#[cfg(feature = "alloc")]
mod assemble;
mod buffer;
pub mod close;
mod config;
mod connection;
#[cfg(feature = "embedded-io")]
pub mod embedded;
mod entropy;
mod error;
mod event;
#[cfg(feature = "deflate")]
pub mod extensions;
pub mod frame;
pub mod handshake;
#[cfg(feature = "std")]
pub mod io;
pub mod mask;
mod time;
mod token;
pub mod utf8;

#[cfg(feature = "alloc")]
pub use assemble::{MessageAssembler, MessageRef, OwnedMessage};
pub use close::CloseCode;
pub use config::Config;
#[cfg(feature = "alloc")]
pub use connection::prepared::PreparedMessage;
pub use connection::storage;
pub use connection::{Compression, Connection, DefaultStorage, Input, Role, State, Transmit};
pub use entropy::Entropy;
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use error::{ProtocolError, UsageError};
pub use event::{Closed, Data, Event};
#[cfg(feature = "deflate")]
pub use extensions::deflate::{DeflateConfig, DeflateParams};
pub use frame::MessageKind;
#[cfg(feature = "alloc")]
pub use handshake::ClientRequest;
#[cfg(feature = "alloc")]
pub use handshake::Negotiated;
pub use handshake::{accept_key, AcceptKey};
pub use handshake::{Accept, Decision, Reject, Request, Response};
pub use time::Instant;
