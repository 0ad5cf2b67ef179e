//! History reads that go to the log: a `history` page or a catch-up that
//! reaches past the messages kept in memory.
//!
//! The core queues an [`Effect::ReadHistory`], parks the asking connection's
//! later output behind it (see `outbox`), and turns each page that comes back
//! into `message` frames in the parked place. The last page adds the closing
//! frame (`history_end`, or `synced` and the receipt markers of a catch-up)
//! and lets the connection's output flow again. A connection has at most
//! [`READS_PER_CONN`] reads in flight and the server [`READS_IN_FLIGHT`];
//! past either, a `history` request is refused with `slow_down`.

use super::effect::{Effect, HistoryPage, HistoryQuery, ReadRange};
use super::{ConnId, Core, Output, Priority};
use crate::protocol::{encode_shared, ErrorCode, Replay, ServerMsg};

/// Most reads one connection may have in flight.
pub const READS_PER_CONN: usize = 4;
/// Most reads in flight over the whole server.
pub const READS_IN_FLIGHT: usize = 256;
/// Messages per page read back.
pub const PAGE: usize = 128;

/// What a read in flight is for.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A `history` request: its `history_end` follows the last page.
    History {
        room: Option<String>,
        peer: Option<String>,
    },
    /// A login's catch-up: `synced` and the marker snapshot follow.
    CatchUp {
        name: String,
        rooms: Vec<String>,
        since: Option<u64>,
    },
}

#[derive(Debug)]
pub(crate) struct Read {
    pub conn: ConnId,
    pub purpose: Purpose,
    /// Messages sent so far.
    pub count: u32,
}

impl Core {
    /// Whether `conn` may start another read; if not, it is told why.
    pub(crate) fn may_read(&mut self, conn: ConnId, re: &str) -> bool {
        let mine = self.reads.values().filter(|r| r.conn == conn).count();
        if mine >= READS_PER_CONN || self.reads.len() >= READS_IN_FLIGHT {
            let msg = "too many history requests at once; wait for the answers before asking again";
            self.error(conn, ErrorCode::SlowDown, msg, re);
            return false;
        }
        true
    }

    /// Read `ranges` from the log for `conn`.
    pub(crate) fn start_read(
        &mut self,
        conn: ConnId,
        ranges: Vec<ReadRange>,
        skip_from: Option<String>,
        purpose: Purpose,
    ) {
        // Records appended so far go first: the read must see them.
        self.seal_log();
        self.next_query += 1;
        let query = self.next_query;
        self.effects.push_back(Effect::ReadHistory(HistoryQuery {
            query,
            ranges,
            skip_from,
            page: PAGE,
        }));
        self.park_for_read(conn, query);
        self.reads.insert(
            query,
            Read {
                conn,
                purpose,
                count: 0,
            },
        );
    }

    /// A page of a read came back.
    pub(crate) fn history_page(&mut self, page: HistoryPage) {
        let Some(read) = self.reads.get_mut(&page.query) else {
            return; // its connection is gone
        };
        let conn = read.conn;
        let replay = match read.purpose {
            Purpose::History { .. } => Replay::History,
            Purpose::CatchUp { .. } => Replay::Missed,
        };
        read.count += page.msgs.len() as u32;
        let mut frames: Vec<Output> = page
            .msgs
            .iter()
            .map(|m| Output::Frame(m.frame_bytes(Some(replay)), Priority::Normal))
            .collect();
        if !page.done {
            self.emit_for_read(conn, page.query, frames);
            return;
        }
        let Some(read) = self.reads.remove(&page.query) else {
            return;
        };
        if let Some(e) = &page.error {
            let re = match read.purpose {
                Purpose::History { .. } => "history",
                Purpose::CatchUp { .. } => "hello",
            };
            frames.push(Output::Frame(
                encode_shared(&ServerMsg::Error {
                    code: ErrorCode::Internal,
                    message: format!("{e}; some older messages could not be sent"),
                    re: Some(re.into()),
                    cid: None,
                }),
                Priority::Normal,
            ));
        }
        match read.purpose {
            Purpose::History { room, peer } => {
                frames.push(Output::Frame(
                    encode_shared(&ServerMsg::HistoryEnd {
                        room,
                        peer,
                        count: read.count,
                        more: page.more,
                    }),
                    Priority::Normal,
                ));
                self.emit_for_read(conn, page.query, frames);
            }
            Purpose::CatchUp { name, rooms, since } => {
                self.emit_for_read(conn, page.query, frames);
                let tail = self.catch_up_tail(&name, &rooms, since, read.count);
                self.emit_for_read(conn, page.query, tail);
            }
        }
        self.unpark(conn, page.query);
    }
}
