//! Scenario 3: C idle logged-in connections.
//!
//! Connects C clients with a bounded number of logins in flight, each logging
//! in to a room of `room_size` members (chat: `hello` with that room; Redis:
//! `SUBSCRIBE` to that channel, the analogue of a logged-in room member),
//! and reports the time from the first connect to the last login, then the
//! server's resident memory per connection: (VmRSS with all C connected and
//! settled - VmRSS before the first connect) / C. Rooms keep the join-notice
//! traffic linear in C (one room of 10,000 would send 50 million notices).

use super::fanout::{unique_tag, Target, MAX_FRAME};
use super::net::{Conn, ReadEnd};
use super::procfs;
use super::resp::{self, Reply};
use super::wire::{self, ChatIn};
use crate::protocol::ServerMsg;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Logins in flight at once by default, against either server: under both
/// listen backlogs (chat-server's `net::LISTEN_BACKLOG`, 1024; Redis's
/// `tcp-backlog` default, 511), so neither server's accept queue overflows
/// and leaves clients waiting out a 1 s SYN retransmit. (With 1000 in
/// flight, Redis's 10,000 subscribes took 1.04-1.12 s instead of 0.47-0.54 s.)
pub const MAX_CONNECTING: usize = 500;

#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub target: Target,
    pub addr: SocketAddr,
    /// C: connections.
    pub count: usize,
    /// Members per room (channel).
    pub room_size: usize,
    /// Logins in flight at once.
    pub max_connecting: usize,
    /// How long everything may take.
    pub timeout: Duration,
    /// How long to stay idle, reading, before measuring memory.
    pub hold: Duration,
    pub server_pid: Option<u32>,
    pub tag: String,
}

impl IdleConfig {
    pub fn new(target: Target, addr: SocketAddr, count: usize) -> Self {
        IdleConfig {
            target,
            addr,
            count,
            room_size: 100,
            max_connecting: MAX_CONNECTING,
            timeout: Duration::from_secs(120),
            hold: Duration::from_millis(500),
            server_pid: None,
            tag: unique_tag("i"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdleResult {
    pub scenario: String,
    pub target: String,
    pub count: usize,
    pub room_size: usize,
    /// First connect to last login.
    pub login_s: f64,
    pub logins_per_s: f64,
    /// Join notices received (chat): sum over rooms of n(n-1)/2.
    pub notices: u64,
    pub server_errors: u64,
    pub first_error: Option<String>,
    pub server_rss_before: Option<u64>,
    pub server_rss_after: Option<u64>,
    pub server_peak_rss: Option<u64>,
    /// (after - before) / count, in bytes.
    pub rss_per_conn: Option<f64>,
    pub bench_cpu_s: f64,
}

impl IdleResult {
    pub fn summary(&self) -> String {
        format!(
            "idle {} C={}: logged in in {:.2} s ({:.0}/s); server RSS {} -> {} = {} per connection; bench CPU {:.2} s; errors {}",
            self.target,
            self.count,
            self.login_s,
            self.logins_per_s,
            self.server_rss_before.map_or("?".into(), mib),
            self.server_rss_after.map_or("?".into(), mib),
            self.rss_per_conn
                .map_or("?".into(), |b| format!("{:.0} B", b)),
            self.bench_cpu_s,
            self.server_errors
        )
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

/// Run one idle-connections measurement. The connections are closed when it
/// returns.
pub fn run(cfg: &IdleConfig) -> Result<IdleResult, String> {
    let c = cfg.count;
    let rs = cfg.room_size.max(1);
    let me0 = procfs::cpu_seconds(None).unwrap_or(0.0);
    let rss_before = cfg.server_pid.and_then(|p| procfs::rss_bytes(Some(p)).ok());
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let epoch = Instant::now();
    let deadline = epoch + cfg.timeout;
    let mut conns: Vec<Conn> = Vec::with_capacity(c);
    let mut logged: Vec<bool> = Vec::with_capacity(c);
    let mut ready = 0usize;
    let mut notices = 0u64;
    let mut errors = 0u64;
    let mut first_error: Option<String> = None;
    let mut scratch = Vec::new();
    let mut login_s = None;
    let expected_notices: u64 = (0..c.div_ceil(rs))
        .map(|r| {
            let n = (c - r * rs).min(rs) as u64;
            n * n.saturating_sub(1) / 2
        })
        .sum();
    let room_of = |i: usize| format!("{}-r{}", cfg.tag, i / rs);
    let mut hold_until: Option<Instant> = None;

    loop {
        while conns.len() < c && conns.len() - ready < cfg.max_connecting.max(1) {
            let i = conns.len();
            let mut conn = Conn::connect(cfg.addr)
                .map_err(|e| format!("connect #{i}: {e} (is `ulimit -n` high enough?)"))?;
            poll.registry()
                .register(
                    &mut conn.stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("register: {e}"))?;
            conns.push(conn);
            logged.push(false);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timed out: {ready} of {c} logged in, {notices} of {expected_notices} notices"
            ));
        }
        match poll.poll(&mut events, Some(Duration::from_millis(50))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let conn = &mut conns[i];
            if !conn.connected && (ev.is_writable() || ev.is_error()) {
                match conn.finish_connect() {
                    Ok(true) => match cfg.target {
                        Target::Chat => {
                            let hello = wire::hello(&format!("{}-{i}", cfg.tag), &room_of(i));
                            conn.out().extend_from_slice(&hello);
                        }
                        Target::Redis => {
                            resp::push_command(conn.out(), &[b"SUBSCRIBE", room_of(i).as_bytes()]);
                        }
                    },
                    Ok(false) => {}
                    Err(e) => return Err(format!("connect #{i}: {e}")),
                }
            }
            if ev.is_writable() {
                conn.flush().map_err(|e| format!("write #{i}: {e}"))?;
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                let mut got_login = false;
                let mut fatal: Option<String> = None;
                let mut note = |e: String| {
                    errors += 1;
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                };
                let res = conn.read(&mut scratch, epoch, |data, _now| {
                    let mut off = 0;
                    loop {
                        match cfg.target {
                            Target::Chat => match wire::split_frame(&data[off..], MAX_FRAME) {
                                Ok(Some((body, used))) => {
                                    off += used;
                                    match wire::classify(body, 0) {
                                        ChatIn::JoinNotice => notices += 1,
                                        ChatIn::Other(ServerMsg::Joined { .. }) => got_login = true,
                                        ChatIn::Other(ServerMsg::Error {
                                            code, message, ..
                                        }) => note(format!("{code:?}: {message}")),
                                        ChatIn::Bad(e) => note(e),
                                        _ => {}
                                    }
                                }
                                Ok(None) => return off,
                                Err(e) => {
                                    fatal = Some(e);
                                    return data.len();
                                }
                            },
                            Target::Redis => match resp::parse(&data[off..]) {
                                Ok(Some((reply, used))) => {
                                    off += used;
                                    match reply {
                                        Reply::Subscribed { .. } => got_login = true,
                                        Reply::Error(e) => {
                                            note(String::from_utf8_lossy(e).into_owned())
                                        }
                                        _ => {}
                                    }
                                }
                                Ok(None) => return off,
                                Err(e) => {
                                    fatal = Some(e.to_string());
                                    return data.len();
                                }
                            },
                        }
                    }
                });
                match res {
                    Ok(ReadEnd::Drained) => {}
                    Ok(ReadEnd::Eof) => {
                        fatal.get_or_insert_with(|| format!("the server closed connection #{i}"));
                    }
                    Err(e) => {
                        fatal.get_or_insert_with(|| format!("read #{i}: {e}"));
                    }
                }
                if let Some(f) = fatal {
                    return Err(f);
                }
                if got_login && !logged[i] {
                    logged[i] = true;
                    ready += 1;
                    if ready == c {
                        login_s = Some(epoch.elapsed().as_secs_f64());
                    }
                }
            }
        }
        let settled = ready == c && (cfg.target == Target::Redis || notices >= expected_notices);
        if settled {
            let until = *hold_until.get_or_insert_with(|| Instant::now() + cfg.hold);
            if Instant::now() >= until {
                break;
            }
        }
    }
    let rss_after = cfg.server_pid.and_then(|p| procfs::rss_bytes(Some(p)).ok());
    let peak = cfg
        .server_pid
        .and_then(|p| procfs::peak_rss_bytes(Some(p)).ok());
    let login_s = login_s.unwrap_or(0.0);
    let me1 = procfs::cpu_seconds(None).unwrap_or(0.0);
    drop(conns);
    Ok(IdleResult {
        scenario: "idle".into(),
        target: cfg.target.as_str().into(),
        count: c,
        room_size: rs,
        login_s,
        logins_per_s: c as f64 / login_s.max(1e-9),
        notices,
        server_errors: errors,
        first_error,
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        server_peak_rss: peak,
        rss_per_conn: match (rss_before, rss_after) {
            (Some(b), Some(a)) if c > 0 => Some((a as f64 - b as f64) / c as f64),
            _ => None,
        },
        bench_cpu_s: me1 - me0,
    })
}
