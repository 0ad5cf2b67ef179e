//! The shared store as one end of a transfer: `upload`, `list_files` and
//! `download`, with every disk touch a [`StoreJob`] run by the store worker.
//!
//! - `list_files`, a `download`'s lookup and an `upload`'s name and quota
//!   checks answer from the [`Catalog`](super::store_ops::Catalog) in memory.
//! - Upload: each chunk is hashed as it arrives (bounded by the chunk) and
//!   handed to the worker as a `Write`; its credit goes back to the uploader
//!   only when the write completed, so the window bounds the bytes in flight
//!   to the worker. When the last write is done and the SHA-256 matches, a
//!   `Commit` (fsync, rename, index) publishes the file; its answer ends the
//!   transfer. A failed write or commit fails the upload with its reason.
//! - Download: the shell calls [`Core::pull_chunk`] when a connection's chunk
//!   slot is free; that queues a `Read` of the next chunk (at most one per
//!   download), and the chunk frame goes out when the read completes, so
//!   memory stays constant for any file size.
//! - A download resumed at `offset` with `prefix_sha256` has the stored
//!   prefix hashed by the worker (`HashPrefix`, at most one per transfer)
//!   and the accept goes on when the hash comes back: from `offset` if it
//!   matches, from 0 if not. A whole-file prefix is compared with the
//!   file's SHA-256, known in memory, without hashing anything.

use super::effect::Effect;
use super::store_ops::{StoreDone, StoreJob, StoredFile};
use super::transfer::{Note, PrefixCheck, Transfer, UploadSide, NO_TRANSFER_ID, STORE};
use super::{ConnId, Core, Now, Output, Priority};
use crate::core::logsafe::Safe;
use crate::protocol::binary::{self, ChunkData};
use crate::protocol::files::{hex, TransferState, MAX_CHUNK};
use crate::protocol::{encode_shared, ErrorCode, ServerMsg};
use crate::store::files::StoreError;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::filename;

/// Most prefix hashes one user may have in flight.
pub const HASHES_PER_USER: usize = 2;
/// Most prefix hashes in flight over the whole server.
pub const HASHES_IN_FLIGHT: usize = 16;

impl Core {
    pub(crate) fn upload(
        &mut self,
        conn: ConnId,
        name: String,
        size: u64,
        sha256: String,
        cid: Option<String>,
        now: Now,
    ) {
        let re = "upload";
        let me = self.name_of(conn).unwrap_or_default().to_string();
        let fail = |core: &mut Core, code, msg: String| {
            core.error_cid(conn, code, msg, re, cid.clone());
        };
        if let Err(e) = filename::check(&name) {
            return fail(self, ErrorCode::BadFileName, e);
        }
        if let Err(e) = filename::check_sha256(&sha256) {
            return fail(self, ErrorCode::Invalid, e);
        }
        let max = self.transfers.limits.max_file_size;
        if size > max {
            return fail(
                self,
                ErrorCode::FileTooLarge,
                format!(
                    "\"{name}\" is {size} bytes; this server stores files of at most {max} bytes"
                ),
            );
        }
        if self.transfers.store.is_none() {
            return fail(
                self,
                ErrorCode::Internal,
                "this server has no file store".into(),
            );
        }
        if self.stored_elsewhere_as(&name) {
            let msg = format!(
                "\"{name}\" is already in the shared store (on another node of this cluster); pick another name"
            );
            return fail(self, ErrorCode::FileExists, msg);
        }
        let Some(store) = self.transfers.store.as_ref() else {
            return;
        };
        if let Err(e) = store.check(&name, size) {
            let code = match e {
                StoreError::Exists(_) | StoreError::Uploading(_) => ErrorCode::FileExists,
                StoreError::Quota { .. } => ErrorCode::QuotaExceeded,
                StoreError::NotFound(_) => ErrorCode::NoSuchFile,
                StoreError::Io(_) | StoreError::Unreadable(_) => ErrorCode::Internal,
            };
            return fail(self, code, e.to_string());
        }
        let Some(id) = self.new_transfer_id() else {
            return fail(self, ErrorCode::StoreFailed, NO_TRANSFER_ID.into());
        };
        if let Some(store) = self.transfers.store.as_mut() {
            store.reserve(id, &name, size);
        }
        let job = StoreJob::Begin {
            upload: id,
            name: name.clone(),
            size,
        };
        self.effects.push_back(Effect::Store(job));
        let window = self.transfers.limits.store_window;
        let ends = (Some(me), STORE);
        let mut t = Transfer::new(id, name, size, sha256, ends, TransferState::InProgress);
        t.credit = window;
        t.upload = Some(UploadSide {
            hasher: Sha256::new(),
            writing: 0,
            committing: false,
        });
        self.add_transfer(t);
        self.notify(
            id,
            Note {
                cids: (cid, None),
                ..Note::default()
            },
        );
        if size == 0 {
            self.store_complete(id, now);
        } else {
            self.send(conn, &ServerMsg::FileCredit { id, bytes: window });
        }
    }

    pub(crate) fn list_files(&mut self, conn: ConnId) {
        let mut files = self
            .transfers
            .store
            .as_ref()
            .map(|s| s.list())
            .unwrap_or_default();
        // In a cluster, the other nodes' files too.
        files.extend(self.remote_file_list());
        files.sort_by(|a, b| a.name.cmp(&b.name));
        self.send(conn, &ServerMsg::FileList { files });
    }

    pub(crate) fn download(&mut self, conn: ConnId, name: String, cid: Option<String>) {
        let me = self.name_of(conn).unwrap_or_default().to_string();
        let found = self.transfers.store.as_ref().and_then(|s| s.lookup(&name));
        let Some(file) = found else {
            let msg = StoreError::NotFound(name).to_string();
            return self.error_cid(conn, ErrorCode::NoSuchFile, msg, "download", cid);
        };
        let (size, sha256) = (file.size, file.sha256.clone());
        let Some(id) = self.new_transfer_id() else {
            let msg = NO_TRANSFER_ID.to_string();
            return self.error_cid(conn, ErrorCode::StoreFailed, msg, "download", cid);
        };
        let ends = (STORE, Some(me));
        let t = Transfer::new(id, name, size, sha256, ends, TransferState::Pending);
        self.add_transfer(t);
        self.notify(
            id,
            Note {
                cids: (None, cid),
                ..Note::default()
            },
        );
    }

    /// The receiver of download `id` accepts at `offset` > 0 (every other
    /// check made): go on from there if the stored prefix hashes to
    /// `prefix`, else from 0. Hashing runs on the store worker.
    pub(crate) fn store_accept(
        &mut self,
        conn: ConnId,
        id: u64,
        offset: u64,
        prefix: Option<String>,
    ) {
        let re = "file_accept";
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        let Some(prefix) = prefix else {
            return self.accept_at(id, 0, None); // nothing to check against
        };
        if offset == t.size {
            // The whole file: its hash is known.
            let start = if prefix == t.sha256 { offset } else { 0 };
            return self.accept_at(id, start, Some(prefix));
        }
        if t.hashing.is_some() {
            let m =
                format!("the resume point of transfer {id} is being checked; wait for the answer");
            return self.error(conn, ErrorCode::SlowDown, &m, re);
        }
        let me = t.receiver.clone();
        let busy = self.transfers.map.values().filter(|t| t.hashing.is_some());
        let (mine, all) = busy.fold((0, 0), |(m, a), t| {
            (m + usize::from(t.receiver == me), a + 1)
        });
        if mine >= HASHES_PER_USER || all >= HASHES_IN_FLIGHT {
            let m = "too many resumes being checked at once; wait for their answers before asking again";
            return self.error(conn, ErrorCode::SlowDown, m, re);
        }
        self.transfers.hash_tickets += 1;
        let ticket = self.transfers.hash_tickets;
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        t.hashing = Some(PrefixCheck {
            ticket,
            offset,
            prefix,
        });
        let job = StoreJob::HashPrefix {
            transfer: id,
            ticket,
            name: t.name.clone(),
            len: offset,
        };
        self.effects.push_back(Effect::Store(job));
    }

    /// An upload's chunk (already checked against credit and offset):
    /// decode, hash, and hand it to the store worker to write.
    pub(crate) fn store_chunk(&mut self, id: u64, offset: u64, data: ChunkData) {
        let bytes = match data.bytes() {
            Ok(b) => b.into_owned(),
            Err(e) => {
                let reason = format!("a chunk was not valid ({e})");
                return self.finish(id, TransferState::Failed, None, Some(reason));
            }
        };
        let Some(up) = self
            .transfers
            .map
            .get_mut(&id)
            .and_then(|t| t.upload.as_mut())
        else {
            return;
        };
        if offset == 0 {
            up.hasher = Sha256::new(); // first chunk, or the sender started over
        }
        up.hasher.update(&bytes);
        up.writing += bytes.len() as u64;
        let job = StoreJob::Write {
            upload: id,
            offset,
            data: bytes,
        };
        self.effects.push_back(Effect::Store(job));
    }

    /// A store job finished.
    pub(crate) fn store_done(&mut self, done: StoreDone, now: Now) {
        match done {
            StoreDone::Begun { upload, result } => {
                if let Err(e) = result {
                    self.store_failed(upload, e);
                }
            }
            StoreDone::Written {
                upload,
                len,
                result,
            } => self.store_written(upload, len, result, now),
            StoreDone::Committed {
                upload,
                file,
                result,
            } => self.store_committed(upload, file, result),
            StoreDone::Read {
                transfer,
                offset,
                result,
            } if transfer & super::http_files::HTTP_BIT != 0 => {
                self.http_read(transfer, offset, result)
            }
            StoreDone::Read {
                transfer,
                offset,
                result,
            } => self.store_read(transfer, offset, result),
            StoreDone::Hashed {
                transfer,
                ticket,
                result,
            } => self.store_hashed(transfer, ticket, result),
        }
    }

    /// Upload `id` cannot go on: fail it, unless it is already gone. (If its
    /// commit is queued, that commit fails too, and its answer releases the
    /// reservation.)
    fn store_failed(&mut self, id: u64, e: StoreError) {
        let live = self
            .transfers
            .map
            .get(&id)
            .is_some_and(|t| t.upload.is_some());
        if live {
            log::warn!("store: upload {id} failed: {}", Safe(&e.to_string()));
            self.finish(id, TransferState::Failed, None, Some(e.to_string()));
        }
    }

    /// A write of upload `id` finished: give its credit back, or publish
    /// the file if that was the last one.
    fn store_written(&mut self, id: u64, len: u64, result: Result<(), StoreError>, now: Now) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return; // ended meanwhile
        };
        let Some(up) = t.upload.as_mut() else {
            return;
        };
        up.writing = up.writing.saturating_sub(len);
        if let Err(e) = result {
            return self.store_failed(id, e);
        }
        if t.next == t.size {
            if up.writing == 0 && !up.committing {
                self.store_complete(id, now);
            }
            return; // nothing left to grant credit for
        }
        self.store_refill(id);
    }

    /// Every byte of an upload is written: verify and commit, or fail.
    fn store_complete(&mut self, id: u64, now: Now) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let Some(up) = t.upload.as_mut() else {
            return;
        };
        let got = hex(&up.hasher.clone().finalize());
        if got != t.sha256 {
            let reason = format!(
                "checksum mismatch: the data received hashes to {got}, not {}",
                t.sha256
            );
            return self.finish(id, TransferState::Failed, None, Some(reason));
        }
        up.committing = true;
        let file = StoredFile {
            name: t.name.clone(),
            size: t.size,
            sha256: got,
            uploader: t.sender.clone().unwrap_or_default(),
            ts: now.unix_ms,
        };
        let job = StoreJob::Commit { upload: id, file };
        self.effects.push_back(Effect::Store(job));
    }

    /// A commit finished: the file is in the store (whatever became of its
    /// transfer), or the upload failed.
    fn store_committed(&mut self, id: u64, file: StoredFile, result: Result<(), StoreError>) {
        if let Some(store) = self.transfers.store.as_mut() {
            store.release(id);
            if result.is_ok() {
                store.publish(file.clone());
            }
        }
        if result.is_ok() {
            self.announce_upload(&file);
            self.cluster_stored(&file, Now::default());
        }
        if let Some(up) = self
            .transfers
            .map
            .get_mut(&id)
            .and_then(|t| t.upload.as_mut())
        {
            up.committing = false; // the commit is over, whichever way
        }
        match result {
            Ok(()) => self.finish(id, TransferState::Completed, None, None),
            Err(e) => {
                log::warn!(
                    "store: upload {id} could not be committed: {}",
                    Safe(&e.to_string())
                );
                self.finish(id, TransferState::Failed, None, Some(e.to_string()));
            }
        }
    }

    /// A file is in the store: everyone who shares a room with its uploader
    /// (the uploader too, if online) gets an `upload` notice.
    pub(crate) fn announce_upload(&mut self, file: &StoredFile) {
        let Some(conn) = self.conn_of(&file.uploader) else {
            return;
        };
        let audience = self.audience_of(conn);
        let text = format!(
            "{} uploaded {} ({}) to the shared store; /download {} fetches it",
            file.uploader,
            file.name,
            crate::size::human(file.size),
            file.name
        );
        self.fanout(
            audience,
            &crate::protocol::ServerMsg::Notice {
                event: crate::protocol::NoticeKind::Upload,
                user: file.uploader.clone(),
                room: None,
                status: None,
                text,
            },
            super::Priority::Normal,
        );
    }

    /// A chunk read for download `id` came back: send it if the download
    /// still wants it.
    fn store_read(&mut self, id: u64, offset: u64, result: Result<Vec<u8>, StoreError>) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let Some((at, want)) = t.reading.take() else {
            return;
        };
        let data = match result {
            Ok(d) if d.len() == want => d,
            Ok(_) => {
                let reason = "the stored file is shorter than recorded".to_string();
                return self.finish(id, TransferState::Failed, None, Some(reason));
            }
            Err(e) => return self.finish(id, TransferState::Failed, None, Some(e.to_string())),
        };
        let len = data.len() as u64;
        let current = at == offset
            && offset == t.next
            && len <= t.credit
            && matches!(t.state, TransferState::InProgress | TransferState::Paused);
        let conn = t.receiver.clone().and_then(|r| self.conn_of(&r));
        let (true, Some(conn)) = (current, conn) else {
            return; // resumed elsewhere, interrupted or out of credit: read again
        };
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        t.next += len;
        t.credit -= len;
        // Binary: the shell writes JSON to a client that did not ask for
        // binary; another node's client gets JSON (nodes exchange text).
        let frame: std::rc::Rc<[u8]> = match conn.is_remote() {
            false => binary::frame(id, offset, &data).into(),
            true => encode_shared(&ServerMsg::FileChunk {
                id,
                offset,
                data: base64::engine::general_purpose::STANDARD.encode(&data),
            }),
        };
        self.emit(conn, Output::Frame(frame, Priority::Chunk(id)), None);
        if conn.is_remote() {
            // Its node reports it written out (see `cluster_store`).
            self.relay.push(conn, id, len);
        }
    }

    /// A prefix hash came back: the accept it waited for goes on, unless
    /// the transfer ended, was accepted again or lost its receiver since.
    fn store_hashed(&mut self, id: u64, ticket: u64, result: Result<String, StoreError>) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return; // cancelled meanwhile
        };
        if t.hashing.as_ref().is_none_or(|c| c.ticket != ticket) {
            return;
        }
        let Some(check) = t.hashing.take() else {
            return;
        };
        let waiting = matches!(
            t.state,
            TransferState::Pending | TransferState::Interrupted | TransferState::Resuming
        );
        let receiver = t.receiver.clone();
        if !waiting || !self.end_online(&receiver) {
            return;
        }
        let start = match result {
            Ok(h) if h == check.prefix => check.offset,
            Ok(_) => 0,
            Err(e) => {
                log::warn!(
                    "store: transfer {id}: cannot hash the prefix: {}",
                    Safe(&e.to_string())
                );
                0
            }
        };
        self.accept_at(id, start, Some(check.prefix));
    }

    /// Top the uploader's credit back up to the store's window, less what
    /// is still being written (after a write, or a resume from pause).
    pub(crate) fn store_refill(&mut self, id: u64) {
        let window = self.transfers.limits.store_window;
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let Some(up) = t.upload.as_ref() else {
            return;
        };
        if t.state != TransferState::InProgress || t.next == t.size {
            return;
        }
        let grant = window.saturating_sub(t.credit + up.writing);
        if grant == 0 {
            return;
        }
        t.credit += grant;
        if let Some(c) = t.sender.clone().and_then(|s| self.conn_of(&s)) {
            self.send(c, &ServerMsg::FileCredit { id, bytes: grant });
        }
    }

    /// An interrupted upload continues from what the store already has.
    pub(crate) fn store_reaccept(&mut self, id: u64) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        t.state = TransferState::InProgress;
        t.stale_ok = true;
        t.credit = 0;
        t.accepted = t.next;
        // Once committing, the data is final: no starting over.
        t.restart_ok = t.next > 0 && !t.upload.as_ref().is_some_and(|u| u.committing);
        let prefix = t
            .upload
            .as_ref()
            .filter(|_| t.next > 0)
            .map(|u| hex(&u.hasher.clone().finalize()));
        self.notify(
            id,
            Note {
                prefix_sha256: prefix,
                ..Note::default()
            },
        );
        self.store_refill(id);
    }

    /// Whether download `t` could have its next chunk read now.
    fn pullable(t: &Transfer) -> bool {
        t.state == TransferState::InProgress
            && t.credit > 0
            && t.next < t.size
            && t.reading.is_none()
    }

    /// Connections with a download that has credit, bytes left to send and
    /// no read in flight.
    pub fn download_conns(&self) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .transfers
            .downloads
            .iter()
            .filter_map(|id| self.transfers.map.get(id))
            .filter(|t| Core::pullable(t))
            .filter_map(|t| t.receiver.as_deref().and_then(|r| self.conn_of(r)))
            .chain(self.http_pullable())
            .collect();
        conns.sort_unstable();
        conns.dedup();
        conns
    }

    /// Ask the store worker for the next chunk of one of `conn`'s downloads
    /// (round-robin); the chunk frame is queued when the read completes.
    /// Returns whether a read was queued.
    pub fn pull_chunk(&mut self, conn: ConnId) -> bool {
        if self.http_pull(conn) {
            return true;
        }
        let me = self.name_of(conn).map(str::to_string);
        let pick = self.transfers.downloads.iter().position(|id| {
            self.transfers
                .map
                .get(id)
                .is_some_and(|t| Core::pullable(t) && t.receiver == me)
        });
        let Some(pos) = pick else {
            return false;
        };
        let Some(id) = self.transfers.downloads.remove(pos) else {
            return false;
        };
        self.transfers.downloads.push_back(id);
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return false;
        };
        let want = (t.size - t.next).min(t.credit).min(MAX_CHUNK as u64) as usize;
        t.reading = Some((t.next, want));
        let job = StoreJob::Read {
            transfer: id,
            name: t.name.clone(),
            offset: t.next,
            len: want,
        };
        self.effects.push_back(Effect::Store(job));
        true
    }
}
