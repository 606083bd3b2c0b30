//! The inputs every benchmark runs on, and hybi's side of each workload.
//!
//! Shared by the criterion benches in this folder and by the side-by-side
//! comparison in `perf/` (which includes this file by path), so hybi and its
//! peers are measured on the same bytes.
//!
//! A decode input is a stream of whole frames as a browser sends them to a
//! server (masked, a different key per frame). Readers replay it in a
//! loop, handing out at most the read size per `read` call, as a socket does.
#![allow(dead_code)] // reason: each bench uses a different part of this file

use hybi::{
    Accept, ClientRequest, Config, Connection, Entropy, Event, Instant, MessageKind, Role, Transmit,
};

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Binary,
    /// Text, all ASCII.
    Ascii,
    /// Text, mostly 2-, 3- and 4-byte code points.
    Multibyte,
}

/// One workload: `size`-byte messages of `content`, each sent in frames
/// of at most `fragment` bytes (`usize::MAX`: one frame per message).
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub name: &'static str,
    pub content: Content,
    pub size: usize,
    pub fragment: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const WHOLE: usize = usize::MAX;

const fn w(name: &'static str, content: Content, size: usize, fragment: usize) -> Workload {
    Workload {
        name,
        content,
        size,
        fragment,
    }
}

/// Decode workloads (issue 5): binary at six sizes, text in ASCII and in
/// multibyte UTF-8 at three, and 1 MiB in 4 KiB fragments.
pub const DECODE: &[Workload] = &[
    w("binary 16 B", Content::Binary, 16, WHOLE),
    w("binary 125 B", Content::Binary, 125, WHOLE),
    w("binary 1 KiB", Content::Binary, KIB, WHOLE),
    w("binary 16 KiB", Content::Binary, 16 * KIB, WHOLE),
    w("binary 64 KiB", Content::Binary, 64 * KIB, WHOLE),
    w("binary 1 MiB", Content::Binary, MIB, WHOLE),
    w("ascii 125 B", Content::Ascii, 125, WHOLE),
    w("ascii 16 KiB", Content::Ascii, 16 * KIB, WHOLE),
    w("ascii 1 MiB", Content::Ascii, MIB, WHOLE),
    w("utf8 125 B", Content::Multibyte, 125, WHOLE),
    w("utf8 16 KiB", Content::Multibyte, 16 * KIB, WHOLE),
    w("utf8 1 MiB", Content::Multibyte, MIB, WHOLE),
    w("binary 1 MiB / 4 KiB frags", Content::Binary, MIB, 4 * KIB),
    w("utf8 1 MiB / 4 KiB frags", Content::Multibyte, MIB, 4 * KIB),
];

/// Encode workloads: the same sizes, one frame per message.
pub const ENCODE: &[Workload] = &[
    w("binary 16 B", Content::Binary, 16, WHOLE),
    w("binary 125 B", Content::Binary, 125, WHOLE),
    w("binary 1 KiB", Content::Binary, KIB, WHOLE),
    w("binary 16 KiB", Content::Binary, 16 * KIB, WHOLE),
    w("binary 64 KiB", Content::Binary, 64 * KIB, WHOLE),
    w("binary 1 MiB", Content::Binary, MIB, WHOLE),
    w("utf8 125 B", Content::Multibyte, 125, WHOLE),
    w("utf8 16 KiB", Content::Multibyte, 16 * KIB, WHOLE),
    w("utf8 1 MiB", Content::Multibyte, MIB, WHOLE),
];

/// A fast deterministic generator (xorshift64*), for payloads and keys.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A payload of exactly `size` bytes; text is valid UTF-8.
pub fn payload(content: Content, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    match content {
        Content::Binary => (0..size).map(|_| rng.next() as u8).collect(),
        Content::Ascii => (0..size).map(|_| b' ' + (rng.next() % 95) as u8).collect(),
        Content::Multibyte => {
            const CHARS: &[char] = &[
                'é', 'ß', 'ж', 'λ', '€', '日', '本', '語', '✓', '🦀', '😀', 'a',
            ];
            let mut s = String::with_capacity(size);
            loop {
                let c = CHARS[(rng.next() % CHARS.len() as u64) as usize];
                if s.len() + c.len_utf8() > size {
                    break;
                }
                s.push(c);
            }
            while s.len() < size {
                s.push('.');
            }
            s.into_bytes()
        }
    }
}

/// One frame's bytes, masked with `key` if given.
pub fn frame(opcode: u8, fin: bool, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(fin as u8) << 7 | opcode];
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// How many messages one pass over a workload's stream holds: about 4 MiB
/// of payload, at most 10 000 messages, at least 2.
pub fn messages_per_stream(workload: &Workload) -> usize {
    (4 * MIB / workload.size).clamp(2, 10_000)
}

/// The payloads of one pass (a few distinct ones, repeated).
pub fn payloads(workload: &Workload) -> Vec<Vec<u8>> {
    (0..4)
        .map(|seed| payload(workload.content, workload.size, seed + 1))
        .collect()
}

/// The bytes a browser would send a server for one pass of `workload`:
/// masked frames, a different key per frame, fragments split wherever the
/// fragment size falls (inside code points included).
pub fn masked_stream(workload: &Workload) -> (Vec<u8>, usize) {
    let payloads = payloads(workload);
    let count = messages_per_stream(workload);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for i in 0..count {
        let payload = &payloads[i % payloads.len()];
        let opcode = if workload.content == Content::Binary {
            2
        } else {
            1
        };
        let pieces: Vec<&[u8]> = if workload.fragment >= payload.len() {
            vec![payload]
        } else {
            payload.chunks(workload.fragment).collect()
        };
        let last = pieces.len() - 1;
        for (n, piece) in pieces.iter().enumerate() {
            let key = (rng.next() as u32).to_ne_bytes();
            let op = if n == 0 { opcode } else { 0 };
            out.extend_from_slice(&frame(op, n == last, piece, Some(key)));
        }
    }
    (out, count)
}

/// Replays `data` forever, at most `read_size` bytes per read, like a
/// socket that always has data.
///
/// On the bench machine glibc's memmove runs 10-30x slower when the
/// destination is 1 to about 31 bytes ahead of the source modulo 4 KiB
/// (measured). Whether a reader's buffer lands there is luck of addresses,
/// and it swung whole runs (hybi and tungstenite decoding 16-byte messages
/// 18 vs 33 ns and 30 vs 46 ns between runs of the same build). So the
/// stream is kept twice, the second copy 2 KiB apart modulo 4 KiB, and each
/// read copies from the one that is not in that window: every
/// implementation's read costs one ordinary copy.
pub struct Replay {
    pub data: &'static [u8],
    shifted: &'static [u8],
    pub pos: usize,
    pub read_size: usize,
}

impl Replay {
    pub fn new(data: &'static [u8], read_size: usize) -> Self {
        Replay {
            data,
            shifted: shifted_copy(data),
            pos: 0,
            read_size,
        }
    }

    /// Copies the next bytes into `buf`; returns how many.
    pub fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let n = buf
            .len()
            .min(self.read_size)
            .min(self.data.len() - self.pos);
        let from = self.data[self.pos..].as_ptr().addr();
        let ahead = buf.as_ptr().addr().wrapping_sub(from) % 4096;
        let source = if (1..64).contains(&ahead) {
            self.shifted
        } else {
            self.data
        };
        buf[..n].copy_from_slice(&source[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.data.len() {
            self.pos = 0;
        }
        n
    }
}

/// The same bytes at an address 2 KiB apart from `data`'s modulo 4 KiB.
fn shifted_copy(data: &'static [u8]) -> &'static [u8] {
    let room: &'static mut [u8] = Box::leak(vec![0u8; data.len() + 4096].into_boxed_slice());
    let want = (data.as_ptr().addr() + 2048) % 4096;
    let offset = want.wrapping_sub(room.as_ptr().addr()) % 4096;
    let copy = &mut room[offset..offset + data.len()];
    copy.copy_from_slice(data);
    copy
}

impl std::io::Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

/// A transport's write side: copies every byte it takes into a 256 KiB
/// ring, as a kernel copies into a socket's send buffer, so an encoder that
/// hands over the payload without copying it (vectored writes) and one that
/// copies it into its own buffer first are charged the copy each really
/// costs.
pub struct Sink {
    ring: Vec<u8>,
    pos: usize,
    pub taken: usize,
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            ring: vec![0; 256 * KIB],
            pos: 0,
            taken: 0,
        }
    }
}

impl Sink {
    pub fn take(&mut self, mut bytes: &[u8]) {
        self.taken += bytes.len();
        // Start where destination and source are equal modulo 64, so no
        // implementation's numbers depend on glibc memmove's slow case on
        // this machine (destination a few bytes ahead of the source modulo
        // 4 KiB: over 10x slower), which is luck of addresses, not work.
        let dst = self.ring.as_ptr().addr() + self.pos;
        let skip = bytes.as_ptr().addr().wrapping_sub(dst) % 64;
        self.pos = (self.pos + skip) % self.ring.len();
        while !bytes.is_empty() {
            let n = bytes.len().min(self.ring.len() - self.pos);
            self.ring[self.pos..self.pos + n].copy_from_slice(&bytes[..n]);
            self.pos = (self.pos + n) % self.ring.len();
            bytes = &bytes[n..];
        }
    }
}

/// The size of hybi's read buffer in the benches (the adapters' default).
pub const READ_SIZE: usize = 64 * KIB;

/// A predictable masking-key source, for benches that must not depend on
/// the OS (the comparison uses `OsEntropy`, what a user gets).
pub struct CountingEntropy(pub u8);

impl Entropy for CountingEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0;
            self.0 = self.0.wrapping_add(7);
        }
    }
}

/// Runs the opening handshake between a fresh client and server in memory,
/// returning both connections open.
pub fn open_pair(entropy: impl Entropy + Send + 'static) -> (Connection, Connection) {
    let request = ClientRequest::new("ws://example.com/chat").expect("uri");
    let mut client =
        Connection::client(Config::default(), request, entropy, Instant::ZERO).expect("client");
    let mut server = Connection::server(Config::default(), Instant::ZERO);
    let mut bytes = drain(&mut client);
    let mut pos = 0;
    loop {
        let input = server.handle_input(&mut bytes[pos..], Instant::ZERO);
        pos += input.consumed;
        match input.event {
            Some(Event::Request(_)) => {
                server.accept(Accept::new()).expect("accept");
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    let mut answer = drain(&mut server);
    let mut pos = 0;
    let mut accepted = false;
    loop {
        let input = client.handle_input(&mut answer[pos..], Instant::ZERO);
        pos += input.consumed;
        match input.event {
            Some(Event::Accepted(_)) => accepted = true,
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert!(accepted);
    (client, server)
}

/// Everything the connection queued to write.
pub fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
        out.extend_from_slice(bytes);
        let n = bytes.len();
        conn.transmitted(n);
    }
    out
}

/// hybi's decoder as an adapter drives it: a read buffer filled from the
/// replayed stream, `handle_input` until it wants more, unconsumed bytes
/// kept at the front.
pub struct HybiDecoder {
    pub conn: Connection,
    pub source: Replay,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl HybiDecoder {
    pub fn new(data: &'static [u8]) -> Self {
        let (_, server) = open_pair(CountingEntropy(1));
        HybiDecoder {
            conn: server,
            source: Replay::new(data, READ_SIZE),
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
        }
    }

    /// Reads `messages` whole messages; returns the payload bytes seen.
    /// Every chunk of payload is handed to `sink` (text as a `str`).
    pub fn run(&mut self, messages: usize, mut sink: impl FnMut(&[u8])) -> usize {
        let mut done = 0;
        let mut bytes = 0;
        while done < messages {
            loop {
                let input = self
                    .conn
                    .handle_input(&mut self.buf[self.start..self.end], Instant::ZERO);
                self.start += input.consumed;
                match input.event {
                    Some(Event::Data(data)) => {
                        bytes += data.payload.len();
                        sink(data.payload);
                        if data.fin {
                            done += 1;
                            if done == messages {
                                return bytes;
                            }
                        }
                    }
                    Some(other) => panic!("unexpected {other:?}"),
                    None => break,
                }
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.end += self.source.read_into(&mut self.buf[self.end..]);
        }
        bytes
    }
}

/// Payloads from which a server sends with `send_external`, as the std and
/// tokio adapters do (`EXTERNAL_MIN` in src/io/mod.rs).
pub const EXTERNAL_MIN: usize = 8 * KIB;

/// hybi's encoder as its adapters drive it: queue one message, hand its
/// bytes to `sink` (the transport), retire them. A server's large payload
/// is not copied into the engine: the header is queued, and the transport
/// gets the header and then the caller's payload (one vectored write).
/// `text` is the payload as a `str` for a text message.
/// hybi encoding into a buffer of the caller's (`Connection::send_into`):
/// the frame is written (and masked, for a client) into `out` in one pass,
/// then handed to `sink`, as a transport write would take it.
#[allow(dead_code)] // reason: perf/ uses it; the criterion benches do not
pub fn hybi_encode_into(
    conn: &mut Connection,
    payload: &[u8],
    text: Option<&str>,
    out: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) {
    let n = match text {
        Some(text) => conn.send_text_into(text, out),
        None => conn.send_into(MessageKind::Binary, payload, true, out),
    }
    .expect("send_into");
    sink(&out[..n]);
}

pub fn hybi_encode(
    conn: &mut Connection,
    payload: &[u8],
    text: Option<&str>,
    mut sink: impl FnMut(&[u8]),
) {
    let external = conn.role() == Role::Server && payload.len() >= EXTERNAL_MIN;
    let queued = match (text, external) {
        (Some(text), true) => conn.send_external_text(text),
        (None, true) => conn.send_external(MessageKind::Binary, payload, true),
        (Some(text), false) => conn.send_text(text),
        (None, false) => conn.send_binary(payload),
    };
    queued.expect("send");
    loop {
        let n = match conn.poll_transmit() {
            Some(Transmit::Bytes(bytes)) => {
                sink(bytes);
                bytes.len()
            }
            Some(Transmit::External(owed)) => {
                sink(&payload[payload.len() - owed..]);
                owed
            }
            _ => return,
        };
        conn.transmitted(n);
    }
}
