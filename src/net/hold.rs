//! The shell's side of the message rate: input held back.
//!
//! A connection past its message rate keeps its undecoded input in its read
//! buffer (up to [`HELD_INPUT`] bytes; beyond that the socket is not read, so
//! TCP pushes back on the sender) until the time the core named; then the
//! buffer is decoded again and the socket read as usual.

use super::{ingest, Server};
use crate::core::Now;

/// Bytes a held-back connection may have read but not decoded.
pub(super) const HELD_INPUT: usize = 64 * 1024;

impl Server {
    /// The earliest time a held-back connection may go on.
    pub(super) fn hold_deadline(&self) -> Option<u64> {
        self.held
            .iter()
            .filter_map(|&k| self.conns.get(k).and_then(|c| c.held_until))
            .min()
    }

    /// Let held-back connections whose time has come go on: decode what
    /// they buffered, then read their sockets again.
    pub(super) fn release_holds(&mut self, now: Now) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let max_frame = self.cfg.max_frame;
        for k in held {
            let Some(conn) = self.conns.get_mut(k) else {
                continue;
            };
            match conn.held_until {
                Some(t) if t > now.mono_ms => {
                    self.held.push(k);
                    continue;
                }
                _ => conn.held_until = None,
            }
            ingest(k, conn, &[], &mut self.core, max_frame, now);
            if conn.held_until.is_some() {
                self.held.push(k);
            } else {
                self.read_conn(k, now);
            }
        }
    }
}
