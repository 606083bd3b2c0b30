//! An echo server on blocking std sockets, one thread per connection.
//!
//! ```sh
//! cargo run --example echo_server              # listens on 127.0.0.1:9001
//! cargo run --example echo_server 0.0.0.0:9002
//! ```
//!
//! Every text and binary message is echoed unchanged (chunk by chunk, so a
//! large message is never held whole), pings are answered by the engine,
//! and a Close is echoed. This follows the conventions of the testees of the
//! Autobahn conformance suite: a large message limit and a polite close.
//!
//! The loop below is the whole of a blocking adapter: read bytes, hand them
//! to `handle_input` until it has no event, write what `poll_transmit`
//! gives, stop after `Closed` once the transport is finished with.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant as Clock;

use hybi::{Accept, Config, Connection, Event, Instant, MessageKind, Transmit};

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let listener = TcpListener::bind(&addr)?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            if let Err(error) = serve(stream) {
                eprintln!("{peer:?}: {error}");
            }
        });
    }
    Ok(())
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut config = Config::default();
    // Autobahn sends messages up to 16 MiB in single frames.
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    let mut conn = Connection::server(config);
    let clock = Clock::now();
    let now = || Instant::from_micros(clock.elapsed().as_micros() as u64);

    let mut buf = vec![0u8; 256 * 1024];
    let mut echo = Vec::new();
    let (mut start, mut end) = (0, 0);
    let (mut closed, mut shut, mut eof) = (false, false, false);
    loop {
        loop {
            let input = conn.handle_input(&mut buf[start..end], now());
            start += input.consumed;
            // Decide while the event borrows the connection, act after.
            let mut reply: Option<(MessageKind, bool)> = None;
            let mut accept = false;
            match input.event {
                None => break,
                Some(Event::Request(request)) => {
                    println!("upgrade request for {}", request.target());
                    accept = true;
                }
                Some(Event::Data(data)) => {
                    echo.clear();
                    echo.extend_from_slice(data.payload);
                    reply = Some((data.kind, data.fin));
                }
                Some(Event::Closed(how)) => {
                    closed = true;
                    if let Some(error) = how.error {
                        eprintln!("connection failed: {error}");
                    }
                }
                Some(_) => {}
            }
            if accept {
                conn.accept(Accept::new()).map_err(io::Error::other)?;
            }
            if let Some((kind, fin)) = reply {
                // Sending fails only once our side is closing; then there is
                // nothing left to echo to.
                let _ = conn.send(kind, &echo, fin);
            }
        }
        while let Some(transmit) = conn.poll_transmit() {
            match transmit {
                Transmit::Bytes(bytes) => {
                    let n = stream.write(bytes)?;
                    conn.transmitted(n);
                }
                Transmit::Shutdown => {
                    stream.shutdown(Shutdown::Write)?;
                    shut = true;
                }
            }
        }
        if closed && (shut || eof) {
            return Ok(());
        }
        buf.copy_within(start..end, 0);
        (start, end) = (0, end - start);
        match stream.read(&mut buf[end..])? {
            0 => {
                eof = true;
                conn.handle_eof(now());
            }
            n => end += n,
        }
    }
}
