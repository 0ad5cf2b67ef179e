//! Abuse limits: what one connection may take from the server, decided here
//! on the `now` the shell passes in (no clock reads).
//!
//! - **Connection caps**, in total and per address: [`Core::accept`] refuses a
//!   connection past either with `too_many_connections`, then closes it.
//! - **Login deadline** (slowloris): a connection that has not logged in
//!   `login_timeout_ms` after it was accepted gets `login_timeout` and is
//!   closed, whether it sent nothing, half a frame or only pings.
//! - **Message rate**, a token bucket per connection (`msg_rate` frames a
//!   second, `msg_burst` at once). Past it [`Core::admit`] tells the shell to
//!   *hold* the connection's input until a token is due: nothing is dropped,
//!   the sender waits and TCP pushes back on it. The first hold sends a
//!   `slow_down` warning (at most one per `flood_ms`); input held back without
//!   a pause for `flood_ms` is a flood: a last `slow_down` and a close. Every
//!   frame counts, logged in or not, one that does not decode too; pings and
//!   receipts cost an eighth of a token, file chunks and credit (bounded by
//!   their credit windows) nothing.
//! - **Rooms per user**: a `join` past `max_rooms_per_user` gets `too_many_rooms`.
//! - **Rooms in all**: a room exists while someone is in it (a held session
//!   counts); creating one past `max_rooms` gets `too_many_rooms`.
//! - **Registered names in all**: a registration past `max_accounts` gets
//!   `too_many_attempts` (the name may still be used open).
//! - **Lengths**: user and room names and message text (see [`super::validate`]).

use super::timers::Timer;
use super::{ConnId, Core, Now};
use crate::protocol::{ClientMsg, ErrorCode, ServerMsg};
use std::collections::HashMap;
use std::net::IpAddr;

/// The limits, each 0 for "no limit" unless said otherwise.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once, logged in or not.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// A connection must log in this soon after it is accepted.
    pub login_timeout_ms: u64,
    /// Frames a second a connection may send, on average.
    pub msg_rate: u32,
    /// Frames a connection may send at once (the bucket's size; at least 1).
    pub msg_burst: u32,
    /// Input held back this long without a pause is a flood: disconnect.
    pub flood_ms: u64,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: usize,
    /// Rooms that may exist at once (a room lives while someone is in it).
    pub max_rooms: usize,
    /// Names one IP address may register in an hour (0: no limit).
    pub max_registrations_per_ip: usize,
    /// Names registered on this server in all.
    pub max_accounts: usize,
    /// Longest user name, in characters (at least 1).
    pub max_name_chars: usize,
    /// Longest room name, in characters (at least 1).
    pub max_room_chars: usize,
    /// A frame that has been arriving this long without completing closes
    /// the connection (a trickle that would pin a read buffer forever).
    pub frame_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_384,
            max_connections_per_ip: 64,
            login_timeout_ms: 10_000,
            msg_rate: 20,
            msg_burst: 40,
            flood_ms: 10_000,
            max_rooms_per_user: 50,
            max_rooms: 10_000,
            max_registrations_per_ip: 20,
            max_accounts: 100_000,
            max_name_chars: super::validate::MAX_NAME,
            max_room_chars: super::validate::MAX_NAME,
            frame_timeout_ms: 30_000,
        }
    }
}

/// What the shell does with a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Hand it to [`Core::handle`] now.
    Go,
    /// Keep it, and everything behind it, unread until the core says
    /// [`Output::Resume`](super::Output::Resume) (at this monotonic time),
    /// then ask again.
    Hold { until_ms: u64 },
}

/// A token bucket in thousandths of a token, so refills are exact integers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    milli: u64,
    at_ms: u64,
}

impl Bucket {
    fn full(burst: u32, now_ms: u64) -> Bucket {
        Bucket {
            milli: u64::from(burst.max(1)) * 1000,
            at_ms: now_ms,
        }
    }

    /// Take `cost` thousandths of a token, or say when they will be there.
    fn take(&mut self, cost: u64, rate: u32, burst: u32, now_ms: u64) -> Result<(), u64> {
        let cap = u64::from(burst.max(1)) * 1000;
        let rate = u64::from(rate.max(1));
        // `rate` tokens a second is `rate` thousandths a millisecond.
        let elapsed = now_ms.saturating_sub(self.at_ms);
        self.milli = (self.milli + elapsed.saturating_mul(rate)).min(cap);
        self.at_ms = now_ms.max(self.at_ms);
        if self.milli >= cost {
            self.milli -= cost;
            Ok(())
        } else {
            Err(now_ms + (cost - self.milli).div_ceil(rate))
        }
    }
}

/// What the limits remember about one accepted connection: 48 bytes, one
/// entry per connection (what is only needed past the rate is boxed).
#[derive(Debug)]
struct ConnGuard {
    bucket: Bucket,
    /// Set once the connection was first held back.
    hold: Option<Box<Hold>>,
    ip: IpAddr,
    /// Its login deadline is set (in the timers).
    login_deadline: bool,
}

/// A throttled connection's warnings (see [`Core::admit`]).
#[derive(Debug, Default)]
struct Hold {
    /// Since when input has been held back without a pause.
    since: Option<u64>,
    last_warned: Option<u64>,
}

/// The limits' state in the core.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    conns: super::ConnTable<ConnGuard>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Guard {
    /// The address `conn` came from, when the shell said.
    pub(crate) fn ip_of(&self, conn: ConnId) -> Option<IpAddr> {
        self.conns.get(&conn).map(|g| g.ip)
    }
}

/// What a frame costs, in thousandths of a token. File chunks and credit
/// cost nothing: the credit windows bound them. Pings and receipts are tiny
/// and answered or coalesced at once: an eighth of a token, so a client may
/// acknowledge 8 messages for each one it sends. A frame that does not
/// decode costs a whole token like any other (it took the work to find out).
pub const FRAME_COST: u64 = 1000;
/// See [`FRAME_COST`].
pub const CHEAP_FRAME_COST: u64 = 125;

fn cost(msg: &ClientMsg) -> u64 {
    match msg {
        ClientMsg::FileChunk { .. } | ClientMsg::FileCredit { .. } => 0,
        ClientMsg::Ping { .. } | ClientMsg::Receipt { .. } => CHEAP_FRAME_COST,
        _ => FRAME_COST,
    }
}

fn secs(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{s:.1}")
    }
}

impl Core {
    /// A connection from `ip` was accepted at `now`. Past a connection cap it
    /// is refused: it gets `too_many_connections` and a close, and `false`
    /// comes back (the shell still drains the core's output for it).
    pub fn accept(&mut self, conn: ConnId, ip: IpAddr, now: Now) -> bool {
        self.connect(conn);
        let limits = &self.cfg.limits;
        let (max, per_ip) = (limits.max_connections, limits.max_connections_per_ip);
        let from_ip = self.guard.per_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if max > 0 && self.guard.conns.len() >= max {
            Some(format!(
                "the server is full ({max} connections, its limit); try again later"
            ))
        } else if per_ip > 0 && from_ip >= per_ip {
            Some(format!(
                "too many connections from your address {ip} ({per_ip}, the limit per address); close some and try again"
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            log::warn!("conn {conn} from {ip}: refused: {message}");
            self.send(
                conn,
                &ServerMsg::Error {
                    code: ErrorCode::TooManyConnections,
                    message,
                    re: None,
                    cid: None,
                },
            );
            self.close(conn, "connection cap".into());
            return false;
        }
        let timeout = self.cfg.limits.login_timeout_ms;
        let login_deadline = (timeout > 0).then(|| now.mono_ms + timeout);
        if let Some(d) = login_deadline {
            self.timers.set(Timer::Login(conn), d);
        }
        *self.guard.per_ip.entry(ip).or_default() += 1;
        let burst = self.cfg.limits.msg_burst;
        self.guard.conns.insert(
            conn,
            ConnGuard {
                bucket: Bucket::full(burst, now.mono_ms),
                hold: None,
                ip,
                login_deadline: login_deadline.is_some(),
            },
        );
        true
    }

    /// Forget what the limits know of `conn` (it is gone). Idempotent.
    pub(crate) fn guard_gone(&mut self, conn: ConnId) {
        self.accounts.forget_conn(conn);
        self.relay.forget_conn(conn);
        self.timers.cancel(&Timer::Throttle(conn));
        self.timers.cancel(&Timer::PartialFrame(conn));
        let Some(g) = self.guard.conns.remove(&conn) else {
            return;
        };
        if g.login_deadline {
            self.timers.cancel(&Timer::Login(conn));
        }
        if let Some(n) = self.guard.per_ip.get_mut(&g.ip) {
            *n -= 1;
            if *n == 0 {
                self.guard.per_ip.remove(&g.ip);
            }
        }
    }

    /// `conn` logged in, or is an HTTP download and not a chat session: its
    /// login deadline is cancelled (an idle logged-in connection keeps no timer).
    pub(crate) fn end_login_deadline(&mut self, conn: ConnId) {
        if let Some(g) = self.guard.conns.get_mut(&conn) {
            if std::mem::take(&mut g.login_deadline) {
                self.timers.cancel(&Timer::Login(conn));
            }
        }
    }

    /// `conn`'s login deadline passed: closed unless it logged in.
    pub(crate) fn login_expired(&mut self, conn: ConnId) {
        {
            if let Some(g) = self.guard.conns.get_mut(&conn) {
                g.login_deadline = false;
            }
            let Some(s) = self.sessions.get(&conn) else {
                return;
            };
            if s.name.is_some() || s.closing {
                return;
            }
            let timeout = secs(self.cfg.limits.login_timeout_ms);
            let ip = self.guard.ip_of(conn);
            log::info!(
                "conn {conn} ({}): no login within {timeout} s; closing",
                ip.map_or_else(|| "?".into(), |ip| ip.to_string())
            );
            self.send(
                conn,
                &ServerMsg::Error {
                    code: ErrorCode::LoginTimeout,
                    message: format!(
                        "no login within {timeout} s of connecting; the server closes the connection"
                    ),
                    re: None,
                    cid: None,
                },
            );
            self.close(conn, "login timeout".into());
        }
    }

    /// May `msg`, just decoded from `conn`, be handled now? Past the message
    /// rate the answer is [`Admit::Hold`]: the shell keeps the frame (and all
    /// input behind it) and asks again at `until_ms`. A connection held back
    /// without a pause for `flood_ms` is closed (the answer is still `Hold`;
    /// the close is in the core's output).
    pub fn admit(&mut self, conn: ConnId, msg: &ClientMsg, now: Now) -> Admit {
        if self.cluster_full(conn) {
            // Read again when the cluster has taken some (`Output::Resume`).
            return Admit::Hold {
                until_ms: now.mono_ms,
            };
        }
        self.admit_cost(conn, cost(msg), now)
    }

    /// [`Core::admit`] for a frame that did not decode: it costs a whole
    /// token, and past the rate it waits (with what follows it) like any.
    pub fn admit_invalid(&mut self, conn: ConnId, now: Now) -> Admit {
        self.admit_cost(conn, FRAME_COST, now)
    }

    fn admit_cost(&mut self, conn: ConnId, cost: u64, now: Now) -> Admit {
        let l = &self.cfg.limits;
        let (rate, burst, flood_ms) = (l.msg_rate, l.msg_burst, l.flood_ms);
        if rate == 0 || cost == 0 {
            return Admit::Go;
        }
        let Some(g) = self.guard.conns.get_mut(&conn) else {
            return Admit::Go;
        };
        let until_ms = match g.bucket.take(cost, rate, burst, now.mono_ms) {
            Ok(()) => return Admit::Go,
            Err(until) => until,
        };
        let hold = g.hold.get_or_insert_with(Box::default);
        let since = *hold.since.get_or_insert(now.mono_ms);
        let held = now.mono_ms - since;
        if flood_ms > 0 && held >= flood_ms {
            if !self.sessions.get(&conn).is_some_and(|s| s.closing) {
                let ip = g.ip;
                log::warn!(
                    "conn {conn} ({ip}): flooding: sent faster than {rate} frames/s for {} s; disconnecting",
                    secs(held)
                );
                self.error_frame(
                    conn,
                    format!(
                        "you kept sending faster than {rate} messages a second for {} s; disconnecting",
                        secs(held)
                    ),
                );
                self.close(conn, "flooding".into());
            }
            self.timers.set(Timer::Throttle(conn), until_ms);
            return Admit::Hold { until_ms };
        }
        let warn = match hold.last_warned {
            None => true,
            Some(t) => now.mono_ms.saturating_sub(t) >= flood_ms.max(1_000),
        };
        if warn {
            hold.last_warned = Some(now.mono_ms);
            let flood = if flood_ms > 0 {
                format!(
                    "; keep it up for {} s and you will be disconnected",
                    secs(flood_ms)
                )
            } else {
                String::new()
            };
            self.error_frame(
                conn,
                format!(
                    "slow down: you are sending faster than {rate} messages a second (bursts of {burst}); the server holds your messages back, none are lost{flood}"
                ),
            );
        }
        self.timers.set(Timer::Throttle(conn), until_ms);
        Admit::Hold { until_ms }
    }

    /// `conn`'s hold is over: the shell reads its input again.
    pub(crate) fn throttle_over(&mut self, conn: ConnId) {
        if self.sessions.contains_key(&conn) {
            self.out.push((conn, super::Output::Resume));
        }
    }

    /// The shell's report on `conn`'s read buffer: a frame has been
    /// arriving since `since` (restarted whenever a frame completes), or
    /// none is (`None`).
    pub fn partial_frame(&mut self, conn: ConnId, since: Option<u64>) {
        let timeout = self.cfg.limits.frame_timeout_ms;
        match since {
            Some(t) if timeout > 0 => self.timers.set(Timer::PartialFrame(conn), t + timeout),
            _ => self.timers.cancel(&Timer::PartialFrame(conn)),
        }
    }

    /// A frame of `conn` stalled half way for the frame timeout: closed, so
    /// a trickle cannot pin up to `--max-frame` bytes of read buffer.
    pub(crate) fn partial_frame_expired(&mut self, conn: ConnId) {
        if self.sessions.get(&conn).is_none_or(|s| s.closing) {
            return;
        }
        let secs = self.cfg.limits.frame_timeout_ms / 1000;
        log::warn!(
            "conn {conn}: a frame has been arriving for {secs} s without completing; closing"
        );
        self.refuse(
            conn,
            ErrorCode::BadFrame,
            &format!("a frame has been arriving for {secs} s without completing; closing"),
        );
    }

    /// The shell has no complete frame of `conn` waiting any more: whatever
    /// was held back has been handled, so a hold is over.
    pub fn caught_up(&mut self, conn: ConnId) {
        if let Some(hold) = self
            .guard
            .conns
            .get_mut(&conn)
            .and_then(|g| g.hold.as_mut())
        {
            hold.since = None;
        }
    }

    /// `Err(message)` when `conn` may not join one more room.
    pub(crate) fn room_cap(&self, conn: ConnId, room: &str) -> Result<(), String> {
        let max = self.cfg.limits.max_rooms_per_user;
        let Some(s) = self.sessions.get(&conn) else {
            return Ok(());
        };
        if max != 0 && s.rooms.len() >= max && !s.rooms.contains(room) {
            let n = s.rooms.len();
            let rooms = if n == 1 { "room" } else { "rooms" };
            return Err(format!(
                "you are in {n} {rooms}, the most this server allows; leave one before joining #{room}"
            ));
        }
        let all = self.cfg.limits.max_rooms;
        if all != 0 && self.rooms.len() >= all && !self.rooms.contains_key(room) {
            return Err(format!(
                "this server has {} rooms, the most it allows; join an existing one (/rooms lists them) or try later",
                self.rooms.len()
            ));
        }
        Ok(())
    }

    /// Refuse `conn` for a reason the shell found (the wrong protocol on a
    /// port): an error frame, then a close.
    pub fn refuse(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        self.send(
            conn,
            &ServerMsg::Error {
                code,
                message: message.to_string(),
                re: None,
                cid: None,
            },
        );
        self.close(conn, format!("{code:?}"));
    }

    fn error_frame(&mut self, conn: ConnId, message: String) {
        self.send(
            conn,
            &ServerMsg::Error {
                code: ErrorCode::SlowDown,
                message,
                re: None,
                cid: None,
            },
        );
    }
}

#[cfg(test)]
mod tests;
