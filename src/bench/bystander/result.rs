//! One phase's result ([`BystanderResult`]): the bystander's percentiles
//! beside the idle baseline's, as ratios against the target
//! ([`TARGET_P99_RATIO`]), with the attacker's tally, as a JSON line and a
//! summary.

use super::tally::Tally;
use serde::{Deserialize, Serialize};

/// The target: the bystander's p99 under a load at most this many
/// times its idle p99.
pub const TARGET_P99_RATIO: f64 = 2.0;

/// `load / idle`, or `None` when there is no idle figure to divide by.
pub fn ratio(load: f64, idle: f64) -> Option<f64> {
    (idle > 0.0 && idle.is_finite() && load.is_finite() && load >= 0.0).then(|| load / idle)
}

/// "1.93×", or "–" without a ratio.
pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |x| format!("{x:.2}×"))
}

/// One phase of a run: the idle baseline or one load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BystanderResult {
    pub scenario: String,
    /// The run (one server, one idle baseline) this phase belongs to.
    pub run: String,
    /// "idle" or a [`Load::key`](super::Load::key).
    pub load: String,
    pub label: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub interval_ms: f64,
    /// Pings sent while the load ran.
    pub pings: u64,
    /// Of them, answered.
    pub samples: u64,
    /// Of them, still unanswered when the phase was closed.
    pub unanswered: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    pub idle_p50_us: f64,
    pub idle_p99_us: f64,
    pub idle_max_us: f64,
    /// Time the load's frames were in the server (all rounds).
    pub load_s: f64,
    pub rounds: u32,
    pub timed_out: bool,
    /// Why the load could not be measured (setup failed, or skipped).
    #[serde(default)]
    pub failed: Option<String>,
    /// Server CPU seconds (utime + stime) while the load ran.
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
    pub attacker: Tally,
    /// What the load was, in a sentence, with its own figures.
    pub note: String,
}

impl BystanderResult {
    pub fn p50_ratio(&self) -> Option<f64> {
        ratio(self.p50_us, self.idle_p50_us)
    }

    pub fn p99_ratio(&self) -> Option<f64> {
        ratio(self.p99_us, self.idle_p99_us)
    }

    pub fn max_ratio(&self) -> Option<f64> {
        ratio(self.max_us, self.idle_max_us)
    }

    /// Whether the target holds for this load: `None` for the idle
    /// baseline and for a load that could not be measured; a load that
    /// timed out or left pings unanswered misses it.
    pub fn meets_target(&self) -> Option<bool> {
        if self.load == "idle" || self.failed.is_some() {
            return None;
        }
        if self.timed_out || self.unanswered > 0 {
            return Some(false);
        }
        if self.samples == 0 {
            return None;
        }
        self.p99_ratio().map(|r| r <= TARGET_P99_RATIO)
    }

    pub fn summary(&self) -> String {
        let us = |v: f64| {
            if v >= 1000.0 {
                format!("{:.2} ms", v / 1e3)
            } else {
                format!("{v:.0} us")
            }
        };
        let head = format!(
            "bystander, {}{}: ",
            self.label,
            self.variant
                .as_ref()
                .map_or(String::new(), |v| format!(" ({v})"))
        );
        if let Some(f) = &self.failed {
            return format!("{head}not measured: {f}");
        }
        let mut s = format!(
            "{head}{} pings ({} unanswered) over {:.2} s in {} round(s): p50 {} ({}), p99 {} ({}), max {} ({})",
            self.pings,
            self.unanswered,
            self.load_s,
            self.rounds,
            us(self.p50_us),
            fmt_ratio(self.p50_ratio()),
            us(self.p99_us),
            fmt_ratio(self.p99_ratio()),
            us(self.max_us),
            fmt_ratio(self.max_ratio()),
        );
        if self.timed_out {
            s.push_str("; TIMED OUT");
        }
        if self.load != "idle" {
            s.push_str(&format!("\n  attacker: {}", self.attacker.summary()));
        }
        if !self.note.is_empty() {
            s.push_str(&format!("\n  {}", self.note));
        }
        s
    }
}
