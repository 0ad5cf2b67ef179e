//! Rooms and messages: join, create, leave, lists, room and private messages.

use super::effect::{OnFail, ReadRange};
use super::history::{ConvKey, StoredMsg};
use super::logsafe::Safe;
use super::reads::Purpose;
use super::{typing::Conv, validate, ConnId, Core, Now, Output, Priority};
use crate::protocol::{encode_shared, ErrorCode, NoticeKind, Replay, RoomInfo, ServerMsg};

/// Most messages one `history` answer carries (a larger `limit` gets this
/// many, with `more` saying older ones exist).
pub const MAX_HISTORY: u32 = 500;

impl Core {
    pub(crate) fn join(&mut self, conn: ConnId, room: String, create: bool, _now: Now) {
        let re = if create { "create_room" } else { "join" };
        if let Err(e) = validate::name_max("room", &room, self.cfg.limits.max_room_chars) {
            self.error(conn, ErrorCode::Invalid, &e, re);
            return;
        }
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        if let Err(e) = self.room_cap(conn, &room) {
            self.error(conn, ErrorCode::TooManyRooms, &e, re);
            return;
        }
        let exists = self.rooms.contains_key(&room);
        if create && exists {
            self.error(
                conn,
                ErrorCode::RoomExists,
                &format!("room #{room} already exists; use /join {room}"),
                re,
            );
            return;
        }
        let r = self.rooms.entry(room.clone()).or_default();
        let already = r.members.insert(name.clone(), conn).is_some();
        let members: Vec<String> = r.members.keys().cloned().collect();
        let others: Vec<ConnId> = r
            .members
            .iter()
            .filter(|(n, _)| **n != name)
            .map(|(_, c)| *c)
            .collect();
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.rooms.insert(room.clone());
        }
        self.send(
            conn,
            &ServerMsg::Joined {
                room: room.clone(),
                members,
                created: !exists,
            },
        );
        self.show_topic(conn, &room);
        if !already {
            let text = format!("{name} joined #{room}");
            self.fanout(
                others,
                &ServerMsg::Notice {
                    event: NoticeKind::Join,
                    user: name,
                    room: Some(room),
                    status: None,
                    text,
                },
                Priority::Normal,
            );
        }
    }

    pub(crate) fn leave(&mut self, conn: ConnId, room: String, now: Now) {
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        let member = self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.rooms.contains(&room));
        if !member {
            self.not_member(
                conn,
                &room,
                format!("you are not in #{room}"),
                "leave",
                None,
            );
            return;
        }
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.rooms.remove(&room);
            let last = self
                .history
                .last_in(&ConvKey::Room(room.clone()))
                .unwrap_or(0);
            let left = &mut s.rare_mut().left;
            left.retain(|(r, _)| *r != room);
            if left.len() >= super::LEFT_KEPT {
                left.remove(0);
            }
            left.push((room.clone(), last));
        }
        self.stop_typing(&name, &Conv::Room(room.clone()), now);
        self.send(conn, &ServerMsg::Left { room: room.clone() });
        self.remove_member(&room, &name, "");
    }

    /// Take `name` out of `room`, tell the rest, drop the room if empty.
    pub(crate) fn remove_member(&mut self, room: &str, name: &str, suffix: &str) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        r.members.remove(name);
        if r.members.is_empty() {
            self.rooms.remove(room);
            return;
        }
        let others: Vec<ConnId> = r.members.values().copied().collect();
        self.fanout(
            others,
            &ServerMsg::Notice {
                event: NoticeKind::Leave,
                user: name.to_string(),
                room: Some(room.to_string()),
                status: None,
                text: format!("{name} left #{room}{suffix}"),
            },
            Priority::Normal,
        );
    }

    pub(crate) fn list_rooms(&mut self, conn: ConnId) {
        let rooms = self
            .rooms
            .iter()
            .map(|(name, r)| RoomInfo {
                name: name.clone(),
                members: r.members.len() as u32,
            })
            .collect();
        self.send(conn, &ServerMsg::RoomList { rooms });
    }

    /// The id of a new message: the next one here, or in a cluster the
    /// sequence number of the event being applied (the same on every node).
    fn next_message_id(&mut self) -> u64 {
        match self.applying_seq() {
            Some(seq) => seq.max(self.history.last_id() + 1),
            None => self.history.last_id() + 1,
        }
    }

    /// Answer a resent message (same `cid`) with its original id. True if it was one.
    fn answer_duplicate(
        &mut self,
        conn: ConnId,
        name: &str,
        cid: &Option<String>,
        re: &'static str,
    ) -> bool {
        let Some((id, ts, recipients)) = self.history.duplicate(name, cid.as_deref()) else {
            return false;
        };
        log::debug!(
            "conn {conn}: {} resent {:?}, already stored as #{id}",
            Safe(name),
            cid.as_deref().map(Safe)
        );
        let ack = ServerMsg::Ack {
            cid: cid.clone(),
            id,
            ts,
            recipients,
            duplicate: true,
        };
        // Not durable yet? Then the resend's answer waits like the first.
        let gate = self.history.batch_of(id).map(|seq| {
            (
                seq,
                OnFail::Ack {
                    re,
                    cid: cid.clone(),
                },
            )
        });
        self.emit(
            conn,
            Output::Frame(encode_shared(&ack), Priority::Normal),
            gate,
        );
        true
    }

    /// The sender's name if a new message from `conn` may go on: not a
    /// resend of a stored `cid` (answered here) and valid text (else an error).
    fn accept_message(
        &mut self,
        conn: ConnId,
        text: &str,
        cid: &Option<String>,
        re: &'static str,
    ) -> Option<String> {
        let name = self.name_of(conn).map(str::to_string)?;
        if self.answer_duplicate(conn, &name, cid, re) {
            return None;
        }
        if let Err(e) = validate::text(text, self.cfg.max_text_chars) {
            self.error_cid(conn, ErrorCode::Invalid, e, re, cid.clone());
            return None;
        }
        Some(name)
    }

    /// Store `m`, show it to `others` and tell its sender it is `sent`,
    /// all once its batch is durable; if that fails, the others never see
    /// it and the sender gets `store_failed`.
    pub(crate) fn store_and_deliver(
        &mut self,
        conn: ConnId,
        m: StoredMsg,
        others: Vec<ConnId>,
        re: &'static str,
    ) {
        let ack = crate::protocol::hot::ack(m.cid.as_deref(), m.id, m.ts, m.recipients, false);
        let cid = m.cid.clone();
        let frame = m.frame_bytes(None);
        let seq = self.history.append(m);
        self.emit(
            conn,
            Output::Frame(ack, Priority::Normal),
            Some((seq, OnFail::Ack { re, cid })),
        );
        self.fanout_stored(others, frame, seq);
    }

    pub(crate) fn room_msg(
        &mut self,
        conn: ConnId,
        room: String,
        text: String,
        cid: Option<String>,
        now: Now,
    ) {
        let Some(name) = self.accept_message(conn, &text, &cid, "room_msg") else {
            return;
        };
        let member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&name));
        if !member {
            let msg = format!("you are not in #{room}; /join {room} first");
            self.not_member(conn, &room, msg, "room_msg", cid);
            return;
        }
        self.stop_typing_in_room(&name, &room, now);
        let id = self.next_message_id();
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        // Everyone but the sender's member entry: found once by name, then
        // compared by id (not a name comparison per member).
        let own = r.members.get(&name).copied();
        let mut others = Vec::with_capacity(r.members.len());
        others.extend(r.members.values().copied().filter(|c| Some(*c) != own));
        let recipients = others.len() as u32;
        let stored = StoredMsg {
            id,
            ts: now.unix_ms,
            from: name,
            room: Some(room),
            to: None,
            text,
            cid,
            recipients,
        };
        self.store_and_deliver(conn, stored, others, "room_msg");
    }

    pub(crate) fn private_msg(
        &mut self,
        conn: ConnId,
        to: String,
        text: String,
        cid: Option<String>,
        now: Now,
    ) {
        let Some(name) = self.accept_message(conn, &text, &cid, "private_msg") else {
            return;
        };
        if to == name {
            let msg = "you cannot send a private message to yourself".to_string();
            self.error_cid(conn, ErrorCode::Invalid, msg, "private_msg", cid);
            return;
        }
        let peer = self.names.get(&to).copied();
        // Offline, a message waits only for a name someone can prove is
        // theirs (registered), or one held for its session after a drop.
        if peer.is_none() && !self.may_hold_for(&to, now) {
            let mut msg = if self.history.is_known(&to) {
                format!(
                    "{to} is offline and has no account, so messages cannot wait for them; try again when they are online"
                )
            } else {
                format!(
                    "no user named \"{to}\" has ever logged in here; /users lists who is online"
                )
            };
            if let Some(like) = self.lookalike(&to) {
                msg.push_str(&format!(" (did you mean \"{like}\"?)"));
            }
            self.error_cid(conn, ErrorCode::UnknownUser, msg, "private_msg", cid);
            return;
        }
        self.stop_typing(&name, &Conv::Dm(to.clone()), now);
        let away = peer.and_then(|p| self.away_notice(p, &name, &to));
        let id = self.next_message_id();
        let stored = StoredMsg {
            id,
            ts: now.unix_ms,
            from: name,
            room: None,
            to: Some(to),
            text,
            cid,
            recipients: 1,
        };
        // Offline: kept in the history, delivered at their next login.
        self.store_and_deliver(conn, stored, peer.into_iter().collect(), "private_msg");
        if let Some(notice) = away {
            self.send(conn, &notice); // after the ack: frames keep their order
        }
    }

    /// `from` writes to `to` (on `peer`): the `away` notice for `from` if
    /// `to` is away with a message and has not told `from` this period.
    fn away_notice(&mut self, peer: ConnId, from: &str, to: &str) -> Option<ServerMsg> {
        let s = self.sessions.get_mut(&peer)?.rare()?;
        let message = s.away.as_deref()?;
        if s.away_told.iter().any(|n| n == from) {
            return None;
        }
        let text = format!("{to} is away: {message}");
        if s.away_told.len() < super::AWAY_TOLD_KEPT {
            s.away_told.push(from.to_string());
        }
        Some(ServerMsg::Notice {
            event: NoticeKind::Away,
            user: to.to_string(),
            room: None,
            status: Some(crate::protocol::Status::Away),
            text,
        })
    }

    /// Whether a private message to `to`, who is offline, may wait for
    /// them: `to` is registered, or held for its session after a drop (the
    /// session's catch-up brings it). An open name nobody holds could be
    /// taken by anyone next.
    fn may_hold_for(&self, to: &str, now: Now) -> bool {
        self.is_registered(to)
            || self
                .reserved
                .get(to)
                .is_some_and(|(_, until)| *until > now.mono_ms)
    }

    /// A registered or online name that `to` looks like (another case, a
    /// confusable letter), for a hint.
    fn lookalike(&self, to: &str) -> Option<String> {
        use super::accounts::{ONLINE, REGISTERED};
        self.accounts
            .holders
            .others(to)
            .into_iter()
            .find(|(_, what)| what & (ONLINE | REGISTERED) != 0)
            .map(|(n, _)| n)
    }

    /// `history{room|peer, before, limit}`: older messages, oldest first.
    pub(crate) fn history_request(
        &mut self,
        conn: ConnId,
        room: Option<String>,
        peer: Option<String>,
        before: Option<u64>,
        limit: u32,
    ) {
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        if limit == 0 {
            let msg = format!("limit must be at least 1 (at most {MAX_HISTORY} messages are sent)");
            return self.error(conn, ErrorCode::Invalid, &msg, "history");
        }
        // Messages above this id only (a private conversation is read back
        // only from where it is this user's, see `Core::dm_floor`).
        let mut after = 0;
        let conv = match (&room, &peer) {
            (Some(r), None) => {
                let member = self
                    .sessions
                    .get(&conn)
                    .is_some_and(|s| s.rooms.contains(r));
                if !member {
                    let msg = format!("you are not in #{r}; join it to read its history");
                    self.not_member(conn, r, msg, "history", None);
                    return;
                }
                ConvKey::Room(r.clone())
            }
            (None, Some(p)) => {
                after = self.dm_floor(&name);
                ConvKey::dm(&name, p)
            }
            _ => {
                let msg = "history names exactly one of room or peer";
                self.error(conn, ErrorCode::Invalid, msg, "history");
                return;
            }
        };
        let limit = limit.min(MAX_HISTORY) as usize;
        // Up to now at most: the pages of a read stay the same set.
        let before = before.unwrap_or(u64::MAX).min(self.history.last_id() + 1);
        let Some((msgs, more)) = self.history.range_in_memory(&conv, after, before, limit) else {
            if self.may_read(conn, "history") {
                let range = ReadRange {
                    conv,
                    after,
                    before,
                    limit,
                };
                self.start_read(conn, vec![range], None, Purpose::History { room, peer });
            }
            return;
        };
        let count = msgs.len() as u32;
        let gate = self.unsettled_gate();
        for m in msgs {
            let out = Output::Frame(m.frame_bytes(Some(Replay::History)), Priority::Normal);
            self.emit(conn, out, gate.clone());
        }
        self.send(
            conn,
            &ServerMsg::HistoryEnd {
                room,
                peer,
                count,
                more,
            },
        );
    }
}
