//! permessage-deflate (RFC 7692): its settings and its negotiation.
//!
//! Compression is switched on per connection with
//! [`Config::deflate`](crate::Config::deflate). The engine then offers it
//! (client) or accepts an offer (server) in the opening handshake, and
//! compresses and inflates messages itself; the application sees plain
//! messages.
//!
//! # local_ and remote_
//!
//! The RFC names parameters after the roles (`server_max_window_bits`,
//! `client_no_context_takeover`), so the same parameter means "mine" on one
//! side and "theirs" on the other. Inside hybi every setting is named from
//! this endpoint's point of view instead: `local_*` is about what we
//! compress, `remote_*` about what the peer compresses and we inflate. Only
//! the functions that read and write the header translate.
//!
//! # Negotiation rules implemented
//!
//! A server (RFC 7692 §5, §7):
//! * reads the offers in order and accepts the first one it can honour with
//!   compression; failing that, the first valid one (see the 8-bit window
//!   below); it accepts at most one;
//! * declines, without failing the handshake, an offer with an unknown or
//!   duplicated parameter, a value on a `*_no_context_takeover`, a window
//!   size that is not a decimal from 8 to 15, or a `server_max_window_bits`
//!   without a value (§7: "A server MUST decline an extension negotiation
//!   offer for this extension if ...");
//! * honours `server_no_context_takeover` and `server_max_window_bits=N`
//!   (compressing with at most N bits), and adds them unasked when its own
//!   settings want them (§7.1.1.1 and §7.1.2.1 allow that);
//! * answers `client_max_window_bits=N` only when the offer carried
//!   `client_max_window_bits` (§7.1.2.2: otherwise it "MUST NOT" include it),
//!   never above the offered value;
//! * confirms `client_no_context_takeover` when the client offered it as a
//!   hint or its own settings ask for it.
//!
//! A client offers one element built from its settings, always with
//! `client_max_window_bits` (so a server may shrink our window to save its
//! memory), and fails the connection when the answer is not one it allowed
//! (§7.1): a parameter that is unknown, duplicated, valueless where a value is
//! required, or valued where none is allowed; a window outside 8..15; a
//! `server_max_window_bits` larger than offered, or missing when offered; a
//! missing `server_no_context_takeover` that was offered; a
//! `client_max_window_bits` when none was offered (we always offer it);
//! two permessage-deflate elements.
//!
//! # The 8-bit window
//!
//! RFC 7692 allows windows of 8 to 15 bits, but zlib (and zlib-rs) cannot
//! compress with a 256-byte window: it silently uses 512 bytes, and a peer
//! that asked for 256 may then fail on a distance it does not hold. So hybi
//! never compresses with a window the peer did not allow: when the peer
//! limits us to 8 bits, our messages go out uncompressed (RSV1 clear, which
//! §6 allows for any message) while we still inflate the peer's. Our own
//! `local_max_window_bits` setting is clamped to 9..=15. Receiving needs no
//! such care: inflating with a larger window than the sender used is always
//! correct, so a peer limited to 8 bits is inflated with a 9-bit window.

use alloc::string::String;

use super::{parse_element, Param, Params};
use crate::error::ProtocolError;

/// The registered name of the extension (RFC 7692 §5).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// What this endpoint wants from permessage-deflate, and how hard it
/// compresses.
///
/// The defaults are RFC 7692's (15-bit windows both ways, context takeover
/// both ways) with zlib's default level, which suits a connection that
/// carries repetitive text such as JSON. Each costs memory per connection;
/// see the table in SECURITY.md for measured figures. To spend less, lower
/// `local_max_window_bits` (the compressor's window and hash tables shrink
/// with it) and `remote_max_window_bits` (the peer is asked to use a smaller
/// window, so our inflater needs less), or lower `level` for speed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Compression level, 0 (stored, no compression) to 9 (smallest
    /// output). Default 6, zlib's default. Clamped to 0..=9.
    pub level: u8,
    /// The largest LZ77 window we compress with, as a power of two.
    /// Default 15 (32 KiB). Clamped to 9..=15 (see the module docs on the
    /// 8-bit window). A server announces a value below 15 with
    /// `server_max_window_bits`; a client with `client_max_window_bits=N`.
    pub local_max_window_bits: u8,
    /// The largest window the peer may compress with, which bounds our
    /// inflater's window. Default 15. Clamped to 8..=15. A client asks with
    /// `server_max_window_bits=N`; a server with `client_max_window_bits=N`,
    /// which it may only do when the client offered that parameter.
    pub remote_max_window_bits: u8,
    /// Start every message we send from an empty window. Costs compression
    /// ratio; lets the peer forget between messages. Default off.
    pub local_no_context_takeover: bool,
    /// Ask the peer to start every message from an empty window (a server
    /// requires it with `client_no_context_takeover`; a client offers
    /// `server_no_context_takeover`). Default off.
    pub remote_no_context_takeover: bool,
    /// Whole messages shorter than this many bytes are sent uncompressed:
    /// below it the deflate framing costs more than it saves. Default 64.
    /// A message sent in fragments is compressed whatever its first
    /// fragment's size, since its total is not known up front.
    pub min_compress_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            local_max_window_bits: 15,
            remote_max_window_bits: 15,
            local_no_context_takeover: false,
            remote_no_context_takeover: false,
            min_compress_size: 64,
        }
    }
}

impl DeflateConfig {
    pub(crate) fn level(&self) -> u8 {
        self.level.min(9)
    }

    fn local_bits(&self) -> u8 {
        self.local_max_window_bits.clamp(9, 15)
    }

    fn remote_bits(&self) -> u8 {
        self.remote_max_window_bits.clamp(8, 15)
    }

    /// The client's offer: one `Sec-WebSocket-Extensions` element.
    pub fn offer(&self) -> String {
        let mut offer = String::from(EXTENSION_NAME);
        if self.remote_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if self.local_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.remote_bits() < 15 {
            push_bits(&mut offer, "server_max_window_bits", self.remote_bits());
        }
        offer.push_str("; client_max_window_bits");
        if self.local_bits() < 15 {
            offer.push('=');
            push_number(&mut offer, self.local_bits());
        }
        offer
    }

    /// Server: picks at most one of a client's permessage-deflate offers
    /// (the elements of its `Sec-WebSocket-Extensions`, in order, other
    /// extensions among them) exactly as the HTTP/1.1 handshake does (see
    /// the module docs), and returns what was agreed with the element to
    /// answer in `Sec-WebSocket-Extensions`. `None`: answer no extension.
    ///
    /// For handshakes done elsewhere (hyper, RFC 8441): pass the params to
    /// [`Negotiated::deflate`](crate::Negotiated::deflate).
    ///
    /// ```
    /// # use hybi::DeflateConfig;
    /// let offers = ["x-webkit-deflate-frame", "permessage-deflate; client_max_window_bits"];
    /// let (params, answer) = DeflateConfig::default().negotiate(offers).unwrap();
    /// assert_eq!(answer, "permessage-deflate");
    /// assert_eq!(params.local_max_window_bits, 15);
    /// ```
    pub fn negotiate<'a>(
        &self,
        offers: impl IntoIterator<Item = &'a str>,
    ) -> Option<(DeflateParams, String)> {
        // Read twice (see `negotiate`); offers are few.
        let offers: alloc::vec::Vec<&str> = offers.into_iter().collect();
        negotiate(self, offers.iter().copied())
    }

    /// Client: checks the server's answer (the elements of its
    /// `Sec-WebSocket-Extensions`) against the offer [`offer`](Self::offer)
    /// made, exactly as the HTTP/1.1 handshake does. `Ok(None)`: the server
    /// declined; an error means the connection must fail (RFC 7692 §7.1).
    pub fn verify_answer<'a>(
        &self,
        elements: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<DeflateParams>, ProtocolError> {
        verify_answer(self, elements.into_iter())
    }
}

/// What was agreed for one connection, from this endpoint's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub local_no_context_takeover: bool,
    /// The peer resets its compressor after every message (so we reset our
    /// inflater too).
    pub remote_no_context_takeover: bool,
    /// The window we may compress with, 8 to 15. At 8 we send uncompressed
    /// (see the module docs).
    pub local_max_window_bits: u8,
    /// The window the peer may compress with, 8 to 15.
    pub remote_max_window_bits: u8,
}

impl DeflateParams {
    /// Whether we compress at all (see the 8-bit window in the module docs).
    pub fn compresses(&self) -> bool {
        self.local_max_window_bits >= 9
    }
}

/// The parameters of one element, as written on the wire (role names).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct WireParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// Absent, present without a value, or present with a value in 8..=15.
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
}

/// An element that breaks RFC 7692 §7's rules for parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Invalid;

/// Reads an element's parameters; refuses unknown and duplicated ones, a
/// value on a flag, and window sizes outside 8..=15.
fn read_params(params: Params<'_>) -> Result<WireParams, Invalid> {
    let mut wire = WireParams::default();
    for param in params {
        let param = param.map_err(|_| Invalid)?;
        let name = param.name;
        if name.eq_ignore_ascii_case("server_no_context_takeover") {
            set_flag(&mut wire.server_no_context_takeover, &param)?;
        } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
            set_flag(&mut wire.client_no_context_takeover, &param)?;
        } else if name.eq_ignore_ascii_case("server_max_window_bits") {
            set_bits(&mut wire.server_max_window_bits, &param)?;
        } else if name.eq_ignore_ascii_case("client_max_window_bits") {
            set_bits(&mut wire.client_max_window_bits, &param)?;
        } else {
            return Err(Invalid);
        }
    }
    Ok(wire)
}

/// §7.1.1: the context takeover parameters have no value.
fn set_flag(flag: &mut bool, param: &Param<'_>) -> Result<(), Invalid> {
    if *flag || param.value.is_some() {
        return Err(Invalid);
    }
    *flag = true;
    Ok(())
}

/// §7.1.2: a window size is a decimal from 8 to 15 (token or quoted).
fn set_bits(slot: &mut Option<Option<u8>>, param: &Param<'_>) -> Result<(), Invalid> {
    if slot.is_some() {
        return Err(Invalid);
    }
    let value = match param.value {
        None => None,
        Some(_) => {
            let mut n: u32 = 0;
            for (digits, b) in param.value_bytes().enumerate() {
                if !b.is_ascii_digit() || digits == 2 {
                    return Err(Invalid);
                }
                n = n * 10 + u32::from(b - b'0');
            }
            if !(8..=15).contains(&n) {
                return Err(Invalid);
            }
            Some(n as u8)
        }
    };
    *slot = Some(value);
    Ok(())
}

/// Server: picks at most one of the client's offers (each a
/// `Sec-WebSocket-Extensions` element) and returns what was agreed and the
/// element to answer with; `None` declines them all (the connection goes on
/// without compression).
pub(crate) fn negotiate<'a>(
    config: &DeflateConfig,
    offers: impl Iterator<Item = &'a str> + Clone,
) -> Option<(DeflateParams, String)> {
    let valid = offers.filter_map(|element| {
        let (name, params) = parse_element(element).ok()?;
        if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
            return None;
        }
        let wire = read_params(params).ok()?;
        // §7.1.2.1: in an offer, server_max_window_bits carries a value.
        if wire.server_max_window_bits == Some(None) {
            return None;
        }
        Some(wire)
    });
    valid
        .clone()
        .map(|wire| answer(config, &wire))
        .find(|(params, _)| params.compresses())
        .or_else(|| valid.map(|wire| answer(config, &wire)).next())
}

/// Server: the answer to one valid offer.
fn answer(config: &DeflateConfig, offer: &WireParams) -> (DeflateParams, String) {
    let local_bits = match offer.server_max_window_bits {
        Some(Some(limit)) => config.local_bits().min(limit),
        _ => config.local_bits(),
    };
    let remote_bits = match offer.client_max_window_bits {
        // §7.1.2.2: without client_max_window_bits in the offer the client
        // may use 15 bits, and we may not ask for less.
        None => 15,
        Some(limit) => config.remote_bits().min(limit.unwrap_or(15)),
    };
    let params = DeflateParams {
        local_no_context_takeover: config.local_no_context_takeover
            || offer.server_no_context_takeover,
        remote_no_context_takeover: config.remote_no_context_takeover
            || offer.client_no_context_takeover,
        local_max_window_bits: local_bits,
        remote_max_window_bits: remote_bits,
    };
    let mut element = String::from(EXTENSION_NAME);
    if params.local_no_context_takeover {
        element.push_str("; server_no_context_takeover");
    }
    if params.remote_no_context_takeover {
        element.push_str("; client_no_context_takeover");
    }
    if local_bits < 15 {
        push_bits(&mut element, "server_max_window_bits", local_bits);
    }
    if offer.client_max_window_bits.is_some() && remote_bits < 15 {
        push_bits(&mut element, "client_max_window_bits", remote_bits);
    }
    (params, element)
}

/// Client: checks the server's answer against what [`DeflateConfig::offer`]
/// offered. `elements` are all the answer's `Sec-WebSocket-Extensions`
/// elements (others than permessage-deflate are skipped: the handshake
/// already checked they were offered). `Ok(None)`: the server declined.
pub(crate) fn verify_answer<'a>(
    config: &DeflateConfig,
    elements: impl Iterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, ProtocolError> {
    const INVALID: ProtocolError = ProtocolError::InvalidExtensionAnswer;
    let mut agreed = None;
    for element in elements {
        let (name, params) = parse_element(element).map_err(|_| INVALID)?;
        if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
            continue;
        }
        // §7: the server accepts at most one offer, and we made one.
        if agreed.is_some() {
            return Err(INVALID);
        }
        let wire = read_params(params).map_err(|_| INVALID)?;
        // §7.1.2.1: the server "accepts" our server_max_window_bits by
        // answering it, with the same or a smaller value; it may also send
        // one unasked.
        let remote_bits = match (wire.server_max_window_bits, config.remote_bits()) {
            (Some(None), _) => return Err(INVALID),
            (Some(Some(n)), asked) if n > asked => return Err(INVALID),
            (Some(Some(n)), _) => n,
            (None, 15) => 15,
            (None, _) => return Err(INVALID),
        };
        // §7.1.2.2: an answer's client_max_window_bits carries a value; it
        // limits the window we compress with.
        let local_bits = match wire.client_max_window_bits {
            Some(None) => return Err(INVALID),
            Some(Some(n)) => config.local_bits().min(n),
            None => config.local_bits(),
        };
        // §7.1.1.1: a server accepts server_no_context_takeover by
        // answering it (and may answer it unasked).
        if config.remote_no_context_takeover && !wire.server_no_context_takeover {
            return Err(INVALID);
        }
        agreed = Some(DeflateParams {
            local_no_context_takeover: config.local_no_context_takeover
                || wire.client_no_context_takeover,
            remote_no_context_takeover: wire.server_no_context_takeover,
            local_max_window_bits: local_bits,
            remote_max_window_bits: remote_bits,
        });
    }
    Ok(agreed)
}

fn push_bits(out: &mut String, name: &str, bits: u8) {
    out.push_str("; ");
    out.push_str(name);
    out.push('=');
    push_number(out, bits);
}

fn push_number(out: &mut String, n: u8) {
    if n >= 10 {
        out.push(char::from(b'0' + n / 10));
    }
    out.push(char::from(b'0' + n % 10));
}
