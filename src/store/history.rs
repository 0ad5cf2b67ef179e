//! The history worker's side: the log file, its index of where each message
//! lives, the group commit, and reads of older messages.
//!
//! [`HistoryLog`] is plain and synchronous; a thread (see `net::workers`) or
//! the simulation runs it. Batches are written in the order they come, a run
//! of queued batches sharing one `fdatasync`; a read is answered after every
//! batch queued before it, so it sees them. A batch whose write or sync fails
//! is cut off the file and reported failed, never durable; the next batch
//! tries again, so the log carries on once the disk has room.

use crate::core::effect::{Completion, HistoryPage, HistoryQuery, LogBatch};
use crate::core::history::{ConvKey, History, Record};
use crate::store::journal::{self, Damage, Journal, Span};
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// The history log and its index.
pub struct HistoryLog {
    journal: Journal<Record>,
    /// (id, where) of every message of each conversation, ascending.
    index: HashMap<ConvKey, Vec<(u64, Span)>>,
    /// The last write failed (its error was logged once).
    failing: bool,
    /// Fault injection for tests: every write fails as on a full disk.
    fail_all: bool,
}

/// What opening the log found.
pub struct Opened {
    pub log: HistoryLog,
    /// The core's view, replayed from the same records.
    pub history: History,
    pub damage: Option<Damage>,
}

impl HistoryLog {
    /// Open (creating) the log at `path`, replaying it into a new index and
    /// a new core [`History`]. A damaged tail is cut off and described.
    pub fn open(path: &Path) -> io::Result<Opened> {
        let mut history = History::default();
        let mut index: HashMap<ConvKey, Vec<(u64, Span)>> = HashMap::new();
        let (journal, damage) = Journal::<Record>::open(path, |span, rec| {
            if let Record::Msg(m) = &rec {
                index.entry(m.conv()).or_default().push((m.id, span));
            }
            history.replay(rec);
        })?;
        Ok(Opened {
            log: HistoryLog {
                journal,
                index,
                failing: false,
                fail_all: false,
            },
            history,
            damage,
        })
    }

    /// Make every write fail as on a full disk (tests), or stop doing so.
    pub fn inject_failure(&mut self, fail: bool) {
        self.fail_all = fail;
    }

    /// Write `batches` with one sync; one `Logged` completion per batch.
    pub fn write(&mut self, batches: &[LogBatch]) -> Vec<Completion> {
        let mut bytes = Vec::with_capacity(batches.iter().map(|b| b.bytes.len()).sum());
        for b in batches {
            bytes.extend_from_slice(&b.bytes);
        }
        let written = if self.fail_all {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        } else {
            self.journal.append(&bytes)
        };
        let result = match written {
            Ok(base) => {
                if self.failing {
                    log::warn!("the history log is writable again; messages are stored");
                    self.failing = false;
                }
                self.index_lines(base, &bytes);
                Ok(())
            }
            Err(e) => {
                if !self.failing {
                    log::error!(
                        "cannot write the history log: {e}; messages are refused (store_failed) until it works again"
                    );
                    self.failing = true;
                }
                Err(e.to_string())
            }
        };
        batches
            .iter()
            .map(|b| Completion::Logged {
                seq: b.seq,
                result: result.clone(),
            })
            .collect()
    }

    fn index_lines(&mut self, base: u64, bytes: &[u8]) {
        let mut at = 0usize;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if let Ok(Record::Msg(m)) = journal::decode::<Record>(line) {
                let span = Span {
                    off: base + at as u64,
                    len: line.len() as u32,
                };
                self.index.entry(m.conv()).or_default().push((m.id, span));
            }
            at += line.len();
        }
    }

    /// Answer one page of `q`: its messages from `q.skip` on (oldest first
    /// across its ranges), at most `q.page` of them.
    pub fn read(&self, q: &HistoryQuery, mut emit: impl FnMut(HistoryPage)) {
        let mut more = false;
        // Per range, the index entries wanted: the newest `limit` in range.
        let mut lists: Vec<&[(u64, Span)]> = Vec::new();
        for r in &q.ranges {
            let Some(idx) = self.index.get(&r.conv) else {
                continue;
            };
            let lo = idx.partition_point(|(id, _)| *id <= r.after);
            let hi = idx.partition_point(|(id, _)| *id < r.before);
            if lo >= hi {
                continue;
            }
            let start = hi.saturating_sub(r.limit).max(lo);
            more |= start > lo;
            lists.push(&idx[start..hi]);
        }
        // Merge by id (the index alone says the order), skip what earlier
        // pages covered, read one page.
        let mut pos = vec![0usize; lists.len()];
        let page_size = q.page.max(1);
        let mut page = Vec::with_capacity(page_size.min(256));
        let mut taken = 0usize;
        let mut next = || {
            let i = (0..lists.len())
                .filter(|&i| pos[i] < lists[i].len())
                .min_by_key(|&i| lists[i][pos[i]].0)?;
            pos[i] += 1;
            Some(lists[i][pos[i] - 1])
        };
        for _ in 0..q.skip {
            if next().is_none() {
                break;
            }
        }
        let mut exhausted = false;
        while taken < page_size {
            let Some((id, span)) = next() else {
                exhausted = true;
                break;
            };
            taken += 1;
            match self.journal.read_at(span) {
                Ok(Record::Msg(m)) => {
                    if q.skip_from.as_deref() != Some(m.from.as_str()) {
                        page.push(m);
                    }
                }
                Ok(_) => log::error!("history index points at a non-message record (id {id})"),
                Err(e) => {
                    log::error!("cannot read message {id} from the history log: {e}");
                    emit(HistoryPage {
                        query: q.query,
                        msgs: page,
                        more,
                        done: true,
                        next: q.skip + taken,
                        error: Some(format!("the history log could not be read: {e}")),
                    });
                    return;
                }
            }
        }
        if !exhausted && next().is_none() {
            exhausted = true;
        }
        emit(HistoryPage {
            query: q.query,
            msgs: page,
            more,
            done: exhausted,
            next: q.skip + taken,
            error: None,
        });
    }

    /// Messages indexed (for the start-up line and tests).
    pub fn message_count(&self) -> usize {
        self.index.values().map(Vec::len).sum()
    }
}
