//! The `search-index` thread: it keeps the search index up with the
//! history, gathering commits so that each step indexes many messages.
//!
//! FTS5 flushes a segment per transaction and merges segments as they pile
//! up, so indexing a few messages at a time costs far more per message than
//! indexing many: on this project's 2-core machine, indexing 40,000
//! messages took 25 µs a message in steps of 8 and 3-4 µs in steps of 1,024
//! (`store::search_index::STEP`). A step after every commit was the former:
//! a busy room commits a few messages every millisecond. So after a
//! commit's wake-up the thread waits [`GATHER`] for more before its next
//! step, unless a search is waiting for it ([`IndexWake::urgent`]): the
//! search thread says so before each search, which then finds what was sent
//! before it as before (it waits for the index up to
//! `store::search::FRESH_WAIT`).

use crate::store::search_index::{self, SearchIndex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The indexing thread's nice value (the loop's is the process's, 0 by
/// default): background work gives way to chat on a busy machine.
pub(super) const INDEX_NICE: i32 = 10;
/// How long the indexing thread, caught up, waits for a wake-up before
/// looking again (a search may have found the index damaged meanwhile).
const INDEX_IDLE: Duration = Duration::from_secs(5);
/// How long the indexing thread waits after a failed step (a full disk),
/// or while the disk has less than `search_index::MIN_FREE`, before
/// looking again.
const INDEX_RETRY: Duration = Duration::from_secs(1);
/// How long commits gather after a wake-up before the next step, unless a
/// search waits: new messages reach the index within about this.
pub(super) const GATHER: Duration = Duration::from_secs(1);

/// What wakes the indexer now rather than after [`GATHER`]: a search.
pub(super) struct IndexWake {
    pub tx: SyncSender<()>,
    pub urgent: Arc<AtomicBool>,
}

impl IndexWake {
    /// A search is about to run (or found the index damaged): index now.
    pub fn now(&self) {
        self.urgent.store(true, Ordering::Release);
        let _ = self.tx.try_send(());
    }
}

/// Keep the search index up with the history: steps while there is work,
/// then wait for the next wake-up (from the history thread after a commit,
/// or the search thread) and let commits gather. Ends when every sender of
/// `wake` has let go of it, once what gathered is indexed.
pub(super) fn index_thread(mut index: SearchIndex, wake: Receiver<()>, urgent: Arc<AtomicBool>) {
    lower_priority();
    let mut failing = false; // (logged once, as a full disk would repeat it)
    let mut low = false; // (the disk had less than MIN_FREE: logged once)
    loop {
        let short = index
            .free_bytes()
            .is_some_and(|f| f < search_index::MIN_FREE);
        if short != low {
            if short {
                log::warn!(
                    "less than {} MiB free on the disk of {}: search indexing waits so the history keeps the room (/search misses new messages meanwhile)",
                    search_index::MIN_FREE >> 20,
                    index.path().display()
                );
            } else {
                log::warn!("the disk has room again: search indexing resumes");
            }
            low = short;
        }
        let step = if short {
            Ok(0)
        } else {
            index.step(search_index::STEP)
        };
        let wait = match step {
            Ok(n) => {
                if failing {
                    log::warn!("search indexing works again");
                    failing = false;
                }
                if n > 0 {
                    match wake.try_recv() {
                        Err(TryRecvError::Disconnected) => return,
                        _ => continue,
                    }
                }
                // Look again in a while, woken or not: short of room, or a
                // search may flag the index damaged.
                if short {
                    INDEX_RETRY
                } else {
                    INDEX_IDLE
                }
            }
            Err(e) => {
                if !failing {
                    log::error!(
                        "search indexing failed: {e}; new messages are not found by /search until it works again (tried every {} s)",
                        INDEX_RETRY.as_secs()
                    );
                    failing = true;
                }
                INDEX_RETRY
            }
        };
        match wake.recv_timeout(wait) {
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) => {
                if !gather(&wake, &urgent, GATHER) {
                    // Shutting down: what gathered is indexed before the
                    // thread ends, as when every commit was stepped at once.
                    while matches!(index.step(search_index::STEP), Ok(n) if n > 0) {}
                    return;
                }
            }
        }
    }
}

/// After a wake-up, let more commits gather for up to `max`; a search
/// (`urgent`) ends the wait at once. False: every sender has let go.
fn gather(wake: &Receiver<()>, urgent: &AtomicBool, max: Duration) -> bool {
    let until = Instant::now() + max;
    while !urgent.swap(false, Ordering::AcqRel) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Err(RecvTimeoutError::Disconnected) = wake.recv_timeout(left) {
            return false;
        }
    }
    true
}

/// Give the calling thread nice [`INDEX_NICE`] (on Linux `setpriority` on
/// a thread id sets that thread's alone); where that is refused, it runs
/// at the process's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), INDEX_NICE)
    {
        log::debug!("the indexing thread keeps its priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn commits_gather_until_the_time_is_up_and_a_search_ends_the_wait() {
        let (tx, rx) = mpsc::sync_channel(1);
        let urgent = Arc::new(AtomicBool::new(false));
        // Commits keep waking it: it still waits out the whole time.
        let waker = {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let _ = tx.try_send(());
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let t0 = Instant::now();
        assert!(gather(&rx, &urgent, Duration::from_millis(150)));
        assert!(t0.elapsed() >= Duration::from_millis(150));
        waker.join().unwrap();
        // A search: the wait ends without the time running out.
        let wake = IndexWake {
            tx: tx.clone(),
            urgent: Arc::clone(&urgent),
        };
        let search = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            wake.now();
        });
        let t0 = Instant::now();
        assert!(gather(&rx, &urgent, Duration::from_secs(30)));
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the search did not end the wait"
        );
        search.join().unwrap();
        assert!(
            !urgent.load(Ordering::Acquire),
            "the search's flag is taken"
        );
        // Every sender gone: false.
        drop(tx);
        while rx.try_recv().is_ok() {}
        let t0 = Instant::now();
        assert!(!gather(&rx, &urgent, Duration::from_secs(30)));
        assert!(t0.elapsed() < Duration::from_secs(30));
    }
}
