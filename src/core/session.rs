//! Login, logout, disconnect and presence.

use super::{validate, ConnId, Core, Gone, Now, Priority};
use crate::protocol::{ErrorCode, NoticeKind, ServerMsg, Status, UserInfo, PROTOCOL_VERSION};

/// Room a user joins at login unless they ask for another.
pub const DEFAULT_ROOM: &str = "general";

impl Core {
    pub(crate) fn login(
        &mut self,
        conn: ConnId,
        version: u32,
        name: String,
        room: Option<String>,
        status: Status,
        now: Now,
    ) {
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
        if let Err(e) = validate::name("user", &name) {
            self.error(conn, ErrorCode::Invalid, &e, "hello");
            return;
        }
        let room = room.unwrap_or_else(|| DEFAULT_ROOM.to_string());
        if let Err(e) = validate::name("room", &room) {
            self.error(conn, ErrorCode::Invalid, &e, "hello");
            return;
        }
        if self.names.contains_key(&name) {
            self.error(
                conn,
                ErrorCode::NameTaken,
                &format!("name \"{name}\" is already taken by someone online; pick another name"),
                "hello",
            );
            return;
        }
        self.names.insert(name.clone(), conn);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.name = Some(name.clone());
            s.status = status;
        }
        log::info!("conn {conn}: {name} logged in");
        let welcome = ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            name,
            server: self.cfg.server_name.clone(),
            rooms: vec![room.clone()],
        };
        self.send(conn, &welcome);
        self.join(conn, room, false, now);
    }

    pub(crate) fn logout(&mut self, conn: ConnId, now: Now) {
        self.send(
            conn,
            &ServerMsg::Bye {
                reason: "logged out".into(),
            },
        );
        self.drop_user(conn, false, now);
        self.close(conn, "logged out".into());
    }

    /// The reactor lost `conn` (or closed it). Safe to call more than once.
    pub fn disconnect(&mut self, conn: ConnId, gone: Gone, now: Now) {
        let _ = gone;
        self.drop_user(conn, true, now);
        self.sessions.remove(&conn);
    }

    /// Remove the user on `conn` from every room, call and typing state.
    fn drop_user(&mut self, conn: ConnId, abrupt: bool, now: Now) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(name) = s.name.take() else {
            return;
        };
        let rooms = std::mem::take(&mut s.rooms);
        self.names.remove(&name);
        log::info!(
            "conn {conn}: {name} {}",
            if abrupt { "disconnected" } else { "logged out" }
        );
        self.clear_typing_of(&name, now);
        self.end_calls_of(conn, &name);
        let suffix = if abrupt { " (disconnected)" } else { "" };
        for r in rooms {
            self.remove_member(&r, &name, suffix);
        }
        self.receipts.forget_user(&name);
    }

    pub(crate) fn set_status(&mut self, conn: ConnId, status: Status) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.status = status;
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
