//! Login, logout, disconnect, presence, and coming back after a drop.
//!
//! A user whose connection drops (rather than logging out) keeps their name
//! for `grace_ms`: only a client presenting the `session` token from its last
//! `welcome` can log in under it meanwhile. The same token also lets a client
//! take over a name whose old connection the server still thinks is alive
//! (a half-open TCP connection after a network change).

use super::accounts::{HELD, ONLINE};
use super::effect::ReadRange;
use super::history::{ConvKey, StoredMsg};
use super::logsafe::Safe;
use super::reads::Purpose;
use super::timers::Timer;
use super::{validate, ConnId, Core, Gone, Now, Output, Priority};
use crate::protocol::{
    encode_shared, ErrorCode, Marker, NoticeKind, Replay, Resume, ServerMsg, Status, UserInfo,
    PROTOCOL_VERSION,
};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// Room a user joins at login unless they ask for another.
pub const DEFAULT_ROOM: &str = "general";
/// Most missed messages replayed per conversation at login.
const REPLAY_CAP: usize = 2_000;

/// A `hello`, unpacked.
pub(crate) struct Login {
    pub version: u32,
    pub name: String,
    pub room: Option<String>,
    pub status: Status,
    pub resume: Resume,
    /// From `hello`; taken by the password check.
    pub password: Option<crate::protocol::Secret>,
    /// The password check passed (or the name is open).
    pub verified: bool,
}

impl Core {
    pub(crate) fn login(&mut self, conn: ConnId, login: Login, now: Now) {
        let Some(login) = self.auth_gate(conn, login, now) else {
            return; // refused, or waiting for its password check
        };
        let Login {
            version,
            name,
            room,
            status,
            mut resume,
            verified,
            ..
        } = login;
        if version != PROTOCOL_VERSION {
            self.error(
                conn,
                ErrorCode::VersionMismatch,
                &format!(
                    "protocol version {version} is not supported; this server speaks version {PROTOCOL_VERSION}: upgrade the client"
                ),
                "hello",
            );
            self.close(conn, format!("protocol version {version}"));
            return;
        }
        if let Err(e) = validate::name_max("user", &name, self.cfg.limits.max_name_chars) {
            self.error(conn, ErrorCode::Invalid, &e, "hello");
            return;
        }
        // Bounded before anything else looks at the list: a resume names at
        // most the rooms one user may be in.
        let max_rooms = self.cfg.limits.max_rooms_per_user;
        if resume.rooms.len() > max_rooms {
            let msg = format!(
                "resume lists {} rooms; a user may be in at most {max_rooms}",
                resume.rooms.len()
            );
            self.error(conn, ErrorCode::Invalid, &msg, "hello");
            return;
        }
        let first = room.unwrap_or_else(|| DEFAULT_ROOM.to_string());
        let mut rooms = vec![first];
        for r in std::mem::take(&mut resume.rooms) {
            if !rooms.contains(&r) {
                rooms.push(r);
            }
        }
        if let Some(bad) = rooms
            .iter()
            .find_map(|r| validate::name_max("room", r, self.cfg.limits.max_room_chars).err())
        {
            self.error(conn, ErrorCode::Invalid, &bad, "hello");
            return;
        }
        let commit = super::cluster::LoginCommit {
            name,
            rooms,
            status,
            resume,
            verified,
            token: None,
        };
        if self.cluster.is_some() {
            return self.cluster_login(conn, commit, now);
        }
        self.login_commit(conn, commit, now);
    }

    /// The rest of a login, once its own checks passed: everything that
    /// depends on who else is online (in a cluster, every node does this in
    /// the sequence's order, so all agree).
    pub(crate) fn login_commit(
        &mut self,
        conn: ConnId,
        commit: super::cluster::LoginCommit,
        now: Now,
    ) {
        let super::cluster::LoginCommit {
            name,
            rooms,
            status,
            resume,
            verified,
            token: fresh,
        } = commit;
        let remote = conn.is_remote();
        // A name that looks like another registered, online or held one is
        // refused before anything else about it (the exact same name goes
        // through the usual rules below).
        if self.refuse_confusable(conn, &name, now, "hello") {
            return;
        }
        let token_ok =
            resume.session.is_some() && resume.session == self.tokens.get(&name).cloned();
        // The owner of a registered name, proven by its password, takes over
        // a session of theirs that is online (a half-open connection) or
        // held for a reconnect, at once.
        let takeover = token_ok || (verified && self.is_registered(&name));
        if let Some(&old) = self.names.get(&name) {
            if !takeover {
                self.error(
                    conn,
                    ErrorCode::NameTaken,
                    &format!(
                        "name \"{name}\" is already taken by someone online; pick another name"
                    ),
                    "hello",
                );
                return;
            }
            log::info!(
                "conn {old}: {} replaced by a new connection (conn {conn})",
                Safe(&name)
            );
            self.drop_user(old, true, now);
            // The old connection is told why before it is closed.
            self.send(
                old,
                &ServerMsg::Bye {
                    code: crate::protocol::ByeCode::TakenOver,
                    reason: format!(
                        "{name} logged in from another connection, which took this session over"
                    ),
                },
            );
            self.close(old, "replaced by a new connection".into());
        }
        if let Some((_, until)) = self.reserved.get(&name) {
            if !takeover && *until > now.mono_ms {
                let secs = (*until - now.mono_ms).div_ceil(1000);
                self.error(
                    conn,
                    ErrorCode::NameTaken,
                    &format!(
                        "name \"{name}\" is held for its owner, who lost their connection, for {secs} more s; pick another name or try again later"
                    ),
                    "hello",
                );
                return;
            }
        }
        if self.reserved.remove(&name).is_some() {
            self.accounts.holders.set(&name, HELD, false);
            self.timers.cancel(&Timer::Reservation(name.clone()));
        }
        // A resumed session keeps its token: if this `welcome` is lost with
        // the connection, the token the client still has must keep working.
        // A new session takes the name from now on: its private messages
        // before this are not its to read (unless the name is registered).
        let presented = resume.session.clone();
        let token = match resume.session {
            Some(t) if token_ok => t,
            _ => {
                self.accounts.floors.remove(&name);
                fresh.unwrap_or_else(|| self.new_token())
            }
        };
        let last_id = self.history.last_id();
        self.accounts.floors.entry(name.clone()).or_insert(last_id);
        self.transfers_orphaned(&name, presented.as_deref(), &token);
        self.tokens.insert(name.clone(), token.clone());
        self.names.insert(name.clone(), conn);
        self.accounts.holders.set(&name, ONLINE, true);
        let files_key: std::rc::Rc<str> = self.files_key(&token).into();
        self.file_keys.insert(files_key.clone(), conn);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.name = Some(name.clone());
            s.status = status;
            s.files_key = Some(files_key.clone());
        }
        self.end_login_deadline(conn);
        self.history.see(&name);
        log::info!("conn {conn}: {} logged in", Safe(&name));
        let welcome = ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            name: name.clone(),
            server: self.cfg.server_name.clone(),
            rooms: rooms.clone(),
            session: token,
            last_id: self.history.last_id(),
            boot: self.cfg.boot,
            files_key: Some(files_key.to_string()),
            binary_chunks: true,
        };
        self.send(conn, &welcome);
        for r in rooms {
            self.join(conn, r, false, now);
        }
        if !remote {
            self.catch_up(conn, &name, resume.since);
        }
        // (To a stand-in: forwarded to its node for the transfers run here.)
        self.transfers_back(conn, &name);
    }

    /// Replay what `name` missed: with `since`, everything newer in their
    /// rooms and private conversations; without, private messages kept for
    /// them while they were offline (newer than their delivered marker).
    /// From memory when the newest messages cover it, else read from the log
    /// (the connection's later output waits for it).
    fn catch_up(&mut self, conn: ConnId, name: &str, since: Option<u64>) {
        let rooms: Vec<String> = self
            .sessions
            .get(&conn)
            .map(|s| s.rooms.iter().cloned().collect())
            .unwrap_or_default();
        // Everything up to now; what comes later is delivered live.
        let upto = self.history.last_id() + 1;
        let mut ranges = Vec::new();
        if let Some(since) = since {
            for r in &rooms {
                ranges.push(ReadRange {
                    conv: ConvKey::Room(r.clone()),
                    after: since,
                    before: upto,
                    limit: REPLAY_CAP,
                });
            }
        }
        // Private conversations only from where they are this user's.
        let floor = self.dm_floor(name);
        for conv in self.history.dms_of(name) {
            let after = match since {
                Some(s) => s,
                None => {
                    let ConvKey::Dm(a, b) = &conv else { continue };
                    let peer = if a == name { b } else { a };
                    self.receipts.dm_marker(name, peer).0
                }
            };
            let after = after.max(floor);
            if self.history.last_in(&conv).is_none_or(|last| last <= after) {
                continue; // nothing of theirs to replay
            }
            ranges.push(ReadRange {
                conv,
                after,
                before: upto,
                limit: REPLAY_CAP,
            });
        }
        let mut missed: Vec<Arc<StoredMsg>> = Vec::new();
        for r in &ranges {
            match self
                .history
                .range_in_memory(&r.conv, r.after, r.before, r.limit)
            {
                Some((m, _)) => missed.extend(m),
                None => {
                    let purpose = Purpose::CatchUp {
                        name: name.to_string(),
                        rooms,
                        since,
                    };
                    self.start_read(conn, ranges, Some(name.to_string()), purpose);
                    return;
                }
            }
        }
        missed.retain(|m| m.from != name);
        missed.sort_by_key(|m| m.id);
        let count = missed.len() as u32;
        let gate = self.unsettled_gate();
        for m in missed {
            let out = Output::Frame(m.frame_bytes(Some(Replay::Missed)), Priority::Normal);
            self.emit(conn, out, gate.clone());
        }
        for out in self.catch_up_tail(name, &rooms, since, count) {
            self.emit(conn, out, None);
        }
    }

    /// What closes a catch-up of `count` messages: `synced`, and (for a
    /// resume) the receipt markers of the others in `name`'s conversations,
    /// so a reconnecting client learns what was delivered and read while it
    /// was away.
    pub(crate) fn catch_up_tail(
        &mut self,
        name: &str,
        rooms: &[String],
        since: Option<u64>,
        count: u32,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let frame = |m: &ServerMsg| Output::Frame(encode_shared(m), Priority::Normal);
        if since.is_some() || count > 0 {
            let last_id = self.history.last_id();
            out.push(frame(&ServerMsg::Synced { count, last_id }));
        }
        if since.is_none() {
            return out;
        }
        for r in rooms {
            let markers: Vec<Marker> = self
                .receipts
                .room_markers(r)
                .into_iter()
                .filter(|m| m.user != name)
                .collect();
            if !markers.is_empty() {
                out.push(frame(&ServerMsg::Receipts {
                    room: Some(r.clone()),
                    peer: None,
                    markers,
                }));
            }
        }
        let floor = self.dm_floor(name);
        for conv in self.history.dms_of(name) {
            let ConvKey::Dm(a, b) = &conv else { continue };
            let peer = if a == name { b } else { a };
            let (delivered, read) = self.receipts.dm_marker(peer, name);
            // A marker only about messages from before this user's floor
            // tells of someone else's conversation.
            if delivered > floor {
                out.push(frame(&ServerMsg::Receipts {
                    room: None,
                    peer: Some(peer.clone()),
                    markers: vec![Marker {
                        user: peer.clone(),
                        delivered,
                        read,
                    }],
                }));
            }
        }
        out
    }

    pub(crate) fn new_token(&mut self) -> String {
        self.token_seq += 1;
        let mut out = String::with_capacity(32);
        for salt in [0x5151_u64, 0xa3a3] {
            let mut h = self.token_keys.build_hasher();
            h.write_u64(self.token_seq);
            h.write_u64(salt);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }

    /// The peer closed its side: no more input comes. If frames for it wait
    /// for a batch or a read (an ack of its last message, say), the core
    /// closes it after them and this returns true; otherwise false, and the
    /// shell closes it now (its places free at once).
    pub fn peer_closed(&mut self, conn: ConnId) -> bool {
        if !self.outbox.waiting.contains_key(&conn) {
            return false;
        }
        if self.sessions.get(&conn).is_some_and(|s| !s.closing) {
            self.close(conn, "peer closed the connection".into());
        }
        true
    }

    pub(crate) fn logout(&mut self, conn: ConnId, now: Now) {
        self.send(
            conn,
            &ServerMsg::Bye {
                code: crate::protocol::ByeCode::LoggedOut,
                reason: "logged out".into(),
            },
        );
        self.drop_user(conn, false, now);
        self.close(conn, "logged out".into());
    }

    /// The reactor lost `conn` (or closed it). Safe to call more than once.
    pub fn disconnect(&mut self, conn: ConnId, gone: Gone, now: Now) {
        let _ = gone;
        if self.cluster_disconnect(conn, now) {
            // The user stays until the cluster applies their `gone`.
            self.http_gone(conn);
            self.guard_gone(conn);
            self.forget_output(conn);
            self.reads.retain(|_, r| r.conn != conn);
            return;
        }
        self.drop_user(conn, true, now);
        self.sessions.remove(&conn);
        self.http_gone(conn);
        self.guard_gone(conn);
        self.forget_output(conn);
        self.reads.retain(|_, r| r.conn != conn);
    }

    /// Remove the user on `conn` from every room, call and typing state. An
    /// abrupt loss holds the name for the grace period.
    pub(crate) fn drop_user(&mut self, conn: ConnId, abrupt: bool, now: Now) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(name) = s.name.take() else {
            return;
        };
        if let Some(key) = s.files_key.take() {
            self.file_keys.remove(&*key);
        }
        let rooms = std::mem::take(&mut s.rooms);
        self.names.remove(&name);
        self.accounts.holders.set(&name, ONLINE, false);
        self.transfers_gone(&name, now);
        log::info!(
            "conn {conn}: {} {}",
            Safe(&name),
            if abrupt { "disconnected" } else { "logged out" }
        );
        if abrupt && self.cfg.grace_ms > 0 {
            if let Some(token) = self.tokens.get(&name) {
                let until = now.mono_ms + self.cfg.grace_ms;
                self.reserved.insert(name.clone(), (token.clone(), until));
                self.accounts.holders.set(&name, HELD, true);
                self.timers.set(Timer::Reservation(name.clone()), until);
            }
        } else {
            self.tokens.remove(&name);
            self.accounts.floors.remove(&name);
        }
        self.clear_typing_of(&name, now);
        self.end_calls_of(conn, &name);
        let suffix = if abrupt { " (disconnected)" } else { "" };
        for r in rooms {
            self.remove_member(&r, &name, suffix);
        }
        self.receipts.forget_user(&name);
    }

    /// Release names whose grace period is over.
    /// `name`'s reservation ran out: the name is free, its token forgotten
    /// unless its owner is back online.
    pub(crate) fn reservation_expired(&mut self, name: &str) {
        if self.reserved.remove(name).is_some() {
            self.accounts.holders.set(name, HELD, false);
        }
        if !self.names.contains_key(name) {
            self.tokens.remove(name);
            self.accounts.floors.remove(name);
        }
    }

    pub(crate) fn set_status(&mut self, conn: ConnId, status: Status, message: Option<String>) {
        if message
            .as_deref()
            .is_some_and(|m| m.chars().any(char::is_control))
        {
            let msg = "an away message is one line of text: no newlines or control characters";
            return self.error(conn, ErrorCode::Invalid, msg, "set_status");
        }
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.status = status;
        // A new away period (or none): every sender may be told again.
        s.set_away(message.filter(|m| status == Status::Away && !m.trim().is_empty()));
        if let Some(r) = s.rare() {
            r.away_told.clear();
        }
        let name = s.name.clone().unwrap_or_default();
        let audience = self.audience_of(conn);
        let text = format!("{name} is now {status}");
        self.fanout(
            audience,
            &ServerMsg::Notice {
                event: NoticeKind::Status,
                user: name,
                room: None,
                status: Some(status),
                text,
            },
            Priority::Normal,
        );
    }

    pub(crate) fn list_users(&mut self, conn: ConnId) {
        let mut users: Vec<UserInfo> = self
            .names
            .iter()
            .filter_map(|(name, c)| {
                self.sessions.get(c).map(|s| UserInfo {
                    name: name.clone(),
                    status: s.status,
                    rooms: s.rooms.iter().cloned().collect(),
                })
            })
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        self.send(conn, &ServerMsg::UserList { users });
    }
}
