//! History reads that go to the log: a `history` page or a catch-up that
//! reaches past the messages kept in memory.
//!
//! The core queues an [`Effect::ReadHistory`] for one page, parks the asking
//! connection's later output behind it (see `outbox`), and turns the page
//! that comes back into `message` frames in the parked place, which go out at
//! once. The next page is read only when the shell says the connection has
//! taken the last one ([`Core::output_low`]), so a catch-up of thousands of
//! messages is paced by what the client reads and never piles up past the
//! outbound limit. The last page adds the closing frame (`history_end`, or
//! `synced` and the receipt markers of a catch-up) and lets the connection's
//! output flow again. A connection has at most
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
    /// The query, for its next page.
    pub query: HistoryQuery,
    /// A page went out and the next waits until the connection has taken
    /// it (the shell says so: [`Core::output_low`]).
    pub paused: bool,
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
        let q = HistoryQuery {
            query,
            ranges,
            skip_from,
            skip: 0,
            page: PAGE,
        };
        self.effects.push_back(Effect::ReadHistory(q.clone()));
        self.park_for_read(conn, query);
        self.reads.insert(
            query,
            Read {
                conn,
                purpose,
                count: 0,
                query: q,
                paused: false,
            },
        );
    }

    /// Whether the shell should say when `conn`'s queue is low again.
    pub fn wants_output_low(&self, conn: ConnId) -> bool {
        self.reads.values().any(|r| r.conn == conn && r.paused)
    }

    /// The shell wrote out most of what was queued for `conn`: the next
    /// page of its reads may come.
    pub fn output_low(&mut self, conn: ConnId) {
        let next: Vec<HistoryQuery> = self
            .reads
            .values_mut()
            .filter(|r| r.conn == conn && r.paused)
            .map(|r| {
                r.paused = false;
                r.query.clone()
            })
            .collect();
        for q in next {
            self.effects.push_back(Effect::ReadHistory(q));
        }
    }

    /// Connections with a read waiting for them to take its last page.
    pub fn reads_paused(&self) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self
            .reads
            .values()
            .filter(|r| r.paused)
            .map(|r| r.conn)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Effects are waiting to be handed out.
    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
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
            // This page goes out now; the next is read once the connection
            // has taken it, so a long catch-up never piles up in a queue.
            read.query.skip = page.next;
            read.paused = true;
            self.emit_for_read(conn, page.query, frames);
            self.release_conn(conn);
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
