//! The examples as a user runs them: real processes, real sockets.
//!
//! * Every example answers `--help` and `-h` with its usage on standard
//!   output and exits 0 (instead of starting a server), and refuses an
//!   unknown option with its usage on standard error and status 2.
//! * `client` against a server that sends a message and Close 1000 and then
//!   resets the connection (after the client's Close reply, or at once):
//!   it prints the message and the Close and exits 0; the subprotocols
//!   given with `--protocol` are all offered, in order.
//! * `autobahn_client` against `tests/interop/fuzzingserver.py`, a stand-in
//!   for the Autobahn fuzzingserver (the real one is a Python 2 program):
//!   the case count is read, every case ends as it should (closed cleanly
//!   despite the reset after each Close; the invalid UTF-8 case failed by
//!   the client with 1007), permessage-deflate is offered and used (the
//!   stand-in checks the echoes come back compressed), and the reports are
//!   asked for. Needs `python3` (standard library only): skipped with a
//!   line when it is missing, unless `HYBI_INTEROP=1`.
//!
//! The executables come from one `cargo build --examples` run by the first
//! test that needs them, with the features and profile this test was built
//! with, so under `cargo test` it finds them already built (it only checks
//! they are fresh). `chat` is among them with the `tokio` feature.
//!
//! Every child process is waited for with a deadline and killed past it.

#[path = "support/python.rs"]
mod python;
#[path = "support/raw.rs"]
mod raw;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use python::python_has;
use raw::{close_payload, frame, read_frame, reset, settle};

/// The examples this test runs, given the features it was built with.
fn examples() -> Vec<&'static str> {
    let mut names = vec!["client", "echo_server", "autobahn_client"];
    if cfg!(all(feature = "tokio", feature = "http")) {
        names.push("hyper_server");
    }
    if cfg!(feature = "axum") {
        names.push("axum_server");
    }
    if cfg!(feature = "tokio") {
        names.push("chat");
    }
    names
}

/// This crate's features that are on in this build, for building the
/// examples the same way (so the build is the one `cargo test` did).
fn features() -> Vec<&'static str> {
    let all = [
        ("std", cfg!(feature = "std")),
        ("alloc", cfg!(feature = "alloc")),
        ("deflate", cfg!(feature = "deflate")),
        ("tokio", cfg!(feature = "tokio")),
        ("rustls", cfg!(feature = "rustls")),
        ("tokio-rustls", cfg!(feature = "tokio-rustls")),
        ("http", cfg!(feature = "http")),
        ("axum", cfg!(feature = "axum")),
        ("embedded-io", cfg!(feature = "embedded-io")),
        ("embedded-io-async", cfg!(feature = "embedded-io-async")),
    ];
    all.iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}

/// The examples' executables by name, built once.
fn binaries() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(build_examples)
}

fn build_examples() -> HashMap<String, PathBuf> {
    let mut command = Command::new(env!("CARGO"));
    command
        .args([
            "build",
            "--examples",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--no-default-features", "--features", &features().join(",")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    // What cargo set for this test process describes this package, not the
    // build: build scripts that watch such variables (ring's watches
    // CARGO_PKG_NAME and CARGO_MANIFEST_DIR) would see them change and be
    // rerun, by this build and again by the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&&*name);
        if set_by_cargo {
            command.env_remove(&*name);
        }
    }
    let mut child = command.spawn().expect("cargo runs");
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut json = String::new();
        BufReader::new(stdout).read_to_string(&mut json).unwrap();
        json
    });
    // A cold build of every example takes minutes on a small machine.
    let status = wait(&mut child, Duration::from_secs(900)).expect("cargo build finished");
    assert!(status.success(), "cargo build --examples failed");
    let json = reader.join().unwrap();
    let mut built = HashMap::new();
    for line in json.lines() {
        if !line.contains(r#""reason":"compiler-artifact""#)
            || !line.contains(r#""kind":["example"]"#)
        {
            continue;
        }
        let name = field(line, r#""target":{"#, "name");
        let executable = field(line, "", "executable");
        if let (Some(name), Some(executable)) = (name, executable) {
            built.insert(name, PathBuf::from(executable));
        }
    }
    built
}

/// The string value of `"key":"..."` after `after` in one line of cargo's
/// JSON (paths and names here need no unescaping).
fn field(line: &str, after: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(after)? + after.len()..];
    let start = rest.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_string())
}

fn binary(name: &str) -> &'static PathBuf {
    binaries()
        .get(name)
        .unwrap_or_else(|| panic!("example {name} was not built: {:?}", binaries().keys()))
}

/// Waits for `child` until `limit`; kills it past that.
fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs an example with `args` and no input, killed after `limit`.
fn run(name: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(&mut child);
    let status = wait(&mut child, limit)
        .unwrap_or_else(|| panic!("{name} {args:?} did not exit within {limit:?}"));
    let (stdout, stderr) = out();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Reads a child's standard output and error in threads; the returned
/// function joins them.
fn collect(child: &mut Child) -> impl FnOnce() -> (Vec<u8>, Vec<u8>) {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    move || (out.join().unwrap(), err.join().unwrap())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- --help ----

#[test]
fn every_example_answers_help_and_exits_0() {
    for name in examples() {
        for flag in ["--help", "-h"] {
            let out = run(name, &[flag], Duration::from_secs(30));
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{name} {flag}: {stdout}");
            assert!(
                stdout.starts_with(&format!("usage: {name}")),
                "{name} {flag} printed: {stdout}"
            );
            assert!(stdout.contains("--help"), "{name} {flag}: {stdout}");
        }
    }
}

#[test]
fn every_example_refuses_an_unknown_option_with_2() {
    for name in examples() {
        let out = run(name, &["--no-such-option"], Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("usage: {name}")),
            "{name}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out.stdout));
    }
}

// ---- client against a server that resets ----

/// A server that checks the offered subprotocols, sends a message and
/// Close 1000 "bye", then resets: after reading the client's Close reply
/// (`wait_reply`), or at once.
fn resetting_server(wait_reply: bool) -> (u16, thread::JoinHandle<String>) {
    let (listener, port) = raw::listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut stream = raw::with_timeouts(stream);
        let head = raw::read_head(&mut stream);
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a key")
            .to_string();
        write!(
            stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: superchat\r\n\r\n",
            hybi::accept_key(key.as_bytes()).as_str()
        )
        .unwrap();
        let mut out = frame(0x1, b"hello");
        out.extend(frame(0x8, &close_payload(1000, "bye")));
        stream.write_all(&out).unwrap();
        if wait_reply {
            let (opcode, payload) = read_frame(&mut stream);
            assert_eq!((opcode, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
        } else {
            settle();
        }
        reset(stream);
        head
    });
    (port, server)
}

fn client_against_a_reset(wait_reply: bool) {
    let (port, server) = resetting_server(wait_reply);
    let url = format!("ws://127.0.0.1:{port}/");
    let mut child = Command::new(binary("client"))
        .args([&url, "--protocol", "chat", "--protocol", "superchat"])
        // Standard input stays open: the client closes only because the
        // server did.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let out = collect(&mut child);
    let status = wait(&mut child, Duration::from_secs(30)).expect("the client exited by itself");
    drop(stdin);
    let (stdout, stderr) = out();
    let (stdout, stderr) = (text(&stdout), text(&stderr));
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            &format!("connected to {url} (subprotocol: superchat)")[..],
            "< hello",
            "< close 1000 bye",
            "closed (1000)",
        ],
        "stderr:\n{stderr}"
    );
    let head = server.join().unwrap();
    assert!(
        head.contains("Sec-WebSocket-Protocol: chat, superchat\r\n"),
        "both offered, in order: {head}"
    );
}

#[test]
fn client_exits_0_when_the_server_resets_after_the_closing_handshake() {
    client_against_a_reset(true);
}

#[test]
fn client_exits_0_when_the_server_resets_right_after_its_close() {
    client_against_a_reset(false);
}

// ---- autobahn_client against the stand-in fuzzingserver ----

fn autobahn_against_standin(mode: &str) {
    if !python_has("zlib, socket, threading", "python3") {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/fuzzingserver.py");
    let mut standin = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The stand-in exits when its standard input closes (or by itself).
    let standin_stdin = standin.stdin.take();
    let mut lines = BufReader::new(standin.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the stand-in said something").unwrap();
    let port = first
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let report = thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    let mut args = vec![format!("ws://127.0.0.1:{port}")];
    if mode == "off" {
        args.push("--no-deflate".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("autobahn_client", &args, Duration::from_secs(120));
    let stdout = text(&out.stdout);
    let stand_status = wait(&mut standin, Duration::from_secs(30));
    drop(standin_stdin);
    let report = report.join().unwrap().join("\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "client:\n{stdout}\n{}\nstand-in:\n{report}",
        text(&out.stderr)
    );
    let offered = if mode == "off" { "off" } else { "offered" };
    assert!(
        stdout.starts_with(&format!(
            "7 cases on ws://127.0.0.1:{port} (permessage-deflate {offered})\n"
        )),
        "{stdout}"
    );
    for case in [1, 2, 3, 4, 5, 7] {
        assert!(
            stdout.contains(&format!("case {case}/7: closed cleanly (1000)\n")),
            "case {case}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("case 6/7: failed the connection: protocol error: text is not valid UTF-8"),
        "{stdout}"
    );
    assert!(
        stdout.contains("7 cases: 6 closed cleanly, 1 failed by this testee"),
        "{stdout}"
    );
    assert!(stdout.ends_with("reports updated\n"), "{stdout}");
    // The stand-in's own verdict: every case saw what it expected (echoes
    // byte for byte, compressed where they should be, the 1007, the Close
    // replies), and the client offered deflate as told.
    let deflate = if mode == "off" { "off" } else { "on" };
    for case in 1..=7 {
        assert!(
            report.contains(&format!(
                "case {case}: pass (agent hybi, deflate {deflate})"
            )),
            "{report}"
        );
    }
    assert!(report.ends_with("PASS"), "{report}");
    assert_eq!(stand_status.and_then(|s| s.code()), Some(0), "{report}");
}

#[test]
fn autobahn_client_against_a_standin_fuzzingserver_with_deflate() {
    autobahn_against_standin("deflate");
}

#[test]
fn autobahn_client_against_a_standin_fuzzingserver_without_deflate() {
    autobahn_against_standin("off");
}
