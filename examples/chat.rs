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
//! Four files: this one (the protocol, the command line, serving a
//! connection), `chat/member.rs` (a member's two tasks and its queue),
//! `chat/room.rs` (the fan-out, and the room of one process) and
//! `chat/redis_room.rs` (the room shared through Redis).
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
//!   and each member's queue holds a reference to it (an `Arc`). The
//!   writer takes everything queued at once, feeds it to the engine
//!   ([`WsWriteHalf::feed_prepared`]) and flushes once: a member behind by
//!   a burst of broadcasts gets them in one write, not one system call per
//!   message (with 1,000 members all speaking, 1.4 million deliveries a
//!   second on one core, 9x one `send_prepared` each; BENCHMARKS.md). It
//!   flushes every [`FLUSH_AT`] bytes too, so the engine's output buffer,
//!   which a burst grows and which stays for the next one, stays small.
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

// The parts, each in its own file under examples/chat/ (the paths are
// relative to this file, so a test can include it with `#[path]` too).
#[path = "chat/member.rs"]
mod member;
#[path = "chat/redis_room.rs"]
mod redis_room;
#[path = "chat/room.rs"]
mod room;
use member::*;
use redis_room::*;
use room::*;

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
/// Bytes a writer feeds the engine before it flushes: enough frames per
/// write that system calls stop mattering, few enough that the engine's
/// output buffer a burst grows (and keeps, for the next one) stays small.
const FLUSH_AT: usize = 4 * 1024;

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
                // The heartbeat, reaper and subscription first: a heartbeat
                // that ran after `forget` would bring this process's key
                // back (seen in CI: a key left in Redis after a clean stop).
                background.shutdown().await;
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
