//! An axum extractor that upgrades a request to a hybi WebSocket (feature
//! `axum`): the shape of `axum::extract::ws::WebSocketUpgrade`, with hybi's
//! handshake, engine and tokio adapter behind it.
//!
//! ```no_run
//! use axum::response::Response;
//! use axum::routing::any;
//! use axum::Router;
//! use hybi::io::axum::{WebSocket, WebSocketUpgrade};
//! use hybi::io::Message;
//! use hybi::{Config, DeflateConfig};
//!
//! async fn handler(ws: WebSocketUpgrade) -> Response {
//!     let mut config = Config::default();
//!     config.deflate = Some(DeflateConfig::default());
//!     ws.protocols(["chat"])
//!         .config(config)
//!         .on_upgrade(|socket| echo(socket))
//! }
//!
//! async fn echo(mut socket: WebSocket) {
//!     while let Some(Ok(message)) = socket.next().await {
//!         if let Message::Text(_) | Message::Binary(_) = message {
//!             if socket.send(message).await.is_err() {
//!                 return;
//!             }
//!         }
//!     }
//! }
//!
//! # async fn run() {
//! // `any`: HTTP/1.1 upgrades are GET, HTTP/2 ones (RFC 8441) CONNECT.
//! let app: Router = Router::new().route("/ws", any(handler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
//!
//! # How it works, and why
//!
//! * **One handshake, the engine's.** The extractor checks the request with
//!   the same code the engine runs on bytes from a socket
//!   ([`upgrade_request`], RFC 6455 §4.2.1), and a request that is not a
//!   valid upgrade is refused with the engine's own answer
//!   ([`upgrade_error_response`]: 426 with `Sec-WebSocket-Version: 13` for
//!   a version mismatch, 405, 400, 431) through [`UpgradeRejection`].
//!   [`on_upgrade`](WebSocketUpgrade::on_upgrade) builds the 101 with
//!   [`UpgradeRequest::accept`]: `Sec-WebSocket-Accept`, the subprotocol,
//!   and permessage-deflate negotiated from
//!   [`Config::deflate`](crate::Config::deflate); an HTTP/1.1 request is
//!   checked again with the handshake limits of the [`Config`] given
//!   (size, header count); an HTTP/2 request's header list is held to the
//!   same limits ([`ConnectRequest::check_limits`](crate::handshake::h2::ConnectRequest::check_limits)).
//!   Both are checked after hyper has read the head within its own bounds.
//! * **HTTP/2 too.** axum 0.8 serves WebSockets over HTTP/2 as extended
//!   CONNECT (RFC 8441): `axum::serve` turns on
//!   `SETTINGS_ENABLE_CONNECT_PROTOCOL` (with axum's `http2` feature) and
//!   hyper hands the `:protocol` pseudo-header over as
//!   `hyper::ext::Protocol`. An HTTP/2 request goes through
//!   [`connect_request`] and [`ConnectRequest::accept`](crate::handshake::h2::ConnectRequest::accept)
//!   instead, and is answered with a 200 (no `Sec-WebSocket-Accept`); a
//!   refusal is [`connect_error_response`]. Route the handler with `any`
//!   (or `get(..).connect(..)`) so both methods reach it.
//! * **The socket is hybi's tokio adapter**:
//!   [`WebSocket`] is a [`WebSocketStream`] over hyper's upgraded
//!   connection (`TokioIo<Upgraded>`), built with
//!   [`WebSocketStream::from_upgraded`] from what the handshake agreed and
//!   the [`Config`] given (frame and message limits, buffered output,
//!   keepalive, close deadline). Its
//!   [`request()`](WebSocketStream::request) is the request accepted
//!   (target, headers, offered subprotocols), as for
//!   [`WebSocketStream::accept_with`].
//! * **Upgrade failures** (hyper could not hand the connection over, the
//!   client left first) happen after the answer, in the task that runs the
//!   callback; they go to [`on_failed_upgrade`](WebSocketUpgrade::on_failed_upgrade),
//!   ignored by default, as axum's are.
//!
//! Compared with axum's own extractor: the callback gets hybi's
//! `WebSocketStream` (Stream + Sink, `next`/`send`, `split`, backpressure),
//! limits and deadlines come from one [`Config`], and the checks are
//! hybi's (axum's own answers a bad request with its own rejection texts).
//!
//! [`upgrade_request`]: crate::handshake::http::upgrade_request
//! [`upgrade_error_response`]: crate::handshake::http::upgrade_error_response
//! [`UpgradeRequest::accept`]: crate::handshake::http::UpgradeRequest::accept
//! [`connect_request`]: crate::handshake::http::connect_request
//! [`connect_error_response`]: crate::handshake::http::connect_error_response

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::http::request::Parts;
use ::axum::http::{Request as HttpRequest, StatusCode, Version};
use ::axum::response::{IntoResponse, Response};
use ::hyper::upgrade::{OnUpgrade, Upgraded};
use ::hyper_util::rt::TokioIo;

use super::tokio::WebSocketStream;
use super::{Error, HandshakeRequest};
use crate::config::Config;
use crate::connection::Role;
use crate::error::ProtocolError;
use crate::handshake::h2::ConnectError;
use crate::handshake::http::{
    connect_error_response, connect_request, connect_response, upgrade_error_response,
    upgrade_request,
};
use crate::handshake::{Accept, Negotiated};

/// The WebSocket an upgrade hands to the callback: hybi's tokio adapter over
/// hyper's upgraded connection.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Extractor for a WebSocket upgrade, over HTTP/1.1 (`GET` with
/// `Upgrade: websocket`) or HTTP/2 (extended `CONNECT`, RFC 8441). See the
/// [module docs](self).
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    /// The request head (no body, no extensions), checked again with the
    /// final `Config`'s limits when answering.
    head: HttpRequest<()>,
    /// HTTP/2: the `:protocol` pseudo-header.
    protocol: Option<String>,
    /// The request as the engine's checks read it, for `request()`.
    request: HandshakeRequest,
    /// The server's subprotocols, in its order of preference.
    protocols: Vec<Cow<'static, str>>,
    config: Config,
    on_upgrade: OnUpgrade,
    on_failed_upgrade: F,
}

impl<F> fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("version", &self.head.version())
            .field("uri", self.head.uri())
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl<F> WebSocketUpgrade<F> {
    /// The subprotocols this server speaks, in its order of preference: the
    /// first one the client offered is agreed (RFC 6455 §4.2.2), none if it
    /// offered none of them.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The connection's configuration: permessage-deflate
    /// ([`Config::deflate`](crate::Config::deflate)), the handshake limits
    /// the request is checked against, and the frame, message, output
    /// limits and deadlines of the connection. By default
    /// `Config::default()` (no compression).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The request being upgraded: target, headers, and the subprotocols
    /// the client offered (to choose from, or to refuse it by returning
    /// another response instead of calling
    /// [`on_upgrade`](Self::on_upgrade)).
    pub fn request(&self) -> &HandshakeRequest {
        &self.request
    }

    /// Calls `callback` with the error when the upgrade fails after the
    /// answer was sent (hyper could not hand the connection over, or the
    /// connection could not be set up); by default such errors are ignored.
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            head: self.head,
            protocol: self.protocol,
            request: self.request,
            protocols: self.protocols,
            config: self.config,
            on_upgrade: self.on_upgrade,
            on_failed_upgrade: callback,
        }
    }

    /// Answers the upgrade and, once hyper has handed the connection over,
    /// runs `callback` with the [`WebSocket`] in a task of its own. Return
    /// the response from the handler: a 101 (HTTP/1.1) or 200 (HTTP/2)
    /// with what was agreed, or the engine's refusal if the request fails
    /// the [`config`](Self::config)'s handshake limits.
    #[must_use = "the upgrade happens only once this response is sent"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let (response, negotiated) = match self.answer() {
            Ok(answer) => answer,
            Err(rejection) => return rejection.into_response(),
        };
        let WebSocketUpgrade {
            request,
            config,
            on_upgrade,
            on_failed_upgrade,
            ..
        } = self;
        ::tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    on_failed_upgrade.call(Error::Io(std::io::Error::other(error)));
                    return;
                }
            };
            let io = TokioIo::new(upgraded);
            // hyper's `Upgraded` replays any bytes it read past the
            // request, so there are no leftover bytes to pass.
            match WebSocketStream::from_upgraded(io, Role::Server, config, negotiated, &[]) {
                Ok(mut socket) => {
                    socket.keep_request(request);
                    callback(socket).await;
                }
                Err(error) => on_failed_upgrade.call(error),
            }
        });
        response
    }

    /// The answer and what it agreed, with the final `Config`.
    fn answer(&self) -> Result<(Response, Negotiated), UpgradeRejection> {
        let settings = self.config.handshake_settings();
        if self.head.version() >= Version::HTTP_2 {
            let connect = connect_request(&self.head, self.protocol.as_deref())
                .map_err(UpgradeRejection::Connect)?;
            connect
                .check_limits(settings)
                .map_err(UpgradeRejection::Connect)?;
            let chosen = self.chosen(|p| connect.offers_subprotocol(p));
            let accept = chosen.map_or_else(Accept::new, |p| Accept::new().subprotocol(p));
            let answer = connect
                .accept(&accept, settings)
                .map_err(|_| UpgradeRejection::Internal)?;
            let response = connect_response(&answer).map(|()| Body::empty());
            return Ok((response, answer.into_negotiated()));
        }
        let upgrade = upgrade_request(&self.head, settings).map_err(UpgradeRejection::Upgrade)?;
        let view = upgrade.request();
        let chosen = self.chosen(|p| view.offers_subprotocol(p));
        let accept = chosen.map_or_else(Accept::new, |p| Accept::new().subprotocol(p));
        let (response, negotiated) = upgrade
            .accept(&accept, settings)
            .map_err(|_| UpgradeRejection::Internal)?;
        Ok((response.map(|()| Body::empty()), negotiated))
    }

    /// The first of the server's subprotocols that `offered` says the
    /// client offered.
    fn chosen(&self, offered: impl Fn(&str) -> bool) -> Option<&str> {
        self.protocols
            .iter()
            .map(|p| p.as_ref())
            .find(|p| offered(p))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut head = HttpRequest::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        let config = Config::default();
        let (protocol, request) = if parts.version >= Version::HTTP_2 {
            // RFC 8441 §4: the `:protocol` pseudo-header, which hyper keeps
            // as a request extension.
            let protocol = parts
                .extensions
                .get::<::hyper::ext::Protocol>()
                .map(|p| p.as_str().to_string());
            let connect =
                connect_request(&head, protocol.as_deref()).map_err(UpgradeRejection::Connect)?;
            let request = HandshakeRequest {
                target: connect.target().to_string(),
                headers: connect
                    .headers()
                    .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
                    .collect(),
                subprotocols: connect.subprotocols().map(String::from).collect(),
            };
            (protocol, request)
        } else {
            let upgrade = upgrade_request(&head, config.handshake_settings())
                .map_err(UpgradeRejection::Upgrade)?;
            (None, HandshakeRequest::from_request(&upgrade.request()))
        };
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeRejection::NotUpgradable)?;
        Ok(WebSocketUpgrade {
            head,
            protocol,
            request,
            protocols: Vec::new(),
            config,
            on_upgrade,
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

/// What to do when an upgrade fails after its answer; see
/// [`WebSocketUpgrade::on_failed_upgrade`].
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the error.
    fn call(self, error: Error);
}

impl<F: FnOnce(Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: ignores the error.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}

/// Why a request was not upgraded; as a response, the answer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeRejection {
    /// HTTP/1.1: not a valid WebSocket upgrade (RFC 6455 §4.2.1), or over
    /// the configured handshake limits. Answered as the engine answers it
    /// ([`upgrade_error_response`]).
    Upgrade(ProtocolError),
    /// HTTP/2: not a valid extended CONNECT for a WebSocket (RFC 8441).
    /// Answered with [`connect_error_response`].
    Connect(ConnectError),
    /// A valid request that hyper gave no upgrade handle for: the server
    /// does not run the connection with upgrades, or another extractor
    /// took the handle. A fault of the server: 500.
    NotUpgradable,
    /// The answer could not be built (a subprotocol name that is not a
    /// valid header value). A fault of the server: 500.
    Internal,
}

impl fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeRejection::Upgrade(error) => write!(f, "not a WebSocket upgrade: {error}"),
            UpgradeRejection::Connect(error) => {
                write!(f, "not a WebSocket extended CONNECT: {error}")
            }
            UpgradeRejection::NotUpgradable => {
                f.write_str("the connection cannot be upgraded (no upgrade handle)")
            }
            UpgradeRejection::Internal => f.write_str("the upgrade answer could not be built"),
        }
    }
}

impl std::error::Error for UpgradeRejection {}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        match self {
            UpgradeRejection::Upgrade(error) => upgrade_error_response(error).into_response(),
            UpgradeRejection::Connect(error) => {
                connect_error_response(error).map(|()| Body::from(error.as_str()))
            }
            UpgradeRejection::NotUpgradable | UpgradeRejection::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
            }
        }
    }
}
