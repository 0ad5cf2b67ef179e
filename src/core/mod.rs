//! The server's chat state machine: no sockets, no clock reads.
//!
//! The reactor hands it `(connection id, frame, now)` through [`Core::handle`],
//! tells it about new and lost connections, calls [`Core::tick`] when the
//! deadline from [`Core::next_deadline`] passes and [`Core::end_of_turn`] once
//! per event-loop turn, then drains [`Core::drain`] for the frames to send. A
//! frame fanned out to many connections is encoded once and shared ([`Rc`]).
//!
//! # Layout
//! - `session`: login, logout, disconnect, presence.
//! - `rooms`: join, create, leave, lists, room and private messages.
//! - `receipts`: cumulative delivered/read markers and their coalescing.
//! - `typing`: typing indicators and their expiry.
//! - `calls`: call signalling.
//! - `cluster`: shared changes applied in the cluster's one order (`--cluster`).
//! - `cluster_members`: stand-ins for other nodes' users, rosters.
//! - `cluster_files`: transfers between users of two nodes.
//! - `cluster_store`: every node's stored files, listed and served from any node.
//! - `output`: frames, fan-outs, errors and closes.
//! - [`history`]: the message log index, duplicate detection, catch-up ranges.
//! - `validate`: name, room and text rules.
//! - [`accounts`]: password-protected names, failed-login lockouts.
//! - [`limits`]: connection caps, login deadline, message rate, rooms per user.

pub mod accounts;
mod calls;
mod cluster;
pub use cluster::RECEIPT_BATCH_MS;
pub use receipts::MARKER_LOG_MS;
mod cluster_files;
mod cluster_members;
mod cluster_store;
pub mod effect;
mod filename;
pub mod history;
pub mod http_files;
mod http_sink;
pub mod limits;
pub mod logsafe;
mod outbox;
mod output;
pub use outbox::slow_consumer_bye;
mod reads;
mod receipts;
mod relay;
mod rooms;
mod search;
mod session;
pub mod store_ops;
mod timers;
mod topics;
pub mod transfer;
mod transfer_ctl;
mod transfer_frames;
pub mod transfer_ids;
mod transfer_store;
mod typing;
pub mod validate;

#[cfg(test)]
mod tests;

use crate::protocol::{encode_shared, ClientMsg, ErrorCode, FrameError, ServerMsg};
use effect::{Completion, Effect};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

mod conn_id;
pub use conn_id::ConnId;
pub(crate) use conn_id::{ConnMap, ConnTable};

/// The current time, given by the caller: monotonic milliseconds for timers and
/// Unix milliseconds (UTC) for message timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    pub mono_ms: u64,
    pub unix_ms: u64,
}

/// Tunables of the chat logic.
#[derive(Debug, Clone)]
pub struct Config {
    /// An active typing state without refresh expires after this long.
    pub typing_timeout_ms: u64,
    /// A call ringing this long without an answer ends as missed.
    pub ring_timeout_ms: u64,
    /// Longest accepted message text, in characters.
    pub max_text_chars: usize,
    /// How long a dropped user's name is reserved for their reconnecting client.
    pub grace_ms: u64,
    /// Reported in `welcome`.
    pub server_name: String,
    /// This run of the server, reported in `welcome` (the shell sets it from
    /// the clock at start-up; a restarted server has another).
    pub boot: u64,
    /// Abuse limits.
    pub limits: limits::Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            typing_timeout_ms: 5_000,
            ring_timeout_ms: 30_000,
            max_text_chars: 4_000,
            grace_ms: 30_000,
            server_name: format!("chat-server {}", env!("CARGO_PKG_VERSION")),
            boot: 0,
            limits: limits::Limits::default(),
        }
    }
}

/// How urgent an outgoing frame is. Under backpressure the reactor drops
/// `Low` frames (typing indicators) rather than queue them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    Low,
    /// A file chunk of transfer N: sent after every other frame, round-robin
    /// across transfers, never dropped (credit windows bound it).
    Chunk(u64),
}

/// Something the core wants done on a connection.
#[derive(Debug, Clone)]
pub enum Output {
    /// Queue these bytes (a complete encoded frame).
    Frame(Rc<[u8]>, Priority),
    /// Flush what is queued, then close; the reason is for the log.
    Close(String),
    /// Read the connection's input again: a hold (the message rate) is
    /// over. Not a frame: it never waits behind one.
    Resume,
}

/// Why a connection went away, as the reactor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// The peer closed or the socket failed.
    Abrupt,
    /// The server dropped it (slow consumer, protocol violation).
    Kicked,
}

/// Per-connection state: 80 bytes, one per connection, so what few
/// sessions ever set (a call, rooms left, an away message) is boxed in
/// [`Rare`], made when first needed.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Set once logged in.
    pub name: Option<String>,
    /// Rooms joined, sorted.
    pub rooms: RoomSet,
    /// This session's download key (see `http_files`), shared with
    /// [`Core::file_keys`].
    pub files_key: Option<Rc<str>>,
    rare: Option<Box<Rare>>,
    pub status: crate::protocol::Status,
    /// Set when the core asked for the connection to close.
    pub closing: bool,
}

/// The part of a [`Session`] most never set.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    /// The call this user is in (ringing or active).
    pub call: Option<u64>,
    /// Rooms this session left, with the newest id then (the last
    /// [`LEFT_KEPT`]): a receipt for what arrived before the leave counts.
    pub left: Vec<(String, u64)>,
    /// The away message private messages to this user are answered with.
    pub away: Option<String>,
    /// Senders told of it since this user went away (at most
    /// [`AWAY_TOLD_KEPT`]; past that, a sender may be told again).
    pub away_told: Vec<String>,
}

impl Session {
    /// The rarely set part, made now if it was not.
    pub fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The call this user is in (ringing or active).
    pub fn call(&self) -> Option<u64> {
        self.rare.as_ref().and_then(|r| r.call)
    }

    pub fn set_call(&mut self, call: Option<u64>) {
        if call.is_some() || self.rare.is_some() {
            self.rare_mut().call = call;
        }
    }

    /// Rooms this session left, with the newest id then.
    pub fn left(&self) -> &[(String, u64)] {
        self.rare.as_ref().map_or(&[], |r| &r.left)
    }

    /// The away message, if one is set.
    pub fn away(&self) -> Option<&String> {
        self.rare.as_ref().and_then(|r| r.away.as_ref())
    }

    /// Set the away message (the senders told of the last one stay: see
    /// `set_status`).
    pub fn set_away(&mut self, away: Option<String>) {
        if away.is_some() || self.rare.is_some() {
            self.rare_mut().away = away;
        }
    }

    /// The rarely set part, if it was made.
    pub fn rare(&mut self) -> Option<&mut Rare> {
        self.rare.as_deref_mut()
    }
}

/// Senders remembered per away period, so each is told once.
pub(crate) const AWAY_TOLD_KEPT: usize = 256;

/// Rooms a session remembers having left, for late receipts.
pub(crate) const LEFT_KEPT: usize = 8;

/// A user's rooms: a sorted `Vec`, since a user is in a handful of rooms and
/// a `BTreeSet` would allocate a whole node (~280 bytes) for the first one.
#[derive(Debug, Default, Clone)]
pub(crate) struct RoomSet(Vec<String>);

impl RoomSet {
    /// Add `room`; false if it was there. The vector grows one place at a
    /// time: most users are in one room (a first push would make room for 4).
    pub fn insert(&mut self, room: String) -> bool {
        match self.0.binary_search(&room) {
            Ok(_) => false,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, room);
                true
            }
        }
    }

    /// Remove `room`; false if it was not there.
    pub fn remove(&mut self, room: &str) -> bool {
        match self.0.binary_search_by(|r| r.as_str().cmp(room)) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn contains(&self, room: &str) -> bool {
        self.0.binary_search_by(|r| r.as_str().cmp(room)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a RoomSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for RoomSet {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A room and what the core remembers about it.
#[derive(Debug, Default)]
pub(crate) struct Room {
    /// Member name -> connection.
    pub members: BTreeMap<String, ConnId>,
}

/// The chat state machine.
pub struct Core {
    pub(crate) cfg: Config,
    pub(crate) sessions: ConnTable<Session>,
    /// Online user name -> connection.
    pub(crate) names: HashMap<String, ConnId>,
    pub(crate) rooms: BTreeMap<String, Room>,
    pub(crate) history: history::History,
    /// Session token of each user logged in or with a reserved name.
    pub(crate) tokens: HashMap<String, String>,
    /// Download key (`welcome.files_key`) -> the connection of the user
    /// online with it.
    pub(crate) file_keys: HashMap<Rc<str>, ConnId>,
    /// HTTP downloads from the store in flight (see `http_files`).
    pub(crate) http_streams: HashMap<u64, http_files::HttpStream>,
    pub(crate) http_seq: u64,
    /// Names reserved after a drop: name -> (token, monotonic deadline).
    pub(crate) reserved: HashMap<String, (String, u64)>,
    token_seq: u64,
    token_keys: std::collections::hash_map::RandomState,
    pub(crate) receipts: receipts::Receipts,
    pub(crate) typing: typing::Typing,
    pub(crate) calls: calls::Calls,
    pub(crate) transfers: transfer::Transfers,
    pub(crate) guard: limits::Guard,
    pub(crate) timers: timers::Timers,
    pub(crate) relay: relay::Relay,
    pub(crate) accounts: accounts::Accounts,
    out: Vec<(ConnId, Output)>,
    pub(crate) outbox: outbox::Outbox,
    effects: VecDeque<Effect>,
    /// History reads in flight: query -> what asked for it.
    pub(crate) reads: HashMap<u64, reads::Read>,
    next_query: u64,
    /// Searches in flight: ticket -> (connection, the words asked).
    pub(crate) searches: HashMap<u64, (ConnId, String)>,
    /// Room topics (kept in the history database, for empty rooms too).
    pub(crate) topics: HashMap<String, topics::Topic>,
    /// This node's part in a cluster, if it is in one (see `cluster`).
    pub(crate) cluster: Option<Box<cluster::Cluster>>,
}

impl Core {
    /// A core with in-memory history only.
    pub fn new(cfg: Config) -> Self {
        Core::with_history(cfg, history::History::default())
    }

    /// A core over a history replayed from its log.
    pub fn with_history(cfg: Config, mut history: history::History) -> Self {
        let topics = topics::restore(std::mem::take(&mut history.replayed_topics));
        let mut receipts = receipts::Receipts::default();
        for m in std::mem::take(&mut history.replayed_markers) {
            receipts.restore(&m);
        }
        Core {
            cfg,
            sessions: ConnTable::default(),
            names: HashMap::new(),
            rooms: BTreeMap::new(),
            history,
            tokens: HashMap::new(),
            reserved: HashMap::new(),
            token_seq: 0,
            file_keys: HashMap::new(),
            http_streams: HashMap::new(),
            http_seq: 0,
            token_keys: Default::default(),
            receipts,
            typing: Default::default(),
            calls: Default::default(),
            transfers: Default::default(),
            guard: Default::default(),
            timers: Default::default(),
            relay: Default::default(),
            accounts: Default::default(),
            out: Vec::new(),
            outbox: Default::default(),
            effects: VecDeque::new(),
            reads: HashMap::new(),
            next_query: 0,
            searches: HashMap::new(),
            topics,
            cluster: None,
        }
    }

    /// A connection was accepted.
    pub fn connect(&mut self, conn: ConnId) {
        self.sessions.insert(conn, Session::default());
    }

    /// Number of logged-in users.
    pub fn online(&self) -> usize {
        self.names.len()
    }

    /// One decoded frame from `conn`.
    pub fn handle(&mut self, conn: ConnId, msg: ClientMsg, now: Now) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        if session.closing {
            return;
        }
        let logged_in = session.name.is_some();
        if let Err(e) = msg.check_lengths() {
            // Echo the cid only if it is not the oversized field itself.
            let max = crate::protocol::lengths::MAX_CID;
            let cid = msg.cid().filter(|c| c.len() <= max).map(str::to_string);
            let file = matches!(
                msg,
                ClientMsg::FileOffer { .. } | ClientMsg::Upload { .. } | ClientMsg::Download { .. }
            );
            let code = if file && e.field == "name" {
                ErrorCode::BadFileName
            } else {
                ErrorCode::Invalid
            };
            self.error_cid(conn, code, e.to_string(), msg.kind(), cid);
            return;
        }
        if let Err(e) = msg.check_numbers() {
            let cid = msg.cid().map(str::to_string);
            self.error_cid(conn, ErrorCode::Invalid, e.to_string(), msg.kind(), cid);
            return;
        }
        // In a cluster, a logged-in user's frames (and whatever follows a
        // login on its way) go through the sequence: see `cluster`.
        if self.cluster.is_some() && (logged_in || self.cluster_login_pending(conn)) {
            return self.cluster_frame(conn, msg, now);
        }
        self.dispatch(conn, msg, now);
    }

    /// Act on one checked frame from `conn` (see [`Core::handle`]).
    pub(crate) fn dispatch(&mut self, conn: ConnId, msg: ClientMsg, now: Now) {
        let logged_in = self.sessions.get(&conn).is_some_and(|s| s.name.is_some());
        match msg {
            ClientMsg::Ping { seq } => self.send(conn, &ServerMsg::Pong { seq }),
            // How chunks are written to this connection: the shell's business.
            ClientMsg::BinaryChunks {} => {}
            ClientMsg::Hello {
                version,
                name,
                room,
                status,
                resume,
                password,
            } => {
                if logged_in {
                    self.error(
                        conn,
                        ErrorCode::AlreadyLoggedIn,
                        "you are already logged in",
                        "hello",
                    );
                } else {
                    let login = session::Login {
                        version,
                        name,
                        room,
                        status: status.unwrap_or_default(),
                        resume: resume.unwrap_or_default(),
                        password,
                        verified: false,
                    };
                    self.login(conn, login, now);
                }
            }
            other if !logged_in => {
                let kind = other.kind();
                let cid = other.cid().map(str::to_string);
                self.error_cid(
                    conn,
                    ErrorCode::NotLoggedIn,
                    "log in first: the first frame must be hello".into(),
                    kind,
                    cid,
                );
            }
            ClientMsg::Logout {} => self.logout(conn, now),
            ClientMsg::RoomMsg { room, text, cid } => self.room_msg(conn, room, text, cid, now),
            ClientMsg::PrivateMsg { to, text, cid } => self.private_msg(conn, to, text, cid, now),
            ClientMsg::SetStatus { status, message } => self.set_status(conn, status, message),
            ClientMsg::SetTopic { room, topic } => self.set_topic(conn, room, topic, now),
            ClientMsg::Typing { room, to, active } => self.typing_msg(conn, room, to, active, now),
            ClientMsg::Receipt {
                kind,
                room,
                peer,
                up_to,
            } => self.receipt(conn, kind, room, peer, up_to, now),
            ClientMsg::CreateRoom { room } => self.join(conn, room, true, now),
            ClientMsg::Join { room } => self.join(conn, room, false, now),
            ClientMsg::Leave { room } => self.leave(conn, room, now),
            ClientMsg::ListRooms {} => self.list_rooms(conn),
            ClientMsg::ListUsers {} => self.list_users(conn),
            ClientMsg::ChangePassword { old, new } => self.change_password(conn, old, new, now),
            ClientMsg::History {
                room,
                peer,
                before,
                limit,
            } => self.history_request(conn, room, peer, before, limit),
            ClientMsg::Search {
                text,
                room,
                peer,
                before,
                limit,
            } => self.search(conn, text, room, peer, before, limit),
            ClientMsg::Call { to, media } => self.call(conn, to, media, now),
            ClientMsg::CallAccept { call } => self.call_accept(conn, call),
            ClientMsg::CallDecline { call } => self.call_decline(conn, call),
            ClientMsg::Hangup { call } => self.hangup(conn, call),
            file @ (ClientMsg::FileOffer { .. }
            | ClientMsg::FileAccept { .. }
            | ClientMsg::FileReject { .. }
            | ClientMsg::FileCredit { .. }
            | ClientMsg::FileChunk { .. }
            | ClientMsg::FilePause { .. }
            | ClientMsg::FileResume { .. }
            | ClientMsg::FileCancel { .. }
            | ClientMsg::FileDone { .. }
            | ClientMsg::FileFailed { .. }
            | ClientMsg::Upload { .. }
            | ClientMsg::ListFiles {}
            | ClientMsg::Download { .. }) => self.file_msg(conn, file, now),
        }
    }

    /// A frame from `conn` could not be decoded. Fatal errors close it.
    /// `re`: the frame's `type`, when it could be read (see
    /// `protocol::kinds::readable_kind`).
    pub fn frame_error(&mut self, conn: ConnId, err: &FrameError, re: Option<&str>) {
        let code = if err.is_fatal() {
            ErrorCode::FrameTooLarge
        } else {
            ErrorCode::BadFrame
        };
        self.send(
            conn,
            &ServerMsg::Error {
                code,
                message: err.to_string(),
                re: re.map(str::to_string),
                cid: None,
            },
        );
        if err.is_fatal() {
            self.close(conn, format!("protocol error: {err}"));
        }
    }

    /// Timers due at `now` (one table, see `timers`): typing expiry,
    /// unanswered calls, reserved names, login deadlines.
    pub fn tick(&mut self, now: Now) {
        use crate::cluster::event::Expiry;
        use timers::Timer;
        while let Some(t) = self.timers.pop_due(now.mono_ms) {
            match t {
                Timer::Typing(name, conv) => self.typing_expired(&name, &conv),
                Timer::Ring(id) => {
                    if !self.cluster_expire(Expiry::Ring { call: id }, now) {
                        self.ring_expired(id)
                    }
                }
                Timer::Reservation(name) => {
                    if !self.reserved.contains_key(&name) {
                        continue;
                    }
                    let what = Expiry::Reservation { name: name.clone() };
                    if !self.cluster_expire(what, now) {
                        self.reservation_expired(&name)
                    }
                }
                Timer::Login(conn) => self.login_expired(conn),
                Timer::Throttle(conn) => self.throttle_over(conn),
                Timer::PartialFrame(conn) => self.partial_frame_expired(conn),
                Timer::TransferExpiry(id) => self.transfer_expired(id),
                Timer::ClusterReceipts => self.flush_cluster_receipts(now),
                Timer::LogMarkers => self.log_markers(),
            }
        }
    }

    /// The earliest monotonic time at which [`Core::tick`] has work.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Called once per event-loop turn, after all input: emits coalesced
    /// receipts and hands the turn's history records
    /// to the writer as one batch (an [`Effect::Log`]).
    pub fn end_of_turn(&mut self) {
        self.flush_receipts();
        self.seal_log();
    }

    /// Queue the records appended so far as a batch (before any read
    /// effect, so the read sees them).
    pub(crate) fn seal_log(&mut self) {
        if let Some(b) = self.history.seal() {
            self.effects.push_back(Effect::Log(b));
        }
    }

    pub(crate) fn push_effect(&mut self, e: Effect) {
        self.effects.push_back(e);
    }

    /// The next effect to run, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        for job in self.take_auth_jobs() {
            self.effects.push_back(Effect::Auth(job));
        }
        self.effects.pop_front()
    }

    /// A finished effect.
    pub fn complete(&mut self, now: Now, done: Completion) {
        match done {
            Completion::Logged { seq, result } => {
                let failed = result.is_err();
                let lost = self.history.settle(seq, !failed);
                let requeued = self.history.newest_unsettled();
                self.transfers.ids.settled(seq, !failed, requeued);
                if failed {
                    log::warn!(
                        "history batch {seq} was not stored ({}); {} message(s) refused with store_failed",
                        result.err().unwrap_or_default(),
                        lost.len()
                    );
                }
                self.settle(seq, failed);
            }
            Completion::HistoryPage(page) => self.history_page(page),
            Completion::Auth(done) => self.auth_done(done, now),
            Completion::Store(done) => self.store_done(done, now),
            Completion::AccountsSaved { ticket, result } => {
                self.accounts_saved(ticket, result, now)
            }
            Completion::Search(done) => self.search_done(done),
            Completion::Pruned { through } => self.history.pruned(through),
            Completion::Cluster(input) => self.cluster_input(input, now),
        }
    }

    /// Bytes of history records the writer has not settled yet. The shell
    /// stops reading input while this is past its limit, so a disk that
    /// cannot keep up slows the senders instead of growing the server.
    pub fn log_backlog(&self) -> usize {
        self.history.unsettled_bytes()
    }

    /// Frames waiting for a batch or a read, over all connections.
    pub fn waiting_frames(&self) -> usize {
        self.outbox.waiting_frames()
    }

    /// The highest message id assigned so far.
    pub fn last_id(&self) -> u64 {
        self.history.last_id()
    }

    /// Take the frames and closes produced so far, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (ConnId, Output)> {
        self.out.drain(..)
    }

    /// Take the frames and closes produced so far, in order, leaving the
    /// emptied `spare` in their place: the shell's vector and the core's
    /// trade places each turn, so the output is neither copied nor grown
    /// afresh.
    pub fn take_output(&mut self, mut spare: Vec<(ConnId, Output)>) -> Vec<(ConnId, Output)> {
        spare.clear();
        std::mem::replace(&mut self.out, spare)
    }

    /// Tell everyone the server is going away.
    pub fn shutdown(&mut self, reason: &str) {
        self.cluster_leaving();
        let frame = encode_shared(&ServerMsg::Bye {
            code: crate::protocol::ByeCode::Shutdown,
            reason: reason.to_string(),
        });
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for c in conns {
            self.emit(c, Output::Frame(frame.clone(), Priority::Normal), None);
        }
        self.log_markers();
        self.seal_log();
    }
}
