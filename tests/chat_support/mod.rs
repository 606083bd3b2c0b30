//! Members of the chat room for the chat tests (tests/chat_load.rs,
//! tests/chat_redis.rs): hybi's own tokio client, one reading task per
//! member that records what the room said, and a pause switch to make a
//! member stop reading. Every wait has a deadline; a reader ends with its
//! connection.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hybi::io::tokio::{WebSocketStream, WsReadHalf, WsWriteHalf};
use hybi::io::{CloseFrame, Message};
use hybi::{ClientRequest, Config};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::chat::{ClientMessage, Presence, ServerMessage};

/// What one member was told, in order.
#[derive(Debug, Default)]
pub struct Record {
    /// The welcome: count and member list.
    pub welcome: Option<(usize, Vec<String>)>,
    /// Who is in the room as this member knows it: the welcome's list, then
    /// every join and leave.
    pub view: BTreeSet<String>,
    /// The count of the last welcome or presence event.
    pub count: usize,
    /// Every presence event after the welcome.
    pub presence: Vec<(Presence, String, usize)>,
    /// Every message, as "name: first word of the text" (the tests put a
    /// unique key first and padding after a space).
    pub messages: Vec<String>,
    /// Errors the room sent this member.
    pub errors: Vec<String>,
    /// Anything that is not the protocol, or a presence event that does
    /// not fit the view (a join of someone already in, a leave of someone
    /// not in).
    pub wrong: Vec<String>,
    /// The server's Close, if one arrived.
    pub close: Option<CloseFrame>,
    /// A read error, if the connection ended with one.
    pub error: Option<String>,
    /// The connection is over.
    pub ended: bool,
}

impl Record {
    /// Asserts `name` got only the protocol and no error from the room.
    pub fn assert_clean(&self, name: &str) {
        assert!(self.wrong.is_empty(), "{name}: {:?}", self.wrong);
        assert!(self.errors.is_empty(), "{name}: {:?}", self.errors);
    }

    fn apply(&mut self, text: &str) {
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => message,
            Err(error) => return self.wrong.push(format!("{error}: {text}")),
        };
        match message {
            ServerMessage::Welcome {
                count,
                members,
                name: _,
            } => {
                self.view = members.iter().cloned().collect();
                if self.view.len() != members.len() || count != members.len() {
                    self.wrong
                        .push(format!("welcome: count {count}, list {members:?}"));
                }
                self.count = count;
                self.welcome = Some((count, members));
            }
            ServerMessage::Presence { event, name, count } => {
                let fits = match event {
                    Presence::Join => self.view.insert(name.clone()),
                    Presence::Leave => self.view.remove(&name),
                };
                if !fits || self.welcome.is_none() {
                    self.wrong
                        .push(format!("{event:?} of {name} (count {count})"));
                }
                self.count = count;
                self.presence.push((event, name, count));
            }
            ServerMessage::Message { name, text } => {
                let key = text.split(' ').next().unwrap_or_default();
                self.messages.push(format!("{name}: {key}"));
            }
            ServerMessage::Error { text } => self.errors.push(text),
        }
    }
}

/// One member of the room, seen from the test.
pub struct Member {
    pub name: String,
    pub write: WsWriteHalf<TcpStream>,
    record: Arc<Mutex<Record>>,
    paused: watch::Sender<bool>,
}

impl Member {
    /// Connects to the chat at `port` (with a receive buffer of
    /// `recv_buffer` bytes if given) and asks to join as `name`; the reader
    /// records from then on.
    pub async fn join(port: u16, name: &str, recv_buffer: Option<u32>) -> Member {
        let socket = TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        let tcp = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws")).expect("request");
        let ws = WebSocketStream::connect(request, tcp, Config::default())
            .await
            .expect("handshake");
        let (read, write) = ws.split();
        let record = Arc::new(Mutex::new(Record::default()));
        let (paused, pause) = watch::channel(false);
        // The reader ends with the connection.
        tokio::spawn(read_loop(read, Arc::clone(&record), pause));
        let mut member = Member {
            name: name.to_string(),
            write,
            record,
            paused,
        };
        member
            .send(&ClientMessage::Join { name: name.into() })
            .await;
        member
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        let text = serde_json::to_string(message).expect("serialize");
        self.write
            .send(Message::Text(text))
            .await
            .unwrap_or_else(|error| panic!("{}: send: {error}", self.name));
    }

    pub async fn say(&mut self, text: String) {
        self.send(&ClientMessage::Message { text }).await;
    }

    pub fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().expect("record")
    }

    /// Stops (`true`) or resumes reading.
    pub fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }
}

async fn read_loop(
    mut read: WsReadHalf<TcpStream>,
    record: Arc<Mutex<Record>>,
    mut pause: watch::Receiver<bool>,
) {
    loop {
        if pause.wait_for(|paused| !paused).await.is_err() {
            break;
        }
        let Some(message) = read.next().await else {
            break;
        };
        let mut record = record.lock().expect("record");
        match message {
            Ok(Message::Text(text)) => record.apply(&text),
            Ok(Message::Close(frame)) => record.close = frame,
            Ok(_) => {}
            Err(error) => record.error = Some(error.to_string()),
        }
    }
    record.lock().expect("record").ended = true;
}

/// Waits until `check` says done (`Ok`), failing with its last word (the
/// progress) after `deadline`: a broken room fails instead of hanging.
pub async fn wait_until(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) {
    let end = Instant::now() + deadline;
    loop {
        match check() {
            Ok(()) => return,
            Err(progress) if Instant::now() > end => {
                panic!("{what}: not done within {deadline:?}: {progress}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
