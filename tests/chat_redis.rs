//! Two chat rooms (`examples/chat.rs`'s `serve_until`, in-process, each its
//! own listener and Redis link, as two processes would be) sharing one room
//! through one Redis:
//!
//! * a member of each sees the other: the second's welcome lists the first,
//!   the first sees the join with the count 2;
//! * names are unique across both; messages cross both ways, in one order;
//! * 20 members joining both at once: every member ends up seeing all 22,
//!   each presence event fitting what it knew (the welcome's list and the
//!   events after it are the room);
//! * one instance dies (its task dropped: no goodbye, as a killed process):
//!   the other's members see its members leave once its key expires;
//! * a clean stop closes the members with 1001 and leaves nothing in Redis.
//!
//! Redis: `HYBI_REDIS=redis://HOST:PORT` names a server to use, and then a
//! failure to reach it fails the test (CI sets it). Without it the test
//! starts `redis-server` itself on a free loopback port, with no
//! persistence, and shuts it down at the end; if there is no `redis-server`,
//! it skips, saying so.

#[path = "../examples/chat.rs"]
// Reason: the example's `main` is not used here, only `serve_until`,
// `Options` and the protocol types.
#[allow(dead_code)]
mod chat;
// Reason: shared with tests/chat_load.rs, which pauses members; this test
// does not.
#[allow(dead_code)]
mod chat_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat::Presence;
use chat_support::{wait_until, Member};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(60);

/// The Redis the test uses; a server it started is shut down on drop.
struct Redis {
    url: String,
    started: Option<Child>,
}

impl Redis {
    /// `None` (after saying why) when there is no Redis to use.
    fn find() -> Option<Redis> {
        if let Ok(url) = std::env::var("HYBI_REDIS") {
            let redis = Redis { url, started: None };
            let pong = redis::cmd("PING").query::<String>(&mut redis.connection());
            if let Err(error) = pong {
                panic!("HYBI_REDIS={} does not answer PING: {error}", redis.url);
            }
            return Some(redis);
        }
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            println!("skipped: no redis-server (install it, or set HYBI_REDIS=redis://HOST:PORT)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // `timeout` ends it after 10 minutes whatever happens to this test.
        let child = Command::new("timeout")
            .args(["600", "redis-server", "--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            started: Some(child),
        };
        let client = redis::Client::open(redis.url.as_str()).expect("url");
        let started = std::time::Instant::now();
        loop {
            let pong = client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            match pong {
                Ok(_) => break,
                Err(error) if started.elapsed() > Duration::from_secs(10) => {
                    panic!("the redis-server started on {port} does not answer: {error}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Some(redis)
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection())
            .unwrap_or_else(|error| panic!("Redis at {}: {error}", self.url))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let Some(child) = &mut self.started else {
            return;
        };
        // SHUTDOWN answers by closing the connection: no reply to check.
        if let Ok(mut connection) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _: redis::RedisResult<()> =
                redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut connection);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // `timeout` passes a TERM on to redis-server.
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
    }
}

/// One chat instance on the shared room; `stop` ends it cleanly, dropping
/// `task` ends it as a crash would.
struct Instance {
    port: u16,
    task: JoinHandle<std::io::Result<()>>,
    stop: Option<oneshot::Sender<()>>,
}

async fn instance(redis: &Redis, room: &str) -> Instance {
    let args = [
        "127.0.0.1:0",
        "--redis",
        &redis.url,
        "--room",
        room,
        "--quiet",
    ];
    let mut options = chat::Options::from_args(args.map(String::from))
        .expect("valid arguments")
        .expect("not --help");
    assert_eq!(options.redis.as_deref(), Some(redis.url.as_str()));
    // A dead instance's members are removed within seconds.
    options.node_ttl = Duration::from_secs(2);
    let listener = TcpListener::bind(&options.addr).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(chat::serve_until(listener, options, async {
        let _ = stopped.await;
    }));
    Instance {
        port,
        task,
        stop: Some(stop),
    }
}

fn sees(member: &Member, names: &[&str]) -> Result<(), String> {
    let record = member.record();
    let want: std::collections::BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    if record.view == want && record.count == names.len() {
        Ok(())
    } else {
        Err(format!(
            "{} sees {:?} (count {})",
            member.name, record.view, record.count
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_room_through_redis() {
    let Some(redis) = Redis::find() else { return };
    let room = format!("hybi-chat-test-{}", std::process::id());
    let mut a = instance(&redis, &room).await;
    let mut b = instance(&redis, &room).await;

    // A member on each: the welcome on B lists Ada; Ada sees Bob join.
    let mut ada = Member::join(a.port, "Ada", None).await;
    wait_until("Ada is welcomed", DEADLINE, || sees(&ada, &["Ada"])).await;
    let mut bob = Member::join(b.port, "Bob", None).await;
    wait_until("Bob is welcomed", DEADLINE, || sees(&bob, &["Ada", "Bob"])).await;
    assert_eq!(
        bob.record().welcome,
        Some((2, vec!["Ada".to_string(), "Bob".to_string()]))
    );
    wait_until("Ada sees Bob join", DEADLINE, || {
        sees(&ada, &["Ada", "Bob"])
    })
    .await;
    assert_eq!(
        ada.record().presence,
        [(Presence::Join, "Bob".to_string(), 2)]
    );

    // A name is unique across instances, ignoring case.
    let taken = Member::join(b.port, "ADA", None).await;
    wait_until("the taken name is refused", DEADLINE, || {
        match taken.record().errors.first() {
            Some(error) if error == "That name is taken." => Ok(()),
            other => Err(format!("errors: {other:?}")),
        }
    })
    .await;
    drop(taken);

    // Messages cross both ways, in one order.
    bob.say("from-b".into()).await;
    ada.say("from-a".into()).await;
    for member in [&ada, &bob] {
        wait_until("both messages arrive", DEADLINE, || {
            match member.record().messages.len() {
                2 => Ok(()),
                n => Err(format!("{}: {n} messages", member.name)),
            }
        })
        .await;
    }
    assert_eq!(ada.record().messages, bob.record().messages);
    let mut got = ada.record().messages.clone();
    got.sort();
    assert_eq!(got, ["Ada: from-a", "Bob: from-b"]);

    // 20 members join both instances at once: every view converges.
    let mut crowd = Vec::new();
    let names: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let mut joining = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let port = if i % 2 == 0 { a.port } else { b.port };
        let name = name.clone();
        joining.spawn(async move { Member::join(port, &name, None).await });
    }
    while let Some(member) = joining.join_next().await {
        crowd.push(member.expect("join task"));
    }
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.extend(["Ada", "Bob"]);
    for member in crowd.iter().chain([&ada, &bob]) {
        wait_until("every view has all 22", DEADLINE, || sees(member, &all)).await;
        assert!(
            member.record().wrong.is_empty(),
            "{}: {:?}",
            member.name,
            member.record().wrong
        );
    }
    let mut hash = redis.connection();
    let count: usize = redis::cmd("HLEN")
        .arg(format!("{room}:members"))
        .query(&mut hash)
        .unwrap();
    assert_eq!(count, 22);

    // B dies without a word: its members leave once its key expires. (Its
    // stop sender is kept: dropping it would start a clean stop, racing
    // the abort, and could leave B's key behind for a while.)
    let _b_stop = b.stop.take();
    b.task.abort();
    let on_a: Vec<&str> = all
        .iter()
        .copied()
        .enumerate()
        .filter(|&(i, name)| name == "Ada" || (name.starts_with('c') && i % 2 == 0))
        .map(|(_, name)| name)
        .collect();
    wait_until("A's members see B's leave", DEADLINE, || sees(&ada, &on_a)).await;
    wait_until("bob's connection ended", DEADLINE, || {
        match bob.record().ended {
            true => Ok(()),
            false => Err("still connected".into()),
        }
    })
    .await;
    let count: usize = redis::cmd("HLEN")
        .arg(format!("{room}:members"))
        .query(&mut hash)
        .unwrap();
    assert_eq!(count, on_a.len());
    assert!(ada.record().wrong.is_empty(), "{:?}", ada.record().wrong);

    // A stops cleanly: a Close 1001 for each member, nothing left in Redis.
    a.stop
        .take()
        .expect("stop")
        .send(())
        .expect("A still running");
    let ended = tokio::time::timeout(DEADLINE, &mut a.task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    wait_until("Ada's connection ended", DEADLINE, || {
        match ada.record().ended {
            true => Ok(()),
            false => Err("still connected".into()),
        }
    })
    .await;
    let close = ada.record().close.clone().expect("a Close");
    assert_eq!(close.code, hybi::CloseCode::GOING_AWAY);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{room}:*"))
        .query(&mut hash)
        .unwrap();
    // B's key expired; A deleted its own; the hash is empty.
    assert!(left.is_empty(), "left in Redis: {left:?}");
}
