//! The HTTP/1.1 opening handshake (RFC 6455 §4), both roles, without I/O.
//!
//! The handshake is the only part of the protocol that is HTTP, so it is
//! kept apart from framing: this module turns bytes into a validated view of
//! a request or response and turns an application's decision into bytes. It
//! never reads a socket and never allocates per byte.
//!
//! * [`accept_key`] / [`AcceptKey`] (no allocator needed): the
//!   `Sec-WebSocket-Accept` value both sides compute (§4.2.2).
//! * `HeadReader` collects a head up to its empty line with linear total
//!   work however the bytes are split (the quadratic re-scan of
//!   RUSTSEC-2023-0065 is impossible by construction) and never holds more
//!   than the configured maximum.
//! * Server side (§4.2): `parse_request` validates once and keeps offsets;
//!   [`Request`] is the application's borrowed view; [`Accept`] is its
//!   answer; `write_accept` produces the 101, and `write_reject` and
//!   `write_error_response` (in `reject`) a refusal.
//! * Client side (§4.1): [`ClientRequest`] parses a `ws://`/`wss://` URI
//!   (§3) and writes the request; `parse_response` checks the 101 answer
//!   against what was offered; [`Response`] is the borrowed view of it (or of
//!   a rejection).
//! * Without the HTTP/1.1 upgrade: [`h2`] validates an RFC 8441 extended
//!   CONNECT (HTTP/2, and RFC 9220's HTTP/3) from its header list and
//!   builds the 200 answer, negotiating as the HTTP/1.1 path does.
//! * With the `http` feature, [`http`] converts `http::Request`
//!   and `http::Response` (hyper, axum, h2) to and from both paths.
//! * Before all of it, through an HTTP proxy: [`ProxyConnect`] writes the
//!   `CONNECT` request and reads the proxy's answer (RFC 9110 §9.3.6),
//!   keeping the bytes after it for the layer above.
//!
//! Offsets (not references) are stored in `ParsedRequest`/`ParsedResponse`
//! so a connection can own the head bytes and the parse result side by side
//! without a self-referential struct.

mod accept;
mod decision;
mod tokens;

// Everything below needs an allocator: heads are buffered in a Vec and the
// parsed offsets are kept next to them.
mod client;
#[cfg(feature = "alloc")]
pub mod h2;
mod head;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "alloc")]
mod negotiated;
#[cfg(feature = "alloc")]
mod proxy;
mod reject;
mod server;
mod uri;

#[cfg(all(test, feature = "alloc"))]
mod tests;

#[cfg_attr(not(feature = "alloc"), allow(unused_imports))]
pub(crate) use accept::encode_key;
pub use accept::{accept_key, AcceptKey};

pub use client::BorrowedRequest;
pub(crate) use client::ClientHead;
#[cfg(feature = "alloc")]
pub use client::ClientRequest;
pub use client::Response;
pub(crate) use client::{parse_response, ParsedResponse};
pub use decision::{Decision, Reject};
pub(crate) use head::HeadReader;
#[cfg(feature = "alloc")]
pub use negotiated::{Negotiated, Settings};
#[cfg(feature = "alloc")]
pub use proxy::{ProxyConnect, ProxyError, ProxyInput};
#[cfg(test)]
pub(crate) use reject::write_reject;
pub(crate) use reject::{write_error_response, write_rejection};
#[cfg(test)]
pub(crate) use server::parse_request;
pub(crate) use server::{parse_any_request, write_accept, ParsedRequest};
pub use server::{Accept, Request};
pub(crate) use tokens::STACK_HEADER_SLOTS;
