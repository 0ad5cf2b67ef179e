//! Reconnecting, the pure parts: the backoff schedule (exponential, capped,
//! with jitter), its base from the environment, and a per-process random
//! prefix for client message ids.
//!
//! The schedule is a pure function of the attempt number and a jitter value in
//! `[0, 1)`, so tests need no clock and no randomness; [`Backoff`] feeds it
//! from a small seeded generator.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// First retry delay unless `CHAT_RECONNECT_BASE_MS` says otherwise.
pub const DEFAULT_BASE: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
pub const CAP: Duration = Duration::from_secs(30);
/// Environment variable overriding [`DEFAULT_BASE`], in milliseconds (for tests).
pub const BASE_ENV: &str = "CHAT_RECONNECT_BASE_MS";

/// Delay before retry number `attempt` (0 for the first retry after a drop):
/// `base * 2^attempt`, capped at `cap`, then scaled by a jitter factor in
/// `[0.75, 1.25)` (`jitter` in `[0, 1)`), and capped again.
pub fn delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let nominal = base
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    nominal.mul_f64(factor).min(cap)
}

/// The base delay: `CHAT_RECONNECT_BASE_MS` if it holds a number of
/// milliseconds (at least 1), else [`DEFAULT_BASE`].
pub fn base_from_env() -> Duration {
    parse_base(std::env::var(BASE_ENV).ok().as_deref())
}

fn parse_base(v: Option<&str>) -> Duration {
    v.and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(DEFAULT_BASE, Duration::from_millis)
}

/// A seed that differs between processes and calls (std's random hasher keys,
/// the process id and the time).
pub fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish() | 1
}

/// `c` and 8 random hex digits, then `-`: client ids become `c1a2b3c4d-1`,
/// `c1a2b3c4d-2`, ... so a restarted client never repeats an id the server
/// remembers from an earlier run.
pub fn cid_prefix(seed: u64) -> String {
    format!("c{:08x}-", (seed >> 16) as u32)
}

/// Retry delays for one outage: attempt counter plus a xorshift generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(base: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next try (and count it).
    pub fn next_delay(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        let d = delay(self.attempt, self.base, CAP, jitter);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// A login succeeded: the next outage starts from the base again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_from_the_base_to_the_cap() {
        let nominal: Vec<u64> = (0..8)
            .map(|a| delay(a, S, CAP, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(
            nominal,
            [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        // Far past the cap, and with a huge attempt count: still the cap.
        assert_eq!(delay(200, S, CAP, 0.5), CAP);
        assert_eq!(delay(u32::MAX, S, CAP, 0.99), CAP);
    }

    #[test]
    fn jitter_spreads_each_step() {
        assert_eq!(delay(0, S, CAP, 0.0), Duration::from_millis(750));
        assert_eq!(delay(1, S, CAP, 0.0), Duration::from_millis(1500));
        assert!(delay(0, S, CAP, 0.999) < Duration::from_millis(1250));
        assert!(delay(0, S, CAP, 0.999) > Duration::from_millis(1240));
        // Out-of-range jitter is clamped.
        assert_eq!(delay(0, S, CAP, -3.0), Duration::from_millis(750));
        assert_eq!(delay(0, S, CAP, 7.0), Duration::from_millis(1250));
        // A small base (tests) doubles the same way.
        let b = Duration::from_millis(100);
        assert_eq!(delay(3, b, CAP, 0.5), Duration::from_millis(800));
    }

    #[test]
    fn backoff_grows_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), 42);
        let ds: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (i, d) in ds.iter().enumerate() {
            let nominal = Duration::from_millis(100)
                .saturating_mul(1 << i.min(20))
                .min(CAP);
            assert!(
                *d >= nominal.mul_f64(0.75) && *d <= nominal.mul_f64(1.25).min(CAP),
                "attempt {i}: {d:?}"
            );
        }
        assert_eq!(ds[11], ds[11].min(CAP));
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(126));
    }

    #[test]
    fn base_from_the_environment_value() {
        assert_eq!(parse_base(None), DEFAULT_BASE);
        assert_eq!(parse_base(Some("100")), Duration::from_millis(100));
        assert_eq!(parse_base(Some(" 50 ")), Duration::from_millis(50));
        assert_eq!(parse_base(Some("0")), DEFAULT_BASE);
        assert_eq!(parse_base(Some("soon")), DEFAULT_BASE);
    }

    #[test]
    fn cid_prefixes_are_fixed_length_and_vary() {
        let p = cid_prefix(0x1234_5678_9abc_def0);
        assert_eq!(p, "c56789abc-");
        assert_eq!(p.len(), 10);
        assert_ne!(cid_prefix(1 << 16), cid_prefix(2 << 16));
        assert!(cid_prefix(seed()).starts_with('c'));
    }
}
