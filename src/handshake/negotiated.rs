//! What the handshake layer needs from the outside, and what it hands on:
//! [`Settings`] (limits and the permessage-deflate configuration) in,
//! [`Negotiated`] (the agreed subprotocol and extension) out.
//!
//! Both belong to the handshake, not to the engine, so the helpers for
//! handshakes done elsewhere ([`http`](super::http), [`h2`](super::h2)) can
//! be used without a [`Connection`](crate::Connection), and the engine's
//! `Config` converts to `Settings` rather than being imported here
//! (`Config::handshake_settings`).

use alloc::string::String;
use core::marker::PhantomData;

#[cfg(feature = "deflate")]
use crate::extensions::deflate::{DeflateConfig, DeflateParams};

/// The limits and extension configuration a handshake helper applies.
///
/// `Config::handshake_settings()` gives the ones a connection uses, so a
/// handshake checked by [`http::upgrade_request`](super::http::upgrade_request)
/// or [`h2::ConnectRequest::accept`](super::h2::ConnectRequest::accept)
/// follows the same rules as one the engine reads from a socket.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub(crate) max_size: usize,
    pub(crate) max_headers: usize,
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<&'a DeflateConfig>,
    lifetime: PhantomData<&'a ()>,
}

impl<'a> Settings<'a> {
    /// The defaults of `Config`: a 16 KiB head, 64 header lines, no
    /// permessage-deflate.
    pub const fn new() -> Self {
        Settings {
            max_size: 16 * 1024,
            max_headers: 64,
            #[cfg(feature = "deflate")]
            deflate: None,
            lifetime: PhantomData,
        }
    }

    /// The longest request head accepted, in bytes (431 beyond it).
    pub const fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The most header lines accepted (431 beyond it).
    pub const fn max_headers(mut self, lines: usize) -> Self {
        self.max_headers = lines;
        self
    }

    /// permessage-deflate as this endpoint configures it: negotiated in the
    /// answer when the peer offers it.
    #[cfg(feature = "deflate")]
    pub const fn deflate(mut self, deflate: Option<&'a DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// What an opening handshake done elsewhere agreed: a subprotocol and, with
/// `deflate`, permessage-deflate parameters. Empty by default (no
/// subprotocol, no extension).
///
/// ```
/// # use hybi::Negotiated;
/// let negotiated = Negotiated::new().with_subprotocol("chat");
/// assert_eq!(negotiated.subprotocol(), Some("chat"));
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

    /// With the subprotocol the server chose (the `Sec-WebSocket-Protocol`
    /// of its answer).
    pub fn with_subprotocol(mut self, subprotocol: &str) -> Self {
        self.subprotocol = Some(String::from(subprotocol));
        self
    }

    /// With permessage-deflate as agreed, from this endpoint's point of
    /// view (from [`DeflateConfig::negotiate`] on a server,
    /// [`DeflateConfig::verify_answer`] on a client). The same
    /// `DeflateConfig` must be in `Config::deflate`.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: DeflateParams) -> Self {
        self.deflate = Some(params);
        self
    }

    /// The agreed subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The agreed permessage-deflate parameters, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }
}
