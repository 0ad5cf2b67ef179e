//! Section 7 of the report (issue 11): the history database's start-up,
//! reads and search on millions of stored messages, and its write rate.

use super::*;

pub use crate::bench::history_run::{StartupResult as HistoryStartup, WriteResult as HistoryWrite};

pub(super) fn render_history(
    startup: &[HistoryStartup],
    writes: &[HistoryWrite],
    body: &mut String,
    targets: &mut Vec<(String, String, Option<bool>)>,
) {
    let _ = writeln!(body, "\n## 7. History in SQLite (issue 11)\n");
    if startup.is_empty() && writes.is_empty() {
        let _ = writeln!(body, "Not run.");
        return;
    }
    for s in startup {
        let _ = writeln!(
            body,
            "A data directory filled with **{} messages** in 10 rooms ({} database, written in {:.0} s \
             straight into it), then the release server started on it:\n",
            s.messages,
            bytes(s.db_bytes as f64),
            s.fill_seconds
        );
        let _ = writeln!(body, "| measure | value |\n|---|---|");
        let _ = writeln!(
            body,
            "| start-up (spawn to `listening on`) | {:.0} ms |",
            s.startup_ms
        );
        let _ = writeln!(
            body,
            "| server RSS after start-up | {} |",
            bytes(s.rss_bytes as f64)
        );
        let _ = writeln!(
            body,
            "| `/history` page of 50 from across the history (from disk), p50 / max of {} | {:.2} / {:.2} ms |",
            s.samples, s.history_p50_ms, s.history_max_ms
        );
        let _ = writeln!(
            body,
            "| `/search` rare word (1 in 10,000), 20 newest hits, p50 / max | {:.2} / {:.2} ms |",
            s.search_rare_p50_ms, s.search_rare_max_ms
        );
        let _ = writeln!(
            body,
            "| `/search` two common words, 20 newest hits, p50 / max | {:.2} / {:.2} ms |",
            s.search_common_p50_ms, s.search_common_max_ms
        );
        let _ = writeln!(body);
        targets.push((
            format!(
                "start-up with {} stored messages (was 11.6 s, 481 MiB at 3M)",
                s.messages
            ),
            format!("{:.0} ms, {}", s.startup_ms, bytes(s.rss_bytes as f64)),
            None,
        ));
    }
    if !writes.is_empty() {
        let _ = writeln!(
            body,
            "Write rate: P clients in one room each keep W messages in flight on a fresh server \
             (history on the same disk as above); committed = acknowledged. Transactions are the \
             server's own count over its run.\n"
        );
        let _ = writeln!(
            body,
            "| run | messages/s committed | transactions/s | messages/transaction | bytes/message on disk | server CPU |\n|---|---|---|---|---|---|"
        );
        for w in writes {
            let opt = |v: Option<f64>, d: usize| v.map_or("?".into(), |x| format!("{x:.d$}"));
            let _ = writeln!(
                body,
                "| P={} W={} | {} | {} | {} | {:.0} | {:.2} s in {:.1} s |",
                w.publishers,
                w.window,
                rate(w.messages_per_s),
                opt(w.transactions_per_s, 0),
                opt(w.messages_per_transaction, 1),
                w.bytes_per_message,
                w.server_cpu_s,
                w.seconds
            );
        }
    }
}
