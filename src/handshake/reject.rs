//! Answers that refuse a handshake: the application's own rejection
//! (RFC 6455 §4.2.2 steps 2-4: 401, 3xx, 403, 404, ...) and the automatic
//! answer to a request that broke a rule of §4.2.1.

use crate::buffer::Sink;

use super::decision::Reject;
use super::tokens::{is_valid_header, push_decimal, push_header};
use crate::error::{ProtocolError, UsageError};

/// Appends the answer a [`Reject`] describes (see [`write_reject`]);
/// [`UsageError::TooManyHeaders`] if it was given more headers than it
/// holds without a heap.
pub(crate) fn write_rejection(out: &mut impl Sink, reject: &Reject<'_>) -> Result<(), UsageError> {
    if reject.headers.overflowed() {
        return Err(UsageError::TooManyHeaders);
    }
    write_reject(out, reject.status, reject.headers.as_slice(), reject.body)
}

/// Appends a rejection: `HTTP/1.1 {status} {reason}`, the caller's headers,
/// `Content-Length` and `Connection: close` unless the caller set them, the
/// empty line and `body`.
///
/// RFC 6455 §4.2.2 names the cases (401 with `WWW-Authenticate`, 3xx
/// redirects, 403 for an unwanted origin, 404 for an unknown resource). A
/// status outside 200..=599 is refused with [`UsageError::InvalidStatus`]
/// (a 1xx cannot end a handshake), and so is a body on a 204 or 304, which
/// HTTP forbids; a bad header line with [`UsageError::InvalidHeader`]. On
/// error `out` is untouched.
pub(crate) fn write_reject(
    out: &mut impl Sink,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), UsageError> {
    if !(200..=599).contains(&status) {
        return Err(UsageError::InvalidStatus);
    }
    // RFC 9110 §6.4.1: "All 1xx (Informational), 204 (No Content), and 304
    // (Not Modified) responses do not include content."
    if matches!(status, 204 | 304) && !body.is_empty() {
        return Err(UsageError::InvalidStatus);
    }
    if headers.iter().any(|&(n, v)| !is_valid_header(n, v)) {
        return Err(UsageError::InvalidHeader);
    }
    emit_response(out, status, headers, body);
    Ok(())
}

/// Writes a response whose status and headers are known to be valid.
fn emit_response(out: &mut impl Sink, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    out.put(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.put(b" ");
    out.put(reason_phrase(status).as_bytes());
    out.put(b"\r\n");
    for &(name, value) in headers {
        push_header(out, name, value.as_bytes());
    }
    // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in
    // any response with a status code of 1xx (Informational) or 204 (No
    // Content)"; and not alongside Transfer-Encoding (RFC 9112 §6.2).
    if !has("content-length") && !has("transfer-encoding") && !matches!(status, 204 | 304) {
        out.put(b"Content-Length: ");
        push_decimal(out, body.len() as u64);
        out.put(b"\r\n");
    }
    // The handshake failed, so the connection has no further use.
    if !has("connection") {
        push_header(out, "Connection", b"close");
    }
    out.put(b"\r\n");
    out.put(body);
}

/// Appends the automatic answer to a request that failed validation: the
/// status of [`ProtocolError::http_status`] (400 if it has none), and
/// [`ProtocolError::as_str`] as a plain-text body, so a human debugging with
/// curl sees which rule was broken.
///
/// For [`ProtocolError::UnsupportedVersion`] the answer carries
/// `Sec-WebSocket-Version: 13` (RFC 6455 §4.4: the server "MUST respond with
/// a |Sec-WebSocket-Version| header field ... containing all versions it is
/// willing to use"); for 405, `Allow: GET` (RFC 9110 §15.5.6: "The origin
/// server MUST generate an Allow header field in a 405 response").
pub(crate) fn write_error_response(out: &mut impl Sink, err: ProtocolError) {
    let status = err.http_status().unwrap_or(400);
    let mut headers: [(&str, &str); 4] = [("Content-Type", "text/plain; charset=utf-8"); 4];
    let mut n = 1;
    if err == ProtocolError::UnsupportedVersion {
        // RFC 6455 §4.2.2 /version/: "send an appropriate HTTP error code (such
        // as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field
        // indicating the version(s) the server is capable of understanding."
        headers[1] = ("Sec-WebSocket-Version", "13");
        // RFC 9110 §15.5.22: "The server MUST send an Upgrade header field in a
        // 426 response to indicate the required protocol(s)"; RFC 9110 §7.8:
        // "A sender of Upgrade MUST also send an "Upgrade" connection option".
        headers[2] = ("Upgrade", "websocket");
        headers[3] = ("Connection", "Upgrade, close");
        n = 4;
    } else if status == 405 {
        headers[1] = ("Allow", "GET");
        n = 2;
    }
    emit_response(
        out,
        status,
        headers.get(..n).unwrap_or(&[]),
        err.as_str().as_bytes(),
    );
}

/// The reason phrase registered for `status` (RFC 9110 §15, RFC 6585), or
/// "Error" for an unregistered code. Only a courtesy to humans: clients
/// must not act on it (RFC 9112 §4).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "Error",
    }
}
