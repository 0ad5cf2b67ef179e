//! Delivered/read receipts as cumulative markers per conversation.
//!
//! A client says "every message of this conversation up to id N was delivered
//! to me / read by me" (as XMPP displayed markers and Matrix `m.read` do).
//! Markers only move forward and read implies delivered. Changes are not sent
//! at once: they collect keyed by (conversation, recipient) and go
//! out in [`Core::end_of_turn`] as one `receipts` frame per key, so a hundred
//! readers acknowledging in the same turn cost each author one frame. A
//! room's changed markers are appended to the history log at most every
//! [`MARKER_LOG_MS`], each once with its newest value, so they survive a
//! restart without a database write per receipt; a private conversation's
//! at the end of the turn.

use super::history::{ConvKey, Record};
use super::{ConnId, Core};
use crate::protocol::{ErrorCode, Marker, ReceiptKind, ServerMsg};
use std::collections::{BTreeMap, HashMap};

/// How long a changed room marker waits before it is written to the history
/// database, with every other one changed meanwhile (and at shutdown). A
/// private conversation's markers are written at the end of the turn: the
/// delivered one decides which held private messages a login replays.
/// Every reader acknowledges what they read (chat-client up to 5 times a
/// second, a bot as often as it likes; once each read batch, it was 30
/// receipts a message in a room of 1000): written each turn, the upserts
/// took the history thread more time than the messages. The price: a crash (not a shutdown) forgets
/// the last second of room markers, so authors may see a message as
/// delivered to fewer people until its readers acknowledge again; no
/// message is lost and none is replayed twice.
pub const MARKER_LOG_MS: u64 = 1000;

/// A map keyed by a room or user name, with a fast hash: a receipt looks
/// up several (room, author, reader), and SipHash was a tenth of the loop's
/// instructions at 1000 members. The keys are names that exist (the reader
/// is a member, the authors come from the history), at most the room's
/// members per room, so there are no chosen keys to collide in numbers;
/// the hash is seeded per process all the same.
type NameMap<V> = HashMap<String, V, foldhash::quality::RandomState>;

/// reader -> (delivered, read).
type ByReader = NameMap<(u64, u64)>;

#[derive(Debug, Default)]
pub(crate) struct Receipts {
    /// room -> reader -> (delivered, read)
    room: NameMap<ByReader>,
    /// (reader, peer) -> (delivered, read)
    dm: HashMap<(String, String), (u64, u64)>,
    /// room -> author -> reader -> marker, sent at end of turn. (Looked up
    /// by `&str`: a receipt allocates no key for a room, author or reader
    /// already there this turn.)
    room_pending: NameMap<NameMap<ByReader>>,
    /// Private ones: (reader, recipient) -> reader -> marker, sent at end
    /// of turn.
    pending: BTreeMap<(String, String), BTreeMap<String, Marker>>,
    /// Room markers changed since they were last logged (see
    /// [`MARKER_LOG_MS`]): room -> reader -> value.
    changed: NameMap<ByReader>,
    /// Private markers changed this turn, logged at its end: (peer,
    /// reader) -> value.
    changed_dm: BTreeMap<(String, String), (u64, u64)>,
}

/// `m[k]`, made empty if missing; `k` is copied only then.
fn slot<'a, V: Default>(m: &'a mut NameMap<V>, k: &str) -> &'a mut V {
    if !m.contains_key(k) {
        m.insert(k.to_string(), V::default());
    }
    m.get_mut(k).expect("just inserted")
}

/// `m`'s entries sorted by key.
fn sorted<V>(m: NameMap<V>) -> Vec<(String, V)> {
    let mut v: Vec<(String, V)> = m.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

impl Receipts {
    pub fn forget_user(&mut self, name: &str) {
        self.pending.retain(|(_, recipient), _| recipient != name);
        for authors in self.room_pending.values_mut() {
            authors.remove(name);
        }
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
        now: super::Now,
    ) {
        let Some(reader) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        let first_change = self.receipts.changed.is_empty();
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
        if first_change && !self.receipts.changed.is_empty() {
            let at = now.mono_ms + MARKER_LOG_MS;
            self.timers.set(super::timers::Timer::LogMarkers, at);
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
        let markers = slot(&mut self.receipts.room, &room);
        let old = markers.get(&reader).copied().unwrap_or((0, 0));
        let new = advance(old, kind, up_to);
        if new == old {
            return;
        }
        *slot(markers, &reader) = new;
        *slot(slot(&mut self.receipts.changed, &room), &reader) = new;
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
        if authors.is_empty() {
            return;
        }
        let pending = slot(&mut self.receipts.room_pending, &room);
        for a in authors {
            *slot(slot(pending, &a), &reader) = new;
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
            .changed_dm
            .insert((peer.clone(), reader.clone()), new);
        self.receipts
            .pending
            .entry((reader.clone(), peer))
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

    /// Append every room marker changed since the last time to the
    /// history log.
    pub(crate) fn log_markers(&mut self) {
        self.timers.cancel(&super::timers::Timer::LogMarkers);
        for (room, readers) in sorted(std::mem::take(&mut self.receipts.changed)) {
            for (user, (delivered, read)) in sorted(readers) {
                self.history.append_marker(Record::Marker {
                    room: Some(room.clone()),
                    peer: None,
                    user,
                    delivered,
                    read,
                });
            }
        }
    }

    fn log_marker_values(&mut self, changed: BTreeMap<(String, String), (u64, u64)>) {
        for ((peer, user), (delivered, read)) in changed {
            self.history.append_marker(Record::Marker {
                room: None,
                peer: Some(peer),
                user,
                delivered,
                read,
            });
        }
    }

    /// Log the private markers that changed this turn and send each author
    /// the markers that changed.
    pub(crate) fn flush_receipts(&mut self) {
        if !self.receipts.changed_dm.is_empty() {
            let changed = std::mem::take(&mut self.receipts.changed_dm);
            self.log_marker_values(changed);
        }
        // Rooms first, by name, then each author by name; markers by reader.
        if !self.receipts.room_pending.is_empty() {
            for (room, authors) in sorted(std::mem::take(&mut self.receipts.room_pending)) {
                for (author, readers) in sorted(authors) {
                    let Some(&conn) = self.names.get(&author) else {
                        continue;
                    };
                    let markers = sorted(readers)
                        .into_iter()
                        .map(|(user, (delivered, read))| Marker {
                            user,
                            delivered,
                            read,
                        })
                        .collect();
                    self.send(
                        conn,
                        &ServerMsg::Receipts {
                            room: Some(room.clone()),
                            peer: None,
                            markers,
                        },
                    );
                }
            }
        }
        if self.receipts.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.receipts.pending);
        for ((peer, recipient), markers) in pending {
            let Some(&conn) = self.names.get(&recipient) else {
                continue;
            };
            let markers = markers.into_values().collect();
            let msg = ServerMsg::Receipts {
                room: None,
                peer: Some(peer),
                markers,
            };
            self.send(conn, &msg);
        }
    }
}
