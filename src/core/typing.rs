//! Typing indicators. An active state lasts `typing_timeout_ms` unless
//! refreshed, so a typist whose client crashed does not type forever; a message
//! in the same conversation ends it at once.

use super::timers::Timer;
use super::{ConnId, Core, Now, Priority};
use crate::protocol::{ErrorCode, ServerMsg};
use std::collections::HashSet;

/// A conversation seen from the sender: a room, or a private peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Conv {
    Room(String),
    Dm(String),
}

#[derive(Debug, Default)]
pub(crate) struct Typing {
    /// (typist, conversation) typing now; each has a `Timer::Typing`.
    active: HashSet<(String, Conv)>,
}

impl Typing {
    #[cfg(test)]
    pub fn is_active(&self, who: &str) -> bool {
        self.active.iter().any(|(n, _)| n == who)
    }
}

impl Core {
    pub(crate) fn typing_msg(
        &mut self,
        conn: ConnId,
        room: Option<String>,
        to: Option<String>,
        active: bool,
        now: Now,
    ) {
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        let conv = match (room, to) {
            (Some(room), None) => {
                let member = self
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.members.contains_key(&name));
                if !member {
                    let msg = format!("you are not in #{room}");
                    self.not_member(conn, &room, msg, "typing", None);
                    return;
                }
                Conv::Room(room)
            }
            (None, Some(to)) => {
                if !self.names.contains_key(&to) || to == name {
                    let msg = format!("no user named \"{to}\" is online");
                    self.error(conn, ErrorCode::UnknownUser, &msg, "typing");
                    return;
                }
                Conv::Dm(to)
            }
            _ => {
                let msg = "typing names exactly one of room or to";
                self.error(conn, ErrorCode::Invalid, msg, "typing");
                return;
            }
        };
        if active {
            let deadline = now.mono_ms + self.cfg.typing_timeout_ms;
            self.typing.active.insert((name.clone(), conv.clone()));
            self.timers
                .set(Timer::Typing(name.clone(), conv.clone()), deadline);
            self.relay_typing(&name, &conv, true);
        } else {
            self.stop_typing(&name, &conv, now);
        }
    }

    /// End `name`'s typing in room `room` (see [`Core::stop_typing`]); builds
    /// no key when nobody is typing, which is the usual case for a message.
    pub(crate) fn stop_typing_in_room(&mut self, name: &str, room: &str, now: Now) {
        if !self.typing.active.is_empty() {
            self.stop_typing(name, &Conv::Room(room.to_string()), now);
        }
    }

    /// End `name`'s typing in `conv`, telling the others if it was active.
    pub(crate) fn stop_typing(&mut self, name: &str, conv: &Conv, _now: Now) {
        if self.typing.active.is_empty() {
            return;
        }
        let key = (name.to_string(), conv.clone());
        if self.typing.active.remove(&key) {
            self.timers.cancel(&Timer::Typing(key.0, key.1));
            self.relay_typing(name, conv, false);
        }
    }

    pub(crate) fn clear_typing_of(&mut self, name: &str, now: Now) {
        let convs: Vec<Conv> = self
            .typing
            .active
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .collect();
        for c in convs {
            self.stop_typing(name, &c, now);
        }
    }

    /// `name`'s typing in `conv` was not refreshed in time.
    pub(crate) fn typing_expired(&mut self, name: &str, conv: &Conv) {
        if self.typing.active.remove(&(name.to_string(), conv.clone())) {
            self.relay_typing(name, conv, false);
        }
    }

    fn relay_typing(&mut self, name: &str, conv: &Conv, active: bool) {
        match conv {
            Conv::Room(room) => {
                let Some(r) = self.rooms.get(room) else {
                    return;
                };
                let others: Vec<ConnId> = r
                    .members
                    .iter()
                    .filter(|(n, _)| *n != name)
                    .map(|(_, c)| *c)
                    .collect();
                let msg = ServerMsg::Typing {
                    from: name.to_string(),
                    room: Some(room.clone()),
                    to: None,
                    active,
                };
                self.fanout(others, &msg, Priority::Low);
            }
            Conv::Dm(to) => {
                let Some(&peer) = self.names.get(to) else {
                    return;
                };
                let msg = ServerMsg::Typing {
                    from: name.to_string(),
                    room: None,
                    to: Some(to.clone()),
                    active,
                };
                self.fanout([peer], &msg, Priority::Low);
            }
        }
    }
}
