//! Collecting an HTTP head (request line or status line plus header lines)
//! from bytes that arrive in arbitrary pieces.
//!
//! The reader stops at the empty line that ends the head and never takes a
//! byte beyond it: what follows belongs to the WebSocket frames (or to a
//! rejection's body), not to the handshake.
//!
//! Cost is linear in the bytes fed, however they are split. Each byte is
//! examined once, with a two-bit carry of where the previous bytes left the
//! scan; the head is parsed (by httparse) only once, after it is complete.
//! Re-parsing the whole buffer on every read is quadratic when a peer sends a
//! large head one byte at a time, the denial of service of RUSTSEC-2023-0065.

use crate::buffer::Buffer;
use crate::error::ProtocolError;

/// Where the scan stands, carried from one `feed` to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Before the start line. Empty lines here are skipped, as httparse
    /// does (RFC 7230 §3.5: "a server that is expecting to receive and
    /// parse a request-line SHOULD ignore at least one empty line (CRLF)
    /// received prior to the request-line").
    Start,
    /// Inside a line.
    InLine,
    /// Just after a line feed: a line has ended.
    AfterLf,
    /// After a line feed and a carriage return: one more LF ends the head.
    AfterLfCr,
}

/// Collects the bytes of one HTTP head until its terminating empty line
/// (CRLF CRLF, or the bare-LF forms that httparse also accepts), bounded by
/// a maximum size.
///
/// Used by both roles: a server reads the client's request with it, a client
/// the server's response.
#[derive(Debug, Clone)]
pub(crate) struct HeadReader<B> {
    /// The head, then (for a client reading a rejection) the start of the
    /// body: a `Vec` with a heap, the connection's scratch slice without.
    buf: B,
    /// Where the head ends in `buf`, once complete.
    head_len: usize,
    scan: Scan,
    complete: bool,
    failed: bool,
    scanned: usize,
}

impl<B: Buffer> HeadReader<B> {
    /// An empty reader over `buf`, expecting the first byte of a head.
    pub(crate) fn new(mut buf: B) -> Self {
        buf.clear();
        HeadReader {
            buf,
            head_len: 0,
            scan: Scan::Start,
            complete: false,
            failed: false,
            scanned: 0,
        }
    }

    /// Copies bytes of `input` into the internal buffer up to and including
    /// the end of the head, and not beyond it. Returns `(consumed,
    /// complete)`; once complete, further calls consume nothing.
    ///
    /// Only the newly added bytes are examined, so feeding a head one byte
    /// at a time costs linear work in total. If the head would exceed
    /// `max_size` bytes before its empty line, fails with
    /// [`ProtocolError::HandshakeTooLarge`] (never storing more than
    /// `max_size` bytes); the error is sticky.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        max_size: usize,
    ) -> Result<(usize, bool), ProtocolError> {
        if self.failed {
            return Err(ProtocolError::HandshakeTooLarge);
        }
        if self.complete {
            return Ok((0, true));
        }
        // A fixed buffer is a limit of its own: a head that does not fit is
        // too large in the same way (431), never a reallocation.
        let max_size = max_size.min(self.buf.fixed_capacity().unwrap_or(usize::MAX));
        // Never look at (let alone store) a byte that would take the head
        // past `max_size`: RFC 6455 §10.4 asks for implementation limits, and
        // a head that does not end within them is answered with 431.
        let room = max_size.saturating_sub(self.buf.len());
        let window = input.get(..room).unwrap_or(input);
        let mut end = None;
        for (i, &b) in window.iter().enumerate() {
            self.scanned += 1;
            self.scan = match (self.scan, b) {
                (Scan::Start, b'\r' | b'\n') => Scan::Start,
                (Scan::AfterLf, b'\n') | (Scan::AfterLfCr, b'\n') => {
                    end = Some(i + 1);
                    break;
                }
                (Scan::AfterLf, b'\r') => Scan::AfterLfCr,
                (_, b'\n') => Scan::AfterLf,
                _ => Scan::InLine,
            };
        }
        let stored = match end {
            Some(n) => n,
            None => window.len(),
        };
        self.buf.reserve_within(stored, max_size);
        match end {
            Some(n) => {
                self.buf.push_slice(window.get(..n).unwrap_or(window));
                self.head_len = self.buf.len();
                self.complete = true;
                Ok((n, true))
            }
            None if window.len() < input.len() => {
                self.failed = true;
                Err(ProtocolError::HandshakeTooLarge)
            }
            None => {
                self.buf.push_slice(window);
                Ok((window.len(), false))
            }
        }
    }

    /// The bytes stored so far: the whole head, empty line included, once
    /// [`feed`](Self::feed) has reported it complete.
    pub(crate) fn head(&self) -> &[u8] {
        let all = self.buf.as_slice();
        if self.complete {
            all.get(..self.head_len).unwrap_or(all)
        } else {
            all
        }
    }

    /// Appends body bytes after a complete head, as many as fit; returns
    /// how many.
    pub(crate) fn push_body(&mut self, bytes: &[u8]) -> usize {
        let room = self
            .buf
            .fixed_capacity()
            .map_or(bytes.len(), |cap| cap.saturating_sub(self.buf.len()));
        let take = bytes.get(..room).unwrap_or(bytes);
        self.buf.push_slice(take);
        take.len()
    }

    /// The body bytes appended after the head.
    pub(crate) fn body(&self) -> &[u8] {
        self.buf.as_slice().get(self.head_len..).unwrap_or(&[])
    }

    /// Gives the buffer back holding only the bytes at `range` of it (the
    /// agreed subprotocol, inside the head), moved to the front; with their
    /// length, or `None` when there is no such range.
    pub(crate) fn into_buffer_with(
        self,
        range: Option<core::ops::Range<usize>>,
    ) -> (B, Option<usize>) {
        let mut buf = self.buf;
        match range {
            Some(r) if !r.is_empty() && r.end <= buf.len() => {
                let len = r.len();
                buf.as_mut_slice().copy_within(r, 0);
                buf.truncate(len);
                (buf, Some(len))
            }
            _ => {
                buf.clear();
                (buf, None)
            }
        }
    }

    /// Gives the buffer back (emptied), for the next use.
    pub(crate) fn into_buffer(mut self) -> B {
        self.buf.clear();
        self.buf
    }

    /// How many bytes have been examined in total: the measure of work that
    /// the tests use to prove the cost is linear in the input.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn bytes_scanned(&self) -> usize {
        self.scanned
    }
}
