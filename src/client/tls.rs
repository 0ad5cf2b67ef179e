//! The client's connection: plain TCP or TLS (rustls over the same
//! non-blocking mio socket, in the network thread; no threads of its own).
//!
//! [`Transport`] reads and writes plaintext like a socket: for TLS, `read`
//! feeds ciphertext from the socket into the rustls `ClientConnection` and
//! returns decrypted bytes (`WouldBlock` when there are none yet), `write`
//! hands plaintext to the session and pushes ciphertext out; while the
//! session `wants_write` the caller keeps WRITABLE interest armed.
//!
//! Trust: `--ca FILE` trusts the certificates in that PEM file (a
//! self-signed server certificate, or the CA that signed it); without it the
//! operating system's certificate store. A server that answers the TLS
//! handshake with a plaintext frame does not speak TLS on that port: that is
//! reported as such ("drop --tls"), not as a garbled handshake.

use crate::protocol::{decode_frame, ServerMsg};
use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Bytes of a handshake answer kept to recognise a plaintext server.
const SNIFF: usize = 256;

/// What `--tls` connects with: the rustls configuration. The name the
/// certificate must carry is the host part of the address each connection
/// uses ([`server_name`]).
#[derive(Clone)]
pub struct TlsSetup {
    pub config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

/// The name checked against the certificate of the server at `host` (a
/// host name or an IP address, without port or brackets).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("\"{host}\" cannot be checked against a certificate: {e}"))
}

/// The rustls configuration for `--tls`: trust `ca` (PEM) if given, else the
/// system's roots.
pub fn setup(ca: Option<&Path>) -> Result<TlsSetup, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{} holds no PEM certificate", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: not a usable certificate: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(
                    "no trusted certificates found on this system; pass the server's certificate with --ca FILE"
                        .into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsSetup {
        config: Arc::new(config),
    })
}

/// A TLS error put in words for the user.
fn explain(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not trusted here (unknown issuer); for a self-signed certificate pass it with --ca FILE".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "the server's certificate is not for this host name; connect with the name it was made for (--host)".into()
        }
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        Error::InvalidCertificate(CertificateError::BadSignature) => {
            "the server's certificate is not trusted here (it is not signed by a certificate given with --ca); pass the server's own certificate with --ca FILE".into()
        }
        Error::InvalidCertificate(_) => {
            "the server's certificate is not trusted here; for a self-signed certificate pass it with --ca FILE".into()
        }
        other => format!("TLS failed: {other}"),
    }
}

/// The error for a server that answered a TLS handshake in plaintext.
pub const NOT_TLS: &str = "the server does not speak TLS on this port; drop --tls";

/// Plain TCP, or a TLS session over it.
pub enum Transport {
    Plain(TcpStream),
    Tls {
        sock: TcpStream,
        session: Box<ClientConnection>,
        /// The first bytes received during the handshake.
        sniff: Vec<u8>,
        /// TLS bytes read from the socket and not yet given to the session:
        /// it takes more only once its plaintext is read out (rustls
        /// refuses input past 16 KiB of unread plaintext).
        backlog: Vec<u8>,
    },
}

impl Transport {
    /// Wrap a socket connected to `host`, starting a TLS handshake (checking
    /// the certificate against `host`) if `tls` is given.
    pub fn new(sock: TcpStream, tls: Option<&TlsSetup>, host: &str) -> Result<Transport, String> {
        let Some(t) = tls else {
            return Ok(Transport::Plain(sock));
        };
        let session = ClientConnection::new(t.config.clone(), server_name(host)?)
            .map_err(|e| format!("TLS setup: {e}"))?;
        Ok(Transport::Tls {
            sock,
            session: Box::new(session),
            sniff: Vec::new(),
            backlog: Vec::new(),
        })
    }

    /// TLS bytes are waiting to be written (keep WRITABLE interest armed).
    pub fn wants_write(&self) -> bool {
        matches!(self, Transport::Tls { session, .. } if session.wants_write())
    }

    /// Write pending TLS bytes until done or `WouldBlock` (no-op for plain).
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Transport::Tls { sock, session, .. } => flush_session(sock, session),
            Transport::Plain(_) => Ok(()),
        }
    }

    /// Say goodbye at the TLS level (close_notify), best effort.
    pub fn close_notify(&mut self) {
        if let Transport::Tls { session, .. } = self {
            session.send_close_notify();
        }
        let _ = self.flush_tls();
    }

    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls { sock, .. } => sock,
        }
    }
}

/// Whether `bytes` start with one of our plaintext frames (a server that
/// does not speak TLS answering a handshake).
pub fn is_plaintext_frame(bytes: &[u8]) -> bool {
    matches!(
        decode_frame::<ServerMsg>(bytes, 1 << 20),
        Ok(Some(d)) if d.frame.is_ok()
    ) || (bytes.len() >= 5 && bytes[0] == 0 && bytes[4] == b'{')
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (sock, session, sniff, backlog) = match self {
            Transport::Plain(s) => return s.read(buf),
            Transport::Tls {
                sock,
                session,
                sniff,
                backlog,
            } => (sock, session, sniff, backlog),
        };
        loop {
            // Plaintext already decrypted first.
            match session.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the server sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let handshaking = session.is_handshaking();
            if backlog.is_empty() {
                let mut tmp = [0u8; 16 * 1024];
                let n = match sock.read(&mut tmp) {
                    Ok(0) if handshaking => {
                        let why = if is_plaintext_frame(sniff) {
                            NOT_TLS.to_string()
                        } else {
                            "the server closed the connection during the TLS handshake (does it speak TLS on this port?)".to_string()
                        };
                        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                    }
                    Ok(0) => return Ok(0),
                    Ok(n) => n,
                    Err(e) => return Err(e), // WouldBlock included: nothing more for now
                };
                if handshaking && sniff.len() < SNIFF {
                    let take = n.min(SNIFF - sniff.len());
                    sniff.extend_from_slice(&tmp[..take]);
                }
                backlog.extend_from_slice(&tmp[..n]);
            }
            // As much as the session takes now; the plaintext it yields is
            // read out (above) before it is given more.
            let mut input = &backlog[..];
            if let Err(e) = session.read_tls(&mut input) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            let used = backlog.len() - input.len();
            if used == 0 {
                // (never spin on input the session will not take)
                let why = "TLS: the session took none of the bytes received";
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
            backlog.drain(..used);
            if let Err(e) = session.process_new_packets() {
                let _ = session.write_tls(sock); // the alert, best effort
                let why = if handshaking && is_plaintext_frame(sniff) {
                    NOT_TLS.to_string()
                } else {
                    explain(&e)
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
            // Handshake answers (and key updates) go out at once; what the
            // socket refuses now waits for WRITABLE (`wants_write`).
            flush_session(sock, session)?;
        }
    }
}

/// Write a session's pending TLS bytes until done or `WouldBlock`.
fn flush_session(sock: &mut TcpStream, session: &mut ClientConnection) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls { session, .. } => {
                let n = session.writer().write(buf)?;
                self.flush_tls()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls { .. } => self.flush_tls(),
        }
    }
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp().register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.tcp().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp().deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plaintext_error_frame_is_recognised() {
        let frame = crate::protocol::encode(&ServerMsg::Error {
            code: crate::protocol::ErrorCode::TlsNotSupported,
            message: "no".into(),
            re: None,
            cid: None,
        });
        assert!(is_plaintext_frame(&frame));
        assert!(is_plaintext_frame(&frame[..8]));
        assert!(!is_plaintext_frame(&[0x16, 0x03, 0x03, 0x00, 0x7a]));
        assert!(!is_plaintext_frame(&[0x15, 0x03, 0x03, 0x00, 0x02]));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = setup(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_certificate_name_is_the_host_part_of_an_address() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        let e = server_name("localhost:5555").unwrap_err();
        assert!(
            e.starts_with("\"localhost:5555\" cannot be checked against a certificate"),
            "{e}"
        );
    }
}
