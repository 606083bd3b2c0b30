//! Connections whose opening handshake another library did:
//! [`Connection::from_upgraded_server`] and
//! [`Connection::from_upgraded_client`], with a [`Negotiated`] from the
//! handshake layer.
//!
//! hyper, axum, an HTTP/2 stack (RFC 8441 extended CONNECT) or an HTTP/3
//! one (RFC 9220) answers the upgrade itself and hands over a byte stream.
//! From there on the WebSocket is plain RFC 6455 framing, so the engine
//! starts directly in the Open state, with what the handshake agreed:
//!
//! * the subprotocol, if one was chosen (reported by
//!   [`Connection::subprotocol`]);
//! * with the `deflate` feature, the permessage-deflate parameters, which
//!   come from [`DeflateConfig::negotiate`](crate::DeflateConfig::negotiate)
//!   (server) or [`DeflateConfig::verify_answer`](crate::DeflateConfig::verify_answer)
//!   (client), the same negotiation the HTTP/1.1 path runs.
//!
//! # Leftover bytes
//!
//! A library that parsed the handshake may have read past its end: hyper's
//! `Upgraded::downcast` gives them as `read_buf`, an HTTP/1.1 parser of
//! your own may have them in its buffer. They are the first bytes of the
//! WebSocket stream, so pass them to [`Connection::handle_input`] before
//! anything read from the transport afterwards. The adapters'
//! `from_upgraded` take them as an argument and do exactly that. (hyper's
//! `Upgraded` already replays its buffered bytes on its first reads, so
//! with `hyper::upgrade::on` there is nothing to pass.)
//!
//! # Timers
//!
//! As after a handshake: no handshake deadline, the idle and keepalive
//! timers of [`Config`] armed from `now`.
//!
//! # Entropy
//!
//! A client masks every frame with a fresh key from an unpredictable source
//! (RFC 6455 §5.3, §10.3), so [`Connection::from_upgraded_client`] takes an
//! [`Entropy`] as [`Connection::client`] does; a server never masks, and
//! [`Connection::from_upgraded_server`], like [`Connection::server`], takes
//! none.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::state::Phase;
use super::storage::Heap;
use super::{Connection, Role};
use crate::config::Config;
use crate::entropy::Entropy;
use crate::error::UsageError;
use crate::handshake::Negotiated;
use crate::time::Instant;

impl Connection<Heap> {
    /// A server whose opening handshake was done by another library
    /// (hyper or axum's HTTP/1.1 upgrade, RFC 8441 extended CONNECT over
    /// HTTP/2, RFC 9220 over HTTP/3): it starts Open at `now`, with what
    /// `negotiated` says was agreed. Leftover bytes (read by the library past the
    /// handshake) are the first of the stream: feed them to `handle_input`
    /// first.
    ///
    /// With permessage-deflate in `negotiated`, `config.deflate` must be set
    /// ([`UsageError::DeflateNotConfigured`]), since it holds the
    /// compression level.
    ///
    /// ```
    /// use hybi::{Config, Connection, Event, Instant, Negotiated, State};
    ///
    /// let negotiated = Negotiated::new().with_subprotocol("chat");
    /// let mut conn =
    ///     Connection::from_upgraded_server(Config::default(), negotiated, Instant::ZERO).unwrap();
    /// assert_eq!(conn.state(), State::Open);
    /// assert_eq!(conn.subprotocol(), Some("chat"));
    /// // A masked text frame "Hello" (RFC 6455 §5.7), as leftover bytes.
    /// let mut leftover = *b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    /// let input = conn.handle_input(&mut leftover, Instant::ZERO);
    /// let Some(Event::Data(data)) = input.event else { panic!() };
    /// assert_eq!(data.payload, b"Hello");
    /// ```
    pub fn from_upgraded_server(
        config: Config,
        negotiated: Negotiated,
        now: Instant,
    ) -> Result<Self, UsageError> {
        Self::upgraded(Role::Server, config, negotiated, None, now)
    }

    /// A client whose opening handshake was done by another library (an
    /// HTTP/2 or HTTP/3 client's extended CONNECT, an HTTP/1.1 client
    /// library's upgrade): it starts Open at `now`. `entropy` supplies every
    /// masking key (RFC 6455 §5.3, §10.3), as in [`Connection::client`].
    pub fn from_upgraded_client(
        config: Config,
        negotiated: Negotiated,
        entropy: impl Entropy + Send + 'static,
        now: Instant,
    ) -> Result<Self, UsageError> {
        let entropy: Box<dyn Entropy + Send> = Box::new(entropy);
        Self::upgraded(Role::Client, config, negotiated, Some(entropy), now)
    }

    fn upgraded(
        role: Role,
        config: Config,
        negotiated: Negotiated,
        entropy: Option<Box<dyn Entropy + Send>>,
        now: Instant,
    ) -> Result<Self, UsageError> {
        #[cfg(feature = "deflate")]
        if negotiated.deflate().is_some() && config.deflate.is_none() {
            return Err(UsageError::DeflateNotConfigured);
        }
        let mut connection = Connection::new(role, config, Phase::Open, entropy, Vec::new());
        connection.now = now;
        connection.keep_subprotocol(Vec::new(), negotiated.subprotocol());
        #[cfg(feature = "deflate")]
        if let Some(params) = negotiated.deflate() {
            connection.enable_deflate(params);
        }
        // As after a handshake: idle and keepalive from `now`.
        connection.on_open();
        Ok(connection)
    }
}
