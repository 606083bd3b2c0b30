//! Zero-copy sends (`Connection::send_external`): a server queues only the
//! frame header and writes the payload from its own memory. The wire must
//! be exactly what `send` would have written, whatever queues meanwhile;
//! every refusal is typed and changes nothing; the std adapters use it for
//! large payloads and lose nothing when the transport stops taking bytes.

mod common;
use common::*;

use std::io::{self, IoSlice, Read, Write};

use hybi::storage::{Fixed, FixedBuffers};
use hybi::{Accept, CloseCode, Config, Connection, Event, MessageKind, Role, Transmit, UsageError};

/// Writes `conn`'s output as a transport taking at most `chunk` bytes per
/// write would, the owed external payload from `payload`; returns the bytes
/// and whether a shutdown was asked for.
fn write_out<S: hybi::storage::Storage>(
    conn: &mut Connection<S>,
    payload: &[u8],
    chunk: usize,
) -> (Vec<u8>, bool) {
    let mut wire = Vec::new();
    while let Some(transmit) = conn.poll_transmit() {
        let n = match transmit {
            Transmit::Bytes(bytes) => {
                let n = bytes.len().min(chunk);
                wire.extend_from_slice(&bytes[..n]);
                n
            }
            Transmit::External(owed) => {
                let rest = &payload[payload.len() - owed..];
                let n = owed.min(chunk);
                wire.extend_from_slice(&rest[..n]);
                n
            }
            Transmit::Shutdown => return (wire, true),
        };
        conn.transmitted(n);
    }
    (wire, false)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn wire_equals_a_copied_send_for_every_frame_size() {
    for len in [0usize, 1, 125, 126, 65_535, 65_536, 200_000] {
        let payload = pattern(len);
        let mut copied = open_server(Config::default());
        copied.send_binary(&payload).unwrap();
        let (expected, _) = write_out(&mut copied, &[], usize::MAX);

        for chunk in [1, 3, 4096, usize::MAX] {
            if len > 70_000 && chunk < 4096 {
                continue;
            }
            let mut server = open_server(Config::default());
            server
                .send_external(MessageKind::Binary, &payload, true)
                .unwrap();
            assert_eq!(server.external_owed(), len);
            assert_eq!(server.buffered_output(), expected.len(), "header + owed");
            let (wire, _) = write_out(&mut server, &payload, chunk);
            assert_eq!(wire, expected, "len {len} chunk {chunk}");
            assert_eq!((server.external_owed(), server.buffered_output()), (0, 0));
        }
    }
}

/// §5.4: frames of other messages may not come inside a frame; a Pong owed
/// to a Ping that arrives meanwhile, and a Close, go after the payload.
#[test]
fn frames_queued_while_owed_follow_the_payload() {
    let payload = pattern(10_000);
    let mut server = open_server(Config::default());
    server.send_text("first").unwrap();
    server
        .send_external(MessageKind::Binary, &payload, false)
        .unwrap();
    // One vectored write takes the queued bytes and 100 payload bytes.
    let mut wire = match server.poll_transmit() {
        Some(Transmit::Bytes(bytes)) => bytes.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(wire.len(), 7 + 4, "the text frame and the header");
    wire.extend_from_slice(&payload[..100]);
    server.transmitted(wire.len());
    assert_eq!(server.external_owed(), 9_900);
    // The peer pings; we end the message and close (§5.4: control frames
    // may come between fragments, never inside a frame).
    let events = feed_chunks(&mut server, &ping_frame(Role::Server, b"p"), 1);
    assert_eq!(events, vec![Ev::Ping(b"p".to_vec())]);
    server.send(MessageKind::Binary, b"end", true).unwrap();
    server.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        server.poll_transmit(),
        Some(Transmit::External(9_900)),
        "nothing may pass the owed payload"
    );
    wire.extend(write_out(&mut server, &payload, 999).0);
    // The owed Pong is queued when output is next polled or before our
    // Close, so after "end" here.
    assert_eq!(
        decode_frames(&wire),
        vec![
            (0x81, b"first".to_vec()),
            (0x02, payload.clone()),
            (0x80, b"end".to_vec()),
            (0x8a, b"p".to_vec()),
            (0x88, [&1000u16.to_be_bytes()[..], b"bye"].concat()),
        ]
    );
}

/// §7.1.7: a peer's violation while a payload is owed still ends with our
/// Close, after the payload, and the shutdown only after both.
#[test]
fn failure_while_owed_closes_after_the_payload() {
    let payload = pattern(5_000);
    let mut server = open_server(Config::default());
    server
        .send_external(MessageKind::Binary, &payload, true)
        .unwrap();
    // An unmasked frame from a client is a protocol error (§5.1).
    let mut bad = raw_frame(0x82, b"x", None);
    let out = server.handle_input(&mut bad, NOW);
    assert!(
        matches!(out.event, Some(Event::Closed(_))),
        "{:?}",
        out.event
    );
    assert!(matches!(server.poll_transmit(), Some(Transmit::Bytes(_))));
    let (wire, shutdown) = write_out(&mut server, &payload, 1_000);
    assert!(shutdown);
    let frames = decode_frames(&wire);
    assert_eq!(frames[0], (0x82, payload));
    assert_eq!(frames[1].0, 0x88);
    assert_eq!(&frames[1].1[..2], &1002u16.to_be_bytes());
    assert_eq!(frames.len(), 2);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let payload = pattern(300);

    let mut client = open_client(Config::default());
    assert_eq!(
        client.send_external(MessageKind::Binary, &payload, true),
        Err(UsageError::ExternalOnClient)
    );

    let mut server = open_server(Config::default());
    assert_eq!(
        server.send_external(MessageKind::Text, b"\xff", true),
        Err(UsageError::InvalidUtf8)
    );
    // Text must end on a code point with `fin`; fragments may split one.
    assert_eq!(
        server.send_external(MessageKind::Text, "é".as_bytes().split_at(1).0, true),
        Err(UsageError::InvalidUtf8)
    );
    assert_eq!(server.buffered_output(), 0);

    server
        .send_external(MessageKind::Binary, &payload, false)
        .unwrap();
    assert_eq!(
        server.send_external(MessageKind::Binary, &payload, true),
        Err(UsageError::ExternalPending)
    );
    assert_eq!(
        server.send_external_text("whole"),
        Err(UsageError::MessageInProgress)
    );
    assert_eq!(
        server.buffer_external(&payload[1..]),
        Err(UsageError::ExternalLengthMismatch)
    );
    assert_eq!(server.external_owed(), 300);
    // The rest copied in: the continuation may be external again.
    server.buffer_external(&payload).unwrap();
    assert_eq!(
        server.buffer_external(&[]),
        Err(UsageError::ExternalLengthMismatch),
        "nothing owed"
    );
    server
        .send_external(MessageKind::Binary, b"tail", true)
        .unwrap();
    let (wire, _) = write_out(&mut server, b"tail", usize::MAX);
    assert_eq!(
        decode_frames(&wire),
        vec![(0x02, payload.clone()), (0x80, b"tail".to_vec())]
    );

    server.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        server.send_external(MessageKind::Binary, &payload, true),
        Err(UsageError::NotOpen)
    );
}

/// RFC 7692 §6: the frames of a compressed message continue one DEFLATE
/// stream, so its continuation cannot be an uncompressed external payload;
/// a new message may be (sent plain).
#[cfg(feature = "deflate")]
#[test]
fn compressed_message_cannot_continue_external() {
    use hybi::DeflateConfig;
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    let mut server = Connection::server(config, hybi::Instant::ZERO);
    let mut request = RFC_REQUEST.to_vec();
    request.truncate(request.len() - 2);
    request.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
    let out = server.handle_input(&mut request, NOW);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    let _ = take_output(&mut server);
    assert!(server.deflate().is_some());

    server
        .send(MessageKind::Text, "a".repeat(500).as_bytes(), false)
        .unwrap();
    assert_eq!(
        server.send_external(MessageKind::Text, b"more", true),
        Err(UsageError::ExternalInCompressedMessage)
    );
    server.send(MessageKind::Text, b"more", true).unwrap();
    server.send_external_text("plain").unwrap();
    let (wire, _) = write_out(&mut server, b"plain", usize::MAX);
    let frames = decode_frames(&wire);
    assert_eq!(frames[0].0, 0x41, "RSV1 on the compressed message");
    assert_eq!(frames.last().unwrap(), &(0x81, b"plain".to_vec()));
}

/// The payload is not held to `max_buffered_output` (only the header is):
/// a message larger than the output limit may be sent this way.
#[test]
fn payload_larger_than_the_output_limit() {
    let mut config = Config::default();
    config.max_buffered_output = 1024;
    let payload = pattern(100_000);
    let mut server = open_server(config);
    assert_eq!(server.send_binary(&payload), Err(UsageError::OutputFull));
    server
        .send_external(MessageKind::Binary, &payload, true)
        .unwrap();
    let (wire, _) = write_out(&mut server, &payload, 65_536);
    assert_eq!(decode_frames(&wire), vec![(0x82, payload)]);
}

/// Fixed buffers: a payload far larger than the output slice goes out
/// without being copied, and with no heap.
#[test]
fn fixed_buffer_server_sends_more_than_its_output_slice() {
    let (mut output, mut handshake) = ([0u8; 600], [0u8; 1024]);
    let mut server: Connection<Fixed<'_>> = Connection::server_in(
        Config::default(),
        FixedBuffers {
            output: &mut output,
            handshake: &mut handshake,
        },
        hybi::Instant::ZERO,
    );
    let mut request = RFC_REQUEST.to_vec();
    let out = server.handle_input(&mut request, NOW);
    assert!(matches!(out.event, Some(Event::Request(_))));
    server.accept(Accept::new()).unwrap();
    let (head, _) = write_out(&mut server, &[], usize::MAX);
    assert!(head.starts_with(b"HTTP/1.1 101"));

    let payload = pattern(50_000);
    assert_eq!(server.send_binary(&payload), Err(UsageError::OutputFull));
    server
        .send_external(MessageKind::Binary, &payload, true)
        .unwrap();
    server.ping(b"after").unwrap();
    let (wire, _) = write_out(&mut server, &payload, 1460);
    assert_eq!(
        decode_frames(&wire),
        vec![(0x82, payload.clone()), (0x89, b"after".to_vec())]
    );
    // Copying the rest in needs room a fixed slice does not have.
    server
        .send_external(MessageKind::Binary, &payload, true)
        .unwrap();
    assert_eq!(
        server.buffer_external(&payload),
        Err(UsageError::OutputFull)
    );
    assert_eq!(server.external_owed(), 50_000);
}

// ---- the blocking adapter ----

/// A transport that takes at most `per_write` bytes per call (across the
/// slices of a vectored write, as `writev` does), and reports WouldBlock
/// once `budget` bytes were taken until the budget is raised.
struct Trickle {
    input: io::Cursor<Vec<u8>>,
    wire: Vec<u8>,
    per_write: usize,
    budget: usize,
    vectored_calls: usize,
}

/// No read timeouts: deadlines run when a read returns.
impl hybi::io::blocking::Transport for Trickle {}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.read(buf)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.vectored_calls += usize::from(bufs.len() > 1);
        let room = self.budget.min(self.per_write);
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut taken = 0;
        for buf in bufs {
            let n = buf.len().min(room - taken);
            self.wire.extend_from_slice(&buf[..n]);
            taken += n;
        }
        self.budget -= taken;
        Ok(taken)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn trickle_server(per_write: usize) -> hybi::io::blocking::WebSocket<Trickle> {
    let stream = Trickle {
        input: io::Cursor::new(RFC_REQUEST.to_vec()),
        wire: Vec::new(),
        per_write,
        budget: usize::MAX,
        vectored_calls: 0,
    };
    let mut ws = hybi::io::blocking::WebSocket::server(stream, Config::default());
    ws.handshake(|_| hybi::Decision::accept()).unwrap();
    let stream = ws.get_mut();
    let head_end = stream
        .wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    stream.wire.drain(..head_end);
    ws
}

#[test]
fn blocking_adapter_writes_large_payloads_vectored() {
    let payload = pattern(100_000);
    let text = "ж".repeat(20_000);
    let mut ws = trickle_server(7_777);
    ws.send_binary(&payload).unwrap();
    ws.send_text(&text).unwrap();
    ws.send_binary(b"small").unwrap();
    let stream = ws.get_mut();
    assert!(
        stream.vectored_calls >= 2,
        "header and payload written together"
    );
    assert_eq!(
        decode_frames(&stream.wire),
        vec![
            (0x82, payload),
            (0x81, text.into_bytes()),
            (0x82, b"small".to_vec())
        ]
    );
}

/// A non-blocking transport that fills up mid-payload: the send reports
/// WouldBlock with the rest copied into the engine, and `flush` finishes.
#[test]
fn blocking_adapter_would_block_mid_payload_loses_nothing() {
    let payload = pattern(100_000);
    let mut ws = trickle_server(4_096);
    ws.get_mut().budget = 10_000;
    let error = ws.send_binary(&payload).unwrap_err();
    assert!(error.is_would_block(), "{error:?}");
    // The caller's buffer is no longer needed.
    drop(payload.clone());
    ws.get_mut().budget = usize::MAX;
    ws.flush().unwrap();
    assert_eq!(ws.get_mut().wire.len(), 100_000 + 10);
    assert_eq!(decode_frames(&ws.get_mut().wire), vec![(0x82, payload)]);
}

// ---- the tokio adapter ----

/// A send cancelled while the transport takes no more (the peer reads
/// nothing yet): the part not written was copied into the engine before
/// the send's poll returned, so the message arrives whole once the output
/// is flushed, and the frames after it follow it.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_send_cancelled_mid_payload_loses_nothing() {
    use std::time::Duration;

    use hybi::io::tokio::WebSocketStream;
    use hybi::io::Message;
    use hybi::ClientRequest;

    let safety = Duration::from_secs(20);
    let (server_io, client_io) = tokio::io::duplex(1024);
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(tokio::time::timeout(safety, async move {
        let mut ws = WebSocketStream::accept(server_io, Config::default())
            .await
            .unwrap();
        let cut = tokio::time::timeout(
            Duration::from_millis(50),
            ws.send(Message::Binary(pattern(300_000))),
        )
        .await;
        assert!(
            cut.is_err(),
            "300 KB went through a 1 KiB pipe nobody reads"
        );
        assert!(ws.buffered_output() > 250_000, "the rest is queued");
        cut_tx.send(()).unwrap();
        ws.flush().await.unwrap();
        ws.send(Message::Binary(b"after".to_vec())).await.unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        while let Some(message) = ws.next().await {
            message.unwrap();
        }
    }));

    let request = ClientRequest::new("ws://localhost/").unwrap();
    let received = tokio::time::timeout(safety, async move {
        let mut ws = WebSocketStream::connect(request, client_io, Config::default())
            .await
            .unwrap();
        cut_rx.await.unwrap();
        let mut received = Vec::new();
        while let Some(message) = ws.next().await {
            received.push(message.unwrap());
        }
        received
    })
    .await
    .unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(received.len(), 3, "two messages and the Close");
    assert!(received[0] == Message::Binary(pattern(300_000)));
    assert_eq!(received[1], Message::Binary(b"after".to_vec()));
    assert!(matches!(received[2], Message::Close(_)));
}
