//! The history database: its schema, opening it, and what start-up loads.
//!
//! One SQLite file, `DATA_DIR/history.db`, in WAL mode with
//! `synchronous=FULL` (a commit is on disk when it returns) and incremental
//! auto-vacuum (retention gives pages back to the file system). The schema
//! is documented in docs/DESIGN.md; [`SCHEMA`] is the truth.
//!
//! Start-up reads what the live server needs and nothing that grows with
//! the number of messages ever stored: every conversation with its newest
//! id, known users, receipt markers, the transfer-id floor, and the newest
//! [`STARTUP_MESSAGES`] messages (for catch-up from memory, receipt routing
//! and idempotent resend).

use crate::core::history::{ConvKey, History, Record, StoredMsg};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::path::Path;
use std::time::Duration;

/// Messages start-up reads back into memory, newest first: bounded, so
/// start-up time and memory do not grow with the history.
pub const STARTUP_MESSAGES: usize = 20_000;

/// The database file under the data directory.
pub const FILE: &str = "history.db";

/// Bumped when the schema changes; a database from a newer server is refused.
const VERSION: i64 = 1;

/// Tables and indexes. The full-text index is not here: it has a file of
/// its own (`store::search_index`). Databases from before that kept it here
/// (`messages_fts` and its triggers); [`open_rw`] drops them.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- A room ('#' || room) or the private conversation of a and b (a < b).
CREATE TABLE IF NOT EXISTS conversations (
    id      INTEGER PRIMARY KEY,
    key     TEXT NOT NULL UNIQUE,
    room    TEXT,
    a       TEXT,
    b       TEXT,
    last_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_a ON conversations(a) WHERE a IS NOT NULL;
CREATE INDEX IF NOT EXISTS conversations_b ON conversations(b) WHERE b IS NOT NULL;
CREATE TABLE IF NOT EXISTS messages (
    id         INTEGER PRIMARY KEY,
    conv       INTEGER NOT NULL REFERENCES conversations(id),
    ts         INTEGER NOT NULL,
    sender     TEXT NOT NULL,
    text       TEXT NOT NULL,
    cid        TEXT,
    recipients INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_conv ON messages(conv, id);
CREATE TABLE IF NOT EXISTS markers (
    conv      INTEGER NOT NULL REFERENCES conversations(id),
    user      TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    read      INTEGER NOT NULL,
    PRIMARY KEY (conv, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics (
    room TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    by   TEXT NOT NULL,
    ts   INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The key column of a conversation.
pub fn conv_key(c: &ConvKey) -> String {
    match c {
        ConvKey::Room(r) => format!("#{r}"),
        ConvKey::Dm(a, b) => format!("@{a}\n{b}"),
    }
}

/// Open (creating) the database at `path` for writing: WAL, full sync,
/// the schema in place.
pub fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let fresh = !path.exists() || std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
    create_private(path)?;
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if fresh {
        // Only takes effect before the first table is created.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // 16 MiB of page cache (the default is 2): the hot index paths stay in memory.
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.execute_batch(SCHEMA)?;
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match version {
        None => {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('version', ?1)",
                params![VERSION],
            )?;
        }
        Some(v) if v > VERSION => {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                Some(format!(
                    "the database is schema version {v}, newer than this server's {VERSION}"
                )),
            ));
        }
        Some(_) => {}
    }
    // The full-text index lived here before it had a file of its own.
    let old_index: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'",
        [],
        |r| r.get(0),
    )?;
    if old_index > 0 {
        log::info!(
            "moving the search index out of {} (it is rebuilt in search.db)",
            path.display()
        );
        conn.execute_batch(
            "BEGIN;
             DROP TRIGGER IF EXISTS messages_fts_insert;
             DROP TRIGGER IF EXISTS messages_fts_delete;
             DROP TABLE messages_fts;
             DELETE FROM meta WHERE key = 'fts_indexed';
             COMMIT;",
        )?;
    }
    Ok(conn)
}

/// Create `path` if it is missing, mode 0600, so SQLite's WAL and
/// shared-memory files, which take the database file's mode, are private too.
pub fn create_private(path: &Path) -> rusqlite::Result<()> {
    if path.exists() {
        return Ok(());
    }
    crate::store::perms::open(std::fs::OpenOptions::new().write(true).create(true), path)
        .map(drop)
        .map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {e}", path.display())),
            )
        })
}

/// Open the database read-only (searches, `--check-db`).
pub fn open_ro(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// A message row joined with its conversation, as the core's message.
pub const MSG_COLUMNS: &str = "m.id, m.ts, m.sender, m.text, m.cid, m.recipients, c.room, c.a, c.b";

/// Read a row selected with [`MSG_COLUMNS`].
pub fn msg_of(row: &Row) -> rusqlite::Result<StoredMsg> {
    let from: String = row.get(2)?;
    let room: Option<String> = row.get(6)?;
    let to = match room {
        Some(_) => None,
        None => {
            let a: String = row.get(7)?;
            let b: String = row.get(8)?;
            Some(if from == a { b } else { a })
        }
    };
    Ok(StoredMsg {
        id: row.get::<_, i64>(0)? as u64,
        ts: row.get::<_, i64>(1)? as u64,
        from,
        room,
        to,
        text: row.get(3)?,
        cid: row.get(4)?,
        recipients: row.get::<_, i64>(5)? as u32,
    })
}

/// A conversation key from its columns.
fn conv_of(room: Option<String>, a: Option<String>, b: Option<String>) -> ConvKey {
    match (room, a, b) {
        (Some(r), _, _) => ConvKey::Room(r),
        (None, Some(a), Some(b)) => ConvKey::Dm(a, b),
        _ => ConvKey::Room(String::new()),
    }
}

/// What start-up loaded: the core's [`History`] and the floor for transfer ids.
pub struct Loaded {
    pub history: History,
    pub next_transfer_id: u64,
    /// Messages read back into memory.
    pub messages: usize,
}

/// Load what the live server keeps in memory (see the module's doc).
pub fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    let mut history = History::default();
    let mut users = conn.prepare("SELECT name FROM users")?;
    for name in users.query_map([], |r| r.get::<_, String>(0))? {
        history.replay(Record::Seen { name: name? });
    }
    let mut topics = conn.prepare("SELECT room, text, by, ts FROM topics")?;
    let rows = topics.query_map([], |r| {
        Ok(Record::Topic {
            room: r.get(0)?,
            text: r.get(1)?,
            by: r.get(2)?,
            ts: r.get::<_, i64>(3)? as u64,
        })
    })?;
    for t in rows {
        history.replay(t?);
    }
    let mut markers = conn.prepare(
        "SELECT c.room, c.a, c.b, k.user, k.delivered, k.read
         FROM markers k JOIN conversations c ON c.id = k.conv",
    )?;
    let rows = markers.query_map([], |r| {
        let room: Option<String> = r.get(0)?;
        let a: Option<String> = r.get(1)?;
        let b: Option<String> = r.get(2)?;
        let user: String = r.get(3)?;
        let peer = match (&room, a, b) {
            (Some(_), _, _) => None,
            (None, Some(a), Some(b)) => Some(if user == a { b } else { a }),
            _ => None,
        };
        Ok(Record::Marker {
            room,
            peer,
            user,
            delivered: r.get::<_, i64>(4)? as u64,
            read: r.get::<_, i64>(5)? as u64,
        })
    })?;
    for m in rows {
        history.replay(m?);
    }
    // A damaged page among the newest messages does not stop the server:
    // it starts with none in memory (every page is then read back, and a
    // read that meets the damage answers with an error), and says so.
    let mut window = newest_messages(conn).unwrap_or_else(|e| {
        log::error!(
            "cannot read the newest messages from the history database ({e}); starting without them in memory; run chat-server --check-db"
        );
        Vec::new()
    });
    let messages = window.len();
    let max_id = max_id(conn)?;
    let all_loaded = messages < STARTUP_MESSAGES && !window.is_empty() || max_id.is_none();
    window.reverse();
    for m in window {
        history.replay(Record::Msg(std::sync::Arc::new(m)));
    }
    let mut convs = conn.prepare("SELECT room, a, b, last_id FROM conversations")?;
    let convs: Vec<(ConvKey, u64)> = convs
        .query_map([], |r| {
            Ok((
                conv_of(r.get(0)?, r.get(1)?, r.get(2)?),
                r.get::<_, i64>(3)? as u64,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    history.loaded(convs, all_loaded);
    // New ids go on after every stored one, whatever a damaged page hides.
    history.raise_last_id(max_id.unwrap_or(0).max(0) as u64);
    let next_transfer_id = meta(conn, "next_transfer_id")?.unwrap_or(1).max(1) as u64;
    Ok(Loaded {
        history,
        next_transfer_id,
        messages,
    })
}

/// The newest [`STARTUP_MESSAGES`] messages, newest first.
fn newest_messages(conn: &Connection) -> rusqlite::Result<Vec<StoredMsg>> {
    let mut newest = conn.prepare(&format!(
        "SELECT {MSG_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conv
         ORDER BY m.id DESC LIMIT ?1"
    ))?;
    let rows = newest.query_map(params![STARTUP_MESSAGES as i64], msg_of)?;
    rows.collect()
}

/// The highest message id stored, if any.
fn max_id(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT max(id) FROM messages", [], |r| r.get(0))
}

/// A value of the meta table.
pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
}

/// Record that transfer ids below `next` may be handed out (never lowers
/// the mark): a later run starts above them.
pub fn reserve_transfer_ids(conn: &Connection, next: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES ('next_transfer_id', ?1)
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute(params![next as i64])?;
    Ok(())
}

/// Start-up: record this run's first block of transfer ids before any is
/// handed out, and return the end of what is recorded. On a full or
/// failing disk that is `next` itself: ids wait for a history batch.
pub fn reserve_first_transfer_ids(conn: &Connection, next: u64) -> u64 {
    let end = next + crate::core::transfer_ids::BLOCK;
    match reserve_transfer_ids(conn, end) {
        Ok(()) => end,
        Err(e) => {
            log::warn!("could not record transfer ids at start-up ({e}); new transfers wait until the history can be written");
            next
        }
    }
}

/// SQLite's own integrity check: `Ok` lines it printed ("ok" when sound).
pub fn check(path: &Path) -> rusqlite::Result<Vec<String>> {
    let conn = open_ro(path)?;
    let mut st = conn.prepare("PRAGMA integrity_check")?;
    let lines = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines)
}
