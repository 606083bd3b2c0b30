//! Connections whose opening handshake another library did:
//! [`Connection::from_upgraded`] and [`Negotiated`].
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
//! (RFC 6455 §5.3, §10.3), so a client-role connection needs an
//! [`Entropy`]; a server never masks and needs none. `from_upgraded` takes
//! an `Option` and refuses a client without one
//! ([`UsageError::EntropyRequired`]) rather than having a server pass a
//! source it never uses.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::state::Phase;
use super::{Connection, Role};
use crate::config::Config;
use crate::entropy::Entropy;
use crate::error::UsageError;
#[cfg(feature = "deflate")]
use crate::extensions::deflate::DeflateParams;
use crate::time::Instant;

/// What an opening handshake done elsewhere agreed: a subprotocol and, with
/// `deflate`, permessage-deflate parameters. Empty by default (no
/// subprotocol, no extension).
///
/// ```
/// # use hybi::Negotiated;
/// let negotiated = Negotiated::new().subprotocol("chat");
/// assert_eq!(negotiated.chosen_subprotocol(), Some("chat"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    subprotocol: Option<String>,
    #[cfg(feature = "deflate")]
    deflate: Option<DeflateParams>,
}

impl Negotiated {
    /// No subprotocol, no extension.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subprotocol the server chose (the `Sec-WebSocket-Protocol` of
    /// its answer).
    pub fn subprotocol(mut self, protocol: &str) -> Self {
        self.subprotocol = Some(String::from(protocol));
        self
    }

    /// permessage-deflate as agreed, from this endpoint's point of view
    /// (from [`DeflateConfig::negotiate`](crate::DeflateConfig::negotiate)
    /// on a server, [`DeflateConfig::verify_answer`](crate::DeflateConfig::verify_answer)
    /// on a client). The same `DeflateConfig` must be in `Config::deflate`.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, params: DeflateParams) -> Self {
        self.deflate = Some(params);
        self
    }

    /// The subprotocol set, if any.
    pub fn chosen_subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The permessage-deflate parameters set, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate
    }
}

impl Connection<crate::storage::Heap> {
    /// A connection whose opening handshake was done by another library
    /// (hyper or axum's HTTP/1.1 upgrade, RFC 8441 extended CONNECT over
    /// HTTP/2, RFC 9220 over HTTP/3): it starts Open at `now`, with what
    /// `negotiated` says was agreed. See the [module docs](crate::upgraded)
    /// for leftover bytes: feed them to `handle_input` first.
    ///
    /// `entropy` supplies the masking keys of a client (required:
    /// [`UsageError::EntropyRequired`] without it); a server ignores it.
    /// With permessage-deflate in `negotiated`, `config.deflate` must be set
    /// ([`UsageError::DeflateNotConfigured`]), since it holds the
    /// compression level.
    ///
    /// ```
    /// use hybi::{Config, Connection, Event, Instant, Negotiated, Role, State};
    ///
    /// let mut conn = Connection::from_upgraded(
    ///     Role::Server, Config::default(), Negotiated::new().subprotocol("chat"), None, Instant::ZERO,
    /// ).unwrap();
    /// assert_eq!(conn.state(), State::Open);
    /// assert_eq!(conn.subprotocol(), Some("chat"));
    /// // A masked text frame "Hello" (RFC 6455 §5.7), as leftover bytes.
    /// let mut leftover = *b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    /// let input = conn.handle_input(&mut leftover, Instant::ZERO);
    /// let Some(Event::Data(data)) = input.event else { panic!() };
    /// assert_eq!(data.payload, b"Hello");
    /// ```
    pub fn from_upgraded(
        role: Role,
        config: Config,
        negotiated: Negotiated,
        entropy: Option<Box<dyn Entropy + Send>>,
        now: Instant,
    ) -> Result<Self, UsageError> {
        let entropy = match role {
            Role::Client => Some(entropy.ok_or(UsageError::EntropyRequired)?),
            Role::Server => None,
        };
        #[cfg(feature = "deflate")]
        if negotiated.deflate.is_some() && config.deflate.is_none() {
            return Err(UsageError::DeflateNotConfigured);
        }
        let mut connection = Connection::new(role, config, Phase::Open, entropy, Vec::new());
        connection.now = now;
        connection.keep_subprotocol(Vec::new(), negotiated.subprotocol.as_deref());
        #[cfg(feature = "deflate")]
        if let Some(params) = negotiated.deflate {
            connection.enable_deflate(params);
        }
        // As after a handshake: idle and keepalive from `now`.
        connection.on_open();
        Ok(connection)
    }
}
