//! File transfers: offers, accept/reject, credit windows, relayed chunks,
//! pause/resume/cancel, interruption and resume. The shared store's uploads
//! and downloads (`transfer_store`) use the same table with the server as one
//! end.
//!
//! The server holds at most one credit window per transfer: a sender may only
//! send what the receiver granted (`file_credit`), and a chunk is forwarded
//! the moment it arrives, as the very bytes the sender framed (the payload is
//! never base64-decoded), into the receiver's connection queue under
//! [`Priority::Chunk`], where the write scheduler sends it after every chat
//! frame, round-robin with the connection's other transfers. So the server
//! never needs to stop reading a connection because of a transfer.
//!
//! A transfer whose user end disconnects becomes `interrupted` (not lost);
//! once both ends are back, `file_resume` or the receiver's `file_accept`
//! with the length of its partial file continues it. The sender checks the
//! receiver's prefix against `prefix_sha256` and sends from there, or from 0
//! (a chunk at offset 0 tells the receiver to start over). When the sender
//! is the store, the core has the prefix hashed off the loop (a
//! [`StoreJob::HashPrefix`](super::store_ops::StoreJob::HashPrefix)) and the
//! accept goes on when the hash comes back (see `transfer_store`).

use super::{ConnId, Core, Now, Priority};
use crate::protocol::files::{base64_raw_len, Role, TransferState, MAX_CHUNK};
use crate::protocol::{ClientMsg, ErrorCode, ServerMsg};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::effect::Effect;
use super::filename;
use super::store_ops::{Catalog, StoreJob};

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
    /// Offset of the last accept, reported in `file_state`.
    pub accepted: u64,
    pub upload: Option<UploadSide>,
    /// A download's chunk read in flight: (offset, length). At most one.
    pub reading: Option<(u64, usize)>,
    /// A download's accept waiting for its prefix hash. At most one.
    pub hashing: Option<PrefixCheck>,
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
            accepted: 0,
            upload: None,
            reading: None,
            hashing: None,
        }
    }
}

/// Every transfer the server knows, and what it knows of the store.
#[derive(Default)]
pub struct Transfers {
    next_id: u64,
    pub(crate) map: BTreeMap<u64, Transfer>,
    /// The store's files and reservations; `None`: this server has no store.
    pub(crate) store: Option<Catalog>,
    pub(crate) limits: FileLimits,
    /// Downloads (the store sending), in round-robin order.
    pub(crate) downloads: VecDeque<u64>,
    /// Last ticket given to a prefix hash.
    pub(crate) hash_tickets: u64,
}

impl Transfers {
    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

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

    /// One file-transfer frame from `conn`.
    pub(crate) fn file_msg(&mut self, conn: ConnId, msg: ClientMsg, now: Now) {
        if matches!(
            msg,
            ClientMsg::FileOffer { .. } | ClientMsg::Upload { .. } | ClientMsg::Download { .. }
        ) && !self.may_open_transfer(conn, &msg)
        {
            return;
        }
        match msg {
            ClientMsg::FileChunk { .. } => {
                // Not from the shell's raw path (e.g. a unit test): frame it again.
                let raw = crate::protocol::encode_shared(&msg);
                if let ClientMsg::FileChunk { id, offset, data } = msg {
                    self.file_chunk(conn, id, offset, &data, raw);
                }
            }
            ClientMsg::FileOffer {
                to,
                name,
                size,
                sha256,
                cid,
            } => self.file_offer(conn, to, name, size, sha256, cid),
            ClientMsg::FileAccept {
                id,
                offset,
                prefix_sha256,
            } => self.file_accept(conn, id, offset, prefix_sha256),
            ClientMsg::FileReject { id } => self.file_end(conn, id, TransferState::Rejected, None),
            ClientMsg::FileCancel { id } => self.file_end(conn, id, TransferState::Cancelled, None),
            ClientMsg::FileFailed { id, reason } => {
                self.file_end(conn, id, TransferState::Failed, Some(reason))
            }
            ClientMsg::FileDone { id } => self.file_end(conn, id, TransferState::Completed, None),
            ClientMsg::FileCredit { id, bytes } => self.file_credit(conn, id, bytes),
            ClientMsg::FilePause { id } => self.file_pause(conn, id),
            ClientMsg::FileResume { id } => self.file_resume(conn, id),
            ClientMsg::Upload {
                name,
                size,
                sha256,
                cid,
            } => self.upload(conn, name, size, sha256, cid, now),
            ClientMsg::ListFiles => self.list_files(conn),
            ClientMsg::Download { name, cid } => self.download(conn, name, cid),
            _ => {}
        }
    }

    /// A `file_chunk` from the shell, with the frame's bytes as received
    /// (forwarded as they are, never decoded). `_now` is unused: a chunk
    /// needs no time (an upload's timestamp is taken when its last write
    /// completes).
    pub fn handle_chunk(
        &mut self,
        conn: ConnId,
        id: u64,
        offset: u64,
        data: &str,
        raw: Rc<[u8]>,
        _now: Now,
    ) {
        match self.sessions.get(&conn) {
            Some(s) if s.closing => {}
            Some(s) if s.name.is_none() => self.error(
                conn,
                ErrorCode::NotLoggedIn,
                "log in first: the first frame must be hello",
                "file_chunk",
            ),
            Some(_) => self.file_chunk(conn, id, offset, data, raw),
            None => {}
        }
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
        let role = self.transfers.map.get(&id).and_then(|t| {
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

    fn file_offer(
        &mut self,
        conn: ConnId,
        to: String,
        name: String,
        size: u64,
        sha256: String,
        cid: Option<String>,
    ) {
        let me = self.name_of(conn).unwrap_or_default().to_string();
        let re = "file_offer";
        let fail = |core: &mut Core, code, msg: String| {
            core.error_cid(conn, code, msg, re, cid.clone());
        };
        if let Err(e) = filename::check(&name) {
            return fail(self, ErrorCode::BadFileName, e);
        }
        if let Err(e) = filename::check_sha256(&sha256) {
            return fail(self, ErrorCode::Invalid, e);
        }
        if size > self.transfers.limits.max_file_size {
            let max = self.transfers.limits.max_file_size;
            return fail(
                self,
                ErrorCode::FileTooLarge,
                format!(
                    "\"{name}\" is {size} bytes; this server takes files of at most {max} bytes"
                ),
            );
        }
        if to == me {
            return fail(
                self,
                ErrorCode::Invalid,
                "you cannot send a file to yourself".into(),
            );
        }
        if self.conn_of(&to).is_none() {
            return fail(
                self,
                ErrorCode::UnknownUser,
                format!("no user \"{to}\" is online; files go only to someone online"),
            );
        }
        let id = self.transfers.new_id();
        let ends = (Some(me), Some(to));
        let t = Transfer::new(id, name, size, sha256, ends, TransferState::Pending);
        self.transfers.map.insert(id, t);
        self.notify(
            id,
            Note {
                cids: (cid, None),
                ..Note::default()
            },
        );
    }

    fn file_accept(&mut self, conn: ConnId, id: u64, offset: u64, prefix: Option<String>) {
        let re = "file_accept";
        match self.my_transfer(conn, id, re) {
            Some(Role::Receiver) => {}
            Some(Role::Sender) => {
                return self.error(
                    conn,
                    ErrorCode::TransferState,
                    &format!("transfer {id} is yours to send; only its receiver accepts it"),
                    re,
                )
            }
            None => return,
        }
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        if !matches!(
            t.state,
            TransferState::Pending | TransferState::Interrupted | TransferState::Resuming
        ) {
            return self.state_error(conn, id, "accept", re);
        }
        if offset > t.size {
            let size = t.size;
            return self.error(
                conn,
                ErrorCode::Invalid,
                &format!("offset {offset} is past the end of the {size}-byte file"),
                re,
            );
        }
        if !self.end_online(&t.sender) {
            let who = t.sender.clone().unwrap_or_default();
            return self.error(
                conn,
                ErrorCode::TransferState,
                &format!("{who} is offline; transfer {id} can continue once they are back"),
                re,
            );
        }
        if t.sender.is_none() && offset > 0 {
            // From the store: the prefix is checked off the loop.
            return self.store_accept(conn, id, offset, prefix);
        }
        self.accept_at(id, offset, prefix);
    }

    /// The receiver's accept goes on from `start` (the offset asked for, or
    /// 0 if its prefix did not match).
    pub(crate) fn accept_at(&mut self, id: u64, start: u64, prefix: Option<String>) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let from_store = t.sender.is_none();
        t.hashing = None; // an earlier accept's check no longer counts
        t.state = TransferState::InProgress;
        t.credit = 0;
        t.banked = 0;
        t.next = start;
        t.accepted = start;
        t.restart_ok = start > 0;
        if from_store && !self.transfers.downloads.contains(&id) {
            self.transfers.downloads.push_back(id);
        }
        self.notify(
            id,
            Note {
                prefix_sha256: prefix.filter(|_| start > 0),
                ..Note::default()
            },
        );
    }

    /// Final states: rejected (receiver, pending), completed and failed
    /// (receiver), cancelled (either side).
    fn file_end(&mut self, conn: ConnId, id: u64, to: TransferState, reason: Option<String>) {
        let re = match to {
            TransferState::Rejected => "file_reject",
            TransferState::Completed => "file_done",
            TransferState::Failed => "file_failed",
            _ => "file_cancel",
        };
        let Some(role) = self.my_transfer(conn, id, re) else {
            return;
        };
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        if t.upload.as_ref().is_some_and(|u| u.committing) {
            return self.error(
                conn,
                ErrorCode::TransferState,
                &format!(
                    "transfer {id} is complete and being saved; it cannot end any other way now"
                ),
                re,
            );
        }
        let allowed = match to {
            TransferState::Rejected => role == Role::Receiver && t.state == TransferState::Pending,
            TransferState::Completed => {
                role == Role::Receiver
                    && matches!(t.state, TransferState::InProgress | TransferState::Paused)
                    && t.next == t.size
            }
            TransferState::Failed => role == Role::Receiver && !t.state.is_final(),
            _ => !t.state.is_final(),
        };
        if !allowed {
            let what = match to {
                TransferState::Rejected => "reject",
                TransferState::Completed => "complete",
                TransferState::Failed => "fail",
                _ => "cancel",
            };
            if role == Role::Sender && to != TransferState::Cancelled {
                return self.error(
                    conn,
                    ErrorCode::TransferState,
                    &format!("only the receiver of transfer {id} can {what} it"),
                    re,
                );
            }
            return self.state_error(conn, id, what, re);
        }
        let by = self.name_of(conn).map(str::to_string);
        self.finish(id, to, by, reason);
    }

    /// Put a transfer in a final state, tell both ends, forget it.
    pub(crate) fn finish(
        &mut self,
        id: u64,
        to: TransferState,
        by: Option<String>,
        reason: Option<String>,
    ) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        t.state = to;
        log::info!(
            "transfer {id} ({}): {to}{}",
            super::logsafe::Safe(&t.name),
            reason
                .as_deref()
                .map(|r| format!(": {}", super::logsafe::Safe(r)))
                .unwrap_or_default()
        );
        if let Some(up) = t.upload.take() {
            // A commit under way decides for itself (its answer releases
            // the reservation); anything else is thrown away, after the
            // writes queued before it.
            if !up.committing {
                self.effects
                    .push_back(Effect::Store(StoreJob::Abort { upload: id }));
                if let Some(store) = self.transfers.store.as_mut() {
                    store.release(id);
                }
            }
        }
        self.notify(
            id,
            Note {
                by,
                reason,
                ..Note::default()
            },
        );
        self.transfers.map.remove(&id);
        self.transfers.downloads.retain(|d| *d != id);
    }

    fn file_credit(&mut self, conn: ConnId, id: u64, bytes: u64) {
        let re = "file_credit";
        match self.my_transfer(conn, id, re) {
            Some(Role::Receiver) => {}
            Some(Role::Sender) => {
                return self.error(
                    conn,
                    ErrorCode::TransferState,
                    &format!("only the receiver of transfer {id} grants credit"),
                    re,
                )
            }
            None => return,
        }
        let max = self.transfers.limits.max_window;
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        if !matches!(t.state, TransferState::InProgress | TransferState::Paused) {
            return; // late credit for an interrupted or ended transfer
        }
        if t.sender.is_none() {
            // A download: the store pulls one chunk at a time anyway.
            t.credit += bytes.min(max.saturating_sub(t.credit));
            return;
        }
        // Banked (at most one window), passed on as the receiver drains.
        t.banked = (t.banked + bytes).min(max.saturating_sub(t.credit));
        self.relay_credit(id);
    }

    /// A chunk from `conn`; `raw` is the whole frame as received.
    pub(crate) fn file_chunk(
        &mut self,
        conn: ConnId,
        id: u64,
        offset: u64,
        data: &str,
        raw: Rc<[u8]>,
    ) {
        let re = "file_chunk";
        match self.my_transfer(conn, id, re) {
            Some(Role::Sender) => {}
            Some(Role::Receiver) => {
                return self.error(
                    conn,
                    ErrorCode::TransferState,
                    &format!("you receive transfer {id}; only its sender sends chunks"),
                    re,
                )
            }
            None => return,
        }
        let len = base64_raw_len(data);
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        if !matches!(t.state, TransferState::InProgress | TransferState::Paused) {
            log::debug!(
                "transfer {id}: dropping a chunk sent before it became {}",
                t.state
            );
            return;
        }
        if !(offset == t.next || (offset == 0 && t.restart_ok)) {
            log::debug!(
                "transfer {id}: dropping a stale chunk at {offset} (expected {})",
                t.next
            );
            return;
        }
        if len == 0 || len > MAX_CHUNK as u64 || offset + len > t.size {
            let size = t.size;
            self.error(
                conn,
                ErrorCode::Invalid,
                &format!(
                    "chunk of {len} bytes at {offset} does not fit: chunks hold 1 to {MAX_CHUNK} bytes within the {size}-byte file"
                ),
                re,
            );
            return;
        }
        if len > t.credit {
            let credit = t.credit;
            self.error(
                conn,
                ErrorCode::CreditExceeded,
                &format!(
                    "chunk of {len} bytes exceeds the {credit} bytes of credit the receiver granted for transfer {id}"
                ),
                re,
            );
            self.finish(
                id,
                TransferState::Failed,
                None,
                Some("the sender sent more than the receiver granted".into()),
            );
            return;
        }
        t.credit -= len;
        t.next = offset + len;
        t.restart_ok = false;
        match t.receiver.clone() {
            Some(receiver) => {
                if let Some(c) = self.conn_of(&receiver) {
                    // In order behind whatever waits for that connection.
                    self.emit(c, super::Output::Frame(raw, Priority::Chunk(id)), None);
                    self.relay.push(c, id, len);
                }
            }
            None => self.store_chunk(id, offset, data),
        }
    }
}

impl Core {
    /// Whether the user on `conn` may open one more transfer; if not, told.
    fn may_open_transfer(&mut self, conn: ConnId, msg: &ClientMsg) -> bool {
        let Some(me) = self.name_of(conn).map(str::to_string) else {
            return false;
        };
        let max = self.transfers.limits.max_transfers_per_user;
        let open = self
            .transfers
            .map
            .values()
            .filter(|t| !t.state.is_final())
            .filter(|t| t.sender.as_deref() == Some(&me) || t.receiver.as_deref() == Some(&me))
            .count();
        if open < max {
            return true;
        }
        let cid = msg.cid().map(str::to_string);
        let text = format!(
            "you are an end of {open} open transfers, the most this server allows; finish or cancel some first"
        );
        self.error_cid(conn, ErrorCode::TooManyTransfers, text, msg.kind(), cid);
        false
    }

    /// Transfer `id` was interrupted `interrupted_ttl_ms` ago: if nobody
    /// resumed it, it fails (an upload's temp file and reservation go).
    pub(crate) fn transfer_expired(&mut self, id: u64) {
        if !self
            .transfers
            .map
            .get(&id)
            .is_some_and(|t| t.state == TransferState::Interrupted)
        {
            return;
        }
        let mins = self.transfers.limits.interrupted_ttl_ms / 60_000;
        let reason = format!("nobody resumed it within {mins} min");
        self.finish(id, TransferState::Failed, None, Some(reason));
    }
}
