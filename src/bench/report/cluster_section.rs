//! Section 8 of the report: the same fan-out load on one plain server, on
//! one node with `--cluster` (its own Redis), and split over two nodes; the
//! Redis backplane's cost per message (CPU and latency added) derived from
//! the first two.

use super::*;
use crate::bench::commandstats;

/// A run against a cluster (its Redis measured, or several nodes): shown
/// here, not in the single-server fan-out section.
pub fn is_cluster(f: &FanoutResult) -> bool {
    f.backplane || f.nodes > 1
}

/// Microseconds of CPU per published message: the servers' (summed) plus,
/// for a cluster, its Redis's.
pub fn cpu_us_per_msg(f: &FanoutResult) -> Option<f64> {
    let server = f.server_cpu_s?;
    let total = server + f.redis_cpu_s.unwrap_or(0.0);
    (f.published > 0).then(|| total * 1e6 / f.published as f64)
}

/// The backplane's cost per published message: (the 1-node cluster's server
/// and Redis CPU per message) − (the plain server's CPU per message), in µs.
pub fn backplane_cost_us(plain: &FanoutResult, cluster: &FanoutResult) -> Option<f64> {
    let base = plain.server_cpu_s? * 1e6 / (plain.published.max(1) as f64);
    cpu_us_per_msg(cluster).map(|c| c - base)
}

fn label(f: &FanoutResult) -> String {
    match (f.backplane, f.nodes.max(1)) {
        (false, 1) => "1 node, no cluster".into(),
        (true, 1) => "1 node, `--cluster`".into(),
        (true, n) => format!("{n} nodes, `--cluster`"),
        (false, n) => format!("{n} servers, no cluster"),
    }
}

fn cores(cpu_s: f64, f: &FanoutResult) -> String {
    format!("{:.2}", cpu_s / f.interval_s.max(1e-9))
}

/// What one row shows, in one sentence.
fn row_sentence(
    f: &FanoutResult,
    plain: Option<&FanoutResult>,
    one: Option<&FanoutResult>,
) -> String {
    let per_msg = cpu_us_per_msg(f).map_or("–".into(), |c| format!("{c:.1} µs"));
    // ", 0.91× the plain server's and 1.10× the 1-node cluster's delivered/s".
    let vs = |others: &[(Option<&FanoutResult>, &str)]| {
        let parts: Vec<String> = others
            .iter()
            .filter_map(|(o, what)| {
                o.map(|o| {
                    format!(
                        "{:.2}× {what}'s",
                        f.delivered_per_s / o.delivered_per_s.max(1e-9)
                    )
                })
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(", {} delivered/s", parts.join(" and "))
        }
    };
    let events = f
        .redis_command_counts
        .iter()
        .find(|c| c.command == "evalsha")
        .map(|c| c.calls as f64 / f.published.max(1) as f64);
    if !f.backplane && f.nodes <= 1 {
        format!(
            "one chat-server without `--cluster`, the baseline: {} delivered at p99 {} for {per_msg} \
             of server CPU per published message.",
            rate(f.delivered_per_s),
            dur_us(f.p99_us)
        )
    } else if f.nodes <= 1 {
        format!(
            "the same single server with `--cluster` on its own Redis: every message and receipt \
             goes through the sequencing script ({} events sequenced and {} Redis commands per \
             published message) and is written out only when it comes back on the subscription, \
             {per_msg} of server and Redis CPU per message{}.",
            events.map_or("–".into(), |e| format!("{e:.2}")),
            f.redis_commands_per_msg
                .map_or("–".into(), |c| format!("{c:.1}")),
            vs(&[(plain, "the plain server")])
        )
    } else {
        format!(
            "the members split over {} nodes on one Redis: each node writes only to its own \
             members but every node applies every event, {per_msg} of CPU per message summed over \
             the nodes and Redis{}.",
            f.nodes,
            vs(&[(one, "the 1-node cluster"), (plain, "the plain server")])
        )
    }
}

pub(super) fn render_cluster(fanout: &[FanoutResult], body: &mut String) {
    let _ = writeln!(
        body,
        "\n## 8. Cluster: one node, one node with `--cluster`, two nodes\n"
    );
    let clustered: Vec<&FanoutResult> = fanout.iter().filter(|f| is_cluster(f)).collect();
    if clustered.is_empty() {
        let _ = writeln!(body, "Not run.");
        return;
    }
    let _ = writeln!(
        body,
        "The same chat fan-out load (S members, P publishers among them, W in flight each, \
         members sending delivered receipts) on: one chat-server without `--cluster` (the \
         baseline; the judged chat runs of section 1–2 when the same run made them); one node \
         with `--cluster` on a Redis of its own (`--appendonly no`); two nodes on one Redis \
         with the members (and publishers) assigned round-robin between them. Fresh nodes and \
         a fresh Redis for every run, all on this machine's cores with the load generator. \
         Server CPU is per node and summed, in cores; Redis CPU from /proc; Redis commands \
         are the `INFO commandstats` calls over the measured interval (commands a script runs \
         are counted beside its `evalsha`) per published message; CPU per message is (server \
         + Redis CPU seconds) ÷ published messages.\n"
    );
    let _ = writeln!(
        body,
        "| S | P | setup | delivered/s | p50 | p99 | server CPU per node | server CPU | Redis CPU | CPU per message | Redis commands / message | top commands / message | bench CPU | runs (delivered/s) | check |"
    );
    let _ = writeln!(
        body,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut shapes: Vec<(usize, usize, bool)> = Vec::new();
    for f in &clustered {
        if !shapes.contains(&(f.members, f.publishers, f.receipts)) {
            shapes.push((f.members, f.publishers, f.receipts));
        }
    }
    let mut sentences = String::new();
    let mut costs = String::new();
    for &(s, p, receipts) in &shapes {
        let of = |f: &&FanoutResult| {
            f.target == "chat"
                && f.variant.is_none()
                && f.members == s
                && f.publishers == p
                && f.receipts == receipts
        };
        let mut setups: Vec<(bool, usize)> = vec![(false, 1)];
        let mut more: Vec<(bool, usize)> = fanout
            .iter()
            .filter(of)
            .filter(|f| is_cluster(f))
            .map(|f| (f.backplane, f.nodes.max(1)))
            .collect();
        more.sort();
        more.dedup();
        setups.extend(more);
        let mut med: Vec<FanoutResult> = Vec::new();
        for &(bp, n) in &setups {
            let runs: Vec<&FanoutResult> = fanout
                .iter()
                .filter(of)
                .filter(|f| f.backplane == bp && f.nodes.max(1) == n)
                .collect();
            if let Some(m) = median_run(&runs) {
                let all: Vec<String> = runs.iter().map(|f| rate(f.delivered_per_s)).collect();
                write_row(body, &m, &all);
                med.push(m);
            }
        }
        let plain = med.iter().find(|f| !f.backplane && f.nodes <= 1);
        let one = med.iter().find(|f| f.backplane && f.nodes <= 1);
        for m in &med {
            let _ = writeln!(
                sentences,
                "- **S={s}, P={p}, {}**: {}",
                label(m),
                row_sentence(m, plain, one)
            );
        }
        match (plain, one) {
            (Some(pl), Some(c)) => {
                let cost = backplane_cost_us(pl, c);
                let _ = writeln!(
                    costs,
                    "- **S={s}, P={p}**: backplane cost per message = ({} server CPU + {} Redis \
                     CPU per message with `--cluster` − {} plain server CPU per message) = \
                     **{}**; latency added p50 **{}**, p99 **{}** ({} → {}, {} → {}).",
                    us_per_msg(c.server_cpu_s, c),
                    us_per_msg(c.redis_cpu_s, c),
                    us_per_msg(pl.server_cpu_s, pl),
                    cost.map_or("–".into(), |c| format!("{c:.1} µs")),
                    signed_us(c.p50_us - pl.p50_us),
                    signed_us(c.p99_us - pl.p99_us),
                    dur_us(pl.p50_us),
                    dur_us(c.p50_us),
                    dur_us(pl.p99_us),
                    dur_us(c.p99_us),
                );
            }
            (None, Some(_)) => {
                let _ = writeln!(
                    costs,
                    "- **S={s}, P={p}**: no plain server run to compare with."
                );
            }
            _ => {}
        }
        for two in med.iter().filter(|f| f.backplane && f.nodes > 1) {
            if let (Some(pl), Some(c)) = (plain, cpu_us_per_msg(two)) {
                let base = pl.server_cpu_s.unwrap_or(0.0) * 1e6 / pl.published.max(1) as f64;
                let _ = writeln!(
                    costs,
                    "- **S={s}, P={p}, {} nodes**: {:.1} µs of CPU per message summed over the \
                     nodes and Redis, {:+.1} µs against the plain server; latency p50 {}, p99 {} \
                     against it.",
                    two.nodes,
                    c,
                    c - base,
                    signed_us(two.p50_us - pl.p50_us),
                    signed_us(two.p99_us - pl.p99_us),
                );
            }
        }
    }
    let _ = writeln!(body, "\nWhat each row shows:\n");
    body.push_str(&sentences);
    let _ = writeln!(
        body,
        "\n**Backplane cost per message** = (1-node cluster's server CPU + Redis CPU − plain \
         server's CPU) ÷ published messages, each run's CPU seconds divided by its own \
         messages; latency added = the 1-node cluster's p50 and p99 − the plain server's:\n"
    );
    body.push_str(&costs);
}

fn write_row(body: &mut String, m: &FanoutResult, all: &[String]) {
    let per_node = if m.servers.len() > 1 {
        m.servers
            .iter()
            .map(|p| cores(p.cpu_s, m))
            .collect::<Vec<_>>()
            .join(" + ")
    } else {
        "–".into()
    };
    let _ = writeln!(
        body,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} cores | {} | {} |",
        m.members,
        m.publishers,
        label(m),
        rate(m.delivered_per_s),
        dur_us(m.p50_us),
        dur_us(m.p99_us),
        per_node,
        m.server_cores()
            .map_or("–".into(), |c| format!("{c:.2} cores")),
        m.redis_cores()
            .map_or("–".into(), |c| format!("{c:.2} cores")),
        cpu_us_per_msg(m).map_or("–".into(), |c| format!("{c:.1} µs")),
        m.redis_commands_per_msg
            .map_or("–".into(), |c| format!("{c:.2}")),
        if m.redis_command_counts.is_empty() {
            "–".into()
        } else {
            commandstats::breakdown(&m.redis_command_counts, m.published as f64, 6)
        },
        m.bench_cores(),
        all.join(" / "),
        check(m),
    );
}

fn us_per_msg(cpu_s: Option<f64>, f: &FanoutResult) -> String {
    cpu_s.map_or("–".into(), |c| {
        format!("{:.1} µs", c * 1e6 / f.published.max(1) as f64)
    })
}

/// "+120 µs", "−3 µs", "+1.20 ms".
fn signed_us(d: f64) -> String {
    if d < 0.0 {
        format!("−{}", dur_us(-d))
    } else {
        format!("+{}", dur_us(d))
    }
}
