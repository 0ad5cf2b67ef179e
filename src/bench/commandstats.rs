//! Redis's own count of the commands it ran: `INFO commandstats` read over a
//! RESP connection ([`fetch`]), parsed ([`parse`]), and two readings turned
//! into what ran between them ([`delta`]), for the cluster's backplane cost
//! per message.
//!
//! Commands a Lua script runs (`redis.call('INCR', ...)`) are counted under
//! their own names as well as the `EVALSHA` that ran them, so a sequenced
//! event shows as one `evalsha` plus the `hget`, `incr`, `xadd`, `hset` and
//! `publish` inside it. The reading's own `INFO` is left out of the delta.

use super::resp::{self, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One command's counters in one reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub calls: u64,
    /// Microseconds Redis spent in the command.
    pub usec: u64,
}

/// Command name (lower case, e.g. `evalsha`, `client|setname`) to counters.
pub type Stats = BTreeMap<String, Stat>;

/// What one command did between two readings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandCount {
    pub command: String,
    pub calls: u64,
    pub usec: u64,
}

/// The `cmdstat_NAME:calls=N,usec=U,...` lines of an `INFO commandstats`
/// reply; other lines (`# Commandstats`, blanks) are skipped, and so is a
/// line without a readable `calls`.
pub fn parse(text: &str) -> Stats {
    let mut out = Stats::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, fields)) = rest.split_once(':') else {
            continue;
        };
        let mut stat = Stat::default();
        let mut have_calls = false;
        for kv in fields.split(',') {
            match kv.split_once('=') {
                Some(("calls", v)) => match v.parse() {
                    Ok(n) => {
                        stat.calls = n;
                        have_calls = true;
                    }
                    Err(_) => break,
                },
                Some(("usec", v)) => stat.usec = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        if have_calls {
            out.insert(name.to_ascii_lowercase(), stat);
        }
    }
    out
}

/// What ran between `before` and `after`, most calls first (ties by name),
/// commands that did not run left out. One `info` call is taken off: the
/// reading `before` was itself an `INFO`, counted in `after`.
pub fn delta(before: &Stats, after: &Stats) -> Vec<CommandCount> {
    let mut out: Vec<CommandCount> = after
        .iter()
        .map(|(name, a)| {
            let b = before.get(name).copied().unwrap_or_default();
            let mut calls = a.calls.saturating_sub(b.calls);
            if name == "info" {
                calls = calls.saturating_sub(1);
            }
            CommandCount {
                command: name.clone(),
                calls,
                usec: a.usec.saturating_sub(b.usec),
            }
        })
        .filter(|c| c.calls > 0)
        .collect();
    out.sort_by(|x, y| y.calls.cmp(&x.calls).then(x.command.cmp(&y.command)));
    out
}

/// Total calls in a delta.
pub fn total_calls(counts: &[CommandCount]) -> u64 {
    counts.iter().map(|c| c.calls).sum()
}

/// "evalsha 1.00, hget 1.00, incr 1.00": the first `top` commands' calls
/// per `per` (e.g. per published message).
pub fn breakdown(counts: &[CommandCount], per: f64, top: usize) -> String {
    counts
        .iter()
        .take(top)
        .map(|c| format!("{} {:.2}", c.command, c.calls as f64 / per.max(1e-9)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read `INFO commandstats` from the Redis at `addr` (a new connection,
/// closed after the reply; 5 s deadline).
pub fn fetch(addr: SocketAddr) -> Result<Stats, String> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect to Redis {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_nodelay(true);
    s.write_all(&resp::command(&[b"INFO", b"commandstats"]))
        .map_err(|e| format!("INFO to Redis {addr}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match resp::parse(&buf).map_err(|e| e.to_string())? {
            Some((Reply::Bulk(Some(text)), _)) => return Ok(parse(&String::from_utf8_lossy(text))),
            Some((Reply::Error(e), _)) => {
                return Err(format!("Redis {addr}: {}", String::from_utf8_lossy(e)))
            }
            Some((other, _)) => return Err(format!("Redis {addr}: unexpected reply {other:?}")),
            None => {}
        }
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("read from Redis {addr}: {e}"))?;
        if n == 0 {
            return Err(format!("Redis {addr} closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
