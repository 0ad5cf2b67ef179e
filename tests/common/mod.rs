//! Test harness shared by every integration test (`mod common;`).
//!
//! - [`Server`] spawns the real `chat-server` binary on port 0 with its own temporary data
//!   directory, waits (with a deadline) for `listening on HOST:PORT`, and kills it on drop.
//! - [`Client`] is a raw protocol client over a std `TcpStream`: it sends typed or raw frames and
//!   receives typed frames, every wait bounded by a deadline that panics with a message naming
//!   what was expected.
//! - [`ChatClient`] drives the real `chat-client` binary in scripted mode (stdin is a pipe, so it
//!   is not a tty) and waits for output lines, expect-style.
//! - [`redis::RedisServer`] runs a private `redis-server` (its own port and data directory) for
//!   the cluster tests.
//!
//! Tests synchronise on events (a frame arriving, a line printed), never on sleeps, and never on
//! "nothing arrived within N ms": a negative check is a barrier ([`Client::sync`]: a `ping`
//! with a fresh `seq`, read until its `pong`; [`ChatClient::sync`]: `/rooms`, read until its
//! answer), asserting the unwanted frame or line did not come before it.

#![allow(dead_code)]

pub mod hostile;
pub mod redis;
pub mod tmux;

/// Every client frame type (`ClientMsg`'s tags), for the docs check and the fuzzer.
pub const CLIENT_FRAME_TYPES: &[&str] = chat::protocol::kinds::CLIENT_KINDS;

use chat::protocol::{
    decode_frame, encode, ClientMsg, ErrorCode, Marker, Media, ReceiptKind, ServerMsg, Status,
    PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server gets to print `listening on HOST:PORT`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Default deadline for an expected frame or line.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest server frame the test client accepts (the server has no limit of its own on what it
/// sends; this only guards the harness against garbage lengths).
const CLIENT_MAX_FRAME: usize = 64 * 1024 * 1024;
/// `seq` of the next barrier ping ([`Client::sync`]): unique in the process, and far above any
/// `seq` a test picks by hand.
static BARRIER_SEQ: AtomicU64 = AtomicU64::new(1 << 40);

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// A running `chat-server` on 127.0.0.1 with a private data directory. Killed on drop.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    args: Vec<String>,
    data_dir: PathBuf,
    /// The temporary data directory this `Server` made (none when the test gave one).
    _data_tmp: Option<tempfile::TempDir>,
    /// Holds the stderr log file (kept outside the data dir so it never pollutes it).
    log_dir: tempfile::TempDir,
    /// Lines the server printed on stdout after `listening on` (normally none).
    stdout_rest: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start `chat-server --port 0 --data-dir <tempdir> EXTRA_ARGS...`.
    pub fn start(extra_args: &[&str]) -> Server {
        let data_tmp = tempfile::Builder::new()
            .prefix("chat-test-data")
            .tempdir()
            .expect("create data dir");
        let data_dir = data_tmp.path().to_path_buf();
        Self::spawn_in(data_dir, Some(data_tmp), extra_args)
    }

    /// Start `chat-server --port 0 --data-dir DATA_DIR EXTRA_ARGS...` on a directory the test
    /// owns (e.g. a small filesystem it mounted); the directory is left in place on drop.
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Server {
        Self::spawn_in(data_dir.to_path_buf(), None, extra_args)
    }

    fn spawn_in(
        data_dir: PathBuf,
        data_tmp: Option<tempfile::TempDir>,
        extra_args: &[&str],
    ) -> Server {
        let log_dir = tempfile::Builder::new()
            .prefix("chat-test-log")
            .tempdir()
            .expect("create log dir");
        let args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let (child, addr, stdout_rest) = spawn_server(&data_dir, log_dir.path(), "0", &args);
        Server {
            child,
            addr,
            args,
            data_dir,
            _data_tmp: data_tmp,
            log_dir,
            stdout_rest,
        }
    }

    /// Address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data directory (survives [`Server::restart`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the server process is still running (it has not exited or been killed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the server wrote to stderr so far (all runs of this `Server`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.log_dir.path().join("server.stderr")
    }

    /// Kill the server and start it again with the same arguments, the same data directory and
    /// the same port (so clients can reconnect to [`Server::addr`]).
    pub fn restart(&mut self) {
        self.kill();
        let port = self.addr.port().to_string();
        let (child, addr, stdout_rest) =
            spawn_server(&self.data_dir, self.log_dir.path(), &port, &self.args);
        assert_eq!(addr, self.addr, "restarted server moved to another address");
        self.child = child;
        self.stdout_rest = stdout_rest;
    }

    /// Kill the server (SIGKILL) and reap it. Idempotent.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM (graceful shutdown) without waiting.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Wait for the server process to exit, panicking (with its log) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match wait_child(&mut self.child, timeout) {
            Some(status) => status,
            None => panic!(
                "server did not exit within {timeout:?}\n--- server stderr ---\n{}",
                tail(&self.log(), 60)
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let out = self
                .stdout_rest
                .lock()
                .map(|v| v.join("\n"))
                .unwrap_or_default();
            eprintln!(
                "--- chat-server {} stderr (last 80 lines) ---\n{}\n--- stdout after listening ---\n{}",
                self.addr,
                tail(&self.log(), 80),
                out
            );
        }
    }
}

fn spawn_server(
    data_dir: &Path,
    log_dir: &Path,
    port: &str,
    extra: &[String],
) -> (Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let log_path = log_dir.join("server.stderr");
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open server log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--port")
        .arg(port)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn chat-server");
    let stdout = child.stdout.take().expect("server stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let rest = Arc::new(Mutex::new(Vec::new()));
    let rest2 = Arc::clone(&rest);
    thread::spawn(move || {
        // Forward lines until `listening on` has been seen, then keep draining so the server
        // can never block on a full stdout pipe.
        let mut found = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if found {
                rest2.lock().unwrap().push(line);
            } else {
                found = line.starts_with("listening on ");
                if tx.send(line).is_err() {
                    found = true;
                }
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let rest = rest.trim();
                    let addr = rest
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut a| a.next())
                        .unwrap_or_else(|| panic!("bad address in {line:?}"));
                    break addr;
                }
                seen.push(line);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "chat-server did not print `listening on HOST:PORT` within {START_TIMEOUT:?} \
                     ({e:?})\nstdout: {seen:?}\n--- stderr ---\n{}",
                    tail(&log, 60)
                );
            }
        }
    };
    (child, addr, rest)
}

/// Wait up to `timeout` for `child` to exit (`None`: it is still running).
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------------------------------

/// Result of one bounded read.
#[derive(Debug)]
pub enum Recv {
    Frame(ServerMsg),
    Timeout,
    /// EOF, or the connection was reset / aborted.
    Closed(Option<io::ErrorKind>),
}

/// A raw protocol client: frames in, frames out, every wait bounded.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: Option<Option<io::ErrorKind>>,
    /// Name used in diagnostics (the login name once logged in).
    pub name: String,
    /// The session token of the last `welcome` a login helper read.
    pub session: Option<String>,
    /// The download key of that `welcome`.
    pub files_key: Option<String>,
    /// Binary chunk frames read (each given as a `file_chunk` with base64).
    pub binary_frames: usize,
    /// The `welcome` a login helper read offered binary chunks.
    pub binary_offered: bool,
}

impl Client {
    /// Open a TCP connection (no hello sent).
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, RECV_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("write timeout");
        Client {
            stream,
            buf: Vec::new(),
            closed: None,
            name: "(anonymous)".into(),
            session: None,
            files_key: None,
            binary_frames: 0,
            binary_offered: false,
        }
    }

    /// Connect, send `hello{name}` and wait for `welcome` and `joined{general}`.
    pub fn login(addr: SocketAddr, name: &str) -> Client {
        Self::login_with(addr, name, None, None)
    }

    /// Like [`Client::login`] with an initial room.
    pub fn login_to(addr: SocketAddr, name: &str, room: &str) -> Client {
        Self::login_with(addr, name, Some(room), None)
    }

    /// Like [`Client::login`] with an optional room and status.
    pub fn login_with(
        addr: SocketAddr,
        name: &str,
        room: Option<&str>,
        status: Option<Status>,
    ) -> Client {
        Self::login_hello(addr, name, hello(name, room, status), room)
    }

    /// Log in again as the session `token` belongs to (as a reconnecting
    /// client does), resuming `general`.
    pub fn login_resuming(addr: SocketAddr, name: &str, token: &str) -> Client {
        let msg = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            name: name.into(),
            room: None,
            status: None,
            resume: Some(chat::protocol::Resume {
                session: Some(token.into()),
                rooms: vec!["general".into()],
                since: None,
            }),
            password: None,
        };
        Self::login_hello(addr, name, msg, None)
    }

    fn login_hello(addr: SocketAddr, name: &str, msg: ClientMsg, room: Option<&str>) -> Client {
        let mut c = Client::connect(addr);
        c.name = name.to_string();
        c.send(&msg);
        let want_room = room.unwrap_or("general");
        match c.recv_what("welcome") {
            ServerMsg::Welcome {
                name: n,
                rooms,
                session,
                files_key,
                binary_chunks,
                ..
            } => {
                assert_eq!(n, name, "welcome names someone else");
                assert_eq!(rooms, vec![want_room.to_string()], "welcome rooms");
                c.session = Some(session);
                c.files_key = files_key;
                c.binary_offered = binary_chunks;
            }
            other => panic!("[{name}] login: expected welcome, got {other:?}"),
        }
        match c.recv_what("joined after welcome") {
            ServerMsg::Joined {
                room: r, members, ..
            } => {
                assert_eq!(r, want_room, "joined names another room");
                assert!(
                    members.iter().any(|m| m == name),
                    "joined members {members:?} lack {name}"
                );
            }
            other => panic!("[{name}] login: expected joined, got {other:?}"),
        }
        c
    }

    /// A clone of the socket, for writing from another thread.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone stream")
    }

    /// Send one typed frame.
    pub fn send(&mut self, msg: &ClientMsg) {
        let bytes = encode(msg);
        self.send_raw(&bytes);
    }

    /// Send several typed frames in a single write (so the server most likely reads them in
    /// one event-loop turn).
    pub fn send_batch(&mut self, msgs: &[ClientMsg]) {
        let bytes: Vec<u8> = msgs.iter().flat_map(encode).collect();
        self.send_raw(&bytes);
    }

    /// Send raw bytes (already framed, or deliberately broken).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send_raw(bytes) {
            panic!("[{}] write of {} bytes failed: {e}", self.name, bytes.len());
        }
    }

    /// Send raw bytes, returning the error (for writes that may race a server-side close).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Frame an arbitrary body with a correct length prefix and send it.
    pub fn send_body(&mut self, body: &[u8]) {
        self.send_raw(&frame_body(body));
    }

    /// Half-close: no more bytes from us.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Close both directions now (an abrupt disconnect as seen by the server).
    pub fn disconnect(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Read one frame or time out at `deadline`.
    pub fn read_frame(&mut self, deadline: Instant) -> Recv {
        let mut tmp = [0u8; 64 * 1024];
        loop {
            if let Some(msg) = self.pop_buffered() {
                return Recv::Frame(msg);
            }
            if let Some(kind) = self.closed {
                return Recv::Closed(kind);
            }
            let now = Instant::now();
            if now >= deadline {
                return Recv::Timeout;
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(left))
                .expect("set timeout");
            match self.stream.read(&mut tmp) {
                Ok(0) => self.closed = Some(None),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => self.closed = Some(Some(e.kind())),
            }
        }
    }

    fn pop_buffered(&mut self) -> Option<ServerMsg> {
        use chat::protocol::binary;
        if self.buf.len() >= 4 && binary::is_binary(&self.buf) {
            let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) & !binary::FLAG;
            let end = 4 + len as usize;
            if self.buf.len() < end {
                return None;
            }
            let frame: Vec<u8> = self.buf.drain(..end).collect();
            self.binary_frames += 1;
            let msg = binary::server_msg(&frame);
            return Some(msg.unwrap_or_else(|e| panic!("[{}] bad binary frame: {e}", self.name)));
        }
        match decode_frame::<ServerMsg>(&self.buf, CLIENT_MAX_FRAME) {
            Ok(None) => None,
            Ok(Some(d)) => {
                let body = String::from_utf8_lossy(&self.buf[4..d.consumed]).into_owned();
                self.buf.drain(..d.consumed);
                match d.frame {
                    Ok(msg) => Some(msg),
                    Err(e) => panic!(
                        "[{}] server sent a frame that is not a valid ServerMsg ({e}): {body}",
                        self.name
                    ),
                }
            }
            Err(e) => panic!("[{}] server broke framing: {e}", self.name),
        }
    }

    /// Next frame within [`RECV_TIMEOUT`].
    pub fn recv(&mut self) -> ServerMsg {
        self.recv_what("a frame")
    }

    /// Next frame within [`RECV_TIMEOUT`]; `what` names the expectation in the panic message.
    pub fn recv_what(&mut self, what: &str) -> ServerMsg {
        self.recv_within(RECV_TIMEOUT, what)
    }

    /// Next frame within `timeout`.
    pub fn recv_within(&mut self, timeout: Duration, what: &str) -> ServerMsg {
        match self.read_frame(Instant::now() + timeout) {
            Recv::Frame(m) => m,
            Recv::Timeout => panic!(
                "[{}] timed out after {timeout:?} waiting for {what}",
                self.name
            ),
            Recv::Closed(k) => panic!(
                "[{}] connection closed ({k:?}) while waiting for {what}",
                self.name
            ),
        }
    }

    /// Skip frames until one satisfies `pred` (within [`RECV_TIMEOUT`]).
    pub fn recv_until(&mut self, pred: impl FnMut(&ServerMsg) -> bool) -> ServerMsg {
        self.recv_until_what("a frame matching the predicate", pred)
    }

    /// [`Client::recv_until`] with a description for the panic message.
    pub fn recv_until_what(
        &mut self,
        what: &str,
        pred: impl FnMut(&ServerMsg) -> bool,
    ) -> ServerMsg {
        self.recv_until_within(RECV_TIMEOUT, what, pred)
    }

    /// [`Client::recv_until`] with an explicit timeout.
    pub fn recv_until_within(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerMsg) -> bool,
    ) -> ServerMsg {
        let deadline = Instant::now() + timeout;
        let mut skipped: VecDeque<ServerMsg> = VecDeque::new();
        let mut n_skipped = 0usize;
        loop {
            match self.read_frame(deadline) {
                Recv::Frame(m) if pred(&m) => return m,
                Recv::Frame(m) => {
                    n_skipped += 1;
                    skipped.push_back(m);
                    if skipped.len() > 10 {
                        skipped.pop_front();
                    }
                }
                Recv::Timeout => panic!(
                    "[{}] timed out after {timeout:?} waiting for {what}; skipped {n_skipped} \
                     frames, the last ones: {skipped:#?}",
                    self.name
                ),
                Recv::Closed(k) => panic!(
                    "[{}] connection closed ({k:?}) while waiting for {what}; skipped \
                     {n_skipped} frames, the last ones: {skipped:#?}",
                    self.name
                ),
            }
        }
    }

    /// Barrier: send `ping` with a fresh `seq` and read until its `pong` (within
    /// [`RECV_TIMEOUT`]); returns every frame that arrived before the pong.
    ///
    /// The server answers one connection's frames in order, so the pong comes after everything
    /// it had queued for this connection when it read the ping. A negative check built on this
    /// ("X did not arrive before the pong") is only as strong as the event that preceded it:
    /// call it after something proved the server finished the action that could have produced
    /// X (an `ack`, an error, another client's frame), never after a bare send.
    pub fn sync(&mut self) -> Vec<ServerMsg> {
        let seq = BARRIER_SEQ.fetch_add(1, Ordering::Relaxed);
        self.send(&ClientMsg::Ping { seq: Some(seq) });
        let deadline = Instant::now() + RECV_TIMEOUT;
        let mut before = Vec::new();
        loop {
            match self.read_frame(deadline) {
                Recv::Frame(ServerMsg::Pong { seq: Some(s) }) if s == seq => return before,
                Recv::Frame(m) => before.push(m),
                Recv::Timeout => panic!(
                    "[{}] barrier: no pong {seq} within {RECV_TIMEOUT:?}; frames before it: \
                     {before:#?}",
                    self.name
                ),
                Recv::Closed(k) => panic!(
                    "[{}] barrier: the connection closed ({k:?}) before pong {seq}; frames \
                     before it: {before:#?}",
                    self.name
                ),
            }
        }
    }

    /// Negative check by barrier ([`Client::sync`]): no frame at all arrives before the pong of
    /// a fresh ping, and the connection stays up.
    pub fn expect_quiet(&mut self) {
        let before = self.sync();
        assert!(
            before.is_empty(),
            "[{}] expected no frame before the barrier pong, got {before:#?}",
            self.name
        );
    }

    /// Read until the server closes the connection (EOF or reset), within [`RECV_TIMEOUT`].
    /// Returns the frames received on the way.
    pub fn expect_closed(&mut self) -> Vec<ServerMsg> {
        self.expect_closed_within(RECV_TIMEOUT)
    }

    /// [`Client::expect_closed`] with an explicit timeout.
    pub fn expect_closed_within(&mut self, timeout: Duration) -> Vec<ServerMsg> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            match self.read_frame(deadline) {
                Recv::Frame(m) => frames.push(m),
                Recv::Closed(_) => return frames,
                Recv::Timeout => {
                    let n = frames.len();
                    let last: Vec<_> = frames.into_iter().rev().take(5).collect();
                    panic!(
                        "[{}] expected the server to close the connection within {timeout:?}; \
                         it stayed open ({n} frames received, the last ones reversed: {last:#?})",
                        self.name
                    )
                }
            }
        }
    }

    /// Like [`Client::expect_closed`] but tolerates a partial frame at the end and does not
    /// decode anything: counts bytes until EOF/reset. For draining huge backlogs.
    pub fn drain_until_closed(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut total = self.buf.len();
        self.buf.clear();
        let mut tmp = vec![0u8; 256 * 1024];
        loop {
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "[{}] connection still open after {timeout:?} ({total} bytes drained)",
                    self.name
                );
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .expect("set timeout");
            match self.stream.read(&mut tmp) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return total,
            }
        }
    }

    // --- conveniences -------------------------------------------------------------------------

    /// Next frame must be `error{code}`; returns `(message, re)`.
    pub fn expect_error(&mut self, code: ErrorCode) -> (String, Option<String>) {
        match self.recv_what(&format!("error {code:?}")) {
            ServerMsg::Error {
                code: c,
                message,
                re,
                ..
            } if c == code => (message, re),
            other => panic!("[{}] expected error {code:?}, got {other:?}", self.name),
        }
    }

    /// `ping{seq}` and wait for the matching `pong` (other frames skipped).
    pub fn ping(&mut self, seq: u64) {
        self.send(&ClientMsg::Ping { seq: Some(seq) });
        self.recv_until_what(
            &format!("pong {seq}"),
            |m| matches!(m, ServerMsg::Pong { seq: Some(s) } if *s == seq),
        );
    }

    /// Next frame must be `pong{seq}`.
    pub fn expect_pong(&mut self, seq: u64) {
        match self.recv_what(&format!("pong {seq}")) {
            ServerMsg::Pong { seq: Some(s) } if s == seq => {}
            other => panic!("[{}] expected pong {seq}, got {other:?}", self.name),
        }
    }

    /// `join{room}`; waits for `joined{room}` and returns `(members, created)`.
    pub fn join(&mut self, room: &str) -> (Vec<String>, bool) {
        self.send(&ClientMsg::Join { room: room.into() });
        self.expect_joined(room)
    }

    /// Next frame must be `joined{room}`; returns `(members, created)`.
    pub fn expect_joined(&mut self, room: &str) -> (Vec<String>, bool) {
        match self.recv_what(&format!("joined {room}")) {
            ServerMsg::Joined {
                room: r,
                members,
                created,
            } if r == room => (members, created),
            other => panic!("[{}] expected joined {room}, got {other:?}", self.name),
        }
    }

    /// `room_msg` and wait for its `ack`; returns `(id, recipients)`.
    pub fn say(&mut self, room: &str, text: &str) -> (u64, u32) {
        self.send(&ClientMsg::RoomMsg {
            room: room.into(),
            text: text.into(),
            cid: None,
        });
        self.expect_ack(None)
    }

    /// `private_msg` and wait for its `ack`; returns the message id.
    pub fn dm(&mut self, to: &str, text: &str) -> u64 {
        self.send(&ClientMsg::PrivateMsg {
            to: to.into(),
            text: text.into(),
            cid: None,
        });
        let (id, recipients) = self.expect_ack(None);
        assert_eq!(recipients, 1, "a private message has one recipient");
        id
    }

    /// Skip to the next `ack` (other frames are skipped; it must carry `cid` if given);
    /// returns `(id, recipients)`. An `error` on the way fails the test.
    pub fn expect_ack(&mut self, cid: Option<&str>) -> (u64, u32) {
        match self.recv_until_what("ack", |m| {
            matches!(m, ServerMsg::Ack { .. } | ServerMsg::Error { .. })
        }) {
            ServerMsg::Ack {
                cid: c,
                id,
                recipients,
                ..
            } => {
                if let Some(want) = cid {
                    assert_eq!(c.as_deref(), Some(want), "ack cid");
                }
                (id, recipients)
            }
            other => panic!("[{}] expected ack, got {other:?}", self.name),
        }
    }

    /// Skip to the next `message` frame; returns `(id, from, room, to, text)`.
    pub fn expect_message(&mut self) -> MessageFrame {
        match self.recv_until_what("a message", |m| matches!(m, ServerMsg::Message { .. })) {
            ServerMsg::Message {
                id,
                ts,
                from,
                room,
                to,
                text,
                ..
            } => MessageFrame {
                id,
                ts,
                from,
                room,
                to,
                text,
            },
            _ => unreachable!(),
        }
    }

    /// Skip to a notice with this event and user (and room, if given); returns its text.
    pub fn expect_notice(
        &mut self,
        event: chat::protocol::NoticeKind,
        user: &str,
        room: Option<&str>,
    ) -> ServerMsg {
        self.recv_until_what(&format!("notice {event:?} {user} {room:?}"), |m| {
            matches!(m, ServerMsg::Notice { event: e, user: u, room: r, .. }
                if *e == event && u == user && (room.is_none() || r.as_deref() == room))
        })
    }
}

/// Fields of a `message` frame.
#[derive(Debug, Clone)]
pub struct MessageFrame {
    pub id: u64,
    pub ts: u64,
    pub from: String,
    pub room: Option<String>,
    pub to: Option<String>,
    pub text: String,
}

/// A `hello` for protocol version 1.
pub fn hello(name: &str, room: Option<&str>, status: Option<Status>) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: room.map(Into::into),
        status,
        resume: None,
        password: None,
    }
}

/// A correctly length-prefixed frame around an arbitrary body.
pub fn frame_body(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// `receipt` for a room.
pub fn room_receipt(kind: ReceiptKind, room: &str, up_to: u64) -> ClientMsg {
    ClientMsg::Receipt {
        kind,
        room: Some(room.into()),
        peer: None,
        up_to,
    }
}

/// `receipt` for a private conversation.
pub fn dm_receipt(kind: ReceiptKind, peer: &str, up_to: u64) -> ClientMsg {
    ClientMsg::Receipt {
        kind,
        room: None,
        peer: Some(peer.into()),
        up_to,
    }
}

/// `call{to, media}`.
pub fn call(to: &str, media: Media) -> ClientMsg {
    ClientMsg::Call {
        to: to.into(),
        media,
    }
}

/// Find `user`'s marker in a `receipts` frame.
pub fn marker_of<'a>(markers: &'a [Marker], user: &str) -> Option<&'a Marker> {
    markers.iter().find(|m| m.user == user)
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// The real chat-client binary
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    stderr: Vec<String>,
    stdout_eof: bool,
    stderr_eof: bool,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

/// The real `chat-client` driven through pipes (scripted mode). Killed on drop.
pub struct ChatClient {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Shared,
    /// Index of the first line `wait_line` will look at.
    cursor: usize,
    /// Indices of the lines that answered a barrier ([`ChatClient::sync`]).
    barriers: Vec<usize>,
    label: String,
}

/// Command-line arguments that point the client at `addr` as `name`. The single place to change
/// if the client's flags differ.
pub fn client_args(addr: SocketAddr, name: &str) -> Vec<String> {
    vec![
        "--host".into(),
        addr.ip().to_string(),
        "--port".into(),
        addr.port().to_string(),
        "--name".into(),
        name.into(),
    ]
}

impl ChatClient {
    /// Spawn `chat-client` connected to `addr` as `name`, plus `extra_args`.
    pub fn spawn(addr: SocketAddr, name: &str, extra_args: &[&str]) -> ChatClient {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
        cmd.args(client_args(addr, name)).args(extra_args);
        Self::spawn_command(cmd, name)
    }

    /// Spawn any command with the same plumbing (stdin piped, stdout/stderr collected).
    pub fn spawn_command(mut cmd: Command, label: &str) -> ChatClient {
        // The tester's own settings file must not change what the test runs.
        if !cmd.get_envs().any(|(k, _)| k == "XDG_CONFIG_HOME") {
            cmd.env("XDG_CONFIG_HOME", "/nonexistent/chat-test-config");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let out: Shared = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let stdout = child.stdout.take().expect("client stdout");
        let stderr = child.stderr.take().expect("client stderr");
        let o = Arc::clone(&out);
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match r.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&raw)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        let (m, cv) = &*o;
                        m.lock().unwrap().lines.push(line);
                        cv.notify_all();
                    }
                }
            }
            let (m, cv) = &*o;
            m.lock().unwrap().stdout_eof = true;
            cv.notify_all();
        });
        let o = Arc::clone(&out);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*o;
                m.lock().unwrap().stderr.push(line);
                cv.notify_all();
            }
            let (m, cv) = &*o;
            m.lock().unwrap().stderr_eof = true;
            cv.notify_all();
        });
        ChatClient {
            stdin: child.stdin.take(),
            child,
            out,
            cursor: 0,
            barriers: Vec::new(),
            label: label.to_string(),
        }
    }

    /// Write one line to the client's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("[{}] stdin already closed", self.label));
        let r = stdin
            .write_all(line.as_bytes())
            .and_then(|_| stdin.write_all(b"\n"))
            .and_then(|_| stdin.flush());
        if let Err(e) = r {
            panic!(
                "[{}] writing {line:?} to stdin failed: {e}\n{}",
                self.label,
                self.transcript()
            );
        }
    }

    /// Wait (up to `timeout`) for a line containing `substr` after the previous match; returns it.
    pub fn wait_line(&mut self, substr: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.out;
        let mut out = m.lock().unwrap();
        loop {
            if let Some(i) = out.lines[self.cursor..]
                .iter()
                .position(|l| l.contains(substr))
            {
                let idx = self.cursor + i;
                self.cursor = idx + 1;
                return out.lines[idx].clone();
            }
            let now = Instant::now();
            if out.stdout_eof || now >= deadline {
                let why = if out.stdout_eof {
                    "the client closed stdout (exited?)".to_string()
                } else {
                    format!("timed out after {timeout:?}")
                };
                drop(out);
                panic!(
                    "[{}] waiting for a line containing {substr:?}: {why}\n{}",
                    self.label,
                    self.transcript()
                );
            }
            out = cv.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Barrier: `/rooms`, which the server answers on this client's connection after everything
    /// it had queued for it, and wait for the answer (the first `* rooms:` line printed after
    /// this call). Moves the cursor past that line and returns its index.
    ///
    /// Like [`Client::sync`], a negative check built on this is only as strong as the event
    /// before it: use it once something proved the server finished the action in question.
    /// (Running a command also makes the client mark what it displayed as read.)
    pub fn sync(&mut self) -> usize {
        let printed = self.out.0.lock().unwrap().lines.len();
        self.send_line("/rooms");
        self.cursor = self.cursor.max(printed);
        self.wait_line("* rooms:", LINE_TIMEOUT);
        let at = self.cursor - 1;
        self.barriers.push(at);
        at
    }

    /// Negative check by barrier ([`ChatClient::sync`]): no line printed before the answer to a
    /// fresh `/rooms` (since the client started; earlier barriers' answers aside) contains
    /// `absent`.
    pub fn assert_absent_before_sync(&mut self, absent: &str) {
        let end = self.sync();
        let lines = self.lines();
        let found = lines[..end]
            .iter()
            .enumerate()
            .find(|(i, l)| !self.barriers.contains(i) && l.contains(absent));
        if let Some((_, l)) = found {
            panic!(
                "[{}] unexpected line {l:?} (contains {absent:?}) before the barrier\n{}",
                self.label,
                self.transcript()
            );
        }
    }

    /// Wait (like [`ChatClient::wait`]) for the next line containing `marker` and check that no
    /// line between the previous match (the cursor) and it contains `absent`; returns the
    /// marker line.
    pub fn wait_absent_before(&mut self, marker: &str, absent: &str) -> String {
        let start = self.cursor;
        let line = self.wait_line(marker, LINE_TIMEOUT);
        let end = self.cursor - 1;
        let lines = self.lines();
        if let Some(l) = lines[start..end].iter().find(|l| l.contains(absent)) {
            panic!(
                "[{}] unexpected line {l:?} (contains {absent:?}) before {line:?}\n{}",
                self.label,
                self.transcript()
            );
        }
        line
    }

    /// All stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.out.0.lock().unwrap().lines.clone()
    }

    /// All stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.out.0.lock().unwrap().stderr.clone()
    }

    /// Close stdin (EOF: a scripted client should log out and exit).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Wait for the process to exit, panicking with its output after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        // First wait (event-driven) for EOF on stdout and stderr, which normally coincides with
        // exit and guarantees every line has been collected.
        {
            let (m, cv) = &*self.out;
            let mut out = m.lock().unwrap();
            while !(out.stdout_eof && out.stderr_eof) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                out = cv.wait_timeout(out, deadline - now).unwrap().0;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_child(&mut self.child, left) {
            Some(s) => s,
            None => panic!(
                "[{}] did not exit within {timeout:?}\n{}",
                self.label,
                self.transcript()
            ),
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Collected stdout and stderr, for panic messages.
    pub fn transcript(&self) -> String {
        let out = self.out.0.lock().unwrap();
        format!(
            "--- {} stdout ({} lines, cursor at {}) ---\n{}\n--- stderr ---\n{}",
            self.label,
            out.lines.len(),
            self.cursor,
            out.lines.join("\n"),
            out.stderr.join("\n")
        )
    }
}

impl Drop for ChatClient {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.transcript());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the chat-client end-to-end tests (tests/client_*.rs)
// ---------------------------------------------------------------------------------------------

/// Deadline for a line a `chat-client` should print. Generous: the test machine may be busy
/// compiling, and a passing test never waits this long.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(15);

/// Deadline for a `chat-client` process to exit once it has been told to.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Spawn `chat-client` as `name` (text output) and wait until it is logged in and has printed
/// `* you joined #ROOM`.
pub fn chat_login(addr: SocketAddr, name: &str, extra_args: &[&str]) -> ChatClient {
    let mut c = ChatClient::spawn(addr, name, extra_args);
    c.wait_line(&format!("connected to {addr} as {name}"), LINE_TIMEOUT);
    c.wait_line("* you joined #", LINE_TIMEOUT);
    c
}

/// A local port nobody listens on (bound, then released at once).
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl ChatClient {
    /// [`ChatClient::wait_line`] with [`LINE_TIMEOUT`].
    pub fn wait(&mut self, substr: &str) -> String {
        self.wait_line(substr, LINE_TIMEOUT)
    }

    /// Send each line in order.
    pub fn send_lines(&mut self, lines: &[&str]) {
        for l in lines {
            self.send_line(l);
        }
    }

    /// Close stdin and wait (bounded by [`EXIT_TIMEOUT`]) for the client to exit.
    pub fn finish(&mut self) -> ExitStatus {
        self.close_stdin();
        self.wait_exit(EXIT_TIMEOUT)
    }

    /// Order check: some printed line contains `marker`, and no line before the first such line
    /// contains `absent`. With a server that sends in order, this proves `absent` was never
    /// sent to this client before `marker` was.
    pub fn assert_absent_before(&self, absent: &str, marker: &str) {
        let lines = self.lines();
        let Some(end) = lines.iter().position(|l| l.contains(marker)) else {
            panic!(
                "[{}] no line contains {marker:?}\n{}",
                self.label,
                self.transcript()
            );
        };
        if let Some(l) = lines[..end].iter().find(|l| l.contains(absent)) {
            panic!(
                "[{}] unexpected line {l:?} (contains {absent:?}) before {marker:?}\n{}",
                self.label,
                self.transcript()
            );
        }
    }

    /// Whether any stderr line so far contains `substr`.
    pub fn stderr_contains(&self, substr: &str) -> bool {
        self.stderr_lines().iter().any(|l| l.contains(substr))
    }
}

/// The lines of `doc`'s fenced blocks that follow a line starting with
/// ```` ```json ````: docs/PROTOCOL.md's examples, one frame a line.
pub fn doc_json_examples(doc: &'static str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut in_json = false;
    for line in doc.lines() {
        if in_json {
            if line.starts_with("```") {
                in_json = false;
            } else if !line.trim().is_empty() {
                out.push(line.trim());
            }
        } else if line.starts_with("```json") {
            in_json = true;
        }
    }
    out
}
