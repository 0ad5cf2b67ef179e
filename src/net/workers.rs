//! The effect runners beside the loop: one thread per kind of work, each
//! answering through one channel of [`Completion`]s and the loop's
//! [`Waker`].
//!
//! - `history`: the log's group commit and reads, in the order queued (a
//!   read sees every batch queued before it). Batches that queue up while
//!   it syncs share the next sync.
//! - `password-hashing`: Argon2id, tens of milliseconds a job, so it has a
//!   thread of its own and never delays a commit.
//!
//! The queues are unbounded channels, bounded by what feeds them: a turn
//! adds at most one history batch, a connection has at most
//! `core::reads::READS_PER_CONN` reads in flight, and a login at most one
//! password job.

use crate::core::accounts::AuthJob;
use crate::core::effect::{Completion, Effect, HistoryQuery, LogBatch};
use crate::store::history::HistoryLog;
use mio::Waker;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

enum HistoryJob {
    Log(LogBatch),
    Read(HistoryQuery),
}

/// The worker threads and the channel their answers come back on.
pub(super) struct Workers {
    history: Option<Sender<HistoryJob>>,
    auth: Option<Sender<AuthJob>>,
    done: Receiver<Completion>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    pub(super) fn start(log: HistoryLog, waker: Arc<Waker>) -> std::io::Result<Workers> {
        let (done_tx, done) = mpsc::channel::<Completion>();
        let (history_tx, history_rx) = mpsc::channel::<HistoryJob>();
        let (auth_tx, auth_rx) = mpsc::channel::<AuthJob>();
        let mut threads = Vec::new();
        {
            let (done, waker) = (done_tx.clone(), waker.clone());
            threads.push(
                thread::Builder::new()
                    .name("history".into())
                    .spawn(move || history_thread(log, history_rx, done, waker))?,
            );
        }
        threads.push(
            thread::Builder::new()
                .name("password-hashing".into())
                .spawn(move || {
                    for job in auth_rx {
                        if done_tx.send(Completion::Auth(job.run())).is_err() {
                            return;
                        }
                        let _ = waker.wake();
                    }
                })?,
        );
        Ok(Workers {
            history: Some(history_tx),
            auth: Some(auth_tx),
            done,
            threads,
        })
    }

    /// Hand an effect to its worker.
    pub(super) fn submit(&self, effect: Effect) {
        let sent = match effect {
            Effect::Log(b) => send(&self.history, HistoryJob::Log(b)),
            Effect::ReadHistory(q) => send(&self.history, HistoryJob::Read(q)),
            Effect::Auth(job) => send(&self.auth, job),
            Effect::Store(job) => match job {},
            Effect::SaveAccounts { .. } => true,
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
        self.auth = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.done.try_iter().collect()
    }
}

fn send<T>(tx: &Option<Sender<T>>, job: T) -> bool {
    tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
}

fn history_thread(
    mut log: HistoryLog,
    jobs: Receiver<HistoryJob>,
    done: Sender<Completion>,
    waker: Arc<Waker>,
) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match jobs.recv() {
                Ok(j) => j,
                Err(_) => return,
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
                log.write(&batches)
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
