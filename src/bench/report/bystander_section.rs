//! Section 6 of the report (issue 9): a bystander's round trips beside each
//! hostile load, against idle, with the 2× target per load.

use super::*;
use crate::bench::bystander::{self, BystanderResult};

/// Section 6 (issue 9): the bystander's round trips beside each load, with
/// one target row per load.
pub(super) fn render_bystander(
    rows: &[BystanderResult],
    body: &mut String,
    targets: &mut Vec<(String, String, Option<bool>)>,
) {
    let _ = writeln!(
        body,
        "\n## 6. A bystander beside loads of legal frames (issue 9)\n"
    );
    if rows.is_empty() {
        let _ = writeln!(body, "Not run.");
        targets.push((
            format!(
                "bystander p99 under every load at most {}× idle",
                bystander::TARGET_P99_RATIO
            ),
            "not run".into(),
            None,
        ));
        return;
    }
    let _ = writeln!(
        body,
        "A bystander, logged in to a room of its own, sends a `ping` every {} ms (open loop: \
         a stalled server shows as many slow round trips, not one) and times each `pong`. \
         Each run is one fresh server: an idle baseline first, then each load in turn. A round \
         trip counts for the load whose frames were in the server when its ping was sent \
         (from the load's first frame to the answer to the fence `ping` it ends with); \
         setup (filling a room, uploading the file, logging clients in) counts for nothing, \
         and a load that takes little time is repeated in rounds so that its percentiles rest \
         on a few hundred round trips. Target (from the issue): p99 at most {}× idle under \
         every load.\n",
        rows.first().map_or(2.0, |r| r.interval_ms),
        bystander::TARGET_P99_RATIO
    );
    let _ = writeln!(
        body,
        "| run | load | pings (unanswered) | time under load (rounds) | p50 | p99 | max | p50 ÷ idle | p99 ÷ idle | max ÷ idle | server CPU | p99 ≤ {}× idle |",
        bystander::TARGET_P99_RATIO
    );
    let _ = writeln!(body, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut runs: Vec<&str> = Vec::new();
    for r in rows {
        if !runs.contains(&r.run.as_str()) {
            runs.push(&r.run);
        }
    }
    let mut details = String::new();
    for r in rows {
        let n = runs.iter().position(|x| *x == r.run).unwrap_or(0) + 1;
        let label = match &r.variant {
            Some(v) => format!("{} ({v})", r.label),
            None => r.label.clone(),
        };
        if let Some(why) = &r.failed {
            let _ = writeln!(
                body,
                "| {n} | {label} | – | – | – | – | – | – | – | – | – | not measured |"
            );
            let _ = writeln!(details, "- run {n}, **{label}**: not measured: {why}");
            targets.push((
                format!(
                    "bystander p99 during {label} at most {}× idle",
                    bystander::TARGET_P99_RATIO
                ),
                format!("not measured ({why})"),
                None,
            ));
            continue;
        }
        let verdict = if r.load == "idle" {
            "baseline".to_string()
        } else {
            match r.meets_target() {
                Some(b) => yes_no(b).to_string(),
                None => "not measured".into(),
            }
        };
        let _ = writeln!(
            body,
            "| {n} | {label} | {} ({}) | {:.2} s ({}){} | {} | {} | {} | {} | {} | {} | {} | {verdict} |",
            r.pings,
            r.unanswered,
            r.load_s,
            r.rounds,
            if r.timed_out { ", **timed out**" } else { "" },
            dur_us(r.p50_us),
            dur_us(r.p99_us),
            dur_us(r.max_us),
            bystander::fmt_ratio(r.p50_ratio()),
            bystander::fmt_ratio(r.p99_ratio()),
            bystander::fmt_ratio(r.max_ratio()),
            r.server_cpu_s.map_or("–".into(), |c| format!("{c:.2} s")),
        );
        if r.load == "idle" {
            continue;
        }
        let _ = writeln!(
            details,
            "- run {n}, **{label}**: {}. Attacker: {}.",
            r.note.trim_end_matches('.'),
            r.attacker.summary()
        );
        let suffix = r
            .variant
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v}, diagnostic)"));
        let measured = if r.timed_out {
            format!(
                "timed out; {} vs {} ({})",
                dur_us(r.p99_us),
                dur_us(r.idle_p99_us),
                bystander::fmt_ratio(r.p99_ratio())
            )
        } else if r.unanswered > 0 {
            format!("{} of {} pings unanswered", r.unanswered, r.pings)
        } else {
            format!(
                "{} vs {} ({})",
                dur_us(r.p99_us),
                dur_us(r.idle_p99_us),
                bystander::fmt_ratio(r.p99_ratio())
            )
        };
        targets.push((
            format!(
                "bystander p99 during {} at most {}× idle{suffix}",
                r.label,
                bystander::TARGET_P99_RATIO
            ),
            measured,
            r.meets_target(),
        ));
    }
    if !details.is_empty() {
        let _ = writeln!(
            body,
            "\nWhat each load did, and what its clients got back:\n"
        );
        body.push_str(&details);
    }
}
