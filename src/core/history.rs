//! Message history: every room and private message, in a log that outlives
//! the process, indexed in memory by conversation.
//!
//! The core stays free of I/O by talking to a [`Log`]: in production the
//! checksummed [`Journal`](crate::store::journal::Journal) under `--data-dir`,
//! in unit tests a [`MemLog`]. The index keeps, per conversation, each
//! message's id and where its record lives (16 bytes a message), plus the
//! last few messages in full; older ones are read back from the log on demand.
//! It also remembers, per user, the last client ids (`cid`) seen, so a resent
//! message is recognised and answered with its original id.

use crate::protocol::ServerMsg;
use crate::store::journal::{Batch, Journal, Span};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io;
use std::rc::Rc;

/// Full messages kept in memory per conversation.
const RECENT: usize = 64;
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
        crate::protocol::encode_shared(&MessageView {
            kind: "message",
            id: self.id,
            ts: self.ts,
            from: &self.from,
            room: self.room.as_deref(),
            to: self.to.as_deref(),
            text: &self.text,
            replay,
        })
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

/// A `message` frame borrowing its strings (same field order as `ServerMsg`).
#[derive(Serialize)]
struct MessageView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    ts: u64,
    from: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay: Option<crate::protocol::Replay>,
}

/// A message record borrowing the message: serializes as `Record::Msg`.
#[derive(Serialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum RecordView<'a> {
    Msg(&'a StoredMsg),
}

/// One record of the history log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum Record {
    Msg(StoredMsg),
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
    Seen {
        name: String,
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

/// Where records go.
pub trait Log {
    fn append(&mut self, rec: &Record) -> Span;
    /// Append a message without cloning it.
    fn append_msg(&mut self, m: &StoredMsg) -> Span;
    fn read_at(&self, span: Span) -> io::Result<Record>;
    /// Hand what was appended since the last batch to a writer thread.
    fn take_batch(&mut self) -> Option<Batch>;
    /// The writer made batches up to `seq` durable.
    fn batch_done(&mut self, seq: u64);
}

impl Log for Journal<Record> {
    fn append(&mut self, rec: &Record) -> Span {
        Journal::append(self, rec)
    }
    fn append_msg(&mut self, m: &StoredMsg) -> Span {
        Journal::append_any(self, &RecordView::Msg(m))
    }
    fn read_at(&self, span: Span) -> io::Result<Record> {
        Journal::read_at(self, span)
    }
    fn take_batch(&mut self) -> Option<Batch> {
        Journal::take_batch(self)
    }
    fn batch_done(&mut self, seq: u64) {
        Journal::batch_done(self, seq)
    }
}

/// An in-memory log, for tests and for running without a data directory.
#[derive(Debug, Default)]
pub struct MemLog {
    records: Vec<Record>,
}

impl Log for MemLog {
    fn append_msg(&mut self, m: &StoredMsg) -> Span {
        self.append(&Record::Msg(m.clone()))
    }
    fn append(&mut self, rec: &Record) -> Span {
        self.records.push(rec.clone());
        Span {
            off: self.records.len() as u64 - 1,
            len: 0,
        }
    }
    fn read_at(&self, span: Span) -> io::Result<Record> {
        self.records
            .get(span.off as usize)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such record"))
    }
    fn take_batch(&mut self) -> Option<Batch> {
        None
    }
    fn batch_done(&mut self, _seq: u64) {}
}

#[derive(Default)]
struct Conversation {
    /// (id, where) of every message, ascending.
    index: Vec<(u64, Span)>,
    recent: VecDeque<Rc<StoredMsg>>,
}

#[derive(Default)]
struct Cids {
    map: HashMap<String, (u64, u64, u32)>,
    order: VecDeque<String>,
}

/// The history index and its log.
pub struct History {
    log: Box<dyn Log>,
    convs: HashMap<ConvKey, Conversation>,
    /// Private conversations each user is part of.
    dms_of: HashMap<String, BTreeSet<ConvKey>>,
    cids: HashMap<String, Cids>,
    known: HashSet<String>,
    last_id: u64,
    /// Markers found in the log at start-up, for the receipts table.
    pub(crate) replayed_markers: Vec<Record>,
}

impl Default for History {
    fn default() -> Self {
        History::new(Box::new(MemLog::default()))
    }
}

impl History {
    pub fn new(log: Box<dyn Log>) -> History {
        History {
            log,
            convs: HashMap::new(),
            dms_of: HashMap::new(),
            cids: HashMap::new(),
            known: HashSet::new(),
            last_id: 0,
            replayed_markers: Vec::new(),
        }
    }

    /// Feed one record read back from the log at start-up.
    pub fn replay(&mut self, span: Span, rec: Record) {
        match rec {
            Record::Msg(m) => self.index(span, m),
            Record::Seen { name } => {
                self.known.insert(name);
            }
            marker @ Record::Marker { .. } => self.replayed_markers.push(marker),
        }
    }

    /// Replace the log (after replaying the old one into this index).
    pub fn set_log(&mut self, log: Box<dyn Log>) {
        self.log = log;
    }

    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Messages indexed.
    pub fn message_count(&self) -> usize {
        self.convs.values().map(|c| c.index.len()).sum()
    }

    pub fn is_known(&self, name: &str) -> bool {
        self.known.contains(name)
    }

    /// Remember a user; logged the first time.
    pub fn see(&mut self, name: &str) {
        if self.known.insert(name.to_string()) {
            self.log.append(&Record::Seen {
                name: name.to_string(),
            });
        }
    }

    /// The original `(id, ts, recipients)` if `user` already sent `cid`.
    pub fn duplicate(&self, user: &str, cid: Option<&str>) -> Option<(u64, u64, u32)> {
        let cid = cid?;
        self.cids.get(user)?.map.get(cid).copied()
    }

    /// Store a new message.
    pub fn append(&mut self, m: StoredMsg) {
        let span = self.log.append_msg(&m);
        self.index(span, m);
    }

    pub fn append_marker(&mut self, rec: Record) {
        self.log.append(&rec);
    }

    fn index(&mut self, span: Span, m: StoredMsg) {
        self.last_id = self.last_id.max(m.id);
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
                self.dms_of
                    .entry(u.clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
        let conv = self.convs.entry(key).or_default();
        conv.index.push((m.id, span));
        conv.recent.push_back(Rc::new(m));
        if conv.recent.len() > RECENT {
            conv.recent.pop_front();
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
    /// `limit` of the newest such; the flag says whether older ones were left out.
    pub fn range(
        &self,
        conv: &ConvKey,
        after: u64,
        before: u64,
        limit: usize,
    ) -> (Vec<Rc<StoredMsg>>, bool) {
        let Some(c) = self.convs.get(conv) else {
            return (Vec::new(), false);
        };
        let lo = c.index.partition_point(|(id, _)| *id <= after);
        let hi = c.index.partition_point(|(id, _)| *id < before);
        if lo >= hi {
            return (Vec::new(), false);
        }
        let start = hi.saturating_sub(limit).max(lo);
        let more = start > lo;
        let mut out = Vec::with_capacity(hi - start);
        for &(id, span) in &c.index[start..hi] {
            if let Some(m) = c.recent.iter().find(|m| m.id == id) {
                out.push(m.clone());
                continue;
            }
            match self.log.read_at(span) {
                Ok(Record::Msg(m)) => out.push(Rc::new(m)),
                Ok(_) => log::error!("history index points at a non-message record (id {id})"),
                Err(e) => log::error!("cannot read message {id} from the history log: {e}"),
            }
        }
        (out, more)
    }

    /// The records appended since the last batch, for the log writer.
    pub fn take_batch(&mut self) -> Option<Batch> {
        self.log.take_batch()
    }

    /// The log writer made batches up to `seq` durable.
    pub fn batch_done(&mut self, seq: u64) {
        self.log.batch_done(seq)
    }
}

impl History {
    /// Id of the newest message in `conv`.
    pub fn last_in(&self, conv: &ConvKey) -> Option<u64> {
        self.convs.get(conv)?.index.last().map(|(id, _)| *id)
    }

    /// Distinct authors of the messages of `conv` with `after < id <= upto`.
    pub fn authors(&self, conv: &ConvKey, after: u64, upto: u64) -> Vec<String> {
        let (msgs, _) = self.range(conv, after, upto.saturating_add(1), RECEIPT_SCAN);
        let mut v: Vec<String> = msgs.iter().map(|m| m.from.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Most messages looked at to route one receipt to their authors.
const RECEIPT_SCAN: usize = 1_024;

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

    #[test]
    fn borrowed_views_encode_exactly_like_the_owned_types() {
        for (room, cid) in [(true, true), (false, false), (true, false)] {
            let m = msg(room, cid);
            for replay in [None, Some(Replay::Missed), Some(Replay::History)] {
                assert_eq!(&m.frame_bytes(replay)[..], &encode(&m.to_frame(replay))[..]);
            }
            assert_eq!(
                serde_json::to_string(&RecordView::Msg(&m)).unwrap(),
                serde_json::to_string(&Record::Msg(m.clone())).unwrap()
            );
        }
    }
}
