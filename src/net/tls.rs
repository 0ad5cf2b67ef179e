//! TLS for the reactor: rustls driven non-blocking inside the same mio loop,
//! no threads of its own.
//!
//! A connection on a TLS listener starts as [`Transport::Sniff`]: its first
//! byte decides. `0x16` (a TLS handshake record) makes it a
//! [`Transport::Tls`] session; anything else is a plaintext client on the
//! TLS port, which cannot read TLS, so it gets a plaintext
//! `error{code:"tls_required"}` frame and a close. On a plaintext listener a
//! connection whose first bytes are a TLS record header (`16 03`) is a TLS
//! client on the wrong port: it gets `tls_not_supported` (in plaintext, which
//! its TLS stack reports as garbage and the chat client recognises) and a close.
//!
//! Reading: ciphertext from the socket goes into the session
//! (`read_tls`), `process_new_packets` decrypts it, and the plaintext goes to
//! the frame decoder exactly as a plain connection's bytes do. Writing: the
//! connection's [`super::sched::OutQueue`] writes into a [`TlsWriter`], which
//! hands plaintext to the session only once the ciphertext of what it took
//! before is out (`write_tls` until `WouldBlock`), so at most one buffer's
//! worth sits inside rustls and the queue's priorities still hold. While the
//! session `wants_write`, the connection counts as having output, which keeps
//! WRITABLE interest armed.

use super::conn::{Conn, ReadOutcome};
use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Plaintext rustls may hold for one connection beyond our own queue.
const TLS_BUFFER: usize = 64 * 1024;

/// Where the server's certificate chain and private key are (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Load the certificate chain and key and build the rustls configuration.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let certs = load_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "cannot read a private key from {}: {e}; --tls-key wants a PEM file (make certs writes certs/key.pem)",
            files.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "the key in {} does not fit the certificate in {}: {e}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    Ok(Arc::new(cfg))
}

/// Every certificate in a PEM file (a chain: the server's first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// What carries a connection's bytes.
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// A TLS listener's connection whose first byte has not arrived yet.
    Sniff(Arc<ServerConfig>),
    /// A TLS session.
    Tls(Box<ServerConnection>),
}

/// Whether the first bytes of a plaintext connection are a TLS record header
/// (handshake, major version 3). Our frames start with a length whose first
/// byte is 0 for anything under 16 MiB, so this never hides a real frame.
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x16] | [0x16, 0x03, ..])
}

impl Transport {
    /// Ciphertext (or an alert) waits to be written.
    pub fn wants_write(&self) -> bool {
        matches!(self, Transport::Tls(s) if s.wants_write())
    }

    /// Decide a sniffing connection from its first byte, without consuming
    /// it. `Ok(None)`: decided (or nothing to decide); `Ok(Some(outcome))`:
    /// report that to the caller instead of reading.
    pub fn sniff(&mut self, stream: &TcpStream) -> io::Result<Option<ReadOutcome>> {
        let Transport::Sniff(cfg) = self else {
            return Ok(None);
        };
        let mut first = [0u8; 1];
        loop {
            match stream.peek(&mut first) {
                Ok(0) => return Ok(Some(ReadOutcome::Eof)),
                Ok(_) if first[0] == 0x16 => break,
                Ok(_) => {
                    *self = Transport::Plain;
                    return Ok(Some(ReadOutcome::NotTls(first[0])));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Some(ReadOutcome::Drained))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let mut session = ServerConnection::new(cfg.clone()).map_err(io::Error::other)?;
        session.set_buffer_limit(Some(TLS_BUFFER));
        *self = Transport::Tls(Box::new(session));
        Ok(None)
    }

    /// Queue a TLS close_notify (once); true if one was queued now.
    pub fn close_notify(&mut self) -> bool {
        match self {
            Transport::Tls(s) if !s.is_handshaking() => {
                s.send_close_notify();
                // Idempotent from here: a second call would queue another alert.
                true
            }
            _ => false,
        }
    }
}

/// Read ciphertext from `stream` into `session` until `WouldBlock`, EOF or
/// `budget` bytes, handing every piece of plaintext to `sink`.
pub fn read_some(
    ctx: &mut Conn,
    scratch: &mut [u8],
    budget: usize,
    mut sink: impl FnMut(&mut Conn, &[u8]),
) -> io::Result<ReadOutcome> {
    fn session(c: &mut Conn) -> (&mut ServerConnection, &mut TcpStream) {
        match &mut c.transport {
            Transport::Tls(s) => (&mut **s, &mut c.stream),
            _ => unreachable!("tls::read_some on a connection without a TLS session"),
        }
    }
    let mut total = 0;
    loop {
        let (tls, stream) = session(ctx);
        let (eof, drained) = match tls.read_tls(stream) {
            Ok(0) => (true, false),
            Ok(n) => {
                total += n;
                (false, false)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => (false, true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                // Tell the peer why (the alert rustls queued), then give up.
                let _ = tls.write_tls(stream);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {e}"),
                ));
            }
        };
        let mut closed = state.peer_has_closed();
        if state.plaintext_bytes_to_read() > 0 {
            loop {
                let (tls, _) = session(ctx);
                match tls.reader().read(scratch) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => sink(ctx, &scratch[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // A TCP close without close_notify: treat like EOF.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        closed = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if eof || closed {
            return Ok(ReadOutcome::Eof);
        }
        if drained {
            return Ok(ReadOutcome::Drained);
        }
        if total >= budget {
            return Ok(ReadOutcome::Budget);
        }
    }
}

/// A `Write` that feeds plaintext into a TLS session and ciphertext to the
/// socket, refusing (`WouldBlock`) more plaintext while earlier ciphertext is
/// still waiting for the socket.
pub struct TlsWriter<'a> {
    pub tls: &'a mut ServerConnection,
    pub stream: &'a mut TcpStream,
}

impl TlsWriter<'_> {
    /// Write ciphertext until none is left (`Ok`) or the socket is full
    /// (`Err(WouldBlock)`).
    pub fn drain(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Write for TlsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.drain()?;
        match self.tls.writer().write_vectored(bufs)? {
            // Buffer full, or the handshake is not done: wait for the socket.
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.drain() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_record_headers_are_recognised() {
        assert!(looks_like_tls(&[0x16]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_tls(&[0x16, 0x00]));
        assert!(!looks_like_tls(&[0x00, 0x00, 0x00, 0x17]));
        assert!(!looks_like_tls(b"GET / HTTP/1.1"));
        assert!(!looks_like_tls(&[]));
    }

    #[test]
    fn missing_files_say_which() {
        let e = server_config(&TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .unwrap_err();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
