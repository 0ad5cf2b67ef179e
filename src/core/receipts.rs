//! Delivered/read receipts as cumulative markers per conversation.
//!
//! A client says "every message of this conversation up to id N was delivered
//! to me / read by me" (as XMPP displayed markers and Matrix `m.read` do).
//! Markers only move forward and read implies delivered. Changes are not sent
//! at once: they collect in `pending` keyed by (conversation, recipient) and go
//! out in [`Core::end_of_turn`] as one `receipts` frame per key, so a hundred
//! readers acknowledging in the same turn cost each author one frame. Changed
//! markers are also appended to the history log once per turn, so they
//! survive a restart.

use super::history::{ConvKey, Record};
use super::{ConnId, Core};
use crate::protocol::{ErrorCode, Marker, ReceiptKind, ServerMsg};
use std::collections::{BTreeMap, HashMap};

/// Conversation a pending receipt frame is about, from the recipient's view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum About {
    Room(String),
    /// A private conversation with this user (the reader).
    Peer(String),
}

#[derive(Debug, Default)]
pub(crate) struct Receipts {
    /// room -> reader -> (delivered, read)
    room: HashMap<String, HashMap<String, (u64, u64)>>,
    /// (reader, peer) -> (delivered, read)
    dm: HashMap<(String, String), (u64, u64)>,
    /// (conversation, recipient) -> reader -> marker, sent at end of turn.
    pending: BTreeMap<(About, String), BTreeMap<String, Marker>>,
    /// Markers changed this turn, to be logged: (about, reader) -> value.
    changed: BTreeMap<(About, String), (u64, u64)>,
}

impl Receipts {
    pub fn forget_user(&mut self, name: &str) {
        self.pending.retain(|(_, recipient), _| recipient != name);
    }

    /// `reader`'s (delivered, read) in their private conversation with `peer`.
    pub fn dm_marker(&self, reader: &str, peer: &str) -> (u64, u64) {
        self.dm
            .get(&(reader.to_string(), peer.to_string()))
            .copied()
            .unwrap_or((0, 0))
    }

    /// Every member's markers in `room`, sorted by user.
    pub fn room_markers(&self, room: &str) -> Vec<Marker> {
        let mut v: Vec<Marker> = self
            .room
            .get(room)
            .map(|m| {
                m.iter()
                    .map(|(u, (d, r))| Marker {
                        user: u.clone(),
                        delivered: *d,
                        read: *r,
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.user.cmp(&b.user));
        v
    }

    /// Restore a marker read back from the log.
    pub fn restore(&mut self, rec: &Record) {
        if let Record::Marker {
            room,
            peer,
            user,
            delivered,
            read,
        } = rec
        {
            let v = (*delivered, *read);
            match (room, peer) {
                (Some(r), _) => {
                    self.room
                        .entry(r.clone())
                        .or_default()
                        .insert(user.clone(), v);
                }
                (None, Some(p)) => {
                    self.dm.insert((user.clone(), p.clone()), v);
                }
                (None, None) => {}
            }
        }
    }
}

fn advance(old: (u64, u64), kind: ReceiptKind, up_to: u64) -> (u64, u64) {
    let (d, r) = old;
    match kind {
        ReceiptKind::Delivered => (d.max(up_to), r),
        ReceiptKind::Read => (d.max(up_to), r.max(up_to)),
    }
}

impl Core {
    pub(crate) fn receipt(
        &mut self,
        conn: ConnId,
        kind: ReceiptKind,
        room: Option<String>,
        peer: Option<String>,
        up_to: u64,
    ) {
        let Some(reader) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        match (room, peer) {
            (Some(room), None) => self.room_receipt(conn, reader, room, kind, up_to),
            (None, Some(peer)) => self.dm_receipt(reader, peer, kind, up_to),
            _ => self.error(
                conn,
                ErrorCode::Invalid,
                "a receipt names exactly one of room or peer",
                "receipt",
            ),
        }
    }

    fn room_receipt(
        &mut self,
        conn: ConnId,
        reader: String,
        room: String,
        kind: ReceiptKind,
        up_to: u64,
    ) {
        let member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&reader));
        // A receipt for what arrived before this session left the room
        // still counts, up to the newest message it could have seen.
        let left_at = self
            .sessions
            .get(&conn)
            .and_then(|s| s.left().iter().find(|(r, _)| *r == room))
            .map(|(_, last)| *last);
        let up_to = match (member, left_at) {
            (false, Some(last)) => up_to.min(last),
            _ => up_to,
        };
        if !member && left_at.is_none() {
            self.not_member(
                conn,
                &room,
                format!("you are not in #{room}"),
                "receipt",
                None,
            );
            return;
        }
        let conv = ConvKey::Room(room.clone());
        let Some(last) = self.history.last_in(&conv) else {
            return;
        };
        let up_to = up_to.min(last);
        let markers = self.receipts.room.entry(room.clone()).or_default();
        let old = markers.get(&reader).copied().unwrap_or((0, 0));
        let new = advance(old, kind, up_to);
        if new == old {
            return;
        }
        markers.insert(reader.clone(), new);
        self.receipts
            .changed
            .insert((About::Room(room.clone()), reader.clone()), new);
        // Authors of the messages whose state this changes: newly delivered
        // (old.0, new.0] and newly read (old.1, new.1], not the span between
        // the two old markers, which did not change.
        let mut authors = Vec::new();
        if new.0 > old.0 {
            authors = self.history.authors(&conv, old.0, new.0);
        }
        if new.1 > old.1 {
            authors.extend(self.history.authors(&conv, old.1, new.1));
            authors.sort_unstable();
            authors.dedup();
        }
        authors.retain(|a| *a != reader);
        let marker = Marker {
            user: reader.clone(),
            delivered: new.0,
            read: new.1,
        };
        for a in authors {
            self.receipts
                .pending
                .entry((About::Room(room.clone()), a))
                .or_default()
                .insert(reader.clone(), marker.clone());
        }
    }

    fn dm_receipt(&mut self, reader: String, peer: String, kind: ReceiptKind, up_to: u64) {
        let Some(last) = self.history.last_in(&ConvKey::dm(&reader, &peer)) else {
            return; // no conversation: nothing to acknowledge
        };
        let up_to = up_to.min(last);
        let key = (reader.clone(), peer.clone());
        let old = self.receipts.dm.get(&key).copied().unwrap_or((0, 0));
        let new = advance(old, kind, up_to);
        if new == old {
            return;
        }
        self.receipts.dm.insert(key, new);
        self.receipts
            .changed
            .insert((About::Peer(peer.clone()), reader.clone()), new);
        self.receipts
            .pending
            .entry((About::Peer(reader.clone()), peer))
            .or_default()
            .insert(
                reader.clone(),
                Marker {
                    user: reader,
                    delivered: new.0,
                    read: new.1,
                },
            );
    }

    pub(crate) fn flush_receipts(&mut self) {
        for ((about, user), (delivered, read)) in std::mem::take(&mut self.receipts.changed) {
            let (room, peer) = match about {
                About::Room(r) => (Some(r), None),
                About::Peer(p) => (None, Some(p)),
            };
            self.history.append_marker(Record::Marker {
                room,
                peer,
                user,
                delivered,
                read,
            });
        }
        if self.receipts.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.receipts.pending);
        for ((about, recipient), markers) in pending {
            let Some(&conn) = self.names.get(&recipient) else {
                continue;
            };
            let markers = markers.into_values().collect();
            let msg = match about {
                About::Room(room) => ServerMsg::Receipts {
                    room: Some(room),
                    peer: None,
                    markers,
                },
                About::Peer(peer) => ServerMsg::Receipts {
                    room: None,
                    peer: Some(peer),
                    markers,
                },
            };
            self.send(conn, &msg);
        }
    }
}
