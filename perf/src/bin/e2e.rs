//! End to end over loopback: one echo server per implementation (hybi's
//! tokio adapter, hybi's blocking adapter, tokio-tungstenite,
//! fastwebsockets, tokio-websockets), all driven by the same load
//! generator, written with hybi's client.
//!
//! `e2e` (no argument) runs everything and writes `results/e2e.json`: for
//! each round, each message kind and size and each server (interleaved), it
//! starts the server as a child process (`e2e server NAME`), runs the load
//! generator against it, and closes the child's standard input, on which the
//! server exits. A server also exits by itself after 10 minutes, so nothing
//! outlives the run. The load and the tokio servers run a current-thread
//! tokio runtime, so on this 2-core machine the server has one core and the
//! load one. "hybi blocking" (`io::blocking::WebSocket`, one thread per
//! connection, as `examples/echo_server.rs` does) pins its process to one
//! CPU for the same reason: its 50 threads would otherwise spread over both
//! cores, which a single-threaded server cannot do.
//!
//! The load: `HYBI_E2E_CONNS` connections (default 50), each sending
//! messages one at a time and waiting for each echo (closed loop), until
//! the run's message budget is spent. Two kinds of message at each size:
//! binary (`0x5a` bytes), and text, a sentence of Chinese repeated and cut
//! at the last char boundary at or below the size (3-byte code points: 18,
//! 1023 and 16383 bytes; `bytes` in the JSON). Every server echoes text as
//! text, after its library validated the UTF-8 on receipt: hybi in the
//! engine (the tokio and blocking adapters hand out `Message::Text(String)`,
//! the user's path), tungstenite when it builds `Message::Text(Utf8Bytes)`,
//! fastwebsockets in `WebSocket::read_frame` (simdutf8), tokio-websockets
//! in its decoder (simdutf8). Reported: messages echoed per second and the
//! p50 / p99 round trip of a message.
//!
//! Also reported: the server process's CPU time per message (user + system,
//! from `getrusage(RUSAGE_CHILDREN)` around each server's exit), which other
//! work on the shared cores disturbs far less than the rate.
//!
//! Environment: `HYBI_E2E_ROUNDS` (default 3), `HYBI_E2E_SCALE` (a factor
//! on the message budgets, default 1.0), `HYBI_E2E_SIZES`,
//! `HYBI_E2E_KINDS` (`binary`, `text`) and `HYBI_E2E_SERVERS`
//! (comma-separated subsets, for quick looks; the report needs them all).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// "hybi" is the tokio adapter (the name older results carry).
const SERVERS: &[&str] = &[
    "hybi",
    "hybi blocking",
    "tokio-tungstenite",
    "fastwebsockets",
    "tokio-websockets",
];
/// Message sizes and the messages per run at each (before the scale).
const SIZES: &[(usize, usize)] = &[(20, 200_000), (1024, 150_000), (16 * 1024, 60_000)];
const KINDS: &[Kind] = &[Kind::Binary, Kind::Text];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Binary,
    Text,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
        }
    }
}

/// Multibyte text for the text rows: every code point is 3 bytes in UTF-8.
const SENTENCE: &str = "我们在本机回环上测量每一种实现的端到端回显速度，文本消息必须逐字节验证。";

/// `SENTENCE` repeated, cut at the last char boundary at or below `size`.
fn text_of(size: usize) -> String {
    let mut text = SENTENCE.repeat(size / SENTENCE.len() + 1);
    let mut end = size;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// The message the load sends (and expects back) for a kind and size.
fn message_of(kind: Kind, size: usize) -> hybi::io::Message {
    match kind {
        Kind::Binary => hybi::io::Message::Binary(vec![0x5au8; size]),
        Kind::Text => hybi::io::Message::Text(text_of(size)),
    }
}

fn message_len(message: &hybi::io::Message) -> usize {
    match message {
        hybi::io::Message::Binary(b) => b.len(),
        hybi::io::Message::Text(t) => t.len(),
        other => panic!("not a data message: {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => server(&args[2]),
        None => drive(),
        Some(other) => panic!("unknown command {other}; usage: e2e [server NAME]"),
    }
}

// ---- the servers ----

fn server(name: &str) {
    // Exit when the driver closes our standard input, or after 10 minutes.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(600));
        std::process::exit(2);
    });
    if name == "hybi blocking" {
        serve_blocking();
    }
    let name = name.to_string();
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr"));
        std::io::stdout().flush().expect("stdout");
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let name = name.clone();
            tokio::spawn(async move {
                let result = match name.as_str() {
                    "hybi" => serve_hybi(stream).await,
                    "tokio-tungstenite" => serve_tungstenite(stream).await,
                    "fastwebsockets" => serve_fastwebsockets(stream).await,
                    "tokio-websockets" => serve_tokio_websockets(stream).await,
                    other => panic!("unknown server {other}"),
                };
                if let Err(e) = result {
                    eprintln!("{name}: connection ended: {e}");
                }
            });
        }
    });
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn serve_hybi(stream: TcpStream) -> Result<()> {
    use hybi::io::tokio::WebSocketStream;
    use hybi::io::Message;
    let mut ws = WebSocketStream::accept(stream, hybi::Config::default()).await?;
    while let Some(message) = ws.next().await {
        if let m @ (Message::Text(_) | Message::Binary(_)) = message? {
            ws.send(m).await?;
        }
    }
    Ok(())
}

/// The blocking adapter's server: one thread per connection, as
/// `examples/echo_server.rs` does, in a process held to one CPU.
fn serve_blocking() -> ! {
    pin_to_one_cpu();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    std::io::stdout().flush().expect("stdout");
    loop {
        let (stream, _) = listener.accept().expect("accept");
        std::thread::spawn(move || {
            if let Err(e) = serve_hybi_blocking(stream) {
                eprintln!("hybi blocking: connection ended: {e}");
            }
        });
    }
}

fn serve_hybi_blocking(stream: std::net::TcpStream) -> Result<()> {
    use hybi::io::blocking::WebSocket;
    use hybi::io::Message;
    stream.set_nodelay(true)?;
    let mut ws = WebSocket::accept(stream, hybi::Config::default())?;
    while let Some(message) = ws.read()? {
        if let m @ (Message::Text(_) | Message::Binary(_)) = message {
            ws.send(m)?;
        }
    }
    Ok(())
}

/// Holds this process, and the threads it starts from here on, to the last
/// CPU it may run on, so a thread-per-connection server gets one core like
/// the current-thread ones.
fn pin_to_one_cpu() {
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0
    // is this thread, and threads spawned after inherit its mask.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0, "getaffinity");
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&c| libc::CPU_ISSET(c, &set))
            .expect("some CPU");
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size, &set), 0, "setaffinity");
    }
}

async fn serve_tungstenite(stream: TcpStream) -> Result<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(message) = ws.next().await {
        match message? {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

async fn serve_fastwebsockets(mut stream: TcpStream) -> Result<()> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    // fastwebsockets leaves the HTTP upgrade to hyper (its `upgrade`
    // feature); to keep hyper out of the build, this reads the request head
    // and answers 101 itself. Only the frames are fastwebsockets' work.
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&byte[..n]);
    }
    let mut headers = [httparse_header(); 32];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head)?;
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .ok_or("no key")?
        .value;
    let accept = hybi::accept_key(key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept.as_str()
    );
    stream.write_all(response.as_bytes()).await?;
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            OpCode::Close => break,
            _ => {}
        }
    }
    Ok(())
}

fn httparse_header() -> httparse::Header<'static> {
    httparse::EMPTY_HEADER
}

async fn serve_tokio_websockets(stream: TcpStream) -> Result<()> {
    use futures_util::{SinkExt, StreamExt};
    let (_, mut ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        } else if message.is_close() {
            break;
        }
    }
    Ok(())
}

// ---- the load generator ----

struct Run {
    messages: usize,
    seconds: f64,
    latencies_ns: Vec<u64>,
}

async fn load(addr: SocketAddr, kind: Kind, size: usize, conns: usize, messages: usize) -> Run {
    let per_conn = messages.div_ceil(conns);
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(async move {
                use hybi::io::tokio::WebSocketStream;
                use hybi::io::Message;
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let request = hybi::ClientRequest::new(&format!("ws://{addr}/")).expect("request");
                let mut ws = WebSocketStream::connect(request, stream, hybi::Config::default())
                    .await
                    .expect("handshake");
                let message = message_of(kind, size);
                let len = message_len(&message);
                let mut latencies = Vec::with_capacity(per_conn);
                for _ in 0..per_conn {
                    let sent = Instant::now();
                    ws.send(message.clone()).await.expect("send");
                    match (kind, ws.next().await) {
                        (Kind::Binary, Some(Ok(Message::Binary(echo)))) => {
                            assert_eq!(echo.len(), len)
                        }
                        (Kind::Text, Some(Ok(Message::Text(echo)))) => assert_eq!(echo.len(), len),
                        (_, other) => panic!("unexpected {other:?}"),
                    }
                    latencies.push(sent.elapsed().as_nanos() as u64);
                }
                let _ = ws.close(hybi::CloseCode::NORMAL, "").await;
                latencies
            })
        })
        .collect();
    let mut latencies_ns = Vec::with_capacity(per_conn * conns);
    for task in tasks {
        latencies_ns.extend(task.await.expect("load task"));
    }
    Run {
        messages: per_conn * conns,
        seconds: start.elapsed().as_secs_f64(),
        latencies_ns,
    }
}

/// CPU time (user + system) of the children waited for so far, in seconds.
fn children_cpu() -> f64 {
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_CHILDREN is a
    // constant Linux defines.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn listed(var: &str, name: &str) -> bool {
    std::env::var(var).map_or(true, |list| list.split(',').any(|x| x == name))
}

/// One server at one size, over the rounds.
#[derive(Clone, Default)]
struct Tally {
    rates: Vec<f64>,
    latencies_ns: Vec<u64>,
    server_cpu_s: f64,
    messages: usize,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn drive() {
    let rounds: usize = env("HYBI_E2E_ROUNDS", 3);
    let conns: usize = env("HYBI_E2E_CONNS", 50);
    let scale: f64 = env("HYBI_E2E_SCALE", 1.0);
    let exe = std::env::current_exe().expect("exe");
    // Every kind at every size: binary first, as in older results.
    let cases: Vec<(Kind, usize, usize)> = KINDS
        .iter()
        .flat_map(|&kind| {
            SIZES
                .iter()
                .map(move |&(size, budget)| (kind, size, budget))
        })
        .collect();
    let mut results = vec![vec![Tally::default(); SERVERS.len()]; cases.len()];
    for round in 0..rounds {
        for (s, &(kind, size, budget)) in cases.iter().enumerate() {
            let messages = ((budget as f64 * scale) as usize).max(conns);
            if !listed("HYBI_E2E_SIZES", &size.to_string())
                || !listed("HYBI_E2E_KINDS", kind.name())
            {
                continue;
            }
            for k in 0..SERVERS.len() {
                let i = (k + round) % SERVERS.len();
                let name = SERVERS[i];
                if !listed("HYBI_E2E_SERVERS", name) {
                    continue;
                }
                let cpu_before = children_cpu();
                let mut child = Command::new(&exe)
                    .args(["server", name])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("spawn server");
                let mut line = String::new();
                BufReader::new(child.stdout.take().expect("stdout"))
                    .read_line(&mut line)
                    .expect("server address");
                let addr: SocketAddr = line.trim().parse().expect("address");
                let run = runtime().block_on(load(addr, kind, size, conns, messages));
                drop(child.stdin.take()); // the server exits
                child.wait().expect("server exit");
                let cpu = children_cpu() - cpu_before;
                let rate = run.messages as f64 / run.seconds;
                eprintln!(
                    "round {round} {:<6} {size:>5} {name:<18} {rate:>10.0} msg/s  {:>6.2} µs server CPU/msg  ({} messages)",
                    kind.name(),
                    cpu * 1e6 / run.messages as f64,
                    run.messages
                );
                let tally = &mut results[s][i];
                tally.rates.push(rate);
                tally.latencies_ns.extend(run.latencies_ns);
                tally.server_cpu_s += cpu;
                tally.messages += run.messages;
            }
        }
    }
    let mut out_cases = Vec::new();
    for (s, &(kind, size, _)) in cases.iter().enumerate() {
        let mut map = serde_json::Map::new();
        for (i, name) in SERVERS.iter().enumerate() {
            let Tally {
                rates,
                latencies_ns: latencies,
                server_cpu_s: cpu,
                messages,
            } = &mut results[s][i];
            if rates.is_empty() {
                continue;
            }
            rates.sort_by(f64::total_cmp);
            latencies.sort_unstable();
            map.insert(
                name.to_string(),
                serde_json::json!({
                    "msgs_per_s": rates[rates.len() / 2],
                    "best_msgs_per_s": rates[rates.len() - 1],
                    "p50_us": percentile(latencies, 0.50),
                    "p99_us": percentile(latencies, 0.99),
                    "server_cpu_us_per_msg": *cpu * 1e6 / *messages as f64,
                }),
            );
        }
        if map.is_empty() {
            continue;
        }
        let bytes = message_len(&message_of(kind, size));
        out_cases.push(serde_json::json!({
            "kind": kind.name(), "size": size, "bytes": bytes, "results": map,
        }));
    }
    let out = serde_json::json!({
        "settings": { "rounds": rounds, "connections": conns, "scale": scale,
                      "runtime": "tokio current_thread, server and load in separate processes" },
        "cases": out_cases,
    });
    let path = std::env::var("HYBI_E2E_OUT").unwrap_or_else(|_| "results/e2e.json".into());
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).expect("results dir");
    }
    std::fs::write(&path, serde_json::to_string_pretty(&out).expect("json")).expect("write");
    eprintln!("wrote {path}");
}
