//! The core's output helpers: a frame to one connection, a fan-out encoded
//! once, errors with their code and sentence, closes, and who hears of a
//! user.

use super::effect::OnFail;
use super::{ConnId, Core, Output, Priority};
use crate::protocol::{encode_shared, ErrorCode, ServerMsg};
use std::rc::Rc;

impl Core {
    pub(crate) fn send(&mut self, conn: ConnId, msg: &ServerMsg) {
        self.emit(
            conn,
            Output::Frame(encode_shared(msg), Priority::Normal),
            None,
        );
    }

    /// Encode once, queue to every connection in `conns`.
    pub(crate) fn fanout<I: IntoIterator<Item = ConnId>>(
        &mut self,
        conns: I,
        msg: &ServerMsg,
        prio: Priority,
    ) {
        let mut it = conns.into_iter().peekable();
        if it.peek().is_none() {
            return;
        }
        let frame = encode_shared(msg);
        for c in it {
            self.emit(c, Output::Frame(frame.clone(), prio), None);
        }
    }

    /// Queue an already encoded frame to every connection in `conns`, each
    /// copy waiting for batch `seq` to be durable (dropped if it fails).
    pub(crate) fn fanout_stored<I: IntoIterator<Item = ConnId>>(
        &mut self,
        conns: I,
        frame: Rc<[u8]>,
        seq: u64,
    ) {
        for c in conns {
            let out = Output::Frame(frame.clone(), Priority::Normal);
            self.emit(c, out, Some((seq, OnFail::Drop)));
        }
    }

    pub(crate) fn error(&mut self, conn: ConnId, code: ErrorCode, message: &str, re: &str) {
        self.error_cid(conn, code, message.to_string(), re, None);
    }

    /// Refuse a frame about `room`, which the user is not in: `unknown_room`
    /// when no room of that name exists (nobody is in it), else
    /// `not_in_room` with `message`.
    pub(crate) fn not_member(
        &mut self,
        conn: ConnId,
        room: &str,
        message: String,
        re: &str,
        cid: Option<String>,
    ) {
        if self.rooms.contains_key(room) {
            self.error_cid(conn, ErrorCode::NotInRoom, message, re, cid);
        } else {
            let msg = format!("there is no room #{room}; /join {room} creates it");
            self.error_cid(conn, ErrorCode::UnknownRoom, msg, re, cid);
        }
    }

    pub(crate) fn error_cid(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: String,
        re: &str,
        cid: Option<String>,
    ) {
        self.send(
            conn,
            &ServerMsg::Error {
                code,
                message,
                re: Some(re.to_string()),
                cid,
            },
        );
    }

    pub(crate) fn close(&mut self, conn: ConnId, reason: String) {
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.closing = true;
        }
        self.emit(conn, Output::Close(reason), None);
    }

    pub(crate) fn name_of(&self, conn: ConnId) -> Option<&str> {
        self.sessions.get(&conn).and_then(|s| s.name.as_deref())
    }

    /// Connections of the users who share at least one room with `name`, plus `name`'s own.
    pub(crate) fn audience_of(&self, conn: ConnId) -> Vec<ConnId> {
        let mut set = std::collections::BTreeSet::new();
        set.insert(conn);
        if let Some(s) = self.sessions.get(&conn) {
            for r in &s.rooms {
                if let Some(room) = self.rooms.get(r) {
                    set.extend(room.members.values().copied());
                }
            }
        }
        set.into_iter().collect()
    }
}
