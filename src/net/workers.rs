//! The effect runners beside the loop: one thread per kind of work, each
//! answering through one channel of [`Completion`]s and the loop's
//! [`Waker`].
//!
//! - `history`: the database's group commit and reads, in the order queued
//!   (a read sees every batch queued before it). Batches that queue up
//!   while it commits share the next transaction. When it has had
//!   nothing to do for [`PRUNE_IDLE`], it applies retention one step at a
//!   time (each step deletes at most `store::history::PRUNE_STEP`
//!   messages), so a batch waits behind one step at most. After each commit
//!   or retention step it wakes `search-index`.
//! - `search-index` (`indexer`): adds committed messages to the search
//!   index, its own file (`store::search_index`), at most
//!   `search_index::STEP` a step, commits gathered for up to a second
//!   unless a search waits, and takes out what retention deleted. Indexing
//!   costs more than storing; on a thread of its own it never holds up a
//!   commit, and it runs at a lower priority than the loop (nice
//!   `indexer::INDEX_NICE`), so on a busy
//!   machine it lags rather than slowing chat; with less than
//!   `search_index::MIN_FREE` free on the disk it waits, so the history
//!   keeps the room.
//! - `search`: full-text searches on a read-only connection of its own
//!   (WAL: it reads while the history thread writes), so a search never
//!   delays a commit; one search per connection is in flight at a time. A
//!   search that finds the index damaged wakes `search-index`, which
//!   rebuilds it.
//! - `password-hashing`: Argon2id, tens of milliseconds a job, so it has a
//!   thread of its own and never delays a commit. It also saves the
//!   accounts file (see [`AuthWork`] for why there).
//! - `store`: the shared file store's jobs (upload writes and commits,
//!   download chunk reads, prefix hashes), in the order queued. A prefix
//!   hash reads up to a whole stored file, so the store has a thread of its
//!   own: it never delays a history commit or a login.
//!
//! The queues are unbounded channels, bounded by what feeds them: a turn
//! adds at most one history batch, a connection has at most
//! `core::reads::READS_PER_CONN` reads in flight, a login at most one
//! password job, the core at most one accounts save; an upload's writes
//! are bounded by its credit window, a download has at most one chunk read
//! and one prefix hash in flight (and a user at most
//! `core::transfer_store::HASHES_PER_USER` hashes).
//!
//! `Server::bind` opens the database, the store and the accounts file, gives the
//! core what it keeps in memory, and hands the files to [`Workers::start`].

use crate::core::accounts::AuthJob;
use crate::core::effect::{Completion, Effect, HistoryQuery, LogBatch, SearchQuery};
use crate::core::store_ops::StoreJob;
use crate::store::accounts::{Account, AccountFile};
use crate::store::files::{DiskStore, StoreError};
use crate::store::history::HistoryDb;
use crate::store::search::Searcher;
use crate::store::search_index::SearchIndex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::indexer::{index_thread, IndexWake};

/// Idle time after which the history thread takes a retention step.
pub(super) const PRUNE_IDLE: Duration = Duration::from_millis(200);
/// Time between retention checks when the last one found nothing to do.
const PRUNE_CHECK: Duration = Duration::from_secs(60);
use mio::Waker;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// The password thread's work. Accounts saves run here rather than on the
/// store thread: the store thread may spend seconds hashing a big file's
/// prefix, and a registration must not wait behind that; here a save waits
/// at most behind the logins' Argon2 jobs (tens of ms each, one per login
/// in flight), and a registration's save follows its own hash anyway.
enum AuthWork {
    Hash(AuthJob),
    Save {
        ticket: u64,
        accounts: BTreeMap<String, Account>,
    },
}

enum HistoryJob {
    Log(LogBatch),
    Read(HistoryQuery),
}

/// The worker threads and the channel their answers come back on.
pub(super) struct Workers {
    history: Option<Sender<HistoryJob>>,
    search: Option<Sender<SearchQuery>>,
    auth: Option<Sender<AuthWork>>,
    store: Option<Sender<StoreJob>>,
    /// Stops a prefix hash under way at shutdown.
    store_stop: Option<Arc<AtomicBool>>,
    done: Receiver<Completion>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start the workers. Without a store, store jobs fail; without an
    /// accounts file, saves do.
    pub(super) fn start(
        log: HistoryDb,
        index: SearchIndex,
        searcher: Searcher,
        store: Option<DiskStore>,
        accounts: Option<AccountFile>,
        waker: Arc<Waker>,
    ) -> std::io::Result<Workers> {
        let (done_tx, done) = mpsc::channel::<Completion>();
        let (history_tx, history_rx) = mpsc::channel::<HistoryJob>();
        let (search_tx, search_rx) = mpsc::channel::<SearchQuery>();
        let (auth_tx, auth_rx) = mpsc::channel::<AuthWork>();
        let (store_tx, store_rx) = mpsc::channel::<StoreJob>();
        let store_stop = store.as_ref().map(DiskStore::stop_flag);
        // One wake-up waiting is enough: the indexer reads what is stored.
        let (index_tx, index_rx) = mpsc::sync_channel::<()>(1);
        let urgent = Arc::new(AtomicBool::new(false));
        let search_wakes_index = IndexWake {
            tx: index_tx.clone(),
            urgent: Arc::clone(&urgent),
        };
        let indexer = thread::Builder::new()
            .name("search-index".into())
            .spawn(move || index_thread(index, index_rx, urgent))?;
        let mut threads = Vec::new();
        {
            let (done, waker) = (done_tx.clone(), waker.clone());
            let indexer = Indexer {
                wake: index_tx,
                thread: indexer,
            };
            threads.push(
                thread::Builder::new()
                    .name("history".into())
                    .spawn(move || history_thread(log, history_rx, done, waker, indexer))?,
            );
        }

        {
            let (done, waker) = (done_tx.clone(), waker.clone());
            threads.push(
                thread::Builder::new()
                    .name("search".into())
                    .spawn(move || {
                        search_thread(searcher, search_rx, done, waker, search_wakes_index)
                    })?,
            );
        }
        {
            let (done, waker) = (done_tx.clone(), waker.clone());
            threads.push(
                thread::Builder::new()
                    .name("store".into())
                    .spawn(move || store_thread(store, store_rx, done, waker))?,
            );
        }
        threads.push(
            thread::Builder::new()
                .name("password-hashing".into())
                .spawn(move || auth_thread(accounts, auth_rx, done_tx, waker))?,
        );
        Ok(Workers {
            history: Some(history_tx),
            search: Some(search_tx),
            auth: Some(auth_tx),
            store: Some(store_tx),
            store_stop,
            done,
            threads,
        })
    }

    /// Hand an effect to its worker.
    pub(super) fn submit(&self, effect: Effect) {
        let sent = match effect {
            Effect::Log(b) => send(&self.history, HistoryJob::Log(b)),
            Effect::ReadHistory(q) => send(&self.history, HistoryJob::Read(q)),
            Effect::Search(q) => send(&self.search, q),
            Effect::Auth(job) => send(&self.auth, AuthWork::Hash(job)),
            Effect::Store(job) => send(&self.store, job),
            Effect::SaveAccounts { ticket, accounts } => {
                send(&self.auth, AuthWork::Save { ticket, accounts })
            }
            // The shell hands these to the backplane (see `net::cluster`).
            Effect::Publish { .. } | Effect::Forward { .. } => false,
        };
        if !sent {
            log::error!("a worker thread is gone; an effect was not run");
        }
    }

    /// Answers that have come back, without waiting.
    pub(super) fn try_done(&self) -> Option<Completion> {
        self.done.try_recv().ok()
    }

    /// Stop taking work, let the threads finish what they have, and return
    /// every answer (the server is shutting down: this waits).
    pub(super) fn finish(&mut self) -> Vec<Completion> {
        self.history = None;
        self.search = None;
        self.auth = None;
        self.store = None;
        if let Some(stop) = &self.store_stop {
            stop.store(true, Ordering::Relaxed);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.done.try_iter().collect()
    }
}

fn send<T>(tx: &Option<Sender<T>>, job: T) -> bool {
    tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
}

/// The indexing thread, as the history thread holds it.
struct Indexer {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
}

/// Run the history worker until the loop lets go of its queue; then stop
/// the indexer and checkpoint the WAL into the database file, so the
/// database is whole in `history.db` once the server has exited (the
/// indexer's read connection, had it closed last, could not have).
fn history_thread(
    mut log: HistoryDb,
    jobs: Receiver<HistoryJob>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
    indexer: Indexer,
) {
    history_loop(&mut log, jobs, done, waker, &indexer.wake);
    drop(indexer.wake);
    let _ = indexer.thread.join();
    if let Err(e) = log.checkpoint() {
        log::warn!("the history database's final checkpoint failed: {e}");
    }
}

fn history_loop(
    log: &mut HistoryDb,
    jobs: Receiver<HistoryJob>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
    index: &SyncSender<()>,
) {
    let mut next = None;
    let mut prune_wait = PRUNE_IDLE;
    let (mut batches_done, mut transactions) = (0u64, 0u64);
    let said = |b: u64, t: u64| {
        log::info!("history worker: {b} batch(es) committed in {t} transaction(s)");
    };
    // (messages may wait from an earlier run)
    let _ = index.try_send(());
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match jobs.recv_timeout(prune_wait) {
                Ok(j) => {
                    prune_wait = prune_wait.min(PRUNE_IDLE);
                    j
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    prune_wait = match prune(log) {
                        Some(through) => {
                            let _ = done.send(Completion::Pruned { through });
                            let _ = waker.wake();
                            let _ = index.try_send(());
                            Duration::ZERO // more may be due: go on when idle
                        }
                        None => PRUNE_CHECK,
                    };
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return said(batches_done, transactions)
                }
            },
        };
        let answers = match job {
            HistoryJob::Log(first) => {
                // Batches queued meanwhile share this sync; a read stops
                // the run (it must see them all, and goes next).
                let mut batches = vec![first];
                while let Ok(j) = jobs.try_recv() {
                    match j {
                        HistoryJob::Log(b) => batches.push(b),
                        read => {
                            next = Some(read);
                            break;
                        }
                    }
                }
                batches_done += batches.len() as u64;
                transactions += 1;
                let answers = log.write(&batches);
                // (full: a wake-up is already waiting)
                let _ = index.try_send(());
                answers
            }
            HistoryJob::Read(q) => {
                // Each page goes back as soon as it is read.
                log.read(&q, |p| {
                    let _ = done.send(Completion::HistoryPage(p));
                    let _ = waker.wake();
                });
                Vec::new()
            }
        };
        for a in answers {
            if done.send(a).is_err() {
                return;
            }
        }
        let _ = waker.wake();
    }
}

/// One retention step now; the highest id it removed.
fn prune(log: &mut HistoryDb) -> Option<u64> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    match log.prune_step(now_ms) {
        Ok(through) => {
            if let Some(id) = through {
                log::info!("history retention: removed messages up to id {id}");
            }
            through
        }
        Err(e) => {
            log::error!("history retention step failed: {e}");
            None
        }
    }
}

fn search_thread(
    mut searcher: Searcher,
    jobs: Receiver<SearchQuery>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
    index: IndexWake,
) {
    for q in jobs {
        // The search waits for the index to reach what was sent before
        // it: the indexer stops gathering commits and steps now.
        index.now();
        if done.send(Completion::Search(searcher.run(&q))).is_err() {
            return;
        }
        if searcher.damage_reported() {
            // The indexer rebuilds it at its next step: now.
            index.now();
        }
        let _ = waker.wake();
    }
}

fn auth_thread(
    accounts: Option<AccountFile>,
    jobs: Receiver<AuthWork>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
) {
    for work in jobs {
        let answer = match work {
            AuthWork::Hash(job) => Completion::Auth(job.run()),
            AuthWork::Save {
                ticket,
                accounts: map,
            } => {
                let result = match &accounts {
                    Some(file) => file.save(&map).map_err(|e| e.to_string()),
                    None => Err("this server has no accounts file".to_string()),
                };
                Completion::AccountsSaved { ticket, result }
            }
        };
        if done.send(answer).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

fn store_thread(
    mut store: Option<DiskStore>,
    jobs: Receiver<StoreJob>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
) {
    for job in jobs {
        let answer = match store.as_mut() {
            Some(s) => s.run(job),
            None => job.refuse(StoreError::Io("this server has no file store".into())),
        };
        let Some(answer) = answer else {
            continue;
        };
        if done.send(Completion::Store(answer)).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}
