//! The plain byte relay that a relayed file transfer is compared with
//! (scenario 4): a relay thread, like `socat -b 262144`, accepts a sender
//! and a receiver on loopback and copies bytes from one to the other with a
//! 256 KiB buffer; the bench's main thread drives both ends with
//! non-blocking sockets, just as it drives the chat server's transfer. The
//! relay gets its own thread as the server gets its own process. [`load`]
//! runs one as background load beside chat round trips that do not go
//! through it (section 5's diagnostic of what the 2-core machine itself
//! does to them).

use super::procfs;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Relay buffer, as socat's `-b 262144`.
pub const RELAY_BUF: usize = 256 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RelayResult {
    pub scenario: String,
    pub bytes: u64,
    pub seconds: f64,
    /// Megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// CPU seconds of the whole bench process (relay thread included).
    pub bench_cpu_s: f64,
}

/// Start the relay thread on 127.0.0.1 (port chosen by the system). It
/// serves one sender/receiver pair: each end first sends one byte, `S` or
/// `R`, then the relay copies from the sender to the receiver until the
/// sender closes, and closes the receiver's side.
pub fn spawn_relay() -> io::Result<(SocketAddr, thread::JoinHandle<io::Result<u64>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let h = thread::Builder::new()
        .name("relay".into())
        .spawn(move || -> io::Result<u64> {
            let mut sender = None;
            let mut receiver = None;
            while sender.is_none() || receiver.is_none() {
                let (mut s, _) = listener.accept()?;
                s.set_nodelay(true)?;
                let mut role = [0u8; 1];
                s.read_exact(&mut role)?;
                match &role {
                    b"S" => sender = Some(s),
                    b"R" => receiver = Some(s),
                    _ => return Err(io::Error::other("relay: unknown role byte")),
                }
            }
            let (mut from, mut to) = (sender.unwrap(), receiver.unwrap());
            let mut buf = vec![0u8; RELAY_BUF];
            let mut total = 0u64;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                to.write_all(&buf[..n])?;
                total += n as u64;
            }
            to.shutdown(Shutdown::Write)?;
            Ok(total)
        })?;
    Ok((addr, h))
}

const SENDER: Token = Token(0);
const RECEIVER: Token = Token(1);

/// Push `bytes` through a fresh relay and time it: from the sender's first
/// byte to the receiver's end of stream.
pub fn run(bytes: u64, timeout: Duration) -> Result<RelayResult, String> {
    relay(bytes, timeout, None)
}

/// Relay as fast as it goes until `stop` is set (a background load that
/// does not touch the chat server); the bytes moved.
pub fn load(stop: &AtomicBool) -> Result<u64, String> {
    relay(u64::MAX, Duration::from_secs(3600), Some(stop)).map(|r| r.bytes)
}

fn relay(bytes: u64, timeout: Duration, stop: Option<&AtomicBool>) -> Result<RelayResult, String> {
    let (addr, relay) = spawn_relay().map_err(|e| format!("relay: {e}"))?;
    let me0 = procfs::cpu_seconds(None).unwrap_or(0.0);
    let connect = |role: &[u8]| -> io::Result<TcpStream> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.write_all(role)?;
        s.set_nonblocking(true)?;
        Ok(TcpStream::from_std(s))
    };
    let mut tx = connect(b"S").map_err(|e| format!("connect: {e}"))?;
    let mut rx = connect(b"R").map_err(|e| format!("connect: {e}"))?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut tx, SENDER, Interest::WRITABLE)
        .map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut rx, RECEIVER, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    let pattern: Vec<u8> = (0..RELAY_BUF).map(|i| (i % 251) as u8).collect();
    let mut rbuf = vec![0u8; RELAY_BUF];
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut tx_done = false;
    let mut events = Events::with_capacity(16);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut seconds = None;
    // Writes and reads happen until WouldBlock; the first pass starts writing.
    let mut try_write = true;
    let mut try_read = true;
    while seconds.is_none() {
        let stopped = stop.is_some_and(|s| s.load(Ordering::Relaxed));
        if stopped && !tx_done {
            // The receiver reads on to the end of what was sent.
            let _ = tx.shutdown(Shutdown::Write);
            tx_done = true;
        }
        if try_write && !tx_done {
            while sent < bytes {
                let off = (sent % RELAY_BUF as u64) as usize;
                let n = ((bytes - sent) as usize).min(RELAY_BUF - off);
                match tx.write(&pattern[off..off + n]) {
                    Ok(k) => sent += k as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("send: {e}")),
                }
            }
            if sent == bytes {
                let _ = tx.shutdown(Shutdown::Write);
                tx_done = true;
            }
        }
        if try_read {
            loop {
                match rx.read(&mut rbuf) {
                    Ok(0) => {
                        seconds = Some(start.elapsed().as_secs_f64());
                        break;
                    }
                    Ok(k) => received += k as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("receive: {e}")),
                }
            }
        }
        if seconds.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("relay timed out after {received} of {bytes} bytes"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        try_write = false;
        try_read = false;
        for ev in events.iter() {
            match ev.token() {
                SENDER => try_write = true,
                _ => try_read = true,
            }
        }
    }
    let relayed = relay
        .join()
        .map_err(|_| "relay thread panicked".to_string())?
        .map_err(|e| format!("relay: {e}"))?;
    let bytes = if stop.is_some() { sent } else { bytes };
    if received != bytes || relayed != bytes {
        return Err(format!(
            "relay moved {relayed} bytes, receiver got {received}, expected {bytes}"
        ));
    }
    let seconds = seconds.unwrap_or(0.0).max(1e-9);
    Ok(RelayResult {
        scenario: "relay".into(),
        bytes,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        bench_cpu_s: procfs::cpu_seconds(None).unwrap_or(0.0) - me0,
    })
}

/// Section 5's diagnostic: chat round trips idle, then beside `relays`
/// plain relays in this process that do not go through the server (a
/// relay thread and the thread driving its ends, as busy as the server's
/// loop and the transfers' driver are under the judged load). Whatever the
/// round trips lose here, the machine's cores do, not the server.
pub fn latency_beside_relays(
    relays: usize,
    rcfg: &super::rtt::RttConfig,
) -> Result<(super::rtt::RttResult, super::rtt::RttResult), String> {
    let mut idle_cfg = rcfg.clone();
    idle_cfg.label = "idle".into();
    let idle = super::rtt::run(&idle_cfg)?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = (0..relays)
        .map(|_| {
            let stop = stop.clone();
            thread::Builder::new()
                .name("relay-load".into())
                .spawn(move || load(&stop))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    // (the relays reach full speed within a few milliseconds)
    thread::sleep(Duration::from_millis(200));
    let mut loaded_cfg = rcfg.clone();
    loaded_cfg.label = match relays {
        1 => "1 plain relay".to_string(),
        n => format!("{n} plain relays"),
    };
    loaded_cfg.tag = super::fanout::unique_tag("q");
    let loaded = super::rtt::run(&loaded_cfg);
    stop.store(true, Ordering::Relaxed);
    for h in loads {
        h.join()
            .map_err(|_| "relay-load thread panicked".to_string())??;
    }
    Ok((idle, loaded?))
}
