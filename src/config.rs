//! Every limit and switch of a connection, each default with its reason.
//!
//! RFC 6455 §10.4: "Implementations SHOULD impose implementation-specific
//! limits on frame sizes and total message size after reassembly from multiple
//! frames". Every buffer the engine may grow is bounded by a field here, and
//! exceeding one is a typed error with the right close code or HTTP status.

use core::time::Duration;

/// Limits and behaviour switches for a [`Connection`](crate::Connection).
///
/// Build one with `Config::default()` and change the fields you need; the
/// struct is `#[non_exhaustive]` so new limits can be added without breaking
/// callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest opening-handshake head (request line or status line plus all
    /// header lines) read, in bytes. Default 16 KiB: browsers send 0.5-2 KiB,
    /// and 16 KiB leaves room for large cookies while bounding a slowloris
    /// peer (answered with 431 by a server).
    pub max_handshake_size: usize,
    /// Most header lines in a handshake head. Default 64: browsers send about
    /// 15; httparse needs one slot per header, so this bounds that scratch.
    pub max_headers: usize,
    /// Largest single frame payload accepted, in bytes. Default 16 MiB (the
    /// default of tungstenite, so users moving over see no change). Checked
    /// when the header arrives, before any payload: 1009. A frame of a
    /// compressed message may be 1/64 + 64 bytes larger (DEFLATE's overhead
    /// on incompressible data is up to 1%), so a message at the limit still
    /// passes once compressed; its inflated size is held to
    /// `max_message_size` exactly.
    pub max_frame_size: u64,
    /// Largest message accepted (the sum of its fragments), in bytes. Default
    /// 64 MiB (the same as tungstenite). Checked at each frame header: 1009.
    /// Data is streamed, so the engine itself never holds a whole message;
    /// this bounds what an assembler above it may have to hold.
    pub max_message_size: u64,
    /// Most bytes queued for sending (frames not yet taken by
    /// `poll_transmit`/`transmitted`). A send past it fails with
    /// `UsageError::OutputFull`, so a peer that stops reading cannot make the
    /// output grow without bound. Default 64 MiB + 1 KiB, so one message of
    /// `max_message_size` with its headers fits.
    pub max_buffered_output: usize,
    /// How many body bytes of a non-101 answer a client keeps for the
    /// `Rejected` event. Default 4 KiB: enough for an error page's message,
    /// small enough to hold per connection.
    pub max_rejection_body: usize,
    /// Answer every Ping with a Pong automatically (RFC 6455 §5.5.2 "MUST").
    /// Default on. Off, the application must call `pong` itself, or the
    /// connection does not conform.
    pub auto_pong: bool,
    /// Answer a Close with a Close automatically, echoing the code (§5.5.1
    /// "MUST send a Close frame in response"). Default on. Off, the
    /// application must call `close` after the `Close` event.
    pub auto_close_reply: bool,
    /// Fail the connection (1002) on a payload length not encoded in the
    /// fewest bytes. Default off: §5.2 binds the sender ("the minimal number
    /// of bytes MUST be used") but names no receiver action, and accepting
    /// is the more interoperable choice. The engine always sends minimal
    /// lengths.
    pub reject_non_minimal_lengths: bool,
    /// Server: hand a plain HTTP GET (one with neither `Upgrade: websocket`
    /// nor `Sec-WebSocket-Key`) to the application as `Event::Request` with
    /// `is_websocket() == false`, to be answered with `reject(200, ..)` (a
    /// page, a redirect), instead of answering 400 automatically. Default
    /// off: a pure WebSocket endpoint needs no HTTP. Turn it on to serve a
    /// page and its WebSocket from one port. The connection closes after the
    /// answer either way (no keep-alive).
    pub plain_http_requests: bool,
    /// Deadline for the opening handshake, counted from the connection's
    /// construction. Default 30 s: a browser completes it in one round trip,
    /// and a server must not let a peer that sends nothing (or one byte at a
    /// time) hold a socket for ever. A server answers 408; a client gives up.
    pub handshake_timeout: Option<Duration>,
    /// Start the closing handshake (1001) after this long without receiving
    /// anything. Default off: many applications are legitimately quiet.
    pub idle_timeout: Option<Duration>,
    /// Send a Ping after this long without receiving anything, to detect a
    /// peer that vanished without closing. Default off: it sends traffic
    /// the application did not ask for.
    pub keepalive_interval: Option<Duration>,
    /// With `keepalive_interval`, fail the connection (1011) when no Pong
    /// arrives this long after a keepalive Ping. Default 20 s, the value
    /// Python's websockets uses.
    pub keepalive_timeout: Duration,
    /// After sending a Close: how long to wait for the peer's Close, and a
    /// client then for the server to close the transport (RFC 6455 §7.1.1:
    /// the client MAY close it "if it has not received a TCP Close from the
    /// server in a reasonable time period"). Default 30 s.
    pub close_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): `Some` makes a client offer it and a
    /// server accept a client's offer, then the engine compresses and
    /// inflates messages itself. Default `None`: compression costs memory
    /// per connection (see `DeflateConfig`) and CPU, so it is opt-in. The
    /// engine writes the offer and the answer itself: do not also add a
    /// permessage-deflate entry with `ClientRequest::extension` or an
    /// `Accept` header.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::extensions::deflate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_handshake_size: 16 * 1024,
            max_headers: 64,
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_buffered_output: (64 << 20) + 1024,
            max_rejection_body: 4 * 1024,
            auto_pong: true,
            auto_close_reply: true,
            reject_non_minimal_lengths: false,
            plain_http_requests: false,
            handshake_timeout: Some(Duration::from_secs(30)),
            idle_timeout: None,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            close_timeout: Some(Duration::from_secs(30)),
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

impl Config {
    /// The handshake limits and permessage-deflate configuration of this
    /// `Config`, for the handshake helpers used without a connection
    /// ([`http::upgrade_request`](crate::handshake::http::upgrade_request),
    /// [`h2::ConnectRequest::accept`](crate::handshake::h2::ConnectRequest::accept)).
    #[cfg(feature = "alloc")]
    pub fn handshake_settings(&self) -> crate::handshake::Settings<'_> {
        let settings = crate::handshake::Settings::new()
            .max_size(self.max_handshake_size)
            .max_headers(self.max_headers);
        #[cfg(feature = "deflate")]
        let settings = settings.deflate(self.deflate.as_ref());
        settings
    }
}
