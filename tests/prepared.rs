//! Encode once, send to many: `PreparedMessage` and `send_prepared`.
//! A server frame is the same bytes on every connection (RFC 6455 §5.1:
//! servers do not mask); with permessage-deflate, a compressed prepared
//! frame is valid only where the server starts every message from an
//! empty window (RFC 7692 §7.1.1.1, `server_no_context_takeover`).

mod common;
use common::meter;
use common::pair::Pair;
use common::*;

#[global_allocator]
static GLOBAL: meter::Counting = meter::Counting;
use hybi::{
    Config, Connection, DeflateConfig, MessageKind, Negotiated, PreparedMessage, Transmit,
    UsageError,
};

fn deflate(server_no_context: bool) -> Config {
    let mut d = DeflateConfig::default();
    d.min_compress_size = 0;
    d.local_no_context_takeover = server_no_context;
    let mut config = Config::default();
    config.deflate = Some(d);
    config
}

fn client_deflate(ask_server_no_context: bool) -> Config {
    let mut d = DeflateConfig::default();
    d.min_compress_size = 0;
    d.remote_no_context_takeover = ask_server_no_context;
    let mut config = Config::default();
    config.deflate = Some(d);
    config
}

/// A long, compressible text.
fn chat_line(i: usize) -> String {
    format!("{{\"type\":\"message\",\"from\":\"member {i}\",\"text\":\"hello, room, this is line {i} of the chat\"}}").repeat(3)
}

#[test]
fn the_owed_bytes_are_the_plain_frame_and_the_client_reads_the_message() {
    let mut pair = Pair::connected(Config::default(), Config::default());
    let message = PreparedMessage::text("hello, everyone");
    let frame = pair.server.send_prepared(&message).unwrap();
    assert_eq!(frame, b"\x81\x0fhello, everyone");
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![text("hello, everyone")]
    );
}

#[test]
fn one_message_many_connections_without_a_copy_each() {
    let message = PreparedMessage::binary(&[7u8; 70_000]);
    let mut frames = Vec::new();
    for _ in 0..3 {
        let mut pair = Pair::connected(Config::default(), Config::default());
        frames.push(pair.server.send_prepared(&message).unwrap());
        pair.drive();
        assert_eq!(
            merge(pair.client.take_events()),
            vec![binary(&[7u8; 70_000])]
        );
    }
    assert!(frames.windows(2).all(|w| w[0] == w[1]));
    // The 64-bit length form (RFC 6455 §5.2): 0x82, 127, then 8 bytes.
    assert_eq!(&frames[0][..2], &[0x82, 127]);
}

#[test]
fn frames_queued_around_it_keep_stream_order() {
    let mut pair = Pair::connected(Config::default(), Config::default());
    pair.server.conn.send_text("before").unwrap();
    let message = PreparedMessage::text("shared");
    pair.server.send_prepared(&message).unwrap();
    pair.server.conn.send_text("after").unwrap();
    pair.server.max_write = Some(3);
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![text("before"), text("shared"), text("after")]
    );
}

#[test]
fn refusals_change_nothing() {
    let message = PreparedMessage::text("x");
    // A client masks every frame with its own key (§5.3).
    let mut pair = Pair::connected(Config::default(), Config::default());
    assert_eq!(
        pair.client.conn.send_prepared(&message).unwrap_err(),
        UsageError::ExternalOnClient
    );
    // Not inside a fragmented message (§5.4).
    pair.server
        .conn
        .send(MessageKind::Text, b"part", false)
        .unwrap();
    assert_eq!(
        pair.server.conn.send_prepared(&message).unwrap_err(),
        UsageError::MessageInProgress
    );
    pair.server.conn.send(MessageKind::Text, b"", true).unwrap();
    // One external payload at a time.
    pair.server.send_prepared(&message).unwrap();
    assert_eq!(
        pair.server.conn.send_prepared(&message).unwrap_err(),
        UsageError::ExternalPending
    );
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![text("part"), text("x")]
    );
    // Not after our Close.
    pair.server.conn.close(hybi::CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        pair.server.conn.send_prepared(&message).unwrap_err(),
        UsageError::NotOpen
    );
    assert!(matches!(
        PreparedMessage::new(MessageKind::Text, b"\xff"),
        Err(UsageError::InvalidUtf8)
    ));
}

#[test]
fn transport_that_would_block_gets_the_rest_copied_in() {
    let mut conn =
        Connection::from_upgraded_server(Config::default(), Negotiated::new(), NOW).unwrap();
    let message = PreparedMessage::binary(&[1, 2, 3, 4, 5]);
    let frame = conn.send_prepared(&message).unwrap().to_vec();
    assert_eq!(conn.poll_transmit(), Some(Transmit::External(7)));
    conn.transmitted(3);
    conn.buffer_external(&frame[3..]).unwrap();
    assert_eq!(conn.poll_transmit(), Some(Transmit::Bytes(&frame[3..])));
}

#[test]
fn compressed_once_goes_to_peers_that_agreed_no_server_context() {
    let line = chat_line(1);
    let message = PreparedMessage::text(&line).with_deflate(&DeflateConfig::default());
    // The client asks the server to reset its compressor per message
    // (`server_no_context_takeover`): the compressed frame is valid there.
    let mut pair = Pair::connected(client_deflate(true), deflate(false));
    let params = pair.server.conn.deflate().unwrap();
    assert!(params.local_no_context_takeover);
    let frame = pair.server.send_prepared(&message).unwrap();
    assert_eq!(frame[0], 0xc1, "FIN, RSV1 (compressed), text");
    assert!(
        frame.len() < line.len() / 2,
        "{} of {}",
        frame.len(),
        line.len()
    );
    // Interleaved with the connection's own compressed messages: all
    // inflate to what was sent.
    pair.drive();
    pair.server.conn.send_text(&chat_line(2)).unwrap();
    pair.server.send_prepared(&message).unwrap();
    pair.drive();
    pair.server.conn.send_text(&chat_line(3)).unwrap();
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![
            text(&line),
            text(&chat_line(2)),
            text(&line),
            text(&chat_line(3))
        ]
    );
}

#[test]
fn with_context_takeover_the_plain_frame_goes_and_nothing_breaks() {
    let line = chat_line(4);
    let message = PreparedMessage::text(&line).with_deflate(&DeflateConfig::default());
    let mut pair = Pair::connected(client_deflate(false), deflate(false));
    assert!(
        !pair
            .server
            .conn
            .deflate()
            .unwrap()
            .local_no_context_takeover
    );
    // The connection's compressor keeps its history across messages, so a
    // frame compressed elsewhere would not match the peer's window: the
    // plain frame (RSV1 clear) goes, which the peer does not inflate.
    pair.server.conn.send_text(&chat_line(5)).unwrap();
    let frame = pair.server.send_prepared(&message).unwrap();
    assert_eq!(frame[0], 0x81);
    pair.server.conn.send_text(&chat_line(5)).unwrap();
    pair.drive();
    assert_eq!(
        merge(pair.client.take_events()),
        vec![text(&chat_line(5)), text(&line), text(&chat_line(5))]
    );
}

#[test]
fn a_window_smaller_than_the_prepared_one_gets_the_plain_frame() {
    let message = PreparedMessage::text(&chat_line(6)).with_deflate(&DeflateConfig::default());
    // The client limits the server's window to 10 bits: a frame compressed
    // with 15 bits might reference further back than its inflater keeps.
    let mut client = client_deflate(true);
    client.deflate.as_mut().unwrap().remote_max_window_bits = 10;
    let mut pair = Pair::connected(client, deflate(false));
    assert_eq!(
        pair.server.conn.deflate().unwrap().local_max_window_bits,
        10
    );
    let frame = pair.server.send_prepared(&message).unwrap();
    assert_eq!(frame[0], 0x81);
    pair.drive();
    assert_eq!(merge(pair.client.take_events()), vec![text(&chat_line(6))]);
}

#[test]
fn sending_a_prepared_message_allocates_nothing() {
    let mut conn =
        Connection::from_upgraded_server(Config::default(), Negotiated::new(), NOW).unwrap();
    let message = PreparedMessage::binary(&[9u8; 4096]);
    // Warm up the queue once.
    for _ in 0..2 {
        let n = conn.send_prepared(&message).unwrap().len();
        assert_eq!(conn.poll_transmit(), Some(Transmit::External(n)));
        conn.transmitted(n);
    }
    meter::start();
    for _ in 0..100 {
        let n = conn.send_prepared(&message).unwrap().len();
        conn.transmitted(n);
    }
    assert_eq!(meter::stats().peak, 0, "send_prepared allocated");
}

/// Through the adapters, over loopback TCP: one prepared message to three
/// clients of the tokio adapter, and one from the blocking adapter, both
/// large enough to take several writes.
#[tokio::test]
async fn adapters_send_prepared_messages_over_tcp() {
    use hybi::io::tokio::WebSocketStream;
    use hybi::io::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let message = PreparedMessage::binary(&payload);
    let server = tokio::spawn(async move {
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let (tcp, _) = listener.accept().await.unwrap();
            sockets.push(
                WebSocketStream::accept(tcp, Config::default())
                    .await
                    .unwrap(),
            );
        }
        for ws in &mut sockets {
            ws.send_prepared(&message).await.unwrap();
            ws.close(hybi::CloseCode::NORMAL, "").await.unwrap();
        }
        for mut ws in sockets {
            while ws.next().await.is_some() {}
        }
    });
    let mut clients = Vec::new();
    for _ in 0..3 {
        let url = format!("ws://127.0.0.1:{port}/");
        clients.push(hybi::io::connect_async(&url).await.unwrap());
    }
    for mut ws in clients {
        let got = ws.next().await.unwrap().unwrap();
        assert_eq!(got, Message::Binary(payload.clone()));
        // The server's Close, answered; then the end.
        assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
        assert!(ws.next().await.is_none());
    }
    server.await.unwrap();

    // The blocking adapter, server side, in a thread.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = chat_line(9).repeat(1000);
    let sent = text.clone();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = hybi::io::blocking::WebSocket::accept(tcp, Config::default()).unwrap();
        ws.send_prepared(&PreparedMessage::text(&sent)).unwrap();
        ws.close(hybi::CloseCode::NORMAL, "").unwrap();
        while ws.read().unwrap().is_some() {}
    });
    let mut ws = tokio::task::spawn_blocking(move || {
        hybi::io::connect(&format!("ws://127.0.0.1:{port}/")).unwrap()
    })
    .await
    .unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let got = ws.read().unwrap();
        while ws.read().unwrap().is_some() {}
        got
    })
    .await
    .unwrap();
    assert_eq!(got, Some(Message::Text(text)));
    server.join().unwrap();
}

/// A transport that counts the writes that took bytes.
struct CountingWrites<S> {
    inner: S,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for CountingWrites<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for CountingWrites<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `feed_prepared` queues a burst and one flush writes it: the small frames
/// of a burst take one write, not one each; a large frame in the middle is
/// written from the message without breaking the order; the peer reads
/// every message in order. Through the whole stream and through the write
/// half of a split one.
#[tokio::test]
async fn a_fed_burst_goes_out_in_one_write() {
    use hybi::io::tokio::WebSocketStream;
    use hybi::io::Message;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    for split in [false, true] {
        let (client_io, server_io) = tokio::io::duplex(4 << 20);
        let writes = Arc::new(AtomicUsize::new(0));
        let server_io = CountingWrites {
            inner: server_io,
            writes: writes.clone(),
        };
        let client = tokio::spawn(async move {
            let request = hybi::ClientRequest::new("ws://example.com/chat").unwrap();
            let mut ws = WebSocketStream::connect(request, client_io, Config::default())
                .await
                .unwrap();
            let mut got = Vec::new();
            while let Some(message) = ws.next().await {
                got.push(message.unwrap());
            }
            got
        });
        let mut server = WebSocketStream::accept(server_io, Config::default())
            .await
            .unwrap();
        let small: Vec<PreparedMessage> = (0..200)
            .map(|i| PreparedMessage::text(&chat_line(i)))
            .collect();
        let large: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let large = PreparedMessage::binary(&large);
        let before = writes.load(Ordering::SeqCst);
        // The same calls on the whole stream and on the write half.
        macro_rules! feed_and_flush {
            ($ws:expr) => {
                for message in &small[..100] {
                    $ws.feed_prepared(message).await.unwrap();
                }
                assert_eq!(writes.load(Ordering::SeqCst), before, "fed, not written");
                $ws.flush().await.unwrap();
                assert_eq!(writes.load(Ordering::SeqCst), before + 1);
                $ws.feed_prepared(&large).await.unwrap();
                for message in &small[100..] {
                    $ws.feed_prepared(message).await.unwrap();
                }
                $ws.flush().await.unwrap();
            };
        }
        if split {
            let (read, mut write) = server.split();
            feed_and_flush!(write);
            server = read.reunite(write).unwrap();
        } else {
            feed_and_flush!(server);
        }
        // The large frame is written as `send_prepared` writes it; the 100
        // small frames after it take one more write.
        let taken = writes.load(Ordering::SeqCst) - before;
        assert!(taken <= 3, "{taken} writes for 201 messages");
        server.close(hybi::CloseCode::NORMAL, "").await.unwrap();
        while server.next().await.is_some() {}
        let got = client.await.unwrap();
        let mut want: Vec<Message> = (0..100).map(|i| Message::Text(chat_line(i))).collect();
        want.push(Message::Binary(
            (0..20_000u32).map(|i| (i % 251) as u8).collect(),
        ));
        want.extend((100..200).map(|i| Message::Text(chat_line(i))));
        assert_eq!(got.len(), want.len() + 1, "the messages, then the Close");
        assert_eq!(&got[..want.len()], &want[..]);
        assert!(matches!(got.last(), Some(Message::Close(_))));
    }
}

/// A blocking transport that counts the writes that took bytes.
struct CountingTcp {
    tcp: std::net::TcpStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl std::io::Read for CountingTcp {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl std::io::Write for CountingTcp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.tcp.write(buf)?;
        if n > 0 {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

impl hybi::io::blocking::Transport for CountingTcp {}

/// The blocking adapter's `feed_prepared`: a fed burst is written by one
/// flush; a long burst is written every 64 KiB, so what is queued stays
/// bounded; the peer reads every message in order.
#[test]
fn the_blocking_adapter_feeds_a_burst_and_bounds_it() {
    use hybi::io::blocking::WebSocket;
    use hybi::io::Message;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = std::thread::spawn(move || {
        let mut ws = hybi::io::connect(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let mut got = Vec::new();
        while let Some(message) = ws.read().unwrap() {
            got.push(message);
        }
        got
    });
    let (tcp, _) = listener.accept().unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let transport = CountingTcp {
        tcp,
        writes: writes.clone(),
    };
    let mut ws = WebSocket::accept(transport, Config::default()).unwrap();
    let lines: Vec<String> = (0..2000).map(chat_line).collect();
    let before = writes.load(Ordering::SeqCst);
    for line in &lines[..100] {
        ws.feed_prepared(&PreparedMessage::text(line)).unwrap();
    }
    assert_eq!(writes.load(Ordering::SeqCst), before, "fed, not written");
    ws.flush().unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), before + 1);
    // About 520 KiB more: written as it goes, 64 KiB at a time.
    for line in &lines[100..] {
        ws.feed_prepared(&PreparedMessage::text(line)).unwrap();
        assert!(ws.connection().buffered_output() < 64 * 1024 + 1024);
    }
    ws.flush().unwrap();
    let taken = writes.load(Ordering::SeqCst) - before - 1;
    // About nine 64 KiB writes; a short write (the socket's buffer full
    // for a moment) adds one, and one write per message would be 1,900.
    assert!(
        (8..=100).contains(&taken),
        "{taken} writes for 1,900 messages"
    );
    ws.close(hybi::CloseCode::NORMAL, "").unwrap();
    // This transport cannot half-close (the adapter shuts a `TcpStream`'s
    // write side itself): once the client's Close is in, dropping the
    // connection is the server's end of the closing handshake.
    while let Some(message) = ws.read().unwrap() {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
    drop(ws);
    let got = client.join().unwrap();
    let want: Vec<Message> = lines.iter().cloned().map(Message::Text).collect();
    assert_eq!(&got[..want.len()], &want[..]);
    assert!(matches!(got.last(), Some(Message::Close(_))));
}
