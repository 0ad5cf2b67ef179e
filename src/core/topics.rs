//! Room topics: `set_topic` by a member, shown to the room when it changes
//! and to whoever joins; kept in the history database (a `Record::Topic`),
//! so a topic outlives the room's members and a restart. At most
//! `protocol::lengths::MAX_TOPIC` bytes; an empty topic clears it. At most
//! `--max-rooms` topics are kept: a new one past that replaces the oldest
//! topic of a room nobody is in (there always is one, since at most that
//! many rooms exist).

use super::history::Record;
use super::logsafe::Safe;
use super::{ConnId, Core, Now, Priority};
use crate::protocol::{ErrorCode, ServerMsg};
use std::collections::HashMap;

/// A room's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topic {
    pub text: String,
    pub by: String,
    pub ts: u64,
}

/// The topics found in the database at start-up.
pub(crate) fn restore(records: Vec<Record>) -> HashMap<String, Topic> {
    records
        .into_iter()
        .filter_map(|r| match r {
            Record::Topic { room, text, by, ts } if !text.is_empty() => {
                Some((room, Topic { text, by, ts }))
            }
            _ => None,
        })
        .collect()
}

impl Core {
    pub(crate) fn set_topic(&mut self, conn: ConnId, room: String, topic: String, now: Now) {
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        let members: Vec<ConnId> = match self.rooms.get(&room) {
            Some(r) if r.members.contains_key(&name) => r.members.values().copied().collect(),
            _ => {
                let msg = format!("you are not in #{room}; join it to set its topic");
                return self.not_member(conn, &room, msg, "set_topic", None);
            }
        };
        let text = topic.trim().to_string();
        if text.chars().any(char::is_control) {
            let msg = "a topic is one line of text: no newlines or control characters";
            return self.error(conn, ErrorCode::Invalid, msg, "set_topic");
        }
        if text.is_empty() {
            self.topics.remove(&room);
        } else {
            self.make_room_for_topic(&room, now);
            self.topics.insert(
                room.clone(),
                Topic {
                    text: text.clone(),
                    by: name.clone(),
                    ts: now.unix_ms,
                },
            );
        }
        self.history.append_other(Record::Topic {
            room: room.clone(),
            text: text.clone(),
            by: name.clone(),
            ts: now.unix_ms,
        });
        self.fanout(
            members,
            &ServerMsg::Topic {
                room,
                topic: text,
                by: name,
                ts: now.unix_ms,
            },
            Priority::Normal,
        );
    }

    /// Before `room` gets a topic: if the table is full, the oldest topic
    /// of a room that has no members goes (from the database too).
    fn make_room_for_topic(&mut self, room: &str, now: Now) {
        let cap = self.cfg.limits.max_rooms;
        if cap == 0 || self.topics.len() < cap || self.topics.contains_key(room) {
            return;
        }
        let oldest = self
            .topics
            .iter()
            .filter(|(r, _)| !self.rooms.contains_key(*r))
            .min_by_key(|(_, t)| t.ts)
            .map(|(r, _)| r.clone());
        if let Some(old) = oldest {
            self.topics.remove(&old);
            log::info!("topic of #{} dropped: the topic table is full", Safe(&old));
            self.history.append_other(Record::Topic {
                room: old,
                text: String::new(),
                by: String::new(),
                ts: now.unix_ms,
            });
        }
    }

    /// After `joined`: the room's topic, if it has one.
    pub(crate) fn show_topic(&mut self, conn: ConnId, room: &str) {
        let Some(t) = self.topics.get(room).cloned() else {
            return;
        };
        self.send(
            conn,
            &ServerMsg::Topic {
                room: room.to_string(),
                topic: t.text,
                by: t.by,
                ts: t.ts,
            },
        );
    }
}
