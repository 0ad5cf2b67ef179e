//! The shell's side of a cluster: the Redis backplane beside the loop.
//!
//! The core's [`Effect::Publish`] goes to the backplane's bounded queue (a
//! refusal goes straight back to the core), and whatever the backplane
//! reports (events in sequence order, Redis lost or back, a node down)
//! reaches the core as a completion on the loop's next wake. Nothing here
//! waits for Redis.

use crate::cluster::backplane::{Backplane, BackplaneConfig, Report};
use crate::cluster::event::Input;
use crate::core::effect::Completion;
use crate::core::{ConnId, Core, Now};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `--cluster` and its companions.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// This node's id (default: host name and process id).
    pub node: Option<String>,
    /// Events held while Redis is slow or away, at most.
    pub max_queue: usize,
    /// Events Redis keeps in its stream for nodes that were down or start
    /// late (about 300 bytes of Redis memory each for short messages).
    pub keep_events: u64,
    /// A node whose heartbeat is this old is down (its users leave); this
    /// node heartbeats five times as often.
    pub node_timeout_ms: u64,
}

/// Longest node id; its characters are letters, digits, `.`, `_` and `-`.
pub const MAX_NODE_ID: usize = 64;

/// Check a node id: the error is a sentence.
pub fn check_node_id(id: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_NODE_ID || !id.chars().all(ok) {
        return Err(format!(
            "a node id is 1 to {MAX_NODE_ID} letters, digits, '.', '_' or '-' (got {:?})",
            id.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

/// The default node id: this host's name and the process id.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(40)
        .collect();
    let host = if host.is_empty() { "node".into() } else { host };
    format!("{host}-{}", std::process::id())
}

/// The backplane, as the loop uses it.
pub(super) struct ClusterLink {
    bp: Backplane,
}

impl ClusterLink {
    /// Join `core` to the cluster and start the backplane. Events after the
    /// newest message this node stored are read back first (a node that
    /// was down catches up; a new one copies the history Redis keeps).
    pub fn start(cfg: &ClusterConfig, core: &mut Core, waker: Arc<mio::Waker>, now: Now) -> Self {
        let node = cfg.node.clone().unwrap_or_else(default_node_id);
        let bp_cfg = BackplaneConfig {
            url: cfg.url.clone(),
            node: node.clone(),
            max_queue: cfg.max_queue,
            node_ttl_ms: cfg.node_timeout_ms,
            stream_maxlen: cfg.keep_events,
            heartbeat_ms: (cfg.node_timeout_ms / 5).max(50),
            ..BackplaneConfig::default()
        };
        let from = core.last_id();
        log::info!(
            "cluster: node {node} joining through {} (reading back events after {from})",
            crate::core::logsafe::Safe(&cfg.url)
        );
        let bp = Backplane::start(bp_cfg, waker, Some(from));
        core.join_cluster(&node, now);
        ClusterLink { bp }
    }

    /// Queue `payload` for the sequence; a refusal goes back to the core.
    pub fn publish(&mut self, core: &mut Core, conn: ConnId, payload: String, now: Now) {
        if let Err(r) = self.bp.publish(payload) {
            let input = Input::Refused {
                conn,
                reason: r.to_string(),
            };
            core.complete(now, Completion::Cluster(input));
        }
    }

    /// Send `payload` to `node` directly (a transfer's frames); if the
    /// backplane's queue is full it is dropped, and said so.
    pub fn forward(&mut self, node: &str, payload: String) {
        if let Err(r) = self.bp.send_to(node, payload) {
            log::warn!("cluster: a message for node {node} was dropped: {r}");
        }
    }

    /// Hand what the backplane reported to the core, at most `budget`
    /// reports; true if more may be waiting.
    pub fn collect(&mut self, core: &mut Core, now: Now, budget: usize) -> bool {
        for _ in 0..budget {
            let Some(r) = self.bp.try_recv() else {
                return false;
            };
            let input = match r {
                Report::Up { seq } => Input::Up { seq },
                Report::Down { reason } => Input::Down { reason },
                Report::Event { seq, payload } => Input::Event { seq, payload },
                Report::Skipped { from, to } => Input::Skipped { from, to },
                Report::NodeDown { node } => Input::NodeDown { node },
                Report::Direct { payload } => Input::Direct { payload },
            };
            core.complete(now, Completion::Cluster(input));
        }
        true
    }

    /// At shutdown: give the backplane up to `limit` to pass on what is
    /// queued (this node's users leaving), then stop it.
    pub fn finish(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.bp.backlog().0 > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.bp.stop();
    }
}
