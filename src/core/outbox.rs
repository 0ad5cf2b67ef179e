//! Output order per connection, and what each frame waits for.
//!
//! Durability is per dependency: a frame that reports or shows a message (the
//! sender's ack, the members' copies) waits until the history batch holding
//! that message is durable; a frame that depends on nothing goes out at once.
//! A connection's frames never overtake each other, so a frame queued behind
//! a waiting one waits too, but only on that connection: a bystander whose
//! own output waits for nothing is never held behind somebody else's fsync.
//! A history read parks its connection the same way: its pages take the
//! place of a placeholder, and what was queued after it follows them.
//!
//! When a batch fails, its frames are settled by their [`OnFail`]: a
//! delivery is dropped (the message is not stored, so nobody sees it), an
//! ack becomes a `store_failed` error for its `cid`.

use super::effect::OnFail;
use super::{ConnId, ConnMap, Core, Output, Priority};
use crate::protocol::{encode_shared, ErrorCode, ServerMsg};
use std::collections::VecDeque;

/// Most bytes of output that may wait behind a connection's unfinished
/// history read (its client is not reading its catch-up): past it the
/// connection is closed as a slow consumer, as the shell would.
pub const MAX_PARKED: usize = 4 << 20;

/// What the sender of a message that could not be stored is told.
pub const STORE_FAILED: &str = "the server could not store your message (its disk is full or failing), so nobody got it; send it again in a moment";

/// One frame (or close) waiting behind a gate, or a read's placeholder.
#[derive(Debug)]
pub(crate) enum Slot {
    Out(Output, Option<(u64, OnFail)>),
    Read(u64),
}

/// Connections whose output waits, each with its queue in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub waiting: ConnMap<VecDeque<Slot>>,
    /// Connections in the order they began waiting: released in this
    /// order, so output stays in the order it was made.
    order: Vec<ConnId>,
    /// Bytes queued behind a history read's placeholder, per connection
    /// (a paced read waits for its client; what arrives meanwhile waits
    /// here, and is bounded by [`MAX_PARKED`]).
    parked: ConnMap<usize>,
    /// Highest batch whose fate (durable or failed) is known.
    pub settled: u64,
    /// Emptied queues kept for reuse: every message makes its members'
    /// queues wait for a batch, and growing fresh queues each time cost
    /// about 5 % of the loop's instructions per room message. Their
    /// capacities add up to at most [`SPARE_SLOTS`].
    spare: Vec<VecDeque<Slot>>,
    spare_slots: usize,
}

/// Most slots (summed capacity) of the emptied queues [`Outbox`] keeps for
/// reuse: about 1.5 MiB at most; a queue that would pass it is freed.
const SPARE_SLOTS: usize = 16 * 1024;

impl Outbox {
    fn start(&mut self, conn: ConnId, first: Slot) {
        let mut q = match self.spare.pop() {
            Some(q) => {
                self.spare_slots -= q.capacity();
                q
            }
            None => VecDeque::new(),
        };
        q.push_back(first);
        self.waiting.insert(conn, q);
        self.order.push(conn);
    }

    /// Keep an emptied queue for the next connection that waits.
    fn recycle(&mut self, mut q: VecDeque<Slot>) {
        if self.spare_slots + q.capacity() <= SPARE_SLOTS {
            q.clear();
            self.spare_slots += q.capacity();
            self.spare.push(q);
        }
    }

    /// Frames waiting, over all connections (for tests and the stats line).
    pub fn waiting_frames(&self) -> usize {
        self.waiting.values().map(|q| q.len()).sum()
    }
}

impl Core {
    /// Queue `out` for `conn` after everything queued for it before; it
    /// waits for `gate` (a batch that must be durable) if that is unsettled.
    pub(crate) fn emit(&mut self, conn: ConnId, out: Output, gate: Option<(u64, OnFail)>) {
        if conn.is_remote() {
            // A user on another node: that node tells them (but what a
            // transfer running here has for them goes there).
            return self.forward_remote(conn, out);
        }
        let gate = gate.filter(|(seq, _)| *seq > self.outbox.settled);
        if let Some(q) = self.outbox.waiting.get_mut(&conn) {
            if let (Output::Frame(b, _), Some(parked)) = (&out, self.outbox.parked.get_mut(&conn)) {
                *parked += b.len();
                if *parked > MAX_PARKED {
                    return self.kick_parked(conn);
                }
            }
            q.push_back(Slot::Out(out, gate));
            return;
        }
        match gate {
            None => self.out.push((conn, out)),
            Some(g) => self.outbox.start(conn, Slot::Out(out, Some(g))),
        }
    }

    /// Park `conn`'s later output behind the pages of read `query`.
    pub(crate) fn park_for_read(&mut self, conn: ConnId, query: u64) {
        self.outbox.parked.entry(conn).or_insert(0);
        match self.outbox.waiting.get_mut(&conn) {
            Some(q) => q.push_back(Slot::Read(query)),
            None => self.outbox.start(conn, Slot::Read(query)),
        }
    }

    /// Frames of read `query` for `conn`: they go where its placeholder is.
    pub(crate) fn emit_for_read(&mut self, conn: ConnId, query: u64, frames: Vec<Output>) {
        let Some(q) = self.outbox.waiting.get_mut(&conn) else {
            return; // the connection is gone
        };
        let Some(at) = q
            .iter()
            .position(|s| matches!(s, Slot::Read(r) if *r == query))
        else {
            return;
        };
        let gate = self.unsettled_gate();
        let Some(q) = self.outbox.waiting.get_mut(&conn) else {
            return;
        };
        for (i, f) in frames.into_iter().enumerate() {
            q.insert(at + i, Slot::Out(f, gate.clone()));
        }
    }

    /// For frames showing messages from memory that may not be durable yet
    /// (the newest batch): wait for it, but go out even if it fails.
    pub(crate) fn unsettled_gate(&self) -> Option<(u64, OnFail)> {
        let seq = self.history.newest_unsettled();
        (seq > self.outbox.settled).then_some((seq, OnFail::Send))
    }

    /// Let whatever of `conn`'s output waits for nothing go out.
    pub(crate) fn release_conn(&mut self, conn: ConnId) {
        self.release(Some(conn));
    }

    /// `conn` let more than [`MAX_PARKED`] bytes wait behind its read: it is
    /// not reading, and is closed now (the close cannot wait in that queue).
    fn kick_parked(&mut self, conn: ConnId) {
        log::warn!(
            "conn {conn}: slow consumer, more than {MAX_PARKED} bytes waiting behind its catch-up; disconnecting"
        );
        self.forget_output(conn);
        self.reads.retain(|_, r| r.conn != conn);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.closing = true;
        }
        // Its last frame says why (the shell sends it after at most the
        // frame it is writing, or drops the connection after a linger).
        self.out
            .push((conn, Output::Frame(slow_consumer_bye(), Priority::Normal)));
        self.out.push((
            conn,
            Output::Close("slow consumer: its catch-up was not read".into()),
        ));
    }

    /// Read `query` for `conn` is finished: what was behind it may go.
    pub(crate) fn unpark(&mut self, conn: ConnId, query: u64) {
        if let Some(q) = self.outbox.waiting.get_mut(&conn) {
            q.retain(|s| !matches!(s, Slot::Read(r) if *r == query));
            if !q.iter().any(|s| matches!(s, Slot::Read(_))) {
                self.outbox.parked.remove(&conn);
            }
        }
        self.release(Some(conn));
    }

    /// Batches up to `seq` are settled; `failed` says this one failed.
    pub(crate) fn settle(&mut self, seq: u64, failed: bool) {
        self.outbox.settled = self.outbox.settled.max(seq);
        if failed {
            for q in self.outbox.waiting.values_mut() {
                q.retain_mut(|slot| {
                    let Slot::Out(out, gate) = slot else {
                        return true;
                    };
                    let Some((s, how)) = gate else {
                        return true;
                    };
                    if *s != seq {
                        return true;
                    }
                    match how {
                        OnFail::Drop => return false,
                        OnFail::Send => {}
                        OnFail::Ack { re, cid } => {
                            // In the ack's place: nothing overtakes it.
                            *out = Output::Frame(
                                encode_shared(&ServerMsg::Error {
                                    code: ErrorCode::StoreFailed,
                                    message: STORE_FAILED.into(),
                                    re: Some(re.to_string()),
                                    cid: cid.take(),
                                }),
                                Priority::Normal,
                            );
                        }
                    }
                    *gate = None;
                    true
                });
            }
        }
        self.release(None);
    }

    /// Move every frame whose gate is settled (and what follows it, up to
    /// the next unsettled one) to the output; `only` limits it to one
    /// connection.
    fn release(&mut self, only: Option<ConnId>) {
        let settled = self.outbox.settled;
        let conns: Vec<ConnId> = match only {
            Some(c) => vec![c],
            None => std::mem::take(&mut self.outbox.order),
        };
        for conn in conns {
            let Some(q) = self.outbox.waiting.get_mut(&conn) else {
                continue;
            };
            while let Some(front) = q.front() {
                match front {
                    Slot::Read(_) => break,
                    Slot::Out(_, Some((s, _))) if *s > settled => break,
                    Slot::Out(..) => {
                        if let Some(Slot::Out(out, _)) = q.pop_front() {
                            self.out.push((conn, out));
                        }
                    }
                }
            }
            if q.is_empty() {
                if let Some(q) = self.outbox.waiting.remove(&conn) {
                    self.outbox.recycle(q);
                }
            } else if only.is_none() {
                self.outbox.order.push(conn);
            }
        }
        if only.is_some() {
            let waiting = &self.outbox.waiting;
            self.outbox.order.retain(|c| waiting.contains_key(c));
        }
    }

    /// A connection went away: nothing more is sent to it.
    pub(crate) fn forget_output(&mut self, conn: ConnId) {
        self.outbox.parked.remove(&conn);
        if self.outbox.waiting.remove(&conn).is_some() {
            self.outbox.order.retain(|c| *c != conn);
        }
    }
}

/// The last frame of a connection closed as a slow consumer.
pub fn slow_consumer_bye() -> std::rc::Rc<[u8]> {
    encode_shared(&ServerMsg::Bye {
        code: crate::protocol::ByeCode::SlowConsumer,
        reason: "you were not reading what the server sent, so it closed the connection; \
                 reconnect (with resume.since) to catch up on what was dropped"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_queues_keep_at_most_one_and_a_half_mib() {
        assert!(std::mem::size_of::<Slot>() * SPARE_SLOTS <= 3 << 19);
    }

    #[test]
    fn a_queue_too_big_to_keep_is_freed_and_the_rest_are_reused() {
        let mut o = Outbox::default();
        let mut big = VecDeque::with_capacity(SPARE_SLOTS + 1);
        big.push_back(Slot::Read(1));
        o.recycle(big);
        assert!(o.spare.is_empty());
        let mut small = VecDeque::with_capacity(8);
        small.push_back(Slot::Read(2));
        o.recycle(small);
        assert_eq!(o.spare.len(), 1);
        let kept = o.spare_slots;
        assert!(kept >= 8);
        o.start(ConnId(7), Slot::Read(3));
        assert!(o.spare.is_empty());
        assert_eq!(o.spare_slots, 0);
        assert_eq!(
            o.waiting[&ConnId(7)].len(),
            1,
            "the reused queue was emptied first"
        );
    }
}
