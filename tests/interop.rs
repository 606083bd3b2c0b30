//! Interoperability with real peers: Python `websockets` (PyPI) and Node
//! `ws` (npm), each as a client against hybi's echo server and as an echo
//! server for hybi's client, over loopback TCP with the blocking adapter.
//!
//! The peers are the scripts in `tests/interop/` (`client.py`,
//! `echo_server.py`, `client.js`, `echo_server.js`); their versions are
//! pinned in `requirements.txt` and `package-lock.json` there. Each run
//! covers: the handshake with subprotocol negotiation (and, with none
//! offered, none chosen) and a permessage-deflate offer declined; text in
//! ASCII, 3- and 4-byte UTF-8; binary of 0, 1, 125, 126, 65535, 65536 bytes,
//! 1 MiB and 16 MiB; 1,000 pipelined messages in order; pings both ways
//! answered with the same payload; fragmented messages both ways, with
//! fragment boundaries inside UTF-8 characters, an empty fragment and a Ping
//! between fragments; the closing handshake started by either side, with the
//! code and reason checked on both.
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
use std::thread;
use std::time::{Duration, Instant};

use hybi::io::blocking::WebSocket;
use hybi::io::{CloseFrame, Decision, Message};
use hybi::{ClientRequest, CloseCode, Config, MessageKind};

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
fn run_peer_client(peer: Peer, url: &str) -> (bool, String) {
    let child = peer
        .command("client")
        .arg(url)
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
fn hybi_echo_server(connections: usize) -> (u16, Receiver<Report>) {
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
                        if let Err(e) = serve_echo(stream, &mut report) {
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
fn serve_echo(stream: TcpStream, report: &mut Report) -> Result<(), hybi::io::Error> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
        report.path = request.path().to_string();
        report.query = request.query().map(String::from);
        report.offered_protocols = request.protocols().map(String::from).collect();
        report.offered_extensions = request.extensions().map(String::from).collect();
        Decision::Accept {
            protocol: request
                .is_protocol_offered(PROTOCOL)
                .then(|| PROTOCOL.to_string()),
            headers: Vec::new(),
        }
    })?;
    report.protocol = ws.subprotocol().map(String::from);
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
    fn start(peer: Peer) -> Self {
        let child = peer
            .command("echo_server")
            .arg("0")
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

    /// A connection of hybi's client to it, offering `protocols`.
    fn connect(&self, path: &str, protocols: &[&str]) -> WebSocket<TcpStream> {
        let mut request =
            ClientRequest::new(&format!("ws://127.0.0.1:{}{path}", self.port)).unwrap();
        for protocol in protocols {
            request = request.protocol(protocol);
        }
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        WebSocket::connect(request, stream, Config::default())
            .unwrap_or_else(|e| panic!("handshake with the {} server: {e}", self.peer.name()))
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
fn next(ws: &mut WebSocket<TcpStream>, what: &str) -> Message {
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

fn peer_client_against_hybi_server(peer: Peer) {
    if !peer.require() {
        return;
    }
    let (port, reports) = hybi_echo_server(2);
    let (ok, output) = run_peer_client(peer, &format!("ws://127.0.0.1:{port}/echo?peer=1&x=%20"));
    println!("{} client:\n{output}", peer.name());
    assert!(ok, "the {} client failed:\n{output}", peer.name());

    let mut seen: Vec<Report> = (0..2)
        .map(|_| {
            reports
                .recv_timeout(IO_TIMEOUT)
                .expect("hybi's server reports each connection")
        })
        .collect();
    seen.sort_by_key(|report| report.index);
    let [first, second] = <[Report; 2]>::try_from(seen).unwrap();

    // Connection 1: subprotocol chosen, deflate declined, closed by the peer.
    assert_eq!(first.error, None, "{first:?}");
    assert_eq!(first.path, "/echo");
    assert_eq!(first.query.as_deref(), Some("peer=1&x=%20"));
    assert_eq!(first.offered_protocols, ["nope", PROTOCOL]);
    assert!(
        first
            .offered_extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "the {} client offers permessage-deflate by default: {:?}",
        peer.name(),
        first.offered_extensions
    );
    assert_eq!(first.protocol.as_deref(), Some(PROTOCOL));
    // Texts, sizes, 1,000 pipelined, 4 fragmented.
    assert_eq!(first.echoed, TEXTS.len() + SIZES.len() + 1000 + 4);
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
    println!(
        "{} answered hybi's close with {:?}",
        peer.name(),
        second.close
    );
    assert_eq!(second.close.as_ref().map(|f| f.code), Some(CloseCode(4001)));
    assert!(second.clean);
}

#[test]
fn python_client_against_hybi_server() {
    peer_client_against_hybi_server(Peer::Python);
}

#[test]
fn node_client_against_hybi_server() {
    peer_client_against_hybi_server(Peer::Node);
}

// ---------------------------------------------------------------------------
// hybi's client against peer echo servers.

fn hybi_client_against_peer_server(peer: Peer) {
    if !peer.require() {
        return;
    }
    let server = PeerServer::start(peer);
    let name = peer.name();

    // Connection 1: subprotocol negotiation.
    let mut ws = server.connect("/echo?hybi=1&x=%20", &["nope", PROTOCOL]);
    assert_eq!(ws.subprotocol(), Some(PROTOCOL));
    assert_eq!(server.line(), format!("open /echo?hybi=1&x=%20 {PROTOCOL}"));

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

    // Connection 2: no subprotocol offered, none chosen; the peer closes.
    let mut ws = server.connect("/second", &[]);
    assert_eq!(ws.subprotocol(), None);
    assert_eq!(server.line(), "open /second -");
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

#[test]
fn hybi_client_against_python_server() {
    hybi_client_against_peer_server(Peer::Python);
}

#[test]
fn hybi_client_against_node_server() {
    hybi_client_against_peer_server(Peer::Node);
}
