//! The publish thread: queued payloads through the sequencing script, pipelined.
//!
//! Payloads wait in `pending` (oldest first) until a script reply confirms them.
//! Each gets a ticket when first sent; a resend keeps it, so the script can tell a
//! payload that ran (its reply lost with the connection) from one that did not.
//! Tickets are sent in increasing order, each naming the one sent before it
//! (`prev`): the script refuses a ticket whose predecessor has not run, so one
//! failed script in a pipeline cannot let a later one raise the mark over it.
//!
//! Nothing is sent before the feed thread has first connected and fixed where
//! its delivery starts (otherwise this node could miss its own first events).
//!
//! On every connect the thread loads the script, raises `{prefix}:seq` to the
//! floor, and reads this node's mark in `{prefix}:tickets`: pending payloads with
//! tickets at or below it ran and are confirmed; new tickets start above it.

use super::{as_u64, Shared, BACKOFF_MAX, BACKOFF_MIN, IO_TIMEOUT, PIPELINE, SEQUENCE_LUA};
use redis::Value;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How long the thread waits for a payload before checking for stop.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How often the thread looks whether the feed has started, before its first send.
const FEED_WAIT: Duration = Duration::from_millis(10);

/// A payload waiting for its script reply.
struct Pending {
    /// 0 until first sent.
    ticket: u64,
    payload: String,
}

/// The thread's state across connections.
struct Publisher {
    shared: Arc<Shared>,
    script: redis::Script,
    rx: Receiver<String>,
    pending: VecDeque<Pending>,
    /// The next ticket to give.
    next_ticket: u64,
    /// The last ticket known to have run (the `prev` of the next one sent).
    last_run: u64,
    /// False once the loop's end of the queue is gone (the backplane stopped).
    open: bool,
}

/// The thread's body.
pub(super) fn run(shared: Arc<Shared>, rx: Receiver<String>) {
    let mut p = Publisher {
        shared,
        script: redis::Script::new(SEQUENCE_LUA),
        rx,
        pending: VecDeque::new(),
        next_ticket: 1,
        last_run: 0,
        open: true,
    };
    p.run();
}

impl Publisher {
    fn run(&mut self) {
        let mut delay = BACKOFF_MIN;
        while !self.shared.stopping() && self.open {
            let Some(mut con) = self.shared.connect(IO_TIMEOUT, |e| {
                log::debug!("backplane publish: connecting to Redis failed: {e}");
            }) else {
                break;
            };
            if let Err(e) = self.on_connect(&mut con) {
                log::warn!("backplane publish: setting up the connection failed: {e}");
                if !self.shared.sleep(delay) {
                    break;
                }
                delay = (delay * 2).min(BACKOFF_MAX);
                continue;
            }
            delay = BACKOFF_MIN;
            log::debug!(
                "backplane publish: connected, next ticket {}",
                self.next_ticket
            );
            match self.serve(&mut con) {
                Ok(()) => break,
                Err(e) => {
                    log::info!(
                        "backplane publish: lost Redis ({e}); {} payloads held",
                        self.pending.len()
                    );
                    if !self.shared.sleep(BACKOFF_MIN) {
                        break;
                    }
                }
            }
        }
        // Whatever is left is dropped (Backplane::stop zeroes the backlog).
    }

    /// Load the script, raise the counter, read the mark; confirm what ran.
    fn on_connect(&mut self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        self.script.load(con)?;
        let seq = self.shared.raise(con)?;
        self.shared.saw(seq);
        let mark: Value = redis::cmd("HGET")
            .arg(self.shared.cfg.key("tickets"))
            .arg(&self.shared.cfg.node)
            .query(con)?;
        let mark = match mark {
            Value::Nil => 0,
            v => as_u64(&v).unwrap_or(0),
        };
        let mut done = (0, 0);
        while let Some(front) = self.pending.front() {
            if front.ticket == 0 || front.ticket > mark {
                break;
            }
            done.0 += 1;
            done.1 += front.payload.len();
            self.pending.pop_front();
        }
        if done.0 > 0 {
            log::debug!(
                "backplane publish: {} resent payloads had run before the connection was lost",
                done.0
            );
            self.shared.release(done.0, done.1);
        }
        self.next_ticket = self.next_ticket.max(mark + 1);
        self.last_run = mark;
        Ok(())
    }

    /// Send payloads until stopped (Ok) or the connection fails (Err).
    fn serve(&mut self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        let mut error_delay = BACKOFF_MIN;
        loop {
            if self.shared.stopping() || !self.fill() {
                return Ok(());
            }
            if self.pending.is_empty() {
                continue;
            }
            if !self.shared.feed_started.load(Ordering::Acquire) {
                // Until the feed knows where it starts, an event sequenced now
                // could be before it: this node would miss its own event.
                if !self.shared.sleep(FEED_WAIT) {
                    return Ok(());
                }
                continue;
            }
            match self.send_batch(con)? {
                BatchEnd::AllDone => error_delay = BACKOFF_MIN,
                BatchEnd::NoScript => {
                    log::info!("backplane publish: Redis lost the script; loading it again");
                    self.script.load(con)?;
                }
                BatchEnd::Failed(msg) => {
                    log::warn!(
                        "backplane publish: the sequencing script failed ({msg}); retrying in {error_delay:?}"
                    );
                    if !self.shared.sleep(error_delay) {
                        return Ok(());
                    }
                    error_delay = (error_delay * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Move payloads from the loop's queue to `pending` (waiting up to [`IDLE_WAIT`]
    /// when there are none). False once stopped.
    fn fill(&mut self) -> bool {
        if self.pending.is_empty() {
            match self.rx.recv_timeout(IDLE_WAIT) {
                Ok(payload) => self.pending.push_back(Pending { ticket: 0, payload }),
                Err(RecvTimeoutError::Timeout) => return !self.shared.stopping(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.open = false;
                    return false;
                }
            }
        }
        while self.pending.len() < PIPELINE {
            match self.rx.try_recv() {
                Ok(payload) => self.pending.push_back(Pending { ticket: 0, payload }),
                Err(_) => break,
            }
        }
        true
    }

    /// One pipeline of up to [`PIPELINE`] payloads from the front of `pending`.
    fn send_batch(&mut self, con: &mut redis::Connection) -> redis::RedisResult<BatchEnd> {
        let cfg = &self.shared.cfg;
        let (seq_key, events_key, tickets_key) =
            (cfg.key("seq"), cfg.key("events"), cfg.key("tickets"));
        let floor = self.shared.floor();
        let n = self.pending.len().min(PIPELINE);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut prev = self.last_run;
        for item in self.pending.iter_mut().take(n) {
            if item.ticket == 0 {
                item.ticket = self.next_ticket;
                self.next_ticket += 1;
            }
            pipe.cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(3)
                .arg(&seq_key)
                .arg(&events_key)
                .arg(&tickets_key)
                .arg(&cfg.node)
                .arg(item.ticket)
                .arg(prev)
                .arg(floor)
                .arg(cfg.stream_maxlen)
                .arg(&item.payload);
            prev = item.ticket;
        }
        let replies: Vec<Value> = pipe.query(con)?;
        let mut done = (0, 0);
        let mut end = BatchEnd::AllDone;
        for reply in replies.iter().take(n) {
            match reply {
                Value::ServerError(e) if e.code() == "NOSCRIPT" => {
                    end = BatchEnd::NoScript;
                    break;
                }
                Value::ServerError(e) => {
                    end = BatchEnd::Failed(format!("{} {}", e.code(), e.details().unwrap_or("")));
                    break;
                }
                v => {
                    // A number: the sequence number, or 0 (the ticket had run).
                    // Anything else cannot come from the script; take it as run.
                    match as_u64(v) {
                        Some(seq) => self.shared.saw(seq),
                        None => log::warn!("backplane publish: unexpected script reply {v:?}"),
                    }
                    let Some(item) = self.pending.pop_front() else {
                        break;
                    };
                    self.last_run = item.ticket;
                    done.0 += 1;
                    done.1 += item.payload.len();
                }
            }
        }
        if done.0 < n && matches!(end, BatchEnd::AllDone) {
            // Fewer replies than commands: the connection is not to be trusted.
            self.shared.release(done.0, done.1);
            return Err(redis::RedisError::from(std::io::Error::other(
                "fewer pipeline replies than commands",
            )));
        }
        self.shared.release(done.0, done.1);
        Ok(end)
    }
}

/// How a pipeline ended.
enum BatchEnd {
    /// Every payload sent was confirmed.
    AllDone,
    /// The script was not loaded (Redis restarted between connect and send):
    /// load it and resend.
    NoScript,
    /// A script failed (e.g. Redis out of memory); the rest were not run. Resend
    /// after a pause.
    Failed(String),
}
