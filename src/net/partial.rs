//! Frames that start arriving and stall: a connection whose partial frame
//! has waited `--frame-timeout` without any frame completing is told
//! `bad_frame` and closed, so a trickle cannot pin up to `--max-frame` bytes
//! of read buffer per connection. `read_conn` starts and restarts the clock.

use super::Server;
use crate::core::Now;
use crate::protocol::ErrorCode;

impl Server {
    /// Close connections whose partial frame stalled past `frame_timeout_ms`.
    pub(super) fn expire_partials(&mut self, now: Now) {
        let timeout = self.cfg.frame_timeout_ms;
        let partial = std::mem::take(&mut self.partial);
        for k in partial {
            let Some(conn) = self.conns.get_mut(k.0) else {
                continue;
            };
            let Some(since) = conn.partial_since else {
                continue;
            };
            if timeout == 0 || now.mono_ms < since + timeout {
                self.partial.push(k);
                continue;
            }
            log::warn!(
                "conn {k} ({}): a frame has been arriving for {} s without completing ({} bytes so far); closing",
                conn.peer,
                timeout / 1000,
                conn.rbuf.len()
            );
            conn.partial_since = None;
            conn.stop_reading = true;
            conn.rbuf = Vec::new();
            let id = conn.id;
            self.core.refuse(
                id,
                ErrorCode::BadFrame,
                &format!(
                    "a frame has been arriving for {} s without completing; closing",
                    timeout / 1000
                ),
            );
        }
    }

    /// The earliest time `expire_partials` has work.
    pub(super) fn partial_deadline(&self) -> Option<u64> {
        if self.cfg.frame_timeout_ms == 0 {
            return None;
        }
        self.partial
            .iter()
            .filter_map(|&k| self.conns.get(k.0).and_then(|c| c.partial_since))
            .min()
            .map(|since| since + self.cfg.frame_timeout_ms)
    }
}
