//! The shared store as one end of a transfer: `upload` (the server receives,
//! hashes as it writes, and publishes the file only when the SHA-256 matches),
//! `list_files`, and `download` (the server sends, pulling one chunk from disk
//! at a time when the reactor says the connection's chunk slot is free, so
//! memory stays constant for any file size).

use super::transfer::{Note, Transfer, UploadSide};
use super::{ConnId, Core, Now, Output, Priority};
use crate::protocol::files::{hex, FileInfo, TransferState, MAX_CHUNK};
use crate::protocol::{encode_shared, ErrorCode, ServerMsg};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::filename;

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
        let Some(store) = self.transfers.store.as_mut() else {
            return fail(
                self,
                ErrorCode::Internal,
                "this server has no file store".into(),
            );
        };
        let handle = match store.begin(&name, size) {
            Ok(h) => h,
            Err(e) => {
                use crate::store::files::StoreError as E;
                let code = match e {
                    E::Exists(_) | E::Uploading(_) => ErrorCode::FileExists,
                    E::Quota { .. } => ErrorCode::QuotaExceeded,
                    E::NotFound(_) => ErrorCode::NoSuchFile,
                    E::Io(_) => ErrorCode::Internal,
                };
                return fail(self, code, e.to_string());
            }
        };
        let id = self.transfers.new_id();
        let window = self.transfers.limits.store_window;
        self.transfers.map.insert(
            id,
            Transfer {
                id,
                name,
                size,
                sha256,
                sender: Some(me),
                receiver: None,
                state: TransferState::InProgress,
                credit: window,
                next: 0,
                restart_ok: false,
                accepted: 0,
                upload: Some(UploadSide {
                    handle,
                    hasher: Sha256::new(),
                }),
            },
        );
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
        let files = self
            .transfers
            .store
            .as_ref()
            .map(|s| s.list())
            .unwrap_or_default();
        self.send(conn, &ServerMsg::FileList { files });
    }

    pub(crate) fn download(&mut self, conn: ConnId, name: String, cid: Option<String>) {
        let me = self.name_of(conn).unwrap_or_default().to_string();
        let found = self.transfers.store.as_ref().and_then(|s| s.lookup(&name));
        let Some((size, sha256)) = found else {
            let msg = crate::store::files::StoreError::NotFound(name).to_string();
            return self.error_cid(conn, ErrorCode::NoSuchFile, msg, "download", cid);
        };
        let id = self.transfers.new_id();
        self.transfers.map.insert(
            id,
            Transfer {
                id,
                name,
                size,
                sha256,
                sender: None,
                receiver: Some(me),
                state: TransferState::Pending,
                credit: 0,
                next: 0,
                restart_ok: false,
                accepted: 0,
                upload: None,
            },
        );
        self.notify(
            id,
            Note {
                cids: (None, cid),
                ..Note::default()
            },
        );
    }

    /// Whether the stored file's first `offset` bytes hash to `prefix`.
    pub(crate) fn store_prefix_matches(
        &mut self,
        id: u64,
        offset: u64,
        prefix: Option<&str>,
    ) -> bool {
        let (Some(prefix), Some(t)) = (prefix, self.transfers.map.get(&id)) else {
            return false;
        };
        let name = t.name.clone();
        let Some(store) = self.transfers.store.as_mut() else {
            return false;
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; MAX_CHUNK];
        let mut at = 0;
        while at < offset {
            let want = (offset - at).min(buf.len() as u64) as usize;
            match store.read(&name, at, &mut buf[..want]) {
                Ok(n) if n > 0 => {
                    hasher.update(&buf[..n]);
                    at += n as u64;
                }
                _ => return false,
            }
        }
        hex(&hasher.finalize()) == prefix
    }

    /// An upload's chunk (already checked against credit and offset): decode,
    /// write, hash, give the credit back, and publish when complete.
    pub(crate) fn store_chunk(&mut self, conn: ConnId, id: u64, offset: u64, data: &str, now: Now) {
        let bytes = match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(b) => b,
            Err(e) => {
                let reason = format!("a chunk was not valid base64 ({e})");
                return self.finish(id, TransferState::Failed, None, Some(reason));
            }
        };
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let (Some(up), Some(store)) = (t.upload.as_mut(), self.transfers.store.as_mut()) else {
            return;
        };
        if offset == 0 {
            up.hasher = Sha256::new(); // first chunk, or the sender started over
        }
        if let Err(e) = store.write(up.handle, offset, &bytes) {
            let reason = e.to_string();
            return self.finish(id, TransferState::Failed, None, Some(reason));
        }
        up.hasher.update(&bytes);
        if t.next == t.size {
            return self.store_complete(id, now);
        }
        if t.state == TransferState::InProgress {
            let grant = bytes.len() as u64;
            t.credit += grant;
            self.send(conn, &ServerMsg::FileCredit { id, bytes: grant });
        }
    }

    /// Every byte of an upload is in: verify and publish, or fail.
    fn store_complete(&mut self, id: u64, now: Now) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let Some(up) = t.upload.take() else {
            return;
        };
        let got = hex(&up.hasher.finalize());
        let Some(store) = self.transfers.store.as_mut() else {
            return;
        };
        if got != t.sha256 {
            store.abort(up.handle);
            let reason = format!(
                "checksum mismatch: the data received hashes to {got}, not {}",
                t.sha256
            );
            return self.finish(id, TransferState::Failed, None, Some(reason));
        }
        let info = FileInfo {
            name: t.name.clone(),
            size: t.size,
            uploader: t.sender.clone().unwrap_or_default(),
            ts: now.unix_ms,
        };
        match store.commit(up.handle, info, got) {
            Ok(()) => self.finish(id, TransferState::Completed, None, None),
            Err(e) => self.finish(id, TransferState::Failed, None, Some(e.to_string())),
        }
    }

    /// After a resume from pause: top the uploader's credit back up to the store's window.
    pub(crate) fn store_refill(&mut self, id: u64) {
        let window = self.transfers.limits.store_window;
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        if t.receiver.is_some() || t.credit >= window {
            return;
        }
        let grant = window - t.credit;
        t.credit = window;
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
        t.credit = 0;
        t.accepted = t.next;
        t.restart_ok = t.next > 0;
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

    /// Connections with a download that has credit and bytes left to send.
    pub fn download_conns(&self) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self
            .transfers
            .downloads
            .iter()
            .filter_map(|id| self.transfers.map.get(id))
            .filter(|t| t.state == TransferState::InProgress && t.credit > 0 && t.next < t.size)
            .filter_map(|t| t.receiver.as_deref().and_then(|r| self.conn_of(r)))
            .collect();
        conns.sort_unstable();
        conns.dedup();
        conns
    }

    /// Read the next chunk of one of `conn`'s downloads (round-robin) and
    /// queue it. Returns whether a chunk was queued.
    pub fn pull_chunk(&mut self, conn: ConnId) -> bool {
        let me = self.name_of(conn).map(str::to_string);
        let pick = self.transfers.downloads.iter().position(|id| {
            self.transfers.map.get(id).is_some_and(|t| {
                t.state == TransferState::InProgress
                    && t.credit > 0
                    && t.next < t.size
                    && t.receiver == me
            })
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
        let Some(store) = self.transfers.store.as_mut() else {
            return false;
        };
        let want = (t.size - t.next).min(t.credit).min(MAX_CHUNK as u64) as usize;
        let mut buf = vec![0u8; want];
        let offset = t.next;
        match store.read(&t.name, offset, &mut buf) {
            Ok(n) if n == want => {}
            Ok(_) => {
                let reason = "the stored file is shorter than recorded".to_string();
                self.finish(id, TransferState::Failed, None, Some(reason));
                return false;
            }
            Err(e) => {
                self.finish(id, TransferState::Failed, None, Some(e.to_string()));
                return false;
            }
        }
        t.next += want as u64;
        t.credit -= want as u64;
        let frame = encode_shared(&ServerMsg::FileChunk {
            id,
            offset,
            data: base64::engine::general_purpose::STANDARD.encode(&buf),
        });
        self.out
            .push((conn, Output::Frame(frame, Priority::Chunk(id))));
        true
    }
}
