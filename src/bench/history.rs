//! The history database benchmarks (issue 11): fill a data directory with
//! N messages written straight into the database, then start the release
//! server on it and measure its start-up (time to `listening on`, RSS),
//! `/history` pages read from disk and `/search` latency; and the write rate
//! the history worker sustains (messages committed a second, transactions a
//! second, bytes a message on disk), read from the server's own shutdown
//! line.

use crate::core::effect::LogBatch;
use crate::core::history::{Record, StoredMsg};
use crate::protocol::{encode, parse_body, ClientMsg, ServerMsg, PROTOCOL_VERSION};
use crate::store::history::{HistoryDb, Retention};
use crate::store::search_index::SearchIndex;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Words messages are made of; `needle` is rare (one message in 10,000).
const WORDS: [&str; 16] = [
    "deploy", "friday", "lunch", "review", "merge", "build", "ticket", "coffee", "meeting",
    "release", "server", "client", "patch", "test", "later", "today",
];

/// What filling a data directory did.
#[derive(Debug, Serialize)]
pub struct Filled {
    pub messages: u64,
    pub rooms: u64,
    pub seconds: f64,
    /// history.db and search.db together.
    pub db_bytes: u64,
}

/// Write `messages` room messages of about `size` bytes into a new
/// database under `dir`, spread over `rooms` rooms, in transactions of
/// 10,000.
pub fn fill(dir: &Path, messages: u64, rooms: u64, size: usize) -> Result<Filled, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let path = dir.join(crate::store::db::FILE);
    let mut db = HistoryDb::open(&path, Retention::default()).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    // Recent enough that the default retention (365 days) keeps them all.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let ts0 = now_ms.saturating_sub(messages);
    for id in 1..=messages {
        let mut text = String::with_capacity(size + 16);
        let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        while text.len() < size {
            text.push_str(WORDS[(x % 16) as usize]);
            text.push(' ');
            x = x.rotate_right(5).wrapping_add(id);
        }
        if id % 10_000 == 0 {
            text.push_str("needle");
        }
        batch.push(Record::Msg(std::sync::Arc::new(StoredMsg {
            id,
            ts: ts0 + id,
            from: format!("user{}", id % 100),
            room: Some(format!("room{}", id % rooms.max(1))),
            to: None,
            text,
            cid: Some(format!("c{id}")),
            recipients: 10,
        })));
        if batch.len() == 10_000 || id == messages {
            let b = LogBatch {
                seq: id,
                records: std::mem::take(&mut batch),
            };
            if let Some(crate::core::effect::Completion::Logged { result: Err(e), .. }) =
                db.write(std::slice::from_ref(&b)).into_iter().next()
            {
                return Err(e);
            }
        }
    }
    db.conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(|e| e.to_string())?;
    // As the server's indexing thread does in the background.
    let mut index = SearchIndex::open(&path).map_err(|e| e.to_string())?;
    index.index_all().map_err(|e| e.to_string())?;
    let index_path = index.path().to_path_buf();
    drop(index);
    let seconds = t0.elapsed().as_secs_f64();
    drop(db);
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Ok(Filled {
        messages,
        rooms,
        seconds,
        db_bytes: size(&path) + size(&index_path),
    })
}

/// A server started by the bench, killed on drop.
pub struct Spawned {
    pub child: Child,
    pub addr: String,
    pub started_in: Duration,
    log: std::path::PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    /// Start `server` on `dir` with `args`; wait (at most `timeout`) for
    /// `listening on`.
    pub fn start(
        server: &Path,
        dir: &Path,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Spawned, String> {
        let log = dir.with_extension("stderr");
        let err = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let mut child = Command::new(server)
            .args(["--port", "0", "--data-dir"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(timeout)
            .map_err(|_| format!("the server did not start within {timeout:?}"))?;
        Ok(Spawned {
            child,
            addr,
            started_in: t0.elapsed(),
            log,
        })
    }

    /// SIGTERM, wait, and return what it logged.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A blocking client for the measurements.
pub struct Client {
    s: TcpStream,
}

impl Client {
    pub fn login(addr: &str, name: &str) -> Result<Client, String> {
        let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut c = Client { s };
        c.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            name: name.into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        })?;
        while !matches!(c.recv()?, ServerMsg::Welcome { .. }) {}
        Ok(c)
    }

    pub fn send(&mut self, m: &ClientMsg) -> Result<(), String> {
        self.s.write_all(&encode(m)).map_err(|e| e.to_string())
    }

    pub fn recv(&mut self) -> Result<ServerMsg, String> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).map_err(|e| e.to_string())?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut body).map_err(|e| e.to_string())?;
        parse_body(&body).map_err(|e| e.to_string())
    }

    /// Send `m`, read until `done` says the answer is complete; its time.
    pub fn time(
        &mut self,
        m: &ClientMsg,
        mut done: impl FnMut(&ServerMsg) -> bool,
    ) -> Result<Duration, String> {
        let t0 = Instant::now();
        self.send(m)?;
        loop {
            let got = self.recv()?;
            if let ServerMsg::Error { message, .. } = &got {
                return Err(message.clone());
            }
            if done(&got) {
                return Ok(t0.elapsed());
            }
        }
    }
}

/// Median and maximum of `d`, in ms.
pub fn median_max_ms(d: &mut [Duration]) -> (f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    (
        d.get(d.len() / 2).map_or(0.0, |x| ms(*x)),
        d.last().map_or(0.0, |x| ms(*x)),
    )
}
