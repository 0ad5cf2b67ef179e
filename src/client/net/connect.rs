//! Opening a connection to one server address: resolve, connect (bounded),
//! hand the socket to mio, start TLS; and the line shown when a try fails
//! and will be retried.

use super::super::event::Event;
use super::super::servers::ServerAddr;
use super::super::tls::Transport;
use super::super::ClientError;
use super::NetConfig;
use mio::net::TcpStream;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// How long one address gets to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect to `addr` (see [`connect`]) and start TLS if configured, the
/// certificate checked against `addr`'s host.
pub(super) fn connect_to(cfg: &NetConfig, addr: &ServerAddr) -> Result<Transport, ClientError> {
    let sock = connect(addr)?;
    Transport::new(sock, cfg.tls.as_ref(), &addr.host).map_err(ClientError::Tls)
}

/// Resolve and connect (blocking, bounded), then hand the socket to mio.
pub fn connect(addr: &ServerAddr) -> Result<TcpStream, ClientError> {
    let cannot = |reason: String| ClientError::CannotReach {
        addr: addr.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .map_err(|e| cannot(e.to_string()))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match std::net::TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_nonblocking(true).map_err(|e| cannot(describe(&e)))?;
                // Chat frames are small and latency matters more than packing.
                let _ = s.set_nodelay(true);
                return Ok(TcpStream::from_std(s));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(cannot(last.map_or_else(
        || "no address found".to_string(),
        |e| describe(&e),
    )))
}

/// The line shown after a failed try to connect or log in; `next` names the
/// address the next try goes to (with several addresses).
pub(super) fn retrying(e: &ClientError, delay: Duration, next: Option<String>) -> Event {
    let reason = match e {
        ClientError::CannotReach { addr, reason } => {
            format!("cannot reach the chat server at {addr} ({reason})")
        }
        ClientError::Lost { .. } | ClientError::Login { .. } => {
            format!("the server did not finish the login ({e})")
        }
        e => e.to_string(),
    };
    Event::Retrying {
        reason,
        retry_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        next,
    }
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    }
}
