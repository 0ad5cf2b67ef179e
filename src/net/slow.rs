//! Judging slow consumers by whether they read, not by one moment's queue.
//!
//! A connection's queue may pass `--max-outbound` for a moment without its
//! client being slow: a group commit that the disk held up releases a whole
//! batch of deliveries at once, and a client that reads everything may be
//! off the CPU just then. So the limit alone is not the verdict. Past it, a
//! connection is *backlogged*: it stays while its socket keeps taking bytes
//! (any progress within [`STALL_MS`] renews it), and is disconnected as a
//! slow consumer when its socket took nothing for [`STALL_MS`] or its queue
//! passes [`hard_limit`] (twice the limit), which bounds the memory one
//! connection can hold whatever it does.

use super::{Server, Slot};
use crate::core::{ConnId, Now, Priority};
use std::collections::HashMap;

/// How long a connection past `--max-outbound` may go without its socket
/// taking a byte before it is disconnected as a slow consumer.
pub const STALL_MS: u64 = 2_000;

/// Queued bytes past which a connection is disconnected at once: twice
/// `--max-outbound` (saturating).
pub fn hard_limit(max_outbound: usize) -> usize {
    max_outbound.saturating_mul(2)
}

/// Connections past the limit, each with when its socket last took bytes
/// (or when it passed the limit). Empty in the usual case: looked at only
/// when a queue is past the limit.
#[derive(Debug, Default)]
pub(super) struct Backlogged {
    conns: HashMap<Slot, (ConnId, u64)>,
}

/// What a connection past the limit has earned.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Keep it: it may still catch up.
    Wait,
    /// Disconnect it, for this reason (logged).
    Slow(String),
}

impl Backlogged {
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// A connection of `queued` bytes (after trying to write) is past
    /// `limit` at `now`: the verdict, and it is remembered while it waits.
    pub fn judge(&mut self, k: Slot, id: ConnId, queued: usize, limit: usize, now: u64) -> Verdict {
        let hard = hard_limit(limit);
        if queued > hard {
            self.conns.remove(&k);
            return Verdict::Slow(format!(
                "{queued} bytes queued, more than twice the limit of {limit}"
            ));
        }
        let since = match self.conns.get(&k) {
            Some(&(who, since)) if who == id => since,
            _ => {
                self.conns.insert(k, (id, now));
                now
            }
        };
        if now.saturating_sub(since) >= STALL_MS {
            self.conns.remove(&k);
            return Verdict::Slow(format!(
                "{queued} bytes queued (limit {limit}) and nothing read for {} s",
                STALL_MS / 1000
            ));
        }
        Verdict::Wait
    }

    /// Its socket took bytes at `now`; `queued` are left. Back under
    /// `limit`, it is no longer watched.
    pub fn progressed(&mut self, k: Slot, queued: usize, limit: usize, now: u64) {
        if queued <= limit {
            self.conns.remove(&k);
        } else if let Some(e) = self.conns.get_mut(&k) {
            e.1 = now;
        }
    }

    /// `k` is watched, as connection `id`.
    pub fn watches(&self, k: Slot, id: ConnId) -> bool {
        self.conns.get(&k).is_some_and(|&(who, _)| who == id)
    }

    /// The connection is gone.
    pub fn forget(&mut self, k: Slot) {
        self.conns.remove(&k);
    }

    /// When the next watched connection runs out of time, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.conns
            .values()
            .map(|&(_, since)| since + STALL_MS)
            .min()
    }

    /// Connections whose time ran out by `now`, taken off the watch.
    pub fn expired(&mut self, now: u64) -> Vec<(Slot, ConnId)> {
        let out: Vec<(Slot, ConnId)> = self
            .conns
            .iter()
            .filter(|(_, &(_, since))| now.saturating_sub(since) >= STALL_MS)
            .map(|(&k, &(id, _))| (k, id))
            .collect();
        for (k, _) in &out {
            self.conns.remove(k);
        }
        out
    }
}

impl Server {
    /// Connection `k`'s queue went past `--max-outbound` while frames were
    /// queued for it: write what the socket takes, then judge it.
    pub(super) fn over_limit(&mut self, k: Slot, now: Now) {
        let limit = self.cfg.max_outbound;
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        let id = conn.id;
        // Only what the socket refuses counts: write first. A connection
        // already watched is not written to for every frame queued (its
        // writes are tried as usual, and `flushed` notes their progress).
        let wrote = self.backlogged.watches(k, id) || conn.flush().is_ok();
        let queued = conn.queued_bytes();
        if wrote && queued <= limit {
            self.backlogged.forget(k);
            self.dirty.push(k);
            return;
        }
        let verdict = match wrote {
            true => self.backlogged.judge(k, id, queued, limit, now.mono_ms),
            false => Verdict::Slow("its socket failed".into()),
        };
        match verdict {
            Verdict::Wait => self.dirty.push(k),
            Verdict::Slow(why) => self.kick_slow(k, &why, now),
        }
    }

    /// A write to `k` left `queued` of `before` bytes: a watched
    /// connection's progress renews its time.
    pub(super) fn flushed(&mut self, k: Slot, before: usize, queued: usize) {
        if self.backlogged.is_empty() || queued >= before {
            return;
        }
        let now = self.clock.now().mono_ms;
        self.backlogged
            .progressed(k, queued, self.cfg.max_outbound, now);
    }

    /// Connections that took nothing for [`STALL_MS`] while past the limit.
    pub(super) fn expire_backlogged(&mut self, now: Now) {
        if self.backlogged.is_empty() {
            return;
        }
        for (k, id) in self.backlogged.expired(now.mono_ms) {
            let Some(conn) = self.conns.get(k.0).filter(|c| c.id == id) else {
                continue;
            };
            let why = format!(
                "{} bytes queued (limit {}) and nothing read for {} s",
                conn.queued_bytes(),
                self.cfg.max_outbound,
                STALL_MS / 1000
            );
            self.kick_slow(k, &why, now);
        }
    }

    /// Disconnect `k` as a slow consumer. Its last frame says why: what was
    /// queued goes (but the frame being written, to keep the framing),
    /// `bye` follows, and a lingering close gives it a moment.
    fn kick_slow(&mut self, k: Slot, why: &str, now: Now) {
        self.backlogged.forget(k);
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        if conn.closing {
            return;
        }
        log::warn!(
            "conn {k} ({}): slow consumer, {why}; disconnecting",
            conn.peer
        );
        conn.discard_queued();
        conn.push(
            crate::core::slow_consumer_bye(),
            Priority::Normal,
            usize::MAX,
            usize::MAX,
        );
        self.dirty.push(k);
        self.begin_close(k, "slow consumer", now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ConnId {
        ConnId(n)
    }

    #[test]
    fn past_the_limit_a_connection_waits_while_it_reads_and_goes_when_it_stops() {
        let mut b = Backlogged::default();
        let k = Slot(3);
        assert_eq!(b.judge(k, id(3), 150, 100, 1_000), Verdict::Wait);
        // Its socket keeps taking bytes: the clock starts again.
        b.progressed(k, 140, 100, 2_500);
        assert_eq!(b.judge(k, id(3), 160, 100, 4_000), Verdict::Wait);
        assert_eq!(b.next_deadline(), Some(2_500 + STALL_MS));
        // Nothing taken for STALL_MS.
        assert!(matches!(
            b.judge(k, id(3), 160, 100, 2_500 + STALL_MS),
            Verdict::Slow(_)
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn twice_the_limit_is_too_much_at_once() {
        let mut b = Backlogged::default();
        assert_eq!(b.judge(Slot(1), id(1), 200, 100, 0), Verdict::Wait);
        let Verdict::Slow(why) = b.judge(Slot(1), id(1), 201, 100, 1) else {
            panic!("201 bytes past a hard limit of 200 were kept");
        };
        assert!(why.contains("twice the limit of 100"), "{why}");
        assert_eq!(hard_limit(usize::MAX), usize::MAX);
    }

    #[test]
    fn back_under_the_limit_it_is_no_longer_watched_and_a_new_connection_starts_afresh() {
        let mut b = Backlogged::default();
        b.judge(Slot(1), id(1), 150, 100, 0);
        b.progressed(Slot(1), 90, 100, 10);
        assert!(b.is_empty());
        b.judge(Slot(2), id(2), 150, 100, 0);
        // Slot 2 now holds another connection: its time is its own.
        assert_eq!(
            b.judge(Slot(2), id(7), 150, 100, 1_999 + STALL_MS),
            Verdict::Wait
        );
        assert_eq!(b.expired(2_000 + STALL_MS), Vec::new());
        assert_eq!(b.expired(1_999 + 2 * STALL_MS), vec![(Slot(2), id(7))]);
        assert!(b.is_empty());
    }
}
