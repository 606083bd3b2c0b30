//! Conversions between the `http` crate's types and the handshake helpers
//! (feature `http`), for servers on hyper, axum, h2 or anything else that
//! hands over an `http::Request`.
//!
//! * HTTP/1.1 upgrade: [`upgrade_request`] runs the same checks as the
//!   engine's own handshake (RFC 6455 §4.2.1) on an `http::Request`, and
//!   [`UpgradeRequest::accept`] builds the 101 answer (the same bytes the
//!   engine would write, as an `http::Response<()>`) with the subprotocol
//!   and permessage-deflate negotiated as the engine does.
//!   [`upgrade_error_response`] is the engine's 4xx answer for a refusal.
//! * HTTP/2 extended CONNECT (RFC 8441): [`connect_request`] turns the
//!   request back into its header list for [`ConnectRequest::parse`], and
//!   [`connect_response`] / [`connect_error_response`] build the answers.
//!
//! Either way the result carries a [`Negotiated`] for
//! `Connection::from_upgraded_server` (or the adapters' `from_upgraded`) once the
//! library hands over the upgraded stream.
//!
//! The `:protocol` pseudo-header is not part of `http::Request`: HTTP/2
//! libraries keep it as a request extension of their own type
//! (`hyper::ext::Protocol`, `h2::ext::Protocol`), so the caller passes its
//! value: `req.extensions().get::<hyper::ext::Protocol>().map(|p| p.as_str())`.
//!
//! Cost: the HTTP/1.1 path copies the request head once (it is parsed by
//! the same code as bytes from a socket, so no rule is written twice).

use alloc::string::String;
use alloc::vec::Vec;

use http::header::{HeaderName, HeaderValue};
use http::{Request as HttpRequest, Response as HttpResponse, StatusCode, Version};

use super::h2::{ConnectError, ConnectRequest, ConnectResponse};
use super::negotiated::{Negotiated, Settings};
use super::reject::write_error_response;
use super::server::{parse_any_request, write_accept, Accept, ParsedRequest, Request};
use crate::error::{ProtocolError, UsageError};

/// A valid HTTP/1.1 WebSocket upgrade request, copied out of an
/// `http::Request`; [`request`](Self::request) is the same view the engine
/// gives in `Event::Request`.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    head: Vec<u8>,
    parsed: ParsedRequest,
}

/// Checks an HTTP/1.1 request as the engine checks one read from a socket
/// (RFC 6455 §4.2.1: GET, HTTP/1.1, Host, `Upgrade: websocket`,
/// `Connection: Upgrade`, a 16-byte key, version 13), with the limits of
/// `settings` (`config.handshake_settings()` for a connection's). The error's
/// [`http_status`](ProtocolError::http_status) is the status to answer;
/// [`upgrade_error_response`] builds that answer.
pub fn upgrade_request<B>(
    request: &HttpRequest<B>,
    settings: Settings<'_>,
) -> Result<UpgradeRequest, ProtocolError> {
    let version: &[u8] = match request.version() {
        Version::HTTP_11 => b"HTTP/1.1",
        Version::HTTP_10 | Version::HTTP_09 => b"HTTP/1.0",
        // An HTTP/2 or HTTP/3 WebSocket is an extended CONNECT.
        _ => return Err(ProtocolError::MalformedHttp),
    };
    let mut head = Vec::new();
    head.extend_from_slice(request.method().as_str().as_bytes());
    head.push(b' ');
    match request.uri().path_and_query() {
        Some(target) if request.uri().scheme().is_none() => {
            head.extend_from_slice(target.as_str().as_bytes());
        }
        _ => head.extend_from_slice(alloc::format!("{}", request.uri()).as_bytes()),
    }
    head.push(b' ');
    head.extend_from_slice(version);
    head.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    if head.len() > settings.max_size {
        return Err(ProtocolError::HandshakeTooLarge);
    }
    let parsed = parse_any_request(&head, settings.max_headers, false)?;
    Ok(UpgradeRequest { head, parsed })
}

impl UpgradeRequest {
    /// The request's view: path, host, origin, offered subprotocols and
    /// extensions, headers.
    pub fn request(&self) -> Request<'_> {
        Request::new(&self.head, &self.parsed)
    }

    /// Accepts: the 101 answer with `Sec-WebSocket-Accept`, the chosen
    /// subprotocol (which must have been offered), permessage-deflate
    /// negotiated with `settings`' deflate configuration and `accept`'s
    /// extra headers, and what was agreed. Send the answer, then pass the
    /// upgraded stream, the `Config` the settings came from and the
    /// [`Negotiated`] to `from_upgraded`.
    pub fn accept(
        &self,
        accept: &Accept<'_>,
        settings: Settings<'_>,
    ) -> Result<(HttpResponse<()>, Negotiated), UsageError> {
        let request = self.request();
        let mut negotiated = Negotiated::new();
        #[cfg(feature = "deflate")]
        let agreed = settings
            .deflate
            .and_then(|deflate| deflate.negotiate(request.extensions()));
        #[cfg(not(feature = "deflate"))]
        let _ = settings;
        #[cfg(feature = "deflate")]
        let accept = match &agreed {
            Some((params, element)) => {
                negotiated = negotiated.with_deflate(*params);
                accept.clone().header("Sec-WebSocket-Extensions", element)
            }
            None => accept.clone(),
        };
        #[cfg(not(feature = "deflate"))]
        let accept = accept.clone();
        if let Some(protocol) = accept.selected_subprotocol() {
            negotiated = negotiated.with_subprotocol(protocol);
        }
        let mut bytes = Vec::new();
        write_accept(&mut bytes, &request, &accept)?;
        let response = to_response(&bytes).ok_or(UsageError::InvalidHeader)?;
        Ok((response.map(|_| ()), negotiated))
    }
}

/// The engine's answer to a refused HTTP/1.1 upgrade: the error's status
/// (426 with `Sec-WebSocket-Version: 13` and `Upgrade: websocket` for a
/// version mismatch, 405 with `Allow: GET`, 400, 431), and its description
/// as a plain-text body.
pub fn upgrade_error_response(error: ProtocolError) -> HttpResponse<String> {
    let mut bytes = Vec::new();
    write_error_response(&mut bytes, error);
    to_response(&bytes).unwrap_or_else(|| {
        let mut response = HttpResponse::new(String::new());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    })
}

/// Parses a response the engine wrote back into an `http::Response`, body
/// included.
fn to_response(bytes: &[u8]) -> Option<HttpResponse<String>> {
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut slots);
    let httparse::Status::Complete(len) = parsed.parse(bytes).ok()? else {
        return None;
    };
    let body = core::str::from_utf8(bytes.get(len..)?).ok()?;
    let mut response = HttpResponse::new(String::from(body));
    *response.status_mut() = StatusCode::from_u16(parsed.code?).ok()?;
    for header in parsed.headers.iter() {
        // The length is hyper's (or the library's) to set for its framing.
        if header.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        response.headers_mut().append(
            HeaderName::from_bytes(header.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(header.value).ok()?,
        );
    }
    Some(response)
}

/// An HTTP/2 (or HTTP/3) request as its header list, checked as an RFC 8441
/// extended CONNECT; `protocol` is the `:protocol` pseudo-header, which the
/// HTTP library keeps as a request extension (see the module docs).
/// Header values that are not visible ASCII are left out of the view (the
/// request still has them): none of the fields read here may hold such
/// bytes.
pub fn connect_request<'a, B>(
    request: &'a HttpRequest<B>,
    protocol: Option<&'a str>,
) -> Result<ConnectRequest<'a>, ConnectError> {
    let uri = request.uri();
    let mut headers: Vec<(&'a str, &'a str)> = Vec::new();
    headers.push((":method", request.method().as_str()));
    if let Some(protocol) = protocol {
        headers.push((":protocol", protocol));
    }
    if let Some(scheme) = uri.scheme_str() {
        headers.push((":scheme", scheme));
    }
    if let Some(authority) = uri.authority() {
        headers.push((":authority", authority.as_str()));
    }
    if let Some(path) = uri.path_and_query() {
        headers.push((":path", path.as_str()));
    }
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            headers.push((name.as_str(), value));
        }
    }
    ConnectRequest::parse(headers)
}

/// The 200 answer of an accepted extended CONNECT as an `http::Response`
/// (`:status` becomes the status, the rest headers).
pub fn connect_response(answer: &ConnectResponse) -> HttpResponse<()> {
    let mut response = HttpResponse::new(());
    *response.status_mut() = StatusCode::OK;
    for (name, value) in answer.headers().filter(|(n, _)| !n.starts_with(':')) {
        // Both were checked when the answer was built.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The answer to a refused extended CONNECT: the error's status, with
/// `sec-websocket-version: 13` for a version mismatch.
pub fn connect_error_response(error: ConnectError) -> HttpResponse<()> {
    let mut response = HttpResponse::new(());
    *response.status_mut() =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    for &(name, value) in error.response_headers() {
        response.headers_mut().append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
