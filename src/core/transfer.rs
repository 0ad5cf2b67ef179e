//! File transfers: offers, accept/reject, credit windows, relayed chunks,
//! pause/resume/cancel, interruption and resume. The shared store's uploads
//! and downloads (`transfer_store`) use the same table with the server as one
//! end.
//!
//! The server holds at most one credit window per transfer: a sender may only
//! send what the receiver granted (`file_credit`), and a chunk is forwarded
//! the moment it arrives, as the very bytes the sender framed (the payload is
//! never base64-decoded), into the receiver's connection queue under
//! [`Priority::Chunk`](super::Priority::Chunk), where the write scheduler
//! sends it after every chat frame, round-robin with the connection's other
//! transfers. So the server never needs to stop reading a connection because
//! of a transfer.
//!
//! A transfer whose user end disconnects becomes `interrupted` (not lost);
//! once both ends are back, `file_resume` or the receiver's `file_accept`
//! with the length of its partial file continues it. The sender checks the
//! receiver's prefix against `prefix_sha256` and sends from there, or from 0
//! (a chunk at offset 0 tells the receiver to start over). When the sender
//! is the store, the core has the prefix hashed off the loop (a
//! [`StoreJob::HashPrefix`](super::store_ops::StoreJob::HashPrefix)) and the
//! accept goes on when the hash comes back (see `transfer_store`).
//!
//! This file holds the table, its types and what every handler shares
//! (lookups, `file_state` notices); the frames themselves are handled in
//! `transfer_frames`.

use super::store_ops::Catalog;
use super::transfer_ids::TransferIds;
use super::{ConnId, Core};
use crate::protocol::files::{Role, TransferState};
use crate::protocol::{ErrorCode, ServerMsg};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Size limits and window sizes.
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// Largest file that may be offered, uploaded or stored.
    pub max_file_size: u64,
    /// Most credit a receiver may have outstanding per transfer (bigger
    /// grants are clamped): what the server may hold for one transfer.
    pub max_window: u64,
    /// Credit the server grants an uploader (the store's window).
    pub store_window: u64,
    /// Credit outstanding plus relayed chunks queued, over all the transfers
    /// relayed to one receiver (see `relay`).
    pub relay_budget: u64,
    /// Open (not ended) transfers one user may be an end of.
    pub max_transfers_per_user: usize,
    /// An interrupted transfer nobody resumes within this long fails: an
    /// upload's temp file and quota reservation go with it.
    pub interrupted_ttl_ms: u64,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_file_size: 1 << 40,
            max_window: 2 * 1024 * 1024,
            store_window: 1024 * 1024,
            relay_budget: 2 * 1024 * 1024,
            max_transfers_per_user: 64,
            interrupted_ttl_ms: 10 * 60 * 1000,
        }
    }
}

/// A server-side upload in progress (the store's upload is named by the
/// transfer id): the running hash and what the store worker has yet to do.
pub(crate) struct UploadSide {
    /// SHA-256 of the bytes received so far (they are written in order).
    pub hasher: sha2::Sha256,
    /// Bytes handed to the store worker and not yet written: they count
    /// against the window, so credit bounds what is in flight to the worker.
    pub writing: u64,
    /// Verified and handed to the worker to commit: the commit's answer
    /// ends the transfer (it can no longer be cancelled or aborted).
    pub committing: bool,
}

/// A download's resume waiting for the stored prefix to be hashed.
pub(crate) struct PrefixCheck {
    pub ticket: u64,
    pub offset: u64,
    pub prefix: String,
}

/// One transfer. `None` as an end is the shared store.
pub(crate) struct Transfer {
    pub id: u64,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub state: TransferState,
    /// Bytes granted by the receiver, passed on to the sender, and not yet
    /// used by it.
    pub credit: u64,
    /// Bytes granted by the receiver and not passed on yet: its connection
    /// has too much queued (see `relay`).
    pub banked: u64,
    /// Next offset expected from the sender (or to send, for a download).
    pub next: u64,
    /// The first chunk after an accept may start over at 0.
    pub restart_ok: bool,
    /// Chunks at another offset than `next` are stale (sent before the
    /// sender learnt of an interruption) and dropped quietly, until the
    /// first chunk of the resumed stream arrives; after that (and on a
    /// transfer never interrupted) a wrong offset fails the transfer.
    pub stale_ok: bool,
    /// Offset of the last accept, reported in `file_state`.
    pub accepted: u64,
    pub upload: Option<UploadSide>,
    /// A download's chunk read in flight: (offset, length). At most one.
    pub reading: Option<(u64, usize)>,
    /// A download's accept waiting for its prefix hash. At most one.
    pub hashing: Option<PrefixCheck>,
    /// The receiver's browser takes the bytes as an HTTP download (see
    /// `http_sink`).
    pub sink: Option<super::http_sink::Sink>,
}

impl Transfer {
    /// A new transfer from `sender` to `receiver` (`None`: the store).
    pub(crate) fn new(
        id: u64,
        name: String,
        size: u64,
        sha256: String,
        ends: (Option<String>, Option<String>),
        state: TransferState,
    ) -> Transfer {
        Transfer {
            id,
            name,
            size,
            sha256,
            sender: ends.0,
            receiver: ends.1,
            state,
            credit: 0,
            banked: 0,
            next: 0,
            restart_ok: false,
            stale_ok: false,
            accepted: 0,
            upload: None,
            reading: None,
            hashing: None,
            sink: None,
        }
    }
}

/// Every transfer the server knows, and what it knows of the store.
#[derive(Default)]
pub struct Transfers {
    /// New ids, never used by this run or an earlier one.
    pub(crate) ids: TransferIds,
    pub(crate) map: BTreeMap<u64, Transfer>,
    /// The store's files and reservations; `None`: this server has no store.
    pub(crate) store: Option<Catalog>,
    pub(crate) limits: FileLimits,
    /// Downloads (the store sending), in round-robin order.
    pub(crate) downloads: VecDeque<u64>,
    /// Last ticket given to a prefix hash.
    pub(crate) hash_tickets: u64,
    /// For each user with open transfers, the session token of the session
    /// they belong to (see `Core::transfers_orphaned`).
    pub(crate) owners: HashMap<String, String>,
    /// Transfers whose end (the name here) is a new session of an open
    /// name, not yet confirmed by the other end: to that end they do not
    /// exist until the other end resumes them.
    pub(crate) held: HashMap<u64, String>,
}

impl Core {
    /// A transfer id never used before, on this run or an earlier one, or
    /// `None` while the history cannot record new ones (see
    /// [`super::transfer_ids`]).
    pub(crate) fn new_transfer_id(&mut self) -> Option<u64> {
        // In a cluster an offer's id is its event's sequence number, the
        // same on every node; a node's own ids (uploads, downloads) are
        // kept apart from those by bit 52 (still below 2^53).
        if let Some(seq) = self.applying_seq() {
            return Some(seq);
        }
        let tag = if self.cluster.is_some() { 1 << 52 } else { 0 };
        let id = self.transfers.ids.take(&mut self.history)?;
        Some(tag | id)
    }

    /// Start-up: ids below `next` may have been used by an earlier run;
    /// ids below `durable` are recorded in the history as this run's.
    pub fn set_next_transfer_id(&mut self, next: u64, durable: u64) {
        self.transfers.ids = TransferIds::start(next, durable);
    }
}

/// Why a new transfer was refused when [`Core::new_transfer_id`] has none.
pub(crate) const NO_TRANSFER_ID: &str =
    "the server could not record a new transfer id on its disk (full or failing); try again later";

/// A transfer end that is the store, for [`Transfer::new`].
pub(crate) const STORE: Option<String> = None;

/// Extra fields for a `file_state` notification.
#[derive(Default)]
pub(crate) struct Note {
    pub by: Option<String>,
    pub reason: Option<String>,
    pub prefix_sha256: Option<String>,
    /// `cid` for the sender / the receiver.
    pub cids: (Option<String>, Option<String>),
    /// Tell only this user, not both ends.
    pub only: Option<String>,
}

impl Core {
    /// Give the core what the file store holds (from
    /// `store::files::DiskStore::catalog`; `None`: no store) and the limits.
    pub fn set_file_store(&mut self, store: Option<Catalog>, limits: FileLimits) {
        self.transfers.store = store;
        self.transfers.limits = limits;
    }
    /// The connection of an online user.
    pub(crate) fn conn_of(&self, name: &str) -> Option<ConnId> {
        self.names
            .get(name)
            .copied()
            .filter(|c| self.sessions.get(c).is_some_and(|s| !s.closing))
    }

    /// Whether an end (a user, or the store) is there.
    pub(crate) fn end_online(&self, end: &Option<String>) -> bool {
        end.as_ref().is_none_or(|n| self.conn_of(n).is_some())
    }

    /// Tell both user ends where transfer `id` is.
    pub(crate) fn notify(&mut self, id: u64, note: Note) {
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        let mut sends = Vec::new();
        for (role, me, peer, cid) in [
            (Role::Sender, &t.sender, &t.receiver, &note.cids.0),
            (Role::Receiver, &t.receiver, &t.sender, &note.cids.1),
        ] {
            if note.only.is_some() && note.only != *me {
                continue;
            }
            if me.is_some() && self.transfers.held.get(&id) == me.as_ref() {
                continue; // not theirs until the other end confirms
            }
            let Some(conn) = me.as_deref().and_then(|n| self.conn_of(n)) else {
                continue;
            };
            let msg = ServerMsg::FileState {
                id,
                state: t.state,
                role,
                peer: peer.clone(),
                name: t.name.clone(),
                size: t.size,
                sha256: t.sha256.clone(),
                offset: if t.state == TransferState::InProgress {
                    t.accepted
                } else {
                    t.next
                },
                prefix_sha256: note.prefix_sha256.clone(),
                by: note.by.clone(),
                reason: note.reason.clone(),
                cid: cid.clone(),
            };
            sends.push((conn, msg));
        }
        for (conn, msg) in sends {
            self.send(conn, &msg);
        }
    }

    /// Look up transfer `id` for `conn`'s user: which end they are. Errors go to `conn`.
    pub(crate) fn my_transfer(&mut self, conn: ConnId, id: u64, re: &str) -> Option<Role> {
        let me = self.name_of(conn).map(str::to_string);
        let held = self
            .transfers
            .held
            .get(&id)
            .is_some_and(|h| Some(h) == me.as_ref());
        let role = self.transfers.map.get(&id).filter(|_| !held).and_then(|t| {
            if t.sender.is_some() && t.sender == me {
                Some(Role::Sender)
            } else if t.receiver.is_some() && t.receiver == me {
                Some(Role::Receiver)
            } else {
                None
            }
        });
        if role.is_none() {
            self.error(
                conn,
                ErrorCode::UnknownTransfer,
                &format!("no transfer {id} of yours; /transfers lists them"),
                re,
            );
        }
        role
    }

    pub(crate) fn state_error(&mut self, conn: ConnId, id: u64, what: &str, re: &str) {
        let state = self
            .transfers
            .map
            .get(&id)
            .map_or("gone".to_string(), |t| t.state.to_string());
        self.error(
            conn,
            ErrorCode::TransferState,
            &format!("cannot {what} transfer {id}: it is {state}"),
            re,
        );
    }
}
