//! The chat example under load, in-process (`examples/chat.rs`'s `serve`),
//! with hybi's own tokio client as 1,001 members:
//!
//! 1. 1,000 members and one more ("silent") join, 64 handshakes at a time;
//!    every member ends up seeing all 1,001, from its welcome and the join
//!    events after it, each event fitting what it knew.
//! 2. Every member sends one message at the same moment: every member
//!    receives all 1,001, each once, all in the same order.
//! 3. "silent" stops reading (with a 4 KiB receive buffer, and the server's
//!    send buffers capped at 32 KiB, so the kernel holds little). 100 members
//!    send 500-character messages in rounds until the room drops "silent"
//!    for its backlog; every other member receives every message of every
//!    round, in one order, and the leave with the count 1,000. "silent",
//!    reading again, finds a prefix of that order and then the end of its
//!    connection, with a Close 1008 if one reached it.
//!
//! No timing is asserted: every wait has a generous deadline only so that
//! a broken room fails instead of hanging. The test needs about 2,100 file
//! descriptors: it raises the soft limit to the hard one and skips, saying
//! so, if the hard limit is lower.

#[path = "../examples/chat.rs"]
// Reason: the example's `main` and command line are not used here, only
// `serve`, `Options` and the protocol types.
#[allow(dead_code)]
mod chat;
mod chat_support;

use std::sync::Arc;
use std::time::Duration;

use chat::Presence;
use chat_support::{wait_until, Member};
use tokio::net::TcpSocket;
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

const MEMBERS: usize = 1000;
/// Members speaking in each round of phase 3.
const TALKERS: usize = 100;
/// Rounds of phase 3 before giving up on the room dropping "silent".
const MAX_ROUNDS: usize = 40;
/// The deadline of each wait.
const DEADLINE: Duration = Duration::from_secs(240);
const SILENT: &str = "silent";

fn name(i: usize) -> String {
    if i == MEMBERS {
        SILENT.to_string()
    } else {
        format!("m{i}")
    }
}

/// Every member in `members` says `text(i)` at the same moment (released
/// together by a barrier); the members come back in order.
async fn all_say(members: Vec<Member>, text: impl Fn(usize) -> String) -> Vec<Member> {
    let barrier = Arc::new(Barrier::new(members.len()));
    let mut saying = JoinSet::new();
    for (i, mut member) in members.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        let text = text(i);
        saying.spawn(async move {
            barrier.wait().await;
            member.say(text).await;
            (i, member)
        });
    }
    let mut back: Vec<_> = saying.join_all().await;
    back.sort_by_key(|(i, _)| *i);
    back.into_iter().map(|(_, member)| member).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_members_speak_at_once_and_only_the_silent_one_is_dropped() {
    let needed = 2 * (MEMBERS as u64 + 1) + 100;
    let limit = rlimit::increase_nofile_limit(needed).expect("RLIMIT_NOFILE");
    if limit < needed {
        println!(
            "skipped: {} members need {needed} file descriptors, and the hard limit is {limit}",
            MEMBERS + 1
        );
        return;
    }
    let start = Instant::now();
    // Accepted sockets inherit the listener's SO_SNDBUF: capped, so the
    // kernel holds little for a member that stopped reading (by default
    // Linux grows it to megabytes) and the room's own byte budget decides.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(32 << 10).unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let listener = socket.listen(1024).unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = chat::Options {
        quiet: true,
        // More than a round of phase 3 (50 KiB), which is the most a
        // member that reads ever has queued, since each round waits for
        // the one before to be delivered.
        max_backlog: 128 << 10,
        // No rate limit: the test sends in bursts on purpose.
        rate: 1e6,
        burst: 1e6,
        ..chat::Options::default()
    };
    let server = tokio::spawn(chat::serve(listener, options));

    // 1. Joins.
    let handshakes = Arc::new(Semaphore::new(64));
    let mut joining = JoinSet::new();
    for i in 0..=MEMBERS {
        let handshakes = Arc::clone(&handshakes);
        joining.spawn(async move {
            let _permit = handshakes.acquire().await.expect("semaphore");
            let recv_buffer = (i == MEMBERS).then_some(4096);
            (i, Member::join(port, &name(i), recv_buffer).await)
        });
    }
    let mut members: Vec<_> = tokio::time::timeout(DEADLINE, joining.join_all())
        .await
        .expect("joins within the deadline");
    members.sort_by_key(|(i, _)| *i);
    let members: Vec<Member> = members.into_iter().map(|(_, member)| member).collect();
    let everyone: std::collections::BTreeSet<String> = (0..=MEMBERS).map(name).collect();
    wait_until("every member sees all the others", DEADLINE, || {
        let behind = members
            .iter()
            .filter(|m| {
                let r = m.record();
                r.view != everyone || r.count != MEMBERS + 1
            })
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!(
                "{behind} members do not see all {} yet",
                MEMBERS + 1
            ))
        }
    })
    .await;
    for member in &members {
        let record = member.record();
        record.assert_clean(&member.name);
    }
    println!(
        "phase 1: {} members joined ({:?})",
        MEMBERS + 1,
        start.elapsed()
    );

    // 2. Everyone at once.
    let t = Instant::now();
    let members = all_say(members, |i| format!("hello-{i}")).await;
    let total = MEMBERS + 1;
    wait_until("every member receives every message", DEADLINE, || {
        let received: usize = members.iter().map(|m| m.record().messages.len()).sum();
        if received == total * total {
            Ok(())
        } else {
            Err(format!("{received} of {} delivered", total * total))
        }
    })
    .await;
    let order = members[0].record().messages.clone();
    let mut sorted = order.clone();
    sorted.sort();
    let mut expected: Vec<String> = (0..total)
        .map(|i| format!("{}: hello-{i}", name(i)))
        .collect();
    expected.sort();
    assert!(sorted == expected, "member 0 got each message once");
    for member in &members {
        assert!(
            member.record().messages == order,
            "{}: the room's order",
            member.name
        );
    }
    println!(
        "phase 2: {total} messages to {total} members, all delivered in one order ({:?})",
        t.elapsed()
    );

    // 3. "silent" stops reading; 100 members talk until it is dropped.
    let t = Instant::now();
    let (mut members, silent) = {
        let mut members = members;
        let silent = members.pop().expect("silent");
        (members, silent)
    };
    silent.pause(true);
    let padding = "x".repeat(480);
    let dropped = |members: &[Member]| {
        members[0]
            .record()
            .presence
            .iter()
            .any(|(event, who, _)| *event == Presence::Leave && who == SILENT)
    };
    let mut rounds = 0;
    while !dropped(&members) {
        assert!(
            rounds < MAX_ROUNDS,
            "the room still holds a member that stopped reading after {rounds} rounds"
        );
        let talkers: Vec<Member> = members.drain(..TALKERS).collect();
        let round = rounds;
        let talkers = all_say(talkers, |i| format!("r{round}-{i} {padding}")).await;
        members.splice(0..0, talkers);
        rounds += 1;
        let want = total + rounds * TALKERS;
        wait_until("every reading member receives the round", DEADLINE, || {
            let behind = members
                .iter()
                .filter(|m| m.record().messages.len() < want)
                .count();
            if behind == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{behind} members have not received round {round} yet"
                ))
            }
        })
        .await;
    }
    wait_until("every reading member sees silent leave", DEADLINE, || {
        let behind = members
            .iter()
            .filter(|m| m.record().view.contains(SILENT))
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!("{behind} members still see {SILENT}"))
        }
    })
    .await;
    let order = members[0].record().messages.clone();
    assert_eq!(order.len(), total + rounds * TALKERS);
    let mut sorted = order[total..].to_vec();
    sorted.sort();
    let mut expected: Vec<String> = (0..rounds)
        .flat_map(|r| (0..TALKERS).map(move |i| format!("{}: r{r}-{i}", name(i))))
        .collect();
    expected.sort();
    assert!(
        sorted == expected,
        "member 0 got every round's messages once"
    );
    let left = (Presence::Leave, SILENT.to_string(), MEMBERS);
    let others: std::collections::BTreeSet<String> = (0..MEMBERS).map(name).collect();
    for member in &members {
        let record = member.record();
        assert!(
            record.messages == order,
            "{}: lost nothing, in the room's order",
            member.name
        );
        assert_eq!(
            record.presence.last(),
            Some(&left),
            "{}: the leave, with the count",
            member.name
        );
        assert!(record.view == others, "{}: sees the others", member.name);
        record.assert_clean(&member.name);
        assert!(!record.ended, "{}: still connected", member.name);
    }
    println!(
        "phase 3: {SILENT} dropped after {rounds} rounds of {TALKERS} messages; \
         {MEMBERS} members lost nothing ({:?})",
        t.elapsed()
    );

    // "silent" reads again: a prefix of the room's order, then the end.
    silent.pause(false);
    wait_until("silent's connection ends", DEADLINE, || {
        if silent.record().ended {
            Ok(())
        } else {
            Err(format!(
                "{} messages read so far",
                silent.record().messages.len()
            ))
        }
    })
    .await;
    let record = silent.record();
    let got = record.messages.len();
    assert!(got >= total, "silent read phase 2 in full");
    assert!(got < order.len(), "silent was dropped before the end");
    assert!(
        record.messages[..] == order[..got],
        "silent's messages are a prefix of the room's"
    );
    if let Some(close) = &record.close {
        assert_eq!(close.code, hybi::CloseCode::POLICY, "{close:?}");
    }
    println!(
        "silent read {got} of {} messages, then {}",
        order.len(),
        match (&record.close, &record.error) {
            (Some(close), _) => format!("a Close {} {:?}", close.code.0, close.reason),
            (None, Some(error)) => format!("no Close: {error}"),
            (None, None) => "no Close: the connection was closed".into(),
        }
    );
    drop(record);
    server.abort();
    println!("total {:?}", start.elapsed());
}
