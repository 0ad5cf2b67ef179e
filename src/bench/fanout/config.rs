//! What a fan-out run is asked to do ([`FanoutConfig`]) and what it reports
//! ([`FanoutResult`]); the run itself is in the parent module. Also the
//! command line's lists of server addresses and pids ([`parse_addrs`],
//! [`parse_pids`]).

use crate::bench::commandstats::CommandCount;
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Which server a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Chat,
    Redis,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Chat => "chat",
            Target::Redis => "redis",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" => Ok(Target::Chat),
            "redis" => Ok(Target::Redis),
            _ => Err(format!("unknown target {s:?}: use chat or redis")),
        }
    }
}

/// A short name unique within this process, for rooms and user names.
pub fn unique_tag(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Largest frame the bench accepts from a server.
pub const MAX_FRAME: usize = 64 << 20;

/// `A,B,...`: one or more server addresses (`HOST:PORT`, a host name
/// resolved to its first address), in the order given.
pub fn parse_addrs(s: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("empty address in the list {s:?}"));
        }
        let addr = part
            .to_socket_addrs()
            .ok()
            .and_then(|mut i| i.next())
            .ok_or_else(|| format!("bad address {part}"))?;
        out.push(addr);
    }
    Ok(out)
}

/// `P1,P2,...`: one or more process ids, in the order given.
pub fn parse_pids(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(str::trim)
        .map(|p| match p.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("bad pid {p:?} in {s:?}")),
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub target: Target,
    /// The server (the first of [`FanoutConfig::addrs`] when there are
    /// several).
    pub addr: SocketAddr,
    /// Several servers (cluster nodes): connection `i` (members, and the
    /// publishers among them) goes to `addrs[i % addrs.len()]`. Empty: every
    /// connection goes to `addr`.
    pub addrs: Vec<SocketAddr>,
    /// S: receiving members.
    pub members: usize,
    /// P: publishers.
    pub publishers: usize,
    /// W: messages in flight per publisher.
    pub window: usize,
    /// Message (text / payload) size in bytes, at least [`wire::STAMP_LEN`].
    pub size: usize,
    /// Counted run: this many messages per publisher. `None`: timed run.
    pub messages: Option<u64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long to wait for the last deliveries after publishing stops.
    pub drain_timeout: Duration,
    /// How long connecting and logging in may take.
    pub setup_timeout: Duration,
    /// Logins (or SUBSCRIBEs) in progress at once during setup.
    pub max_connecting: usize,
    /// The server's process, for CPU and memory figures.
    pub server_pid: Option<u32>,
    /// Several server processes (cluster nodes), each reported and their
    /// figures summed; when empty, `server_pid` alone.
    pub server_pids: Vec<u32>,
    /// The cluster's Redis (chat with `--cluster`): its process for its CPU
    /// seconds, its address for `INFO commandstats` read at both ends of
    /// the measured interval.
    pub redis_pid: Option<u32>,
    pub redis_addr: Option<SocketAddr>,
    /// Room / channel name, and prefix of user names.
    pub tag: String,
    /// Chat only: every member connects as a browser does, over the
    /// WebSocket at `/ws` (one text message per frame).
    pub websocket: bool,
    /// Chat only: every member answers each batch of frames it read that
    /// brought new messages with one cumulative `delivered` receipt for the
    /// room (`up_to` the newest id read), at most one per
    /// `client::receipts::DELIVERED_EVERY`, as chat-client does. On by default;
    /// off gives the receipt-free workload (readers only read). Redis has no
    /// equivalent: its subscribers only read either way.
    pub receipts: bool,
}

impl FanoutConfig {
    pub fn new(target: Target, addr: SocketAddr, members: usize, publishers: usize) -> Self {
        FanoutConfig {
            target,
            addr,
            addrs: Vec::new(),
            members,
            publishers,
            window: 32,
            size: 100,
            messages: None,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            setup_timeout: Duration::from_secs(60),
            max_connecting: 100,
            server_pid: None,
            server_pids: Vec::new(),
            redis_pid: None,
            redis_addr: None,
            tag: unique_tag("f"),
            websocket: false,
            receipts: true,
        }
    }

    /// Where connection `i` goes.
    pub fn addr_of(&self, i: usize) -> SocketAddr {
        if self.addrs.is_empty() {
            self.addr
        } else {
            self.addrs[i % self.addrs.len()]
        }
    }

    /// How many servers the connections are spread over.
    pub fn nodes(&self) -> usize {
        self.addrs.len().max(1)
    }

    /// The server processes measured.
    pub fn pids(&self) -> Vec<u32> {
        if self.server_pids.is_empty() {
            self.server_pid.into_iter().collect()
        } else {
            self.server_pids.clone()
        }
    }

    /// Whether the run measures a cluster's Redis.
    pub fn backplane(&self) -> bool {
        self.redis_pid.is_some() || self.redis_addr.is_some()
    }
}

/// One server process's figures over the measured interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerProc {
    pub pid: u32,
    pub cpu_s: f64,
    pub peak_rss: u64,
    pub rss: u64,
}

fn one() -> usize {
    1
}

/// Everything one fan-out run measured. Times in microseconds unless named
/// otherwise; rates per second.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FanoutResult {
    pub scenario: String,
    pub target: String,
    /// A diagnostic run's difference from the plain setup (e.g. "history on
    /// tmpfs"); `None` for the figures the targets are judged on.
    #[serde(default)]
    pub variant: Option<String>,
    pub members: usize,
    pub publishers: usize,
    pub window: usize,
    pub size: usize,
    /// "timed" or "counted".
    pub mode: String,
    /// Seconds the rates and CPU figures cover.
    pub interval_s: f64,
    pub published: u64,
    pub delivered: u64,
    pub published_per_s: f64,
    pub delivered_per_s: f64,
    pub latency_samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Over the whole run (warm-up and drain included).
    pub total_published: u64,
    pub total_delivered: u64,
    /// Deliveries the acks / PUBLISH replies announced.
    pub expected_delivered: u64,
    /// Published messages never acknowledged, plus announced deliveries that
    /// never arrived (0 in a sound run).
    pub lost: u64,
    /// Messages a member saw out of sequence, repeated or after a gap.
    pub order_errors: u64,
    /// Error frames / replies from the server, and the first one.
    pub server_errors: u64,
    pub first_error: Option<String>,
    pub setup_s: f64,
    pub server_cpu_s: Option<f64>,
    pub server_peak_rss: Option<u64>,
    pub server_rss: Option<u64>,
    pub bench_cpu_s: f64,
    /// Chat members sent `delivered` receipts (false for Redis, for a
    /// receipt-free chat run, and in results from before receipts existed).
    #[serde(default)]
    pub receipts: bool,
    /// `delivered` receipts the members sent in the interval (the server's
    /// inbound receipt load), and their rate.
    #[serde(default)]
    pub receipts_sent: u64,
    #[serde(default)]
    pub receipts_per_s: f64,
    /// Over the whole run.
    #[serde(default)]
    pub total_receipts_sent: u64,
    /// `receipts` frames the server sent the publishers (authors) in the
    /// whole run: its answer to the members' receipts.
    #[serde(default)]
    pub receipt_frames_received: u64,
    /// Servers the connections were spread over, round-robin (cluster
    /// nodes); 1 for a single server and in older results.
    #[serde(default = "one")]
    pub nodes: usize,
    /// Every measured server process (`--pid`, one or several), in the
    /// order given; `server_cpu_s`, `server_peak_rss` and `server_rss` are
    /// their sums.
    #[serde(default)]
    pub servers: Vec<ServerProc>,
    /// The chat servers ran as a cluster and the run measured their Redis
    /// (`--redis-pid`, `--redis-addr`).
    #[serde(default)]
    pub backplane: bool,
    /// The cluster's Redis: CPU seconds over the interval, commands it ran
    /// (its own `INFO` readings left out), per published message, and by
    /// command, most calls first.
    #[serde(default)]
    pub redis_cpu_s: Option<f64>,
    #[serde(default)]
    pub redis_commands: Option<u64>,
    #[serde(default)]
    pub redis_commands_per_msg: Option<f64>,
    #[serde(default)]
    pub redis_command_counts: Vec<CommandCount>,
}

impl FanoutResult {
    /// Server CPU in cores (CPU seconds per second of the interval).
    pub fn server_cores(&self) -> Option<f64> {
        self.server_cpu_s.map(|c| c / self.interval_s.max(1e-9))
    }

    pub fn bench_cores(&self) -> f64 {
        self.bench_cpu_s / self.interval_s.max(1e-9)
    }

    /// The cluster's Redis CPU in cores.
    pub fn redis_cores(&self) -> Option<f64> {
        self.redis_cpu_s.map(|c| c / self.interval_s.max(1e-9))
    }

    /// The backplane's part of the summary line ("" without one), and the
    /// per-node CPU when there are several servers.
    fn cluster_summary(&self) -> String {
        let mut s = String::new();
        if self.servers.len() > 1 {
            let per: Vec<String> = self
                .servers
                .iter()
                .map(|p| format!("{:.2}", p.cpu_s / self.interval_s.max(1e-9)))
                .collect();
            s.push_str(&format!(
                "; {} nodes, server CPU per process {} cores",
                self.nodes,
                per.join(" + ")
            ));
        }
        if let Some(c) = self.redis_cores() {
            s.push_str(&format!("; Redis CPU {c:.2} cores"));
        }
        if let Some(per) = self.redis_commands_per_msg {
            s.push_str(&format!(
                "; Redis commands {per:.2} per message ({})",
                crate::bench::commandstats::breakdown(
                    &self.redis_command_counts,
                    self.published as f64,
                    6
                )
            ));
        }
        s
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "fanout {}{} S={} P={} W={}: published {:.0}/s, delivered {:.0}/s, {}latency p50 {:.0} us p99 {:.0} us p99.9 {:.0} us max {:.0} us; server CPU {} peak RSS {}; bench CPU {:.2} cores; lost {} order errors {} server errors {}{}",
            self.target,
            self.variant
                .as_ref()
                .map_or(String::new(), |v| format!(" ({v})")),
            self.members,
            self.publishers,
            self.window,
            self.published_per_s,
            self.delivered_per_s,
            if self.receipts {
                format!("delivered receipts sent {:.0}/s, ", self.receipts_per_s)
            } else {
                "no receipts, ".to_string()
            },
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.server_cores()
                .map_or("?".into(), |c| format!("{:.2} cores", c)),
            self.server_peak_rss
                .map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
            self.bench_cores(),
            self.lost,
            self.order_errors,
            self.server_errors,
            self.cluster_summary(),
        )
    }
}
