//! Password hashing off the event loop: one worker thread runs the core's
//! [`AuthJob`]s (Argon2id, tens of milliseconds each) and sends each
//! [`AuthDone`] back through a channel, waking the loop with a mio
//! [`Waker`]. The loop never waits for it: a login whose password is being
//! checked simply has no answer yet, and everyone else carries on.
//!
//! Also here: opening `DATA_DIR/accounts.json` for the core.

use super::{ServerConfig, ServerError};
use crate::core::accounts::{AuthDone, AuthJob};
use crate::core::Core;
use crate::store::accounts::AccountFile;
use mio::Waker;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;

/// The hashing thread and its two channels.
pub(super) struct AuthWorker {
    jobs: Option<Sender<AuthJob>>,
    done: Receiver<AuthDone>,
    thread: Option<thread::JoinHandle<()>>,
}

impl AuthWorker {
    /// `waker` is the loop's one waker (mio allows one per poll), shared
    /// with the history writer.
    pub(super) fn start(waker: Arc<Waker>) -> std::io::Result<AuthWorker> {
        let (job_tx, job_rx) = mpsc::channel::<AuthJob>();
        let (done_tx, done_rx) = mpsc::channel::<AuthDone>();
        let thread = thread::Builder::new()
            .name("password-hashing".into())
            .spawn(move || {
                for job in job_rx {
                    if done_tx.send(job.run()).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(AuthWorker {
            jobs: Some(job_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }

    /// Hand the core's new jobs to the thread.
    pub(super) fn submit(&self, core: &mut Core) {
        let Some(tx) = &self.jobs else { return };
        for job in core.take_auth_jobs() {
            if tx.send(job).is_err() {
                log::error!("the password hashing thread is gone");
            }
        }
    }

    /// Give the core every finished job.
    pub(super) fn collect(&self, core: &mut Core, now: crate::core::Now) {
        while let Ok(done) = self.done.try_recv() {
            core.auth_done(done, now);
        }
    }
}

impl Drop for AuthWorker {
    fn drop(&mut self) {
        self.jobs = None; // ends the thread's loop once its job is done
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Open `DATA_DIR/accounts.json` and hand it to the core.
pub(super) fn attach_accounts(cfg: &ServerConfig, core: &mut Core) -> Result<(), ServerError> {
    let (file, accounts) =
        AccountFile::open(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            path: cfg.data_dir.join(crate::store::accounts::FILE),
            source,
        })?;
    log::info!("accounts: {} registered name(s)", accounts.len());
    core.set_accounts(Some(Box::new(file)), accounts);
    Ok(())
}
