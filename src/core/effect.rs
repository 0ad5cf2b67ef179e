//! What the core asks of the world, and what comes back: effects out,
//! completions in.
//!
//! The core never touches a disk or does work whose cost grows with client
//! input. When it needs a record made durable, messages read back, a file
//! written or a password hashed, it queues an [`Effect`]; the shell hands it
//! to a worker beside the loop (or, in the simulation, runs it inline) and
//! gives the answer back as a [`Completion`] through
//! [`Core::complete`](super::Core::complete). Effects of one kind are run in
//! the order they were queued: a read queued after a write sees the write.

use super::accounts::{AuthDone, AuthJob};
use super::history::{ConvKey, StoredMsg};
use super::store_ops::{StoreDone, StoreJob};
use crate::store::accounts::Account;
use std::collections::BTreeMap;

/// Something the core wants done off the loop.
#[derive(Debug)]
pub enum Effect {
    /// Append these history records and make them durable (one batch of
    /// the group commit); answered by [`Completion::Logged`].
    Log(LogBatch),
    /// Read one page of messages back from the history log; answered by a
    /// [`Completion::HistoryPage`] (the core asks for the next page when the
    /// connection has taken the last one).
    ReadHistory(HistoryQuery),
    /// A shared-store job (write, commit, read, hash a prefix, ...).
    Store(StoreJob),
    /// Hash or verify a password (tens of milliseconds each).
    Auth(AuthJob),
    /// Replace the accounts file with this snapshot; answered by
    /// [`Completion::AccountsSaved`].
    SaveAccounts {
        ticket: u64,
        accounts: BTreeMap<String, Account>,
    },
    /// Search stored messages; answered by [`Completion::Search`].
    Search(SearchQuery),
    /// Sequence this event through the cluster's backplane (see
    /// `core::cluster`); it comes back as a [`Completion::Cluster`] event,
    /// or a refusal naming `conn`.
    Publish {
        conn: super::ConnId,
        payload: String,
    },
    /// Send this straight to another node of the cluster (not sequenced;
    /// see `core::cluster_files`). Nothing answers it.
    Forward { node: String, payload: String },
}

/// A finished effect, handed back to the core.
#[derive(Debug)]
pub enum Completion {
    /// The batch `seq` is durable (`Ok`), or its write or sync failed and
    /// none of its records count (`Err`, with the reason for the log).
    Logged {
        seq: u64,
        result: Result<(), String>,
    },
    HistoryPage(HistoryPage),
    Store(StoreDone),
    Auth(AuthDone),
    AccountsSaved {
        ticket: u64,
        result: Result<(), String>,
    },
    Search(SearchDone),
    /// Retention removed every stored message with an id up to `through`
    /// (the history worker says so on its own, not in answer to an effect).
    Pruned {
        through: u64,
    },
    /// The cluster's backplane reports (events in sequence order).
    Cluster(crate::cluster::event::Input),
}

/// A full-text search over the conversations a user may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub ticket: u64,
    /// The words, all of which a message must contain (plain text: the
    /// worker quotes each word, so nothing in it is query syntax).
    pub text: String,
    /// Rooms searched (the user is in each now).
    pub rooms: Vec<String>,
    /// The user's private conversations searched, if any.
    pub dms: Option<DmScope>,
    /// Only messages with a smaller id (paging back).
    pub before: u64,
    /// Most hits.
    pub limit: usize,
    /// The newest message id when it was asked: the search waits (a moment
    /// at most) for the index to reach it.
    pub fresh_through: u64,
}

/// Which private conversations a search covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmScope {
    pub user: String,
    /// Only the one with this user.
    pub peer: Option<String>,
    /// Only messages with a larger id (an open name sees nothing from
    /// before its session).
    pub after: u64,
}

/// What a search found, newest first.
#[derive(Debug, Clone, Default)]
pub struct SearchDone {
    pub ticket: u64,
    pub hits: Vec<StoredMsg>,
    /// There are older hits (ask again with `before` the last id).
    pub more: bool,
    pub error: Option<String>,
}

/// History records to commit together (one transaction, see
/// `store::history`).
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// Increases by one per batch, from 1.
    pub seq: u64,
    pub records: Vec<crate::core::history::Record>,
}

/// Which messages to read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Names the query in its pages.
    pub query: u64,
    /// Conversations with the ids wanted: `after < id < before`; of each,
    /// at most `limit` of the newest such.
    pub ranges: Vec<ReadRange>,
    /// Leave out messages from this user (a catch-up skips one's own).
    pub skip_from: Option<String>,
    /// Where this page starts: how many of the query's messages (in the
    /// merged order) earlier pages covered.
    pub skip: usize,
    /// Most messages per page.
    pub page: usize,
}

/// One conversation's part of a [`HistoryQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRange {
    pub conv: ConvKey,
    pub after: u64,
    pub before: u64,
    pub limit: usize,
}

/// One page of messages read back, oldest first across all ranges.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub query: u64,
    pub msgs: Vec<StoredMsg>,
    /// Some range had older messages than its limit let in.
    pub more: bool,
    /// The last page of the query.
    pub done: bool,
    /// Where the next page starts (the next query's `skip`).
    pub next: usize,
    /// The read failed (the page is then the last one).
    pub error: Option<String>,
}

/// What becomes of a frame whose batch failed to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnFail {
    /// A delivery of a message that is not stored: never shown.
    Drop,
    /// The sender's ack: becomes a `store_failed` error for this `cid`.
    Ack {
        re: &'static str,
        cid: Option<String>,
    },
    /// Not about the failed records (a page of older history): sent anyway.
    Send,
}
