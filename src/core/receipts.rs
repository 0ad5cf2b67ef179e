//! Delivered/read receipts as cumulative markers per conversation.
//!
//! A client says "every message of this conversation up to id N was delivered
//! to me / read by me" (as XMPP displayed markers and Matrix `m.read` do).
//! Markers only move forward and read implies delivered. Changes are not sent
//! at once: they collect in `pending` keyed by (conversation, recipient) and go
//! out in [`Core::end_of_turn`] as one `receipts` frame per key, so a hundred
//! readers acknowledging in the same turn cost each author one frame.

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
    /// (from, to) -> last private message id from `from` to `to`.
    dm_last: HashMap<(String, String), u64>,
    /// (conversation, recipient) -> reader -> marker, sent at end of turn.
    pending: BTreeMap<(About, String), BTreeMap<String, Marker>>,
}

impl Receipts {
    pub fn note_dm(&mut self, from: &str, to: &str, id: u64) {
        self.dm_last.insert((from.to_string(), to.to_string()), id);
    }

    pub fn forget_room(&mut self, room: &str) {
        self.room.remove(room);
    }

    pub fn forget_user(&mut self, name: &str) {
        self.pending.retain(|(_, recipient), _| recipient != name);
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
        let Some(r) = self
            .rooms
            .get(&room)
            .filter(|r| r.members.contains_key(&reader))
        else {
            self.error(
                conn,
                ErrorCode::NotInRoom,
                &format!("you are not in #{room}"),
                "receipt",
            );
            return;
        };
        let Some(&(last, _)) = r.recent.back() else {
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
        // Authors of the messages whose state this changes.
        let lo = old.1;
        let hi = new.0;
        let start = r.recent.partition_point(|(id, _)| *id <= lo);
        let mut authors: Vec<&String> = r
            .recent
            .range(start..)
            .take_while(|(id, _)| *id <= hi)
            .map(|(_, a)| a)
            .filter(|a| **a != reader)
            .collect();
        authors.sort();
        authors.dedup();
        let marker = Marker {
            user: reader.clone(),
            delivered: new.0,
            read: new.1,
        };
        for a in authors {
            self.receipts
                .pending
                .entry((About::Room(room.clone()), a.clone()))
                .or_default()
                .insert(reader.clone(), marker.clone());
        }
    }

    fn dm_receipt(&mut self, reader: String, peer: String, kind: ReceiptKind, up_to: u64) {
        let Some(&last) = self.receipts.dm_last.get(&(peer.clone(), reader.clone())) else {
            return; // peer never wrote to reader: nothing to acknowledge
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
