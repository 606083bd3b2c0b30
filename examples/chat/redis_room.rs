//! The room shared between processes through Redis (`--redis`): the
//! scripts that join and leave atomically, the channel every event comes
//! back on, the heartbeat and the reaper. The design is in the module docs
//! of `examples/chat.rs`.

use super::*;

/// Claims a name, counts, publishes the join and returns the members.
/// KEYS: members hash, channel. ARGV: lowercased name, owner, envelope
/// origin, name.
pub(super) const JOIN: &str = r#"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return false end
local count = redis.call('HLEN', KEYS[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({from = ARGV[3], event = {
  type = 'presence', event = 'join', name = ARGV[4], count = count}}))
return redis.call('HVALS', KEYS[1])
"#;

/// Removes a member if it is ours, counts, publishes the leave.
/// KEYS: members hash, channel. ARGV: lowercased name, origin.
pub(super) const LEAVE: &str = r#"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local member = cjson.decode(value)
if member.from ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local count = redis.call('HLEN', KEYS[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({from = ARGV[2], event = {
  type = 'presence', event = 'leave', name = member.name, count = count}}))
return 1
"#;

/// Removes every member whose process key expired, publishing a leave for
/// each. KEYS: members hash, channel. ARGV: the process keys' prefix.
pub(super) const REAP: &str = r#"
local all = redis.call('HGETALL', KEYS[1])
local reaped = 0
for i = 1, #all, 2 do
  local member = cjson.decode(all[i + 1])
  local node = string.match(member.from, '^(.*)/')
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    redis.call('HDEL', KEYS[1], all[i])
    local count = redis.call('HLEN', KEYS[1])
    redis.call('PUBLISH', KEYS[2], cjson.encode({from = member.from, event = {
      type = 'presence', event = 'leave', name = member.name, count = count}}))
    reaped = reaped + 1
  end
end
return reaped
"#;

/// What travels on the channel: an event and the member it comes from
/// (`process/connection`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) from: String,
    pub(super) event: ServerMessage,
}

/// A member's entry in the hash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) from: String,
    pub(super) name: String,
}

/// This process's connection to the shared room.
pub(super) struct Link {
    pub(super) client: redis::Client,
    pub(super) commands: redis::aio::MultiplexedConnection,
    /// This process's name in the room: random, new on every start.
    pub(super) node: String,
    pub(super) members_key: String,
    pub(super) channel: String,
    pub(super) node_prefix: String,
    pub(super) join: redis::Script,
    pub(super) leave: redis::Script,
    pub(super) reap: redis::Script,
}

pub(super) fn redis_error(error: redis::RedisError) -> std::io::Error {
    std::io::Error::other(error)
}

impl Link {
    pub(super) async fn connect(url: &str, options: &Options) -> std::io::Result<Link> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        // The default 0.5 s answer deadline is short for a busy machine.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_connection_timeout(Some(Duration::from_secs(10)));
        let commands = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_error)?;
        let node = format!("{:016x}", RandomState::new().hash_one(std::process::id()));
        let room = &options.room;
        Ok(Link {
            client,
            commands,
            node,
            members_key: format!("{room}:members"),
            channel: format!("{room}:events"),
            node_prefix: format!("{room}:node:"),
            join: redis::Script::new(JOIN),
            leave: redis::Script::new(LEAVE),
            reap: redis::Script::new(REAP),
        })
    }

    pub(super) fn origin(&self, id: u64) -> String {
        format!("{}/{id}", self.node)
    }

    /// Subscribes (before any member can join) and registers this process,
    /// then starts the subscription, heartbeat and reaper tasks.
    pub(super) async fn start(
        &self,
        room: &Arc<Room>,
        tasks: &mut JoinSet<std::io::Error>,
    ) -> std::io::Result<()> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(redis_error)?;
        pubsub.subscribe(&self.channel).await.map_err(redis_error)?;
        let ttl = room.options.node_ttl;
        let mut commands = self.commands.clone();
        let key = format!("{}{}", self.node_prefix, self.node);
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut commands)
            .await
            .map_err(redis_error)?;

        let weak = Arc::downgrade(room);
        tasks.spawn(async move {
            use futures_util::StreamExt as _;
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Some(room) = weak.upgrade() else { break };
                match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                    Ok(envelope) => room.apply(envelope),
                    Err(error) => eprintln!("redis: an event that is not the chat's: {error}"),
                }
            }
            std::io::Error::other("the Redis subscription ended")
        });

        let weak = Arc::downgrade(room);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(room) = weak.upgrade() else {
                    return std::io::Error::other("the room is gone");
                };
                let Some(link) = &room.redis else {
                    return std::io::Error::other("no Redis link");
                };
                if let Err(error) = link.beat(&key, ttl).await {
                    return redis_error(error);
                }
            }
        });
        Ok(())
    }

    /// Keeps this process's key alive and removes the members of processes
    /// whose key expired.
    pub(super) async fn beat(&self, key: &str, ttl: Duration) -> redis::RedisResult<()> {
        let mut commands = self.commands.clone();
        let px = ttl.as_millis() as u64;
        let kept: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("PX")
            .arg(px)
            .arg("XX")
            .query_async(&mut commands)
            .await?;
        if kept.is_none() {
            // Presumed dead (stalled past the ttl): alive again. Members the
            // others already removed are closed when their leaves arrive.
            eprintln!("redis: this process's key had expired; registering again");
            let () = redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("PX")
                .arg(px)
                .query_async(&mut commands)
                .await?;
        }
        let reaped: u64 = self
            .reap
            .key(&self.members_key)
            .key(&self.channel)
            .arg(&self.node_prefix)
            .invoke_async(&mut commands)
            .await?;
        if reaped > 0 {
            eprintln!("redis: removed {reaped} members of processes that stopped");
        }
        Ok(())
    }

    pub(super) async fn join(
        &self,
        room: &Arc<Room>,
        id: u64,
        name: &str,
        outbox: &Outbox,
    ) -> Result<(), &'static str> {
        lock(&room.state).pending.insert(
            id,
            Pending {
                name: name.to_string(),
                outbox: outbox.clone(),
                members: None,
                seen: false,
                held: Vec::new(),
            },
        );
        let origin = self.origin(id);
        let entry = serde_json::to_string(&Entry {
            from: origin.clone(),
            name: name.to_string(),
        })
        .expect("entries serialize");
        let mut commands = self.commands.clone();
        let answer: redis::RedisResult<Option<Vec<String>>> = self
            .join
            .key(&self.members_key)
            .key(&self.channel)
            .arg(name.to_lowercase())
            .arg(entry)
            .arg(&origin)
            .arg(name)
            .invoke_async(&mut commands)
            .await;
        let mut state = lock(&room.state);
        let members = match answer {
            Ok(Some(entries)) => entries
                .iter()
                .filter_map(|entry| serde_json::from_str::<Entry>(entry).ok())
                .map(|entry| entry.name)
                .collect(),
            Ok(None) => {
                state.pending.remove(&id);
                return Err("That name is taken.");
            }
            Err(error) => {
                state.pending.remove(&id);
                eprintln!("redis: join: {error}");
                return Err("The room is unavailable; try again.");
            }
        };
        let Some(pending) = state.pending.get_mut(&id) else {
            // Only `leave` removes it, and it runs after this returns.
            return Ok(());
        };
        pending.members = Some(members);
        if pending.seen {
            room.welcome(&mut state, id);
        }
        Ok(())
    }

    pub(super) async fn say(&self, id: u64, message: &ServerMessage) {
        let envelope = serde_json::to_string(&Envelope {
            from: self.origin(id),
            event: message.clone(),
        })
        .expect("envelopes serialize");
        let mut commands = self.commands.clone();
        let published: redis::RedisResult<u64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(envelope)
            .query_async(&mut commands)
            .await;
        if let Err(error) = published {
            eprintln!("redis: publish: {error}");
        }
    }

    pub(super) async fn leave(&self, id: u64, name: &str) {
        let mut commands = self.commands.clone();
        let left: redis::RedisResult<u64> = self
            .leave
            .key(&self.members_key)
            .key(&self.channel)
            .arg(name.to_lowercase())
            .arg(self.origin(id))
            .invoke_async(&mut commands)
            .await;
        if let Err(error) = left {
            eprintln!("redis: leave: {error}");
        }
    }

    /// Deletes this process's key (a clean stop).
    pub(super) async fn forget(&self) {
        let mut commands = self.commands.clone();
        let key = format!("{}{}", self.node_prefix, self.node);
        let deleted: redis::RedisResult<u64> =
            redis::cmd("DEL").arg(key).query_async(&mut commands).await;
        if let Err(error) = deleted {
            eprintln!("redis: {error}");
        }
    }
}

impl Room {
    /// With Redis: one event from the channel, in the room's order.
    pub(super) fn apply(self: &Arc<Self>, envelope: Envelope) {
        let Some(link) = &self.redis else { return };
        let ours = envelope
            .from
            .strip_prefix(link.node.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| id.parse::<u64>().ok());
        let mut state = lock(&self.state);
        if let (Some(id), ServerMessage::Presence { event, .. }) = (ours, &envelope.event) {
            match event {
                // Our own join: its welcome goes now if the script answered.
                Presence::Join => {
                    if let Some(pending) = state.pending.get_mut(&id) {
                        if pending.members.is_some() {
                            self.welcome(&mut state, id);
                        } else {
                            pending.seen = true;
                        }
                    }
                }
                // Removed by another process's reaper while still here:
                // close it, so its page can rejoin.
                Presence::Leave => {
                    if let Some(gone) = state.members.remove(&id) {
                        gone.outbox.kick(
                            CloseCode::SERVICE_RESTART,
                            "the room lost track of this server",
                        );
                    }
                }
            }
        }
        let prepared = self.prepare(&envelope.event);
        let skip = ours.filter(|_| {
            matches!(
                envelope.event,
                ServerMessage::Presence {
                    event: Presence::Join,
                    ..
                }
            )
        });
        let over = self.deliver(&mut state, &prepared, skip);
        drop(state);
        for (id, gone) in over {
            let room = Arc::clone(self);
            tokio::spawn(async move { room.announce_leave(id, &gone.name).await });
        }
    }

    /// With Redis: a pending member becomes a member, welcomed with the
    /// list as of its join and then the events held since.
    pub(super) fn welcome(&self, state: &mut State, id: u64) {
        let Some(pending) = state.pending.remove(&id) else {
            return;
        };
        let members = pending.members.unwrap_or_default();
        let welcome = self.prepare(&ServerMessage::Welcome {
            name: pending.name.clone(),
            count: members.len(),
            members,
        });
        let _ = pending.outbox.push(&welcome, usize::MAX);
        for message in &pending.held {
            let _ = pending.outbox.push(message, usize::MAX);
        }
        self.log(format_args!("{} joined", pending.name));
        state.members.insert(
            id,
            Joined {
                name: pending.name,
                outbox: pending.outbox,
            },
        );
    }
}
