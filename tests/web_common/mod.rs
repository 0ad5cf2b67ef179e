//! Helpers for the browser-side tests (`mod web_common;` after `mod common;`):
//! a raw HTTP request, and [`Ws`], a WebSocket chat client (tungstenite's
//! client over a blocking socket) that speaks the protocol as the page does:
//! one text message per frame body, file chunks as binary messages.

#![allow(dead_code)]

use chat::protocol::{ClientMsg, ServerMsg};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// Send raw bytes as a request and read the whole response (the server
/// closes after one).
pub fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` with a `Host` header.
pub fn get(addr: SocketAddr, path: &str) -> String {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// What a WebSocket read found.
#[derive(Debug)]
pub enum WsRecv {
    Frame(ServerMsg),
    /// A binary message: a file chunk (id, offset, data).
    Chunk(u64, u64, Vec<u8>),
    Closed(String),
    Timeout,
}

/// A chat client over WebSocket.
pub struct Ws {
    pub ws: WebSocket<TcpStream>,
    pub name: String,
}

impl Ws {
    /// Open `ws://addr/ws` with `origin` (none: not a browser).
    pub fn try_open(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, String> {
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        match tungstenite::client::client(req, stream) {
            Ok((ws, _)) => Ok(Ws {
                ws,
                name: "(ws)".into(),
            }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                let body = r
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err(format!("{} {body}", r.status()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Open with the page's own origin.
    pub fn open(addr: SocketAddr) -> Ws {
        Ws::try_open(addr, Some(&format!("http://{addr}"))).expect("websocket upgrade")
    }

    /// Open and log in as `name` (welcome, joined general).
    pub fn login(addr: SocketAddr, name: &str) -> Ws {
        let mut ws = Ws::open(addr);
        ws.name = name.into();
        ws.send(&ClientMsg::Hello {
            version: chat::protocol::PROTOCOL_VERSION,
            name: name.into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        });
        ws.recv_until("welcome", |m| matches!(m, ServerMsg::Welcome { .. }));
        ws.recv_until("joined", |m| matches!(m, ServerMsg::Joined { .. }));
        ws
    }

    pub fn send(&mut self, msg: &ClientMsg) {
        let text = serde_json::to_string(msg).unwrap();
        self.ws.send(Message::text(text)).expect("ws send");
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("ws send");
    }

    /// A file chunk as a binary message.
    pub fn send_chunk(&mut self, id: u64, offset: u64, data: &[u8]) {
        let mut m = id.to_be_bytes().to_vec();
        m.extend(offset.to_be_bytes());
        m.extend_from_slice(data);
        self.ws.send(Message::binary(m)).expect("ws send chunk");
    }

    pub fn read(&mut self, deadline: Instant) -> WsRecv {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return WsRecv::Timeout;
            }
            self.ws.get_mut().set_read_timeout(Some(left)).unwrap();
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let m = serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                        panic!("[{}] not a server frame ({e}): {t}", self.name)
                    });
                    return WsRecv::Frame(m);
                }
                Ok(Message::Binary(b)) => {
                    assert!(b.len() > 16, "a chunk message of {} bytes", b.len());
                    let id = u64::from_be_bytes(b[..8].try_into().unwrap());
                    let off = u64::from_be_bytes(b[8..16].try_into().unwrap());
                    return WsRecv::Chunk(id, off, b[16..].to_vec());
                }
                Ok(Message::Close(c)) => return WsRecv::Closed(format!("close frame {c:?}")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return WsRecv::Closed(e.to_string()),
            }
        }
    }

    /// Frames until one matches `pred` (chunks are skipped), within 10 s.
    pub fn recv_until(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ServerMsg) -> bool,
    ) -> ServerMsg {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.read(deadline) {
                WsRecv::Frame(m) if pred(&m) => return m,
                WsRecv::Frame(_) | WsRecv::Chunk(..) => {}
                other => panic!("[{}] waiting for {what}: {other:?}", self.name),
            }
        }
    }

    /// Read until the server ends the connection, within 10 s; the frames on the way.
    pub fn expect_closed(&mut self) -> Vec<ServerMsg> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        loop {
            match self.read(deadline) {
                WsRecv::Frame(m) => got.push(m),
                WsRecv::Chunk(..) => {}
                WsRecv::Closed(_) => return got,
                WsRecv::Timeout => panic!("[{}] still open; got {got:?}", self.name),
            }
        }
    }

    /// A ping/pong barrier: every frame before the pong.
    pub fn sync(&mut self, seq: u64) -> Vec<ServerMsg> {
        self.send(&ClientMsg::Ping { seq: Some(seq) });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        loop {
            match self.read(deadline) {
                WsRecv::Frame(ServerMsg::Pong { seq: Some(s) }) if s == seq => return got,
                WsRecv::Frame(m) => got.push(m),
                WsRecv::Chunk(..) => {}
                other => panic!("[{}] barrier {seq}: {other:?}", self.name),
            }
        }
    }
}
