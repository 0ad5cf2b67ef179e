//! The client's state machine, sans I/O: it never touches a socket or reads
//! the clock.
//!
//! Inputs are server frames ([`ClientState::handle`]), user commands
//! ([`ClientState::command`]), edits of the input line (typing) and the
//! passing of time ([`ClientState::tick`]), each with `now`. Outputs are
//! [`Outcome`]s: frames to send and [`Event`]s to show. It tracks the current
//! room, joined rooms and members, known users (for completion), pending sends
//! keyed by client id (`c1`, `c2`, ...), receipts both ways (see `receipts`),
//! typing indicators with a local expiry, and the current call, so that
//! `/accept-call` and friends need no argument.

mod input;
mod reliable;
mod search;

use super::event::{Conv, Event};
use super::receipts::{Incoming, Outgoing};
use crate::protocol::{ClientMsg, NoticeKind, Replay, ServerMsg};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A typing indicator disappears after this long without a refresh, even if
/// the server's stop frame is lost.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(6);

/// While the line stays non-empty, typing start is re-sent at most this often.
pub const TYPING_REFRESH: Duration = Duration::from_secs(3);

/// Frames to send and events to show.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub frames: Vec<ClientMsg>,
    pub events: Vec<Event>,
}

impl Outcome {
    fn event(e: Event) -> Outcome {
        Outcome {
            frames: Vec::new(),
            events: vec![e],
        }
    }
    fn frame(f: ClientMsg) -> Outcome {
        Outcome {
            frames: vec![f],
            events: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallPhase {
    Outgoing,
    Incoming,
    Active,
}

#[derive(Debug, Clone)]
struct Call {
    id: u64,
    phase: CallPhase,
}

/// Everything the client knows.
#[derive(Debug)]
pub struct ClientState {
    me: String,
    /// The server address of the current connection (`host:port`), for
    /// the connected and reconnected lines.
    addr: String,
    logged_in: bool,
    current: Option<String>,
    /// `/query NAME`: plain lines go to NAME instead of the current room.
    query: Option<String>,
    /// Messages not seen in conversations other than the target: how many,
    /// and whether one names you.
    activity: BTreeMap<Conv, (u32, bool)>,
    /// A `/whois NAME` waiting for the user list.
    whois: Option<String>,
    /// Joined rooms and their members (including you).
    rooms: BTreeMap<String, BTreeSet<String>>,
    /// Rooms seen in a `room_list` (for completion).
    known_rooms: BTreeSet<String>,
    users: BTreeSet<String>,
    next_cid: u64,
    /// Sends not yet acknowledged, by numeric client id, with their frames.
    pending: BTreeMap<u64, reliable::Pending>,
    outgoing: Outgoing,
    incoming: Incoming,
    /// Who is typing where, and when that indicator expires.
    typing: BTreeMap<(Conv, String), Instant>,
    /// Our own typing: conversation and when start was last sent.
    my_typing: Option<(Conv, Instant)>,
    call: Option<Call>,
    /// Outstanding join / create / leave requests.
    room_ops: u32,
    /// Session token, highest id seen, shown ids, `/history` paging.
    rel: reliable::Reliable,
    /// The password every `hello` carries (reconnects included).
    password: Option<crate::protocol::Secret>,
    /// A `/passwd` waiting for `password_changed`.
    new_password: Option<crate::protocol::Secret>,
    /// The last `/search`, for paging back.
    search: Option<search::LastSearch>,
    /// Room topics as the server last said: room -> (topic, set by).
    topics: BTreeMap<String, (String, String)>,
}

impl ClientState {
    pub fn new(name: &str, addr: &str) -> ClientState {
        ClientState {
            me: name.to_string(),
            addr: addr.to_string(),
            logged_in: false,
            current: None,
            query: None,
            activity: BTreeMap::new(),
            whois: None,
            rooms: BTreeMap::new(),
            known_rooms: BTreeSet::new(),
            users: BTreeSet::new(),
            next_cid: 1,
            pending: BTreeMap::new(),
            outgoing: Outgoing::default(),
            incoming: Incoming::default(),
            typing: BTreeMap::new(),
            my_typing: None,
            call: None,
            room_ops: 0,
            rel: reliable::Reliable::default(),
            password: None,
            new_password: None,
            search: None,
            topics: BTreeMap::new(),
        }
    }

    /// The password to log in with (and to give as the old one in `/passwd`).
    pub fn set_password(&mut self, password: Option<crate::protocol::Secret>) {
        self.password = password;
    }

    /// `/passwd NEW`: the frame to send; the new password is used for
    /// logins once the server confirms it.
    pub fn change_password(&mut self, new: crate::protocol::Secret) -> ClientMsg {
        self.new_password = Some(new.clone());
        ClientMsg::ChangePassword {
            old: self.password.clone(),
            new,
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }
    /// Connected to `addr` (`host:port`), which the next lines name.
    pub fn set_addr(&mut self, addr: &str) {
        self.addr = addr.to_string();
    }
    pub fn logged_in(&self) -> bool {
        self.logged_in
    }
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }
    /// Other conversations with unseen messages: count, and whether one names you.
    pub fn activity(&self) -> &BTreeMap<Conv, (u32, bool)> {
        &self.activity
    }
    /// Who is typing in `conv`, sorted.
    pub fn typing_in(&self, conv: &Conv) -> Vec<String> {
        self.typing
            .keys()
            .filter(|(c, _)| c == conv)
            .map(|(_, who)| who.clone())
            .collect()
    }
    /// The target changed (a switch, a query, a join): its activity is seen.
    pub(super) fn target_seen(&mut self) {
        if let Some(t) = self.target() {
            self.activity.remove(&t);
        }
    }
    /// Where a plain line goes: the `/query` peer, else the current room.
    pub fn target(&self) -> Option<Conv> {
        match (&self.query, &self.current) {
            (Some(p), _) => Some(Conv::Peer(p.clone())),
            (None, Some(r)) => Some(Conv::Room(r.clone())),
            (None, None) => None,
        }
    }
    /// Sends the server has not acknowledged yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// Join / create / leave requests without a reply yet.
    pub fn room_ops(&self) -> u32 {
        self.room_ops
    }
    /// Known user names other than yours, sorted.
    pub fn users(&self) -> Vec<String> {
        self.users
            .iter()
            .filter(|u| **u != self.me)
            .cloned()
            .collect()
    }
    /// Joined and listed room names, sorted.
    pub fn room_names(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = self.known_rooms.clone();
        all.extend(self.rooms.keys().cloned());
        all.into_iter().collect()
    }

    /// Apply one server frame.
    pub fn handle(&mut self, msg: ServerMsg, now: Instant) -> Outcome {
        match msg {
            ServerMsg::Welcome {
                name,
                server,
                rooms,
                session,
                last_id,
                ..
            } => {
                self.logged_in = true;
                let resumed = self.welcomed(session, last_id);
                self.me = name.clone();
                self.users.insert(name.clone());
                for r in &rooms {
                    self.rooms
                        .entry(r.clone())
                        .or_default()
                        .insert(name.clone());
                }
                // The current target is the user's: only the first login sets it.
                if self.current.is_none() {
                    self.current = rooms.first().cloned();
                }
                if resumed {
                    return Outcome::default(); // `synced` says "reconnected"
                }
                Outcome::event(Event::Connected {
                    addr: self.addr.clone(),
                    name,
                    server,
                })
            }
            ServerMsg::Error {
                code,
                message,
                re,
                cid,
            } => {
                let num = cid.as_deref().and_then(|c| self.cid_num(c));
                match (num, re.as_deref()) {
                    (Some(n), _) => {
                        self.pending.remove(&n);
                    }
                    // No cid echoed: assume the oldest send of that kind failed.
                    (None, Some("room_msg" | "private_msg")) => {
                        self.pending.pop_first();
                    }
                    (None, Some("join" | "create_room" | "leave")) => {
                        self.room_ops = self.room_ops.saturating_sub(1);
                    }
                    _ => {}
                }
                Outcome::event(Event::Error {
                    code: Some(code),
                    message,
                })
            }
            ServerMsg::Pong { .. } => Outcome::default(),
            // A `duplicate` ack (a resend the server had) is a normal ack.
            ServerMsg::Ack {
                cid,
                id,
                recipients,
                ..
            } => {
                let num = cid.as_deref().and_then(|c| self.cid_num(c));
                let Some(conv) = num.and_then(|n| self.pending.remove(&n)).map(|p| p.conv) else {
                    return Outcome::default();
                };
                self.saw_id(id);
                let audience = match &conv {
                    Conv::Room(r) => self.rooms.get(r).map(|m| {
                        m.iter()
                            .filter(|u| **u != self.me)
                            .cloned()
                            .collect::<BTreeSet<_>>()
                    }),
                    Conv::Peer(p) => Some(BTreeSet::from([p.clone()])),
                };
                Outcome::event(self.outgoing.acked(conv, id, recipients, audience))
            }
            ServerMsg::Message {
                id,
                ts,
                from,
                room,
                to,
                text,
                replay,
            } => {
                let conv = match (room, to) {
                    (Some(r), _) => Conv::Room(r),
                    // Our own, in a `/history` answer.
                    (None, Some(to)) if from == self.me => Conv::Peer(to),
                    (None, _) => Conv::Peer(from.clone()),
                };
                if !self.fresh_message(id, &conv, replay) {
                    return Outcome::default(); // shown already
                }
                if replay.is_none() {
                    // The message supersedes the sender's typing indicator, silently.
                    self.typing.remove(&(conv.clone(), from.clone()));
                }
                if from != self.me {
                    self.incoming.received(&conv, id);
                    if replay != Some(Replay::History) && self.target().as_ref() != Some(&conv) {
                        let me = self.me.to_lowercase();
                        let named = text
                            .to_lowercase()
                            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                            .any(|w| w == me);
                        let a = self.activity.entry(conv.clone()).or_default();
                        a.0 += 1;
                        a.1 |= named || matches!(conv, Conv::Peer(_));
                    }
                }
                self.users.insert(from.clone());
                Outcome::event(Event::Message {
                    id,
                    ts,
                    from,
                    conv,
                    text,
                    replay,
                })
            }
            ServerMsg::Joined {
                room,
                members,
                created,
            } => {
                self.room_ops = self.room_ops.saturating_sub(1);
                self.users.extend(members.iter().cloned());
                let mut set: BTreeSet<String> = members.iter().cloned().collect();
                set.insert(self.me.clone());
                self.rooms.insert(room.clone(), set);
                if self.rel.resuming && self.current.is_some() {
                    // Rejoined after a drop: quietly, and the current room stays.
                    return Outcome::default();
                }
                self.current = Some(room.clone());
                self.query = None;
                self.target_seen();
                Outcome::event(Event::Joined {
                    room,
                    members,
                    created,
                })
            }
            ServerMsg::Left { room } => {
                self.room_ops = self.room_ops.saturating_sub(1);
                self.rooms.remove(&room);
                let conv = Conv::Room(room.clone());
                self.incoming.forget(&conv);
                self.outgoing.forget(&conv);
                self.typing.retain(|(c, _), _| *c != conv);
                let mut out = Outcome::event(Event::Left { room: room.clone() });
                if self.current.as_deref() == Some(room.as_str()) {
                    self.current = self.rooms.keys().next().cloned();
                    if let Some(r) = &self.current {
                        out.events.push(Event::Switched { room: r.clone() });
                    }
                }
                out
            }
            ServerMsg::Notice {
                event,
                user,
                room,
                status,
                text,
            } => {
                if event == NoticeKind::Status && user == self.me {
                    if let Some(s) = status {
                        self.rel.status = s;
                    }
                }
                if let Some(r) = &room {
                    match event {
                        NoticeKind::Join => {
                            self.users.insert(user.clone());
                            if let Some(m) = self.rooms.get_mut(r) {
                                m.insert(user.clone());
                            }
                        }
                        NoticeKind::Leave => {
                            if let Some(m) = self.rooms.get_mut(r) {
                                m.remove(&user);
                            }
                            self.typing.remove(&(Conv::Room(r.clone()), user.clone()));
                        }
                        NoticeKind::Status | NoticeKind::Away | NoticeKind::Upload => {}
                    }
                }
                Outcome::event(Event::Notice {
                    kind: event,
                    user,
                    room,
                    status,
                    text,
                })
            }
            ServerMsg::Typing {
                from, room, active, ..
            } => {
                let conv = match room {
                    Some(r) => Conv::Room(r),
                    None => Conv::Peer(from.clone()),
                };
                let key = (conv.clone(), from.clone());
                let was = self.typing.contains_key(&key);
                if active {
                    self.typing.insert(key, now + TYPING_EXPIRY);
                } else {
                    self.typing.remove(&key);
                }
                if was == active {
                    return Outcome::default();
                }
                Outcome::event(Event::Typing {
                    from,
                    conv,
                    active,
                    expired: false,
                })
            }
            ServerMsg::Receipts {
                room,
                peer,
                markers,
            } => {
                let conv = match (room, peer) {
                    (Some(r), _) => Conv::Room(r),
                    (None, Some(p)) => Conv::Peer(p),
                    (None, None) => return Outcome::default(),
                };
                let events = self.outgoing.markers(&conv, &markers, &self.me);
                Outcome {
                    frames: Vec::new(),
                    events,
                }
            }
            ServerMsg::RoomList { rooms } => {
                self.known_rooms = rooms.iter().map(|r| r.name.clone()).collect();
                Outcome::event(Event::RoomList { rooms })
            }
            ServerMsg::UserList { users } => {
                self.users = users.iter().map(|u| u.name.clone()).collect();
                if let Some(name) = self.whois.take() {
                    let clean = crate::client::text::clean;
                    let text = match users.iter().find(|u| u.name.eq_ignore_ascii_case(&name)) {
                        Some(u) => {
                            let rooms: Vec<String> =
                                u.rooms.iter().map(|r| format!("#{}", clean(r))).collect();
                            format!(
                                "* {} is {}, in {}",
                                clean(&u.name),
                                u.status,
                                match rooms.is_empty() {
                                    true => "no room".to_string(),
                                    false => rooms.join(", "),
                                }
                            )
                        }
                        None => format!("* {} is not online", clean(&name)),
                    };
                    return Outcome::event(Event::Info { text });
                }
                Outcome::event(Event::UserList { users })
            }
            ServerMsg::CallRinging { call, to, media } => {
                self.call = Some(Call {
                    id: call,
                    phase: CallPhase::Outgoing,
                });
                Outcome::event(Event::CallRinging { call, to, media })
            }
            ServerMsg::CallIncoming { call, from, media } => {
                if self.call.is_none() {
                    self.call = Some(Call {
                        id: call,
                        phase: CallPhase::Incoming,
                    });
                }
                Outcome::event(Event::CallIncoming { call, from, media })
            }
            ServerMsg::CallAccepted { call, peer, media } => {
                self.call = Some(Call {
                    id: call,
                    phase: CallPhase::Active,
                });
                Outcome::event(Event::CallAccepted { call, peer, media })
            }
            ServerMsg::CallEnded {
                call,
                peer,
                reason,
                by,
            } => {
                if self.call.as_ref().is_some_and(|c| c.id == call) {
                    self.call = None;
                }
                Outcome::event(Event::CallEnded {
                    call,
                    peer,
                    reason,
                    by,
                })
            }
            ServerMsg::Bye { reason, .. } => Outcome::event(Event::Bye { reason }),
            // File frames are handled by the network thread's transfer table.
            ServerMsg::FileState { .. }
            | ServerMsg::FileCredit { .. }
            | ServerMsg::FileChunk { .. }
            | ServerMsg::FileList { .. } => Outcome::default(),
            ServerMsg::PasswordChanged { name, registered } => {
                if let Some(p) = self.new_password.take() {
                    self.password = Some(p);
                }
                let text = if registered {
                    format!("the name {name} is registered now: logging in as {name} needs this password")
                } else {
                    format!("password changed: logging in as {name} needs the new one")
                };
                Outcome::event(Event::Info { text })
            }
            ServerMsg::Synced { .. } => self.synced(),
            ServerMsg::HistoryEnd {
                room,
                peer,
                count,
                more,
            } => {
                let conv = match (room, peer) {
                    (Some(r), _) => Conv::Room(r),
                    (None, Some(p)) => Conv::Peer(p),
                    (None, None) => return Outcome::default(),
                };
                Outcome::event(Event::HistoryEnd { conv, count, more })
            }
            ServerMsg::Topic {
                room,
                topic,
                by,
                ts,
            } => {
                if topic.is_empty() {
                    self.topics.remove(&room);
                } else {
                    self.topics
                        .insert(room.clone(), (topic.clone(), by.clone()));
                }
                Outcome::event(Event::Topic {
                    room,
                    topic,
                    by,
                    ts,
                })
            }
            ServerMsg::SearchResults {
                text,
                results,
                more,
            } => self.search_results(text, results, more),
        }
    }

    /// When [`ClientState::tick`] next has work (a typing indicator expires).
    /// The next typing indicator to expire.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.typing.values().min().copied()
    }

    /// When delivered receipts held back by their pause are due, if any
    /// are (only a logged-in connection sends them: the caller checks).
    pub fn delivered_due(&self) -> Option<Instant> {
        self.incoming.delivered_due()
    }

    /// Expire typing indicators whose stop frame never came.
    pub fn tick(&mut self, now: Instant) -> Vec<Event> {
        let expired: Vec<(Conv, String)> = self
            .typing
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .map(|(conv, from)| {
                self.typing.remove(&(conv.clone(), from.clone()));
                Event::Typing {
                    from,
                    conv,
                    active: false,
                    expired: true,
                }
            })
            .collect()
    }

    /// These events were shown to the user: their messages may now be marked read.
    pub fn displayed(&mut self, events: &[Event]) {
        for e in events {
            if let Event::Message { id, conv, from, .. } = e {
                if *from != self.me {
                    self.incoming.displayed(conv, *id);
                }
            }
        }
    }

    /// Delivered receipts owed after a batch of frames (one per
    /// conversation), unless the last ones went out less than
    /// `receipts::DELIVERED_EVERY` before `now`.
    pub fn take_delivered(&mut self, now: Instant) -> Vec<ClientMsg> {
        self.incoming.take_delivered(now)
    }

    /// Every delivered receipt owed, without waiting (at logout).
    pub fn owed_delivered(&mut self) -> Vec<ClientMsg> {
        self.incoming.owed_delivered()
    }

    /// Read receipts owed when the user submits a line / a script runs a command.
    pub fn take_read(&mut self) -> Vec<ClientMsg> {
        self.incoming.take_read()
    }
}

/// Tidy one batch of events: a "stopped typing" immediately superseded by a
/// message from the same person in the same conversation (the server clears
/// typing when the message arrives) is dropped, so the message stands alone.
pub fn coalesce(events: &mut Vec<Event>) {
    let superseded = |i: usize, events: &[Event]| match &events[i] {
        Event::Typing {
            from,
            conv,
            active: false,
            ..
        } => events[i + 1..].iter().any(
            |e| matches!(e, Event::Message { from: f, conv: c, .. } if f == from && c == conv),
        ),
        _ => false,
    };
    let keep: Vec<bool> = (0..events.len()).map(|i| !superseded(i, events)).collect();
    let mut k = keep.into_iter();
    events.retain(|_| k.next().unwrap_or(true));
}

#[cfg(test)]
mod tests;
