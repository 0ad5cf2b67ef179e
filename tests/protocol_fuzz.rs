//! Hostile input of every shape at once: many connections send random
//! frames (every frame type with random fields and values, random bytes,
//! truncated frames, abrupt closes) for a few seconds. The server must answer
//! without panicking, keep serving a well-behaved client throughout, and shut
//! down cleanly.
//!
//! The random stream is seeded (`CHAT_FUZZ_SEED` replays another one).

mod common;

use chat::protocol::ClientMsg;
use common::{Client, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const FIELDS: &[&str] = &[
    "version", "name", "room", "status", "text", "to", "cid", "kind", "peer", "up_to", "active",
    "before", "limit", "media", "call", "id", "offset", "size", "sha256", "bytes", "data",
    "reason", "resume", "password", "old", "new",
];

fn value(r: &mut Rng, depth: u32) -> Value {
    match r.below(9) {
        0 => json!(r.next()),
        1 => json!(r.below(100)),
        2 => json!(-(r.below(1000) as i64)),
        3 => json!(*r.pick(&[
            "general",
            "alice",
            "bob",
            "../../etc/passwd",
            "",
            "read",
            "delivered",
            "video",
            "away",
            "\u{0}x",
            "é"
        ])),
        4 => json!("x".repeat(r.below(6000) as usize)),
        5 => json!(r.below(2) == 0),
        6 => Value::Null,
        7 if depth < 2 => {
            json!({"session": value(r, depth + 1), "rooms": [value(r, depth + 1)], "since": value(r, depth + 1)})
        }
        _ if depth < 2 => Value::Array((0..r.below(3)).map(|_| value(r, depth + 1)).collect()),
        _ => json!(1.5),
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn random_bytes(r: &mut Rng) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    let kind = match r.below(40) {
        0 => "no_such_type",
        _ => *r.pick(common::CLIENT_FRAME_TYPES),
    };
    obj.insert("type".into(), json!(kind));
    for _ in 0..r.below(6) {
        obj.insert(r.pick(FIELDS).to_string(), value(r, 0));
    }
    let body = serde_json::to_vec(&Value::Object(obj)).unwrap();
    let full = frame(&body);
    match r.below(20) {
        0 => (0..r.below(64)).map(|_| r.next() as u8).collect(),
        1 => full[..r.below(full.len() as u64) as usize].to_vec(),
        _ => full,
    }
}

#[test]
fn random_frames_never_crash_the_server_or_stop_it_serving_others() {
    let seed = std::env::var("CHAT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee_1234_5678u64);
    let mut server = Server::start(&["--msg-rate", "0", "--max-connections-per-ip", "0"]);
    let addr = server.addr();
    let mut watcher = Client::login(addr, "watcher");
    let mut r = Rng(seed | 1);
    let mut conns: Vec<TcpStream> = Vec::new();
    let names = ["alice", "bob", "carol", "dave", "erin"];
    let mut sent = 0u64;
    let mut pings = 0u64;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut sink = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        if conns.len() < 16 || r.below(30) == 0 {
            if let Ok(mut s) = TcpStream::connect(addr) {
                s.set_nonblocking(true).unwrap();
                let hello = ClientMsg::Hello {
                    version: 1,
                    name: r.pick(&names).to_string(),
                    room: None,
                    status: None,
                    resume: None,
                    password: None,
                };
                let _ = s.write_all(&chat::protocol::encode(&hello));
                conns.push(s);
            }
        }
        let i = r.below(conns.len() as u64) as usize;
        let bytes = random_bytes(&mut r);
        if conns[i].write_all(&bytes).is_err() || r.below(60) == 0 {
            conns.swap_remove(i); // abrupt close
        }
        sent += 1;
        for c in &mut conns {
            let _ = c.read(&mut sink);
        }
        // The well-behaved client is served throughout.
        if sent.is_multiple_of(500) {
            // `ping` waits for its pong (deadline 5 s).
            pings += 1;
            watcher.ping(pings);
        }
    }
    eprintln!("{sent} random frames, {pings} pings answered meanwhile (seed {seed:#x})");
    assert!(sent > 1000, "only {sent} frames sent");
    drop(conns);
    watcher.ping((1 << 53) - 1); // the largest seq a client may send
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "server exit {status:?}\n{}", server.log());
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
