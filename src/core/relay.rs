//! Relayed chunks in a receiver's queue, and credit passed on only as that
//! queue drains.
//!
//! A receiver grants credit with `file_credit`; the server passes it on to
//! the sender only while the receiver's connection has room: for one
//! transfer, credit outstanding plus chunks queued to the receiver stay
//! within `max_window`, and over all the transfers relayed to one receiver
//! within `relay_budget`. Credit beyond that waits here (at most one window
//! per transfer) until the shell reports chunks written out to the
//! receiver's socket ([`Core::chunks_sent`]). So a receiver that grants
//! credit but never reads holds at most `relay_budget` bytes of chunks in
//! the server, however much it grants.

use super::{ConnId, Core};
use crate::protocol::files::TransferState;
use crate::protocol::ServerMsg;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Raw lengths of relayed chunks queued to each receiver connection and not
/// yet written out, per transfer, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    queued: super::ConnMap<HashMap<u64, VecDeque<u64>>>,
    /// The transfers relayed to each receiver connection that were granted
    /// credit: the only ones its accounting looks at (never every transfer
    /// on the server, on each grant or each chunk written).
    receiving: super::ConnMap<BTreeSet<u64>>,
}

impl Relay {
    pub fn push(&mut self, conn: ConnId, id: u64, len: u64) {
        self.queued
            .entry(conn)
            .or_default()
            .entry(id)
            .or_default()
            .push_back(len);
    }

    fn pop(&mut self, conn: ConnId, id: u64) -> Option<u64> {
        let by_id = self.queued.get_mut(&conn)?;
        let q = by_id.get_mut(&id)?;
        let len = q.pop_front();
        if q.is_empty() {
            by_id.remove(&id);
        }
        if by_id.is_empty() {
            self.queued.remove(&conn);
        }
        len
    }

    /// Bytes of transfer `id` queued to `conn`.
    fn of(&self, conn: ConnId, id: u64) -> u64 {
        self.queued
            .get(&conn)
            .and_then(|m| m.get(&id))
            .map_or(0, |q| q.iter().sum())
    }

    /// Bytes of every transfer queued to `conn`.
    fn total(&self, conn: ConnId) -> u64 {
        self.queued
            .get(&conn)
            .map_or(0, |m| m.values().flatten().sum())
    }

    /// Transfer `id` is relayed to `conn` and has credit in play.
    pub fn receiving(&mut self, conn: ConnId, id: u64) {
        self.receiving.entry(conn).or_default().insert(id);
    }

    /// Bytes of every transfer queued to `conn` (see `cluster_store`).
    pub fn total_of(&self, conn: ConnId) -> u64 {
        self.total(conn)
    }

    pub fn forget_conn(&mut self, conn: ConnId) {
        self.queued.remove(&conn);
        self.receiving.remove(&conn);
    }
}

impl Core {
    /// Pass on as much of transfer `id`'s banked credit as its receiver's
    /// connection has room for.
    pub(crate) fn relay_credit(&mut self, id: u64) {
        let limits = &self.transfers.limits;
        let (window, budget) = (limits.max_window, limits.relay_budget);
        // A browser's HTTP download grants its own credit (see `http_sink`).
        if let Some(banked) = self.sink_banked(id) {
            if let Some(t) = self.transfers.map.get_mut(&id) {
                t.banked = banked;
            }
        }
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        if t.banked == 0 || !matches!(t.state, TransferState::InProgress | TransferState::Paused) {
            return;
        }
        let (Some(sender), Some(receiver)) = (t.sender.clone(), t.receiver.clone()) else {
            return;
        };
        let sink = t.sink.as_ref().map(|s| s.conn);
        let Some(rc) = sink.or_else(|| self.conn_of(&receiver)) else {
            return;
        };
        self.relay.receiving(rc, id);
        let ids: Vec<u64> = self.relay.receiving[&rc].iter().copied().collect();
        let mut outstanding = 0;
        for other in ids {
            match self.transfers.map.get(&other) {
                Some(o) if !o.state.is_final() => outstanding += o.credit,
                // Ended: no credit of its own any more.
                _ if self.relay.of(rc, other) == 0 => {
                    if let Some(set) = self.relay.receiving.get_mut(&rc) {
                        set.remove(&other);
                    }
                }
                _ => {}
            }
        }
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        let for_transfer = window.saturating_sub(t.credit + self.relay.of(rc, id));
        let for_conn = budget.saturating_sub(outstanding + self.relay.total(rc));
        let give = t.banked.min(for_transfer).min(for_conn);
        if give == 0 {
            return;
        }
        if let Some(t) = self.transfers.map.get_mut(&id) {
            t.credit += give;
            t.banked -= give;
        }
        if let Some(c) = self.conn_of(&sender) {
            self.send(c, &ServerMsg::FileCredit { id, bytes: give });
        }
    }

    /// The shell wrote out, in full, one chunk of each transfer listed (in
    /// order) to `conn`: their room goes back to the receiver's transfers.
    pub fn chunks_sent(&mut self, conn: ConnId, transfers: &[u64]) {
        let own;
        let transfers = if self.cluster.is_some() && !conn.is_remote() {
            own = self.remote_chunks_sent(conn, transfers);
            &own[..]
        } else {
            transfers
        };
        let mut drained = false;
        for &id in transfers {
            drained |= self.relay.pop(conn, id).is_some();
        }
        if !drained {
            return; // downloads from the store: pulled one chunk at a time
        }
        let waiting: Vec<u64> = self
            .relay
            .receiving
            .get(&conn)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let waiting: Vec<u64> = waiting
            .into_iter()
            .filter(|id| {
                self.transfers
                    .map
                    .get(id)
                    .is_some_and(|t| t.banked > 0 || t.sink.is_some())
            })
            .collect();
        for id in waiting {
            self.relay_credit(id);
        }
    }
}
