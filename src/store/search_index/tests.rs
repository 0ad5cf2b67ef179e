//! The search index against a real history database in a temporary
//! directory: it follows commits in bounded steps, takes out what retention
//! deleted, rebuilds itself when damaged or ahead of the history, and a
//! history database that still holds the old in-file index is migrated.

use super::*;
use crate::core::effect::LogBatch;
use crate::core::history::{Record, StoredMsg};
use crate::store::history::{HistoryDb, Retention};
use std::sync::Arc;

fn msg(id: u64, text: &str, ts: u64) -> Record {
    Record::Msg(Arc::new(StoredMsg {
        id,
        ts,
        from: "alice".into(),
        room: Some("general".into()),
        to: None,
        text: text.into(),
        cid: None,
        recipients: 1,
    }))
}

/// A history database holding `n` messages "word<i> common", ts = i.
fn history_with(dir: &Path, n: u64) -> (HistoryDb, PathBuf) {
    let path = dir.join(db::FILE);
    let mut log = HistoryDb::open(&path, Retention::default()).unwrap();
    let records = (1..=n)
        .map(|i| msg(i, &format!("word{i} common"), i))
        .collect();
    let done = log.write(&[LogBatch { seq: 1, records }]);
    assert!(matches!(
        done[..],
        [crate::core::effect::Completion::Logged { result: Ok(()), .. }]
    ));
    (log, path)
}

/// Ids the index matches for `word`, ascending.
fn matches(index: &SearchIndex, word: &str) -> Vec<i64> {
    let mut st = index
        .conn
        .prepare("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid")
        .unwrap();
    st.query_map(params![word], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn steps_are_bounded_and_follow_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, path) = history_with(dir.path(), 2_500);
    let mut index = SearchIndex::open(&path).unwrap();
    assert_eq!(index.indexed_through().unwrap(), 0);
    assert_eq!(index.step(1_000).unwrap(), 1_000);
    assert_eq!(index.indexed_through().unwrap(), 1_000);
    assert_eq!(index.step(1_000).unwrap(), 1_000);
    assert_eq!(index.step(1_000).unwrap(), 500);
    assert_eq!(index.step(1_000).unwrap(), 0, "caught up");
    assert_eq!(matches(&index, "word2500"), [2500]);
    assert_eq!(matches(&index, "common").len(), 2_500);
    // A later commit is picked up by the next step.
    log.write(&[LogBatch {
        seq: 2,
        records: vec![msg(2_501, "fresh words", 2_501)],
    }]);
    assert_eq!(index.step(1_000).unwrap(), 1);
    assert_eq!(matches(&index, "fresh"), [2501]);
}

/// Retention of one day ten days after the epoch: `old` messages from the
/// epoch (`text(i)`), then "new common" (id old + 1) now. Returns the
/// history, its path and now.
fn with_old_messages(
    dir: &Path,
    old: u64,
    text: impl Fn(u64) -> String,
) -> (HistoryDb, PathBuf, u64) {
    let path = dir.join(db::FILE);
    let retention = Retention {
        days: 1,
        max_bytes: 0,
    };
    let mut log = HistoryDb::open(&path, retention).unwrap();
    let now = 10 * 86_400_000;
    let mut records: Vec<Record> = (1..=old).map(|i| msg(i, &text(i), i)).collect();
    records.push(msg(old + 1, "new common", now));
    log.write(&[LogBatch { seq: 1, records }]);
    (log, path, now)
}

#[test]
fn what_retention_deleted_leaves_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, path, now) = with_old_messages(dir.path(), 6_000, |i| format!("old{i} common"));
    let mut index = SearchIndex::open(&path).unwrap();
    index.index_all().unwrap();
    assert_eq!(matches(&index, "common").len(), 6_001);
    while log.prune_step(now).unwrap().is_some() {}
    assert_eq!(log.message_count().unwrap(), 1);
    // Taken out FORGET_STEP at a time, each step reporting work.
    assert!(index.step(STEP).unwrap() > 0);
    assert_eq!(matches(&index, "common").len(), 6_001 - FORGET_STEP);
    index.index_all().unwrap();
    assert_eq!(matches(&index, "common"), [6001]);
    assert_eq!(matches(&index, "old17"), Vec::<i64>::new());
    assert_eq!(mark(&index.conn, "forgotten").unwrap(), 6_000);
}

#[test]
fn messages_deleted_before_they_were_indexed_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, path, now) = with_old_messages(dir.path(), 500, |_| "old".into());
    while log.prune_step(now).unwrap().is_some() {}
    let mut index = SearchIndex::open(&path).unwrap();
    index.index_all().unwrap();
    assert_eq!(matches(&index, "old"), Vec::<i64>::new());
    assert_eq!(matches(&index, "common"), [501]);
    assert_eq!(index.indexed_through().unwrap(), 501);
}

#[test]
fn a_damaged_index_file_is_rebuilt_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, path) = history_with(dir.path(), 300);
    let index_path = dir.path().join(FILE);
    std::fs::write(&index_path, vec![0x5a; 64 * 1024]).unwrap();
    let mut index = SearchIndex::open(&path).unwrap();
    assert_eq!(index.indexed_through().unwrap(), 0);
    index.index_all().unwrap();
    assert_eq!(matches(&index, "word300"), [300]);
}

#[test]
fn an_index_ahead_of_the_history_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_log, path) = history_with(dir.path(), 300);
        SearchIndex::open(&path).unwrap().index_all().unwrap();
    }
    // The history is replaced by a shorter one (restored from a backup).
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let (_log, path) = history_with(dir.path(), 100);
    let mut index = SearchIndex::open(&path).unwrap();
    assert_eq!(index.indexed_through().unwrap(), 0, "started again");
    index.index_all().unwrap();
    assert_eq!(matches(&index, "word250"), Vec::<i64>::new());
    assert_eq!(matches(&index, "common").len(), 100);
}

#[test]
fn the_old_index_inside_the_history_database_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(db::FILE);
    {
        let (_log, _) = history_with(dir.path(), 10);
    }
    {
        // As a server before search.db left it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id');
             CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                 INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
             END;
             INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages;
             INSERT INTO meta(key, value) VALUES ('fts_indexed', 10);",
        )
        .unwrap();
    }
    let conn = db::open_rw(&path).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_fts%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        left, 0,
        "the table, its shadow tables and its trigger are gone"
    );
    assert_eq!(db::meta(&conn, "fts_indexed").unwrap(), None);
    // Deleting messages works without the old trigger's table.
    conn.execute("DELETE FROM messages WHERE id <= 5", [])
        .unwrap();
    drop(conn);
    let mut index = SearchIndex::open(&path).unwrap();
    index.index_all().unwrap();
    assert_eq!(matches(&index, "common"), [6, 7, 8, 9, 10]);
}

#[test]
fn the_check_finds_a_sound_index_sound_and_a_damaged_one_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, path) = history_with(dir.path(), 2_000);
    assert_eq!(check(&path).unwrap(), None, "no index yet");
    let mut index = SearchIndex::open(&path).unwrap();
    index.index_all().unwrap();
    drop(index);
    assert_eq!(check(&path).unwrap(), Some(vec!["ok".to_string()]));
    let conn = Connection::open(dir.path().join(FILE)).unwrap();
    // Row 1 is the structure record, 10 the averages; the rest are segments.
    let damaged = conn
        .execute(
            "UPDATE messages_fts_data SET block = x'ffffffffffffffffffffffffffffffff' WHERE id > 10",
            [],
        )
        .unwrap();
    assert!(damaged > 0);
    drop(conn);
    let lines = check(&path).unwrap().unwrap();
    assert_ne!(lines, ["ok"]);
    // (SQLite's own check reads FTS5 tables too; FTS5's is the fallback.)
    assert!(
        lines
            .iter()
            .any(|l| l.contains("fts5") || l.contains("full-text index")),
        "{lines:?}"
    );
}

#[test]
fn the_free_space_is_read_from_the_data_directorys_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, path) = history_with(dir.path(), 1);
    let index = SearchIndex::open(&path).unwrap();
    let free = index.free_bytes().expect("statvfs answers");
    let df = rustix::fs::statvfs(dir.path()).unwrap();
    assert!(free > 0 && free <= df.f_blocks * df.f_frsize, "{free}");
}

#[test]
fn an_index_a_search_finds_damaged_is_rebuilt_by_the_next_steps() {
    use crate::core::effect::SearchQuery;
    use crate::store::search::Searcher;
    let dir = tempfile::tempdir().unwrap();
    let (_log, path) = history_with(dir.path(), 2_000);
    let mut index = SearchIndex::open(&path).unwrap();
    index.index_all().unwrap();
    let mut searcher = Searcher::open(&path).unwrap();
    searcher.report_damage_to(index.damage_flag());
    let q = SearchQuery {
        ticket: 1,
        text: "common".into(),
        rooms: vec!["general".into()],
        dms: None,
        before: u64::MAX,
        limit: 5,
        fresh_through: 0,
    };
    assert_eq!(searcher.run(&q).hits.len(), 5);
    Connection::open(dir.path().join(FILE))
        .unwrap()
        .execute(
            "UPDATE messages_fts_data SET block = x'ffffffffffffffffffffffffffffffff' WHERE id > 10",
            [],
        )
        .unwrap();
    let failed = searcher.run(&q);
    let error = failed.error.expect("the damage is reported");
    assert!(error.contains("being rebuilt"), "{error}");
    assert!(
        index.damage_flag().load(Ordering::Relaxed),
        "the indexer is told"
    );
    // The next step empties it; the ones after build it again.
    assert_eq!(index.step(STEP).unwrap(), 1);
    assert_eq!(index.indexed_through().unwrap(), 0);
    index.index_all().unwrap();
    let again = searcher.run(&q);
    assert_eq!((again.error, again.hits.len()), (None, 5));
    assert_eq!(check(&path).unwrap(), Some(vec!["ok".to_string()]));
}

#[test]
fn a_step_reads_at_most_a_mebibyte_of_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(db::FILE);
    let mut log = HistoryDb::open(&path, Retention::default()).unwrap();
    // 100 messages of 16,000 bytes (4,000 four-byte characters, the longest).
    let long = "\u{1F600}".repeat(4_000);
    let records = (1..=100).map(|i| msg(i, &long, i)).collect();
    log.write(&[LogBatch { seq: 1, records }]);
    let mut index = SearchIndex::open(&path).unwrap();
    // 1 MiB / 16,000 bytes: the 66th message reaches it.
    assert_eq!(index.step(STEP).unwrap(), 66);
    assert_eq!(index.step(STEP).unwrap(), 34);
    assert_eq!(index.step(STEP).unwrap(), 0);
}
