//! A hostile server for client tests: a `TcpListener` in the test that speaks
//! the wire protocol (4-byte big-endian length, one JSON object) with raw
//! JSON, so it can send whatever a hostile server, or anyone on a plain-TCP
//! path, likes: path names, escape sequences, spoofed senders. Every wait is
//! bounded by a deadline that panics naming what was expected.

use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// Deadline for a connection or a frame from the client under test.
pub const HOSTILE_TIMEOUT: Duration = Duration::from_secs(15);

/// A listening hostile server; connections are taken with [`HostileServer::accept`].
pub struct HostileServer {
    addr: SocketAddr,
    conns: Receiver<TcpStream>,
}

impl HostileServer {
    /// Listen on 127.0.0.1, port 0.
    pub fn start() -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hostile server");
        let addr = listener.local_addr().expect("local addr");
        let (tx, conns) = mpsc::channel();
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        HostileServer { addr, conns }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next client connection.
    pub fn accept(&self) -> Peer {
        let stream = self
            .conns
            .recv_timeout(HOSTILE_TIMEOUT)
            .expect("the client did not connect to the hostile server");
        stream.set_nodelay(true).expect("nodelay");
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next connection, logged in as [`Peer::login`] does; returns it and the name.
    pub fn accept_login(&self) -> (Peer, String) {
        let mut p = self.accept();
        let name = p.login();
        (p, name)
    }
}

/// One client connection to the hostile server.
pub struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// A connection accepted elsewhere (a listener the test binds itself).
    pub fn from_stream(stream: TcpStream) -> Peer {
        stream.set_nodelay(true).expect("nodelay");
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Send one frame.
    pub fn send(&mut self, v: &Value) {
        let body = serde_json::to_vec(v).expect("json");
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        self.stream
            .write_all(&bytes)
            .and_then(|_| self.stream.flush())
            .expect("write to the client");
    }

    /// Send bytes as they are (a binary frame, or a broken one).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush())
            .expect("write to the client");
    }

    /// The next frame, within [`HOSTILE_TIMEOUT`]; `None` if the client closed.
    pub fn try_recv(&mut self) -> Option<Value> {
        let deadline = Instant::now() + HOSTILE_TIMEOUT;
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 4 + len {
                    let v = serde_json::from_slice(&self.buf[4..4 + len]).expect("client json");
                    self.buf.drain(..4 + len);
                    return Some(v);
                }
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("timed out waiting for a frame from the client");
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("read timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// The next frame whose `type` is `ty`, skipping others; panics if the
    /// client closes first.
    pub fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            match self.try_recv() {
                Some(v) if v["type"] == ty => return v,
                Some(_) => {}
                None => panic!("the client closed before sending {ty}"),
            }
        }
    }

    /// The next frame about transfer `id` (any `file_*` type), skipping others.
    pub fn recv_file_frame(&mut self, id: u64) -> Value {
        loop {
            match self.try_recv() {
                Some(v)
                    if v["id"] == id
                        && v["type"].as_str().is_some_and(|t| t.starts_with("file_")) =>
                {
                    return v
                }
                Some(_) => {}
                None => panic!("the client closed before answering about transfer {id}"),
            }
        }
    }

    /// Take the client's `hello`, answer `welcome` and `joined #general`
    /// (with mallory in it); returns the client's name.
    pub fn login(&mut self) -> String {
        let hello = self.recv_type("hello");
        let name = hello["name"].as_str().expect("hello name").to_string();
        self.send(&json!({
            "type": "welcome", "version": 1, "name": name, "server": "hostile",
            "rooms": ["general"], "session": "s1", "last_id": 0
        }));
        self.send(&json!({
            "type": "joined", "room": "general", "members": [name, "mallory"], "created": false
        }));
        name
    }

    /// Barrier: a `list_rooms` answer the client prints as `* rooms:`; the
    /// test sends `/rooms` to the client, this answers it.
    pub fn answer_rooms(&mut self) {
        self.recv_type("list_rooms");
        self.send(&json!({"type": "room_list", "rooms": [{"name": "general", "members": 2}]}));
    }
}

/// A `file_state` frame offering `name` (`size` bytes, hash `sha256`) from `peer` as transfer `id`.
pub fn offer(id: u64, peer: Option<&str>, name: &str, size: u64, sha256: &str) -> Value {
    let mut v = json!({
        "type": "file_state", "id": id, "state": "pending", "role": "receiver",
        "name": name, "size": size, "sha256": sha256, "offset": 0
    });
    if let Some(p) = peer {
        v["peer"] = json!(p);
    }
    v
}

/// A message frame from `from` in #general.
pub fn room_message(id: u64, from: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": id, "ts": super::now_ms(), "from": from,
        "room": "general", "text": text
    })
}
