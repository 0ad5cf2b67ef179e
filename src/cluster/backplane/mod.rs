//! The Redis backplane: worker threads between the mio loop and Redis.
//!
//! The loop hands payloads to [`Backplane::publish`] and drains [`Report`]s with
//! [`Backplane::try_recv`] after each wake; neither ever blocks. Three threads
//! do the talking, each on its own connection(s), reconnecting with backoff
//! (100 ms doubling to 2 s):
//!
//! - [`publish`]: sends queued payloads through the sequencing script
//!   (`sequence.lua`), pipelined, up to [`PIPELINE`] per round trip.
//! - [`feed`]: subscribes to `{prefix}:events` and delivers every sequenced
//!   event once, in order, reading gaps back from the `{prefix}:events`
//!   stream. Its connection decides [`Report::Up`] and [`Report::Down`].
//! - [`direct`]: messages to one other node (`PUBLISH {prefix}:node:{id}:direct`),
//!   not sequenced: a transfer's frames between the nodes of its two ends.
//! - [`watch`]: the heartbeat (`{prefix}:node:{id}`, `{prefix}:nodes`) and the
//!   watch on the other nodes' heartbeats ([`Report::NodeDown`]).
//!
//! # Keys (all under `cfg.prefix`)
//! - `{prefix}:seq`: the cluster's sequence counter.
//! - `{prefix}:events`: the stream of events (entry id `<seq>-0`, field `p`),
//!   trimmed to about `stream_maxlen`; also the pub/sub channel, whose
//!   messages are `"<seq> <payload>"`.
//! - `{prefix}:tickets`: a hash, field = node id, value = the highest ticket of
//!   that node the script has run. Each payload gets a ticket (1, 2, 3, ...
//!   per node); the script skips a ticket at or below the mark, so a payload
//!   whose reply was lost is not sequenced twice when resent. The field is the
//!   node id alone (not node and run id): on every connect the publish thread
//!   reads the mark and numbers new payloads above it, so a restarted process
//!   continues where its previous run stopped and the hash holds one field per
//!   node. Two processes running with the same node id at once are not
//!   supported (their heartbeats would be confused as well).
//! - `{prefix}:node:{id}`: a node's heartbeat, expiring after `node_ttl_ms`.
//! - `{prefix}:nodes`: the set of node ids seen.
//!
//! # The floor
//! Every thread raises a shared *floor*, the highest sequence number this
//! node has seen (event delivered, script reply, counter read at connect). The
//! script never hands out a number at or below the floor it is given, and
//! every connect raises `{prefix}:seq` to the floor (`raise.lua`), so a Redis
//! that restarts without its data never makes the sequence go backwards.
//! Events sequenced by the lost Redis and not yet delivered are gone; the
//! feed reports them as [`Report::Skipped`] when it sees a later number.

mod direct;
mod feed;
mod publish;
mod watch;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Payloads sent per pipeline (one round trip).
pub const PIPELINE: usize = 256;
/// Reports held for the loop before the worker threads wait for it to drain them.
const REPORT_QUEUE: usize = 65_536;
/// Connect timeout of every connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read and write timeout of the command connections: a Redis silent this long is
/// taken as lost (the connection is dropped and made again).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// First retry delay after a failed connect; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long [`Backplane::stop`] waits for the threads before leaving them to finish alone.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The sequencing script (see the file for its keys and arguments).
const SEQUENCE_LUA: &str = include_str!("sequence.lua");
/// Raise `{prefix}:seq` to the floor and return it.
const RAISE_LUA: &str = include_str!("raise.lua");

/// Where and how to reach the cluster.
#[derive(Clone, Debug)]
pub struct BackplaneConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// This node's id (unique in the cluster).
    pub node: String,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// Payloads held while Redis is slow or unreachable.
    pub max_queue: usize,
    /// Bytes of the payloads held.
    pub max_queue_bytes: usize,
    /// Events kept in the stream (`XADD MAXLEN ~`).
    pub stream_maxlen: u64,
    /// Heartbeat period.
    pub heartbeat_ms: u64,
    /// A node whose heartbeat key is gone this long is down (the key's TTL).
    pub node_ttl_ms: u64,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            url: "redis://127.0.0.1:6379".into(),
            node: "node".into(),
            prefix: "chat".into(),
            max_queue: 10_000,
            max_queue_bytes: 16 << 20,
            stream_maxlen: 1_000_000,
            heartbeat_ms: 1000,
            node_ttl_ms: 5000,
        }
    }
}

impl BackplaneConfig {
    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// The pub/sub channel of messages sent straight to `node`.
    fn direct_channel(&self, node: &str) -> String {
        format!("{}:node:{node}:direct", self.prefix)
    }
}

/// [`Backplane::publish`] refused a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why, as a sentence.
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refused {}

/// What the backplane tells the loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Connected (first time or again); `seq` is the cluster's sequence number then.
    /// Events after it follow; events up to it not yet delivered come first.
    Up { seq: u64 },
    /// Lost Redis (or could not connect); payloads are held (bounded) and retried.
    Down { reason: String },
    /// One sequenced event, in strictly increasing `seq` order, each exactly once.
    Event { seq: u64, payload: String },
    /// Sequence numbers from..=to could not be read back (trimmed from the stream, lost
    /// by Redis, or never used): skipped.
    Skipped { from: u64, to: u64 },
    /// Another node's heartbeat key expired: that node is down. Reported once per down
    /// transition.
    NodeDown { node: String },
    /// A message another node sent this one directly ([`Backplane::send_to`]): not
    /// sequenced, at most once, in the order that node sent them.
    Direct { payload: String },
}

/// What the threads share.
struct Shared {
    cfg: BackplaneConfig,
    client: redis::Client,
    /// Set by [`Backplane::stop`]; `stop_cv` wakes the threads' sleeps.
    stop: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    /// The highest sequence number this node has seen.
    floor: AtomicU64,
    /// Set by the feed once it knows where it starts: the publish thread sends
    /// nothing before, so this node's own events are never before its start.
    feed_started: AtomicBool,
    /// Payloads queued and not yet confirmed: (count, bytes).
    backlog: Mutex<(usize, usize)>,
    reports: SyncSender<Report>,
    waker: Arc<mio::Waker>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleep `d`, or less if stopping; returns false when stopping.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut guard = self.stop_lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .stop_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Hand a report to the loop and wake it. Waits (checking for stop) while the loop
    /// has [`REPORT_QUEUE`] reports undrained; false when stopping or the loop is gone.
    fn report(&self, mut r: Report) -> bool {
        loop {
            match self.reports.try_send(r) {
                Ok(()) => {
                    if let Err(e) = self.waker.wake() {
                        log::warn!("backplane: waking the loop failed: {e}");
                    }
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    r = back;
                    if !self.sleep(Duration::from_millis(5)) {
                        return false;
                    }
                }
            }
        }
    }

    /// Raise the floor to `seq`.
    fn saw(&self, seq: u64) {
        self.floor.fetch_max(seq, Ordering::AcqRel);
    }

    fn floor(&self) -> u64 {
        self.floor.load(Ordering::Acquire)
    }

    /// `n` payloads of `bytes` bytes in all left the backlog.
    fn release(&self, n: usize, bytes: usize) {
        let mut b = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        b.0 = b.0.saturating_sub(n);
        b.1 = b.1.saturating_sub(bytes);
    }

    /// Connect, retrying with backoff until it works or the backplane stops (None).
    /// `failed` is called after each failed attempt.
    fn connect(
        &self,
        read_timeout: Duration,
        mut failed: impl FnMut(&redis::RedisError),
    ) -> Option<redis::Connection> {
        let mut delay = BACKOFF_MIN;
        loop {
            if self.stopping() {
                return None;
            }
            let made = self
                .client
                .get_connection_with_timeout(CONNECT_TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(read_timeout))?;
                    c.set_write_timeout(Some(IO_TIMEOUT))?;
                    Ok(c)
                });
            match made {
                Ok(c) => return Some(c),
                Err(e) => {
                    failed(&e);
                    if !self.sleep(delay) {
                        return None;
                    }
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Raise `{prefix}:seq` to the floor; returns the counter.
    fn raise(&self, con: &mut redis::Connection) -> redis::RedisResult<u64> {
        redis::Script::new(RAISE_LUA)
            .key(self.cfg.key("seq"))
            .arg(self.floor())
            .invoke(con)
    }
}

/// The backplane: its threads and the loop's ends of their queues.
pub struct Backplane {
    shared: Arc<Shared>,
    /// Payloads for the publish thread (bounded by `shared.backlog`, checked in
    /// [`Backplane::publish`]). None once stopped.
    payloads: Option<Sender<String>>,
    /// Messages for other nodes (see [`Backplane::send_to`]).
    direct: Option<SyncSender<(String, String)>>,
    reports: Receiver<Report>,
    threads: Vec<JoinHandle<()>>,
}

impl Backplane {
    /// Start the threads; returns at once (connects in the background, retrying with
    /// backoff 100 ms doubling to 2 s).
    /// `from_seq`: deliver events after this sequence number (read back from the stream
    /// first); None: only events after the sequence number current when it first connects.
    ///
    /// A `url` the `redis` crate cannot parse is reported as [`Report::Down`] and nothing
    /// else happens (publish then fills the queue and refuses).
    pub fn start(cfg: BackplaneConfig, waker: Arc<mio::Waker>, from_seq: Option<u64>) -> Backplane {
        let (report_tx, reports) = mpsc::sync_channel(REPORT_QUEUE);
        let (payload_tx, payload_rx) = mpsc::channel();
        // TCP_NODELAY: a pipeline's scripts or a PUBLISH must not wait for
        // the previous segment's ACK (redis-rs leaves Nagle on by default).
        let info = redis::IntoConnectionInfo::into_connection_info(cfg.url.as_str())
            .map(|i| i.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)));
        let client = match info.and_then(redis::Client::open) {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("bad Redis URL {:?}: {e}", cfg.url);
                log::error!("backplane: {reason}");
                let _ = report_tx.try_send(Report::Down { reason });
                let _ = waker.wake();
                // A client that never connects: the threads are not started.
                return Backplane {
                    shared: Arc::new(Shared::new(cfg, None, report_tx, waker)),
                    payloads: Some(payload_tx),
                    direct: None,
                    reports,
                    threads: Vec::new(),
                };
            }
        };
        let shared = Arc::new(Shared::new(cfg, Some(client), report_tx, waker));
        shared.saw(from_seq.unwrap_or(0));
        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(spawn("bp-publish", move || publish::run(s, payload_rx)));
        let s = Arc::clone(&shared);
        threads.push(spawn("bp-feed", move || feed::run(s, from_seq)));
        let s = Arc::clone(&shared);
        threads.push(spawn("bp-watch", move || watch::run(s)));
        let (direct_tx, direct_rx) = mpsc::sync_channel(direct::QUEUE);
        let s = Arc::clone(&shared);
        threads.push(spawn("bp-direct", move || direct::run(s, direct_rx)));
        Backplane {
            shared,
            payloads: Some(payload_tx),
            direct: Some(direct_tx),
            reports,
            threads,
        }
    }

    /// Queue a payload for sequencing. Never blocks. Err(Refused) when the queue bound
    /// (count or bytes) is reached.
    pub fn publish(&self, payload: String) -> Result<(), Refused> {
        let cfg = &self.shared.cfg;
        let Some(tx) = &self.payloads else {
            return Err(Refused {
                reason: "The backplane is stopped.".into(),
            });
        };
        let mut b = self
            .shared
            .backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if b.0 >= cfg.max_queue {
            return Err(Refused {
                reason: format!(
                    "The backplane already holds {} payloads waiting for Redis (the limit).",
                    b.0
                ),
            });
        }
        if b.1 + payload.len() > cfg.max_queue_bytes {
            return Err(Refused {
                reason: format!(
                    "The backplane holds {} bytes waiting for Redis; {} more would pass the limit of {}.",
                    b.1,
                    payload.len(),
                    cfg.max_queue_bytes
                ),
            });
        }
        let len = payload.len();
        if tx.send(payload).is_err() {
            return Err(Refused {
                reason: "The backplane's publish thread has ended.".into(),
            });
        }
        b.0 += 1;
        b.1 += len;
        Ok(())
    }

    /// Send `payload` straight to `node` (PUBLISH on its own channel), not
    /// sequenced: at most once, in order per sender. Never blocks; refused
    /// when [`direct::QUEUE`] messages already wait (Redis slow or away).
    pub fn send_to(&self, node: &str, payload: String) -> Result<(), Refused> {
        let Some(tx) = &self.direct else {
            return Err(Refused {
                reason: "The backplane is stopped.".into(),
            });
        };
        match tx.try_send((node.to_string(), payload)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Refused {
                reason: format!(
                    "{} messages for other nodes already wait for Redis (the limit).",
                    direct::QUEUE
                ),
            }),
            Err(TrySendError::Disconnected(_)) => Err(Refused {
                reason: "The backplane's direct thread has ended.".into(),
            }),
        }
    }

    /// The next report, if any (the loop drains this after each wake).
    pub fn try_recv(&self) -> Option<Report> {
        self.reports.try_recv().ok()
    }

    /// Payloads queued and not yet confirmed by Redis (count, bytes).
    pub fn backlog(&self) -> (usize, usize) {
        *self
            .shared
            .backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Stop the threads (best effort; also on Drop). Unsequenced payloads are dropped.
    /// Waits up to a few seconds for the threads (one may be in a Redis call), then
    /// leaves them to end alone.
    pub fn stop(&mut self) {
        self.direct = None;
        if self.payloads.take().is_none() && self.threads.is_empty() {
            return;
        }
        {
            let _g = self
                .shared
                .stop_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.shared.stop.store(true, Ordering::Release);
            self.shared.stop_cv.notify_all();
        }
        let deadline = Instant::now() + STOP_WAIT;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            } else {
                log::warn!("backplane: a worker thread did not stop within {STOP_WAIT:?}");
            }
        }
        let mut b = self
            .shared
            .backlog
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *b = (0, 0);
    }
}

impl Drop for Backplane {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn new(
        cfg: BackplaneConfig,
        client: Option<redis::Client>,
        reports: SyncSender<Report>,
        waker: Arc<mio::Waker>,
    ) -> Shared {
        // A client for an unparsable URL is never used (no thread starts); any valid
        // one stands in.
        let client = client.unwrap_or_else(|| {
            redis::Client::open("redis://127.0.0.1:1").expect("a constant, valid Redis URL")
        });
        Shared {
            cfg,
            client,
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            floor: AtomicU64::new(0),
            feed_started: AtomicBool::new(false),
            backlog: Mutex::new((0, 0)),
            reports,
            waker,
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap_or_else(|e| panic!("spawning the backplane thread {name}: {e}"))
}

/// A reply as a number, if it is one (integer or decimal string).
fn as_u64(v: &redis::Value) -> Option<u64> {
    match v {
        redis::Value::Int(n) => u64::try_from(*n).ok(),
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        redis::Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}
