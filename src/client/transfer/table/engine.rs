//! What moves a transfer: accepting into `NAME.part`, server frames, the
//! receiver's chunks (write, hash, grant back, verify, publish) and the
//! sender's (read one chunk at a time under credit, round-robin).

use super::super::disk;
use super::super::view::Direction;
use super::super::WINDOW;
use super::{no_such, state_of, Asked, Chunk, Out, Table, Xfer, B64};
use crate::client::event::Event;
use crate::protocol::filename::{self, NameError, PART_SUFFIX};
use crate::protocol::files::{hex, Role, TransferState, MAX_CHUNK};
use crate::protocol::{ClientMsg, ServerMsg};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

impl Table {
    pub(super) fn accept(
        &mut self,
        id: u64,
        path: Option<PathBuf>,
    ) -> Result<Vec<ClientMsg>, String> {
        let dir = self.download_dir.clone();
        let x = self.xfers.get_mut(&id).ok_or_else(|| no_such(id))?;
        if x.dir != Some(Direction::Receive) {
            return Err(format!(
                "you are sending transfer {id}; its receiver accepts it"
            ));
        }
        let state = state_of(x);
        if !matches!(
            state,
            TransferState::Pending | TransferState::Interrupted | TransferState::Resuming
        ) {
            return Err(format!("transfer {id} is {state}; nothing to accept"));
        }
        // The offered name becomes part of a path only once it passed the
        // shared rule: one plain component, nothing a file system refuses.
        let named = |d: &Path| -> Result<PathBuf, String> {
            filename::check(&x.name).map_err(|e| unsafe_name(id, &e))?;
            Ok(d.join(&x.name))
        };
        let target = match path {
            Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => named(&p)?,
            Some(p) => p,
            None => named(&dir)?,
        };
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let part = part_path(&target);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        let mut have = file.metadata().map(|m| m.len()).unwrap_or(0);
        if have > x.size {
            file.set_len(0).map_err(|e| e.to_string())?;
            have = 0;
        }
        let (have, hasher) = disk::hash_reader(&mut file, Some(have))
            .map_err(|e| format!("cannot read {}: {e}", part.display()))?;
        let prefix = (have > 0).then(|| hex(&hasher.clone().finalize()));
        x.dest = Some(target);
        x.part = Some(part);
        x.file = Some(file);
        x.accepted = true;
        x.hasher = Some(hasher);
        x.done = have;
        x.credit = WINDOW;
        Ok(vec![
            ClientMsg::FileAccept {
                id,
                offset: have,
                prefix_sha256: prefix,
            },
            ClientMsg::FileCredit { id, bytes: WINDOW },
        ])
    }

    pub(super) fn state(&mut self, msg: &ServerMsg) -> Out {
        let ServerMsg::FileState {
            id,
            state,
            role,
            peer,
            name,
            size,
            sha256,
            offset,
            prefix_sha256,
            by,
            reason,
            cid,
        } = msg
        else {
            return (Vec::new(), Vec::new());
        };
        let (id, state) = (*id, *state);
        let asked = cid.as_ref().and_then(|c| self.asked.remove(c));
        let auto = self.auto_accept;
        let x = self.xfers.entry(id).or_default();
        let before = x.state;
        x.id = id;
        x.dir = Some(match role {
            Role::Sender => Direction::Send,
            Role::Receiver => Direction::Receive,
        });
        x.peer = peer.clone();
        x.name = name.clone();
        x.size = *size;
        x.sha256 = sha256.clone();
        x.state = Some(state);
        if state.is_final() && x.ended.is_none() {
            x.ended = Some(std::time::Instant::now());
        }
        let mut download = false;
        match asked {
            Some(Asked::Send(p)) => x.src = Some(p),
            Some(Asked::Download(dest)) => {
                x.dest = dest;
                download = true;
            }
            None => {}
        }
        let mut frames = Vec::new();
        let mut events = Vec::new();
        let mut reason = reason.clone();
        let sending = x.dir == Some(Direction::Send);
        if !sending && x.part.is_none() {
            // A restarted receiver: what the server says it has may lag
            // behind what is on disk; show what a resume will start from.
            x.done = x
                .done
                .max(part_on_disk(&self.download_dir, &x.name, x.size));
        }
        match state {
            TransferState::InProgress if sending && before != Some(TransferState::Paused) => {
                x.credit = 0;
                match start_sending(x, *offset, prefix_sha256.as_deref()) {
                    Ok(()) => {}
                    Err(e) => {
                        events.push(Event::local_error(e));
                        frames.push(ClientMsg::FilePause { id });
                    }
                }
            }
            TransferState::InProgress if !sending && before == Some(TransferState::Paused) => {
                // Resumed: top the window back up.
                let grant = WINDOW.saturating_sub(x.credit);
                if grant > 0 && x.file.is_some() {
                    x.credit = WINDOW;
                    frames.push(ClientMsg::FileCredit { id, bytes: grant });
                }
            }
            TransferState::Interrupted => {
                x.credit = 0;
                if sending {
                    x.file = None;
                }
            }
            TransferState::Cancelled | TransferState::Rejected | TransferState::Failed => {
                x.file = None;
                if let Some(part) = x.part.take() {
                    let _ = fs::remove_file(part);
                }
            }
            TransferState::Completed => x.file = None,
            _ => {}
        }
        // Nothing new to show, unless the server says why (a transfer held
        // for this side to confirm a new session of the other end).
        if before == Some(state) && state != TransferState::Resuming && reason.is_none() {
            return (frames, events);
        }
        if !sending && state == TransferState::Pending {
            if let Err(e) = filename::check(&x.name) {
                // Never accepted, by `--auto-accept` or by hand: say so and decline.
                let from = x.peer.as_deref().unwrap_or("the store");
                events.push(Event::local_error(format!(
                    "transfer {id}: declined the file {from} offers: {e} (see docs/PROTOCOL.md, \"Files\")"
                )));
                frames.push(ClientMsg::FileReject { id });
                return (frames, events);
            }
        }
        if state == TransferState::Failed && reason.is_none() {
            reason = Some("no reason given".into());
        }
        events.push(x.event(by.clone(), reason));
        let receiving_user_offer = !sending && state == TransferState::Pending;
        let resuming = !sending && state == TransferState::Resuming;
        if (receiving_user_offer && (download || auto)) || resuming {
            let dest = x.dest.clone();
            match self.accept(id, dest) {
                Ok(f) => frames.extend(f),
                Err(e) => events.push(Event::local_error(e)),
            }
        }
        if let Some(done) = self.maybe_finish(id) {
            frames.extend(done.0);
            events.extend(done.1);
        }
        (frames, events)
    }

    pub(super) fn chunk(&mut self, id: u64, offset: u64, data: &str) -> Out {
        match B64.decode(data) {
            Ok(bytes) => self.chunk_bytes(id, offset, &bytes),
            Err(e) if self.xfers.contains_key(&id) => {
                self.fail(id, format!("a chunk was not valid base64 ({e})"))
            }
            Err(_) => (Vec::new(), Vec::new()),
        }
    }

    /// A received chunk's bytes (from a binary frame, or decoded).
    pub(super) fn chunk_bytes(&mut self, id: u64, offset: u64, bytes: &[u8]) -> Out {
        let Some(x) = self.xfers.get_mut(&id) else {
            return (Vec::new(), Vec::new());
        };
        let Some(file) = x
            .file
            .as_ref()
            .filter(|_| x.dir == Some(Direction::Receive))
        else {
            return (Vec::new(), Vec::new());
        };
        if offset == 0 && x.done > 0 {
            // The sender found our partial file is not a prefix: start over.
            let _ = file.set_len(0);
            x.hasher = Some(Sha256::new());
            x.done = 0;
        }
        if offset != x.done {
            return (Vec::new(), Vec::new()); // stale
        }
        if bytes.len() as u64 > x.size.saturating_sub(x.done) {
            let reason = format!("more data than the {} bytes offered", x.size);
            return self.fail(id, reason);
        }
        if let Err(e) = file.write_all_at(bytes, offset) {
            return self.fail(id, format!("cannot write the file: {e}"));
        }
        let n = bytes.len() as u64;
        if let Some(h) = x.hasher.as_mut() {
            h.update(bytes);
        }
        x.done += n;
        x.credit = x.credit.saturating_sub(n);
        if let Some(out) = self.maybe_finish(id) {
            return out;
        }
        let Some(x) = self.xfers.get_mut(&id) else {
            return (Vec::new(), Vec::new());
        };
        if x.state == Some(TransferState::InProgress) && !x.cancelling {
            x.credit = x.credit.saturating_add(n);
            return (vec![ClientMsg::FileCredit { id, bytes: n }], Vec::new());
        }
        (Vec::new(), Vec::new())
    }

    /// A receiving transfer with every byte written: verify and publish.
    fn maybe_finish(&mut self, id: u64) -> Option<Out> {
        let x = self.xfers.get_mut(&id)?;
        if x.dir != Some(Direction::Receive)
            || x.done != x.size
            || x.file.is_none()
            || !matches!(
                x.state,
                Some(TransferState::InProgress | TransferState::Paused)
            )
        {
            return None;
        }
        let file = x.file.take()?;
        let got = hex(&x.hasher.take().unwrap_or_default().finalize());
        if got != x.sha256 {
            let reason = format!(
                "checksum mismatch: the data received hashes to {got}, not {}",
                x.sha256
            );
            return Some(self.fail(id, reason));
        }
        if let Err(e) = file.sync_all() {
            return Some(self.fail(id, format!("cannot save the file: {e}")));
        }
        drop(file);
        let (part, dest) = (x.part.take()?, x.dest.clone()?);
        match disk::publish(&part, &dest) {
            Ok(saved) => {
                x.saved = Some(saved);
                Some((vec![ClientMsg::FileDone { id }], Vec::new()))
            }
            Err(e) => Some(self.fail(id, format!("cannot save the file: {e}"))),
        }
    }

    fn fail(&mut self, id: u64, reason: String) -> Out {
        if let Some(x) = self.xfers.get_mut(&id) {
            x.file = None;
            if let Some(part) = x.part.take() {
                let _ = fs::remove_file(part);
            }
        }
        (vec![ClientMsg::FileFailed { id, reason }], Vec::new())
    }

    pub(super) fn next_chunk(&mut self) -> Option<Out> {
        Some(match self.take_chunk()? {
            Ok((id, offset, buf)) => {
                let data = B64.encode(&buf);
                (vec![ClientMsg::FileChunk { id, offset, data }], Vec::new())
            }
            Err(out) => out,
        })
    }

    /// The next chunk to send, round-robin across transfers with credit:
    /// (id, offset, bytes), or what to do when the file could not be read.
    pub(super) fn take_chunk(&mut self) -> Option<Result<Chunk, Out>> {
        let ready = |x: &Xfer| {
            x.dir == Some(Direction::Send)
                && x.state == Some(TransferState::InProgress)
                && x.credit > 0
                && x.done < x.size
                && x.file.is_some()
                && !x.cancelling
        };
        let id = self
            .xfers
            .range(self.last_sent + 1..)
            .chain(self.xfers.range(..=self.last_sent))
            .find(|(_, x)| ready(x))
            .map(|(id, _)| *id)?;
        self.last_sent = id;
        let x = self.xfers.get_mut(&id)?;
        let n = (x.size - x.done).min(x.credit).min(MAX_CHUNK as u64) as usize;
        let mut buf = vec![0u8; n];
        let offset = x.done;
        let read = x.file.as_ref()?.read_exact_at(&mut buf, offset);
        if let Err(e) = read {
            x.file = None;
            let msg = format!("cannot read {}: {e}; cancelling transfer {id}", x.name);
            return Some(Err((
                vec![ClientMsg::FileCancel { id }],
                vec![Event::local_error(msg)],
            )));
        }
        x.done += n as u64;
        x.credit -= n as u64;
        Some(Ok((id, offset, buf)))
    }
}

/// Bytes of `DIR/NAME.part` already received (at most `size`), 0 if none
/// or the name is not a safe file name.
fn part_on_disk(dir: &Path, name: &str, size: u64) -> u64 {
    if filename::check(name).is_err() {
        return 0;
    }
    let part = part_path(&dir.join(name));
    fs::metadata(part).map_or(0, |m| m.len().min(size))
}

/// `NAME.part` beside the target.
fn part_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(PART_SUFFIX);
    PathBuf::from(s)
}

/// Why an accept without a file path of our own is refused.
fn unsafe_name(id: u64, e: &NameError) -> String {
    format!(
        "transfer {id}: not saved under the offered name: {e}; /accept {id} PATH names the file"
    )
}

/// The receiver accepted at `offset`: open the file and check the prefix.
fn start_sending(x: &mut Xfer, offset: u64, prefix: Option<&str>) -> Result<(), String> {
    let id = x.id;
    let Some(src) = x.src.clone() else {
        return Err(format!(
            "this client does not know where {} is; give its path: /resume {id} PATH",
            x.name
        ));
    };
    let mut file = File::open(&src).map_err(|e| format!("cannot open {}: {e}", src.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len != x.size {
        return Err(format!(
            "{} changed size since it was offered ({len} bytes, not {})",
            src.display(),
            x.size
        ));
    }
    let mut start = 0;
    if offset > 0 {
        let (n, h) = disk::hash_reader(&mut file, Some(offset))
            .map_err(|e| format!("cannot read {}: {e}", src.display()))?;
        if n == offset && prefix == Some(hex(&h.finalize()).as_str()) {
            start = offset;
        }
    }
    x.file = Some(file);
    x.done = start;
    Ok(())
}
