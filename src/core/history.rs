//! Message history as the core sees it: the records it logs, and what it
//! keeps in memory to answer without a disk.
//!
//! Every room and private message, receipt marker and first login becomes a
//! record, handed to the history worker in batches ([`History::seal`]); the
//! worker owns the database (`store::history`), one transaction per batch. In memory the core keeps,
//! per conversation, the newest messages in full (for catch-up and history
//! pages) and the authors of the newest [`AUTHORS_KEPT`] (so a receipt is
//! routed without a disk read); older messages come back through a read
//! effect. It also remembers, per user, the last client ids (`cid`) seen, so
//! a resent message is recognised and answered with its original id.

use super::effect::LogBatch;
use crate::protocol::ServerMsg;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Client ids remembered per user for duplicate detection.
const CIDS_PER_USER: usize = 4096;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMsg {
    pub id: u64,
    pub ts: u64,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Others it was addressed to when sent (for a duplicate's ack).
    #[serde(default)]
    pub recipients: u32,
}

impl StoredMsg {
    /// The `message` frame for this message, encoded without copying its
    /// strings: byte for byte what `ServerMsg::Message` encodes to.
    pub fn frame_bytes(&self, replay: Option<crate::protocol::Replay>) -> std::rc::Rc<[u8]> {
        crate::protocol::hot::message(
            self.id,
            self.ts,
            &self.from,
            self.room.as_deref(),
            self.to.as_deref(),
            &self.text,
            replay,
        )
    }

    pub fn to_frame(&self, replay: Option<crate::protocol::Replay>) -> ServerMsg {
        ServerMsg::Message {
            id: self.id,
            ts: self.ts,
            from: self.from.clone(),
            room: self.room.clone(),
            to: self.to.clone(),
            text: self.text.clone(),
            replay,
        }
    }

    pub fn conv(&self) -> ConvKey {
        match (&self.room, &self.to) {
            (Some(r), _) => ConvKey::Room(r.clone()),
            (None, Some(to)) => ConvKey::dm(&self.from, to),
            (None, None) => ConvKey::Room(String::new()),
        }
    }
}

/// One record of the history (a row, or a row's new value, in the database;
/// a line of the old log that start-up imports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum Record {
    /// Shared with the core's memory of it: handing it to the writer copies
    /// nothing.
    Msg(Arc<StoredMsg>),
    /// A receipt marker's new value.
    Marker {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// For a private conversation: the other user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        user: String,
        delivered: u64,
        read: u64,
    },
    /// A user logged in for the first time.
    Seen { name: String },
    /// Transfer ids below `next` may have been handed out: a restarted
    /// server starts from here, so an id is never used twice.
    TransferIds { next: u64 },
    /// A room's topic (empty: cleared), set by `by` at `ts`.
    Topic {
        room: String,
        text: String,
        by: String,
        ts: u64,
    },
}

/// A conversation: a room, or the private conversation of two users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConvKey {
    Room(String),
    /// The two names, sorted.
    Dm(String, String),
}

impl ConvKey {
    pub fn dm(a: &str, b: &str) -> ConvKey {
        if a <= b {
            ConvKey::Dm(a.to_string(), b.to_string())
        } else {
            ConvKey::Dm(b.to_string(), a.to_string())
        }
    }
}

/// Bytes counted for a record besides its text and author (ids, keys,
/// index entries): the estimate behind [`History::unsettled_bytes`].
const RECORD_OVERHEAD: usize = 64;

/// Full messages kept in memory per conversation, for catch-up and
/// history pages without a disk read.
const RECENT: usize = 64;
/// Authors remembered per conversation (id and author, newest first out):
/// a receipt reaches the authors of the messages it covers among these.
pub const AUTHORS_KEPT: usize = 4096;

#[derive(Default)]
struct Conversation {
    /// The newest messages, oldest first.
    recent: VecDeque<Arc<StoredMsg>>,
    /// Highest id of this conversation that is no longer in `recent` (0:
    /// none): older messages are read back from the log.
    evicted: u64,
    /// (id, author) of the newest `AUTHORS_KEPT` messages, oldest first.
    authors: VecDeque<(u64, u32)>,
    /// Id of the newest message.
    last: u64,
}

#[derive(Default)]
struct Cids {
    map: HashMap<String, (u64, u64, u32)>,
    order: VecDeque<String>,
}

/// A batch handed to the writer whose fate is not known yet: what to undo
/// if it fails.
struct Unsettled {
    seq: u64,
    /// Estimated bytes of its records (how far the disk is behind).
    bytes: usize,
    msgs: Vec<Arc<StoredMsg>>,
    /// Markers and first logins: written again with the next batch.
    other: Vec<Record>,
}

/// What the live server knows of the history, in memory: the newest
/// messages of each conversation, recent authors for receipts, client ids
/// for duplicate detection, known users. The log itself belongs to the
/// history worker (`store::history`); records reach it as
/// [`LogBatch`]es and older messages come back as read effects.
pub struct History {
    convs: HashMap<ConvKey, Conversation>,
    /// Private conversations each user is part of.
    dms_of: HashMap<String, BTreeSet<ConvKey>>,
    cids: HashMap<String, Cids>,
    known: HashSet<String>,
    /// Author names, numbered for `Conversation::authors`.
    author_ids: HashMap<String, u32>,
    author_names: Vec<String>,
    last_id: u64,
    count: u64,
    /// Records of the batch being filled, their estimated size, and what
    /// they are.
    pending: Vec<Record>,
    pending_bytes: usize,
    pending_msgs: Vec<Arc<StoredMsg>>,
    pending_other: Vec<Record>,
    /// Sequence number of the batch being filled.
    next_seq: u64,
    unsettled: VecDeque<Unsettled>,
    /// Bytes handed to the writer and not settled yet.
    unsettled_bytes: usize,
    /// Markers found in the log at start-up, for the receipts table.
    pub(crate) replayed_markers: Vec<Record>,
    /// Topics found at start-up, for the core's table.
    pub(crate) replayed_topics: Vec<Record>,
}

impl Default for History {
    fn default() -> Self {
        History {
            convs: HashMap::new(),
            dms_of: HashMap::new(),
            cids: HashMap::new(),
            known: HashSet::new(),
            author_ids: HashMap::new(),
            author_names: Vec::new(),
            last_id: 0,
            count: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_msgs: Vec::new(),
            pending_other: Vec::new(),
            next_seq: 1,
            unsettled: VecDeque::new(),
            unsettled_bytes: 0,
            replayed_markers: Vec::new(),
            replayed_topics: Vec::new(),
        }
    }
}

impl History {
    /// Feed one record read back at start-up (newest messages ascending).
    pub fn replay(&mut self, rec: Record) {
        match rec {
            Record::Msg(m) => self.index(m),
            Record::Seen { name } => {
                self.known.insert(name);
            }
            marker @ Record::Marker { .. } => self.replayed_markers.push(marker),
            Record::TransferIds { .. } => {}
            topic @ Record::Topic { .. } => self.replayed_topics.push(topic),
        }
    }

    /// Start-up told every conversation there is and its newest id, after
    /// the newest messages were replayed: what memory does not hold of a
    /// conversation is on disk (read back by effect). `all_loaded`: the
    /// replayed messages were every message there is.
    pub fn loaded(&mut self, convs: Vec<(ConvKey, u64)>, all_loaded: bool) {
        for (key, last) in convs {
            if let ConvKey::Dm(a, b) = &key {
                for u in [a, b] {
                    self.dms_of
                        .entry(u.clone())
                        .or_default()
                        .insert(key.clone());
                }
            }
            self.last_id = self.last_id.max(last);
            let c = self.convs.entry(key).or_default();
            c.last = c.last.max(last);
            if !all_loaded {
                let below = c.recent.front().map_or(c.last, |m| m.id.saturating_sub(1));
                c.evicted = c.evicted.max(below);
            }
        }
    }

    /// Ids up to `id` are taken (start-up: the highest stored).
    pub fn raise_last_id(&mut self, id: u64) {
        self.last_id = self.last_id.max(id);
    }

    /// Retention removed every message with an id up to `through`: memory
    /// lets them go too (a history page no longer shows them).
    pub fn pruned(&mut self, through: u64) {
        for c in self.convs.values_mut() {
            while c.recent.front().is_some_and(|m| m.id <= through) {
                c.recent.pop_front();
            }
            while c.authors.front().is_some_and(|(id, _)| *id <= through) {
                c.authors.pop_front();
            }
        }
    }

    /// Log a record other than a message (a topic).
    pub fn append_other(&mut self, rec: Record) {
        self.log_other(rec);
    }

    /// The next batch records that transfer ids below `next` are used.
    pub fn reserve_transfer_ids(&mut self, next: u64) {
        self.log_other(Record::TransferIds { next });
    }

    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Messages indexed (at start-up and since).
    pub fn message_count(&self) -> u64 {
        self.count
    }

    pub fn is_known(&self, name: &str) -> bool {
        self.known.contains(name)
    }

    /// Remember a user; logged the first time.
    pub fn see(&mut self, name: &str) {
        if self.known.insert(name.to_string()) {
            self.log_other(Record::Seen {
                name: name.to_string(),
            });
        }
    }

    /// The original `(id, ts, recipients)` if `user` already sent `cid`.
    pub fn duplicate(&self, user: &str, cid: Option<&str>) -> Option<(u64, u64, u32)> {
        let cid = cid?;
        self.cids.get(user)?.map.get(cid).copied()
    }

    /// Store a new message; returns the batch it will be written with.
    pub fn append(&mut self, m: StoredMsg) -> u64 {
        self.pending_bytes += RECORD_OVERHEAD + m.text.len() + m.from.len();
        let m = Arc::new(m);
        self.pending.push(Record::Msg(Arc::clone(&m)));
        self.pending_msgs.push(m.clone());
        self.index(m);
        self.next_seq
    }

    /// Log a marker's new value.
    pub fn append_marker(&mut self, rec: Record) {
        self.log_other(rec);
    }

    fn log_other(&mut self, rec: Record) {
        self.pending_bytes += RECORD_OVERHEAD;
        self.pending.push(rec.clone());
        self.pending_other.push(rec);
    }

    /// The batch being filled, if it has records: it goes to the writer now.
    pub fn seal(&mut self) -> Option<LogBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let records = std::mem::take(&mut self.pending);
        let bytes = std::mem::take(&mut self.pending_bytes);
        self.unsettled_bytes += bytes;
        self.unsettled.push_back(Unsettled {
            seq,
            bytes,
            msgs: std::mem::take(&mut self.pending_msgs),
            other: std::mem::take(&mut self.pending_other),
        });
        Some(LogBatch { seq, records })
    }

    /// The newest batch with records not known to be durable (0: none):
    /// the one being filled, or the newest handed to the writer.
    pub fn newest_unsettled(&self) -> u64 {
        if !self.pending.is_empty() {
            self.next_seq
        } else {
            self.unsettled.back().map_or(0, |u| u.seq)
        }
    }

    /// Bytes of records handed to the writer and not yet settled: how far
    /// the disk is behind.
    pub fn unsettled_bytes(&self) -> usize {
        self.unsettled_bytes
    }

    /// The unsettled batch holding message `id`, if any.
    pub fn batch_of(&self, id: u64) -> Option<u64> {
        if self.pending_msgs.iter().any(|m| m.id == id) {
            return Some(self.next_seq);
        }
        self.unsettled
            .iter()
            .find(|u| u.msgs.iter().any(|m| m.id == id))
            .map(|u| u.seq)
    }

    /// The writer reported batch `seq`. If it failed, its messages are
    /// forgotten (they were never acknowledged) and its other records go
    /// out again with the next batch. Returns the failed messages.
    pub fn settle(&mut self, seq: u64, ok: bool) -> Vec<Arc<StoredMsg>> {
        let Some(at) = self.unsettled.iter().position(|u| u.seq == seq) else {
            return Vec::new();
        };
        let Some(u) = self.unsettled.remove(at) else {
            return Vec::new();
        };
        self.unsettled_bytes -= u.bytes;
        if ok {
            return Vec::new();
        }
        for rec in u.other {
            self.log_other(rec);
        }
        let ids: HashSet<u64> = u.msgs.iter().map(|m| m.id).collect();
        let mut touched: Vec<ConvKey> = u.msgs.iter().map(|m| m.conv()).collect();
        touched.sort();
        touched.dedup();
        for key in touched {
            if let Some(c) = self.convs.get_mut(&key) {
                c.recent.retain(|m| !ids.contains(&m.id));
                c.authors.retain(|(id, _)| !ids.contains(id));
                c.last = c.recent.back().map_or(c.evicted, |m| m.id);
            }
        }
        for m in &u.msgs {
            if let (Some(cid), Some(c)) = (&m.cid, self.cids.get_mut(&m.from)) {
                if c.map.get(cid).is_some_and(|(id, _, _)| *id == m.id) {
                    c.map.remove(cid);
                    c.order.retain(|x| x != cid);
                }
            }
        }
        self.count -= u.msgs.len() as u64;
        u.msgs
    }

    fn author(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.author_ids.get(name) {
            return n;
        }
        let n = self.author_names.len() as u32;
        self.author_names.push(name.to_string());
        self.author_ids.insert(name.to_string(), n);
        n
    }

    fn index(&mut self, m: Arc<StoredMsg>) {
        self.last_id = self.last_id.max(m.id);
        self.count += 1;
        if let Some(cid) = &m.cid {
            // (get_mut first: `entry` would allocate the key for every message)
            if !self.cids.contains_key(&m.from) {
                self.cids.insert(m.from.clone(), Cids::default());
            }
            if let Some(c) = self.cids.get_mut(&m.from) {
                if c.map
                    .insert(cid.clone(), (m.id, m.ts, m.recipients))
                    .is_none()
                {
                    c.order.push_back(cid.clone());
                    if c.order.len() > CIDS_PER_USER {
                        if let Some(old) = c.order.pop_front() {
                            c.map.remove(&old);
                        }
                    }
                }
            }
        }
        let key = m.conv();
        if let ConvKey::Dm(a, b) = &key {
            for u in [a, b] {
                if !self.dms_of.get(u).is_some_and(|s| s.contains(&key)) {
                    self.dms_of
                        .entry(u.clone())
                        .or_default()
                        .insert(key.clone());
                }
            }
        }
        let author = self.author(&m.from);
        let conv = self.convs.entry(key).or_default();
        conv.last = conv.last.max(m.id);
        conv.authors.push_back((m.id, author));
        if conv.authors.len() > AUTHORS_KEPT {
            conv.authors.pop_front();
        }
        conv.recent.push_back(m);
        if conv.recent.len() > RECENT {
            if let Some(old) = conv.recent.pop_front() {
                conv.evicted = conv.evicted.max(old.id);
            }
        }
    }

    /// Private conversations `user` is part of.
    pub fn dms_of(&self, user: &str) -> Vec<ConvKey> {
        self.dms_of
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Messages of `conv` with `after < id < before`, oldest first, at most
    /// `limit` of the newest such, and whether older ones were left out;
    /// `None` if some of them are only in the log (read them with an
    /// effect).
    pub fn range_in_memory(
        &self,
        conv: &ConvKey,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Option<(Vec<Arc<StoredMsg>>, bool)> {
        let Some(c) = self.convs.get(conv) else {
            return Some((Vec::new(), false));
        };
        let inside: Vec<&Arc<StoredMsg>> = c
            .recent
            .iter()
            .filter(|m| m.id > after && m.id < before)
            .collect();
        let older_on_disk = c.evicted > after && before > after + 1;
        if inside.len() < limit && older_on_disk {
            return None; // some of the wanted ones are older than `recent`
        }
        let start = inside.len().saturating_sub(limit);
        let more = start > 0 || older_on_disk;
        Some((
            inside[start..].iter().map(|m| Arc::clone(m)).collect(),
            more,
        ))
    }

    /// Id of the newest message in `conv`.
    pub fn last_in(&self, conv: &ConvKey) -> Option<u64> {
        self.convs.get(conv).map(|c| c.last).filter(|&id| id > 0)
    }

    /// Distinct authors of the messages of `conv` with `after < id <= upto`
    /// among the newest [`AUTHORS_KEPT`]: no disk read, and at most that
    /// many entries looked at.
    pub fn authors(&self, conv: &ConvKey, after: u64, upto: u64) -> Vec<String> {
        /// Distinct authors kept by a linear check; past it, sort and dedup.
        const FEW_AUTHORS: usize = 16;
        let Some(c) = self.convs.get(conv) else {
            return Vec::new();
        };
        let lo = c.authors.partition_point(|(id, _)| *id <= after);
        let hi = c.authors.partition_point(|(id, _)| *id <= upto);
        // A span holds few distinct authors, usually in runs: keep each once
        // as it comes (no vector of the whole span, no sort), unless the
        // span turns out to hold many, where sorting is cheaper.
        let mut v: Vec<u32> = Vec::new();
        for &(_, a) in c.authors.range(lo..hi) {
            if v.last() == Some(&a) || (v.len() <= FEW_AUTHORS && v.contains(&a)) {
                continue;
            }
            v.push(a);
        }
        if v.len() > FEW_AUTHORS {
            v.sort_unstable();
            v.dedup();
        }
        v.into_iter()
            .filter_map(|a| self.author_names.get(a as usize).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode, Replay};

    fn msg(room: bool, cid: bool) -> StoredMsg {
        StoredMsg {
            id: 42,
            ts: 1_700_000_000_000,
            from: "alice".into(),
            room: room.then(|| "general".into()),
            to: (!room).then(|| "bob".into()),
            text: "hi \"you\"\n\u{e9}".into(),
            cid: cid.then(|| "c1".into()),
            recipients: 3,
        }
    }

    fn room_msg(id: u64, from: &str) -> StoredMsg {
        StoredMsg {
            id,
            ts: id,
            from: from.into(),
            room: Some("r".into()),
            to: None,
            text: format!("m{id}"),
            cid: Some(format!("c{id}")),
            recipients: 1,
        }
    }

    #[test]
    fn memory_answers_only_what_it_holds_in_full() {
        let mut h = History::default();
        for id in 1..=200 {
            h.append(room_msg(id, "a"));
        }
        let conv = ConvKey::Room("r".into());
        // The newest 64 (137..=200) are in memory.
        let (m, more) = h.range_in_memory(&conv, 150, u64::MAX, 10).unwrap();
        assert_eq!(
            m.iter().map(|m| m.id).collect::<Vec<_>>(),
            (191..=200).collect::<Vec<_>>()
        );
        assert!(more);
        let (m, more) = h.range_in_memory(&conv, 136, u64::MAX, 100).unwrap();
        assert_eq!((m.len(), more), (64, false), "exactly what memory holds");
        assert!(
            h.range_in_memory(&conv, 135, u64::MAX, 100).is_none(),
            "#136 is only on disk"
        );
        assert!(h.range_in_memory(&conv, 0, 140, 10).is_none());
        let (m, _) = h.range_in_memory(&conv, 0, u64::MAX, 64).unwrap();
        assert_eq!(m.len(), 64, "a page that memory fills needs no read");
    }

    #[test]
    fn a_failed_batch_is_forgotten_and_its_other_records_go_again() {
        let mut h = History::default();
        h.append(room_msg(1, "a"));
        let ok = h.seal().unwrap();
        h.append(room_msg(2, "b"));
        h.see("newcomer");
        let bad = h.seal().unwrap();
        h.append(room_msg(3, "a"));
        assert_eq!(h.batch_of(2), Some(bad.seq));
        assert_eq!(h.batch_of(3), Some(bad.seq + 1), "the batch being filled");
        assert!(h.settle(ok.seq, true).is_empty());
        let lost = h.settle(bad.seq, false);
        assert_eq!(lost.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
        let conv = ConvKey::Room("r".into());
        let (m, _) = h.range_in_memory(&conv, 0, u64::MAX, 10).unwrap();
        assert_eq!(m.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(
            h.duplicate("b", Some("c2")),
            None,
            "its cid may be sent again"
        );
        assert_eq!(
            h.authors(&conv, 1, 3),
            ["a"],
            "b wrote nothing that was stored"
        );
        assert_eq!(h.message_count(), 2);
        // The first login goes out again with the next batch.
        let next = h.seal().unwrap();
        assert!(
            matches!(&next.records[..], [Record::Msg(m), Record::Seen { name }] if m.id == 3 && name == "newcomer"),
            "{:?}",
            next.records
        );
        assert!(h.is_known("newcomer"));
    }

    #[test]
    fn authors_are_kept_for_the_newest_messages_only() {
        let mut h = History::default();
        let n = AUTHORS_KEPT as u64 + 100;
        for id in 1..=n {
            h.append(room_msg(id, if id <= 100 { "old" } else { "new" }));
        }
        let conv = ConvKey::Room("r".into());
        assert_eq!(h.authors(&conv, 0, n), ["new"], "the first 100 fell out");
        assert_eq!(h.authors(&conv, n - 1, n), ["new"]);
        assert!(h.authors(&conv, n, n + 5).is_empty());
    }

    #[test]
    fn authors_are_each_named_once_however_they_interleave() {
        for writers in [1u64, 3, 16, 17, 40] {
            let mut h = History::default();
            for id in 1..=400 {
                let who = format!("w{}", (id * 7) % writers);
                h.append(room_msg(id, &who));
            }
            let conv = ConvKey::Room("r".into());
            let mut got = h.authors(&conv, 0, 400);
            got.sort();
            let mut want: Vec<String> = (0..writers).map(|w| format!("w{w}")).collect();
            want.sort();
            assert_eq!(got, want, "{writers} writers");
        }
    }

    #[test]
    fn borrowed_views_encode_exactly_like_the_owned_types() {
        for (room, cid) in [(true, true), (false, false), (true, false)] {
            let m = msg(room, cid);
            for replay in [None, Some(Replay::Missed), Some(Replay::History)] {
                assert_eq!(&m.frame_bytes(replay)[..], &encode(&m.to_frame(replay))[..]);
            }
        }
    }
}
