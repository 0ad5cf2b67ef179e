//! One table of every timer the core keeps; its minimum is the shell's poll
//! timeout.
//!
//! Each timer has a key ([`Timer`]) and a monotonic deadline. Setting a key
//! again moves its deadline (a typing refresh), cancelling it removes it,
//! and [`Timers::pop_due`] hands out what is due in deadline order (ties in
//! key order, so a run is deterministic). Set, cancel and pop cost
//! O(log n); the next deadline O(1): nothing scans all typists, calls or
//! connections once per loop turn.

use super::typing::Conv;
use super::ConnId;
use std::collections::{BTreeSet, HashMap};

/// What a timer is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// A typing state that was not refreshed (typist, conversation).
    Typing(String, Conv),
    /// A call that rang unanswered.
    Ring(u64),
    /// A dropped user's name, reserved for their reconnecting client.
    Reservation(String),
    /// A connection that has not logged in.
    Login(ConnId),
    /// A connection past its message rate may go on.
    Throttle(ConnId),
    /// A frame that started arriving and has not completed.
    PartialFrame(ConnId),
    /// A transfer interrupted (an end left) and not resumed since.
    TransferExpiry(u64),
    /// In a cluster: the receipts gathered since the last batch go out.
    ClusterReceipts,
    /// Markers changed since they were last written go to the history log
    /// (see `receipts::MARKER_LOG_MS`).
    LogMarkers,
}

/// Deadlines by time and by key.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_time: BTreeSet<(u64, Timer)>,
    by_key: HashMap<Timer, u64>,
}

impl Timers {
    /// Fire `t` at `at` (moving it if it was set).
    pub fn set(&mut self, t: Timer, at: u64) {
        if let Some(old) = self.by_key.insert(t.clone(), at) {
            if old == at {
                return;
            }
            self.by_time.remove(&(old, t.clone()));
        }
        self.by_time.insert((at, t));
    }

    /// Forget `t` if it was set.
    pub fn cancel(&mut self, t: &Timer) {
        if let Some(at) = self.by_key.remove(t) {
            self.by_time.remove(&(at, t.clone()));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<u64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// The earliest timer due at `now`, removed from the table.
    pub fn pop_due(&mut self, now: u64) -> Option<Timer> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, t) = self.by_time.pop_first()?;
        self.by_key.remove(&t);
        Some(t)
    }

    /// Timers set (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_moves_cancel_removes_pop_goes_in_deadline_order() {
        let mut t = Timers::default();
        t.set(Timer::Ring(1), 50);
        t.set(Timer::Reservation("a".into()), 20);
        t.set(Timer::Ring(2), 20);
        t.set(Timer::Ring(1), 10); // moved earlier
        assert_eq!(t.len(), 3);
        assert_eq!(t.next(), Some(10));
        t.cancel(&Timer::Ring(2));
        t.cancel(&Timer::Ring(9)); // not set: nothing happens
        assert_eq!(t.pop_due(9), None, "nothing due yet");
        assert_eq!(t.pop_due(25), Some(Timer::Ring(1)));
        assert_eq!(t.pop_due(25), Some(Timer::Reservation("a".into())));
        assert_eq!(t.pop_due(25), None);
        assert_eq!((t.next(), t.len()), (None, 0));
    }
}
