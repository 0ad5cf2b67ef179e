//! Section 4 of the report: a file relayed through the server against the
//! plain relay. The bench runs each a few times, alternating; the median
//! run of each (by MB/s) is judged, every run is listed. Chunks are binary
//! frames, as `chat-client` sends them; runs with base64 JSON chunks
//! (`--json-chunks`) are shown beside them as a diagnostic.

use super::*;

/// The median of `runs` by MB/s (the upper one of an even count).
fn median<T: Clone>(runs: &[T], rate: impl Fn(&T) -> f64) -> Option<T> {
    let mut v: Vec<&T> = runs.iter().collect();
    v.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    v.get(v.len() / 2).map(|r| (*r).clone())
}

fn rates<T>(runs: &[T], rate: impl Fn(&T) -> f64) -> String {
    let v: Vec<String> = runs.iter().map(|r| format!("{:.0}", rate(r))).collect();
    v.join(" / ")
}

pub(super) fn render_transfer(
    relays: &[RelayResult],
    transfers: &[TransferResult],
    body: &mut String,
    targets: &mut Vec<(String, String, Option<bool>)>,
) {
    let _ = writeln!(
        body,
        "## 4. File transfer through the server vs a plain relay\n"
    );
    let plain = median(relays, |r| r.mb_per_s);
    // (a transfer record with more than one transfer is scenario 5's load)
    let single = |json: bool| -> Vec<TransferResult> {
        transfers
            .iter()
            .filter(|t| t.transfers <= 1 && t.json_chunks == json)
            .cloned()
            .collect()
    };
    let (binary, json) = (single(false), single(true));
    match &plain {
        Some(r) => {
            let _ = writeln!(
                body,
                "Plain byte relay (a thread in chat-bench copying with a 256 KiB buffer, as \
                 `socat -b 262144`), same loopback: {} in {:.2} s = **{:.0} MB/s** \
                 (bench CPU {:.2} s; median of {} runs: {} MB/s).\n",
                bytes(r.bytes as f64),
                r.seconds,
                r.mb_per_s,
                r.bench_cpu_s,
                relays.len(),
                rates(relays, |r| r.mb_per_s)
            );
        }
        None => {
            let _ = writeln!(body, "Plain relay: not run.\n");
        }
    }
    let ratio_of = |t: &TransferResult| plain.as_ref().map(|r| t.mb_per_s / r.mb_per_s.max(1e-9));
    let ok: Vec<TransferResult> = binary.iter().filter(|t| t.available).cloned().collect();
    match median(&ok, |t| t.mb_per_s) {
        Some(t) => {
            let ratio = ratio_of(&t);
            let flat = match (t.server_rss_before, t.server_peak_rss) {
                (Some(b), Some(p)) => Some(p.saturating_sub(b)),
                _ => None,
            };
            let _ = writeln!(
                body,
                "Relayed through chat-server (binary chunk frames): {} in {:.2} s = **{:.0} MB/s**{}; \
                 server RSS before {} and peak during {} (growth {}); bench CPU {:.2} s; median of {} \
                 runs: {} MB/s.\n",
                bytes(t.bytes as f64),
                t.seconds,
                t.mb_per_s,
                ratio.map_or(String::new(), |x| format!(", {:.2}× the plain relay", x)),
                opt_bytes(t.server_rss_before),
                opt_bytes(t.server_peak_rss),
                flat.map_or("–".into(), |g| bytes(g as f64)),
                t.bench_cpu_s,
                ok.len(),
                rates(&ok, |t| t.mb_per_s)
            );
            if let Some(j) = median(&json, |t| t.mb_per_s) {
                let _ = writeln!(
                    body,
                    "Diagnostic, the same with base64 `file_chunk` JSON frames (`--json-chunks`, \
                     a third more bytes): **{:.0} MB/s**{}; median of {} runs: {} MB/s.\n",
                    j.mb_per_s,
                    ratio_of(&j).map_or(String::new(), |x| format!(", {:.2}× the plain relay", x)),
                    json.len(),
                    rates(&json, |t| t.mb_per_s)
                );
            }
            targets.push((
                "relayed transfer at least 85% of the plain relay".into(),
                ratio.map_or("–".into(), |x| format!("{:.0}%", x * 100.0)),
                ratio.map(|x| x >= RELAY_RATIO_TARGET),
            ));
            // "Flat": the peak stays within 64 MiB of where it started,
            // whatever the file size (a file held in memory would add GiBs).
            targets.push((
                "server RSS flat during the large transfer".into(),
                flat.map_or("–".into(), |g| format!("+{}", bytes(g as f64))),
                flat.map(|g| g <= 64 * 1024 * 1024),
            ));
        }
        None => {
            let why = binary
                .first()
                .and_then(|t| t.reason.clone())
                .unwrap_or_else(|| "not run".into());
            let _ = writeln!(
                body,
                "Relayed through chat-server: **not available yet** ({why}).\n"
            );
            for what in [
                "relayed transfer at least 85% of the plain relay",
                "server RSS flat during the large transfer",
            ] {
                targets.push((what.into(), "not available yet".into(), None));
            }
        }
    }
}
