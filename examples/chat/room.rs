//! The room on this process: who is in it, the fan-out of every message
//! (framed and compressed once) to every member's queue, and what a room
//! alone does on a join, a message and a leave.

use super::*;

/// Who is in the room on this process, and how to reach the others.
pub(super) struct Room {
    pub(super) options: Options,
    /// Every connection's engine settings.
    pub(super) config: Config,
    /// Compress each broadcast once with this, if deflate is on.
    pub(super) deflate: Option<DeflateConfig>,
    pub(super) state: Mutex<State>,
    /// `None` when the room is this process alone.
    pub(super) redis: Option<Link>,
}

#[derive(Default)]
pub(super) struct State {
    /// This process's members, by connection id (so in order of arrival).
    pub(super) members: BTreeMap<u64, Joined>,
    /// Alone: every name taken, lowercased.
    pub(super) names: HashSet<String>,
    /// With Redis: joins between the script and the welcome.
    pub(super) pending: HashMap<u64, Pending>,
}

pub(super) struct Joined {
    pub(super) name: String,
    pub(super) outbox: Outbox,
}

/// A join Redis accepted whose welcome is not sent yet: it needs both the
/// script's answer (the member list) and its join event back from the
/// channel (the place in the room's order). Events after that one are held.
pub(super) struct Pending {
    pub(super) name: String,
    pub(super) outbox: Outbox,
    pub(super) members: Option<Vec<String>>,
    pub(super) seen: bool,
    pub(super) held: Vec<PreparedMessage>,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the room half-changed in
    // a way that matters more than stopping the whole room would.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Room {
    /// The room, and its background tasks (with Redis: the subscription,
    /// the heartbeat and the reaper), each of which returns only on failure.
    pub(super) async fn open(
        options: Options,
    ) -> std::io::Result<(Arc<Room>, JoinSet<std::io::Error>)> {
        let mut config = Config::default();
        config.plain_http_requests = true;
        config.max_frame_size = MAX_FRAME;
        config.max_message_size = MAX_FRAME;
        config.handshake_timeout = Some(Duration::from_secs(10));
        // A page silent for 30 s is pinged (browsers answer by themselves);
        // one that does not answer within 20 s is gone (1011).
        config.keepalive_interval = Some(Duration::from_secs(30));
        config.keepalive_timeout = Duration::from_secs(20);
        config.close_timeout = Some(options.close_grace);
        let deflate = options.deflate.then(|| {
            let mut deflate = DeflateConfig::default();
            // server_no_context_takeover: one compressed frame serves all.
            deflate.local_no_context_takeover = true;
            deflate
        });
        config.deflate = deflate.clone();
        let mut background = JoinSet::new();
        let redis = match &options.redis {
            Some(url) => Some(Link::connect(url, &options).await?),
            None => None,
        };
        let room = Arc::new(Room {
            options,
            config,
            deflate,
            state: Mutex::default(),
            redis,
        });
        if let Some(link) = &room.redis {
            link.start(&room, &mut background).await?;
        }
        Ok((room, background))
    }

    /// `message` serialized and framed once, for every member.
    pub(super) fn prepare(&self, message: &ServerMessage) -> PreparedMessage {
        // Strings and numbers only: serializing cannot fail.
        let json = serde_json::to_string(message).expect("chat messages serialize");
        let prepared = PreparedMessage::text(&json);
        match &self.deflate {
            Some(deflate) => prepared.with_deflate(deflate),
            None => prepared,
        }
    }

    pub(super) fn log(&self, line: std::fmt::Arguments<'_>) {
        if !self.options.quiet {
            println!("{line}");
        }
    }

    /// Adds a member under `name` (free, ignoring case) and welcomes it.
    pub(super) async fn join(
        self: &Arc<Self>,
        id: u64,
        name: &str,
        outbox: &Outbox,
    ) -> Result<(), &'static str> {
        if let Some(link) = &self.redis {
            return link.join(self, id, name, outbox).await;
        }
        let mut state = lock(&self.state);
        if !state.names.insert(name.to_lowercase()) {
            return Err("That name is taken.");
        }
        let joined = Joined {
            name: name.to_string(),
            outbox: outbox.clone(),
        };
        state.members.insert(id, joined);
        let members = state.members.values().map(|m| m.name.clone()).collect();
        let count = state.members.len();
        let welcome = self.prepare(&ServerMessage::Welcome {
            name: name.to_string(),
            count,
            members,
        });
        let _ = outbox.push(&welcome, usize::MAX);
        self.log(format_args!("{name} joined"));
        let event = ServerMessage::Presence {
            event: Presence::Join,
            name: name.to_string(),
            count,
        };
        self.broadcast_alone(&mut state, event, Some(id));
        Ok(())
    }

    /// Sends a member's message to everyone, the member included.
    pub(super) async fn say(self: &Arc<Self>, id: u64, message: ServerMessage) {
        if let Some(link) = &self.redis {
            // A member dropped for being slow may still be talking.
            if lock(&self.state).members.contains_key(&id) {
                link.say(id, &message).await;
            }
            return;
        }
        let mut state = lock(&self.state);
        if state.members.contains_key(&id) {
            self.broadcast_alone(&mut state, message, None);
        }
    }

    /// Takes a member out of the room and tells everyone; nothing if it is
    /// not (or no longer) in.
    pub(super) async fn leave(self: &Arc<Self>, id: u64) {
        let (pending, gone) = {
            let mut state = lock(&self.state);
            (state.pending.remove(&id), state.members.remove(&id))
        };
        if let Some(gone) = gone {
            self.log(format_args!("{} left", gone.name));
            self.announce_leave(id, &gone.name).await;
        } else if let (Some(pending), Some(link)) = (pending, &self.redis) {
            // A join cut short (the connection ended during the script):
            // its claim, if the script ran, is removed after it, in order
            // on the same Redis connection.
            link.leave(id, &pending.name).await;
        }
    }

    /// Drops a member for `reason` (1008) and announces it.
    pub(super) async fn drop_member(self: &Arc<Self>, id: u64, reason: String) {
        let gone = lock(&self.state).members.remove(&id);
        if let Some(gone) = gone {
            self.log(format_args!("{} dropped: {reason}", gone.name));
            gone.outbox.kick(CloseCode::POLICY, reason);
            self.announce_leave(id, &gone.name).await;
        }
    }

    pub(super) async fn announce_leave(self: &Arc<Self>, id: u64, name: &str) {
        match &self.redis {
            Some(link) => link.leave(id, name).await,
            None => {
                let mut state = lock(&self.state);
                state.names.remove(&name.to_lowercase());
                let event = ServerMessage::Presence {
                    event: Presence::Leave,
                    name: name.to_string(),
                    count: state.members.len(),
                };
                self.broadcast_alone(&mut state, event, None);
            }
        }
    }

    /// Alone: sends `message` to every member but `skip`, then announces
    /// whoever that dropped (which may drop more).
    pub(super) fn broadcast_alone(
        &self,
        state: &mut State,
        message: ServerMessage,
        skip: Option<u64>,
    ) {
        let mut queue = VecDeque::from([(message, skip)]);
        while let Some((message, skip)) = queue.pop_front() {
            let prepared = self.prepare(&message);
            let gone = self.deliver(state, &prepared, skip);
            // One leave each, with the count as each one went.
            let mut count = state.members.len() + gone.len();
            for (_, gone) in gone {
                state.names.remove(&gone.name.to_lowercase());
                count -= 1;
                let event = ServerMessage::Presence {
                    event: Presence::Leave,
                    name: gone.name,
                    count,
                };
                queue.push_back((event, None));
            }
        }
    }

    /// Queues `message` for every member but `skip`; a member whose backlog
    /// would pass the limit is taken out, kicked, and returned.
    pub(super) fn deliver(
        &self,
        state: &mut State,
        message: &PreparedMessage,
        skip: Option<u64>,
    ) -> Vec<(u64, Joined)> {
        let limit = self.options.max_backlog;
        let mut over = Vec::new();
        for (&id, member) in &state.members {
            if Some(id) == skip {
                continue;
            }
            if let Err(backlog) = member.outbox.push(message, limit) {
                over.push((id, backlog));
            }
        }
        for (&id, pending) in &mut state.pending {
            if pending.seen && Some(id) != skip {
                pending.held.push(message.clone());
            }
        }
        over.into_iter()
            .filter_map(|(id, backlog)| {
                let gone = state.members.remove(&id)?;
                let reason = format!("too far behind ({backlog} bytes queued)");
                self.log(format_args!("{} dropped: {reason}", gone.name));
                gone.outbox.kick(CloseCode::POLICY, reason);
                Some((id, gone))
            })
            .collect()
    }

    /// Closes every member of this process with `code`.
    pub(super) fn kick_all(&self, code: CloseCode, reason: &str) {
        let state = lock(&self.state);
        for member in state.members.values() {
            member.outbox.kick(code, reason);
        }
    }

    /// A clean stop: every member closed (1001) and, with Redis, their
    /// leaves announced and this process's key deleted.
    pub(super) async fn shutdown(self: &Arc<Self>) {
        let members: Vec<(u64, String)> = {
            let state = lock(&self.state);
            state
                .members
                .iter()
                .map(|(&id, m)| (id, m.name.clone()))
                .collect()
        };
        self.kick_all(CloseCode::GOING_AWAY, "the server is shutting down");
        if let Some(link) = &self.redis {
            for (id, name) in members {
                link.leave(id, &name).await;
            }
            link.forget().await;
        }
    }
}
