//! Importing the old history log (`history.log`, before the database) once.
//!
//! The old log was one record a line: eight hex digits of CRC-32 over the
//! JSON, a space, the JSON. A server started on a data directory that has
//! it and no database yet imports every line that verifies into a new
//! database file (`history.db.importing`, renamed to `history.db` when
//! complete, so an import cut short starts over), then renames the log to
//! `history.log.imported`: nothing is deleted. A line that fails its
//! checksum or does not parse is skipped and counted, not a reason to drop
//! what follows it.

use crate::core::effect::{Completion, LogBatch};
use crate::core::history::Record;
use crate::store::history::{HistoryDb, Retention};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// The old log's name under the data directory.
pub const LOG: &str = "history.log";
/// What it is renamed to once imported.
pub const IMPORTED: &str = "history.log.imported";

/// Records committed per transaction while importing.
const IMPORT_BATCH: usize = 10_000;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub records: u64,
    pub messages: u64,
    /// Lines skipped: bad checksum, bad JSON, or cut short.
    pub skipped: u64,
}

/// One line of the old log, if it verifies.
pub fn decode(line: &[u8]) -> Option<Record> {
    let line = line.strip_suffix(b"\n")?;
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let want = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    let json = &line[9..];
    if crc32fast::hash(json) != want {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// One line of the old log for `rec` (tests write old logs with it).
pub fn encode(rec: &Record) -> Vec<u8> {
    let json = serde_json::to_vec(rec).expect("records serialize");
    let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

/// If `dir` has an old log, make sure its records are in `dir/history.db`
/// and the log is renamed; `None` when there was nothing to import.
pub fn import_if_present(dir: &Path) -> io::Result<Option<Imported>> {
    let log = dir.join(LOG);
    if !log.exists() {
        return Ok(None);
    }
    let db_path = dir.join(crate::store::db::FILE);
    let mut done = None;
    if !db_path.exists() {
        let tmp = dir.join(format!("{}.importing", crate::store::db::FILE));
        for suffix in ["", "-wal", "-shm"] {
            let _ =
                fs::remove_file(dir.join(format!("{}.importing{suffix}", crate::store::db::FILE)));
        }
        let stats = import(&log, &tmp)?;
        fs::rename(&tmp, &db_path)?;
        done = Some(stats);
    }
    fs::rename(&log, dir.join(IMPORTED))?;
    Ok(done.or(Some(Imported::default())))
}

fn import(log: &Path, db_path: &Path) -> io::Result<Imported> {
    let to_io = |e: rusqlite::Error| io::Error::other(e.to_string());
    let mut db = HistoryDb::open(db_path, Retention::default()).map_err(to_io)?;
    let mut reader = BufReader::new(File::open(log)?);
    let mut stats = Imported::default();
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut line = Vec::new();
    let flush = |db: &mut HistoryDb, batch: &mut Vec<Record>| -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let b = LogBatch {
            seq: 0,
            records: std::mem::take(batch),
        };
        for c in db.write(std::slice::from_ref(&b)) {
            if let Completion::Logged { result: Err(e), .. } = c {
                return Err(io::Error::other(e));
            }
        }
        Ok(())
    };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        match decode(&line) {
            Some(rec) => {
                stats.records += 1;
                stats.messages += matches!(rec, Record::Msg(_)) as u64;
                batch.push(rec);
                if batch.len() >= IMPORT_BATCH {
                    flush(&mut db, &mut batch)?;
                }
            }
            None => stats.skipped += 1,
        }
    }
    flush(&mut db, &mut batch)?;
    // Fold the WAL into the file before it is renamed.
    db.conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(to_io)?;
    drop(db);
    Ok(stats)
}
