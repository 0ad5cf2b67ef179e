//! What a run is told: the loads ([`Load`], `--loads`), sizes as
//! chat-server spells them ([`parse_size`]) and the [`BystanderConfig`].

use crate::bench::fanout::unique_tag;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest frame the server accepts by default (`--max-frame`).
pub const SERVER_MAX_FRAME: usize = crate::protocol::DEFAULT_MAX_FRAME;

/// One attacker load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Receipts,
    Receipts4,
    Resumes,
    Hello,
    Neighbour,
    History,
}

impl Load {
    pub const ALL: [Load; 6] = [
        Load::Receipts,
        Load::Receipts4,
        Load::Resumes,
        Load::Hello,
        Load::Neighbour,
        Load::History,
    ];

    /// The name used in `--loads` and in the JSON line.
    pub fn key(self) -> &'static str {
        match self {
            Load::Receipts => "receipts",
            Load::Receipts4 => "receipts4",
            Load::Resumes => "resumes",
            Load::Hello => "hello",
            Load::Neighbour => "neighbour",
            Load::History => "history",
        }
    }

    /// A comma-separated list of [`Load::key`]s (or `all`), in the order
    /// given, without repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Load>, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: Vec<Load> = if part == "all" {
                Load::ALL.to_vec()
            } else {
                match Load::ALL.into_iter().find(|l| l.key() == part) {
                    Some(l) => vec![l],
                    None => {
                        let keys: Vec<&str> = Load::ALL.iter().map(|l| l.key()).collect();
                        return Err(format!(
                            "unknown load {part:?}: use {} or all",
                            keys.join(", ")
                        ));
                    }
                }
            };
            for l in add {
                if !v.contains(&l) {
                    v.push(l);
                }
            }
        }
        if v.is_empty() {
            return Err("no load given".into());
        }
        Ok(v)
    }
}

pub use crate::size::parse_size;

#[derive(Debug, Clone)]
pub struct BystanderConfig {
    pub addr: SocketAddr,
    pub server_pid: Option<u32>,
    pub loads: Vec<Load>,
    /// Time between two of the bystander's pings.
    pub ping_interval: Duration,
    /// Length of the idle baseline.
    pub idle: Duration,
    /// Fixed-work loads repeat until they have loaded the server this long.
    pub min_load: Duration,
    /// Length of the timed loads (neighbour, history).
    pub load_time: Duration,
    /// A load still unfinished this long after it began is abandoned.
    pub phase_timeout: Duration,
    /// Messages in the big room (receipts, history).
    pub room_messages: usize,
    /// Message text size in bytes.
    pub msg_size: usize,
    /// Size of the stored file (resumes).
    pub file_size: u64,
    /// Downloads resumed with a wrong prefix per round.
    pub resumes: usize,
    /// Room names in the huge `hello`.
    pub resume_rooms: usize,
    /// Publishers in the neighbouring room.
    pub neighbours: usize,
    /// History requests in flight.
    pub history_window: usize,
    /// Messages per history page.
    pub history_limit: u32,
    /// Largest frame the server takes (the huge `hello` must fit).
    pub max_frame: usize,
    pub variant: Option<String>,
    pub tag: String,
}

impl BystanderConfig {
    pub fn new(addr: SocketAddr) -> Self {
        BystanderConfig {
            addr,
            server_pid: None,
            loads: Load::ALL.to_vec(),
            ping_interval: Duration::from_millis(2),
            idle: Duration::from_secs(3),
            min_load: Duration::from_secs(2),
            load_time: Duration::from_secs(3),
            phase_timeout: Duration::from_secs(60),
            room_messages: 2000,
            msg_size: 100,
            file_size: 500 << 20,
            resumes: 10,
            resume_rooms: 110_000,
            neighbours: 8,
            history_window: 8,
            history_limit: 500,
            max_frame: SERVER_MAX_FRAME,
            variant: None,
            tag: unique_tag("y"),
        }
    }
}
