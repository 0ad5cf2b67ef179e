//! What the fan-out run reads at both ends of its measured interval
//! ([`Reading`]): every server process's CPU and memory, the bench's own
//! CPU, and for a cluster its Redis's CPU and `INFO commandstats`; and the
//! result's figures from two readings ([`Reading::fill`]).

use super::super::commandstats::{self, Stats};
use super::super::procfs;
use super::config::{FanoutConfig, FanoutResult, ServerProc};

/// One moment's readings.
#[derive(Debug, Clone, Default)]
pub(super) struct Reading {
    servers: Vec<procfs::Sample>,
    me: f64,
    redis: Option<procfs::Sample>,
    commands: Option<Stats>,
}

impl Reading {
    /// Read everything `cfg` asks to measure, now. Only `INFO commandstats`
    /// can fail (Redis unreachable): the run's figures would be incomplete.
    pub(super) fn take(cfg: &FanoutConfig) -> Result<Reading, String> {
        let servers = cfg.pids().into_iter().map(|p| procfs::sample(Some(p)));
        let commands = match cfg.redis_addr {
            Some(a) => Some(commandstats::fetch(a)?),
            None => None,
        };
        Ok(Reading {
            servers: servers.collect(),
            me: procfs::cpu_seconds(None).unwrap_or(0.0),
            redis: cfg.redis_pid.map(|p| procfs::sample(Some(p))),
            commands,
        })
    }

    /// Set `r`'s CPU, memory and Redis figures from `self` (start of the
    /// interval) and `end`; `r.published` must be set already.
    pub(super) fn fill(&self, end: &Reading, cfg: &FanoutConfig, r: &mut FanoutResult) {
        let pids = cfg.pids();
        r.servers = pids
            .iter()
            .zip(self.servers.iter().zip(&end.servers))
            .map(|(&pid, (a, b))| ServerProc {
                pid,
                cpu_s: (b.cpu_s - a.cpu_s).max(0.0),
                peak_rss: b.peak_rss,
                rss: b.rss,
            })
            .collect();
        let any = !r.servers.is_empty();
        r.server_cpu_s = any.then(|| r.servers.iter().map(|s| s.cpu_s).sum());
        r.server_peak_rss = any.then(|| r.servers.iter().map(|s| s.peak_rss).sum());
        r.server_rss = any.then(|| r.servers.iter().map(|s| s.rss).sum());
        r.bench_cpu_s = (end.me - self.me).max(0.0);
        r.nodes = cfg.nodes();
        r.backplane = cfg.backplane();
        r.redis_cpu_s = match (&self.redis, &end.redis) {
            (Some(a), Some(b)) => Some((b.cpu_s - a.cpu_s).max(0.0)),
            _ => None,
        };
        if let (Some(a), Some(b)) = (&self.commands, &end.commands) {
            let counts = commandstats::delta(a, b);
            let total = commandstats::total_calls(&counts);
            r.redis_commands = Some(total);
            r.redis_commands_per_msg = (r.published > 0).then(|| total as f64 / r.published as f64);
            r.redis_command_counts = counts;
        }
    }
}
