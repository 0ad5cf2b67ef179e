//! The watch thread: this node's heartbeat, and the other nodes'.
//!
//! Every `heartbeat_ms` it sets `{prefix}:node:{id}` (expiring after
//! `node_ttl_ms`), adds the id to `{prefix}:nodes`, and checks the heartbeat key
//! of every other node in that set. A listed node whose key is gone is reported
//! [`Report::NodeDown`] once, until its key is seen again. After every connect it
//! waits `node_ttl_ms` before judging: while Redis was away every key may have
//! expired, and the other nodes need one heartbeat to set theirs again. A node
//! down for [`FORGET_AFTER_TTLS`] × `node_ttl_ms` is removed from the set.
//!
//! A stopped backplane does not delete its key: the others see it expire, as they
//! would after a crash.

use super::{Report, Shared, IO_TIMEOUT};
use redis::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node down this many TTLs is removed from `{prefix}:nodes`.
pub const FORGET_AFTER_TTLS: u32 = 10;

/// What this node knows of another.
#[derive(Default)]
struct Peer {
    /// Reported down (and not seen alive since).
    reported: bool,
    /// When it was reported down.
    down_since: Option<Instant>,
}

struct Watch {
    shared: Arc<Shared>,
    peers: HashMap<String, Peer>,
    /// No judging before this (set at each connect).
    judge_after: Instant,
}

/// The thread's body.
pub(super) fn run(shared: Arc<Shared>) {
    let mut w = Watch {
        shared,
        peers: HashMap::new(),
        judge_after: Instant::now(),
    };
    w.run();
}

impl Watch {
    fn run(&mut self) {
        let cfg = &self.shared.cfg;
        let period = Duration::from_millis(cfg.heartbeat_ms.max(1));
        let ttl = Duration::from_millis(cfg.node_ttl_ms.max(1));
        let shared = Arc::clone(&self.shared);
        loop {
            let Some(mut con) = shared.connect(IO_TIMEOUT, |e| {
                log::debug!("backplane watch: connecting to Redis failed: {e}");
            }) else {
                return;
            };
            self.judge_after = Instant::now() + ttl;
            loop {
                if let Err(e) = self.beat(&mut con, ttl) {
                    log::debug!("backplane watch: lost Redis: {e}");
                    break;
                }
                if !shared.sleep(period) {
                    return;
                }
            }
        }
    }

    /// One heartbeat and one look at the others.
    fn beat(&mut self, con: &mut redis::Connection, ttl: Duration) -> redis::RedisResult<()> {
        let cfg = &self.shared.cfg;
        let nodes_key = cfg.key("nodes");
        let (members,): (Value,) = redis::pipe()
            .cmd("SET")
            .arg(cfg.key(&format!("node:{}", cfg.node)))
            .arg(1)
            .arg("PX")
            .arg(cfg.node_ttl_ms.max(1))
            .ignore()
            .cmd("SADD")
            .arg(&nodes_key)
            .arg(&cfg.node)
            .ignore()
            .cmd("SMEMBERS")
            .arg(&nodes_key)
            .query(con)?;
        // Members that are not text cannot be ours: ignored.
        let members = match members {
            Value::Array(m) | Value::Set(m) => m,
            _ => Vec::new(),
        };
        let others: Vec<String> = members
            .into_iter()
            .filter_map(|m| match m {
                Value::BulkString(b) => String::from_utf8(b).ok(),
                _ => None,
            })
            .filter(|n| *n != cfg.node)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for o in &others {
            pipe.cmd("EXISTS").arg(cfg.key(&format!("node:{o}")));
        }
        let alive: Vec<Value> = pipe.query(con)?;
        let now = Instant::now();
        let mut forget = Vec::new();
        for (node, exists) in others.into_iter().zip(alive) {
            let exists = matches!(exists, Value::Int(n) if n > 0);
            let peer = self.peers.entry(node.clone()).or_default();
            if exists {
                if peer.reported {
                    log::info!("backplane: node {node} is up again");
                }
                *peer = Peer::default();
            } else if !peer.reported {
                if now >= self.judge_after {
                    log::info!("backplane: node {node} is down (its heartbeat expired)");
                    peer.reported = true;
                    peer.down_since = Some(now);
                    if !self.shared.report(Report::NodeDown { node }) {
                        return Ok(());
                    }
                }
            } else if peer
                .down_since
                .is_some_and(|t| now.duration_since(t) >= ttl * FORGET_AFTER_TTLS)
            {
                forget.push(node);
            }
        }
        if !forget.is_empty() {
            log::info!("backplane: forgetting nodes down long: {forget:?}");
            let _: Value = redis::cmd("SREM").arg(&nodes_key).arg(&forget).query(con)?;
            for node in forget {
                // Stays reported down: if it is listed again without a heartbeat, it
                // is not reported a second time.
                if let Some(p) = self.peers.get_mut(&node) {
                    p.down_since = None;
                }
            }
        }
        Ok(())
    }
}
