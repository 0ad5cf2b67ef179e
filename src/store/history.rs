//! The history worker's side: the database connection that commits batches,
//! reads older messages back and applies retention.
//!
//! [`HistoryDb`] is plain and synchronous; a thread (see `net::workers`) or
//! the simulation runs it. Batches are committed in the order they come, a
//! run of queued batches sharing one transaction (one WAL sync); a read is
//! answered after every batch queued before it, so it sees them. A batch
//! whose transaction fails is rolled back and reported failed, never
//! durable; the next one tries again, so history carries on once the disk
//! has room. Retention deletes the oldest messages in steps of
//! [`PRUNE_STEP`], each its own transaction, so a commit waits for one step
//! at most.

use crate::core::effect::{Completion, HistoryPage, HistoryQuery, LogBatch};
use crate::core::history::{ConvKey, Record, StoredMsg};
use crate::store::db::{self, conv_key, msg_of, MSG_COLUMNS};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;

/// Messages one retention step deletes at most.
pub const PRUNE_STEP: usize = 1_000;
/// How long history is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Messages older than this many days go (0: kept forever).
    pub days: u64,
    /// The oldest messages go while the database holds more (0: no limit).
    pub max_bytes: u64,
}

/// The worker's connection and what it caches.
pub struct HistoryDb {
    conn: Connection,
    /// Row id of each conversation seen.
    convs: HashMap<ConvKey, i64>,
    /// The rooms among them, looked up by name: a room message (the hot
    /// path) finds its conversation without building a key.
    rooms: HashMap<String, i64>,
    retention: Retention,
    /// The last write failed (its error was logged once).
    failing: bool,
    /// Fault injection for tests: every write fails as on a full disk.
    fail_all: bool,
}

impl HistoryDb {
    /// Open (creating) the database at `path` for the worker.
    pub fn open(path: &Path, retention: Retention) -> rusqlite::Result<HistoryDb> {
        let conn = db::open_rw(path)?;
        Ok(HistoryDb::with(conn, retention))
    }

    /// The worker over an open connection (start-up has loaded from it).
    pub fn with(conn: Connection, retention: Retention) -> HistoryDb {
        HistoryDb {
            conn,
            convs: HashMap::new(),
            rooms: HashMap::new(),
            retention,
            failing: false,
            fail_all: false,
        }
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Make every write fail as on a full disk (tests), or stop doing so.
    pub fn inject_failure(&mut self, fail: bool) {
        self.fail_all = fail;
    }

    /// Commit `batches` in one transaction; one `Logged` completion per batch.
    pub fn write(&mut self, batches: &[LogBatch]) -> Vec<Completion> {
        let result = if self.fail_all {
            Err("database or disk is full (injected)".to_string())
        } else {
            let added = self.convs.len();
            let r = self.commit(batches).map_err(|e| e.to_string());
            if r.is_err() {
                // Conversations made in the rolled-back transaction are gone.
                if self.convs.len() != added {
                    self.convs.clear();
                    self.rooms.clear();
                }
            }
            r
        };
        match &result {
            Ok(()) if self.failing => {
                log::warn!("the history database is writable again; messages are stored");
                self.failing = false;
            }
            Err(e) if !self.failing => {
                log::error!(
                    "cannot write the history database: {e}; messages are refused (store_failed) until it works again"
                );
                self.failing = true;
            }
            _ => {}
        }
        batches
            .iter()
            .map(|b| Completion::Logged {
                seq: b.seq,
                result: result.clone(),
            })
            .collect()
    }

    fn commit(&mut self, batches: &[LogBatch]) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let mut last: HashMap<i64, u64> = HashMap::new();
        for rec in batches.iter().flat_map(|b| &b.records) {
            match rec {
                Record::Msg(m) => {
                    let conv = match m.room.as_deref().and_then(|r| self.rooms.get(r)) {
                        Some(id) => *id,
                        None => {
                            let id = conv_id(&tx, &mut self.convs, &m.conv())?;
                            if let Some(r) = &m.room {
                                self.rooms.insert(r.clone(), id);
                            }
                            id
                        }
                    };
                    tx.prepare_cached(
                        "INSERT INTO messages(id, conv, ts, sender, text, cid, recipients)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        m.id as i64,
                        conv,
                        m.ts as i64,
                        m.from,
                        m.text,
                        m.cid,
                        m.recipients
                    ])?;
                    let l = last.entry(conv).or_default();
                    *l = (*l).max(m.id);
                }
                Record::Marker {
                    room,
                    peer,
                    user,
                    delivered,
                    read,
                } => {
                    let key = match (room, peer) {
                        (Some(r), _) => ConvKey::Room(r.clone()),
                        (None, Some(p)) => ConvKey::dm(user, p),
                        (None, None) => continue,
                    };
                    let conv = conv_id(&tx, &mut self.convs, &key)?;
                    tx.prepare_cached(
                        "INSERT INTO markers(conv, user, delivered, read) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(conv, user) DO UPDATE
                         SET delivered = excluded.delivered, read = excluded.read",
                    )?
                    .execute(params![
                        conv,
                        user,
                        *delivered as i64,
                        *read as i64
                    ])?;
                }
                Record::Seen { name } => {
                    tx.prepare_cached("INSERT OR IGNORE INTO users(name) VALUES (?1)")?
                        .execute(params![name])?;
                }
                Record::Topic { room, text, .. } if text.is_empty() => {
                    tx.prepare_cached("DELETE FROM topics WHERE room = ?1")?
                        .execute(params![room])?;
                }
                Record::Topic { room, text, by, ts } => {
                    tx.prepare_cached(
                        "INSERT INTO topics(room, text, by, ts) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(room) DO UPDATE
                         SET text = excluded.text, by = excluded.by, ts = excluded.ts",
                    )?
                    .execute(params![room, text, by, *ts as i64])?;
                }
                Record::TransferIds { next } => db::reserve_transfer_ids(&tx, *next)?,
            }
        }
        for (conv, id) in last {
            tx.prepare_cached("UPDATE conversations SET last_id = max(last_id, ?2) WHERE id = ?1")?
                .execute(params![conv, id as i64])?;
        }
        tx.commit()
    }

    /// Answer one page of `q`: its messages from `q.skip` on (oldest first
    /// across its ranges), at most `q.page` of them.
    pub fn read(&mut self, q: &HistoryQuery, mut emit: impl FnMut(HistoryPage)) {
        // One read transaction for the page. Outside one, every statement
        // (a lookup a message) took and released the WAL's read lock on its
        // own: measured during the bystander bench's history load, about
        // 207 `fcntl` calls a page of 500 messages before, 2 after, and
        // twice the pages a second.
        let page = self.conn.execute_batch("BEGIN").and_then(|()| {
            let page = self.try_read(q);
            let end = match page {
                Ok(_) => self.conn.execute_batch("COMMIT"),
                Err(_) => Ok(()),
            };
            if end.is_err() || page.is_err() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            end.and(page)
        });
        let page = page.unwrap_or_else(|e| {
            log::error!("cannot read history: {e}");
            HistoryPage {
                query: q.query,
                msgs: Vec::new(),
                more: false,
                done: true,
                next: q.skip,
                error: Some(format!("the history database could not be read: {e}")),
            }
        });
        emit(page);
    }

    fn try_read(&mut self, q: &HistoryQuery) -> rusqlite::Result<HistoryPage> {
        let page_size = q.page.max(1);
        let want = q.skip + page_size + 1;
        let mut more = false;
        let mut ids: Vec<u64> = Vec::new();
        for r in &q.ranges {
            let Some(conv) = self.known_conv(&r.conv)? else {
                continue;
            };
            let (after, before) = (r.after as i64, r.before.min(i64::MAX as u64) as i64);
            // The oldest of the newest `limit` in range starts the range.
            let mut start = after + 1;
            if r.limit < i64::MAX as usize {
                let nth: Option<i64> = self
                    .conn
                    .prepare_cached(
                        "SELECT id FROM messages WHERE conv = ?1 AND id > ?2 AND id < ?3
                         ORDER BY id DESC LIMIT 1 OFFSET ?4",
                    )?
                    .query_row(
                        params![conv, after, before, r.limit.saturating_sub(1) as i64],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(nth) = nth {
                    start = nth;
                    more |= self
                        .conn
                        .prepare_cached(
                            "SELECT 1 FROM messages WHERE conv = ?1 AND id > ?2 AND id < ?3 LIMIT 1",
                        )?
                        .exists(params![conv, after, nth])?;
                }
            }
            let mut st = self.conn.prepare_cached(
                "SELECT id FROM messages WHERE conv = ?1 AND id >= ?2 AND id < ?3
                 ORDER BY id LIMIT ?4",
            )?;
            for id in st.query_map(params![conv, start, before, want as i64], |row| {
                row.get::<_, i64>(0)
            })? {
                ids.push(id? as u64);
            }
        }
        ids.sort_unstable();
        let total = ids.len();
        let taken: Vec<u64> = ids.into_iter().skip(q.skip).take(page_size).collect();
        let mut msgs = Vec::with_capacity(taken.len());
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MSG_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conv
             WHERE m.id = ?1"
        ))?;
        for id in &taken {
            let m: StoredMsg = st.query_row(params![*id as i64], msg_of)?;
            if q.skip_from.as_deref() != Some(m.from.as_str()) {
                msgs.push(m);
            }
        }
        Ok(HistoryPage {
            query: q.query,
            msgs,
            more,
            done: total <= q.skip + page_size,
            next: q.skip + taken.len(),
            error: None,
        })
    }

    /// The row id of `key`, if it has one.
    fn known_conv(&mut self, key: &ConvKey) -> rusqlite::Result<Option<i64>> {
        if let Some(id) = self.convs.get(key) {
            return Ok(Some(*id));
        }
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM conversations WHERE key = ?1")?
            .query_row(params![conv_key(key)], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.convs.insert(key.clone(), id);
        }
        Ok(id)
    }

    /// One retention step at `now_ms` (wall clock): the oldest messages past
    /// either rule, at most [`PRUNE_STEP`] of them, in one transaction.
    /// Returns the highest id deleted (every message up to it is gone).
    pub fn prune_step(&mut self, now_ms: u64) -> rusqlite::Result<Option<u64>> {
        let Retention { days, max_bytes } = self.retention;
        if days == 0 && max_bytes == 0 {
            return Ok(None);
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT id, ts FROM messages ORDER BY id LIMIT ?1")?;
        let oldest: Vec<(i64, i64)> = st
            .query_map(params![PRUNE_STEP as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        drop(st);
        let mut through: Option<i64> = None;
        if days > 0 {
            let cutoff = now_ms.saturating_sub(days.saturating_mul(86_400_000)) as i64;
            for (id, ts) in &oldest {
                if *ts >= cutoff {
                    break;
                }
                through = Some(*id);
            }
        }
        let used = if max_bytes > 0 { self.used_bytes()? } else { 0 };
        if used > max_bytes && oldest.len() > 1 {
            // As many of the oldest as the excess holds, by the average
            // size of a message (ids are dense: retention only cuts the
            // oldest), at least one, never the newest message.
            let newest: i64 = self
                .conn
                .query_row("SELECT max(id) FROM messages", [], |r| r.get(0))?;
            let span = (newest - oldest[0].0 + 1).max(1) as u64;
            let per_msg = (used / span).max(1);
            let n = ((used - max_bytes).div_ceil(per_msg) as usize).clamp(1, oldest.len());
            let cut = oldest[n - 1].0.min(newest - 1);
            through = through.max(Some(cut));
        }
        let first = oldest.first().map_or(i64::MAX, |(id, _)| *id);
        let Some(through) = through.filter(|t| *t >= first) else {
            return Ok(None);
        };
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM messages WHERE id <= ?1", params![through])?;
        tx.commit()?;
        self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        log::debug!(
            "history retention: through id {through}, {} bytes in use",
            self.used_bytes()?
        );
        Ok(Some(through as u64))
    }

    /// Copy the WAL into the database file and empty it (at shutdown).
    pub fn checkpoint(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Bytes of the database in use (pages not on the free list).
    pub fn used_bytes(&self) -> rusqlite::Result<u64> {
        let pragma = |name: &str| -> rusqlite::Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        };
        let pages = pragma("page_count")? - pragma("freelist_count")?;
        Ok((pages.max(0) as u64) * pragma("page_size")? as u64)
    }

    /// Messages stored (a count over the table: for tests and tools).
    pub fn message_count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    }
}

/// The row id of conversation `key`, made if new.
fn conv_id(
    conn: &Connection,
    cache: &mut HashMap<ConvKey, i64>,
    key: &ConvKey,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(key) {
        return Ok(*id);
    }
    let (room, a, b) = match key {
        ConvKey::Room(r) => (Some(r.as_str()), None, None),
        ConvKey::Dm(a, b) => (None, Some(a.as_str()), Some(b.as_str())),
    };
    conn.prepare_cached(
        "INSERT INTO conversations(key, room, a, b) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO NOTHING",
    )?
    .execute(params![conv_key(key), room, a, b])?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM conversations WHERE key = ?1")?
        .query_row(params![conv_key(key)], |r| r.get(0))?;
    cache.insert(key.clone(), id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::effect::ReadRange;
    use std::sync::Arc;

    fn msg(id: u64) -> Record {
        Record::Msg(Arc::new(StoredMsg {
            id,
            ts: id,
            from: "alice".into(),
            room: Some("general".into()),
            to: None,
            text: format!("m{id}"),
            cid: None,
            recipients: 1,
        }))
    }

    fn commits(log: &mut HistoryDb, seq: u64, ids: std::ops::RangeInclusive<u64>) -> bool {
        let batch = LogBatch {
            seq,
            records: ids.map(msg).collect(),
        };
        matches!(
            log.write(&[batch])[..],
            [Completion::Logged { result: Ok(()), .. }]
        )
    }

    fn query(room: &str) -> HistoryQuery {
        HistoryQuery {
            query: 7,
            ranges: vec![ReadRange {
                conv: ConvKey::Room(room.into()),
                after: 0,
                before: u64::MAX,
                limit: usize::MAX,
            }],
            skip_from: None,
            skip: 0,
            page: 4,
        }
    }

    #[test]
    fn a_page_is_read_in_a_transaction_that_is_over_before_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = HistoryDb::open(&dir.path().join(db::FILE), Retention::default()).unwrap();
        assert!(commits(&mut log, 1, 1..=10));
        let mut pages = Vec::new();
        log.read(&query("general"), |p| pages.push(p));
        log.read(&query("nowhere"), |p| pages.push(p));
        let ids: Vec<u64> = pages[0].msgs.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert!(pages[1].msgs.is_empty());
        assert!(pages.iter().all(|p| p.error.is_none()));
        assert!(
            log.conn().is_autocommit(),
            "a read left its transaction open"
        );
        assert!(commits(&mut log, 2, 11..=12), "the next batch commits");
    }
}
