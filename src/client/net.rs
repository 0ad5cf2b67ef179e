//! The network thread: its own mio `Poll` and `Waker`, owning the TCP stream.
//!
//! The UI sends [`ClientMsg`]s through a [`NetHandle`] (a channel plus a wake
//! of the poll). The thread connects, sends `hello`, then loops: poll ->
//! drain the UI channel -> read until `WouldBlock` and decode frames
//! incrementally -> let [`ClientState`](super::state::ClientState) handle the
//! batch -> queue replies (one cumulative delivered receipt per conversation)
//! -> write until `WouldBlock`, keeping the rest queued (short writes are
//! normal) -> expire typing indicators. Events go to the [`Sink`].
//!
//! Login outcome and the end of the session are reported on a status channel.
//!
//! `redial::net_main` wraps [`connect`] and `Link::run` in a reconnect
//! loop: when a connection that was logged in drops (a `bye` from a server
//! shutting down included; our own logout's is not), it prints one line,
//! moves to the next server address (`--host A,B`: the nodes of a cluster)
//! and, once a whole round of addresses has failed, waits with exponential
//! backoff and jitter (see `reconnect`), still taking frames from the front
//! end (`/reconnect` cuts the wait short); then it connects again and sends
//! a resuming `hello`. After its `welcome` the state's unacknowledged
//! messages go first, in client id order, with our receipt markers, then
//! whatever the front end sent meanwhile. A refused re-login (the name was
//! taken) ends the client; `--no-reconnect` restores exiting on a drop.
//! The first connection goes round the addresses and backs off the same way
//! when no server can be reached or one cuts the connection before
//! `welcome` (each try is shown); only a refused first login, or
//! `--no-reconnect` (after one try per address), ends the client at once.

mod connect;
mod files;
mod redial;

pub use connect::connect;

use super::event::Event;
use super::output::Sink;
use super::servers::ServerAddr;
use super::state::coalesce;
use super::tls::{TlsSetup, Transport};
use super::{ClientError, Shared};
use crate::protocol::codec::split_frame;
use crate::protocol::{
    binary, decode_frame, encode, ByeCode, ClientMsg, ErrorCode, ServerMsg, MAX_SERVER_FRAME,
};
use files::Incoming;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const SOCK: Token = Token(0);
const WAKE: Token = Token(1);
/// How long the server may take to answer `hello`.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server to close after `logout`.
const LOGOUT_GRACE: Duration = Duration::from_secs(3);
const READ_CHUNK: usize = 16 * 1024;

/// What the network thread tells the front end.
#[derive(Debug)]
pub enum NetStatus {
    /// `welcome` arrived (its events were already emitted).
    LoggedIn,
    /// The thread is done: `None` after a logout, else why it failed.
    Ended(Option<ClientError>),
}

/// What the front end tells the network thread.
#[derive(Debug)]
enum ToNet {
    Frame(ClientMsg),
    /// Disconnected: try now instead of at the next retry.
    Reconnect,
}

/// The UI's way to send frames: a channel and a wake-up of the poll.
#[derive(Clone, Debug)]
pub struct NetHandle {
    tx: Sender<ToNet>,
    waker: Arc<Waker>,
}

impl NetHandle {
    /// Queue frames for sending (`logout` also ends the session once the server closes).
    pub fn send(&self, frames: impl IntoIterator<Item = ClientMsg>) {
        let mut any = false;
        for f in frames {
            if self.tx.send(ToNet::Frame(f)).is_err() {
                return; // the network thread is gone; its status says why
            }
            any = true;
        }
        if any {
            // Failing to wake means the poll is gone too.
            let _ = self.waker.wake();
        }
    }

    /// While disconnected: try to reconnect now (ignored while connected).
    pub fn reconnect_now(&self) {
        if self.tx.send(ToNet::Reconnect).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// Where to connect and what to ask for.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Server addresses, tried in turn (see `servers::Rotation`); not empty.
    pub servers: Vec<ServerAddr>,
    pub room: String,
    /// Reconnect after a drop (else the client ends with `Lost`).
    pub reconnect: bool,
    /// First retry delay (doubling to `reconnect::CAP`).
    pub reconnect_base: Duration,
    /// Connect with TLS.
    pub tls: Option<TlsSetup>,
}

/// Start the network thread. Login progress arrives on the returned receiver.
pub fn spawn(
    cfg: NetConfig,
    shared: Arc<Shared>,
    sink: Arc<dyn Sink>,
) -> Result<(NetHandle, Receiver<NetStatus>), ClientError> {
    let local = |what: &str, e: io::Error| ClientError::Local(format!("{what}: {e}"));
    let poll = Poll::new().map_err(|e| local("cannot create a poll", e))?;
    let waker = Waker::new(poll.registry(), WAKE).map_err(|e| local("cannot create a waker", e))?;
    let (tx, rx) = mpsc::channel();
    let (status_tx, status_rx) = mpsc::channel();
    thread::Builder::new()
        .name("chat-net".into())
        .spawn(move || {
            let end = redial::net_main(&cfg, poll, rx, &shared, sink.as_ref(), &status_tx);
            shared.notify();
            let _ = status_tx.send(NetStatus::Ended(end));
        })
        .map_err(|e| local("cannot start the network thread", e))?;
    Ok((
        NetHandle {
            tx,
            waker: Arc::new(waker),
        },
        status_rx,
    ))
}

/// Whether an error answering `hello` means trying again cannot help.
fn refuses_login(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NameTaken
            | ErrorCode::VersionMismatch
            | ErrorCode::Invalid
            | ErrorCode::AuthRequired
            | ErrorCode::BadPassword
            | ErrorCode::TlsRequired
            | ErrorCode::TlsNotSupported
    )
}

fn lost(e: impl std::fmt::Display) -> ClientError {
    ClientError::Lost {
        detail: Some(e.to_string()),
    }
}

/// The connection and its buffers.
struct Link<'a> {
    poll: Poll,
    rx: Receiver<ToNet>,
    shared: &'a Shared,
    sink: &'a dyn Sink,
    status: &'a Sender<NetStatus>,
    stream: Transport,
    inbuf: Vec<u8>,
    /// Encoded frames not yet written, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    want_write: bool,
    logged_in: bool,
    /// Set once `logout` is queued: when to stop waiting for the close.
    logout_by: Option<Instant>,
    /// Frames from the front end waiting for the (re-)login.
    held: Vec<ClientMsg>,
    /// The server's message if it refused the login.
    refused: Option<String>,
    /// The `bye` reason if another connection took this session over.
    taken_over: Option<String>,
    /// The server offered binary file chunks (`welcome`): ours go as
    /// binary frames, and we asked for theirs.
    binary: bool,
}

/// Why waiting for the next connection attempt ended.
enum Idle {
    /// Time for the next try (or `/reconnect`).
    Try,
    /// Logout, or the front end went away.
    Quit,
}

impl Link<'_> {
    /// A fresh connection: empty buffers, not logged in.
    fn reset(&mut self, stream: Transport) {
        self.stream = stream;
        self.inbuf.clear();
        self.out.clear();
        self.out_pos = 0;
        self.want_write = true;
        self.logged_in = false;
        self.binary = false; // until this server's welcome says
        self.refused = None;
    }

    /// A frame from the front end. Messages go out through the state, which
    /// hands out each unacknowledged one once per connection, in client id
    /// order; until the login is through, frames wait.
    fn outgoing(&mut self, msg: ClientMsg) {
        if !self.logged_in && !matches!(msg, ClientMsg::Logout {}) {
            self.hold(msg);
            return;
        }
        match msg {
            ClientMsg::RoomMsg { cid: Some(_), .. }
            | ClientMsg::PrivateMsg { cid: Some(_), .. } => {
                let frames = self.shared.lock().take_unsent();
                for f in &frames {
                    self.queue(f);
                }
            }
            m => self.queue(&m),
        }
    }

    /// Keep a frame for after the next login, unless the state re-sends it
    /// anyway (messages, receipt markers) or it would be stale (typing).
    fn hold(&mut self, msg: ClientMsg) {
        match msg {
            ClientMsg::RoomMsg { cid: Some(_), .. }
            | ClientMsg::PrivateMsg { cid: Some(_), .. }
            | ClientMsg::Receipt { .. }
            | ClientMsg::Typing { .. } => {}
            m => self.held.push(m),
        }
    }
}

impl Link<'_> {
    fn run(&mut self, room: &str) -> Result<(), ClientError> {
        self.poll
            .registry()
            .register(
                &mut self.stream,
                SOCK,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(lost)?;
        let hello = self.shared.lock().hello(room);
        self.queue(&hello);
        self.refused = None;
        let login_by = Instant::now() + LOGIN_TIMEOUT;
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            let (typing, receipts) = {
                let st = self.shared.lock();
                (st.next_deadline(), st.delivered_due())
            };
            let deadline = [
                typing,
                // (Before the welcome nothing is sent: a past deadline
                // would only spin the loop.)
                self.logged_in.then_some(receipts).flatten(),
                self.logged_in.then(|| self.files_deadline()).flatten(),
                (!self.logged_in).then_some(login_by),
                self.logout_by,
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(lost(e));
            }
            let mut readable = false;
            let mut woken = false;
            for ev in events.iter() {
                match ev.token() {
                    SOCK => readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    WAKE => woken = true,
                    _ => {}
                }
            }
            if woken && !self.drain_ui() {
                return Ok(()); // the front end is gone: just close
            }
            let eof = if readable { self.read()? } else { false };
            if self.logged_in {
                self.pump_files();
                // Receipts held back by their pause, once it is over.
                let due = self.shared.lock().take_delivered(Instant::now());
                for r in &due {
                    self.queue(r);
                }
            }
            if let Err(e) = self.flush() {
                return if self.logout_by.is_some() {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            let now = Instant::now();
            let expired = self.shared.lock().tick(now);
            self.emit(expired);
            if eof {
                return match (self.logout_by, self.logged_in) {
                    (Some(_), _) => Ok(()),
                    (None, true) => Err(lost("the server closed the connection")),
                    (None, false) => Err(ClientError::Login {
                        message: "the server closed the connection before accepting the login"
                            .into(),
                    }),
                };
            }
            if self.logout_by.is_some_and(|t| now >= t) {
                return Ok(());
            }
            if !self.logged_in && now >= login_by {
                return Err(ClientError::Login {
                    message: format!(
                        "no answer from the server within {}s",
                        LOGIN_TIMEOUT.as_secs()
                    ),
                });
            }
        }
    }

    fn queue(&mut self, msg: &ClientMsg) {
        if matches!(msg, ClientMsg::Logout {}) && self.logout_by.is_none() {
            self.logout_by = Some(Instant::now() + LOGOUT_GRACE);
            // What was received is acknowledged before leaving.
            let owed = self.shared.lock().owed_delivered();
            for r in &owed {
                self.out.extend_from_slice(&encode(r));
            }
        }
        self.out.extend_from_slice(&encode(msg));
    }

    /// Take everything the UI sent; false if the UI has gone away.
    fn drain_ui(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(ToNet::Frame(msg)) => self.outgoing(msg),
                Ok(ToNet::Reconnect) => {} // connected already
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Read until `WouldBlock`, then handle the whole batch. Returns whether the server closed.
    fn read(&mut self) -> Result<bool, ClientError> {
        let mut chunk = [0u8; READ_CHUNK];
        let mut eof = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if self.logout_by.is_some() => {
                    eof = true;
                    break;
                }
                // TLS: an untrusted certificate, or no TLS on that port.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(ClientError::Tls(e.to_string()))
                }
                Err(e) => return Err(lost(e)),
            }
        }
        let mut frames = Vec::new();
        let mut used = 0;
        loop {
            let rest = &self.inbuf[used..];
            if binary::is_binary(rest) {
                match split_frame(rest, 0) {
                    Ok(None) => break,
                    Ok(Some((body, n))) => {
                        used += n;
                        if let Ok((id, offset, data)) = binary::parse(body) {
                            frames.push(Incoming::Chunk(id, offset, data.to_vec()));
                        }
                    }
                    Err(e) => return Err(lost(format!("bad data from the server: {e}"))),
                }
                continue;
            }
            match decode_frame::<ServerMsg>(rest, MAX_SERVER_FRAME) {
                Ok(None) => break,
                Ok(Some(d)) => {
                    used += d.consumed;
                    // A frame we do not understand (a newer server) is skipped.
                    if let Ok(m) = d.frame {
                        frames.push(Incoming::Msg(m));
                    }
                }
                Err(e) => return Err(lost(format!("bad data from the server: {e}"))),
            }
        }
        self.inbuf.drain(..used);
        let frames = self.file_frames(frames);
        self.handle(frames)?;
        Ok(eof)
    }

    /// Let the state handle a batch; queue its replies and delivered receipts; show events.
    fn handle(&mut self, frames: Vec<ServerMsg>) -> Result<(), ClientError> {
        if frames.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let mut events = Vec::new();
        let mut replies = Vec::new();
        let mut just_logged_in = false;
        {
            let mut st = self.shared.lock();
            for m in frames {
                let mut welcome = false;
                if !self.logged_in {
                    match &m {
                        ServerMsg::Welcome {
                            boot,
                            binary_chunks,
                            ..
                        } => {
                            self.binary = *binary_chunks;
                            if self.binary {
                                replies.push(ClientMsg::BinaryChunks {});
                            }
                            self.logged_in = true;
                            just_logged_in = true;
                            welcome = true;
                            events.extend(self.shared.files.welcomed(*boot));
                        }
                        ServerMsg::Error {
                            code: ErrorCode::NameTaken,
                            message,
                            ..
                        } => {
                            self.refused = Some(message.clone());
                            return Err(ClientError::NameTaken {
                                name: st.me().to_string(),
                            });
                        }
                        // Held back by the server's rate limit, not refused: the welcome follows.
                        ServerMsg::Error {
                            code: ErrorCode::SlowDown,
                            ..
                        } => {}
                        ServerMsg::Error {
                            code: ErrorCode::AuthRequired,
                            message,
                            ..
                        } => {
                            self.refused = Some(message.clone());
                            return Err(ClientError::AuthRequired(message.clone()));
                        }
                        ServerMsg::Error { code, message, .. } => {
                            // A refusal is final; anything else (too many
                            // connections, a timeout) is worth another try.
                            if refuses_login(*code) {
                                self.refused = Some(message.clone());
                            }
                            return Err(ClientError::Login {
                                message: message.clone(),
                            });
                        }
                        _ => {}
                    }
                }
                if let ServerMsg::Bye {
                    code: ByeCode::TakenOver,
                    reason,
                } = &m
                {
                    self.taken_over = Some(reason.clone());
                }
                let out = st.handle(m, now);
                // Our own logout's `bye` needs no line.
                let ours = self.logout_by.is_some();
                events.extend(
                    out.events
                        .into_iter()
                        .filter(|e| !(ours && matches!(e, Event::Bye { .. }))),
                );
                replies.extend(out.frames);
                if welcome {
                    // Before anything new: what the last connection left
                    // unacknowledged, and our receipt markers again.
                    replies.extend(st.take_unsent());
                    replies.extend(st.resend_receipts());
                }
            }
            replies.extend(st.take_delivered(now));
        }
        coalesce(&mut events);
        for r in &replies {
            self.queue(r);
        }
        if just_logged_in {
            for m in std::mem::take(&mut self.held) {
                self.outgoing(m);
            }
        }
        self.emit(events);
        if just_logged_in {
            let _ = self.status.send(NetStatus::LoggedIn);
        }
        Ok(())
    }

    /// Show events. Their messages are recorded as displayed first, so that a
    /// line submitted (or a script command run) right after it is printed,
    /// even one woken by that very line, marks them read.
    fn emit(&self, events: Vec<Event>) {
        if !events.is_empty() {
            self.shared.lock().displayed(&events);
            self.sink.emit(&events);
        }
        self.shared.notify();
    }

    /// Write until done or `WouldBlock`; arm WRITABLE only while bytes remain.
    fn flush(&mut self) -> Result<(), ClientError> {
        // TLS records (handshake, alerts) wait in the session, not in `out`.
        if let Err(e) = self.stream.flush_tls() {
            return Err(lost(e));
        }
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(lost("the server stopped accepting data")),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(lost(e)),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > 64 * 1024 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let want = !self.out.is_empty() || self.stream.wants_write();
        if want != self.want_write {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.poll
                .registry()
                .reregister(&mut self.stream, SOCK, interest)
                .map_err(lost)?;
            self.want_write = want;
        }
        Ok(())
    }
}
