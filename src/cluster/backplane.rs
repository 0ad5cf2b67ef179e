//! The Redis backplane worker (a stand-in with the final API until the
//! worker lands: it never connects, so every payload waits).

use std::sync::Arc;

/// Where Redis is and the backplane's bounds.
#[derive(Debug, Clone)]
pub struct BackplaneConfig {
    pub url: String,
    pub node: String,
    pub prefix: String,
    pub max_queue: usize,
    pub max_queue_bytes: usize,
    pub stream_maxlen: u64,
    pub heartbeat_ms: u64,
    pub node_ttl_ms: u64,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            url: "redis://127.0.0.1:6379".into(),
            node: String::new(),
            prefix: "chat".into(),
            max_queue: 10_000,
            max_queue_bytes: 16 << 20,
            stream_maxlen: 1_000_000,
            heartbeat_ms: 1000,
            node_ttl_ms: 5000,
        }
    }
}

/// Why a payload was not queued.
#[derive(Debug, Clone)]
pub struct Refused {
    pub reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What the backplane reports.
#[derive(Debug, Clone)]
pub enum Report {
    Up { seq: u64 },
    Down { reason: String },
    Event { seq: u64, payload: String },
    Skipped { from: u64, to: u64 },
    NodeDown { node: String },
}

/// The worker threads.
pub struct Backplane {
    queued: Vec<String>,
}

impl Backplane {
    pub fn start(
        _cfg: BackplaneConfig,
        _waker: Arc<mio::Waker>,
        _from_seq: Option<u64>,
    ) -> Backplane {
        Backplane { queued: Vec::new() }
    }

    pub fn publish(&mut self, payload: String) -> Result<(), Refused> {
        self.queued.push(payload);
        Ok(())
    }

    pub fn try_recv(&self) -> Option<Report> {
        None
    }

    pub fn backlog(&self) -> (usize, usize) {
        (self.queued.len(), 0)
    }

    pub fn stop(&mut self) {}
}
