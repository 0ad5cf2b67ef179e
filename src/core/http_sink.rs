//! A person-to-person file received by a browser as an HTTP download, so a
//! tab never holds a large file in memory: the receiving page accepts the
//! offer over its WebSocket, then opens `GET /transfers/ID?key=K` (its
//! `welcome.files_key`), which its browser's download manager writes to
//! disk. That HTTP connection is the transfer's *sink*:
//!
//! - the server grants the sender credit on the receiver's behalf, a window
//!   at a time, only as the sink's connection drains (the relay accounting
//!   of `relay`, with the sink as the receiving connection), so memory stays
//!   flat whatever the file's size and however slowly the browser writes;
//! - each chunk goes into the response as raw bytes (decoded from the
//!   sender's base64), and the server hashes what it relays;
//! - before the last chunk goes out, the hash is checked against the
//!   offer's: a match completes the transfer (for both ends, as the
//!   receiver's `file_done` would), a mismatch fails it and the last chunk
//!   is never sent, so the browser sees a short download and marks it
//!   failed rather than keeping a corrupt file;
//! - if either user or the sink goes away, the transfer fails (an HTTP
//!   download cannot be resumed into the same file); a pause from either
//!   side pauses the credit.

use super::http_files::HttpGrant;
use super::store_ops::StoredFile;
use super::{ConnId, Core, Output, Priority};
use crate::protocol::binary::ChunkData;
use crate::protocol::files::TransferState;
use sha2::{Digest, Sha256};

/// A transfer's sink: the HTTP connection and the hash of what it relayed.
pub(crate) struct Sink {
    pub conn: ConnId,
    pub hasher: Sha256,
}

impl Core {
    /// `GET /transfers/ID?key=K` on HTTP connection `conn`.
    pub fn http_transfer(&mut self, conn: ConnId, key: &str, id: u64) -> HttpGrant {
        let refuse = |status, sentence: String| HttpGrant::Refuse { status, sentence };
        let me = self.file_keys.get(key).and_then(|c| self.sessions.get(c));
        let Some(me) = me.and_then(|s| s.name.clone()) else {
            return refuse(
                "403 Forbidden",
                "this download link is not valid now: it works while you are logged in".into(),
            );
        };
        let Some(t) = self.transfers.map.get(&id) else {
            return refuse("404 Not Found", format!("there is no transfer {id}"));
        };
        if t.receiver.as_deref() != Some(me.as_str()) || t.sender.is_none() {
            return refuse(
                "404 Not Found",
                format!("transfer {id} is not a file sent to you by another user"),
            );
        }
        // Paused before any byte moved is fine: the sink grants nothing until it resumes.
        let accepted = matches!(t.state, TransferState::InProgress | TransferState::Paused);
        if !accepted || t.next != 0 || t.sink.is_some() {
            return refuse(
                "409 Conflict",
                format!(
                    "transfer {id} has already started (or is not accepted yet): accept it, then open this link before any byte moves"
                ),
            );
        }
        let file = StoredFile {
            name: t.name.clone(),
            size: t.size,
            sha256: t.sha256.clone(),
            uploader: t.sender.clone().unwrap_or_default(),
            ts: 0,
        };
        self.end_login_deadline(conn);
        if file.size == 0 {
            self.finish(id, TransferState::Completed, Some(me), None);
            self.close(conn, "http: empty transfer".into());
        } else if let Some(t) = self.transfers.map.get_mut(&id) {
            t.sink = Some(Sink {
                conn,
                hasher: Sha256::new(),
            });
            log::info!(
                "transfer {id}: {} receives it as an HTTP download",
                super::logsafe::Safe(&me)
            );
            self.relay_credit(id);
        }
        HttpGrant::Send {
            start: 0,
            end: file.size,
            partial: false,
            // Nothing can be sent again: a resumed download gets nothing.
            ranges: false,
            file,
        }
    }

    /// A chunk of transfer `id` for its sink: hashed, checked if it is the
    /// last, then written into the response as raw bytes.
    pub(crate) fn sink_chunk(&mut self, id: u64, data: ChunkData) {
        let Ok(bytes) = data.bytes() else {
            return self.finish(
                id,
                TransferState::Failed,
                None,
                Some("the sender sent a chunk that is not base64".into()),
            );
        };
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        let Some(sink) = t.sink.as_mut() else {
            return;
        };
        sink.hasher.update(&bytes);
        let conn = sink.conn;
        let last = t.next >= t.size;
        if last {
            let got = crate::protocol::files::hex(&sink.hasher.clone().finalize());
            if got != t.sha256 {
                // The last bytes never go out: the download stays short.
                return self.finish(
                    id,
                    TransferState::Failed,
                    None,
                    Some("checksum mismatch: the bytes sent are not the file offered".into()),
                );
            }
        }
        let len = bytes.len() as u64;
        self.emit(conn, Output::Frame(bytes.into(), Priority::Chunk(id)), None);
        self.relay.push(conn, id, len);
        if last {
            let by = self.transfers.map.get(&id).and_then(|t| t.receiver.clone());
            self.finish(id, TransferState::Completed, by, None);
        }
    }

    /// Credit a sink grants on its receiver's behalf: a full window, less
    /// what the sender holds, while the transfer runs (none while paused).
    pub(crate) fn sink_banked(&self, id: u64) -> Option<u64> {
        let t = self.transfers.map.get(&id)?;
        t.sink.as_ref()?;
        let window = self.transfers.limits.max_window;
        Some(if t.state == TransferState::InProgress {
            window.saturating_sub(t.credit)
        } else {
            0
        })
    }

    /// The transfers whose sink is `conn`, or with `name` at an end: an HTTP
    /// download cannot outlive either, so they fail.
    pub(crate) fn sinks_gone(&mut self, conn: Option<ConnId>, name: Option<&str>) {
        let ids: Vec<u64> = self
            .transfers
            .map
            .values()
            .filter(|t| {
                t.sink.as_ref().is_some_and(|s| Some(s.conn) == conn)
                    || (t.sink.is_some()
                        && name.is_some()
                        && (t.sender.as_deref() == name || t.receiver.as_deref() == name))
            })
            .map(|t| t.id)
            .collect();
        for id in ids {
            let reason = match name {
                Some(n) => format!("{n} left while the browser downloaded it; send it again"),
                None => "the browser's download of it stopped; send it again".into(),
            };
            self.finish(id, TransferState::Failed, None, Some(reason));
        }
    }
}
