//! A WebSocket peer written by hand over a std `TcpStream`, for tests that
//! must control every byte and every moment: when a frame goes out, when a
//! Close is answered (or never), when the connection is reset. Included by
//! the tests that use it with `#[path = "support/raw.rs"] mod raw;`.

// Reason: each test file uses only some of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// The longest any one read or write here may wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener on a free loopback port.
pub fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Read and write timeouts, so a broken test fails instead of hanging, and
/// no Nagle delay: a frame still held back when the socket is aborted would
/// be discarded with it.
pub fn with_timeouts(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Aborts the connection: with `SO_LINGER` 0, `close` discards anything
/// unsent and sends RST instead of FIN. std has no setter for it.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Pauses before an abort so the frames written just before it have
/// reached the peer's socket first (loopback may deliver from two CPUs'
/// queues); not a timing assertion, only an ordering aid.
pub fn settle() {
    thread::sleep(Duration::from_millis(30));
}

/// Reads until the peer closes or resets (or `IO_TIMEOUT` passes), holding
/// the connection open meanwhile without ever answering.
pub fn hold_until_peer_leaves(mut stream: TcpStream) {
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

/// A frame as a server sends it: FIN, unmasked, short payload.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut bytes = vec![0x80 | opcode, payload.len() as u8];
    bytes.extend_from_slice(payload);
    bytes
}

/// A frame as a client sends it: FIN, masked (RFC 6455 §5.3).
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut bytes = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    bytes.extend_from_slice(&key);
    bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    bytes
}

/// A Close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Reads one short frame (either direction) and returns its opcode and
/// unmasked payload.
pub fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let len = usize::from(head[1] & 0x7f);
    assert!(len < 126, "a short frame was expected");
    let mut key = [0u8; 4];
    if head[1] & 0x80 != 0 {
        stream.read_exact(&mut key).unwrap();
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    (head[0] & 0x0f, payload)
}

/// Reads an HTTP head up to its blank line.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Accepts one connection and answers its upgrade with a 101 by hand,
/// with `extra` header lines (each ending in CRLF) added.
pub fn accept_with_headers(listener: &TcpListener, extra: &str) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    let mut stream = with_timeouts(stream);
    let head = read_head(&mut stream);
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .expect("a Sec-WebSocket-Key");
    let accept = hybi::accept_key(key.as_bytes());
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept.as_str()
    )
    .unwrap();
    stream
}

/// Accepts one connection and answers its upgrade with a plain 101.
pub fn accept(listener: &TcpListener) -> TcpStream {
    accept_with_headers(listener, "")
}

/// Connects and sends a client's upgrade request by hand; returns the
/// stream once the 101 is read.
pub fn connect(port: u16) -> TcpStream {
    let mut stream = with_timeouts(TcpStream::connect(("127.0.0.1", port)).unwrap());
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}
