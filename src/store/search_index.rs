//! The full-text search index: an SQLite file of its own,
//! `DATA_DIR/search.db`, built from the history database by a thread of its
//! own (see `net::workers`), so indexing never holds up a commit and its
//! pages never ride in the history database's synced WAL.
//!
//! The index is derived data. It holds an FTS5 table without content (the
//! text stays in `history.db`; a search joins the two by message id) and
//! two marks in `meta`: `indexed`, the highest message id indexed (every
//! stored message up to it is in the index), and `forgotten`, up to which
//! messages retention deleted have been taken out of it. A step reads the
//! history database on a read-only connection and changes the index and its
//! marks in one transaction, so a step lost in a crash is simply done again;
//! the file is written with `synchronous=NORMAL` for that reason. A damaged
//! or foreign `search.db` is removed and rebuilt from the history database
//! ([`SearchIndex::open`]); an index found damaged while the server runs
//! (by a search, or by a step) is emptied and built again by the next step
//! ([`SearchIndex::damage_flag`]).

use crate::store::db;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The index's file under the data directory.
pub const FILE: &str = "search.db";

/// Messages one step adds at most. Each step is a transaction that flushes
/// a new FTS5 segment; larger steps merge less per message, and a search
/// waiting for the index waits for one step at most.
pub const STEP: usize = 1024;

/// Text one step reads at most (it stops after the message that reaches
/// it): 1,024 messages of the longest text (4,000 characters, up to 16 KB)
/// would otherwise be 16 MiB held at once.
pub const STEP_BYTES: usize = 1 << 20;

/// Index entries one step removes at most (messages retention deleted).
pub const FORGET_STEP: usize = 4096;

/// Free space on the data directory's file system below which indexing
/// waits: on a nearly full disk the history, which holds the messages,
/// keeps what room there is (the index grows with every message it adds).
pub const MIN_FREE: u64 = 64 << 20;

/// The schema of `search.db`. Without content (the text is in the
/// history); `contentless_delete=1` lets retention's deletions be taken out
/// by id alone.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts
    USING fts5(text, content='', contentless_delete=1);
";

/// The writer of `search.db`, with a read-only connection to the history.
pub struct SearchIndex {
    conn: Connection,
    history: Connection,
    path: PathBuf,
    /// Set when the index was found damaged: the next step rebuilds it.
    damaged: Arc<AtomicBool>,
}

impl SearchIndex {
    /// Open (creating) `search.db` beside the history database at
    /// `history_db`. An index that cannot be opened, or that is ahead of
    /// the history (the history database was replaced), is removed and
    /// started again: it is rebuilt in the background.
    pub fn open(history_db: &Path) -> rusqlite::Result<SearchIndex> {
        let path = history_db.with_file_name(FILE);
        let history = db::open_ro(history_db)?;
        let conn = match open_index(&path, &history) {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!(
                    "the search index {} cannot be used ({e}); it is rebuilt from the history",
                    path.display()
                );
                remove(&path);
                open_index(&path, &history)?
            }
        };
        Ok(SearchIndex {
            conn,
            history,
            path,
            damaged: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The flag a search sets when it finds the index damaged
    /// (`Searcher::report_damage_to`); the next step rebuilds it.
    pub fn damage_flag(&self) -> Arc<AtomicBool> {
        self.damaged.clone()
    }

    /// Empty the index and its marks, in one transaction: the steps that
    /// follow build it again from the history.
    pub fn rebuild(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch("DROP TABLE IF EXISTS messages_fts; DELETE FROM meta;")?;
        tx.execute_batch(SCHEMA)?;
        tx.commit()
    }

    /// The index's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes this process may still write on the index's file system
    /// (`None` when the system does not say).
    pub fn free_bytes(&self) -> Option<u64> {
        let dir = self.path.parent()?;
        let s = rustix::fs::statvfs(dir).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// The highest message id indexed.
    pub fn indexed_through(&self) -> rusqlite::Result<u64> {
        Ok(mark(&self.conn, "indexed")?.max(0) as u64)
    }

    /// One step: take messages retention deleted out of the index (at most
    /// [`FORGET_STEP`]), then add up to `max` stored messages not yet in
    /// it. How many entries it changed (0: caught up).
    pub fn step(&mut self, max: usize) -> rusqlite::Result<usize> {
        if self.damaged.swap(false, Ordering::Relaxed) {
            log::warn!(
                "the search index {} is damaged; it is emptied and rebuilt from the history",
                self.path.display()
            );
            self.rebuild()?;
            return Ok(1);
        }
        let done = self.step_undamaged(max);
        if done.as_ref().is_err_and(is_damage) {
            self.damaged.store(true, Ordering::Relaxed);
        }
        done
    }

    fn step_undamaged(&mut self, max: usize) -> rusqlite::Result<usize> {
        let forgot = self.forget()?;
        let from = mark(&self.conn, "indexed")?;
        let mut rows: Vec<(i64, String)> = Vec::new();
        let mut bytes = 0;
        let mut st = self
            .history
            .prepare_cached("SELECT id, text FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        for row in st.query_map(params![from, max as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })? {
            let row = row?;
            bytes += row.1.len();
            rows.push(row);
            if bytes >= STEP_BYTES {
                break;
            }
        }
        drop(st);
        let Some(last) = rows.last().map(|(id, _)| *id) else {
            return Ok(forgot);
        };
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO messages_fts(rowid, text) VALUES (?1, ?2)")?;
            for (id, text) in &rows {
                insert.execute(params![id, text])?;
            }
        }
        set_mark(&tx, "indexed", last)?;
        tx.commit()?;
        Ok(forgot + rows.len())
    }

    /// Index everything stored (tools and tests; the thread goes in steps).
    pub fn index_all(&mut self) -> rusqlite::Result<()> {
        while self.step(10_000)? > 0 {}
        Ok(())
    }

    /// Remove from the index what retention deleted from the history: ids
    /// below the oldest stored message, up to what was indexed.
    fn forget(&mut self) -> rusqlite::Result<usize> {
        let oldest: Option<i64> = self
            .history
            .prepare_cached("SELECT min(id) FROM messages")?
            .query_row([], |r| r.get(0))?;
        let Some(oldest) = oldest else {
            return Ok(0);
        };
        let forgotten = mark(&self.conn, "forgotten")?;
        let through = (oldest - 1)
            .min(mark(&self.conn, "indexed")?)
            .min(forgotten.saturating_add(FORGET_STEP as i64));
        if through <= forgotten {
            return Ok(0);
        }
        let tx = self.conn.unchecked_transaction()?;
        let n = tx
            .prepare_cached("DELETE FROM messages_fts WHERE rowid > ?1 AND rowid <= ?2")?
            .execute(params![forgotten, through])?;
        // Deletions are tombstones until segments merge: merge some now, or
        // the index never shrinks.
        if n > 0 {
            tx.execute(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', 64)",
                [],
            )?;
        }
        set_mark(&tx, "forgotten", through)?;
        tx.commit()?;
        // At least 1: the mark moved, so the caller goes on.
        Ok(n.max(1))
    }
}

/// `--check-db` for the index beside the history database at `history_db`:
/// SQLite's integrity check of the file, then FTS5's of the index (an
/// `INSERT` command that changes nothing, so the file is opened for
/// writing: run it with the server stopped). `None` when there is no index;
/// `["ok"]` when sound.
pub fn check(history_db: &Path) -> rusqlite::Result<Option<Vec<String>>> {
    let path = history_db.with_file_name(FILE);
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut lines: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if lines == ["ok"] {
        if let Err(e) = conn.execute(
            "INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')",
            [],
        ) {
            lines = vec![format!("the full-text index: {e}")];
        }
    }
    Ok(Some(lines))
}

/// Open the index at `path` and check it against the history: an error if
/// it is not a usable index or is ahead of the history.
fn open_index(path: &Path, history: &Connection) -> rusqlite::Result<Connection> {
    db::create_private(path)?;
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    let newest: i64 = history.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
        r.get(0)
    })?;
    let indexed = mark(&conn, "indexed")?;
    if indexed > newest {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "it indexes messages up to id {indexed}, but the history ends at {newest}"
            )),
        ));
    }
    // A damaged index says so here rather than at the first search.
    conn.query_row("SELECT count(*) FROM messages_fts_idx", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
}

/// Whether `e` says a database file is damaged.
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseCorrupt)
}

/// Remove the index's file and SQLite's files beside it.
fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// A mark of the meta table (0 when not set).
fn mark(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

fn set_mark(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests;
