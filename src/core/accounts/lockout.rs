//! Failed logins lock out the guessing address, not the account: failures
//! counted per address and name, per address and per name (bounded maps,
//! doubling lockouts, forgotten after an hour), a correct password
//! forgiving its address, and the hourly cap on registrations per address.

use super::Core;
use crate::core::logsafe::Safe;
use crate::core::{ConnId, Now};
use std::collections::HashMap;

/// Failures from one address for one name before that address is locked
/// out of that name.
pub const PAIR_FREE: u32 = 3;
/// Failures from one address (across names) before it is locked out.
pub const IP_FREE: u32 = 10;
/// Failures for one name from all addresses together before everyone is
/// locked out of it: only distributed guessing gets there.
pub const NAME_FREE: u32 = 100;
/// Longest lockout.
const MAX_LOCK_MS: u64 = 5 * 60 * 1000;
/// Failures older than this are forgotten.
const FORGET_MS: u64 = 60 * 60 * 1000;
/// Addresses (and address-name pairs) remembered at most (oldest failures
/// forgotten first).
const MAX_IPS: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Failures {
    count: u32,
    until_ms: u64,
    last_ms: u64,
}

impl Failures {
    fn record(&mut self, free: u32, now_ms: u64) {
        if now_ms.saturating_sub(self.last_ms) > FORGET_MS {
            self.count = 0;
        }
        self.count += 1;
        self.last_ms = now_ms;
        if self.count >= free {
            let lock = (1000u64 << (self.count - free).min(20)).min(MAX_LOCK_MS);
            self.until_ms = now_ms + lock;
        }
    }

    /// Milliseconds of lockout left.
    fn locked(&self, now_ms: u64) -> Option<u64> {
        (self.until_ms > now_ms).then(|| self.until_ms - now_ms)
    }
}

pub(super) const HOUR_MS: u64 = 3_600_000;

/// Record a failure for `key` in `map`, keeping at most [`MAX_IPS`] keys
/// (failures older than [`FORGET_MS`] go first, then the oldest); returns
/// its count.
fn record_bounded<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: K,
    free: u32,
    now_ms: u64,
) -> u32 {
    if map.len() >= MAX_IPS && !map.contains_key(&key) {
        let cutoff = now_ms.saturating_sub(FORGET_MS);
        map.retain(|_, f| f.last_ms > cutoff);
        if map.len() >= MAX_IPS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| f.last_ms)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
    }
    let f = map.entry(key).or_default();
    f.record(free, now_ms);
    f.count
}

fn wait_text(ms: u64) -> String {
    format!("{} s", ms.div_ceil(1000))
}

impl Core {
    /// Lockout left for `conn`'s address on `name`, for its address, or
    /// (distributed guessing) for `name`, as a sentence.
    pub(super) fn locked_out(&self, conn: ConnId, name: &str, now: Now) -> Option<String> {
        let a = &self.accounts;
        let ms = |f: Option<&Failures>| f.and_then(|f| f.locked(now.mono_ms));
        if let Some(ip) = self.guard.ip_of(conn) {
            if let Some(ms) = ms(a.by_pair.get(&(ip, name.to_string()))) {
                return Some(format!(
                    "too many failed attempts for \"{name}\" from your address; try again in {}",
                    wait_text(ms)
                ));
            }
            if let Some(ms) = ms(a.by_ip.get(&ip)) {
                return Some(format!(
                    "too many failed logins from your address; try again in {}",
                    wait_text(ms)
                ));
            }
        }
        let ms = ms(a.by_name.get(name))?;
        Some(format!(
            "too many failed attempts for \"{name}\" from many addresses; try again in {}",
            wait_text(ms)
        ))
    }

    pub(super) fn record_failure(&mut self, conn: ConnId, name: &str, now: Now) {
        let t = now.mono_ms;
        let f = self.accounts.by_name.entry(name.to_string()).or_default();
        f.record(NAME_FREE, t);
        let ip = self.guard.ip_of(conn);
        let mut count = 0;
        if let Some(ip) = ip {
            record_bounded(&mut self.accounts.by_ip, ip, IP_FREE, t);
            count = record_bounded(
                &mut self.accounts.by_pair,
                (ip, name.to_string()),
                PAIR_FREE,
                t,
            );
        }
        log::warn!(
            "conn {conn} ({}): wrong password for {} ({count} failure(s) in a row from this address)",
            ip.map_or_else(|| "?".into(), |ip| ip.to_string()),
            Safe(name)
        );
    }

    /// Why `conn`'s address may not register another name now, if so: the
    /// server holds `max_accounts` names already, or the address registered
    /// `max_registrations_per_ip` names in the last hour.
    pub(super) fn registration_refused(&mut self, conn: ConnId, now: Now) -> Option<String> {
        let all = self.cfg.limits.max_accounts;
        let held = self.accounts.map.len();
        if all != 0 && held >= all {
            return Some(format!(
                "this server holds {held} registered names, the most it allows; log in without a password (an open name) or ask the operator"
            ));
        }
        let max = self.cfg.limits.max_registrations_per_ip;
        let ip = self.guard.ip_of(conn)?;
        if max == 0 {
            return None;
        }
        let times = self.accounts.registered_by_ip.get_mut(&ip)?;
        while times.front().is_some_and(|t| t + HOUR_MS <= now.mono_ms) {
            times.pop_front();
        }
        if times.len() < max {
            return None;
        }
        let wait = times.front().map_or(0, |t| t + HOUR_MS - now.mono_ms);
        Some(format!(
            "this address registered {} names in the last hour; try again in {} min",
            times.len(),
            wait.div_ceil(60_000)
        ))
    }

    /// A correct password from `conn`'s address for `name`: that address's
    /// failures for that name are forgiven (not its failures on other
    /// names, nor the name's count from everywhere).
    pub(super) fn forgive(&mut self, conn: ConnId, name: &str) {
        if let Some(ip) = self.guard.ip_of(conn) {
            self.accounts.by_pair.remove(&(ip, name.to_string()));
        }
    }
}
