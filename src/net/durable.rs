//! Group commit for the history log.
//!
//! The event loop never waits for the disk. Each turn, the records the core
//! appended go as one batch to a writer thread, which writes it (with any
//! batches that queued up meanwhile) and calls `fdatasync` once, then wakes
//! the loop. The turn's output (acks, deliveries, receipts) is held back
//! until its batch is durable, and output of later turns waits behind it so
//! every connection still sees frames in order. So an acknowledged or
//! delivered message is on disk, while the loop keeps reading, deciding and
//! writing other work during the sync: throughput is no longer one turn per
//! fsync.

use crate::core::{ConnId, Core, Output};
use crate::store::journal::Batch;
use mio::Waker;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

type Out = Vec<(ConnId, Output)>;

pub struct GroupCommit {
    tx: Option<Sender<Batch>>,
    done: Receiver<u64>,
    thread: Option<JoinHandle<()>>,
    /// Output waiting for a batch (`Some(seq)`) or just for what is ahead of
    /// it (`None`), oldest first.
    held: VecDeque<(Option<u64>, Out)>,
    /// Highest batch the writer confirmed.
    durable: u64,
}

impl GroupCommit {
    /// Start the writer thread on `file` (the log, opened for appending).
    pub fn start(file: File, waker: Arc<Waker>) -> std::io::Result<GroupCommit> {
        let (tx, rx) = mpsc::channel::<Batch>();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || writer(file, rx, done_tx, waker))?;
        Ok(GroupCommit {
            tx: Some(tx),
            done,
            thread: Some(thread),
            held: VecDeque::new(),
            durable: 0,
        })
    }

    /// This turn's `out`, produced along with `batch` (if it appended
    /// records). Returns what can be delivered now.
    pub fn admit(&mut self, batch: Option<Batch>, out: Out) -> Out {
        match batch {
            Some(b) => {
                let seq = b.seq;
                let sent = self.tx.as_ref().is_some_and(|tx| tx.send(b).is_ok());
                if !sent {
                    log::error!("the history writer is gone; batch {seq} is not on disk");
                    self.durable = self.durable.max(seq);
                }
                self.held.push_back((Some(seq), out));
                if sent {
                    Vec::new()
                } else {
                    self.release()
                }
            }
            None if self.held.is_empty() => out,
            None => {
                if !out.is_empty() {
                    self.held.push_back((None, out));
                }
                Vec::new()
            }
        }
    }

    /// The writer woke us: record what is durable, return what may go out.
    pub fn on_done(&mut self, core: &mut Core) -> Out {
        while let Ok(seq) = self.done.try_recv() {
            self.durable = self.durable.max(seq);
            core.log_batch_done(seq);
        }
        self.release()
    }

    fn release(&mut self) -> Out {
        let mut out = Vec::new();
        while let Some((seq, _)) = self.held.front() {
            if seq.is_some_and(|s| s > self.durable) {
                break;
            }
            if let Some((_, mut o)) = self.held.pop_front() {
                out.append(&mut o);
            }
        }
        out
    }

    /// Stop the writer after it has written everything sent; return all held output.
    pub fn finish(&mut self, core: &mut Core) -> Out {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let out = self.on_done(core);
        let mut rest: Out = out;
        for (_, mut o) in self.held.drain(..) {
            rest.append(&mut o);
        }
        rest
    }
}

fn writer(mut file: File, rx: Receiver<Batch>, done: Sender<u64>, waker: Arc<Waker>) {
    let mut failing = false;
    while let Ok(b) = rx.recv() {
        let mut last = b.seq;
        let mut res = file.write_all(&b.bytes);
        // Batches that queued while we wrote share this sync.
        while let Ok(more) = rx.try_recv() {
            if res.is_ok() {
                res = file.write_all(&more.bytes);
            }
            last = more.seq;
        }
        if res.is_ok() {
            res = file.sync_data();
        }
        match res {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    log::error!(
                        "cannot write the history log: {e}; messages may be lost on restart"
                    );
                }
                failing = true;
            }
        }
        if done.send(last).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}
