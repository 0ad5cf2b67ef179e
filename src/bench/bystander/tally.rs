//! What the attacker's clients sent and got back during a load ([`Tally`]),
//! counted by frame type and error code, and its one-line summary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the attacker's clients sent and got back during a load's rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Frames sent, by type (fence pings included).
    #[serde(default)]
    pub sent: BTreeMap<String, u64>,
    /// Frames received, by type.
    #[serde(default)]
    pub received: BTreeMap<String, u64>,
    /// `error` frames received, by code.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Attacker connections the server closed.
    #[serde(default)]
    pub closed: u64,
    /// The first error's code and message.
    #[serde(default)]
    pub first_error: Option<String>,
}

impl Tally {
    pub fn add_sent(&mut self, kind: &str, n: u64) {
        *self.sent.entry(kind.to_string()).or_default() += n;
    }

    pub fn add_received(&mut self, kind: &str) {
        *self.received.entry(kind.to_string()).or_default() += 1;
    }

    pub fn add_error(&mut self, code: &str, message: &str) {
        *self.errors.entry(code.to_string()).or_default() += 1;
        if self.first_error.is_none() {
            let mut m: String = message.chars().take(120).collect();
            if m.len() < message.len() {
                m.push('…');
            }
            self.first_error = Some(format!("{code}: {m}"));
        }
    }

    /// "sent 2000 receipt, 1 ping; got 1 pong, 12 receipts; no errors".
    pub fn summary(&self) -> String {
        fn list(m: &BTreeMap<String, u64>) -> String {
            if m.is_empty() {
                return "nothing".into();
            }
            m.iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        let mut s = format!("sent {}; got {}", list(&self.sent), list(&self.received));
        if self.errors.is_empty() {
            s.push_str("; no errors");
        } else {
            s.push_str(&format!("; errors: {}", list(&self.errors)));
            if let Some(f) = &self.first_error {
                s.push_str(&format!(" (first: {f})"));
            }
        }
        if self.closed > 0 {
            s.push_str(&format!(
                "; {} connection(s) closed by the server",
                self.closed
            ));
        }
        s
    }
}
