//! The transfer table, behind a mutex both threads use.

use super::disk;
use super::view::{Direction, TransferEvent, TransferRow};
use super::WINDOW;
use crate::client::event::Event;
use crate::client::net::NetHandle;
use crate::client::output::Sink;
use crate::client::Shared;
use crate::protocol::files::{hex, Role, TransferState, MAX_CHUNK};
use crate::protocol::{ClientMsg, ServerMsg};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Progress lines come at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What we asked the server for, by `cid`, until it answers.
enum Asked {
    Send(PathBuf),
    Download(Option<PathBuf>),
}

#[derive(Default)]
struct Xfer {
    id: u64,
    dir: Option<Direction>,
    peer: Option<String>,
    name: String,
    size: u64,
    sha256: String,
    state: Option<TransferState>,
    /// Bytes sent (sender) or written (receiver).
    done: u64,
    src: Option<PathBuf>,
    file: Option<File>,
    credit: u64,
    /// Where the user wants it (a file or a directory).
    dest: Option<PathBuf>,
    part: Option<PathBuf>,
    hasher: Option<Sha256>,
    saved: Option<PathBuf>,
    mark: Option<(Instant, u64)>,
    rate: f64,
}

impl Xfer {
    fn event(&self, by: Option<String>, reason: Option<String>) -> Event {
        Event::Transfer(TransferEvent {
            id: self.id,
            state: self.state.unwrap_or(TransferState::Pending),
            direction: self.dir.unwrap_or(Direction::Receive),
            peer: self.peer.clone(),
            name: self.name.clone(),
            size: self.size,
            done: self.done,
            by,
            reason,
            path: self.saved.as_ref().map(|p| p.display().to_string()),
        })
    }

    fn is_final(&self) -> bool {
        self.state.is_some_and(|s| s.is_final())
    }
}

#[derive(Default)]
struct Table {
    download_dir: PathBuf,
    auto_accept: bool,
    next_cid: u64,
    asked: HashMap<String, Asked>,
    /// Offers and uploads whose file is still being hashed.
    hashing: usize,
    xfers: BTreeMap<u64, Xfer>,
    /// Last transfer a chunk was sent for (round-robin).
    last_sent: u64,
    last_progress: Option<Instant>,
    /// Events waiting to be shown after the rest of their batch.
    deferred: Vec<Event>,
}

/// The transfer table.
#[derive(Default)]
pub struct Files {
    t: Mutex<Table>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Files({} transfers)", self.lock().xfers.len())
    }
}

/// Frames to send and events to show.
pub type Out = (Vec<ClientMsg>, Vec<Event>);

impl Files {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.t.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the download directory and whether offers are accepted unasked.
    pub fn configure(&self, download_dir: PathBuf, auto_accept: bool) {
        let mut t = self.lock();
        t.download_dir = download_dir;
        t.auto_accept = auto_accept;
    }

    /// Transfers not yet ended, plus offers being prepared or unanswered.
    pub fn busy(&self) -> usize {
        let t = self.lock();
        t.hashing + t.asked.len() + t.xfers.values().filter(|x| !x.is_final()).count()
    }

    /// `/send` (to a user) or `/upload` (`to` = None): hash on a helper thread, then offer.
    pub fn offer(
        &self,
        shared: Arc<Shared>,
        to: Option<String>,
        path: PathBuf,
        net: NetHandle,
        sink: Arc<dyn Sink>,
    ) -> Result<Vec<ClientMsg>, String> {
        let meta =
            fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{} has no file name", path.display()))?;
        let cid = {
            let mut t = self.lock();
            t.next_cid += 1;
            t.hashing += 1;
            format!("f{}", t.next_cid)
        };
        if meta.len() > 64 << 20 {
            sink.emit(&[Event::Info {
                text: format!(
                    "* computing the SHA-256 of {name} ({}) before offering it",
                    super::view::size(meta.len())
                ),
            }]);
        }
        let job = move || {
            let result = disk::hash_path(&path);
            let mut t = shared.files.lock();
            t.hashing -= 1;
            match result {
                Ok((size, sha256)) => {
                    t.asked.insert(cid.clone(), Asked::Send(path.clone()));
                    drop(t);
                    let msg = match to {
                        Some(to) => ClientMsg::FileOffer {
                            to,
                            name,
                            size,
                            sha256,
                            cid: Some(cid),
                        },
                        None => ClientMsg::Upload {
                            name,
                            size,
                            sha256,
                            cid: Some(cid),
                        },
                    };
                    net.send([msg]);
                }
                Err(e) => {
                    drop(t);
                    let msg = format!("cannot read {}: {e}", path.display());
                    sink.emit(&[Event::local_error(msg)]);
                }
            }
        };
        std::thread::Builder::new()
            .name("chat-hash".into())
            .spawn(job)
            .map_err(|e| format!("cannot start hashing: {e}"))?;
        Ok(Vec::new())
    }

    /// `/download NAME [PATH]`.
    pub fn download(&self, name: String, path: Option<PathBuf>) -> Vec<ClientMsg> {
        let mut t = self.lock();
        t.next_cid += 1;
        let cid = format!("f{}", t.next_cid);
        t.asked.insert(cid.clone(), Asked::Download(path));
        vec![ClientMsg::Download {
            name,
            cid: Some(cid),
        }]
    }

    /// `/accept ID [PATH]`.
    pub fn accept(&self, id: u64, path: Option<PathBuf>) -> Result<Vec<ClientMsg>, String> {
        self.lock().accept(id, path)
    }

    /// `/reject`, `/pause`, `/cancel`: checked locally, decided by the server.
    pub fn simple(&self, id: u64, what: &str) -> Result<Vec<ClientMsg>, String> {
        let t = self.lock();
        let x = t.xfers.get(&id).ok_or_else(|| no_such(id))?;
        if x.is_final() {
            return Err(format!("transfer {id} has already ended ({})", state_of(x)));
        }
        Ok(vec![match what {
            "reject" => ClientMsg::FileReject { id },
            "pause" => ClientMsg::FilePause { id },
            _ => ClientMsg::FileCancel { id },
        }])
    }

    /// `/resume ID [PATH]`.
    pub fn resume(&self, id: u64, path: Option<PathBuf>) -> Result<Vec<ClientMsg>, String> {
        let mut t = self.lock();
        let x = t.xfers.get_mut(&id).ok_or_else(|| no_such(id))?;
        let state = x.state.unwrap_or(TransferState::Pending);
        let receiving = x.dir == Some(Direction::Receive);
        if x.dir == Some(Direction::Send) {
            if let Some(p) = path.clone() {
                x.src = Some(p);
                x.file = None;
            }
            if x.src.is_none() {
                return Err(format!(
                    "this client does not know where {} is; give its path: /resume {id} PATH",
                    x.name
                ));
            }
        }
        match state {
            TransferState::Paused => Ok(vec![ClientMsg::FileResume { id }]),
            TransferState::Interrupted | TransferState::Resuming if receiving => {
                let dest = path.or_else(|| x.dest.clone());
                t.accept(id, dest)
            }
            TransferState::Interrupted | TransferState::Resuming => {
                Ok(vec![ClientMsg::FileResume { id }])
            }
            s => Err(format!(
                "transfer {id} is {s}; only a paused or interrupted one resumes"
            )),
        }
    }

    /// Rows for `/transfers`.
    pub fn rows(&self, now: Instant) -> Vec<TransferRow> {
        let mut t = self.lock();
        t.xfers.values_mut().map(|x| row(x, now, false)).collect()
    }

    /// A progress event, if one is due (at most one per [`PROGRESS_EVERY`]).
    pub fn progress(&self, now: Instant) -> Option<Event> {
        let mut t = self.lock();
        let due = t
            .last_progress
            .is_none_or(|l| now.duration_since(l) >= PROGRESS_EVERY);
        let moving: Vec<u64> = t
            .xfers
            .values()
            .filter(|x| x.state == Some(TransferState::InProgress) && x.done < x.size)
            .map(|x| x.id)
            .collect();
        if !due || moving.is_empty() {
            return None;
        }
        t.last_progress = Some(now);
        let rows = moving
            .into_iter()
            .filter_map(|id| t.xfers.get_mut(&id).map(|x| row(x, now, true)))
            .collect();
        Some(Event::Progress { transfers: rows })
    }

    /// When the next progress line is due, while anything moves.
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.lock();
        let moving = t
            .xfers
            .values()
            .any(|x| x.state == Some(TransferState::InProgress));
        moving.then(|| {
            t.last_progress
                .map_or_else(Instant::now, |l| l + PROGRESS_EVERY)
        })
    }

    /// A server frame about files; `None` if it is not one.
    pub fn on_frame(&self, msg: &ServerMsg) -> Option<Out> {
        let mut t = self.lock();
        match msg {
            ServerMsg::FileChunk { id, offset, data } => Some(t.chunk(*id, *offset, data)),
            ServerMsg::FileCredit { id, bytes } => {
                if let Some(x) = t.xfers.get_mut(id) {
                    x.credit += bytes;
                }
                Some((Vec::new(), Vec::new()))
            }
            ServerMsg::FileList { files } => Some((
                Vec::new(),
                vec![Event::FileList {
                    files: files.clone(),
                }],
            )),
            ServerMsg::FileState { .. } => Some(t.state(msg)),
            ServerMsg::Error {
                re: Some(re),
                cid: Some(cid),
                ..
            } if matches!(re.as_str(), "file_offer" | "upload" | "download") => {
                t.asked.remove(cid);
                None // still shown as an error by the chat state
            }
            _ => None,
        }
    }

    /// Keep events to show after the chat events of the same batch.
    pub fn defer(&self, events: Vec<Event>) {
        self.lock().deferred.extend(events);
    }

    /// The events kept by [`Files::defer`].
    pub fn take_deferred(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().deferred)
    }

    /// Whether some transfer has a chunk to send now.
    pub fn has_chunk(&self) -> bool {
        self.lock().xfers.values().any(|x| {
            x.dir == Some(Direction::Send)
                && x.state == Some(TransferState::InProgress)
                && x.credit > 0
                && x.done < x.size
                && x.file.is_some()
        })
    }

    /// The next chunk to send, round-robin across transfers with credit.
    pub fn next_chunk(&self) -> Option<Out> {
        self.lock().next_chunk()
    }
}

fn no_such(id: u64) -> String {
    format!("no transfer {id}; /transfers lists them")
}

fn state_of(x: &Xfer) -> TransferState {
    x.state.unwrap_or(TransferState::Pending)
}

fn row(x: &mut Xfer, now: Instant, advance: bool) -> TransferRow {
    let (at, was) = x.mark.unwrap_or((now, x.done));
    let secs = now.duration_since(at).as_secs_f64();
    if secs >= 0.5 {
        x.rate = (x.done.saturating_sub(was)) as f64 / secs;
    }
    if advance || x.mark.is_none() {
        x.mark = Some((now, x.done));
    }
    let state = state_of(x);
    let eta = (state == TransferState::InProgress && x.rate > 1.0)
        .then(|| ((x.size - x.done.min(x.size)) as f64 / x.rate).ceil() as u64);
    TransferRow {
        id: x.id,
        direction: x.dir.unwrap_or(Direction::Receive),
        peer: x.peer.clone(),
        name: x.name.clone(),
        state,
        done: x.done,
        size: x.size,
        rate: if state == TransferState::InProgress {
            x.rate
        } else {
            0.0
        },
        eta,
    }
}

impl Table {
    fn accept(&mut self, id: u64, path: Option<PathBuf>) -> Result<Vec<ClientMsg>, String> {
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
        let target = match path {
            Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => {
                p.join(&x.name)
            }
            Some(p) => p,
            None => dir.join(&x.name),
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

    fn state(&mut self, msg: &ServerMsg) -> Out {
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
        if before == Some(state) && state != TransferState::Resuming {
            return (frames, events); // nothing new to show
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

    fn chunk(&mut self, id: u64, offset: u64, data: &str) -> Out {
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
        let bytes = match B64.decode(data) {
            Ok(b) => b,
            Err(e) => return self.fail(id, format!("a chunk was not valid base64 ({e})")),
        };
        if let Err(e) = file.write_all_at(&bytes, offset) {
            return self.fail(id, format!("cannot write the file: {e}"));
        }
        let n = bytes.len() as u64;
        if let Some(h) = x.hasher.as_mut() {
            h.update(&bytes);
        }
        x.done += n;
        x.credit = x.credit.saturating_sub(n);
        if let Some(out) = self.maybe_finish(id) {
            return out;
        }
        let Some(x) = self.xfers.get_mut(&id) else {
            return (Vec::new(), Vec::new());
        };
        if x.state == Some(TransferState::InProgress) {
            x.credit += n;
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

    fn next_chunk(&mut self) -> Option<Out> {
        let ready = |x: &Xfer| {
            x.dir == Some(Direction::Send)
                && x.state == Some(TransferState::InProgress)
                && x.credit > 0
                && x.done < x.size
                && x.file.is_some()
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
            return Some((
                vec![ClientMsg::FileCancel { id }],
                vec![Event::local_error(msg)],
            ));
        }
        x.done += n as u64;
        x.credit -= n as u64;
        let data = B64.encode(&buf);
        Some((vec![ClientMsg::FileChunk { id, offset, data }], Vec::new()))
    }
}

/// `NAME.part` beside the target.
fn part_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
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
