//! The chat bench: `examples/chat.rs` (release) against a Node `ws` chat on
//! the same JSON protocol (`perf/chat-node/server.js`), driven by one load
//! generator written with hybi's tokio client.
//!
//! For each room size (100, 1,000, 5,000 members) and each server, in turn:
//!
//! 1. **Join**: the members connect (64 handshakes in flight) and join;
//!    join time runs until every member has been welcomed and has seen the
//!    count reach the room's size. The bytes the members received meanwhile
//!    are counted (the wire cost of presence).
//! 2. **Memory**: the server's RSS (`/proc/PID/status`, VmRSS) after the
//!    joins, minus its RSS before any connection, per member.
//! 3. **Everyone at once**: every member sends one message at the same
//!    moment (released together), in `rounds` rounds, each round waiting
//!    for the previous one to be delivered (10 rounds at 100 members, 1
//!    above). Reported: messages delivered out of those sent times members,
//!    members disconnected, deliveries per second (from the release to the
//!    last delivery), the server's CPU time per delivery (user + system,
//!    from `/proc/PID/stat`), and the p50 / p99 / max delivery latency
//!    (from the sender's send to each member's receipt, one clock: one
//!    process).
//!
//! Servers: `hybi` and `node` with members that do not offer
//! permessage-deflate; `hybi-deflate` and `node-deflate` with members that
//! offer it as browsers do (hybi's chat then sends each broadcast compressed
//! once; ws compresses per member, with context takeover). The deflate
//! variants run up to 1,000 members: inflating 25 million messages would
//! make the load generator, not the server, the thing measured.
//!
//! The server runs pinned to CPU 0 (hybi's with `TOKIO_WORKER_THREADS=1`,
//! so both servers have one thread and one core), this generator pinned to
//! CPU 1 on a current-thread runtime. A server dies with this process
//! (`PR_SET_PDEATHSIG`) and is stopped after each run (hybi's with SIGINT,
//! its clean stop; Node's by closing its standard input).
//!
//! Needs `cargo build --release --features tokio --example chat` in the
//! repository and `npm ci` in perf/chat-node (perf/run.sh does both).
//! Writes `results/chat.json`. Environment: `HYBI_CHAT_SIZES` and
//! `HYBI_CHAT_SERVERS` (comma-separated subsets), `HYBI_CHAT_DEFLATE_MAX`
//! (largest room for the deflate variants, default 1000); the server
//! `hybi-before` runs the chat binary `HYBI_CHAT_BEFORE` names, to compare
//! two builds in one run.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hybi::io::tokio::WebSocketStream;
use hybi::io::Message;
use hybi::{ClientRequest, Config, DeflateConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

const SERVERS: &[&str] = &["hybi", "node", "hybi-deflate", "node-deflate"];
const SIZES: &[usize] = &[100, 1000, 5000];
/// What each member says after its send time: chat-like text, long enough
/// (the JSON is about 110 bytes) that deflate applies (64 bytes and up).
const PADDING: &str = "hello everyone, how is the weather where you are today?";
/// A stage that makes no progress for this long is given up (and the
/// shortfall reported).
const STALL: Duration = Duration::from_secs(60);

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect())
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("could not pin the load generator to CPU {cpu}");
        }
    }
}

fn raise_fd_limit(needed: u64) {
    // SAFETY: getrlimit/setrlimit write and read the one struct given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < needed {
            limit.rlim_cur = limit.rlim_max.min(needed.max(limit.rlim_cur));
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("perf/ has a parent")
        .to_path_buf()
}

struct Server {
    child: Child,
    port: u16,
    node: bool,
}

fn start(kind: &str) -> Server {
    let root = root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let node = kind.starts_with("node");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]);
    if node {
        cmd.arg("node")
            .arg(root.join("perf/chat-node/server.js"))
            .arg("127.0.0.1:0");
        if kind == "node-deflate" {
            cmd.arg("--deflate");
        }
    } else {
        // `hybi-before`: another build of the chat, for a before/after
        // comparison in one run (`HYBI_CHAT_BEFORE`, the binary's path).
        let binary = match kind {
            "hybi-before" => PathBuf::from(
                std::env::var("HYBI_CHAT_BEFORE").expect("HYBI_CHAT_BEFORE names a chat binary"),
            ),
            _ => target.join("release/examples/chat"),
        };
        cmd.arg(binary)
            .args(["127.0.0.1:0", "--quiet"])
            .env("TOKIO_WORKER_THREADS", "1");
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {kind}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("the server's first line");
    let port = line
        .trim()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{kind} printed {line:?}"));
    // Keep reading what it prints, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    Server { child, port, node }
}

impl Server {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// User + system CPU seconds the server used so far.
    fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/PID/stat");
        // The fields after the command name (which is in parentheses).
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..]
            .split(' ')
            .collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        // SAFETY: sysconf reads a constant.
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// Stops the server, letting this runtime answer its Closes meanwhile.
    async fn stop(mut self) {
        if self.node {
            drop(self.child.stdin.take());
        } else {
            // SAFETY: kill with a pid we spawned and still own.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        }
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TcpStream that counts the bytes it reads.
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Default)]
struct Stats {
    converged: AtomicUsize,
    delivered: AtomicU64,
    ended: AtomicUsize,
    wire: Arc<AtomicU64>,
}

/// The number after `key` in `text` (`"count":12`, `"text":"123 ...`).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

async fn member(
    port: u16,
    index: usize,
    room: usize,
    deflate: bool,
    epoch: Instant,
    stats: Arc<Stats>,
    mut go: watch::Receiver<u32>,
) -> Option<tokio::task::JoinHandle<Vec<u32>>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    tcp.set_nodelay(true).ok()?;
    let stream = Counted {
        inner: tcp,
        read: Arc::clone(&stats.wire),
    };
    let mut config = Config::default();
    if deflate {
        config.deflate = Some(DeflateConfig::default());
    }
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws")).ok()?;
    let ws = WebSocketStream::connect(request, stream, config)
        .await
        .ok()?;
    let (mut read, mut write) = ws.split();
    let join = format!(r#"{{"type":"join","name":"u{index}"}}"#);
    write.send(Message::Text(join)).await.ok()?;
    let reader_stats = Arc::clone(&stats);
    let reader = tokio::spawn(async move {
        let stats = reader_stats;
        let mut latencies = Vec::new();
        let mut converged = false;
        while let Some(Ok(message)) = read.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            if let Some(sent) = number_after(&text, r#""text":""#) {
                let now = epoch.elapsed().as_micros() as u64;
                latencies.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            } else if let Some(count) = number_after(&text, r#""count":"#) {
                if !converged && count as usize == room {
                    converged = true;
                    stats.converged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        stats.ended.fetch_add(1, Ordering::Relaxed);
        latencies
    });
    tokio::spawn(async move {
        while go.changed().await.is_ok() {
            let sent = epoch.elapsed().as_micros();
            let text = format!(r#"{{"type":"message","text":"{sent} {PADDING}"}}"#);
            if write.send(Message::Text(text)).await.is_err() {
                break;
            }
        }
    });
    Some(reader)
}

/// Waits until `done()` or until it stops moving for `STALL`; returns
/// whether it was done.
async fn wait_for(mut progress: impl FnMut() -> (u64, bool)) -> bool {
    let mut last = (0, Instant::now());
    loop {
        let (now, done) = progress();
        if done {
            return true;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > STALL {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(kind: &str, room: usize) -> serde_json::Value {
    let deflate = kind.ends_with("deflate");
    let rounds: u32 = if room <= 100 { 10 } else { 1 };
    let server = start(kind);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = server.rss_kib();
    let epoch = Instant::now();
    let stats = Arc::new(Stats::default());
    let (go, _) = watch::channel(0u32);

    // 1. Joins.
    let t = Instant::now();
    let handshakes = Arc::new(Semaphore::new(64));
    let mut joining = tokio::task::JoinSet::new();
    for i in 0..room {
        let (handshakes, stats, go) = (Arc::clone(&handshakes), Arc::clone(&stats), go.subscribe());
        let port = server.port;
        joining.spawn(async move {
            let _permit = handshakes.acquire().await.expect("semaphore");
            member(port, i, room, deflate, epoch, stats, go).await
        });
    }
    let mut readers = Vec::new();
    while let Some(joined) = joining.join_next().await {
        if let Some(reader) = joined.expect("join task") {
            readers.push(reader);
        }
    }
    let joined_all = wait_for(|| {
        let n = stats.converged.load(Ordering::Relaxed);
        (n as u64, n == room)
    })
    .await;
    let join_s = t.elapsed().as_secs_f64();
    let join_wire = stats.wire.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_joined = server.rss_kib();

    // 3. Everyone at once.
    let cpu_before = server.cpu_s();
    let t = Instant::now();
    let per_round = (room * room) as u64;
    let mut complete = true;
    for round in 1..=rounds {
        go.send_replace(round);
        complete = wait_for(|| {
            let d = stats.delivered.load(Ordering::Relaxed);
            let ended = stats.ended.load(Ordering::Relaxed);
            (d, d >= per_round * round as u64 || ended == room)
        })
        .await;
        if !complete || stats.ended.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    let burst_s = t.elapsed().as_secs_f64();
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let disconnected = stats.ended.load(Ordering::Relaxed);
    let expected = per_round * rounds as u64;
    let burst_cpu_s = server.cpu_s() - cpu_before;

    server.stop().await;
    let mut latencies = Vec::with_capacity(delivered as usize);
    for reader in readers {
        latencies.extend(reader.await.expect("reader"));
    }
    latencies.sort_unstable();
    let row = serde_json::json!({
        "server": kind,
        "members": room,
        "rounds": rounds,
        "joined_all": joined_all,
        "join_s": join_s,
        "join_wire_bytes": join_wire,
        "rss_idle_kib": rss_idle,
        "rss_joined_kib": rss_joined,
        "kib_per_member": (rss_joined.saturating_sub(rss_idle)) as f64 / room as f64,
        "expected": expected,
        "delivered": delivered,
        "disconnected": disconnected,
        "complete": complete,
        "burst_s": burst_s,
        "deliveries_per_s": delivered as f64 / burst_s,
        "server_cpu_s": burst_cpu_s,
        "server_cpu_us_per_delivery": burst_cpu_s * 1e6 / delivered.max(1) as f64,
        "p50_us": percentile(&latencies, 0.50),
        "p99_us": percentile(&latencies, 0.99),
        "max_us": latencies.last().copied().unwrap_or(0),
    });
    println!("{row}");
    row
}

fn main() {
    let sizes: Vec<usize> = env_list("HYBI_CHAT_SIZES")
        .map(|v| v.iter().map(|s| s.parse().expect("a size")).collect())
        .unwrap_or_else(|| SIZES.to_vec());
    let servers: Vec<String> = env_list("HYBI_CHAT_SERVERS")
        .unwrap_or_else(|| SERVERS.iter().map(|s| s.to_string()).collect());
    let deflate_max: usize = std::env::var("HYBI_CHAT_DEFLATE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    raise_fd_limit(2 * *sizes.iter().max().unwrap_or(&0) as u64 + 1000);
    pin_to_cpu(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    for &room in &sizes {
        for server in &servers {
            if server.ends_with("deflate") && room > deflate_max {
                continue;
            }
            rows.push(runtime.block_on(run(server, room)));
        }
    }
    let out = serde_json::json!({
        "settings": {
            "sizes": sizes,
            "servers": servers,
            "deflate_max": deflate_max,
            "padding": PADDING,
            "cpus": "server on CPU 0, load generator on CPU 1",
        },
        "rows": rows,
    });
    let path = root().join("perf/results/chat.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&out).expect("json") + "\n",
    )
    .expect("write results/chat.json");
    println!("wrote {}", path.display());
}
