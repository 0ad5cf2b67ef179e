//! The cluster's users as each node sees them: stand-ins for the users of
//! other nodes (made at their login, dropped at their `gone` or their
//! node's), the rosters a starting node is sent, and a message from a user
//! a node has not met yet.

use super::cluster::LoginCommit;
use super::{ConnId, Core, Now};
use crate::cluster::event::{Body, Login, RosterUser};
use crate::protocol::ClientMsg;
use crate::protocol::ServerMsg;

impl Core {
    /// The connection here standing for `conn` of `from` (a node and its
    /// run).
    pub(crate) fn conn_for(&self, from: &(String, u64), conn: u64, local: bool) -> Option<ConnId> {
        if local {
            let id = ConnId(conn);
            return self.sessions.contains_key(&id).then_some(id);
        }
        let c = self.cluster.as_deref()?;
        c.remote.get(&(from.0.clone(), from.1, conn)).copied()
    }

    pub(crate) fn new_remote(&mut self, from: &(String, u64), conn: u64) -> Option<ConnId> {
        let c = self.cluster.as_deref_mut()?;
        let key = (from.0.clone(), from.1, conn);
        if let Some(&id) = c.remote.get(&key) {
            return Some(id);
        }
        c.next_remote += 1;
        let id = ConnId::remote(c.next_remote);
        c.remote_of.insert(id, key.clone());
        c.remote.insert(key, id);
        self.sessions.insert(id, Default::default());
        Some(id)
    }

    pub(crate) fn apply_login(
        &mut self,
        from: &(String, u64),
        origin: u64,
        local: bool,
        l: Login,
        now: Now,
    ) {
        let conn = if local {
            let id = ConnId(origin);
            if !self.sessions.contains_key(&id) {
                return; // gone without a trace (it never logged in)
            }
            id
        } else {
            match self.new_remote(from, origin) {
                Some(id) => id,
                None => return,
            }
        };
        let commit = LoginCommit {
            name: l.name,
            rooms: l.rooms,
            status: l.status,
            resume: l.resume,
            verified: l.verified,
            token: Some(l.token),
        };
        self.login_commit(conn, commit, now);
        self.reap(conn);
    }

    /// A stand-in whose user is no longer logged in (refused, logged out)
    /// is forgotten.
    pub(crate) fn reap(&mut self, conn: ConnId) {
        if !conn.is_remote() || self.name_of(conn).is_some() {
            return;
        }
        self.sessions.remove(&conn);
        self.forget_remote(conn);
    }

    /// `conn` (a stand-in) stands for nobody any more.
    pub(crate) fn forget_remote(&mut self, conn: ConnId) {
        if let Some(c) = self.cluster.as_deref_mut() {
            if let Some(key) = c.remote_of.remove(&conn) {
                c.remote.remove(&key);
            }
        }
    }

    /// `conn`'s user is gone (their `gone` event, or their node's).
    pub(crate) fn gone(&mut self, conn: ConnId, abrupt: bool, now: Now) {
        self.drop_user(conn, abrupt, now);
        self.sessions.remove(&conn);
        self.forget_output(conn);
        self.reads.retain(|_, r| r.conn != conn);
        self.relay.forget_conn(conn);
        self.forget_remote(conn);
        if let Some(c) = self.cluster.as_deref_mut() {
            c.pending.remove(&conn);
            c.departed.remove(&conn);
        }
    }

    /// Every user of `node` (an earlier run of it, or a dead one) leaves.
    pub(crate) fn node_gone(&mut self, node: &str, now: Now) {
        let Some(c) = self.cluster.as_deref() else {
            return;
        };
        let theirs: Vec<ConnId> = c
            .remote
            .iter()
            .filter(|((n, _, _), _)| n == node)
            .map(|(_, v)| *v)
            .collect();
        for conn in theirs {
            self.gone(conn, true, now);
        }
        self.homes_gone(node);
        self.files_gone(node);
    }

    /// The others declared this node down and dropped its users: so does
    /// this node, telling them to reconnect (to any node).
    pub(crate) fn evicted(&mut self, now: Now) {
        log::error!("cluster: the other nodes declared this node down; its users must reconnect");
        let ours: Vec<ConnId> = self
            .sessions
            .iter()
            .filter(|(c, s)| !c.is_remote() && s.name.is_some())
            .map(|(c, _)| *c)
            .collect();
        for conn in ours {
            self.send(
                conn,
                &ServerMsg::Bye {
                    code: crate::protocol::ByeCode::Shutdown,
                    reason: "this server lost touch with the rest of the cluster; reconnect".into(),
                },
            );
            self.drop_user(conn, true, now);
            self.close(conn, "evicted from the cluster".into());
        }
    }

    /// The users of this node, for a node that just started.
    pub(crate) fn send_roster(&mut self, now: Now) {
        let users: Vec<RosterUser> = self
            .sessions
            .iter()
            .filter(|(c, _)| !c.is_remote())
            .filter_map(|(c, s)| {
                let name = s.name.clone()?;
                Some(RosterUser {
                    conn: c.0,
                    token: self.tokens.get(&name).cloned().unwrap_or_default(),
                    name,
                    status: s.status,
                    away: s.away().cloned(),
                    rooms: s.rooms.iter().cloned().collect(),
                })
            })
            .collect();
        // Even empty: the new node waits for every node's roster.
        self.publish_event(ConnId(0), Body::Roster { users }, now);
    }

    /// Learn the users of `node` (this node started after they logged in).
    pub(crate) fn install_roster(&mut self, from: &(String, u64), users: Vec<RosterUser>) {
        for u in users {
            let key = (from.0.clone(), from.1, u.conn);
            let known = self
                .cluster
                .as_deref()
                .is_some_and(|c| c.remote.contains_key(&key));
            if known || self.names.contains_key(&u.name) {
                continue;
            }
            let Some(conn) = self.new_remote(from, u.conn) else {
                continue;
            };
            for r in &u.rooms {
                self.rooms
                    .entry(r.clone())
                    .or_default()
                    .members
                    .insert(u.name.clone(), conn);
            }
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.name = Some(u.name.clone());
                s.status = u.status;
                s.set_away(u.away);
                for r in u.rooms {
                    s.rooms.insert(r);
                }
            }
            self.history.see(&u.name);
            self.accounts
                .holders
                .set(&u.name, super::accounts::ONLINE, true);
            self.tokens.insert(u.name.clone(), u.token);
            self.names.insert(u.name, conn);
        }
    }

    /// A message from a user this node has not met yet (it started a moment
    /// ago, and their node's roster is on its way): stored and shown to
    /// whoever here is in the conversation, so nothing is lost.
    pub(crate) fn deliver_unknown(&mut self, user: &str, frame: ClientMsg, now: Now) {
        let Some(id) = self.applying_seq() else {
            return;
        };
        let (room, to, text, cid) = match frame {
            ClientMsg::RoomMsg { room, text, cid } => (Some(room), None, text, cid),
            ClientMsg::PrivateMsg { to, text, cid } => (None, Some(to), text, cid),
            _ => return,
        };
        if self.history.duplicate(user, cid.as_deref()).is_some() {
            return;
        }
        let others: Vec<ConnId> = match (&room, &to) {
            (Some(r), _) => self
                .rooms
                .get(r)
                .map(|r| r.members.values().copied().collect())
                .unwrap_or_default(),
            (_, Some(t)) => self.names.get(t).copied().into_iter().collect(),
            _ => Vec::new(),
        };
        let m = super::history::StoredMsg {
            id,
            ts: now.unix_ms,
            from: user.to_string(),
            recipients: if room.is_some() {
                others.len() as u32
            } else {
                1
            },
            room,
            to,
            text,
            cid,
        };
        self.history.see(user);
        self.store_and_deliver(ConnId::remote(0), m, others, "room_msg");
    }
}
