//! A chat room: one binary serves the page and its WebSocket from one port.
//!
//! ```sh
//! cargo run --example chat                     # http://127.0.0.1:8080
//! cargo run --example chat 0.0.0.0:8000
//! ```
//!
//! Open the printed URL in a few browser tabs, pick a name in each, and
//! talk. Every tab sees who is online (a count and the member list, updated
//! as people join and leave) and every message, its own included.
//!
//! # What it shows
//!
//! * **A page and a WebSocket on one port.** With
//!   [`Config::plain_http_requests`], a plain `GET` reaches the hook of
//!   [`WebSocket::accept_with`] as a request whose `is_websocket()` is
//!   false; the hook answers `GET /` with the page
//!   (`Decision::respond(200, ..)`, an HTTP answer like any other), upgrades `/ws`, and says 404 to anything else. It also
//!   refuses upgrades whose `Origin` is not this server (RFC 6455 §10.2), so
//!   another site's page cannot join the room in its visitor's name.
//! * **The blocking adapter with a short read timeout.** Each connection has
//!   its own thread, which alternates between reading the socket (waiting at
//!   most `POLL`) and writing out what the room queued for it. A timed-out
//!   read is an `Error::Io` of kind `WouldBlock` (or `TimedOut` on some
//!   platforms) and loses nothing: the adapter keeps every byte and any
//!   half-received message, and the next `read` carries on. A client silent
//!   for `IDLE` is pinged (browsers answer by themselves), and dropped if
//!   still silent after as long again.
//! * **Slow clients cannot stall the room.** Every member has a bounded
//!   queue (`std::sync::mpsc::sync_channel`, `QUEUE` messages). The
//!   broadcaster never blocks: it `try_send`s to each queue, and a member
//!   whose queue is full (a client that stopped reading, so its thread is
//!   stuck writing) is dropped from the room and its socket shut down, which
//!   wakes its thread. Messages are `Arc<str>`, shared by every queue.
//!
//!   A thread waits in `read` at most `POLL` before it drains its queue, so
//!   even a client that keeps up is dropped if the room produces more than
//!   `QUEUE` messages within one `POLL` (about 10,000 a second). Hence a
//!   rate limit: each member may send `RATE` messages a second, in bursts
//!   of up to `BURST`. Without it, one client flooding the room would
//!   overflow everybody's queue and empty the room. (A room that must go
//!   past that ceiling would have each thread wait on its queue, with
//!   `recv_timeout`, and read a non-blocking socket instead.)
//! * **Compression.** permessage-deflate (RFC 7692) is on
//!   (`Config::deflate = Some(DeflateConfig::default())`): browsers offer
//!   it, the engine accepts and compresses the JSON both ways, and the
//!   limits below apply to the inflated messages.
//! * **Untrusted input.** The engine bounds frames and messages
//!   (`MAX_FRAME`); the server parses the JSON itself and checks names (1 to
//!   `MAX_NAME` characters, no control characters, unique ignoring case) and
//!   messages (at most `MAX_TEXT` characters), answering mistakes with an
//!   error the page shows.
//!
//! The page is `examples/chat.html`, built in with `include_str!`. A browser
//! test relies on its element ids: `#name`, `#join`, `#error`, `#count`,
//! `ul#members` (one `li` per name), `#log` (one element per message,
//! "name: text"), `#message`, `#send`, `#leave`.
//!
//! # Protocol
//!
//! JSON text messages, one object per message, every value a string except
//! in `presence`:
//!
//! ```text
//! page -> server  {"type":"join","name":"ada"}
//!                 {"type":"message","text":"hello"}
//! server -> page  {"type":"welcome","name":"ada"}                  you are in
//!                 {"type":"presence","event":"join","name":"ada",  someone joined
//!                  "count":2,"members":["bob","ada"]}               or left ("leave")
//!                 {"type":"message","name":"ada","text":"hello"}   to everyone
//!                 {"type":"error","text":"That name is taken."}    to you only
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::iter::Peekable;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::Chars;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hybi::io::blocking::WebSocket;
use hybi::io::{Error, Message};
use hybi::{CloseCode, Config, DeflateConfig, Request};
use hybi::{Decision, Reject};

/// The page: HTML, CSS and the script, no external assets.
const PAGE: &str = include_str!("chat.html");

/// Messages waiting for one member before it counts as too slow.
const QUEUE: usize = 256;
/// How long a socket read waits before the thread looks at its queue.
const POLL: Duration = Duration::from_millis(25);
/// How long a client may take to send its request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may block before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Silence after which a client is pinged, and after which, once pinged,
/// it counts as gone (a laptop closed without a goodbye).
const IDLE: Duration = Duration::from_secs(30);
/// Largest frame and message accepted from a page, in bytes: a chat line
/// of `MAX_TEXT` characters in JSON fits many times over.
const MAX_FRAME: usize = 16 * 1024;
/// Longest name, in characters.
const MAX_NAME: usize = 24;
/// Longest message, in characters.
const MAX_TEXT: usize = 500;
/// Messages a member may send per second, on average...
const RATE: f64 = 5.0;
/// ...and at once.
const BURST: f64 = 10.0;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr)?;
    println!("chat room on http://{}/", listener.local_addr()?);

    let room = Arc::new(Mutex::new(Room::default()));
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept: {error}");
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let room = Arc::clone(&room);
        std::thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            if let Err(error) = serve(id, stream, &room) {
                eprintln!("{}: {error}", describe(peer));
            }
        });
    }
    Ok(())
}

/// Serves one connection: the page, a 404, or a member of the room.
fn serve(id: u64, stream: TcpStream, room: &Mutex<Room>) -> Result<(), Error> {
    let peer = stream.peer_addr().ok();
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;

    let mut config = Config::default();
    config.plain_http_requests = true;
    config.max_frame_size = MAX_FRAME as u64;
    config.max_message_size = MAX_FRAME as u64;
    config.deflate = Some(DeflateConfig::default());
    let mut answered = None;
    let mut ws = match WebSocket::accept_with(stream, config, |request| {
        let decision = route(request);
        if let Decision::Reject(reject) = &decision {
            answered = Some(format!("{} {}", request.target(), reject.status()));
        }
        decision
    }) {
        Ok(ws) => ws,
        // The hook answered with a page or an error: this connection is done.
        Err(Error::Refused(_)) if answered.is_some() => {
            println!("{}: GET {}", describe(peer), answered.unwrap_or_default());
            return Ok(());
        }
        // A connection opened and never used (browsers open spare ones) is
        // not worth a line.
        Err(error) if error.is_would_block() => return Ok(()),
        Err(error) => return Err(error),
    };

    // From here on a read waits at most POLL, then the queue gets a look.
    ws.get_mut().set_read_timeout(Some(POLL))?;
    let socket = ws.get_ref().try_clone()?;
    let (queue_tx, queue) = sync_channel(QUEUE);
    let mut member = Member {
        id,
        name: None,
        queue: Some(queue_tx),
        socket: Some(socket),
        allowance: BURST,
        checked: Instant::now(),
    };
    let result = session(&mut ws, &mut member, &queue, room);
    if member.name.is_some() && !lock(room).leave(id) {
        // The room dropped this member for not reading and shut its socket
        // down: the failed write or read that ended the session is expected.
        return Ok(());
    }
    result
}

/// What the hook answers to each request.
fn route(request: &Request<'_>) -> Decision<'static> {
    if !request.is_websocket() {
        return match request.path() {
            "/" | "/index.html" => Reject::new(200)
                .content_type("text/html; charset=utf-8")
                .header("Cache-Control", "no-cache")
                .body(PAGE.as_bytes())
                .into(),
            _ => Decision::reject(404, "not found\n"),
        };
    }
    if request.path() != "/ws" {
        return Decision::reject(404, "not found\n");
    }
    // A browser always sends Origin; refuse pages from other sites. Tools
    // that send none (scripts, the client example) are let in.
    if let Some(origin) = request.origin() {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if authority.is_none_or(|a| !a.eq_ignore_ascii_case(request.host())) {
            return Decision::reject(403, "cross-origin WebSocket refused\n");
        }
    }
    Decision::accept()
}

/// One connection's side of the room, before and after it joins.
struct Member {
    id: u64,
    /// Set once the room accepted a name.
    name: Option<String>,
    /// The sending half of this connection's queue, until the room takes it.
    queue: Option<SyncSender<Arc<str>>>,
    /// A handle on the socket for the room to shut down, until it takes it.
    socket: Option<TcpStream>,
    /// Messages this member may still send now (a token bucket).
    allowance: f64,
    /// When the allowance was last topped up.
    checked: Instant,
}

/// The loop of one WebSocket connection: write out what the room queued,
/// then read with a short timeout, until the connection ends.
fn session(
    ws: &mut WebSocket<TcpStream>,
    member: &mut Member,
    queue: &Receiver<Arc<str>>,
    room: &Mutex<Room>,
) -> Result<(), Error> {
    let mut last_heard = Instant::now();
    let mut pinged = false;
    loop {
        // 1. Everything the room queued for us, without waiting.
        loop {
            match queue.try_recv() {
                Ok(text) => match ws.send_text(&text) {
                    Ok(()) => {}
                    // Closing: the read below finishes the handshake.
                    Err(Error::Usage(_)) => break,
                    Err(error) => return Err(error),
                },
                Err(TryRecvError::Empty) => break,
                // The room dropped us (our queue overflowed) and shut the
                // socket down; nothing more can be said.
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
        // 2. The next message from the page, waiting at most POLL.
        let message = ws.read();
        if let Ok(Some(_)) = message {
            (last_heard, pinged) = (Instant::now(), false);
        }
        match message {
            Ok(Some(Message::Text(text))) => {
                if let Some(error) = handle(&text, member, room) {
                    let reply = format!(r#"{{"type":"error","text":{}}}"#, json_string(error));
                    match ws.send_text(&reply) {
                        Ok(()) | Err(Error::Usage(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
            }
            Ok(Some(Message::Binary(_))) => {
                // Not part of the protocol: end the conversation politely.
                match ws.close(CloseCode::UNSUPPORTED_DATA, "text messages only") {
                    Ok(()) | Err(Error::Usage(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            // Pings are answered and a Close replied to by the engine.
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            // Nothing within POLL. After a long silence, check the client
            // is still there: a browser answers a Ping by itself.
            Err(error) if error.is_would_block() => {
                if last_heard.elapsed() > IDLE && !pinged {
                    pinged = true;
                    match ws.ping(b"") {
                        Ok(()) | Err(Error::Usage(_)) => {}
                        Err(error) => return Err(error),
                    }
                } else if last_heard.elapsed() > 2 * IDLE {
                    let gone = std::io::Error::new(ErrorKind::TimedOut, "no answer to a ping");
                    return Err(Error::Io(gone));
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Acts on one message from a page; `Some` is an error to show it.
fn handle(text: &str, member: &mut Member, room: &Mutex<Room>) -> Option<&'static str> {
    let Some(fields) = parse_object(text) else {
        return Some("Malformed message.");
    };
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    match field("type") {
        Some("join") => {
            if member.name.is_some() {
                return Some("You have already joined.");
            }
            let name = match check_name(field("name").unwrap_or_default()) {
                Ok(name) => name,
                Err(error) => return Some(error),
            };
            let (Some(queue), Some(socket)) = (member.queue.take(), member.socket.take()) else {
                return Some("You have already joined.");
            };
            match lock(room).join(member.id, name, queue, socket) {
                Ok(name) => member.name = Some(name),
                Err((error, queue, socket)) => {
                    // Keep the connection: the page may try another name.
                    member.queue = Some(queue);
                    member.socket = Some(socket);
                    return Some(error);
                }
            }
        }
        Some("message") => {
            if member.name.is_none() {
                return Some("Join the room first.");
            }
            let text = field("text").unwrap_or_default().trim();
            if text.chars().count() > MAX_TEXT {
                return Some("Messages are at most 500 characters.");
            }
            let now = Instant::now();
            let refill = now.duration_since(member.checked).as_secs_f64() * RATE;
            member.allowance = (member.allowance + refill).min(BURST);
            member.checked = now;
            if member.allowance < 1.0 {
                return Some("You are sending too fast; wait a moment.");
            }
            member.allowance -= 1.0;
            if !text.is_empty() {
                // Control characters (a pasted newline) become spaces.
                let text: String = text
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                lock(room).say(member.id, &text);
            }
        }
        _ => return Some("Unknown message type."),
    }
    None
}

/// A name as the room will show it, or why it cannot be one.
fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Please choose a name.");
    }
    if name.chars().count() > MAX_NAME {
        return Err("Names are at most 24 characters.");
    }
    if name.chars().any(char::is_control) {
        return Err("Names cannot contain control characters.");
    }
    Ok(name.to_string())
}

/// Who is in the room: each member's name, queue and socket, in order of
/// arrival.
#[derive(Default)]
struct Room {
    members: Vec<Joined>,
}

struct Joined {
    id: u64,
    name: String,
    queue: SyncSender<Arc<str>>,
    /// A clone of the member's socket, to wake its thread when it is dropped.
    socket: TcpStream,
}

/// A join refused: the reason, and the queue and socket handed back.
type Refused = (&'static str, SyncSender<Arc<str>>, TcpStream);

impl Room {
    /// Adds a member and tells everyone; the name must be free (ignoring
    /// case).
    fn join(
        &mut self,
        id: u64,
        name: String,
        queue: SyncSender<Arc<str>>,
        socket: TcpStream,
    ) -> Result<String, Refused> {
        let lower = name.to_lowercase();
        if self.members.iter().any(|m| m.name.to_lowercase() == lower) {
            return Err(("That name is taken.", queue, socket));
        }
        // The queue is new and empty: the welcome fits, and arrives first.
        let welcome = format!(r#"{{"type":"welcome","name":{}}}"#, json_string(&name));
        let _ = queue.try_send(welcome.into());
        println!("{name} joined");
        self.members.push(Joined {
            id,
            name: name.clone(),
            queue,
            socket,
        });
        self.broadcast(self.presence("join", &name));
        Ok(name)
    }

    /// Removes a member and tells everyone; `false` if it was no longer
    /// here (dropped for not reading).
    fn leave(&mut self, id: u64) -> bool {
        let Some(i) = self.members.iter().position(|m| m.id == id) else {
            return false;
        };
        let gone = self.members.remove(i);
        println!("{} left", gone.name);
        self.broadcast(self.presence("leave", &gone.name));
        true
    }

    /// Sends a member's message to everyone, the member included.
    fn say(&mut self, id: u64, text: &str) {
        let Some(member) = self.members.iter().find(|m| m.id == id) else {
            return;
        };
        let message = format!(
            r#"{{"type":"message","name":{},"text":{}}}"#,
            json_string(&member.name),
            json_string(text)
        );
        self.broadcast(message);
    }

    /// Queues `message` for every member without ever blocking. A member
    /// whose queue is full is dropped and its socket shut down, and that is
    /// announced in turn.
    fn broadcast(&mut self, message: String) {
        let mut pending = VecDeque::from([message]);
        while let Some(message) = pending.pop_front() {
            let message: Arc<str> = message.into();
            let mut dropped = Vec::new();
            self.members
                .retain(|member| match member.queue.try_send(Arc::clone(&message)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        println!("{} is not reading; disconnected", member.name);
                        // Wakes its thread, even in a blocked write.
                        let _ = member.socket.shutdown(Shutdown::Both);
                        dropped.push(member.name.clone());
                        false
                    }
                    // Its thread is gone without leaving (it panicked).
                    Err(TrySendError::Disconnected(_)) => {
                        dropped.push(member.name.clone());
                        false
                    }
                });
            for name in dropped {
                pending.push_back(self.presence("leave", &name));
            }
        }
    }

    /// The `presence` message after `name` joined or left.
    fn presence(&self, event: &str, name: &str) -> String {
        let mut members = String::new();
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                members.push(',');
            }
            members.push_str(&json_string(&member.name));
        }
        format!(
            r#"{{"type":"presence","event":{},"name":{},"count":{},"members":[{}]}}"#,
            json_string(event),
            json_string(name),
            self.members.len(),
            members
        )
    }
}

/// The room, even if a thread panicked while holding it (the room's
/// invariants hold between any two statements).
fn lock(room: &Mutex<Room>) -> std::sync::MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

fn describe(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_string(), |peer| peer.to_string())
}

/// `text` as a JSON string literal, quotes included (RFC 8259 §7).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the two line separators some
            // JavaScript parsers once refused.
            c if c < ' ' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses a flat JSON object whose values are all strings, such as
/// `{"type":"join","name":"ada"}`, into its fields in order. Anything else
/// (another value type, nesting, trailing bytes) is `None`.
fn parse_object(input: &str) -> Option<Vec<(String, String)>> {
    let mut parser = Parser {
        chars: input.chars().peekable(),
    };
    if !parser.eat('{') {
        return None;
    }
    let mut fields = Vec::new();
    if !parser.eat('}') {
        loop {
            let key = parser.string()?;
            if !parser.eat(':') {
                return None;
            }
            let value = parser.string()?;
            fields.push((key, value));
            if parser.eat('}') {
                break;
            }
            if !parser.eat(',') {
                return None;
            }
        }
    }
    parser.skip_whitespace();
    parser.chars.next().is_none().then_some(fields)
}

struct Parser<'a> {
    chars: Peekable<Chars<'a>>,
}

impl Parser<'_> {
    fn skip_whitespace(&mut self) {
        while self
            .chars
            .next_if(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
            .is_some()
        {}
    }

    /// Skips whitespace, then takes `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_whitespace();
        self.chars.next_if_eq(&c).is_some()
    }

    /// A string literal, escapes decoded.
    fn string(&mut self) -> Option<String> {
        if !self.eat('"') {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.chars.next()? {
                '"' => return Some(out),
                '\\' => out.push(match self.chars.next()? {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => self.escaped_char()?,
                    _ => return None,
                }),
                // Raw control characters are not allowed in a JSON string.
                c if c < ' ' => return None,
                c => out.push(c),
            }
        }
    }

    /// The character of a `\uXXXX` escape (its `\u` already taken),
    /// joining a surrogate pair.
    fn escaped_char(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            // A lone low surrogate is not a character: from_u32 says None.
            return char::from_u32(high);
        }
        if self.chars.next()? != '\\' || self.chars.next()? != 'u' {
            return None;
        }
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0;
        for _ in 0..4 {
            value = value * 16 + self.chars.next()?.to_digit(16)?;
        }
        Some(value)
    }
}
