//! A server's answer to an upgrade request, as one value: [`Decision`],
//! either an [`Accept`] (the 101) or a [`Reject`] (any status from 200 to
//! 599, with headers and a body: a 401, a redirect, or the page a plain
//! HTTP request asked for).
//!
//! Every adapter's accept hook returns a `Decision`, and
//! `Connection::decide` applies one, so the std, tokio and embedded
//! adapters share one vocabulary. A `Decision` borrows its strings (a
//! `&'static str` body, a header built before the call) and needs no heap:
//! without `alloc` its header list holds up to
//! [`HeaderList::MAX_WITHOUT_ALLOC`] entries.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use super::server::Accept;

/// Extra header lines of an answer, in order: a `Vec` with a heap, a few
/// fixed slots without one (adding past them is remembered, and the answer
/// is then refused with `UsageError::TooManyHeaders` rather than cut).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderList<'a> {
    #[cfg(feature = "alloc")]
    list: Vec<(&'a str, &'a str)>,
    #[cfg(not(feature = "alloc"))]
    list: (
        [(&'a str, &'a str); HeaderList::MAX_WITHOUT_ALLOC],
        usize,
        bool,
    ),
}

impl<'a> HeaderList<'a> {
    /// Header slots in a build without `alloc`.
    pub(crate) const MAX_WITHOUT_ALLOC: usize = 8;

    pub(crate) fn push(&mut self, name: &'a str, value: &'a str) {
        #[cfg(feature = "alloc")]
        self.list.push((name, value));
        #[cfg(not(feature = "alloc"))]
        {
            let (slots, used, overflow) = &mut self.list;
            match slots.get_mut(*used) {
                Some(slot) => {
                    *slot = (name, value);
                    *used += 1;
                }
                None => *overflow = true,
            }
        }
    }

    /// The headers added, in order.
    pub(crate) fn as_slice(&self) -> &[(&'a str, &'a str)] {
        #[cfg(feature = "alloc")]
        return &self.list;
        #[cfg(not(feature = "alloc"))]
        return self.list.0.get(..self.list.1).unwrap_or(&[]);
    }

    /// Whether headers were added past what it can hold.
    pub(crate) fn overflowed(&self) -> bool {
        #[cfg(feature = "alloc")]
        return false;
        #[cfg(not(feature = "alloc"))]
        return self.list.2;
    }
}

/// A refusal of an upgrade request, or the answer to a plain HTTP request:
/// a status from 200 to 599, extra headers and a body. `Content-Length` and
/// `Connection: close` are added unless set here.
///
/// ```
/// use hybi::handshake::Reject;
/// let redirect = Reject::new(302).header("Location", "/login");
/// let page = Reject::new(200).content_type("text/html").body(b"<p>hi</p>");
/// # let _ = (redirect, page);
/// ```
#[derive(Debug, Clone)]
pub struct Reject<'a> {
    pub(crate) status: u16,
    pub(crate) headers: HeaderList<'a>,
    pub(crate) body: &'a [u8],
}

impl<'a> Reject<'a> {
    /// How many headers a `Reject` holds in a build without `alloc`
    /// (`Content-Type` included); the answer is refused with
    /// `UsageError::TooManyHeaders` past it.
    pub const MAX_HEADERS_WITHOUT_ALLOC: usize = HeaderList::MAX_WITHOUT_ALLOC;

    /// A response with `status`, no extra header and an empty body. The
    /// status is checked when the answer is written (200..=599; no body on
    /// 204 and 304).
    pub fn new(status: u16) -> Self {
        Reject {
            status,
            headers: HeaderList::default(),
            body: &[],
        }
    }

    /// Adds a header line (an HTTP token name; no CR, LF or other control
    /// characters in either part, or the answer is refused).
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Adds `Content-Type: {content_type}`.
    pub fn content_type(self, content_type: &'a str) -> Self {
        self.header("Content-Type", content_type)
    }

    /// The body.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// A server's answer to an upgrade request (or to a plain HTTP request,
/// with `Config::plain_http_requests`), returned by the adapters' accept
/// hooks and applied by `Connection::decide`.
///
/// ```
/// use hybi::handshake::{Accept, Decision, Request};
///
/// fn route(request: &Request<'_>) -> Decision<'static> {
///     match request.path() {
///         "/ws" if request.offers_subprotocol("chat") => Accept::new().subprotocol("chat").into(),
///         "/ws" => Decision::accept(),
///         "/" => Decision::respond(200, "text/html; charset=utf-8", b"<h1>hello</h1>"),
///         _ => Decision::reject(404, "no such room"),
///     }
/// }
/// # let _ = route;
/// ```
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    /// Upgrade: the 101 answer.
    Accept(Accept<'a>),
    /// Refuse (or answer a plain request); the connection then closes.
    Reject(Reject<'a>),
}

impl<'a> Decision<'a> {
    /// Accept with no subprotocol and no extra header.
    pub fn accept() -> Self {
        Decision::Accept(Accept::new())
    }

    /// Refuse with `status` and a plain-text body.
    pub fn reject(status: u16, text: &'a str) -> Self {
        Decision::Reject(
            Reject::new(status)
                .content_type("text/plain; charset=utf-8")
                .body(text.as_bytes()),
        )
    }

    /// Answer with `status`, a `Content-Type` and a body: a page, a file,
    /// a redirect's explanation. On the wire the same as a rejection; the
    /// name says what it is for.
    pub fn respond(status: u16, content_type: &'a str, body: &'a [u8]) -> Self {
        Decision::Reject(Reject::new(status).content_type(content_type).body(body))
    }
}

impl<'a> From<Accept<'a>> for Decision<'a> {
    fn from(accept: Accept<'a>) -> Self {
        Decision::Accept(accept)
    }
}

impl<'a> From<Reject<'a>> for Decision<'a> {
    fn from(reject: Reject<'a>) -> Self {
        Decision::Reject(reject)
    }
}
