//! The transfer table, behind a mutex both threads use. What changes it
//! (accepting, frames, chunks both ways) is in `engine`.

mod engine;

use super::disk;
use super::view::{Direction, TransferEvent, TransferRow};
use crate::client::event::Event;
use crate::client::net::NetHandle;
use crate::client::output::Sink;
use crate::client::Shared;
use crate::protocol::files::TransferState;
use crate::protocol::{ClientMsg, ServerMsg};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::PathBuf;
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
    /// This client accepted it (receiving): a script waits for it to end.
    accepted: bool,
    /// This client asked to cancel it: no more chunks or credit for it (the
    /// server would answer each with an error).
    cancelling: bool,
    /// When it reached a final state (it leaves `/transfers` [`AGE_OUT`] later).
    ended: Option<Instant>,
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

    /// Whether this client is an end of it by its own choice: it offered the
    /// file (knows its path) or accepted it. An offer it never answered is not.
    fn ours(&self) -> bool {
        match self.dir {
            Some(Direction::Send) => self.src.is_some(),
            _ => self.accepted,
        }
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
    /// The server run named by the last `welcome`.
    boot: Option<u64>,
    /// Last transfer a chunk was sent for (round-robin).
    last_sent: u64,
    last_progress: Option<Instant>,
    /// Events waiting to be shown after the rest of their batch.
    deferred: Vec<Event>,
}

/// How long an ended transfer stays in `/transfers`.
pub const AGE_OUT: Duration = Duration::from_secs(600);

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

/// A chunk read to send: transfer id, offset, bytes.
pub type Chunk = (u64, u64, Vec<u8>);

impl Files {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.t.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the download directory and whether offers are accepted unasked.
    /// A `welcome` from the server run `boot`: if an earlier welcome named
    /// another run, the server restarted and lost every transfer it was
    /// relaying, so each one still open here ends, with a reason saying
    /// what to do (a receiver keeps its `NAME.part`).
    pub fn welcomed(&self, boot: u64) -> Vec<Event> {
        let mut t = self.lock();
        let before = t.boot.replace(boot);
        if before.is_none_or(|b| b == boot) {
            return Vec::new();
        }
        let mut events = Vec::new();
        for x in t.xfers.values_mut().filter(|x| !x.is_final()) {
            x.state = Some(TransferState::Failed);
            x.file = None;
            x.ended = Some(Instant::now());
            events.push(
                x.event(
                    None,
                    Some(
                        "the server restarted and lost this transfer; send the file again (/send)"
                            .into(),
                    ),
                ),
            );
        }
        events
    }

    pub fn configure(&self, download_dir: PathBuf, auto_accept: bool) {
        let mut t = self.lock();
        t.download_dir = download_dir;
        t.auto_accept = auto_accept;
    }

    /// What a script waits for at its end: offers and downloads it asked
    /// for and the server has not answered yet, and transfers it started or
    /// accepted that have not ended. Offers made to it that it never accepted
    /// do not count: someone else's offer cannot keep a script running.
    pub fn busy(&self) -> usize {
        let t = self.lock();
        let live = t.xfers.values().filter(|x| !x.is_final() && x.ours());
        t.hashing + t.asked.len() + live.count()
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
        let mut t = self.lock();
        let x = t.xfers.get_mut(&id).ok_or_else(|| no_such(id))?;
        if x.is_final() {
            return Err(format!("transfer {id} has already ended ({})", state_of(x)));
        }
        if what == "cancel" {
            x.cancelling = true;
            x.credit = 0;
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

    /// Rows for `/transfers`: those that ended over [`AGE_OUT`] ago are left out.
    pub fn rows(&self, now: Instant) -> Vec<TransferRow> {
        let mut t = self.lock();
        t.xfers
            .values_mut()
            .filter(|x| {
                !(x.is_final()
                    && x.ended
                        .is_some_and(|e| now.saturating_duration_since(e) >= AGE_OUT))
            })
            .map(|x| row(x, now, false))
            .collect()
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
            .filter(|x| x.state == Some(TransferState::InProgress) && x.done < x.size && x.ours())
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
            .any(|x| x.state == Some(TransferState::InProgress) && x.ours());
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
                    x.credit = x.credit.saturating_add(*bytes);
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
                && !x.cancelling
        })
    }

    /// The next chunk to send, round-robin across transfers with credit.
    pub fn next_chunk(&self) -> Option<Out> {
        self.lock().next_chunk()
    }

    /// The same as encoded frames: a binary chunk frame if `binary` (the
    /// server offered them), else `file_chunk` JSON; and events to show.
    pub fn next_chunk_wire(&self, binary: bool) -> Option<(Vec<u8>, Vec<Event>)> {
        let encode = |msgs: Vec<ClientMsg>| msgs.iter().flat_map(crate::protocol::encode).collect();
        if !binary {
            let (msgs, events) = self.next_chunk()?;
            return Some((encode(msgs), events));
        }
        let taken = self.lock().take_chunk()?;
        Some(match taken {
            Ok((id, offset, buf)) => (crate::protocol::binary::frame(id, offset, &buf), Vec::new()),
            Err((msgs, events)) => (encode(msgs), events),
        })
    }

    /// A chunk that came as a binary frame.
    pub fn on_binary_chunk(&self, id: u64, offset: u64, data: &[u8]) -> Out {
        self.lock().chunk_bytes(id, offset, data)
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

#[cfg(test)]
mod tests;
