//! Transfer ids that are never handed out twice, on this run or a later one.
//!
//! Ids are taken in blocks recorded in the history (`Record::TransferIds`):
//! a restarted server starts above every block an earlier run recorded. An
//! id is handed out only once the block holding it is *durable*, so a
//! server killed before its history write landed cannot have shown an id a
//! later run gives again. Start-up records the first block synchronously
//! ([`crate::store::db::reserve_transfer_ids`]); each next block is asked
//! for when half of the current one is used, long before it is needed.

use super::history::History;

/// Transfer ids reserved in the history at a time.
pub const BLOCK: u64 = 1024;

/// The id counter and what the history holds of it.
pub(crate) struct TransferIds {
    /// The last id handed out.
    last: u64,
    /// Ids below this are recorded as reserved, on disk.
    durable: u64,
    /// Ids below this were asked for (the batch may not have landed yet).
    asked: u64,
    /// The history batch carrying the newest request, and the block's end.
    in_flight: Option<(u64, u64)>,
}

impl Default for TransferIds {
    /// A core without a loaded database (tests): no earlier run can
    /// collide, so nothing waits for the disk; requests still go out.
    fn default() -> Self {
        TransferIds {
            last: 0,
            durable: u64::MAX,
            asked: 0,
            in_flight: None,
        }
    }
}

impl TransferIds {
    /// Start-up: ids below `next` may have been used by an earlier run, and
    /// ids below `durable` are recorded as reserved by this one.
    pub fn start(next: u64, durable: u64) -> Self {
        TransferIds {
            last: next.saturating_sub(1),
            durable,
            asked: durable,
            in_flight: None,
        }
    }

    /// A new id, or `None` while the block it would come from is not on
    /// disk yet (a failing disk, or a burst faster than one history batch).
    pub fn take(&mut self, history: &mut History) -> Option<u64> {
        let want = self.last + 1;
        if self.in_flight.is_none() && want + BLOCK / 2 >= self.asked {
            self.asked = want + BLOCK;
            history.reserve_transfer_ids(self.asked);
            self.in_flight = Some((history.newest_unsettled(), self.asked));
        }
        if want >= self.durable {
            return None;
        }
        self.last = want;
        Some(want)
    }

    /// History batch `seq` was written (`ok`) or failed; a failed batch's
    /// request goes again in batch `requeued` ([`History::settle`] puts it
    /// in the batch being filled).
    pub fn settled(&mut self, seq: u64, ok: bool, requeued: u64) {
        match self.in_flight {
            Some((s, end)) if s == seq && ok => {
                self.durable = self.durable.max(end);
                self.in_flight = None;
            }
            Some((s, end)) if s == seq => self.in_flight = Some((requeued, end)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle_all(ids: &mut TransferIds, h: &mut History, ok: bool) {
        while let Some(b) = h.seal() {
            h.settle(b.seq, ok);
            ids.settled(b.seq, ok, h.newest_unsettled());
        }
    }

    #[test]
    fn ids_wait_for_their_block_to_be_durable() {
        let mut h = History::default();
        // A fresh database: start-up recorded [1, 1 + BLOCK).
        let mut ids = TransferIds::start(1, 1 + BLOCK);
        let all: Vec<u64> = (0..2 * BLOCK).map_while(|_| ids.take(&mut h)).collect();
        assert_eq!(
            all,
            (1..=BLOCK).collect::<Vec<_>>(),
            "stops at the durable end"
        );
        // Half way the next block was asked for; it is not written yet.
        let b = h.seal().expect("the request");
        assert_eq!(b.seq, 1);
        assert_eq!(ids.take(&mut h), None);
        // The batch fails (full disk): still nothing; the request goes
        // again with the next batch.
        h.settle(1, false);
        ids.settled(1, false, h.newest_unsettled());
        assert_eq!(ids.take(&mut h), None);
        settle_all(&mut ids, &mut h, true);
        assert_eq!(ids.take(&mut h), Some(BLOCK + 1));
    }

    #[test]
    fn a_restart_starts_above_every_block_recorded() {
        let mut h = History::default();
        let mut ids = TransferIds::start(5000, 5000 + BLOCK);
        assert_eq!(ids.take(&mut h), Some(5000));
        // A request from an older batch does not move the durable end.
        ids.settled(99, true, 0);
        for _ in 0..BLOCK - 1 {
            assert!(ids.take(&mut h).is_some());
        }
        assert_eq!(ids.take(&mut h), None);
        settle_all(&mut ids, &mut h, true);
        assert_eq!(ids.take(&mut h), Some(5000 + BLOCK));
    }
}
