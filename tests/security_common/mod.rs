//! Helpers for the security tests: certificates made on the spot (rcgen),
//! the server started with TLS, a rustls client configuration, and a TLS
//! proxy so the plain protocol harness ([`common::Client`] and the transfer
//! helpers) can talk to a TLS server through a real rustls client.

#![allow(dead_code)]

use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A self-signed certificate for `localhost` and 127.0.0.1, and its key, as
/// PEM files in a temporary directory.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    pub fn new() -> Certs {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("generate a certificate");
        let dir = tempfile::Builder::new()
            .prefix("chat-test-certs")
            .tempdir()
            .unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
        Certs { dir, cert, key }
    }

    /// Server arguments to listen with this certificate.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// A rustls client that trusts only this certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_config_trusting(&self.cert)
    }
}

pub fn client_config_trusting(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// What a TLS handshake attempt ended with.
#[derive(Debug)]
pub enum Handshake {
    Done(Box<ClientConnection>, TcpStream),
    /// rustls refused; `raw` holds the first bytes the server sent.
    Failed {
        error: String,
        raw: Vec<u8>,
    },
}

/// Connect to `addr` and run a TLS handshake (bounded by a deadline),
/// keeping a copy of what the server sent.
pub fn handshake(addr: SocketAddr, cfg: Arc<ClientConfig>) -> Handshake {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = ClientConnection::new(cfg, name).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut raw = Vec::new();
    while tls.is_handshaking() {
        assert!(Instant::now() < deadline, "TLS handshake took over 5 s");
        while tls.wants_write() {
            if let Err(e) = tls.write_tls(&mut tcp) {
                return Handshake::Failed {
                    error: format!("write: {e}"),
                    raw,
                };
            }
        }
        let mut buf = [0u8; 16 * 1024];
        match tcp.read(&mut buf) {
            Ok(0) => {
                return Handshake::Failed {
                    error: "eof".into(),
                    raw,
                }
            }
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if let Err(e) = tls
                    .read_tls(&mut &buf[..n])
                    .map_err(|e| e.to_string())
                    .and_then(|_| tls.process_new_packets().map_err(|e| e.to_string()))
                {
                    // Keep reading what else arrives (the rest of a frame).
                    let more = read_until_close(&mut tcp, Duration::from_secs(2));
                    raw.extend(more);
                    return Handshake::Failed { error: e, raw };
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                return Handshake::Failed {
                    error: e.to_string(),
                    raw,
                }
            }
        }
    }
    while tls.wants_write() {
        tls.write_tls(&mut tcp).unwrap();
    }
    Handshake::Done(Box::new(tls), tcp)
}

fn read_until_close(tcp: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    out
}

/// A local plaintext port whose connections are carried over TLS (a rustls
/// client) to the server, so the plain harness can talk to a TLS server.
/// Stops (and so does every pump) on drop.
pub struct TlsProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl TlsProxy {
    pub fn start(server: SocketAddr, cfg: Arc<ClientConfig>) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((plain, _)) => {
                        let cfg = Arc::clone(&cfg);
                        let stop = Arc::clone(&stop2);
                        thread::spawn(move || {
                            if let Handshake::Done(tls, tcp) = handshake(server, cfg) {
                                let _ = pump(plain, *tls, tcp, &stop);
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TlsProxy { addr, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Move bytes both ways until either side closes.
fn pump(
    mut plain: TcpStream,
    mut tls: ClientConnection,
    mut tcp: TcpStream,
    stop: &AtomicBool,
) -> io::Result<()> {
    plain.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut to_plain: Vec<u8> = Vec::new();
    let mut plain_open = true;
    while !stop.load(Ordering::SeqCst) {
        let mut busy = false;
        if plain_open && to_plain.is_empty() {
            match plain.read(&mut buf) {
                Ok(0) => {
                    plain_open = false;
                    tls.send_close_notify();
                }
                Ok(n) => {
                    tls.writer().write_all(&buf[..n])?;
                    busy = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Ok(()),
            }
        }
        while tls.wants_write() {
            match tls.write_tls(&mut tcp) {
                Ok(_) => busy = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Ok(()),
            }
        }
        if to_plain.len() < 1 << 20 {
            match tls.read_tls(&mut tcp) {
                Ok(0) => {
                    let _ = plain.write_all(&to_plain);
                    return Ok(());
                }
                Ok(_) => {
                    busy = true;
                    if tls.process_new_packets().is_err() {
                        return Ok(());
                    }
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => to_plain.extend_from_slice(&buf[..n]),
                            Err(_) => break,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Ok(()),
            }
        }
        if !to_plain.is_empty() {
            match plain.write(&to_plain) {
                Ok(n) => {
                    to_plain.drain(..n);
                    busy = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Ok(()),
            }
        }
        if !busy {
            thread::sleep(Duration::from_micros(300));
        }
    }
    Ok(())
}
