//! An echo server on the blocking adapter, one thread per connection.
//!
//! ```sh
//! cargo run --example echo_server              # listens on 127.0.0.1:9001
//! cargo run --example echo_server 0.0.0.0:9002
//! cargo run --example echo_server -- --no-deflate   # without compression
//! ```
//!
//! Every text and binary message is echoed unchanged, pings are answered by
//! the engine, and a Close is echoed. This follows the conventions of the
//! testees of the Autobahn conformance suite: a large message limit (64 MiB,
//! in frames of up to 64 MiB) and a polite close (the closing handshake is
//! completed before the connection is dropped). Point the fuzzingclient at
//! `ws://127.0.0.1:9001` to run the suite against it.
//!
//! permessage-deflate (RFC 7692) is on: `Config::deflate` is
//! `Some(DeflateConfig::default())`, so a client's offer (every browser
//! makes one) is accepted and messages are compressed both ways, which the
//! Autobahn suite's section 12 and 13 cases exercise. `--no-deflate` leaves
//! it off, and offers are declined.
//!
//! The whole server is `WebSocket::accept_with` and a `read` loop: the
//! adapter (`hybi::io::blocking`) moves the bytes, the engine keeps every
//! rule of the protocol.

use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use hybi::io::blocking::WebSocket;
use hybi::io::{Error, Message};
use hybi::Decision;
use hybi::{Config, DeflateConfig};

const USAGE: &str = "\
usage: echo_server [ADDR] [--no-deflate]

Echoes every message on ws://ADDR (default 127.0.0.1:9001), one thread per
connection, with the limits of an Autobahn testee.

options:
  --no-deflate   decline permessage-deflate (RFC 7692) offers
  -h, --help     print this help and exit
";

fn main() -> ExitCode {
    let mut deflate = true;
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--no-deflate" => deflate = false,
            _ if arg.starts_with('-') => return usage(&format!("unknown option {arg}")),
            _ if addr.is_none() => addr = Some(arg),
            _ => return usage(&format!("unexpected argument {arg}")),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9001".into());
    match listen(&addr, deflate) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {addr}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Serves on `addr` until the process ends.
fn listen(addr: &str, deflate: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!(
        "echo server listening on ws://{} (permessage-deflate {})",
        listener.local_addr()?,
        if deflate { "on" } else { "off" }
    );
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // A connection that failed before we took it (reset, too many
            // open files): report it and keep serving the others.
            Err(error) => {
                eprintln!("accept: {error}");
                continue;
            }
        };
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            if let Err(error) = serve(stream, deflate) {
                eprintln!("{peer}: {error}");
            }
        });
    }
    Ok(())
}

fn serve(stream: TcpStream, deflate: bool) -> Result<(), Error> {
    // Echoed frames go out at once rather than waiting for Nagle.
    stream.set_nodelay(true)?;
    let mut config = Config::default();
    // Autobahn sends messages up to 16 MiB in single frames.
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    if deflate {
        config.deflate = Some(DeflateConfig::default());
    }
    let mut ws = WebSocket::accept_with(stream, config, |request| {
        println!("upgrade request for {}", request.target());
        Decision::accept()
    })?;
    loop {
        match ws.read() {
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                // Sending fails only once our side is closing; then there is
                // nothing left to echo to.
                match ws.send(message) {
                    Ok(()) | Err(Error::Usage(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            // Pings were answered and a Close was echoed by the engine;
            // reading on completes the closing handshake.
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            // The peer broke the protocol: the engine already sent the
            // Close with the right code. Report it; the next read ends.
            Err(Error::Protocol(error)) => eprintln!("connection failed: {error}"),
            Err(error) => return Err(error),
        }
    }
}
