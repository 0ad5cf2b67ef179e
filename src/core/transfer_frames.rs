//! The file-transfer frames a user end sends, and what the core does with
//! each: the dispatch of `file_*`, `upload`, `list_files` and `download`
//! frames (with the per-user cap on open transfers), offers, accepts (at an
//! offset, after a prefix check), the ends (reject, cancel, failed, done),
//! credit grants and relayed chunks; and an interrupted transfer expiring.
//! The table and its types are in `transfer`.

use super::effect::Effect;
use super::filename;
use super::store_ops::StoreJob;
use super::transfer::{Note, Transfer, NO_TRANSFER_ID};
use super::{ConnId, Core, Now, Priority};
use crate::protocol::binary::ChunkData;
use crate::protocol::files::{Role, TransferState, MAX_CHUNK};
use crate::protocol::{ClientMsg, ErrorCode};
use std::rc::Rc;

impl Core {
    /// One file-transfer frame from `conn`.
    pub(crate) fn file_msg(&mut self, conn: ConnId, msg: ClientMsg, now: Now) {
        if self.cluster.is_some() && self.forward_file_frame(conn, &msg) {
            return; // about a transfer another node runs
        }
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
                    self.file_chunk(conn, id, offset, ChunkData::Base64(&data), raw);
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
            ClientMsg::ListFiles {} => self.list_files(conn),
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
        data: ChunkData,
        raw: Rc<[u8]>,
        _now: Now,
    ) {
        let state = self
            .sessions
            .get(&conn)
            .map(|s| (s.closing, s.name.is_some()));
        match state {
            Some((true, _)) => {}
            Some((_, false)) => self.error(
                conn,
                ErrorCode::NotLoggedIn,
                "log in first: the first frame must be hello",
                "file_chunk",
            ),
            Some(_) if self.cluster.is_some() && self.forward_raw(conn, id, &raw) => {}
            Some(_) => self.file_chunk(conn, id, offset, data, raw),
            None => {}
        }
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
        let Some(id) = self.new_transfer_id() else {
            return fail(self, ErrorCode::StoreFailed, NO_TRANSFER_ID.into());
        };
        let ends = (Some(me), Some(to));
        let t = Transfer::new(id, name, size, sha256, ends, TransferState::Pending);
        self.add_transfer(t);
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
            Some(Role::Receiver) => {
                if self.confirm_held(id) {
                    return;
                }
            }
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
        t.stale_ok = t.state != TransferState::Pending;
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
        // Its HTTP download ends with it: whole after the last chunk, short
        // (so the browser marks it failed) otherwise.
        if let Some(sink) = t.sink.take() {
            self.close(sink.conn, format!("transfer {id}: {to}"));
        }
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
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
        self.transfers.held.remove(&id);
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
        data: ChunkData,
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
        let len = data.raw_len();
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
            let expected = t.next;
            if t.stale_ok {
                log::debug!(
                    "transfer {id}: dropping a stale chunk at {offset} (expected {expected})"
                );
                return;
            }
            // Dropping it quietly would leave the sender waiting forever.
            self.error(
                conn,
                ErrorCode::TransferState,
                &format!(
                    "transfer {id} expected its next chunk at offset {expected}, not {offset}; the transfer failed"
                ),
                re,
            );
            self.finish(
                id,
                TransferState::Failed,
                None,
                Some(format!(
                    "the sender sent a chunk at offset {offset} where {expected} was expected"
                )),
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
        t.stale_ok = false;
        if t.sink.is_some() {
            return self.sink_chunk(id, data);
        }
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
