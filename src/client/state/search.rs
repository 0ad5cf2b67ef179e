//! `/search TEXT [#ROOM|@NAME]`: the request, and paging back through the
//! hits: the same search again asks for the hits older than the last shown.

use super::{ClientState, Outcome};
use crate::client::event::{Conv, Event, Hit};
use crate::protocol::{ClientMsg, SearchHit};

/// The last search asked, for paging.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LastSearch {
    pub text: String,
    pub scope: Option<Conv>,
    /// The oldest hit shown, when older ones exist.
    pub older_than: Option<u64>,
}

impl ClientState {
    /// The `search` frame for `/search TEXT [scope]`: the same search as
    /// the last one, whose answer said there was more, goes on from there.
    pub(super) fn search_request(&mut self, text: String, scope: Option<Conv>) -> ClientMsg {
        let before = self
            .search
            .as_ref()
            .filter(|s| s.text == text && s.scope == scope)
            .and_then(|s| s.older_than);
        self.search = Some(LastSearch {
            text: text.clone(),
            scope: scope.clone(),
            older_than: None,
        });
        let (room, peer) = match scope {
            Some(Conv::Room(r)) => (Some(r), None),
            Some(Conv::Peer(p)) => (None, Some(p)),
            None => (None, None),
        };
        ClientMsg::Search {
            text,
            room,
            peer,
            before,
            limit: None,
        }
    }

    /// A `search_results` frame.
    pub(super) fn search_results(
        &mut self,
        text: String,
        results: Vec<SearchHit>,
        more: bool,
    ) -> Outcome {
        if let Some(s) = self.search.as_mut().filter(|s| s.text == text) {
            s.older_than = results.last().map(|h| h.id).filter(|_| more);
        }
        let hits = results
            .into_iter()
            .map(|h| Hit {
                id: h.id,
                ts: h.ts,
                conv: match (h.room, h.to) {
                    (Some(r), _) => Conv::Room(r),
                    // A private message: the conversation is with whoever
                    // is not me.
                    (None, Some(to)) if h.from == self.me => Conv::Peer(to),
                    (None, _) => Conv::Peer(h.from.clone()),
                },
                from: h.from,
                text: h.text,
            })
            .collect();
        Outcome::event(Event::SearchResults { text, hits, more })
    }
}
