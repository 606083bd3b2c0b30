//! A chat room: one binary serves the page and its WebSocket from one port,
//! alone or as one of several processes sharing a room through Redis.
//!
//! ```sh
//! cargo run --example chat --features tokio                  # http://127.0.0.1:8080
//! cargo run --example chat --features tokio -- 0.0.0.0:8000
//! cargo run --example chat --features tokio -- 127.0.0.1:8081 --redis redis://127.0.0.1:6379
//! cargo run --example chat --features tokio -- --help
//! ```
//!
//! Open the printed URL in a few browser tabs, pick a name in each, and
//! talk. Every tab sees who is online and every message, its own included.
//! (`--release` for rooms of thousands.)
//!
//! # How it is built
//!
//! * **A page and a WebSocket on one port.** With
//!   [`Config::plain_http_requests`], a plain `GET` reaches the hook of
//!   [`WebSocketStream::accept_with`] as a request whose `is_websocket()` is
//!   false; [`route`] answers `GET /` with the page, upgrades `/ws`, says
//!   404 to anything else, and refuses upgrades whose `Origin` is not this
//!   server (RFC 6455 §10.2), so another site's page cannot join the room
//!   in its visitor's name.
//! * **Two tasks per member, no polling.** The connection is split: the
//!   member's own task reads (and acts on what the page says), a writer
//!   task sends what the room queued for it. Both sleep until there is
//!   something to do.
//! * **Encode once, send to many.** Every broadcast is serialized once
//!   (`serde_json`) into one [`PreparedMessage`]: the frame is built once
//!   and each member's queue holds a reference to it (an `Arc`), which the
//!   writer hands to the socket with no copy
//!   ([`WsWriteHalf::send_prepared`]).
//! * **Backpressure in bytes, not in a poll window.** A member's queue is
//!   unbounded in count but budgeted in bytes: the room adds each message's
//!   length to the member's backlog, the writer takes it off once the
//!   socket took the message, as fast as the socket takes bytes. A member
//!   that keeps reading is never dropped, however many others speak at
//!   once. A member is dropped only when its backlog passes
//!   [`Options::max_backlog`], or its socket takes no message for
//!   [`Options::stall_timeout`]; it is told with a Close (1008, with the
//!   reason) if its socket still takes one within
//!   [`Options::close_grace`], and its departure is announced.
//! * **Presence as events.** The welcome carries the member list and the
//!   count once; after that, joins and leaves are events with the new count
//!   (a wave of N joins costs O(N²) small events, not O(N³) bytes of lists).
//! * **Timers from the engine.** Keepalive Pings (and dropping a peer that
//!   answers none), the handshake and closing deadlines are `Config`'s
//!   (`keepalive_interval`, `handshake_timeout`, `close_timeout`), run by
//!   the adapter's reading side.
//! * **Untrusted input.** The engine bounds frames and messages
//!   (`MAX_FRAME`); names are 1 to `MAX_NAME` characters, no control
//!   characters, unique ignoring case; messages at most `MAX_TEXT`
//!   characters; each member may send `rate` messages a second in bursts of
//!   `burst`. Mistakes are answered with an error the page shows.
//! * **No swallowed errors.** Every error is printed with the peer's
//!   address and the member carries on or leaves; none is dropped silently.
//!
//! # permessage-deflate
//!
//! Browsers offer it, and the server accepts with
//! `server_no_context_takeover` (`DeflateConfig::local_no_context_takeover`):
//! every message it sends starts from an empty window, so one compressed
//! frame is valid on every connection. Each broadcast is compressed once
//! ([`PreparedMessage::with_deflate`]) and that frame goes to every member
//! that agreed (with a full 15-bit window); the plain frame goes to the
//! others. Messages under 64 bytes (most presence events, short lines) are
//! sent plain, as compression would not pay. Pages compress what they send
//! with their own context, which the server inflates per connection. (The
//! alternative, a compressor per member with context takeover, costs one
//! compression per member per message and ~300 KiB per member;
//! BENCHMARKS.md, "Chat", measures this choice.)
//!
//! # Several processes: `--redis`
//!
//! With `--redis URL`, processes share one room through Redis (keys under
//! `--room`, default `hybi-chat`). Every room change goes through Redis and
//! comes back to every process on one pub/sub channel, so every member of
//! every process sees the same events in the same order:
//!
//! * **Members** live in a hash, one field per name (lowercased, so names
//!   stay unique across processes), whose value names the owner (process
//!   and connection). A join is one Lua script, atomic in Redis: claim the
//!   name (`HSETNX`), count (`HLEN`), publish the join event with the count,
//!   and return the member list as of that event. The joining process keeps
//!   the list and welcomes the member when its own join event comes back
//!   on the channel; events that arrive between the two are held for the
//!   member, so the welcome plus the events after it are exactly the room.
//!   A leave is another script (delete the field if it is ours, count,
//!   publish). A message is a plain `PUBLISH`.
//! * **A process that dies** leaves its members in the hash. Each process
//!   keeps a key of its own alive (`SET .. PX ttl`, refreshed every third of
//!   `node_ttl`, 15 s by default) and every process runs a reaper as often:
//!   a script that removes every member whose process key expired and
//!   publishes a leave for each (only the script that deletes a field
//!   announces it, so once). So the others see a dead process's members
//!   leave within about `node_ttl`. A process that was presumed dead (it
//!   stalled past its ttl) and reaped disconnects those members with 1012
//!   when their leave comes back, so their pages can rejoin.
//! * **A clean stop** (Ctrl-C) closes every member with 1001, publishes
//!   their leaves, and deletes the process key.
//! * If the connection to Redis is lost, the process stops with an error
//!   (its members' pages see the connection drop). The scripts touch keys
//!   they compute from the room's name, so this needs a single Redis, not a
//!   Redis Cluster.
//!
//! # Protocol
//!
//! JSON text messages, one object per message, tagged by `type`
//! ([`ClientMessage`], [`ServerMessage`]):
//!
//! ```text
//! page -> server  {"type":"join","name":"ada"}
//!                 {"type":"message","text":"hello"}
//! server -> page  {"type":"welcome","name":"ada","count":2,        you are in; who is here
//!                  "members":["bob","ada"]}
//!                 {"type":"presence","event":"join","name":"cy",   someone joined
//!                  "count":3}                                      or left ("leave")
//!                 {"type":"message","name":"ada","text":"hello"}   to everyone
//!                 {"type":"error","text":"That name is taken."}    to you only
//! ```
//!
//! The page is `examples/chat.html`, built in with `include_str!`. A browser
//! test (`tests/interop/browser_chat.mjs`) relies on its element ids:
//! `#name`, `#join`, `#error`, `#count`, `ul#members` (one `li` per name),
//! `#activity`, `#log` (one element per message, "name: text"), `#message`,
//! `#send`, `#leave`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hybi::io::tokio::{WebSocketStream, WsReadHalf, WsWriteHalf};
use hybi::io::{Error, Message};
use hybi::{CloseCode, Config, Decision, DeflateConfig, PreparedMessage, Reject, Request};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, Instant};

/// The page: HTML, CSS and the script, no external assets.
const PAGE: &str = include_str!("chat.html");

/// Largest frame and message accepted from a page, in bytes: a chat line
/// of `MAX_TEXT` characters in JSON fits many times over.
const MAX_FRAME: u64 = 16 * 1024;
/// Longest name, in characters.
const MAX_NAME: usize = 24;
/// Longest message, in characters.
const MAX_TEXT: usize = 500;
/// Messages a writer takes from its queue at a time.
const BATCH: usize = 256;

const USAGE: &str = "\
usage: chat [ADDR] [--redis URL] [--room NAME] [--quiet]

  ADDR           where to listen (default 127.0.0.1:8080); the page is at
                 http://ADDR/ and the WebSocket at ws://ADDR/ws
  --redis URL    share the room with every chat process on this Redis
                 (redis://HOST:PORT), through pub/sub
  --room NAME    the Redis key prefix of the room (default hybi-chat)
  --quiet        do not print joins, leaves and page loads
  --help         print this and exit
";

// ---------------------------------------------------------------------------
// The protocol.

/// What a page sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Join the room under a name.
    Join { name: String },
    /// Say something to everyone.
    Message { text: String },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    /// You are in, as `name`; the room as of your joining.
    Welcome {
        name: String,
        count: usize,
        members: Vec<String>,
    },
    /// Someone joined or left; the room's size after it.
    Presence {
        event: Presence,
        name: String,
        count: usize,
    },
    /// A member said something.
    Message { name: String, text: String },
    /// Your last message was refused (to you only).
    Error { text: String },
}

/// A presence event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Join,
    Leave,
}

// ---------------------------------------------------------------------------
// Options and the command line.

/// How the room runs. `Options::default()` is what `chat` with no arguments
/// does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `main` listens (`serve` is handed a listener instead).
    pub addr: String,
    /// Share the room through this Redis (`redis://HOST:PORT`).
    pub redis: Option<String>,
    /// The Redis key prefix of the room.
    pub room: String,
    /// Bytes queued for one member, beyond which it is dropped (1008).
    /// Default 4 MiB: 5,000 members all speaking at once queue about 600 KiB
    /// for each member, and the queue holds references, not copies.
    pub max_backlog: usize,
    /// A member whose socket takes no message for this long is dropped.
    /// Default 20 s, the same as the keepalive's Pong deadline.
    pub stall_timeout: Duration,
    /// How long a dropped member's Close may take to be written, and its
    /// closing handshake to complete, before the socket is just closed.
    pub close_grace: Duration,
    /// Accept permessage-deflate, sending each broadcast compressed once.
    pub deflate: bool,
    /// Messages a member may send per second, on average...
    pub rate: f64,
    /// ...and at once.
    pub burst: f64,
    /// With Redis: how long a process's key outlives its last refresh;
    /// members of a process silent for longer are removed by the others.
    pub node_ttl: Duration,
    /// Print no line per join, leave and page load.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: "127.0.0.1:8080".into(),
            redis: None,
            room: "hybi-chat".into(),
            max_backlog: 4 << 20,
            stall_timeout: Duration::from_secs(20),
            close_grace: Duration::from_secs(5),
            deflate: true,
            rate: 5.0,
            burst: 10.0,
            node_ttl: Duration::from_secs(15),
            quiet: false,
        }
    }
}

impl Options {
    /// Parses the command line (without the program's name): `None` for
    /// `--help`, `Err` for a mistake (with the usage).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut options = Options::default();
        let mut addr = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--help" | "-h" => return Ok(None),
                "--redis" => options.redis = Some(value("--redis")?),
                "--room" => options.room = value("--room")?,
                "--quiet" => options.quiet = true,
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag}\n\n{USAGE}"))
                }
                _ if addr.is_none() => addr = Some(arg),
                _ => return Err(format!("unexpected argument {arg}\n\n{USAGE}")),
            }
        }
        if let Some(addr) = addr {
            options.addr = addr;
        }
        Ok(Some(options))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(mistake) => {
            eprint!("{mistake}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("chat room on http://{addr}/"),
        Err(error) => eprintln!("chat room on {} ({error})", options.addr),
    }
    let stop = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("cannot wait for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    match serve_until(listener, options, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chat: {error}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Serving.

/// Serves the room on `listener` until an error ends it (the Redis
/// connection lost). Dropping the future ends every connection at once,
/// with no goodbye, as if the process died.
pub async fn serve(listener: TcpListener, options: Options) -> std::io::Result<()> {
    serve_until(listener, options, std::future::pending()).await
}

/// [`serve`] until `stop` completes, then closes every member (1001),
/// announces their leaves and returns.
pub async fn serve_until(
    listener: TcpListener,
    options: Options,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (room, mut background) = Room::open(options).await?;
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    connections.spawn(connection(stream, peer, next_id, Arc::clone(&room)));
                }
                // Out of file descriptors, usually: say so, and give the
                // members that leave a moment to free some.
                Err(error) => {
                    eprintln!("accept: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(ended) = connections.join_next() => {
                if let Err(error) = ended {
                    eprintln!("a connection's task failed: {error}");
                }
            }
            Some(ended) = background.join_next(), if !background.is_empty() => {
                let error = match ended {
                    Ok(error) => error,
                    Err(error) => std::io::Error::other(error),
                };
                room.kick_all(CloseCode::INTERNAL_ERROR, "the room's Redis connection failed");
                drain(&mut connections, room.options.close_grace).await;
                return Err(error);
            }
            () = &mut stop => {
                room.shutdown().await;
                drain(&mut connections, room.options.close_grace).await;
                return Ok(());
            }
        }
    }
}

/// Lets the connections finish their closing handshakes, for at most
/// `grace`; the rest are dropped with the set.
async fn drain(connections: &mut JoinSet<()>, grace: Duration) {
    let deadline = Instant::now() + grace;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, connections.join_next()).await {}
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
    // that send none (scripts, the load test) are let in.
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

/// One TCP connection: the page, a 404, or a member of the room.
async fn connection(stream: TcpStream, peer: SocketAddr, id: u64, room: Arc<Room>) {
    if let Err(error) = stream.set_nodelay(true) {
        eprintln!("{peer}: TCP_NODELAY: {error}");
    }
    let mut answered = None;
    let accepted = WebSocketStream::accept_with(stream, room.config.clone(), |request| {
        let decision = route(request);
        if let Decision::Reject(reject) = &decision {
            answered = Some(format!("{} {}", request.target(), reject.status()));
        }
        decision
    })
    .await;
    match accepted {
        Ok(ws) => member(ws, peer, id, room).await,
        // The hook answered with the page or an error: this connection is done.
        Err(Error::Refused(_)) if answered.is_some() => {
            if !room.options.quiet {
                println!("{peer}: GET {}", answered.unwrap_or_default());
            }
        }
        // A connection opened and closed unused (browsers open spare ones).
        Err(Error::Closed) => {}
        Err(error) => eprintln!("{peer}: handshake: {error}"),
    }
}

// ---------------------------------------------------------------------------
// A member: its reading task, its writer task, and its queue.

/// Why a member's writer was told to stop: the Close to send.
#[derive(Debug, Clone)]
struct Kick {
    code: CloseCode,
    reason: String,
}

/// What the room and the member's writer share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes queued and not yet taken by the socket.
    backlog: AtomicUsize,
    /// Set once, when the member is to be closed.
    kick: Mutex<Option<Kick>>,
    kicked: Notify,
}

/// The sending end of a member's queue.
#[derive(Debug, Clone)]
struct Outbox {
    queue: mpsc::UnboundedSender<PreparedMessage>,
    shared: Arc<Shared>,
}

impl Outbox {
    /// Queues `message` unless that puts the backlog past `limit`; `Err`
    /// holds the backlog it would have reached.
    fn push(&self, message: &PreparedMessage, limit: usize) -> Result<(), usize> {
        let len = message.len();
        let backlog = self.shared.backlog.fetch_add(len, Ordering::Relaxed) + len;
        if backlog > limit {
            self.shared.backlog.fetch_sub(len, Ordering::Relaxed);
            return Err(backlog);
        }
        // The writer is gone only once the connection is over; the member's
        // task then takes it out of the room, so the message has nobody to go
        // to.
        if self.queue.send(message.clone()).is_err() {
            self.shared.backlog.fetch_sub(len, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Tells the writer to close the connection (the first kick wins).
    fn kick(&self, code: CloseCode, reason: impl Into<String>) {
        self.shared.kick(code, reason.into());
    }
}

impl Shared {
    fn kick(&self, code: CloseCode, reason: String) {
        let mut kick = lock(&self.kick);
        if kick.is_none() {
            *kick = Some(Kick { code, reason });
            self.kicked.notify_one();
        }
    }
}

/// How a writer ended.
#[derive(Debug)]
enum WriterEnd {
    /// Its queue closed: the member left.
    Done,
    /// It was kicked, and its Close was written (`true`) or the socket took
    /// none within the grace period (`false`).
    Kicked(Kick, bool),
}

/// Aborts its task when dropped, so a connection's task takes its writer
/// with it (also when `serve` is dropped).
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One member's connection: spawns its writer, reads until the end, and
/// leaves the room.
async fn member(ws: WebSocketStream<TcpStream>, peer: SocketAddr, id: u64, room: Arc<Room>) {
    let (mut read, write) = ws.split();
    let (queue, queued) = mpsc::unbounded_channel();
    let outbox = Outbox {
        queue,
        shared: Arc::default(),
    };
    let mut writer = Task(tokio::spawn(write_loop(
        write,
        queued,
        Arc::clone(&outbox.shared),
        id,
        Arc::clone(&room),
    )));
    let mut session = Session {
        id,
        peer,
        name: None,
        outbox,
        allowance: room.options.burst,
        checked: Instant::now(),
    };
    let mut reading = Box::pin(read_loop(&mut read, &mut session, &room));
    let grace = room.options.close_grace;
    let writer_end = tokio::select! {
        () = &mut reading => None,
        ended = &mut writer.0 => {
            // Kicked, or the socket failed: let the reader complete the
            // closing handshake (the page's Close reply), for a while.
            let _ = timeout(grace, &mut reading).await;
            Some(ended)
        }
    };
    drop(reading);
    room.leave(id).await;
    // With the member out of the room and its own sender dropped, the
    // writer's queue closes: it ends once what is queued is written.
    let Session { outbox, name, .. } = session;
    drop(outbox);
    let writer_end = match writer_end {
        Some(ended) => Some(ended),
        None => timeout(grace, &mut writer.0).await.ok(),
    };
    match writer_end {
        Some(Ok(Ok(WriterEnd::Done))) => {}
        Some(Ok(Ok(WriterEnd::Kicked(kick, written)))) => {
            if !room.options.quiet || kick.code != CloseCode::GOING_AWAY {
                let who = name.as_deref().unwrap_or("a visitor");
                let how = if written {
                    "closed"
                } else {
                    "dropped, its Close unsent"
                };
                println!("{who} ({peer}) {how}: {} {}", kick.code.0, kick.reason);
            }
        }
        // The page went away while a broadcast was on its way to it: the
        // reader saw the end, this is the same end seen from the writer.
        Some(Ok(Err(Error::Usage(_)))) if read.closed().is_some() => {}
        Some(Ok(Err(error))) => eprintln!("{peer}: send: {error}"),
        Some(Err(error)) => eprintln!("{peer}: writer task: {error}"),
        None => eprintln!("{peer}: the writer did not finish within {grace:?}; dropped"),
    }
}

/// A member's state as its reading task sees it.
struct Session {
    id: u64,
    peer: SocketAddr,
    /// Set once the room accepted a name.
    name: Option<String>,
    outbox: Outbox,
    /// Messages this member may still send now (a token bucket).
    allowance: f64,
    /// When the allowance was last topped up.
    checked: Instant,
}

/// Reads the member's messages until the connection is over.
async fn read_loop(read: &mut WsReadHalf<TcpStream>, session: &mut Session, room: &Arc<Room>) {
    while let Some(message) = read.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if let Err(error) = session.handle(&text, room).await {
                    let reply = room.prepare(&ServerMessage::Error { text: error.into() });
                    // An answer to this member's own message: not counted
                    // against the budget, which is for what others say.
                    let _ = session.outbox.push(&reply, usize::MAX);
                }
            }
            // Not part of the protocol: end the conversation politely.
            Ok(Message::Binary(_)) => session
                .outbox
                .kick(CloseCode::UNSUPPORTED_DATA, "text messages only"),
            // Pings are answered and a Close replied to by the engine.
            Ok(_) => {}
            // A protocol error (its Close already sent) or a transport
            // error; the stream ends after it.
            Err(error) => eprintln!("{}: {error}", session.peer),
        }
    }
}

impl Session {
    /// Acts on one message from the page; `Err` is an error to show it.
    async fn handle(&mut self, text: &str, room: &Arc<Room>) -> Result<(), &'static str> {
        let message: ClientMessage =
            serde_json::from_str(text).map_err(|_| "Malformed or unknown message.")?;
        match message {
            ClientMessage::Join { name } => {
                if self.name.is_some() {
                    return Err("You have already joined.");
                }
                let name = check_name(&name)?;
                room.join(self.id, &name, &self.outbox).await?;
                self.name = Some(name);
            }
            ClientMessage::Message { text } => {
                let Some(name) = &self.name else {
                    return Err("Join the room first.");
                };
                let text = text.trim();
                if text.chars().count() > MAX_TEXT {
                    return Err("Messages are at most 500 characters.");
                }
                let now = Instant::now();
                let refill = now.duration_since(self.checked).as_secs_f64() * room.options.rate;
                self.allowance = (self.allowance + refill).min(room.options.burst);
                self.checked = now;
                if self.allowance < 1.0 {
                    return Err("You are sending too fast; wait a moment.");
                }
                self.allowance -= 1.0;
                if !text.is_empty() {
                    // Control characters (a pasted newline) become spaces.
                    let text = text
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    let name = name.clone();
                    room.say(self.id, ServerMessage::Message { name, text })
                        .await;
                }
            }
        }
        Ok(())
    }
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

/// Sends what the room queued for one member, as fast as its socket takes
/// it, until the queue closes or the member is kicked.
async fn write_loop(
    mut write: WsWriteHalf<TcpStream>,
    mut queued: mpsc::UnboundedReceiver<PreparedMessage>,
    shared: Arc<Shared>,
    id: u64,
    room: Arc<Room>,
) -> Result<WriterEnd, Error> {
    let mut batch = Vec::with_capacity(BATCH);
    let stall = room.options.stall_timeout;
    loop {
        let n = tokio::select! {
            biased;
            () = shared.kicked.notified() => return close(&mut write, &shared, &room).await,
            n = queued.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return Ok(WriterEnd::Done);
        }
        for message in batch.drain(..) {
            let sent = tokio::select! {
                biased;
                () = shared.kicked.notified() => return close(&mut write, &shared, &room).await,
                sent = timeout(stall, write.send_prepared(&message)) => sent,
            };
            shared.backlog.fetch_sub(message.len(), Ordering::Relaxed);
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                // A cancelled send loses nothing: what the socket did not
                // take is in the engine, ahead of the Close.
                Err(_) => {
                    let reason = format!("not reading for {}s", stall.as_secs());
                    shared.kick(CloseCode::POLICY, reason.clone());
                    room.drop_member(id, reason).await;
                    return close(&mut write, &shared, &room).await;
                }
            }
        }
    }
}

/// Writes the kick's Close, waiting at most the grace period for the
/// socket to take it.
async fn close(
    write: &mut WsWriteHalf<TcpStream>,
    shared: &Shared,
    room: &Room,
) -> Result<WriterEnd, Error> {
    // Set before every call.
    let kick = lock(&shared.kick).clone().unwrap_or(Kick {
        code: CloseCode::POLICY,
        reason: String::new(),
    });
    match timeout(
        room.options.close_grace,
        write.close(kick.code, &kick.reason),
    )
    .await
    {
        Ok(Ok(())) => Ok(WriterEnd::Kicked(kick, true)),
        // Already closing (the page closed first): nothing more to say.
        Ok(Err(Error::Usage(_))) => Ok(WriterEnd::Kicked(kick, false)),
        Ok(Err(error)) => Err(error),
        Err(_) => Ok(WriterEnd::Kicked(kick, false)),
    }
}

// ---------------------------------------------------------------------------
// The room.

/// Who is in the room on this process, and how to reach the others.
struct Room {
    options: Options,
    /// Every connection's engine settings.
    config: Config,
    /// Compress each broadcast once with this, if deflate is on.
    deflate: Option<DeflateConfig>,
    state: Mutex<State>,
    /// `None` when the room is this process alone.
    redis: Option<Link>,
}

#[derive(Default)]
struct State {
    /// This process's members, by connection id (so in order of arrival).
    members: BTreeMap<u64, Joined>,
    /// Alone: every name taken, lowercased.
    names: HashSet<String>,
    /// With Redis: joins between the script and the welcome.
    pending: HashMap<u64, Pending>,
}

struct Joined {
    name: String,
    outbox: Outbox,
}

/// A join Redis accepted whose welcome is not sent yet: it needs both the
/// script's answer (the member list) and its join event back from the
/// channel (the place in the room's order). Events after that one are held.
struct Pending {
    name: String,
    outbox: Outbox,
    members: Option<Vec<String>>,
    seen: bool,
    held: Vec<PreparedMessage>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the room half-changed in
    // a way that matters more than stopping the whole room would.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Room {
    /// The room, and its background tasks (with Redis: the subscription,
    /// the heartbeat and the reaper), each of which returns only on failure.
    async fn open(options: Options) -> std::io::Result<(Arc<Room>, JoinSet<std::io::Error>)> {
        let mut config = Config::default();
        config.plain_http_requests = true;
        config.max_frame_size = MAX_FRAME;
        config.max_message_size = MAX_FRAME;
        config.handshake_timeout = Some(Duration::from_secs(10));
        // A page silent for 30 s is pinged (browsers answer by themselves);
        // one that does not answer within 20 s is gone (1011).
        config.keepalive_interval = Some(Duration::from_secs(30));
        config.keepalive_timeout = Duration::from_secs(20);
        config.close_timeout = Some(options.close_grace);
        let deflate = options.deflate.then(|| {
            let mut deflate = DeflateConfig::default();
            // server_no_context_takeover: one compressed frame serves all.
            deflate.local_no_context_takeover = true;
            deflate
        });
        config.deflate = deflate.clone();
        let mut background = JoinSet::new();
        let redis = match &options.redis {
            Some(url) => Some(Link::connect(url, &options).await?),
            None => None,
        };
        let room = Arc::new(Room {
            options,
            config,
            deflate,
            state: Mutex::default(),
            redis,
        });
        if let Some(link) = &room.redis {
            link.start(&room, &mut background).await?;
        }
        Ok((room, background))
    }

    /// `message` serialized and framed once, for every member.
    fn prepare(&self, message: &ServerMessage) -> PreparedMessage {
        // Strings and numbers only: serializing cannot fail.
        let json = serde_json::to_string(message).expect("chat messages serialize");
        let prepared = PreparedMessage::text(&json);
        match &self.deflate {
            Some(deflate) => prepared.with_deflate(deflate),
            None => prepared,
        }
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.options.quiet {
            println!("{line}");
        }
    }

    /// Adds a member under `name` (free, ignoring case) and welcomes it.
    async fn join(
        self: &Arc<Self>,
        id: u64,
        name: &str,
        outbox: &Outbox,
    ) -> Result<(), &'static str> {
        if let Some(link) = &self.redis {
            return link.join(self, id, name, outbox).await;
        }
        let mut state = lock(&self.state);
        if !state.names.insert(name.to_lowercase()) {
            return Err("That name is taken.");
        }
        let joined = Joined {
            name: name.to_string(),
            outbox: outbox.clone(),
        };
        state.members.insert(id, joined);
        let members = state.members.values().map(|m| m.name.clone()).collect();
        let count = state.members.len();
        let welcome = self.prepare(&ServerMessage::Welcome {
            name: name.to_string(),
            count,
            members,
        });
        let _ = outbox.push(&welcome, usize::MAX);
        self.log(format_args!("{name} joined"));
        let event = ServerMessage::Presence {
            event: Presence::Join,
            name: name.to_string(),
            count,
        };
        self.broadcast_alone(&mut state, event, Some(id));
        Ok(())
    }

    /// Sends a member's message to everyone, the member included.
    async fn say(self: &Arc<Self>, id: u64, message: ServerMessage) {
        if let Some(link) = &self.redis {
            // A member dropped for being slow may still be talking.
            if lock(&self.state).members.contains_key(&id) {
                link.say(id, &message).await;
            }
            return;
        }
        let mut state = lock(&self.state);
        if state.members.contains_key(&id) {
            self.broadcast_alone(&mut state, message, None);
        }
    }

    /// Takes a member out of the room and tells everyone; nothing if it is
    /// not (or no longer) in.
    async fn leave(self: &Arc<Self>, id: u64) {
        let (pending, gone) = {
            let mut state = lock(&self.state);
            (state.pending.remove(&id), state.members.remove(&id))
        };
        if let Some(gone) = gone {
            self.log(format_args!("{} left", gone.name));
            self.announce_leave(id, &gone.name).await;
        } else if let (Some(pending), Some(link)) = (pending, &self.redis) {
            // A join cut short (the connection ended during the script):
            // its claim, if the script ran, is removed after it, in order
            // on the same Redis connection.
            link.leave(id, &pending.name).await;
        }
    }

    /// Drops a member for `reason` (1008) and announces it.
    async fn drop_member(self: &Arc<Self>, id: u64, reason: String) {
        let gone = lock(&self.state).members.remove(&id);
        if let Some(gone) = gone {
            self.log(format_args!("{} dropped: {reason}", gone.name));
            gone.outbox.kick(CloseCode::POLICY, reason);
            self.announce_leave(id, &gone.name).await;
        }
    }

    async fn announce_leave(self: &Arc<Self>, id: u64, name: &str) {
        match &self.redis {
            Some(link) => link.leave(id, name).await,
            None => {
                let mut state = lock(&self.state);
                state.names.remove(&name.to_lowercase());
                let event = ServerMessage::Presence {
                    event: Presence::Leave,
                    name: name.to_string(),
                    count: state.members.len(),
                };
                self.broadcast_alone(&mut state, event, None);
            }
        }
    }

    /// Alone: sends `message` to every member but `skip`, then announces
    /// whoever that dropped (which may drop more).
    fn broadcast_alone(&self, state: &mut State, message: ServerMessage, skip: Option<u64>) {
        let mut queue = VecDeque::from([(message, skip)]);
        while let Some((message, skip)) = queue.pop_front() {
            let prepared = self.prepare(&message);
            let gone = self.deliver(state, &prepared, skip);
            // One leave each, with the count as each one went.
            let mut count = state.members.len() + gone.len();
            for (_, gone) in gone {
                state.names.remove(&gone.name.to_lowercase());
                count -= 1;
                let event = ServerMessage::Presence {
                    event: Presence::Leave,
                    name: gone.name,
                    count,
                };
                queue.push_back((event, None));
            }
        }
    }

    /// Queues `message` for every member but `skip`; a member whose backlog
    /// would pass the limit is taken out, kicked, and returned.
    fn deliver(
        &self,
        state: &mut State,
        message: &PreparedMessage,
        skip: Option<u64>,
    ) -> Vec<(u64, Joined)> {
        let limit = self.options.max_backlog;
        let mut over = Vec::new();
        for (&id, member) in &state.members {
            if Some(id) == skip {
                continue;
            }
            if let Err(backlog) = member.outbox.push(message, limit) {
                over.push((id, backlog));
            }
        }
        for (&id, pending) in &mut state.pending {
            if pending.seen && Some(id) != skip {
                pending.held.push(message.clone());
            }
        }
        over.into_iter()
            .filter_map(|(id, backlog)| {
                let gone = state.members.remove(&id)?;
                let reason = format!("too far behind ({backlog} bytes queued)");
                self.log(format_args!("{} dropped: {reason}", gone.name));
                gone.outbox.kick(CloseCode::POLICY, reason);
                Some((id, gone))
            })
            .collect()
    }

    /// Closes every member of this process with `code`.
    fn kick_all(&self, code: CloseCode, reason: &str) {
        let state = lock(&self.state);
        for member in state.members.values() {
            member.outbox.kick(code, reason);
        }
    }

    /// A clean stop: every member closed (1001) and, with Redis, their
    /// leaves announced and this process's key deleted.
    async fn shutdown(self: &Arc<Self>) {
        let members: Vec<(u64, String)> = {
            let state = lock(&self.state);
            state
                .members
                .iter()
                .map(|(&id, m)| (id, m.name.clone()))
                .collect()
        };
        self.kick_all(CloseCode::GOING_AWAY, "the server is shutting down");
        if let Some(link) = &self.redis {
            for (id, name) in members {
                link.leave(id, &name).await;
            }
            link.forget().await;
        }
    }
}

// ---------------------------------------------------------------------------
// Redis: the room shared between processes.

/// Claims a name, counts, publishes the join and returns the members.
/// KEYS: members hash, channel. ARGV: lowercased name, owner, envelope
/// origin, name.
const JOIN: &str = r#"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return false end
local count = redis.call('HLEN', KEYS[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({from = ARGV[3], event = {
  type = 'presence', event = 'join', name = ARGV[4], count = count}}))
return redis.call('HVALS', KEYS[1])
"#;

/// Removes a member if it is ours, counts, publishes the leave.
/// KEYS: members hash, channel. ARGV: lowercased name, origin.
const LEAVE: &str = r#"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local member = cjson.decode(value)
if member.from ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local count = redis.call('HLEN', KEYS[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({from = ARGV[2], event = {
  type = 'presence', event = 'leave', name = member.name, count = count}}))
return 1
"#;

/// Removes every member whose process key expired, publishing a leave for
/// each. KEYS: members hash, channel. ARGV: the process keys' prefix.
const REAP: &str = r#"
local all = redis.call('HGETALL', KEYS[1])
local reaped = 0
for i = 1, #all, 2 do
  local member = cjson.decode(all[i + 1])
  local node = string.match(member.from, '^(.*)/')
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    redis.call('HDEL', KEYS[1], all[i])
    local count = redis.call('HLEN', KEYS[1])
    redis.call('PUBLISH', KEYS[2], cjson.encode({from = member.from, event = {
      type = 'presence', event = 'leave', name = member.name, count = count}}))
    reaped = reaped + 1
  end
end
return reaped
"#;

/// What travels on the channel: an event and the member it comes from
/// (`process/connection`).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    from: String,
    event: ServerMessage,
}

/// A member's entry in the hash.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    from: String,
    name: String,
}

/// This process's connection to the shared room.
struct Link {
    client: redis::Client,
    commands: redis::aio::MultiplexedConnection,
    /// This process's name in the room: random, new on every start.
    node: String,
    members_key: String,
    channel: String,
    node_prefix: String,
    join: redis::Script,
    leave: redis::Script,
    reap: redis::Script,
}

fn redis_error(error: redis::RedisError) -> std::io::Error {
    std::io::Error::other(error)
}

impl Link {
    async fn connect(url: &str, options: &Options) -> std::io::Result<Link> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        // The default 0.5 s answer deadline is short for a busy machine.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_connection_timeout(Some(Duration::from_secs(10)));
        let commands = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_error)?;
        let node = format!("{:016x}", RandomState::new().hash_one(std::process::id()));
        let room = &options.room;
        Ok(Link {
            client,
            commands,
            node,
            members_key: format!("{room}:members"),
            channel: format!("{room}:events"),
            node_prefix: format!("{room}:node:"),
            join: redis::Script::new(JOIN),
            leave: redis::Script::new(LEAVE),
            reap: redis::Script::new(REAP),
        })
    }

    fn origin(&self, id: u64) -> String {
        format!("{}/{id}", self.node)
    }

    /// Subscribes (before any member can join) and registers this process,
    /// then starts the subscription, heartbeat and reaper tasks.
    async fn start(
        &self,
        room: &Arc<Room>,
        tasks: &mut JoinSet<std::io::Error>,
    ) -> std::io::Result<()> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(redis_error)?;
        pubsub.subscribe(&self.channel).await.map_err(redis_error)?;
        let ttl = room.options.node_ttl;
        let mut commands = self.commands.clone();
        let key = format!("{}{}", self.node_prefix, self.node);
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut commands)
            .await
            .map_err(redis_error)?;

        let weak = Arc::downgrade(room);
        tasks.spawn(async move {
            use futures_util::StreamExt as _;
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Some(room) = weak.upgrade() else { break };
                match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                    Ok(envelope) => room.apply(envelope),
                    Err(error) => eprintln!("redis: an event that is not the chat's: {error}"),
                }
            }
            std::io::Error::other("the Redis subscription ended")
        });

        let weak = Arc::downgrade(room);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(room) = weak.upgrade() else {
                    return std::io::Error::other("the room is gone");
                };
                let Some(link) = &room.redis else {
                    return std::io::Error::other("no Redis link");
                };
                if let Err(error) = link.beat(&key, ttl).await {
                    return redis_error(error);
                }
            }
        });
        Ok(())
    }

    /// Keeps this process's key alive and removes the members of processes
    /// whose key expired.
    async fn beat(&self, key: &str, ttl: Duration) -> redis::RedisResult<()> {
        let mut commands = self.commands.clone();
        let px = ttl.as_millis() as u64;
        let kept: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("PX")
            .arg(px)
            .arg("XX")
            .query_async(&mut commands)
            .await?;
        if kept.is_none() {
            // Presumed dead (stalled past the ttl): alive again. Members the
            // others already removed are closed when their leaves arrive.
            eprintln!("redis: this process's key had expired; registering again");
            let () = redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("PX")
                .arg(px)
                .query_async(&mut commands)
                .await?;
        }
        let reaped: u64 = self
            .reap
            .key(&self.members_key)
            .key(&self.channel)
            .arg(&self.node_prefix)
            .invoke_async(&mut commands)
            .await?;
        if reaped > 0 {
            eprintln!("redis: removed {reaped} members of processes that stopped");
        }
        Ok(())
    }

    async fn join(
        &self,
        room: &Arc<Room>,
        id: u64,
        name: &str,
        outbox: &Outbox,
    ) -> Result<(), &'static str> {
        lock(&room.state).pending.insert(
            id,
            Pending {
                name: name.to_string(),
                outbox: outbox.clone(),
                members: None,
                seen: false,
                held: Vec::new(),
            },
        );
        let origin = self.origin(id);
        let entry = serde_json::to_string(&Entry {
            from: origin.clone(),
            name: name.to_string(),
        })
        .expect("entries serialize");
        let mut commands = self.commands.clone();
        let answer: redis::RedisResult<Option<Vec<String>>> = self
            .join
            .key(&self.members_key)
            .key(&self.channel)
            .arg(name.to_lowercase())
            .arg(entry)
            .arg(&origin)
            .arg(name)
            .invoke_async(&mut commands)
            .await;
        let mut state = lock(&room.state);
        let members = match answer {
            Ok(Some(entries)) => entries
                .iter()
                .filter_map(|entry| serde_json::from_str::<Entry>(entry).ok())
                .map(|entry| entry.name)
                .collect(),
            Ok(None) => {
                state.pending.remove(&id);
                return Err("That name is taken.");
            }
            Err(error) => {
                state.pending.remove(&id);
                eprintln!("redis: join: {error}");
                return Err("The room is unavailable; try again.");
            }
        };
        let Some(pending) = state.pending.get_mut(&id) else {
            // Only `leave` removes it, and it runs after this returns.
            return Ok(());
        };
        pending.members = Some(members);
        if pending.seen {
            room.welcome(&mut state, id);
        }
        Ok(())
    }

    async fn say(&self, id: u64, message: &ServerMessage) {
        let envelope = serde_json::to_string(&Envelope {
            from: self.origin(id),
            event: message.clone(),
        })
        .expect("envelopes serialize");
        let mut commands = self.commands.clone();
        let published: redis::RedisResult<u64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(envelope)
            .query_async(&mut commands)
            .await;
        if let Err(error) = published {
            eprintln!("redis: publish: {error}");
        }
    }

    async fn leave(&self, id: u64, name: &str) {
        let mut commands = self.commands.clone();
        let left: redis::RedisResult<u64> = self
            .leave
            .key(&self.members_key)
            .key(&self.channel)
            .arg(name.to_lowercase())
            .arg(self.origin(id))
            .invoke_async(&mut commands)
            .await;
        if let Err(error) = left {
            eprintln!("redis: leave: {error}");
        }
    }

    /// Deletes this process's key (a clean stop).
    async fn forget(&self) {
        let mut commands = self.commands.clone();
        let key = format!("{}{}", self.node_prefix, self.node);
        let deleted: redis::RedisResult<u64> =
            redis::cmd("DEL").arg(key).query_async(&mut commands).await;
        if let Err(error) = deleted {
            eprintln!("redis: {error}");
        }
    }
}

impl Room {
    /// With Redis: one event from the channel, in the room's order.
    fn apply(self: &Arc<Self>, envelope: Envelope) {
        let Some(link) = &self.redis else { return };
        let ours = envelope
            .from
            .strip_prefix(link.node.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| id.parse::<u64>().ok());
        let mut state = lock(&self.state);
        if let (Some(id), ServerMessage::Presence { event, .. }) = (ours, &envelope.event) {
            match event {
                // Our own join: its welcome goes now if the script answered.
                Presence::Join => {
                    if let Some(pending) = state.pending.get_mut(&id) {
                        if pending.members.is_some() {
                            self.welcome(&mut state, id);
                        } else {
                            pending.seen = true;
                        }
                    }
                }
                // Removed by another process's reaper while still here:
                // close it, so its page can rejoin.
                Presence::Leave => {
                    if let Some(gone) = state.members.remove(&id) {
                        gone.outbox.kick(
                            CloseCode::SERVICE_RESTART,
                            "the room lost track of this server",
                        );
                    }
                }
            }
        }
        let prepared = self.prepare(&envelope.event);
        let skip = ours.filter(|_| {
            matches!(
                envelope.event,
                ServerMessage::Presence {
                    event: Presence::Join,
                    ..
                }
            )
        });
        let over = self.deliver(&mut state, &prepared, skip);
        drop(state);
        for (id, gone) in over {
            let room = Arc::clone(self);
            tokio::spawn(async move { room.announce_leave(id, &gone.name).await });
        }
    }

    /// With Redis: a pending member becomes a member, welcomed with the
    /// list as of its join and then the events held since.
    fn welcome(&self, state: &mut State, id: u64) {
        let Some(pending) = state.pending.remove(&id) else {
            return;
        };
        let members = pending.members.unwrap_or_default();
        let welcome = self.prepare(&ServerMessage::Welcome {
            name: pending.name.clone(),
            count: members.len(),
            members,
        });
        let _ = pending.outbox.push(&welcome, usize::MAX);
        for message in &pending.held {
            let _ = pending.outbox.push(message, usize::MAX);
        }
        self.log(format_args!("{} joined", pending.name));
        state.members.insert(
            id,
            Joined {
                name: pending.name,
                outbox: pending.outbox,
            },
        );
    }
}
