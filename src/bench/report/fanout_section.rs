//! Sections 1–2 of the report: fan-out against chat and Redis, the median
//! of each shape's runs, the ratios the targets are judged on, and the
//! diagnostic variants of the chat runs (history on tmpfs, WebSocket,
//! without receipts) beside them.

use super::*;

/// What the chat rows' members sent back, in the report's words: they send
/// `delivered` receipts as chat-client does (results from before receipts
/// were part of the workload say they did not).
fn receipts_note(fanout: &[FanoutResult]) -> String {
    let judged: Vec<&FanoutResult> = fanout
        .iter()
        .filter(|f| f.target == "chat" && f.variant.is_none())
        .collect();
    let with = judged.iter().filter(|f| f.receipts).count();
    let how = "answer each batch of frames they read that brought new messages with one \
               cumulative `delivered` receipt for the room (`up_to` the newest message id \
               read), at most one per 200 ms (what arrives meanwhile is acknowledged when \
               that pause ends), as chat-client does, and the server tells the authors \
               (`receipts` frames to the publishers)";
    let judged_says = if with == judged.len() {
        format!("Chat members, publishers included, {how}.")
    } else if with == 0 {
        "Chat members in the judged rows sent **no receipts** (results from before \
         receipts were part of the workload): they only read."
            .to_string()
    } else {
        format!(
            "In {with} of the {} judged chat runs members {how}; in the others they sent none.",
            judged.len()
        )
    };
    format!(
        "{judged_says} `receipts/s` is how many they sent: the server's inbound receipt \
         load (– where none were sent). Redis has no equivalent: its subscribers only read."
    )
}

/// The `receipts/s` cell of a run.
fn receipts_cell(f: &FanoutResult) -> String {
    if f.receipts {
        rate(f.receipts_per_s)
    } else {
        "–".into()
    }
}

/// What a variant of the chat runs is and whether it is judged.
pub fn variant_note(v: &str) -> &'static str {
    if v.contains("tmpfs") {
        "the data directory on tmpfs (a diagnostic, not judged: the gap to the judged rows \
         is what waiting for the disk costs)"
    } else if v.contains("WebSocket") {
        "every member connected over the WebSocket at `/ws` as a browser is, sending the \
         same receipts (judged against native chat on the same shape, see the targets)"
    } else if v.contains("receipt") {
        "members only read and send no receipts, the workload before receipts were part \
         of it (a diagnostic, not judged: the gap to the judged rows is what the server's \
         inbound receipts cost)"
    } else {
        "a diagnostic, not judged"
    }
}

pub(super) fn render_fanout(
    fanout: &[FanoutResult],
    body: &mut String,
    targets: &mut Vec<(String, String, Option<bool>)>,
) {
    // Settings in the order they were run (the order in bench.sh).
    let mut order: Vec<(usize, usize)> = Vec::new();
    for f in fanout {
        if !order.contains(&(f.members, f.publishers)) {
            order.push((f.members, f.publishers));
        }
    }
    let _ = writeln!(body, "## 1–2. Fan-out: chat vs Redis pub/sub\n");
    let _ = writeln!(
        body,
        "S members in one room (Redis: S subscribers of one channel); P publishers send \
         100-byte messages stamped with their send time, each keeping at most W messages \
         in flight: a message leaves the window once every member it is addressed to has \
         read it. Chat publishers are members and get an `ack`, not an echo, so each chat message \
         is delivered S−1 times; a Redis PUBLISH reaches all S subscribers. Delivered/s \
         counts deliveries actually made; latency is read time at the receiving member \
         minus the stamp. Rates and CPU cover the measured interval after a warm-up. \
         Server CPU is in cores (CPU seconds per second), from /proc utime+stime; peak \
         RSS is the server's VmHWM in a fresh process; bench CPU is the load generator's \
         own. `check` confirms every announced delivery arrived, in order.\n"
    );
    let _ = writeln!(body, "{}\n", receipts_note(fanout));
    let _ = writeln!(
        body,
        "| S | P | W | server | published/s | delivered/s | receipts/s | p50 | p99 | p99.9 | max | server CPU | server peak RSS | bench CPU | runs (delivered/s) | check |"
    );
    let _ = writeln!(
        body,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut ratios = String::new();
    let _ = writeln!(
        ratios,
        "\n| S | P | chat delivered/s ÷ Redis | target ≥ 1.0 | chat p99 ÷ Redis p99 | target ≤ 1.5 |"
    );
    let _ = writeln!(ratios, "|---|---|---|---|---|---|");
    // Diagnostic variants (e.g. chat with its history on tmpfs), in run order.
    let mut variants: Vec<String> = Vec::new();
    for f in fanout {
        if let Some(v) = &f.variant {
            if !variants.contains(v) {
                variants.push(v.clone());
            }
        }
    }
    let mut diag = String::new();
    for &(s, p) in &order {
        let mut med: BTreeMap<String, FanoutResult> = BTreeMap::new();
        let mut kinds: Vec<(&str, Option<&str>)> = vec![("chat", None), ("redis", None)];
        for v in &variants {
            kinds.push(("chat", Some(v.as_str())));
        }
        for (target, variant) in kinds {
            let runs: Vec<&FanoutResult> = fanout
                .iter()
                .filter(|f| {
                    f.members == s
                        && f.publishers == p
                        && f.target == target
                        && f.variant.as_deref() == variant
                })
                .collect();
            let Some(m) = median_run(&runs) else {
                continue;
            };
            let label = match variant {
                Some(v) => format!("{target}, {v}"),
                None => target.to_string(),
            };
            let all: Vec<String> = runs.iter().map(|f| rate(f.delivered_per_s)).collect();
            let _ = writeln!(
                body,
                "| {s} | {p} | {} | {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} cores | {} | {} |",
                m.window,
                rate(m.published_per_s),
                rate(m.delivered_per_s),
                receipts_cell(&m),
                dur_us(m.p50_us),
                dur_us(m.p99_us),
                dur_us(m.p999_us),
                dur_us(m.max_us),
                m.server_cores()
                    .map_or("–".into(), |c| format!("{c:.2} cores")),
                opt_bytes(m.server_peak_rss),
                m.bench_cores(),
                all.join(" / "),
                check(&m),
            );
            med.insert(label, m);
        }
        for v in &variants {
            let Some(c) = med.get(&format!("chat, {v}")) else {
                continue;
            };
            let ratio = |other: Option<&FanoutResult>| {
                other.map_or("–".to_string(), |o| {
                    format!("{:.2}×", c.delivered_per_s / o.delivered_per_s.max(1e-9))
                })
            };
            let p99 = |other: Option<&FanoutResult>| {
                other.map_or("–".to_string(), |o| {
                    format!("{:.2}×", c.p99_us / o.p99_us.max(1e-9))
                })
            };
            let _ = writeln!(
                diag,
                "| {s} | {p} | {v} | {} | {} | {} | {} | {} |",
                rate(c.delivered_per_s),
                ratio(med.get("chat")),
                ratio(med.get("redis")),
                dur_us(c.p99_us),
                p99(med.get("redis")),
            );
            // Browsers against the native protocol on the same server.
            if v.contains("WebSocket") {
                if let Some(n) = med.get("chat") {
                    let r = c.delivered_per_s / n.delivered_per_s.max(1e-9);
                    targets.push((
                        format!("fan-out S={s},P={p} over WebSocket: at least 0.8× native"),
                        format!(
                            "{} vs {} ({r:.2}×)",
                            rate(c.delivered_per_s),
                            rate(n.delivered_per_s)
                        ),
                        Some(r >= 0.8),
                    ));
                }
            }
        }
        match (med.get("chat"), med.get("redis")) {
            (Some(c), Some(r)) => {
                let dr = c.delivered_per_s / r.delivered_per_s.max(1e-9);
                let lr = c.p99_us / r.p99_us.max(1e-9);
                let _ = writeln!(
                    ratios,
                    "| {s} | {p} | {dr:.2}× | {} | {lr:.2}× | {} |",
                    yes_no(dr >= 1.0),
                    yes_no(lr <= 1.5)
                );
                targets.push((
                    format!("fan-out S={s},P={p}: delivered/s at least Redis's"),
                    format!(
                        "{} vs {} ({dr:.2}×)",
                        rate(c.delivered_per_s),
                        rate(r.delivered_per_s)
                    ),
                    Some(dr >= 1.0),
                ));
                targets.push((
                    format!("fan-out S={s},P={p}: p99 at most 1.5× Redis's"),
                    format!("{} vs {} ({lr:.2}×)", dur_us(c.p99_us), dur_us(r.p99_us)),
                    Some(lr <= 1.5),
                ));
            }
            (Some(_), None) => {
                let _ = writeln!(ratios, "| {s} | {p} | no Redis run | – | – | – |");
                targets.push((
                    format!("fan-out S={s},P={p}: vs Redis"),
                    "no Redis run".into(),
                    None,
                ));
            }
            _ => {}
        }
    }
    if fanout.is_empty() {
        let _ = writeln!(body, "| – | – | – | not run | | | | | | | | | | | | |");
    }
    body.push_str(&ratios);
    if !diag.is_empty() {
        let _ = writeln!(body, "\nVariants of the chat runs:\n");
        for v in &variants {
            let _ = writeln!(body, "- **{v}**: {}", variant_note(v));
        }
        let _ = writeln!(body);
        let _ = writeln!(
            body,
            "| S | P | variant | chat delivered/s | ÷ native chat | ÷ Redis | chat p99 | ÷ Redis |"
        );
        let _ = writeln!(body, "|---|---|---|---|---|---|---|---|");
        body.push_str(&diag);
    }
    let _ = writeln!(body);
}
