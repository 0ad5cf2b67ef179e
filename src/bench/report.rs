//! bench/RESULTS.md from the JSON lines the scenarios wrote: every figure,
//! the Redis and plain-relay ratios, and the targets with whether
//! each was met. Repeated runs of a fan-out setting are summarised by their
//! median (by delivered/s), with every run listed. Fan-out runs against a
//! cluster go to their own section (8, `cluster_section`).

use super::bystander::BystanderResult;

mod bystander_section;
pub mod cluster_section;
mod fanout_section;
mod history_section;
mod transfer_section;
use super::fanout::FanoutResult;
use super::idle::IdleResult;
use super::relay::RelayResult;
use super::rtt::RttResult;
use bystander_section::render_bystander;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Issue 15's targets: server memory per idle connection (bytes), a relayed
/// transfer against the plain relay, and chat p99 beside 4 transfers
/// against idle.
const IDLE_BYTES_TARGET: f64 = 1536.0;
const RELAY_RATIO_TARGET: f64 = 0.85;
const TRANSFER_P99_TARGET: f64 = 1.5;

/// A relayed file transfer through the chat server (scenario 4), or why
/// there is none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransferResult {
    pub scenario: String,
    pub available: bool,
    /// Why not, when not available.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub mb_per_s: f64,
    #[serde(default)]
    pub server_rss_before: Option<u64>,
    #[serde(default)]
    pub server_peak_rss: Option<u64>,
    /// Largest server VmRSS sampled (every 100 ms) during the transfer.
    #[serde(default)]
    pub server_rss_max: Option<u64>,
    #[serde(default)]
    pub bench_cpu_s: f64,
    /// Chunks went as base64 JSON frames, not binary ones (a diagnostic).
    #[serde(default)]
    pub json_chunks: bool,
    /// Concurrent transfers (1 for scenario 4, 4 while measuring latency).
    #[serde(default)]
    pub transfers: u32,
    /// Every transfer completed (false for background load cancelled at the
    /// end of a measurement).
    #[serde(default)]
    pub completed: bool,
}

/// Everything read from the results file.
#[derive(Debug, Default)]
pub struct Results {
    pub fanout: Vec<FanoutResult>,
    pub idle: Vec<IdleResult>,
    pub relay: Vec<RelayResult>,
    pub transfer: Vec<TransferResult>,
    pub rtt: Vec<RttResult>,
    /// Issue 9's bystander phases, in run order.
    pub bystander: Vec<BystanderResult>,
    /// Issue 11's history database runs.
    pub history_startup: Vec<history_section::HistoryStartup>,
    pub history_write: Vec<history_section::HistoryWrite>,
    /// Lines that were not understood (reported, not fatal).
    pub unknown: Vec<String>,
}

impl Results {
    pub fn parse(text: &str) -> Results {
        let mut r = Results::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) => {
                    r.unknown.push(line.to_string());
                    continue;
                }
            };
            let kind = v.get("scenario").and_then(|s| s.as_str()).unwrap_or("");
            let ok = match kind {
                "fanout" => serde_json::from_value(v.clone()).map(|x| r.fanout.push(x)),
                "idle" => serde_json::from_value(v.clone()).map(|x| r.idle.push(x)),
                "relay" => serde_json::from_value(v.clone()).map(|x| r.relay.push(x)),
                "transfer" => serde_json::from_value(v.clone()).map(|x| r.transfer.push(x)),
                "rtt" => serde_json::from_value(v.clone()).map(|x| r.rtt.push(x)),
                "bystander" => serde_json::from_value(v.clone()).map(|x| r.bystander.push(x)),
                "history_startup" => {
                    serde_json::from_value(v.clone()).map(|x| r.history_startup.push(x))
                }
                "history_write" => {
                    serde_json::from_value(v.clone()).map(|x| r.history_write.push(x))
                }
                _ => {
                    r.unknown.push(line.to_string());
                    Ok(())
                }
            };
            if ok.is_err() {
                r.unknown.push(line.to_string());
            }
        }
        r
    }
}

/// "7.21 M/s", "453 k/s", "812 /s".
pub fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k/s", v / 1e3)
    } else {
        format!("{:.0} /s", v)
    }
}

/// Microseconds as "850 µs" or "7.1 ms".
pub fn dur_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.0} µs", us)
    }
}

pub fn bytes(b: f64) -> String {
    if b.abs() >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / 1073741824.0)
    } else if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else if b.abs() >= 1024.0 {
        format!("{:.2} KiB", b / 1024.0)
    } else {
        format!("{:.0} B", b)
    }
}

fn opt_bytes(b: Option<u64>) -> String {
    b.map_or("–".into(), |b| bytes(b as f64))
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

/// The run with the median delivered/s (the lower middle for an even count).
pub fn median_run(runs: &[&FanoutResult]) -> Option<FanoutResult> {
    let mut v: Vec<&FanoutResult> = runs.to_vec();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.delivered_per_s.total_cmp(&b.delivered_per_s));
    Some(v[(v.len() - 1) / 2].clone())
}

fn check(f: &FanoutResult) -> String {
    let mut bad = Vec::new();
    if f.lost > 0 {
        bad.push(format!("{} lost", f.lost));
    }
    if f.order_errors > 0 {
        bad.push(format!("{} out of order", f.order_errors));
    }
    if f.server_errors > 0 {
        bad.push(format!(
            "{} errors ({})",
            f.server_errors,
            f.first_error.clone().unwrap_or_default()
        ));
    }
    if bad.is_empty() {
        "ok".into()
    } else {
        bad.join(", ")
    }
}

/// Write the report. `meta` is shown as given (command, date, cores, ...).
pub fn render(res: &Results, meta: &[(String, String)]) -> String {
    let mut o = String::new();
    let mut targets: Vec<(String, String, Option<bool>)> = Vec::new();
    let mut body = String::new();
    let _ = writeln!(o, "# Benchmark results\n");
    let _ = writeln!(
        o,
        "Written by `chat-bench report` from the scenarios run by `scripts/bench.sh`. \
         Every figure below comes from the run described here; nothing is copied from \
         elsewhere.\n"
    );
    let _ = writeln!(o, "| | |\n|---|---|");
    for (k, v) in meta {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(o);

    // ---- fan-out ----
    // Cluster runs have a section of their own (8).
    let single: Vec<FanoutResult> = res
        .fanout
        .iter()
        .filter(|f| !cluster_section::is_cluster(f))
        .cloned()
        .collect();
    fanout_section::render_fanout(&single, &mut body, &mut targets);

    // ---- idle connections ----
    let _ = writeln!(body, "## 3. Idle connections\n");
    let _ = writeln!(
        body,
        "C clients log in (chat: `hello` into rooms of up to 100 members; Redis: \
         `SUBSCRIBE` to a channel per 100 clients), at most 500 logins in flight (under \
         both listen backlogs, chat-server's 1024 and Redis's 511; a burst beyond a server's \
         backlog overflows its accept queue and those clients wait out a 1 s SYN \
         retransmit), each on a fresh server. Login time runs from the first connect to the last `joined` \
         (subscribe confirmation); memory per connection is (server VmRSS with all C \
         connected and settled − VmRSS before) ÷ C.\n"
    );
    let _ = writeln!(
        body,
        "| C | server | login time | logins/s | RSS before | RSS after | per connection | bench CPU | errors |"
    );
    let _ = writeln!(body, "|---|---|---|---|---|---|---|---|---|");
    let mut idle = res.idle.clone();
    idle.sort_by(|a, b| (a.count, &a.target).cmp(&(b.count, &b.target)));
    for i in &idle {
        let _ = writeln!(
            body,
            "| {} | {} | {:.2} s | {} | {} | {} | {} | {:.2} s | {} |",
            i.count,
            i.target,
            i.login_s,
            rate(i.logins_per_s),
            opt_bytes(i.server_rss_before),
            opt_bytes(i.server_rss_after),
            i.rss_per_conn.map_or("–".into(), bytes),
            i.bench_cpu_s,
            i.server_errors
        );
    }
    let biggest = idle
        .iter()
        .filter(|i| i.target == "chat")
        .max_by_key(|i| i.count);
    match biggest {
        Some(i) => {
            targets.push((
                format!(
                    "{} connections at 1.5 KiB of server memory or less each",
                    i.count
                ),
                i.rss_per_conn.map_or("–".into(), bytes),
                i.rss_per_conn.map(|b| b <= IDLE_BYTES_TARGET),
            ));
            let redis = idle
                .iter()
                .find(|r| r.target == "redis" && r.count == i.count);
            if let Some(r) = redis {
                let ratio = i.login_s / r.login_s.max(1e-9);
                targets.push((
                    format!("{} logins at least as fast as Redis's subscribes", i.count),
                    format!("{:.2} s vs {:.2} s ({ratio:.2}×)", i.login_s, r.login_s),
                    Some(ratio <= 1.0),
                ));
            }
        }
        None => targets.push((
            "10000 connections at 1.5 KiB or less each".into(),
            "not run".into(),
            None,
        )),
    }
    let _ = writeln!(body);

    transfer_section::render_transfer(&res.relay, &res.transfer, &mut body, &mut targets);

    // ---- rtt ----
    let _ = writeln!(body, "## 5. Chat latency under transfer\n");
    let _ = writeln!(
        body,
        "Round trip: A sends a private message to B, B's client answers with the same \
         text as soon as it reads it, A times it; one round trip at a time. \
         The diagnostic beside plain relays loads the machine instead of the server: \
         a relay in chat-bench (a thread copying between two sockets, and a thread \
         driving both ends) keeps two threads busy, as the server's loop and the \
         transfers' driver are under the judged load, while the round trips go \
         through an otherwise idle server. What they lose there, the 2-core \
         machine's scheduling costs, not the server.\n"
    );
    let _ = writeln!(body, "| load | round trips | p50 | p99 | p99.9 | max |");
    let _ = writeln!(body, "|---|---|---|---|---|---|");
    for r in &res.rtt {
        let _ = writeln!(
            body,
            "| {}{} | {} | {} | {} | {} | {} |",
            r.label,
            r.variant
                .as_ref()
                .map_or(String::new(), |v| format!(" ({v})")),
            r.samples,
            dur_us(r.p50_us),
            dur_us(r.p99_us),
            dur_us(r.p999_us),
            dur_us(r.max_us)
        );
    }
    if let Some(load) = res.transfer.iter().find(|t| t.available && t.transfers > 1) {
        let _ = writeln!(
            body,
            "\nBackground load while measuring: {} transfers moved {} in {:.2} s = {:.0} MB/s \
             together (server RSS {} before, {} peak).",
            load.transfers,
            bytes(load.bytes as f64),
            load.seconds,
            load.mb_per_s,
            opt_bytes(load.server_rss_before),
            opt_bytes(load.server_peak_rss),
        );
    }
    let mut rtt_variants: Vec<Option<String>> = Vec::new();
    for r in &res.rtt {
        if !rtt_variants.contains(&r.variant) {
            rtt_variants.push(r.variant.clone());
        }
    }
    if rtt_variants.is_empty() {
        rtt_variants.push(None);
    }
    for variant in &rtt_variants {
        let of = |r: &&RttResult| &r.variant == variant;
        let idle_rtt = res.rtt.iter().filter(of).find(|r| r.label == "idle");
        let loaded = res.rtt.iter().filter(of).find(|r| r.label != "idle");
        let suffix = variant
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v}, diagnostic)"));
        match (idle_rtt, loaded) {
            (Some(i), Some(l)) => {
                let r50 = l.p50_us / i.p50_us.max(1e-9);
                let r99 = l.p99_us / i.p99_us.max(1e-9);
                let _ = writeln!(
                    body,
                    "\nWith {}{suffix}: p50 {r50:.2}× idle, p99 {r99:.2}× idle.",
                    l.label
                );
                targets.push((
                    format!("chat p99 during {} at most 1.5× idle{suffix}", l.label),
                    format!("{} vs {} ({r99:.2}×)", dur_us(l.p99_us), dur_us(i.p99_us)),
                    Some(r99 <= TRANSFER_P99_TARGET),
                ));
            }
            _ if variant.is_some() => {}
            _ => {
                let why = res
                    .transfer
                    .iter()
                    .find_map(|t| t.reason.clone())
                    .unwrap_or_else(|| "no transfer run".into());
                let _ = writeln!(
                    body,
                    "\nWith 4 concurrent transfers: **not available yet** ({why})."
                );
                targets.push((
                    "chat p99 during 4 transfers at most 1.5× idle".into(),
                    "not available yet".into(),
                    None,
                ));
            }
        }
    }
    render_bystander(&res.bystander, &mut body, &mut targets);
    history_section::render_history(
        &res.history_startup,
        &res.history_write,
        &mut body,
        &mut targets,
    );
    cluster_section::render_cluster(&res.fanout, &mut body);
    if !res.unknown.is_empty() {
        let _ = writeln!(body, "\n## Unreadable result lines\n");
        for u in &res.unknown {
            let _ = writeln!(body, "    {u}");
        }
    }

    // ---- targets, at the top ----
    let _ = writeln!(o, "## Targets (from the issue)\n");
    let _ = writeln!(o, "| target | measured | result |\n|---|---|---|");
    for (t, m, ok) in &targets {
        let verdict = match ok {
            Some(b) => yes_no(*b).to_string(),
            None => "not measured".into(),
        };
        let _ = writeln!(o, "| {t} | {m} | {verdict} |");
    }
    let _ = writeln!(o);
    o.push_str(&body);
    o
}
