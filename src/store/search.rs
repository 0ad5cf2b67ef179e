//! Full-text search (SQLite FTS5) over the conversations a user may read,
//! newest first, on a read-only connection of its own to the history
//! database with the search index (`store::search_index`) attached: a
//! search never delays a commit or a step of indexing (WAL lets it read
//! while they write), and one that runs past [`SEARCH_BUDGET`] is stopped
//! with an answer saying so.
//!
//! The user's words are never FTS5 syntax: each is quoted as a phrase
//! (`"` doubled), so `a OR b`, `NEAR(x)` or `col:` match those words
//! literally; a message matches when it holds every word (token prefix
//! matching is off). Which conversations are searched is decided by the core
//! (rooms the user is in now, their own private conversations after their
//! floor) and applied here in SQL, so nothing outside them is read.

use crate::core::effect::{SearchDone, SearchQuery};
use crate::core::history::ConvKey;
use crate::store::db::{self, conv_key, msg_of, MSG_COLUMNS};
use crate::store::search_index;
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a search may run.
pub const SEARCH_BUDGET: Duration = Duration::from_secs(2);
/// Longest a search waits for the index to reach the messages sent before
/// it was asked (the indexing thread follows the commits; under a sustained
/// load beyond what it indexes it may lag, and the search then runs on what
/// is indexed).
pub const FRESH_WAIT: Duration = Duration::from_secs(1);

/// The FTS5 query for plain `text`: every word as a quoted phrase.
pub fn fts_query(text: &str) -> String {
    text.split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A read-only connection for searches.
pub struct Searcher {
    conn: Connection,
    /// Set when a search finds the index damaged (the indexer rebuilds it).
    damage: Option<Arc<AtomicBool>>,
}

impl Searcher {
    /// Open the history database at `path` read-only, with the search
    /// index beside it (made by `SearchIndex::open` first) attached as `s`.
    pub fn open(path: &Path) -> rusqlite::Result<Searcher> {
        use std::os::unix::ffi::OsStrExt;
        let conn = db::open_ro(path)?;
        let index = path.with_file_name(search_index::FILE);
        // Attached with the main database's flags: read-only too. The path
        // goes as bytes (SQLite takes a blob's bytes as the file name), so
        // a data directory whose name is not UTF-8 works here as it does
        // for `history.db`.
        conn.execute(
            "ATTACH DATABASE ?1 AS s",
            params![index.as_os_str().as_bytes()],
        )?;
        Ok(Searcher { conn, damage: None })
    }

    /// Tell the indexer, through `flag` (`SearchIndex::damage_flag`), when
    /// a search finds the index damaged.
    pub fn report_damage_to(&mut self, flag: Arc<AtomicBool>) {
        self.damage = Some(flag);
    }

    /// Whether a search found the index damaged and the indexer has not
    /// yet begun rebuilding it.
    pub fn damage_reported(&self) -> bool {
        self.damage
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Run `q`; errors come back in the answer.
    pub fn run(&mut self, q: &SearchQuery) -> SearchDone {
        match self.try_run(q) {
            Ok(done) => done,
            Err(e) => {
                let interrupted = matches!(
                    &e,
                    rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted
                );
                let error = if interrupted {
                    format!(
                        "the search took longer than {} s; use fewer common words or name a room",
                        SEARCH_BUDGET.as_secs()
                    )
                } else if search_index::is_damage(&e) && self.damage.is_some() {
                    log::error!("search failed: {e}; the search index is rebuilt from the history");
                    if let Some(flag) = &self.damage {
                        flag.store(true, Ordering::Relaxed);
                    }
                    "the search index was damaged and is being rebuilt from the history (no message is lost); search again in a moment".to_string()
                } else {
                    log::error!(
                        "search failed: {e}; if the search index is damaged, stop the server and delete {}: it is rebuilt from the history at start-up",
                        search_index::FILE
                    );
                    format!("the messages could not be searched: {e}")
                };
                SearchDone {
                    ticket: q.ticket,
                    error: Some(error),
                    ..SearchDone::default()
                }
            }
        }
    }

    fn try_run(&mut self, q: &SearchQuery) -> rusqlite::Result<SearchDone> {
        let asked = Instant::now();
        loop {
            let indexed: i64 = self
                .conn
                .prepare_cached("SELECT coalesce(max(value), 0) FROM s.meta WHERE key = 'indexed'")?
                .query_row([], |r| r.get(0))?;
            let indexed = indexed.max(0) as u64;
            if indexed >= q.fresh_through || asked.elapsed() >= FRESH_WAIT {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // (conversation row id, only ids above this)
        let mut scope: Vec<(i64, u64)> = Vec::new();
        for room in &q.rooms {
            let key = conv_key(&ConvKey::Room(room.clone()));
            if let Some(id) = self.conv_by_key(&key)? {
                scope.push((id, 0));
            }
        }
        if let Some(dm) = &q.dms {
            match &dm.peer {
                Some(peer) => {
                    let key = conv_key(&ConvKey::dm(&dm.user, peer));
                    if let Some(id) = self.conv_by_key(&key)? {
                        scope.push((id, dm.after));
                    }
                }
                None => {
                    let mut st = self
                        .conn
                        .prepare_cached("SELECT id FROM conversations WHERE a = ?1 OR b = ?1")?;
                    for id in st.query_map(params![dm.user], |r| r.get::<_, i64>(0))? {
                        scope.push((id?, dm.after));
                    }
                }
            }
        }
        let query = fts_query(&q.text);
        if scope.is_empty() || query.is_empty() {
            return Ok(SearchDone {
                ticket: q.ticket,
                ..SearchDone::default()
            });
        }
        let scope_json = serde_json::to_string(&scope).expect("pairs serialize");
        let started = Instant::now();
        self.conn
            .progress_handler(10_000, Some(move || started.elapsed() > SEARCH_BUDGET))?;
        let sql = format!(
            "SELECT {MSG_COLUMNS}
             FROM s.messages_fts f
             JOIN messages m ON m.id = f.rowid
             JOIN json_each(?2) s ON s.value ->> 0 = m.conv AND m.id > s.value ->> 1
             JOIN conversations c ON c.id = m.conv
             WHERE messages_fts MATCH ?1 AND f.rowid < ?3
             ORDER BY f.rowid DESC LIMIT ?4"
        );
        let result = (|| {
            let mut st = self.conn.prepare_cached(&sql)?;
            let rows = st.query_map(
                params![
                    query,
                    scope_json,
                    q.before.min(i64::MAX as u64) as i64,
                    (q.limit + 1) as i64
                ],
                msg_of,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        self.conn.progress_handler(0, None::<fn() -> bool>)?;
        let mut hits = result?;
        let more = hits.len() > q.limit;
        hits.truncate(q.limit);
        Ok(SearchDone {
            ticket: q.ticket,
            hits,
            more,
            error: None,
        })
    }

    fn conv_by_key(&self, key: &str) -> rusqlite::Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached("SELECT id FROM conversations WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn a_data_directory_named_in_bytes_that_are_not_utf8_works() {
        use crate::store::history::{HistoryDb, Retention};
        use crate::store::search_index::SearchIndex;
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp
            .path()
            .join(std::ffi::OsStr::from_bytes(b"data-\xff\xfe"));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join(crate::store::db::FILE);
        let _log = HistoryDb::open(&path, Retention::default()).unwrap();
        SearchIndex::open(&path).unwrap().index_all().unwrap();
        let searcher = super::Searcher::open(&path).unwrap();
        let tables: i64 = searcher
            .conn
            .query_row(
                "SELECT count(*) FROM s.sqlite_master WHERE name = 'messages_fts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1, "search.db is the one attached");
        assert!(dir.join("search.db").exists());
    }

    #[test]
    fn words_are_quoted_so_nothing_is_query_syntax() {
        assert_eq!(fts_query("  deploy   friday "), "\"deploy\" \"friday\"");
        assert_eq!(fts_query("a OR b"), "\"a\" \"OR\" \"b\"");
        assert_eq!(fts_query("say \"hi\""), "\"say\" \"\"\"hi\"\"\"");
        assert_eq!(
            fts_query("NEAR(x y) col:z *"),
            "\"NEAR(x\" \"y)\" \"col:z\" \"*\""
        );
        assert_eq!(fts_query(""), "");
    }
}
