//! `search`: full-text search over what the user may read, decided here and
//! run by the search worker (`store::search`) as an effect.
//!
//! The scope is the user's alone: a named room only if they are in it now,
//! their own private conversations only from their floor on (an open name
//! sees nothing from before its session, see `Core::dm_floor`), and with
//! neither named, every room they are in now plus those conversations. One
//! search per connection is in flight at a time; the text is at most
//! `protocol::lengths::MAX_SEARCH` bytes and [`MAX_WORDS`] words; a page
//! holds at most [`MAX_HITS`] hits.

use super::effect::{DmScope, Effect, SearchDone, SearchQuery};
use super::{ConnId, Core};
use crate::protocol::{ErrorCode, SearchHit, ServerMsg};

/// Hits per answer when `limit` is absent.
pub const DEFAULT_HITS: usize = 20;
/// Most hits per answer.
pub const MAX_HITS: usize = 50;
/// Most words in a search.
pub const MAX_WORDS: usize = 16;

impl Core {
    pub(crate) fn search(
        &mut self,
        conn: ConnId,
        text: String,
        room: Option<String>,
        peer: Option<String>,
        before: Option<u64>,
        limit: Option<u32>,
    ) {
        let re = "search";
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        if limit == Some(0) {
            let msg = format!("limit must be at least 1 (at most {MAX_HITS} hits are sent)");
            return self.error(conn, ErrorCode::Invalid, &msg, re);
        }
        let words = text.split_whitespace().count();
        if words == 0 || words > MAX_WORDS {
            let msg = format!("search for 1 to {MAX_WORDS} words");
            return self.error(conn, ErrorCode::Invalid, &msg, re);
        }
        if self.searches.values().any(|(c, _)| *c == conn) {
            let msg = "a search of yours is under way; wait for its answer";
            return self.error(conn, ErrorCode::Invalid, msg, re);
        }
        let my_rooms = self.sessions.get(&conn).map(|s| &s.rooms);
        let (rooms, dms) = match (room, peer) {
            (Some(_), Some(_)) => {
                let msg = "search names at most one of room or peer";
                return self.error(conn, ErrorCode::Invalid, msg, re);
            }
            (Some(r), None) => {
                if !my_rooms.is_some_and(|rs| rs.contains(&r)) {
                    let msg = format!("you are not in #{r}; join it to search it");
                    return self.not_member(conn, &r, msg, re, None);
                }
                (vec![r], None)
            }
            (None, p) => {
                let rooms = if p.is_some() {
                    Vec::new()
                } else {
                    my_rooms
                        .map(|rs| rs.iter().cloned().collect())
                        .unwrap_or_default()
                };
                let after = self.dm_floor(&name);
                (
                    rooms,
                    Some(DmScope {
                        user: name,
                        peer: p,
                        after,
                    }),
                )
            }
        };
        self.next_query += 1;
        let ticket = self.next_query;
        self.searches.insert(ticket, (conn, text.clone()));
        let limit = limit.map_or(DEFAULT_HITS, |l| (l as usize).clamp(1, MAX_HITS));
        self.effects.push_back(Effect::Search(SearchQuery {
            ticket,
            text,
            rooms,
            dms,
            before: before.unwrap_or(u64::MAX),
            limit,
            fresh_through: self.history.last_id(),
        }));
    }

    pub(crate) fn search_done(&mut self, done: SearchDone) {
        let Some((conn, text)) = self.searches.remove(&done.ticket) else {
            return;
        };
        if !self.sessions.contains_key(&conn) {
            return;
        }
        if let Some(e) = done.error {
            return self.error(conn, ErrorCode::SearchFailed, &e, "search");
        }
        let results = done
            .hits
            .into_iter()
            .map(|m| SearchHit {
                id: m.id,
                ts: m.ts,
                from: m.from,
                room: m.room,
                to: m.to,
                text: m.text,
            })
            .collect();
        self.send(
            conn,
            &ServerMsg::SearchResults {
                text,
                results,
                more: done.more,
            },
        );
    }
}
