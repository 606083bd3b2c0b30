//! Interoperability with real peers: Python `websockets` (PyPI) and Node
//! `ws` (npm), each as a client against hybi's echo server and as an echo
//! server for hybi's client, over loopback TCP with the blocking adapter,
//! each with permessage-deflate (RFC 7692) off, on, on with non-default
//! parameters, and on with hybi limited to an 8-bit window (`Mode`): 16
//! tests.
//!
//! The peers are the scripts in `tests/interop/` (`client.py`,
//! `echo_server.py`, `client.js`, `echo_server.js`; each takes the mode as
//! an argument); their versions are pinned in `requirements.txt` and
//! `package-lock.json` there. Every run covers: the handshake with
//! subprotocol negotiation (and, with none offered, none chosen); text in
//! ASCII, 3- and 4-byte UTF-8; binary of 0, 1, 125, 126, 65535, 65536 bytes,
//! 1 MiB and 16 MiB (random, so incompressible); 1,000 pipelined messages in
//! order; pings both ways answered with the same payload; fragmented
//! messages both ways, with fragment boundaries inside UTF-8 characters, an
//! empty fragment and a Ping between fragments; the closing handshake
//! started by either side, with the code and reason checked on both.
//!
//! permessage-deflate, checked on both sides of every run:
//! * `Off`: the peer client's default offer is declined (no
//!   `Sec-WebSocket-Extensions` in the 101, the peer sees no extension);
//!   hybi's client offers nothing. No frame has RSV1.
//! * `On`, `Params` and `Window8`: what was agreed, exactly, on hybi's side
//!   (`WebSocket::deflate()`) and on the peer's (its view of the 101 and of
//!   its extension's parameters); RSV1 frames both ways, seen on the wire by
//!   a [`Tap`] around hybi's `TcpStream` that parses the frame heads; the
//!   empty text and binary messages as each side frames them (both peers
//!   send one `0x00` byte with RSV1); and, counted on the TCP stream, 1 MiB
//!   of JSON, 16 MiB of repetitive text and 1 MiB of text in 16 fragments
//!   taking far fewer bytes than their size, each way, while 1 MiB of random
//!   bytes takes no fewer. The peer sends 1 MiB of text in 16 compressed
//!   fragments too (the default 16 MiB frame limit holds: a peer compresses
//!   16 MiB of random bytes into a frame a little larger, within the slack
//!   `max_frame_size` gives compressed frames). `Params` covers a peer client offering
//!   `server_max_window_bits=10; client_max_window_bits=12;
//!   client_no_context_takeover`, and hybi's client (`local_max_window_bits`
//!   12, `remote_no_context_takeover`) against a peer server limited to
//!   11-bit (its own) and 10-bit (hybi's) windows. `Window8` limits hybi to
//!   an 8-bit window, which zlib cannot compress with: hybi sends every
//!   message uncompressed (no RSV1, full size on the wire) while it inflates
//!   the peer's, including Node's nominally 8-bit stream (Node's zlib uses
//!   9 bits).
//!
//! The browser side (Chromium against `examples/chat.rs`, deflate accepted)
//! is `tests/interop/browser_chat.mjs`, run by `.ci/run`.
//!
//! A peer that is not installed skips its test with a line saying so, unless
//! `HYBI_INTEROP=1` (as in `.ci/run`), where it fails. Every child process
//! is ended through its own handle when the test is done, and every wait has
//! a deadline; the peer servers also exit when their standard input closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hybi::io::blocking::WebSocket;
use hybi::io::{CloseFrame, Message};
use hybi::{Accept, Decision};
use hybi::{ClientRequest, CloseCode, Config, DeflateConfig, DeflateParams, MessageKind};

/// The subprotocol both sides support.
const PROTOCOL: &str = "echo.hybi";
/// Binary message sizes: the length encodings' edges, then big ones.
const SIZES: [usize; 8] = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const TEXTS: [&str; 4] = [
    "hello, hybi",
    "你好，世界",
    "😀🎉🚀",
    "mixed: é ß 中文 😀 end",
];
/// The text the `cmd:fragments` command sends, and its four fragments: the
/// boundaries cut "中" after two bytes and "😀" before its last two.
const SPLIT_TEXT: &str = "split 中文 😀";
const SPLIT_AT: [usize; 3] = [6, 8, 16];
/// The longest close reason: 123 bytes of UTF-8 (a Close payload is at
/// most 125 bytes, the code takes two).
fn long_reason() -> String {
    format!("server bye {}!", "✓".repeat(37))
}
/// Any one blocking read or write on our side.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// A peer client's whole run.
const CLIENT_DEADLINE: Duration = Duration::from_secs(150);

/// permessage-deflate (RFC 7692) in one run: what hybi's `Config::deflate`
/// is, and what the peer script is told (its MODE argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// hybi without deflate: the peer's offer is declined (hybi's server),
    /// or nothing is offered (hybi's client).
    Off,
    /// Defaults on both sides, except that every message is compressed
    /// (hybi's `min_compress_size` 0, ws's `threshold` 0), empty ones too.
    On,
    /// Non-default parameters: the peer client offers
    /// `server_max_window_bits=10; client_max_window_bits=12;
    /// client_no_context_takeover` to hybi's default server; hybi's client
    /// (`local_max_window_bits` 12, `remote_no_context_takeover`) offers to a
    /// peer server set to `server_max_window_bits` 11 and
    /// `client_max_window_bits` 10. hybi's `min_compress_size` stays at its
    /// default (64), so its short messages go out uncompressed.
    Params,
    /// hybi limited to an 8-bit window, which zlib cannot compress with
    /// (see `hybi::extensions::deflate`): hybi must send uncompressed (no
    /// RSV1) while it inflates the peer's messages. The peer client offers
    /// `server_max_window_bits=8`; the peer server answers
    /// `client_max_window_bits=8`. Against Node, hybi's client also asks
    /// for `server_max_window_bits=8`, which Node's zlib silently turns into
    /// a 9-bit window (websockets refuses to compress with 8 bits at all, so
    /// it is not asked).
    Window8,
}

impl Mode {
    /// The peer script's MODE argument.
    fn arg(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::On => "on",
            Mode::Params => "params",
            Mode::Window8 => "window8",
        }
    }

    fn deflates(self) -> bool {
        self != Mode::Off
    }

    /// hybi's own messages are compressed (when long enough).
    fn hybi_compresses(self) -> bool {
        matches!(self, Mode::On | Mode::Params)
    }

    /// The default config: a peer's 16 MiB of random bytes, compressed
    /// into a frame a little over 16 MiB, fits the slack the default
    /// frame limit leaves compressed frames.
    fn base_config(self) -> Config {
        Config::default()
    }

    /// hybi's config as a server.
    fn server_config(self) -> Config {
        let mut config = self.base_config();
        config.deflate = match self {
            Mode::Off => None,
            Mode::On | Mode::Window8 => Some(every_message()),
            Mode::Params => Some(DeflateConfig::default()),
        };
        config
    }

    /// hybi's config as a client of `peer`.
    fn client_config(self, peer: Peer) -> Config {
        let mut config = self.base_config();
        config.deflate = match self {
            Mode::Off => None,
            Mode::On => Some(every_message()),
            Mode::Window8 => {
                let mut deflate = every_message();
                if let Peer::Node = peer {
                    deflate.remote_max_window_bits = 8;
                }
                Some(deflate)
            }
            Mode::Params => {
                let mut deflate = DeflateConfig::default();
                deflate.local_max_window_bits = 12;
                deflate.remote_no_context_takeover = true;
                Some(deflate)
            }
        };
        config
    }
}

/// The default deflate settings, compressing even the shortest message.
fn every_message() -> DeflateConfig {
    let mut deflate = DeflateConfig::default();
    deflate.min_compress_size = 0;
    deflate
}

/// What was agreed, as (local_no_context_takeover,
/// remote_no_context_takeover, local_max_window_bits,
/// remote_max_window_bits): `DeflateParams` is `#[non_exhaustive]`.
type Agreed = (bool, bool, u8, u8);

fn agreed(params: Option<DeflateParams>) -> Option<Agreed> {
    params.map(|p| {
        (
            p.local_no_context_takeover,
            p.remote_no_context_takeover,
            p.local_max_window_bits,
            p.remote_max_window_bits,
        )
    })
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Python,
    Node,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Python => "python websockets",
            Peer::Node => "node ws",
        }
    }

    /// The command that runs `tests/interop/{stem}.py` or `.js`.
    fn command(self, stem: &str) -> Command {
        let (program, ext) = match self {
            Peer::Python => ("python3", "py"),
            Peer::Node => ("node", "js"),
        };
        let mut command = Command::new(program);
        command
            .arg(interop_dir().join(format!("{stem}.{ext}")))
            .current_dir(interop_dir())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8");
        command
    }

    /// Whether the interpreter and the library load here.
    fn installed(self) -> bool {
        let mut probe = match self {
            Peer::Python => {
                let mut c = Command::new("python3");
                c.args(["-c", "import websockets.sync.client"]);
                c
            }
            Peer::Node => {
                let mut c = Command::new("node");
                c.args(["-e", "require.resolve('ws')"]);
                c
            }
        };
        probe
            .current_dir(interop_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match probe.spawn() {
            Ok(child) => {
                let mut child = Guard::new(child);
                matches!(child.wait_until(Instant::now() + Duration::from_secs(30)), Some(s) if s.success())
            }
            Err(_) => false,
        }
    }

    /// True when the test should run; prints the skip line (or fails under
    /// `HYBI_INTEROP=1`) when the peer is missing.
    fn require(self) -> bool {
        if self.installed() {
            return true;
        }
        if std::env::var("HYBI_INTEROP").as_deref() == Ok("1") {
            panic!(
                "{} not installed, and HYBI_INTEROP=1 requires it",
                self.name()
            );
        }
        // Straight to stderr, past the test harness's capture, so a plain
        // `cargo test` shows what it did not run.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {} not installed (set HYBI_INTEROP=1 to require)",
            self.name()
        );
        false
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// A child process that is ended when dropped: its standard input is
/// closed first (the peer servers exit on that), then it is killed if it
/// is still running a moment later.
struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guard {
    fn new(mut child: Child) -> Self {
        let stdin = child.stdin.take();
        Guard { child, stdin }
    }

    /// Waits for the exit until `deadline`; `None` if still running.
    fn wait_until(&mut self, deadline: Instant) -> Option<std::process::ExitStatus> {
        loop {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => return Some(status),
                None if Instant::now() >= deadline => return None,
                None => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self
            .wait_until(Instant::now() + Duration::from_secs(2))
            .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Forwards each line `from` prints to a channel, from a thread.
fn lines_of(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs a peer client script to its end (killed past the deadline) and
/// returns whether it succeeded and everything it printed.
fn run_peer_client(peer: Peer, url: &str, mode: Mode) -> (bool, String) {
    let child = peer
        .command("client")
        .arg(url)
        .arg(mode.arg())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {} client: {e}", peer.name()));
    let mut child = Guard::new(child);
    let stdout = lines_of(child.child.stdout.take().unwrap());
    let stderr = lines_of(child.child.stderr.take().unwrap());
    let status = child.wait_until(Instant::now() + CLIENT_DEADLINE);
    drop(child);
    // The reader threads end at the pipes' end, which the exit (or kill) gave.
    let mut output: Vec<String> = stdout.iter().collect();
    output.extend(stderr.iter().map(|line| format!("stderr: {line}")));
    let output = output.join("\n");
    match status {
        Some(status) => (status.success(), format!("{status}\n{output}")),
        None => (false, format!("killed after {CLIENT_DEADLINE:?}\n{output}")),
    }
}

// ---------------------------------------------------------------------------
// The wire: what crossed the TCP stream, seen from hybi's side.

/// One frame's first bytes, as they crossed the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameHead {
    fin: bool,
    /// RFC 7692: set on the first frame of a compressed message.
    rsv1: bool,
    opcode: u8,
    /// The payload length on the wire (compressed, if it is).
    len: u64,
    /// The payload byte (unmasked) of a one-byte frame.
    byte: Option<u8>,
}

/// One direction of a TCP stream: the byte count, and the frame heads
/// after the HTTP head (parsed as the bytes pass, payloads skipped).
#[derive(Debug, Default)]
struct WireDirection {
    bytes: u64,
    /// How much of the "\r\n\r\n" ending the HTTP head was just seen; 4
    /// once past it.
    head_end: usize,
    /// The frame header being read.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to pass.
    skip: u64,
    /// The current frame has one payload byte, to be recorded.
    record_byte: bool,
    frames: Vec<FrameHead>,
}

impl WireDirection {
    fn feed(&mut self, mut bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        while let Some((&b, rest)) = bytes.split_first() {
            if self.head_end < 4 {
                self.head_end = match (self.head_end, b) {
                    (0 | 2, b'\r') | (1 | 3, b'\n') => self.head_end + 1,
                    (_, b'\r') => 1,
                    _ => 0,
                };
                bytes = rest;
            } else if self.record_byte {
                let h = &self.header;
                let mask = if h[1] & 0x80 != 0 { h[2] } else { 0 };
                if let Some(frame) = self.frames.last_mut() {
                    frame.byte = Some(b ^ mask);
                }
                self.record_byte = false;
                self.header.clear();
                bytes = rest;
            } else if self.skip > 0 {
                let n = self.skip.min(bytes.len() as u64) as usize;
                self.skip -= n as u64;
                bytes = &bytes[n..];
            } else {
                self.header.push(b);
                bytes = rest;
                let h = &self.header;
                if h.len() < 2 {
                    continue;
                }
                let extended = match h[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
                if h.len() < 2 + extended + mask {
                    continue;
                }
                let len = match extended {
                    0 => u64::from(h[1] & 0x7f),
                    n => h[2..2 + n]
                        .iter()
                        .fold(0, |len, &b| len << 8 | u64::from(b)),
                };
                self.frames.push(FrameHead {
                    fin: h[0] & 0x80 != 0,
                    rsv1: h[0] & 0x40 != 0,
                    opcode: h[0] & 0x0f,
                    len,
                    byte: None,
                });
                if len == 1 {
                    // Kept for the mask key; cleared with the byte.
                    self.record_byte = true;
                } else {
                    self.header.clear();
                    self.skip = len;
                }
            }
        }
    }

    fn summary(&self) -> WireSummary {
        let first = |opcode| self.frames.iter().copied().find(|f| f.opcode == opcode);
        WireSummary {
            bytes: self.bytes,
            frames: self.frames.len(),
            rsv1: self.frames.iter().filter(|f| f.rsv1).count(),
            first_text: first(1),
            first_binary: first(2),
        }
    }
}

/// What one direction of a connection carried.
#[derive(Clone, Copy, Debug, Default)]
struct WireSummary {
    // Printed (Debug) for the record, not asserted on.
    #[allow(dead_code)]
    bytes: u64,
    #[allow(dead_code)]
    frames: usize,
    /// Frames with RSV1 set: compressed messages.
    rsv1: usize,
    /// The first Text and Binary frames: the empty messages, in the runs
    /// with deflate (each run's first text and first binary are empty).
    first_text: Option<FrameHead>,
    first_binary: Option<FrameHead>,
}

/// Both directions of one connection, shared with its [`Tap`].
#[derive(Clone, Debug, Default)]
struct WireLog(Arc<Mutex<[WireDirection; 2]>>);

impl WireLog {
    /// Bytes (read, written) so far.
    fn counts(&self) -> (u64, u64) {
        let log = self.0.lock().unwrap();
        (log[0].bytes, log[1].bytes)
    }

    /// (read, written).
    fn summary(&self) -> (WireSummary, WireSummary) {
        let log = self.0.lock().unwrap();
        (log[0].summary(), log[1].summary())
    }
}

/// A `TcpStream` that logs what passes through it.
#[derive(Debug)]
struct Tap {
    stream: TcpStream,
    log: WireLog,
}

impl Tap {
    fn new(stream: TcpStream) -> (Self, WireLog) {
        let log = WireLog::default();
        (
            Tap {
                stream,
                log: log.clone(),
            },
            log,
        )
    }
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.log.0.lock().unwrap()[0].feed(&buf[..n]);
        Ok(n)
    }
}

impl hybi::io::blocking::Transport for Tap {
    fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
        self.stream.read_timeout()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        self.stream.set_read_timeout(timeout).map(|()| true)
    }
}

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.log.0.lock().unwrap()[1].feed(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// `n` bytes of repetitive ASCII text (the same in every peer script).
fn compressible(n: usize) -> String {
    const LINE: &str = "The quick brown fox jumps over the lazy dog. ";
    let mut text = LINE.repeat(n / LINE.len() + 1);
    text.truncate(n);
    text
}

/// About `n` bytes of JSON: an array of similar records.
fn json_text(n: usize) -> String {
    let mut json = String::from("[");
    let mut i = 0;
    while json.len() < n {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            r#"{{"id":{i},"name":"user-{i}","active":{},"tags":["a","b"]}}"#,
            i % 3 == 0
        ));
        i += 1;
    }
    json.push(']');
    json
}

/// What hybi's echo server saw on one connection.
#[derive(Debug, Default)]
struct Report {
    /// The order in which the connection was accepted.
    index: usize,
    path: String,
    query: Option<String>,
    offered_protocols: Vec<String>,
    offered_extensions: Vec<String>,
    protocol: Option<String>,
    deflate: Option<Agreed>,
    /// What the peer sent, and what hybi sent.
    read: WireSummary,
    written: WireSummary,
    /// Data messages echoed (commands not counted).
    echoed: usize,
    pings: Vec<Vec<u8>>,
    /// The peer's Close frame.
    close: Option<CloseFrame>,
    clean: bool,
    error: Option<String>,
}

/// hybi's echo server: accepts `connections` connections on a free port
/// (or stops at the deadline), serves each on its own thread, and reports
/// each when it ends.
fn hybi_echo_server(connections: usize, mode: Mode) -> (u16, Receiver<Report>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + CLIENT_DEADLINE;
        let mut index = 0;
        while index < connections && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        let mut report = Report {
                            index,
                            ..Report::default()
                        };
                        if let Err(e) = serve_echo(stream, mode, &mut report) {
                            report.error = Some(e.to_string());
                        }
                        let _ = tx.send(report);
                    });
                    index += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
    (port, rx)
}

/// The four fragments of [`SPLIT_TEXT`].
fn split_fragments() -> [&'static [u8]; 4] {
    let bytes = SPLIT_TEXT.as_bytes();
    let [a, b, c] = SPLIT_AT;
    [&bytes[..a], &bytes[a..b], &bytes[b..c], &bytes[c..]]
}

/// One connection of hybi's echo server; see `tests/interop/client.py` for
/// the commands.
fn serve_echo(stream: TcpStream, mode: Mode, report: &mut Report) -> Result<(), hybi::io::Error> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (stream, wire) = Tap::new(stream);
    let result = serve_tapped(stream, &wire, mode, report);
    (report.read, report.written) = wire.summary();
    result
}

fn serve_tapped(
    stream: Tap,
    wire: &WireLog,
    mode: Mode,
    report: &mut Report,
) -> Result<(), hybi::io::Error> {
    let mut ws = WebSocket::accept_with(stream, mode.server_config(), |request| {
        report.path = request.path().to_string();
        report.query = request.query().map(String::from);
        report.offered_protocols = request.subprotocols().map(String::from).collect();
        report.offered_extensions = request.extensions().map(String::from).collect();
        match request.offers_subprotocol(PROTOCOL) {
            true => Accept::new().subprotocol(PROTOCOL).into(),
            false => Decision::accept(),
        }
    })?;
    report.protocol = ws.subprotocol().map(String::from);
    report.deflate = agreed(ws.deflate());
    while let Some(message) = ws.read()? {
        match message {
            Message::Text(text) if text.starts_with("cmd:") => {
                let (command, arg) = text[4..].split_once(' ').unwrap_or((&text[4..], ""));
                match command {
                    "close" => {
                        let (code, reason) = arg.split_once(' ').unwrap_or((arg, ""));
                        ws.close(CloseCode(code.parse().unwrap_or(1000)), reason)?;
                    }
                    "ping" => ws.ping(arg.as_bytes())?,
                    "fragments" => {
                        let fragments = split_fragments();
                        for (i, fragment) in fragments.iter().enumerate() {
                            ws.send_fragment(
                                MessageKind::Text,
                                fragment,
                                i == fragments.len() - 1,
                            )?;
                        }
                    }
                    "wire" => {
                        let (read, written) = wire.counts();
                        ws.send_text(&format!("wire {read} {written}"))?;
                    }
                    "fragments-big" => {
                        let text = compressible(1 << 20);
                        let chunks: Vec<&[u8]> = text.as_bytes().chunks(text.len() / 16).collect();
                        for (i, chunk) in chunks.iter().enumerate() {
                            ws.send_fragment(MessageKind::Text, chunk, i == chunks.len() - 1)?;
                        }
                    }
                    _ => ws.send_text(&format!("unknown command {command}"))?,
                }
            }
            Message::Text(_) | Message::Binary(_) => {
                report.echoed += 1;
                ws.send(message)?;
            }
            Message::Ping(payload) => report.pings.push(payload),
            Message::Pong(payload) => ws.send_text(&format!(
                "pong-received {}",
                String::from_utf8_lossy(&payload)
            ))?,
            Message::Close(frame) => report.close = frame,
        }
    }
    report.clean = ws.closed().is_some_and(|closed| closed.clean);
    Ok(())
}

/// A peer echo server script, running until dropped.
struct PeerServer {
    peer: Peer,
    port: u16,
    lines: Receiver<String>,
    _child: Guard,
}

impl PeerServer {
    fn start(peer: Peer, mode: Mode) -> Self {
        let child = peer
            .command("echo_server")
            .arg("0")
            .arg(mode.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {} server: {e}", peer.name()));
        let mut child = Guard::new(child);
        let lines = lines_of(child.child.stdout.take().unwrap());
        let mut server = PeerServer {
            peer,
            port: 0,
            lines,
            _child: child,
        };
        let ready = server.line();
        server.port = ready
            .strip_prefix("ready ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{} server said {ready:?}", peer.name()));
        server
    }

    /// The next line the server printed.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("{} server: no line ({e})", self.peer.name()))
    }

    /// A connection of hybi's client to it, offering `protocols`, with
    /// `config`; and the log of its wire.
    fn connect(&self, path: &str, protocols: &[&str], config: Config) -> (WebSocket<Tap>, WireLog) {
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{}{path}", self.port))
            .unwrap()
            .subprotocols(protocols);
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let (stream, wire) = Tap::new(stream);
        let ws = WebSocket::connect(request, stream, config)
            .unwrap_or_else(|e| panic!("handshake with the {} server: {e}", self.peer.name()));
        (ws, wire)
    }
}

/// `n` deterministic pseudo-random bytes (a pattern would hide offset bugs).
fn payload(n: usize) -> Vec<u8> {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The next message; the connection must not end here.
fn next(ws: &mut WebSocket<Tap>, what: &str) -> Message {
    match ws.read() {
        Ok(Some(message)) => message,
        Ok(None) => panic!("{what}: the connection ended"),
        Err(e) => panic!("{what}: {e}"),
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.to_string())
}

fn close_frame(code: u16, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame {
        code: CloseCode(code),
        reason: reason.to_string(),
    })
}

// ---------------------------------------------------------------------------
// Peer clients against hybi's echo server.

fn peer_client_against_hybi_server(peer: Peer, mode: Mode) {
    if !peer.require() {
        return;
    }
    let name = peer.name();
    let (port, reports) = hybi_echo_server(2, mode);
    let (ok, output) = run_peer_client(
        peer,
        &format!("ws://127.0.0.1:{port}/echo?peer=1&x=%20"),
        mode,
    );
    println!("{name} client ({mode:?}):\n{output}");
    assert!(ok, "the {name} client failed ({mode:?}):\n{output}");

    let mut seen: Vec<Report> = (0..2)
        .map(|_| {
            reports
                .recv_timeout(IO_TIMEOUT)
                .expect("hybi's server reports each connection")
        })
        .collect();
    seen.sort_by_key(|report| report.index);
    let [first, second] = <[Report; 2]>::try_from(seen).unwrap();

    // Connection 1: subprotocol chosen, deflate as the mode says, closed by
    // the peer.
    assert_eq!(first.error, None, "{first:?}");
    assert_eq!(first.path, "/echo");
    assert_eq!(first.query.as_deref(), Some("peer=1&x=%20"));
    assert_eq!(first.offered_protocols, ["nope", PROTOCOL]);
    assert!(
        first
            .offered_extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "the {name} client offers permessage-deflate: {:?}",
        first.offered_extensions
    );
    assert_eq!(first.protocol.as_deref(), Some(PROTOCOL));
    println!(
        "{name} ({mode:?}) offered {:?}; hybi agreed {:?}; wire in {:?}, out {:?}",
        first.offered_extensions, first.deflate, first.read, first.written
    );
    // (local_no_context_takeover, remote_no_context_takeover, local bits,
    // remote bits), from hybi's side.
    let expected = match mode {
        Mode::Off => None,
        Mode::On => Some((false, false, 15, 15)),
        Mode::Params => Some((false, true, 10, 12)),
        Mode::Window8 => Some((false, false, 8, 15)),
    };
    assert_eq!(
        first.deflate, expected,
        "{name} ({mode:?}): what hybi agreed"
    );
    if mode.deflates() {
        // Both sides really compressed (hybi unless it may not): RSV1
        // frames both ways (the byte counts are checked by the peer script,
        // with cmd:wire).
        assert!(first.read.rsv1 > 0, "{name} sent no compressed frame");
        assert_eq!(
            first.written.rsv1 > 0,
            mode.hybi_compresses(),
            "hybi's compressed frames: {}",
            first.written.rsv1
        );
        check_empty_messages(name, mode, &first.read, &first.written);
    } else {
        assert_eq!((first.read.rsv1, first.written.rsv1), (0, 0));
    }
    // Texts, sizes, 1,000 pipelined, 4 fragmented; with deflate, the empty
    // text and the four measured ones.
    let extra = if mode.deflates() { 5 } else { 0 };
    assert_eq!(first.echoed, TEXTS.len() + SIZES.len() + 1000 + 4 + extra);
    // The client's three pings, then the one between fragments, in order.
    let expected: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"ping \x00\xff payload".to_vec(),
        (0..125).collect(),
        b"mid-message".to_vec(),
    ];
    assert_eq!(first.pings, expected, "pings hybi's server saw");
    assert_eq!(first.close, close_frame(4000, "client bye ✓"));
    assert!(first.clean);

    // Connection 2: nothing offered, closed by hybi; the peer echoes the code.
    assert_eq!(second.error, None, "{second:?}");
    assert!(second.offered_protocols.is_empty());
    assert!(second.offered_extensions.is_empty());
    assert_eq!(second.protocol, None);
    assert_eq!(second.deflate, None);
    println!("{name} answered hybi's close with {:?}", second.close);
    assert_eq!(second.close.as_ref().map(|f| f.code), Some(CloseCode(4001)));
    assert!(second.clean);
}

/// The first Text and first Binary frames each way are the empty messages
/// (in the runs with deflate, each side's first text and first binary are
/// empty). Checks how each side framed them. Both peers (websockets 17.4,
/// ws 8.23.0) compress an empty message to the single byte `0x00` with RSV1
/// (a sync flush of nothing is an empty stored block, `00 00 00 ff ff`;
/// without the tail, `00` is left), never an empty payload with RSV1. hybi
/// does the same when it compresses everything (`Mode::On`), and sends an
/// uncompressed empty frame below `min_compress_size` (`Mode::Params`).
fn check_empty_messages(name: &str, mode: Mode, peer: &WireSummary, hybi: &WireSummary) {
    let compressed_empty = (true, 1, Some(0x00));
    for (kind, frame) in [("text", peer.first_text), ("binary", peer.first_binary)] {
        let frame = frame.unwrap_or_else(|| panic!("{name} sent no {kind} frame"));
        println!("{name} ({mode:?}) sends an empty {kind} message as {frame:?}");
        assert!(frame.fin, "{name}: empty {kind} as {frame:?}");
        assert_eq!(
            (frame.rsv1, frame.len, frame.byte),
            compressed_empty,
            "{name}: empty {kind}"
        );
    }
    let expected = match mode {
        Mode::On => compressed_empty,
        _ => (false, 0, None),
    };
    for (kind, frame) in [("text", hybi.first_text), ("binary", hybi.first_binary)] {
        let frame = frame.unwrap_or_else(|| panic!("hybi sent no {kind} frame"));
        assert_eq!(
            (frame.rsv1, frame.len, frame.byte),
            expected,
            "hybi's empty {kind}"
        );
    }
}

#[test]
fn python_client_against_hybi_server() {
    peer_client_against_hybi_server(Peer::Python, Mode::Off);
}

#[test]
fn python_client_against_hybi_server_deflate() {
    peer_client_against_hybi_server(Peer::Python, Mode::On);
}

#[test]
fn python_client_against_hybi_server_deflate_params() {
    peer_client_against_hybi_server(Peer::Python, Mode::Params);
}

#[test]
fn python_client_against_hybi_server_deflate_window8() {
    peer_client_against_hybi_server(Peer::Python, Mode::Window8);
}

#[test]
fn node_client_against_hybi_server() {
    peer_client_against_hybi_server(Peer::Node, Mode::Off);
}

#[test]
fn node_client_against_hybi_server_deflate() {
    peer_client_against_hybi_server(Peer::Node, Mode::On);
}

#[test]
fn node_client_against_hybi_server_deflate_params() {
    peer_client_against_hybi_server(Peer::Node, Mode::Params);
}

// ---------------------------------------------------------------------------
// hybi's client against peer echo servers.

fn hybi_client_against_peer_server(peer: Peer, mode: Mode) {
    if !peer.require() {
        return;
    }
    let server = PeerServer::start(peer, mode);
    let name = peer.name();

    // Connection 1: subprotocol negotiation, deflate as the mode says.
    let (mut ws, wire) = server.connect(
        "/echo?hybi=1&x=%20",
        &["nope", PROTOCOL],
        mode.client_config(peer),
    );
    assert_eq!(ws.subprotocol(), Some(PROTOCOL));
    let open = server.line();
    println!(
        "{name} ({mode:?}) server: {open}; hybi agreed {:?}",
        ws.deflate()
    );
    let answer = open
        .strip_prefix(&format!("open /echo?hybi=1&x=%20 {PROTOCOL} "))
        .unwrap_or_else(|| panic!("{name}: {open:?}"));
    // (local_no_context_takeover, remote_no_context_takeover, local bits,
    // remote bits), from hybi's side; and the peer's 101 answer.
    let (expected, expected_answer) = match (mode, peer) {
        (Mode::Off, _) => (None, "-"),
        // websockets' default server limits both windows to 12 bits (its
        // documented memory/ratio trade-off); ws's takes 15.
        (Mode::On, Peer::Python) => (
            Some((false, false, 12, 12)),
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        (Mode::On, Peer::Node) => (Some((false, false, 15, 15)), "permessage-deflate"),
        (Mode::Params, Peer::Python) => (
            Some((false, true, 10, 11)),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10",
        ),
        (Mode::Params, Peer::Node) => (
            Some((false, true, 10, 11)),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits=11",
        ),
        (Mode::Window8, Peer::Python) => (
            Some((false, false, 8, 15)),
            "permessage-deflate; client_max_window_bits=8",
        ),
        (Mode::Window8, Peer::Node) => (
            Some((false, false, 8, 8)),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        ),
    };
    assert_eq!(
        agreed(ws.deflate()),
        expected,
        "{name} ({mode:?}): what hybi agreed"
    );
    assert_eq!(
        answer, expected_answer,
        "{name} ({mode:?}) says it answered"
    );
    if mode.deflates() {
        // The first data messages, so the wire log finds them.
        ws.send_text("").unwrap();
        assert_eq!(next(&mut ws, "empty text"), text(""));
        ws.send_binary(b"").unwrap();
        assert_eq!(next(&mut ws, "empty binary"), Message::Binary(Vec::new()));
    }

    for s in TEXTS {
        ws.send_text(s).unwrap();
        assert_eq!(next(&mut ws, s), text(s), "{name} echoes {s:?}");
    }

    for n in SIZES {
        let data = payload(n);
        ws.send_binary(&data).unwrap();
        match next(&mut ws, "binary echo") {
            Message::Binary(got) => assert!(got == data, "{name}: binary of {n} bytes differs"),
            other => panic!("{name}: binary of {n} bytes came back as {other:?}"),
        }
    }

    let sent: Vec<Message> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                text(&format!("pipelined {i} 😀"))
            } else {
                Message::Binary(format!("pipelined {i}").into_bytes())
            }
        })
        .collect();
    for message in &sent {
        ws.send(message.clone()).unwrap();
    }
    for (i, message) in sent.iter().enumerate() {
        assert_eq!(
            &next(&mut ws, "pipelined"),
            message,
            "{name}: pipelined #{i}"
        );
    }

    for data in [&b""[..], b"ping \x00\xff payload", &payload(125)] {
        ws.ping(data).unwrap();
        assert_eq!(
            next(&mut ws, "pong"),
            Message::Pong(data.to_vec()),
            "{name} answers a ping of {} bytes",
            data.len()
        );
    }

    // The peer pings; hybi answers by itself and hands the Ping out.
    ws.send_text("cmd:ping from-hybi-peer ✓").unwrap();
    assert_eq!(
        next(&mut ws, "peer ping"),
        Message::Ping("from-hybi-peer ✓".as_bytes().to_vec())
    );
    assert_eq!(
        next(&mut ws, "pong report"),
        text("pong-received from-hybi-peer ✓"),
        "{name} saw hybi's pong"
    );

    // Fragmented messages from hybi.
    for (i, part) in ["frag", "men", "ted 😀"].iter().enumerate() {
        ws.send_fragment(MessageKind::Text, part.as_bytes(), i == 2)
            .unwrap();
    }
    assert_eq!(next(&mut ws, "fragmented"), text("fragmented 😀"));
    for (i, part) in [&[0u8, 1][..], &[], &[2, 3]].iter().enumerate() {
        ws.send_fragment(MessageKind::Binary, part, i == 2).unwrap();
    }
    assert_eq!(
        next(&mut ws, "fragmented binary"),
        Message::Binary(vec![0, 1, 2, 3])
    );
    let cut = "中😀".as_bytes();
    for (i, part) in [&cut[..2], &cut[2..5], &cut[5..]].iter().enumerate() {
        ws.send_fragment(MessageKind::Text, part, i == 2).unwrap();
    }
    assert_eq!(next(&mut ws, "fragments cutting UTF-8"), text("中😀"));
    ws.send_fragment(MessageKind::Text, b"before ", false)
        .unwrap();
    ws.ping(b"mid-message").unwrap();
    ws.send_fragment(MessageKind::Text, b"after", true).unwrap();
    assert_eq!(
        next(&mut ws, "pong mid-message"),
        Message::Pong(b"mid-message".to_vec()),
        "{name} answers a ping between fragments at once"
    );
    assert_eq!(next(&mut ws, "fragmented with ping"), text("before after"));

    // A fragmented message from the peer, cut inside characters, with a
    // Ping between fragments.
    ws.send_text("cmd:fragments").unwrap();
    assert_eq!(
        next(&mut ws, "peer's ping between fragments"),
        Message::Ping(b"between fragments".to_vec())
    );
    assert_eq!(next(&mut ws, "peer's fragments"), text(SPLIT_TEXT));

    if mode.deflates() {
        deflate_checks(name, &mut ws, &wire, mode.hybi_compresses());
    }
    let (read, written) = wire.summary();
    println!("{name} ({mode:?}): wire in {read:?}, out {written:?}");
    if mode.deflates() {
        assert!(read.rsv1 > 0, "{name} sent no compressed frame");
        assert_eq!(
            written.rsv1 > 0,
            mode.hybi_compresses(),
            "hybi's compressed frames: {}",
            written.rsv1
        );
        check_empty_messages(name, mode, &read, &written);
    } else {
        assert_eq!((read.rsv1, written.rsv1), (0, 0));
    }

    // hybi closes; the peer answers with the same code.
    ws.close(CloseCode(4000), "client bye ✓").unwrap();
    match next(&mut ws, "close reply") {
        Message::Close(Some(frame)) => {
            println!("{name} answered our close with {frame:?}");
            assert_eq!(frame.code, CloseCode(4000), "{name}");
        }
        other => panic!("{name} answered our close with {other:?}"),
    }
    assert_eq!(ws.read().unwrap(), None);
    let closed = ws.closed().unwrap();
    assert!(closed.clean, "{closed:?}");
    // hybi's client waited for the server to close the transport first
    // (§7.1.1); the peer reports the connection once we close ours.
    drop(ws);
    assert_eq!(server.line(), "closed 4000 client bye ✓");

    // Connection 2: no subprotocol offered, none chosen, no deflate; the
    // peer closes.
    let (mut ws, _) = server.connect("/second", &[], Config::default());
    assert_eq!(ws.subprotocol(), None);
    assert_eq!(ws.deflate(), None);
    assert_eq!(server.line(), "open /second - -");
    let reason = long_reason();
    assert_eq!(reason.len(), 123);
    ws.send_text(&format!("cmd:close 4001 {reason}")).unwrap();
    assert_eq!(
        next(&mut ws, "peer's close"),
        Message::Close(close_frame(4001, &reason))
    );
    assert_eq!(ws.read().unwrap(), None);
    let closed = ws.closed().unwrap();
    assert!(closed.clean, "{closed:?}");
    assert_eq!(closed.code, CloseCode(4001));
    drop(ws);
    let line = server.line();
    assert!(
        line.starts_with("closed 4001"),
        "{name} saw hybi's close reply as {line:?}"
    );
}

/// Sends `message`, checks its echo; returns the bytes (written, read) on
/// the wire for the two.
fn measured_echo(ws: &mut WebSocket<Tap>, wire: &WireLog, message: Message) -> (u64, u64) {
    let (read0, written0) = wire.counts();
    ws.send(message.clone()).unwrap();
    assert!(
        next(ws, "measured echo") == message,
        "a measured echo differs"
    );
    let (read1, written1) = wire.counts();
    (written1 - written0, read1 - read0)
}

/// Large payloads with compression on: the wire must show it. hybi's side
/// (out) is compressed if `hybi_compresses`, else never smaller.
fn deflate_checks(name: &str, ws: &mut WebSocket<Tap>, wire: &WireLog, hybi_compresses: bool) {
    let n = 1 << 20;
    let small = |out: u64, back: u64, limit: usize, what: &str| {
        let limit = limit as u64;
        assert!(back < limit, "{name}: {what} not compressed ({back} bytes)");
        if hybi_compresses {
            assert!(out < limit, "{what} not compressed by hybi ({out} bytes)");
        } else {
            assert!(out >= limit, "{what} compressed by hybi ({out} bytes)");
        }
    };
    let json = json_text(n);
    let (out, back) = measured_echo(ws, wire, text(&json));
    println!(
        "{name}: {} bytes of JSON: {out} bytes out, {back} back",
        json.len()
    );
    small(out, back, json.len() / 3, "JSON");

    let big = compressible(16 << 20);
    let (out, back) = measured_echo(ws, wire, text(&big));
    println!("{name}: 16 MiB of repetitive text: {out} bytes out, {back} back");
    small(out, back, big.len() / 20, "16 MiB");

    // 1 MiB in 16 compressed fragments, echoed whole (and compressed).
    let fragmented = compressible(n);
    let (read0, written0) = wire.counts();
    let chunks: Vec<&[u8]> = fragmented.as_bytes().chunks(n / 16).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        ws.send_fragment(MessageKind::Text, chunk, i == chunks.len() - 1)
            .unwrap();
    }
    assert!(next(ws, "fragmented 1 MiB") == text(&fragmented));
    let (read1, written1) = wire.counts();
    let (out, back) = (written1 - written0, read1 - read0);
    println!("{name}: 1 MiB in 16 fragments: {out} bytes out, {back} back");
    small(out, back, n / 20, "fragments");

    // Incompressible: random bytes cannot shrink.
    let (out, back) = measured_echo(ws, wire, Message::Binary(payload(n)));
    println!("{name}: 1 MiB of random bytes: {out} bytes out, {back} back");
    assert!(out >= n as u64 && back >= n as u64);

    // The peer sends 1 MiB in 16 compressed fragments.
    let (read0, _) = wire.counts();
    ws.send_text("cmd:fragments-big").unwrap();
    assert!(
        next(ws, "peer's 16 fragments") == text(&fragmented),
        "{name}: fragments-big differs"
    );
    let back = wire.counts().0 - read0;
    println!("{name}: its 1 MiB in 16 fragments: {back} bytes");
    assert!(back < n as u64 / 20, "{name}: its fragments not compressed");
}

#[test]
fn hybi_client_against_python_server_deflate_window8() {
    hybi_client_against_peer_server(Peer::Python, Mode::Window8);
}

#[test]
fn hybi_client_against_python_server() {
    hybi_client_against_peer_server(Peer::Python, Mode::Off);
}

#[test]
fn hybi_client_against_python_server_deflate() {
    hybi_client_against_peer_server(Peer::Python, Mode::On);
}

#[test]
fn hybi_client_against_python_server_deflate_params() {
    hybi_client_against_peer_server(Peer::Python, Mode::Params);
}

#[test]
fn hybi_client_against_node_server() {
    hybi_client_against_peer_server(Peer::Node, Mode::Off);
}

#[test]
fn hybi_client_against_node_server_deflate() {
    hybi_client_against_peer_server(Peer::Node, Mode::On);
}

#[test]
fn hybi_client_against_node_server_deflate_params() {
    hybi_client_against_peer_server(Peer::Node, Mode::Params);
}

#[test]
fn node_client_against_hybi_server_deflate_window8() {
    peer_client_against_hybi_server(Peer::Node, Mode::Window8);
}

#[test]
fn hybi_client_against_node_server_deflate_window8() {
    hybi_client_against_peer_server(Peer::Node, Mode::Window8);
}
