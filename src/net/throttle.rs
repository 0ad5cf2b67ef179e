//! The shell's side of two limits: input throttled by the message rate, and
//! the wrong protocol on a port (TLS on a plaintext port and the reverse).
//!
//! A connection past its message rate keeps its undecoded input in its read
//! buffer (up to [`THROTTLED_INPUT`] bytes; beyond that the socket is not read, so
//! TCP pushes back on the sender) until the time the core named; then the
//! buffer is decoded again and the socket read as usual.

use super::{ingest, Conn, Server, Slot};
use crate::core::{ConnId, Core, Now};
use crate::protocol::ErrorCode;

/// Bytes a throttled connection may have read but not decoded.
pub(super) const THROTTLED_INPUT: usize = 64 * 1024;

impl Server {
    /// The earliest time a throttled connection may go on.
    pub(super) fn throttle_deadline(&self) -> Option<u64> {
        self.throttled
            .iter()
            .filter_map(|&k| self.conns.get(k.0).and_then(|c| c.throttled_until))
            .min()
    }

    /// Let throttled connections whose time has come go on: decode what
    /// they buffered, then read their sockets again.
    pub(super) fn release_throttled(&mut self, now: Now) {
        if self.throttled.is_empty() {
            return;
        }
        let throttled = std::mem::take(&mut self.throttled);
        let max_frame = self.cfg.max_frame;
        for k in throttled {
            let Some(conn) = self.conns.get_mut(k.0) else {
                continue;
            };
            match conn.throttled_until {
                Some(t) if t > now.mono_ms => {
                    self.throttled.push(k);
                    continue;
                }
                _ => conn.throttled_until = None,
            }
            ingest(conn, &[], &mut self.core, max_frame, now);
            if conn.throttled_until.is_some() {
                self.throttled.push(k);
            } else {
                self.read_conn(k, now);
            }
        }
    }

    /// A plaintext client on a TLS port: it cannot read TLS, so tell it in
    /// plaintext, then close.
    pub(super) fn not_tls(&mut self, k: Slot, first: u8) {
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        log::warn!(
            "conn {k} ({}): plaintext client on the TLS port (first byte {first:#04x}, not a TLS handshake); answering tls_required and closing",
            conn.peer
        );
        conn.stop_reading = true;
        let id = conn.id;
        self.core.refuse(
            id,
            ErrorCode::TlsRequired,
            "this port speaks TLS: connect with TLS (chat-client --tls, and --ca FILE for a self-signed certificate)",
        );
    }
}

/// A TLS client on a plaintext port: its ClientHello arrived where frames
/// should. Answer in plaintext (its TLS stack reports garbage, which the chat
/// client recognises), then close.
pub(super) fn tls_on_plain_port(k: ConnId, conn: &mut Conn, core: &mut Core) {
    log::warn!(
        "conn {k} ({}): TLS handshake on a plaintext port; answering tls_not_supported and closing",
        conn.peer
    );
    conn.stop_reading = true;
    core.refuse(
        k,
        ErrorCode::TlsNotSupported,
        "this server does not speak TLS on this port; connect without --tls",
    );
}
