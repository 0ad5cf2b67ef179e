//! The shell's side of two limits: input throttled by the message rate, and
//! the wrong protocol on a port (TLS on a plaintext port and the reverse).
//!
//! A connection past its message rate keeps its undecoded input in its read
//! buffer (up to [`THROTTLED_INPUT`] bytes; beyond that the socket is not
//! read, so TCP pushes back on the sender) until the core's timer says
//! `Output::Resume`; then the buffer is decoded again and the socket read as
//! usual.

use super::{Conn, Server, Slot};
use crate::core::{ConnId, Core};
use crate::protocol::ErrorCode;

/// Bytes a throttled connection may have read but not decoded.
pub(super) const THROTTLED_INPUT: usize = 64 * 1024;

impl Server {
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
