//! The timer table: every deadline of a connection, in one place.
//!
//! The engine never reads a clock. It keeps one deadline per [`Timer`];
//! the caller asks for the earliest with `Connection::poll_timeout` and
//! calls `Connection::handle_timeout(now)` once it has passed. Which timers
//! are armed when, and what each does when it fires, is decided in
//! `state.rs`; this module only stores instants.
//!
//! | timer | armed | on expiry |
//! |-------|-------|-----------|
//! | `Handshake` | at construction (`Config::handshake_timeout`) | fail: a server answers 408, a client gives up |
//! | `Idle` | on open and on every received byte (`Config::idle_timeout`) | start the closing handshake with 1001 |
//! | `Keepalive` | on open, on every received byte, after a Pong (`Config::keepalive_interval`) | send a Ping, arm `Pong` |
//! | `Pong` | when a keepalive Ping is sent (`Config::keepalive_timeout`) | fail with 1011 |
//! | `Close` | when our Close is sent (`Config::close_timeout`) | give up on the peer's Close (or, for a client, on the server closing the transport) and shut the transport |

use crate::time::Instant;

/// One deadline of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    Handshake,
    Idle,
    Keepalive,
    Pong,
    Close,
}

impl Timer {
    /// Every timer, in the order they are handled when several expire at
    /// once: the handshake first, the close deadline last.
    pub(crate) const ALL: [Timer; 5] = [
        Timer::Handshake,
        Timer::Idle,
        Timer::Keepalive,
        Timer::Pong,
        Timer::Close,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The deadlines, one slot per timer; `None` when a timer is stopped.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; 5],
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing any earlier deadline.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer.index()] = Some(at);
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }

    /// Whether `timer` is armed.
    pub(crate) fn is_set(&self, timer: Timer) -> bool {
        self.at[timer.index()].is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Stops and returns the first timer whose deadline is at or before
    /// `now`, in [`Timer::ALL`] order.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.at[t.index()].is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_the_earliest_and_expiry_pops_in_order() {
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Close, Instant::from_micros(30));
        table.set(Timer::Idle, Instant::from_micros(10));
        table.set(Timer::Keepalive, Instant::from_micros(20));
        assert_eq!(table.next(), Some(Instant::from_micros(10)));
        assert_eq!(table.pop_expired(Instant::from_micros(9)), None);
        let now = Instant::from_micros(25);
        assert_eq!(table.pop_expired(now), Some(Timer::Idle));
        assert_eq!(table.pop_expired(now), Some(Timer::Keepalive));
        assert_eq!(table.pop_expired(now), None);
        assert!(table.is_set(Timer::Close));
        table.stop(Timer::Close);
        assert_eq!(table.next(), None);
    }
}
