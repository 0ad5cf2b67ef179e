//! The bystander: one client on its own thread and its own mio `Poll` that
//! sends a `ping` every interval (open loop) and credits each `pong`'s round
//! trip to the phase its ping was sent in ([`PingBook`], per-phase
//! histograms that the runner takes when a phase ends).

use super::frames::read_frames;
use crate::bench::net::{Conn, ReadEnd};
use crate::bench::stats::Histogram;
use crate::bench::wire;
use crate::protocol::{encode, ClientMsg};
use mio::{Events, Interest, Poll, Token};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The sequence number of a `pong` body, `None` for any other frame.
pub fn pong_seq(body: &[u8]) -> Option<u64> {
    if let Some(rest) = body.strip_prefix(br#"{"type":"pong","seq":"#) {
        let digits = rest.strip_suffix(b"}")?;
        if !digits.is_empty() && digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit) {
            return std::str::from_utf8(digits).ok()?.parse().ok();
        }
    }
    if !body.starts_with(b"{") || !body.windows(6).any(|w| w == b"\"pong\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("type")?.as_str()? != "pong" {
        return None;
    }
    v.get("seq")?.as_u64()
}

/// The bystander's pings in flight, oldest first, each with the phase it
/// was sent in. The server answers a connection's frames in order, so a
/// `pong` answers the oldest ping, and any older one still in flight was
/// lost.
#[derive(Debug, Default)]
pub struct PingBook {
    in_flight: VecDeque<(u64, u64, usize)>,
    next_seq: u64,
    /// Pings passed over by a later `pong`.
    pub lost: u64,
}

impl PingBook {
    /// Note a ping sent at `at_ns` in `phase`; its sequence number.
    pub fn send(&mut self, at_ns: u64, phase: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push_back((seq, at_ns, phase));
        seq
    }

    /// A `pong` for `seq` read at `at_ns`: the phase its ping was sent in
    /// and the round trip in ns; `None` for a sequence number not in flight.
    pub fn answer(&mut self, seq: u64, at_ns: u64) -> Option<(usize, u64)> {
        if !self.in_flight.iter().any(|p| p.0 == seq) {
            return None;
        }
        while let Some(&(s, sent, phase)) = self.in_flight.front() {
            self.in_flight.pop_front();
            if s == seq {
                return Some((phase, at_ns.saturating_sub(sent)));
            }
            self.lost += 1;
        }
        None
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Every ping below this sequence number is answered (or lost).
    pub fn resolved(&self) -> u64 {
        self.in_flight.front().map_or(self.next_seq, |p| p.0)
    }
}

/// The bystander's round trips for one phase, and the pings sent in it.
#[derive(Default)]
pub(super) struct PhaseStats {
    pub(super) hist: Histogram,
    pub(super) sent: u64,
}

#[derive(Default)]
struct Shared {
    /// The phase pings are sent in now (0: none measured).
    phase: AtomicUsize,
    stop: AtomicBool,
    ready: AtomicBool,
    /// Pings sent so far (the next sequence number).
    sent: AtomicU64,
    /// Every ping below this is answered or lost.
    resolved: AtomicU64,
    stats: Mutex<HashMap<usize, PhaseStats>>,
    error: Mutex<Option<String>>,
}

/// The bystander's thread, stopped and joined on drop.
pub(super) struct Pinger {
    sh: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Pinger {
    /// Start the bystander (`name` in `room`, a ping `every` interval) and
    /// wait until it has logged in.
    pub(super) fn start(
        addr: SocketAddr,
        name: String,
        room: String,
        every: Duration,
    ) -> Result<Pinger, String> {
        let sh = Arc::new(Shared::default());
        let sh2 = sh.clone();
        let handle = std::thread::Builder::new()
            .name("bystander".into())
            .spawn(move || {
                if let Err(e) = ping_loop(addr, &name, &room, every, &sh2) {
                    *sh2.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                }
            })
            .map_err(|e| e.to_string())?;
        let p = Pinger {
            sh,
            handle: Some(handle),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.sh.ready.load(Ordering::Acquire) {
            p.check()?;
            if Instant::now() > deadline {
                return Err("the bystander did not log in within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(p)
    }

    /// The bystander thread's error, if it stopped on one.
    pub(super) fn check(&self) -> Result<(), String> {
        match self
            .sh
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            Some(e) => Err(format!("bystander: {e}")),
            None => Ok(()),
        }
    }

    /// Credit pings sent from now on to `phase` (0: to none).
    pub(super) fn measure(&self, phase: usize) {
        self.sh.phase.store(phase, Ordering::Release);
    }

    /// Wait until every ping sent so far is answered; false at the deadline.
    pub(super) fn quiesce(&self, deadline: Instant) -> bool {
        let target = self.sh.sent.load(Ordering::Acquire);
        while self.sh.resolved.load(Ordering::Acquire) < target {
            if Instant::now() > deadline || self.check().is_err() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The round trips and pings credited to `phase` so far, removed.
    pub(super) fn take(&self, phase: usize) -> PhaseStats {
        self.sh
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&phase)
            .unwrap_or_default()
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.sh.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn ping_loop(
    addr: SocketAddr,
    name: &str,
    room: &str,
    every: Duration,
    sh: &Shared,
) -> Result<(), String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(8);
    let mut c = Conn::connect(addr).map_err(|e| format!("connect: {e}"))?;
    poll.registry()
        .register(
            &mut c.stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|e| e.to_string())?;
    c.out().extend_from_slice(&wire::hello(name, room));
    let epoch = Instant::now();
    let ns = || epoch.elapsed().as_nanos() as u64;
    let every_ns = every.as_nanos().max(1) as u64;
    let mut book = PingBook::default();
    let mut scratch = Vec::new();
    let mut ready = false;
    let mut next_send = 0u64;
    let login_deadline = epoch + Duration::from_secs(10);
    while !sh.stop.load(Ordering::Acquire) {
        let now = ns();
        if ready && now >= next_send {
            let phase = sh.phase.load(Ordering::Acquire);
            let seq = book.send(now, phase);
            c.out()
                .extend_from_slice(&encode(&ClientMsg::Ping { seq: Some(seq) }));
            c.flush().map_err(|e| format!("send: {e}"))?;
            sh.sent.store(seq + 1, Ordering::Release);
            if phase != 0 {
                sh.stats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(phase)
                    .or_default()
                    .sent += 1;
            }
            next_send = (next_send + every_ns).max(now);
        }
        if !ready && Instant::now() > login_deadline {
            return Err("no `joined` within 10 s of connecting".into());
        }
        let wait = if ready {
            Duration::from_nanos(next_send.saturating_sub(ns())).min(Duration::from_millis(50))
        } else {
            Duration::from_millis(20)
        };
        poll.poll(&mut events, Some(wait))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            if !c.connected {
                c.finish_connect().map_err(|e| format!("connect: {e}"))?;
            }
            if ev.is_writable() {
                c.flush().map_err(|e| format!("send: {e}"))?;
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let mut pongs: Vec<(u64, u64)> = Vec::new();
            let mut joined = false;
            let mut fatal = None;
            let res = read_frames(&mut c, &mut scratch, epoch, |body, at| {
                if let Some(seq) = pong_seq(body) {
                    pongs.push((seq, at));
                } else if body.starts_with(br#"{"type":"joined""#) {
                    joined = true;
                } else if body.starts_with(br#"{"type":"error""#)
                    || body.starts_with(br#"{"type":"bye""#)
                {
                    fatal = Some(format!(
                        "the server said {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ));
                }
            });
            if let Some(f) = fatal {
                return Err(f);
            }
            match res? {
                Ok(ReadEnd::Drained) => {}
                Ok(ReadEnd::Eof) => return Err("the server closed the connection".into()),
                Err(e) => return Err(format!("read: {e}")),
            }
            if joined && !ready {
                ready = true;
                next_send = ns();
                sh.ready.store(true, Ordering::Release);
            }
            if !pongs.is_empty() {
                let mut stats = sh.stats.lock().unwrap_or_else(|e| e.into_inner());
                for (seq, at) in pongs {
                    if let Some((phase, rtt)) = book.answer(seq, at) {
                        if phase != 0 {
                            stats.entry(phase).or_default().hist.record(rtt);
                        }
                    }
                }
                drop(stats);
                sh.resolved.store(book.resolved(), Ordering::Release);
            }
        }
    }
    Ok(())
}
