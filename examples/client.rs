//! A small wscat-like command-line client on the blocking adapter.
//!
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:9001/
//! cargo run --example client -- ws://127.0.0.1:9001/ --protocol chat --protocol superchat
//! echo hello | cargo run --example client -- ws://127.0.0.1:9001/
//! ```
//!
//! It connects, prints the subprotocol the server agreed to (offer some with
//! `--protocol NAME`, in order of preference), then sends each line of
//! standard input as a text message and prints what arrives: `< text` for
//! text, `< binary (N bytes) hex...` for binary, pings, pongs and the
//! server's Close. At the end of standard input (Ctrl-D) it closes with 1000
//! and exits once the closing handshake is over.
//!
//! One thread reads standard input into a channel; the main thread owns the
//! WebSocket and alternates between the two, reading the socket with a short
//! timeout. A timed-out read loses nothing: the adapter keeps every byte and
//! any half-received message, so the next `read` carries on.
//!
//! Plain `ws://` only: this example uses nothing but `std::net::TcpStream`.

use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use hybi::io::blocking::WebSocket;
use hybi::io::{Error, Message};
use hybi::{ClientRequest, CloseCode, Config};

/// How long a socket read waits before the loop looks at stdin again.
const POLL: Duration = Duration::from_millis(50);
/// How long the opening handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server to finish the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "\
usage: client ws://HOST[:PORT]/PATH [--protocol NAME]...

Connects, then sends each line of standard input as a text message and
prints what arrives; at the end of standard input it closes with 1000 and
exits once the closing handshake is over (status 0; 1 on an error).

options:
  -p, --protocol NAME   offer a subprotocol (repeat, in order of preference)
  -h, --help            print this help and exit
";

fn main() -> ExitCode {
    let mut url = None;
    let mut protocols = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--protocol" | "-p" => match args.next() {
                Some(name) => protocols.push(name),
                None => return usage("--protocol needs a NAME"),
            },
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if arg.starts_with('-') => return usage(&format!("unknown option {arg}")),
            _ if url.is_none() => url = Some(arg),
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let Some(url) = url else {
        return usage("missing URL");
    };
    match run(&url, &protocols) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

fn run(url: &str, protocols: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let offered: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let request = ClientRequest::new(url)?.subprotocols(&offered);
    if request.is_secure() {
        return Err("wss:// needs TLS; this example speaks plain ws:// only".into());
    }
    let stream = TcpStream::connect((request.host(), request.port()))?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut ws = match WebSocket::connect(request, stream, Config::default()) {
        Err(Error::Rejected(rejection)) => {
            let body = String::from_utf8_lossy(&rejection.body);
            return Err(format!(
                "the server refused the upgrade with HTTP {}: {}",
                rejection.status,
                body.trim()
            )
            .into());
        }
        other => other?,
    };
    ws.get_mut().set_read_timeout(Some(POLL))?;
    match ws.subprotocol() {
        Some(protocol) => println!("connected to {url} (subprotocol: {protocol})"),
        None => println!("connected to {url} (no subprotocol)"),
    }

    // Standard input, line by line; the channel closing means EOF.
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut closing_since: Option<Instant> = None;
    loop {
        // 1. Send what was typed; close once standard input is over.
        while closing_since.is_none() {
            match lines.try_recv() {
                Ok(line) => match ws.send_text(&line) {
                    Ok(()) => {}
                    // The server closed first: the read below will say so.
                    Err(Error::Usage(_)) => break,
                    Err(error) => return Err(error.into()),
                },
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closing_since = Some(Instant::now());
                    match ws.close(CloseCode::NORMAL, "") {
                        Ok(()) | Err(Error::Usage(_)) => {}
                        Err(error) => return Err(error.into()),
                    }
                }
            }
        }
        // 2. Print what arrived, waiting at most POLL.
        match ws.read() {
            Ok(Some(message)) => print(message),
            Ok(None) => break,
            Err(error) if error.is_would_block() => {
                if closing_since.is_some_and(|since| since.elapsed() > CLOSE_TIMEOUT) {
                    return Err("the server did not finish the closing handshake".into());
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    match ws.closed() {
        Some(closed) if closed.clean => println!("closed ({})", closed.code),
        Some(closed) => println!("connection lost ({})", closed.code),
        None => println!("closed"),
    }
    Ok(())
}

fn print(message: Message) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is not worth a panic.
    let _ = match message {
        Message::Text(text) => writeln!(out, "< {text}"),
        Message::Binary(bytes) => writeln!(out, "< binary ({} bytes){}", bytes.len(), hex(&bytes)),
        Message::Ping(payload) => writeln!(out, "< ping{}", hex(&payload)),
        Message::Pong(payload) => writeln!(out, "< pong{}", hex(&payload)),
        Message::Close(Some(frame)) if frame.reason.is_empty() => {
            writeln!(out, "< close {}", frame.code)
        }
        Message::Close(Some(frame)) => writeln!(out, "< close {} {}", frame.code, frame.reason),
        Message::Close(None) => writeln!(out, "< close"),
    };
    let _ = out.flush();
}

/// A space and the first 64 bytes in hex, `...` if there are more; nothing
/// for no bytes.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let mut text = String::from(" ");
    text.extend(bytes.iter().take(64).map(|b| format!("{b:02x}")));
    if bytes.len() > 64 {
        text.push_str("...");
    }
    text
}
