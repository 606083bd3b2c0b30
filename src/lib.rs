#![doc = include_str!("../README.md")]
// The crate is no_std unconditionally; `std` is linked only for OS entropy and
// the std::error::Error impls. The nostd-check/ crate proves it.
#![no_std]
// No unsafe code anywhere in the crate: masking, UTF-8 validation and parsing
// are written in safe Rust, and benchmarks have not shown a need otherwise.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
mod assemble;
pub mod buffer;
pub mod close;
pub mod config;
mod connection;
#[cfg(feature = "embedded-io")]
pub mod embedded;
pub mod entropy;
pub mod error;
mod event;
#[cfg(feature = "deflate")]
pub mod extensions;
pub mod frame;
pub mod handshake;
#[cfg(feature = "std")]
pub mod io;
pub mod mask;
pub mod time;
pub mod utf8;

#[cfg(feature = "alloc")]
pub use assemble::{Message, MessageAssembler};
pub use close::CloseCode;
pub use config::Config;
pub use connection::storage;
#[cfg(feature = "alloc")]
pub use connection::upgraded::Negotiated;
pub use connection::{Compression, Connection, DefaultStorage, Input, Role, State, Transmit};
pub use entropy::Entropy;
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use error::{ProtocolError, UsageError};
pub use event::{Closed, Data, Event, MessageKind};
#[cfg(feature = "deflate")]
pub use extensions::deflate::{DeflateConfig, DeflateParams};
#[cfg(feature = "alloc")]
pub use handshake::ClientRequest;
pub use handshake::{accept_key, AcceptKey};
pub use handshake::{Accept, Request, Response};
pub use time::Instant;
