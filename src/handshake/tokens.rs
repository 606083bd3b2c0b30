//! Small HTTP helpers shared by both roles: offsets into a head, token and
//! field checks, comma-separated lists, and the bytes of a header line.

pub(super) use super::accept::trim_ows;
use crate::buffer::Sink;

/// A byte range of a head, stored instead of a reference so the parse result
/// and the bytes it describes can live side by side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The span of `sub` inside `head`, or `None` if `sub` is not a subslice
    /// of `head` (httparse hands back a static "" for some empty fields).
    ///
    /// Pointer arithmetic on addresses only, in safe code: the result is
    /// checked against `head` before it is ever used.
    pub(super) fn of(head: &[u8], sub: &[u8]) -> Option<Span> {
        if sub.is_empty() {
            return Some(Span::default());
        }
        let start = (sub.as_ptr() as usize).checked_sub(head.as_ptr() as usize)?;
        let end = start.checked_add(sub.len())?;
        if end > head.len() {
            return None;
        }
        Some(Span { start, end })
    }

    /// A span given by offsets `start..end` relative to this one.
    pub(super) fn sub(self, start: usize, end: usize) -> Span {
        let s = self.start.saturating_add(start).min(self.end);
        let e = self.start.saturating_add(end).min(self.end).max(s);
        Span { start: s, end: e }
    }

    /// The offsets it covers.
    pub(crate) fn range(self) -> core::ops::Range<usize> {
        self.start..self.end
    }

    /// The bytes this span covers (empty if it does not fit `head`, which
    /// cannot happen when `head` is the buffer it was built from).
    pub(super) fn bytes(self, head: &[u8]) -> &[u8] {
        head.get(self.start..self.end).unwrap_or(&[])
    }

    /// The text this span covers, or "" if it is not UTF-8 (the parsers
    /// check UTF-8 wherever they promise text, so that is not reached).
    pub(super) fn str(self, head: &[u8]) -> &str {
        core::str::from_utf8(self.bytes(head)).unwrap_or("")
    }

    /// The same span without leading and trailing spaces and tabs.
    pub(super) fn trimmed(self, head: &[u8]) -> Span {
        let full = self.bytes(head);
        let inner = trim_ows(full);
        match Span::of(head, inner) {
            Some(s) if !inner.is_empty() => s,
            _ => Span {
                start: self.start,
                end: self.start,
            },
        }
    }
}

/// Shows an iterator's items as a list in `Debug` output, without
/// collecting them (no heap needed).
pub(super) struct DebugIter<F>(pub(super) F);

impl<F, I> core::fmt::Debug for DebugIter<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries((self.0)()).finish()
    }
}

/// One header line of a parsed head, as offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderSpan {
    pub(super) name: Span,
    pub(super) value: Span,
}

impl HeaderSpan {
    /// Whether this header's name is `name`, compared case-insensitively
    /// (RFC 6455 §4.1: "all header field names in both HTTP requests and HTTP
    /// responses are case-insensitive").
    pub(super) fn is(&self, head: &[u8], name: &str) -> bool {
        self.name.bytes(head).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Header slots kept on the stack: the default `max_headers`. A larger
/// configured limit takes a heap array (with `alloc`), or is held to this
/// many (without it).
pub(crate) const STACK_HEADER_SLOTS: usize = 64;

/// Runs `parse` with httparse header slots: `max_headers` of them, but never
/// more than `head` could hold (a header line is at least 3 bytes, `a:\n`),
/// so a configured "no limit" such as `usize::MAX` cannot make the
/// allocation fail, and a head within `max_headers` is never reported as too
/// many. Up to [`STACK_HEADER_SLOTS`] live on the stack, so the common case
/// allocates nothing.
pub(super) fn with_header_slots<'h, R>(
    head: &'h [u8],
    max_headers: usize,
    parse: impl FnOnce(&mut [httparse::Header<'h>]) -> R,
) -> R {
    let wanted = max_headers.min(head.len() / 3 + 1);
    #[cfg(feature = "alloc")]
    if wanted > STACK_HEADER_SLOTS {
        let mut slots = alloc::vec![httparse::EMPTY_HEADER; wanted];
        return parse(&mut slots);
    }
    let mut slots = [httparse::EMPTY_HEADER; STACK_HEADER_SLOTS];
    let n = wanted.min(STACK_HEADER_SLOTS);
    parse(slots.get_mut(..n).unwrap_or(&mut []))
}

/// The header lines of a complete head that httparse accepted, in order,
/// as offsets: names as sent, values without surrounding spaces and tabs.
///
/// Scanning the head again when asked, rather than keeping httparse's list,
/// costs one pass over a few hundred bytes and keeps a parsed head free of
/// any allocation (the no-allocator storage needs that). Only ever used on a
/// head httparse accepted, where every line after the start line is
/// `name ":" OWS value OWS` ending in LF or CRLF.
pub(crate) fn header_lines(head: &[u8]) -> HeaderLines<'_> {
    // RFC 9112 §2.2: empty lines before the start line are skipped (as the
    // head reader and httparse do); then the start line itself.
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let pos = head
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(head.len(), |nl| start + nl + 1);
    HeaderLines { head, pos }
}

/// See [`header_lines`].
#[derive(Debug, Clone)]
pub(crate) struct HeaderLines<'h> {
    head: &'h [u8],
    pos: usize,
}

impl Iterator for HeaderLines<'_> {
    type Item = HeaderSpan;

    fn next(&mut self) -> Option<HeaderSpan> {
        let rest = self.head.get(self.pos..)?;
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let start = self.pos;
        let mut end = start + nl;
        self.pos = end + 1;
        if end > start && self.head.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line = self.head.get(start..end).unwrap_or(&[]);
        // The empty line ends the head.
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            self.pos = self.head.len();
            return None;
        };
        let value = Span {
            start: start + colon + 1,
            end,
        };
        Some(HeaderSpan {
            name: Span {
                start,
                end: start + colon,
            },
            value: value.trimmed(self.head),
        })
    }
}

pub(crate) use crate::token::is_token;

/// A field value we are willing to send: no control characters other than
/// HTAB (RFC 7230 §3.2: `field-vchar = VCHAR / obs-text`, with SP and HTAB
/// between). CR, LF and NUL are the ones that matter: they would let a
/// caller inject header lines or end the head early.
pub(super) fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Checks an application-supplied header line before it is written.
pub(super) fn is_valid_header(name: &str, value: &str) -> bool {
    is_token(name.as_bytes()) && is_field_value(value.as_bytes())
}

/// Whether a comma-separated header value holds `token`, compared
/// case-insensitively (for `Upgrade` and `Connection`, whose values are
/// token lists).
pub(super) fn list_has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| trim_ows(item).eq_ignore_ascii_case(token.as_bytes()))
}

/// Elements of an HTTP comma-separated list (RFC 7230 §7 `#rule`), trimmed,
/// with empty elements skipped ("a recipient MUST accept and ignore a
/// reasonable number of empty list elements"). A comma inside a
/// quoted-string does not split (extension parameters may be quoted, RFC
/// 6455 §9.1); an unterminated quote runs to the end. Linear in the input.
#[derive(Debug, Clone)]
pub(super) struct ListItems<'a> {
    rest: &'a str,
}

impl<'a> ListItems<'a> {
    pub(super) fn new(value: &'a str) -> Self {
        ListItems { rest: value }
    }
}

impl<'a> Iterator for ListItems<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while !self.rest.is_empty() {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = self.rest.len();
            for (i, b) in self.rest.bytes().enumerate() {
                if in_quotes {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_quotes = false;
                    }
                } else if b == b'"' {
                    in_quotes = true;
                } else if b == b',' {
                    end = i;
                    break;
                }
            }
            // ',' is ASCII, so both cuts are on character boundaries.
            let item = self.rest.get(..end).unwrap_or("");
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            let item = item.trim_matches([' ', '\t']);
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// The extension name of one `Sec-WebSocket-Extensions` element: the token
/// before the first ';' (RFC 6455 §9.1: `extension = extension-token *( ";"
/// extension-param )`), trimmed.
pub(super) fn extension_name(entry: &str) -> &str {
    let name = entry.split(';').next().unwrap_or("");
    name.trim_matches([' ', '\t'])
}

/// Appends `name: value\r\n`.
pub(super) fn push_header(out: &mut impl Sink, name: &str, value: &[u8]) {
    out.put(name.as_bytes());
    out.put(b": ");
    out.put(value);
    out.put(b"\r\n");
}

/// Appends the decimal form of `n` (no allocation, no formatting machinery).
pub(super) fn push_decimal(out: &mut impl Sink, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put(digits.get(i..).unwrap_or(&[]));
}

/// Parses a decimal number made of ASCII digits only, `None` on anything
/// else or on overflow.
pub(super) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}
