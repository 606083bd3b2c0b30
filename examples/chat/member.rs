//! One member of the room: the task that reads what its page says, the
//! writer task that sends what the room queued for it, and the queue
//! between the room and the writer, budgeted in bytes.

use super::*;

/// Why a member's writer was told to stop: the Close to send.
#[derive(Debug, Clone)]
pub(super) struct Kick {
    pub(super) code: CloseCode,
    pub(super) reason: String,
}

/// What the room and the member's writer share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Bytes queued and not yet taken by the socket.
    pub(super) backlog: AtomicUsize,
    /// Set once, when the member is to be closed.
    pub(super) kick: Mutex<Option<Kick>>,
    pub(super) kicked: Notify,
}

/// The sending end of a member's queue.
#[derive(Debug, Clone)]
pub(super) struct Outbox {
    pub(super) queue: mpsc::UnboundedSender<PreparedMessage>,
    pub(super) shared: Arc<Shared>,
}

impl Outbox {
    /// Queues `message` unless that puts the backlog past `limit`; `Err`
    /// holds the backlog it would have reached.
    pub(super) fn push(&self, message: &PreparedMessage, limit: usize) -> Result<(), usize> {
        let len = message.len();
        let backlog = self.shared.backlog.fetch_add(len, Ordering::Relaxed) + len;
        if backlog > limit {
            self.shared.backlog.fetch_sub(len, Ordering::Relaxed);
            return Err(backlog);
        }
        // The writer is gone only once the connection is over; the member's
        // task then takes it out of the room, so the message has nobody to go
        // to.
        if self.queue.send(message.clone()).is_err() {
            self.shared.backlog.fetch_sub(len, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Tells the writer to close the connection (the first kick wins).
    pub(super) fn kick(&self, code: CloseCode, reason: impl Into<String>) {
        self.shared.kick(code, reason.into());
    }
}

impl Shared {
    pub(super) fn kick(&self, code: CloseCode, reason: String) {
        let mut kick = lock(&self.kick);
        if kick.is_none() {
            *kick = Some(Kick { code, reason });
            self.kicked.notify_one();
        }
    }
}

/// How a writer ended.
#[derive(Debug)]
pub(super) enum WriterEnd {
    /// Its queue closed: the member left.
    Done,
    /// It was kicked, and its Close was written (`true`) or the socket took
    /// none within the grace period (`false`).
    Kicked(Kick, bool),
}

/// Aborts its task when dropped, so a connection's task takes its writer
/// with it (also when `serve` is dropped).
pub(super) struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One member's connection: spawns its writer, reads until the end, and
/// leaves the room.
pub(super) async fn member(
    ws: WebSocketStream<TcpStream>,
    peer: SocketAddr,
    id: u64,
    room: Arc<Room>,
) {
    let (mut read, write) = ws.split();
    let (queue, queued) = mpsc::unbounded_channel();
    let outbox = Outbox {
        queue,
        shared: Arc::default(),
    };
    let mut writer = Task(tokio::spawn(write_loop(
        write,
        queued,
        Arc::clone(&outbox.shared),
        id,
        Arc::clone(&room),
    )));
    let mut session = Session {
        id,
        peer,
        name: None,
        outbox,
        allowance: room.options.burst,
        checked: Instant::now(),
    };
    let mut reading = Box::pin(read_loop(&mut read, &mut session, &room));
    let grace = room.options.close_grace;
    let writer_end = tokio::select! {
        () = &mut reading => None,
        ended = &mut writer.0 => {
            // Kicked, or the socket failed: let the reader complete the
            // closing handshake (the page's Close reply), for a while.
            let _ = timeout(grace, &mut reading).await;
            Some(ended)
        }
    };
    drop(reading);
    room.leave(id).await;
    // With the member out of the room and its own sender dropped, the
    // writer's queue closes: it ends once what is queued is written.
    let Session { outbox, name, .. } = session;
    drop(outbox);
    let writer_end = match writer_end {
        Some(ended) => Some(ended),
        None => timeout(grace, &mut writer.0).await.ok(),
    };
    match writer_end {
        Some(Ok(Ok(WriterEnd::Done))) => {}
        Some(Ok(Ok(WriterEnd::Kicked(kick, written)))) => {
            if !room.options.quiet || kick.code != CloseCode::GOING_AWAY {
                let who = name.as_deref().unwrap_or("a visitor");
                let how = if written {
                    "closed"
                } else {
                    "dropped, its Close unsent"
                };
                println!("{who} ({peer}) {how}: {} {}", kick.code.0, kick.reason);
            }
        }
        // The page went away while a broadcast was on its way to it: the
        // reader saw the end, this is the same end seen from the writer.
        Some(Ok(Err(Error::Usage(_)))) if read.closed().is_some() => {}
        Some(Ok(Err(error))) => eprintln!("{peer}: send: {error}"),
        Some(Err(error)) => eprintln!("{peer}: writer task: {error}"),
        None => eprintln!("{peer}: the writer did not finish within {grace:?}; dropped"),
    }
}

/// A member's state as its reading task sees it.
pub(super) struct Session {
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    /// Set once the room accepted a name.
    pub(super) name: Option<String>,
    pub(super) outbox: Outbox,
    /// Messages this member may still send now (a token bucket).
    pub(super) allowance: f64,
    /// When the allowance was last topped up.
    pub(super) checked: Instant,
}

/// Reads the member's messages until the connection is over.
pub(super) async fn read_loop(
    read: &mut WsReadHalf<TcpStream>,
    session: &mut Session,
    room: &Arc<Room>,
) {
    while let Some(message) = read.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if let Err(error) = session.handle(&text, room).await {
                    let reply = room.prepare(&ServerMessage::Error { text: error.into() });
                    // An answer to this member's own message: not counted
                    // against the budget, which is for what others say.
                    let _ = session.outbox.push(&reply, usize::MAX);
                }
            }
            // Not part of the protocol: end the conversation politely.
            Ok(Message::Binary(_)) => session
                .outbox
                .kick(CloseCode::UNSUPPORTED_DATA, "text messages only"),
            // Pings are answered and a Close replied to by the engine.
            Ok(_) => {}
            // A protocol error (its Close already sent) or a transport
            // error; the stream ends after it.
            Err(error) => eprintln!("{}: {error}", session.peer),
        }
    }
}

impl Session {
    /// Acts on one message from the page; `Err` is an error to show it.
    pub(super) async fn handle(
        &mut self,
        text: &str,
        room: &Arc<Room>,
    ) -> Result<(), &'static str> {
        let message: ClientMessage =
            serde_json::from_str(text).map_err(|_| "Malformed or unknown message.")?;
        match message {
            ClientMessage::Join { name } => {
                if self.name.is_some() {
                    return Err("You have already joined.");
                }
                let name = check_name(&name)?;
                room.join(self.id, &name, &self.outbox).await?;
                self.name = Some(name);
            }
            ClientMessage::Message { text } => {
                let Some(name) = &self.name else {
                    return Err("Join the room first.");
                };
                let text = text.trim();
                if text.chars().count() > MAX_TEXT {
                    return Err("Messages are at most 500 characters.");
                }
                let now = Instant::now();
                let refill = now.duration_since(self.checked).as_secs_f64() * room.options.rate;
                self.allowance = (self.allowance + refill).min(room.options.burst);
                self.checked = now;
                if self.allowance < 1.0 {
                    return Err("You are sending too fast; wait a moment.");
                }
                self.allowance -= 1.0;
                if !text.is_empty() {
                    // Control characters (a pasted newline) become spaces.
                    let text = text
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    let name = name.clone();
                    room.say(self.id, ServerMessage::Message { name, text })
                        .await;
                }
            }
        }
        Ok(())
    }
}

/// A name as the room will show it, or why it cannot be one.
pub(super) fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Please choose a name.");
    }
    if name.chars().count() > MAX_NAME {
        return Err("Names are at most 24 characters.");
    }
    if name.chars().any(char::is_control) {
        return Err("Names cannot contain control characters.");
    }
    Ok(name.to_string())
}

/// One write of the writer's, bounded: returns from `write_loop` with the
/// member's end if the member is kicked first, or if its socket takes
/// nothing for the stall time (then it is dropped and told why).
macro_rules! write_or_end {
    ($write:ident, $shared:ident, $id:ident, $room:ident, $op:expr) => {{
        let written = tokio::select! {
            biased;
            () = $shared.kicked.notified() => return close(&mut $write, &$shared, &$room).await,
            written = timeout($room.options.stall_timeout, $op) => written,
        };
        if let Some(end) = stalled(written, &mut $write, &$shared, $id, &$room).await? {
            return Ok(end);
        }
    }};
}

/// Sends what the room queued for one member, as fast as its socket takes
/// it, until the queue closes or the member is kicked. A burst is fed to
/// the engine and flushed every [`FLUSH_AT`] bytes and at its end, so a
/// member behind by many broadcasts catches up in a few writes instead of
/// one per message.
pub(super) async fn write_loop(
    mut write: WsWriteHalf<TcpStream>,
    mut queued: mpsc::UnboundedReceiver<PreparedMessage>,
    shared: Arc<Shared>,
    id: u64,
    room: Arc<Room>,
) -> Result<WriterEnd, Error> {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = tokio::select! {
            biased;
            () = shared.kicked.notified() => return close(&mut write, &shared, &room).await,
            n = queued.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return Ok(WriterEnd::Done);
        }
        for message in batch.drain(..) {
            // Waits only while the engine holds more than its high-water
            // mark, writing meanwhile.
            write_or_end!(write, shared, id, room, write.feed_prepared(&message));
            shared.backlog.fetch_sub(message.len(), Ordering::Relaxed);
            if write.buffered_output() >= FLUSH_AT {
                write_or_end!(write, shared, id, room, write.flush());
            }
        }
        write_or_end!(write, shared, id, room, write.flush());
    }
}

/// What a write that may have stalled means for the member: nothing (it
/// went), the member's end (its socket took nothing for the stall time: it
/// is dropped and told why), or the transport's error.
async fn stalled(
    written: Result<Result<(), Error>, tokio::time::error::Elapsed>,
    write: &mut WsWriteHalf<TcpStream>,
    shared: &Shared,
    id: u64,
    room: &Arc<Room>,
) -> Result<Option<WriterEnd>, Error> {
    match written {
        Ok(Ok(())) => Ok(None),
        Ok(Err(error)) => Err(error),
        // A cancelled send loses nothing: what the socket did not take is
        // in the engine, ahead of the Close.
        Err(_) => {
            let reason = format!("not reading for {}s", room.options.stall_timeout.as_secs());
            shared.kick(CloseCode::POLICY, reason.clone());
            room.drop_member(id, reason).await;
            close(write, shared, room).await.map(Some)
        }
    }
}

/// Writes the kick's Close, waiting at most the grace period for the
/// socket to take it.
pub(super) async fn close(
    write: &mut WsWriteHalf<TcpStream>,
    shared: &Shared,
    room: &Room,
) -> Result<WriterEnd, Error> {
    // Set before every call.
    let kick = lock(&shared.kick).clone().unwrap_or(Kick {
        code: CloseCode::POLICY,
        reason: String::new(),
    });
    match timeout(
        room.options.close_grace,
        write.close(kick.code, &kick.reason),
    )
    .await
    {
        Ok(Ok(())) => Ok(WriterEnd::Kicked(kick, true)),
        // Already closing (the page closed first): nothing more to say.
        Ok(Err(Error::Usage(_))) => Ok(WriterEnd::Kicked(kick, false)),
        Ok(Err(error)) => Err(error),
        Err(_) => Ok(WriterEnd::Kicked(kick, false)),
    }
}
