//! A private `redis-server` for a test: its own loopback port and data directory.
//!
//! [`RedisServer::start`] picks a free port (a std `TcpListener` on port 0, released
//! at once; if Redis then fails to start, e.g. someone took the port, another is
//! tried), starts `/usr/bin/redis-server` with a temporary `--dir`, append-only
//! file fsynced on every write and no RDB snapshots, and waits (10 s deadline)
//! until it answers `PING`. [`RedisServer::stop`] (SIGTERM) or
//! [`RedisServer::kill`] (SIGKILL) end it; [`RedisServer::start_again`] starts it
//! on the same port and directory, so the data survives a stop. Killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Redis server binary.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// How long Redis gets to answer `PING` after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports tried before giving up.
const PORT_TRIES: usize = 5;

/// A running (or stopped) `redis-server` on 127.0.0.1.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Start a fresh Redis on a free port with an empty data directory.
    pub fn start() -> RedisServer {
        let mut last_err = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port();
            match Self::start_on(port) {
                Ok(r) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("redis-server did not start on {PORT_TRIES} ports; last: {last_err}");
    }

    /// Start a fresh Redis (empty data directory) on `port`: e.g. the port of one that
    /// was stopped, to play a Redis that came back without its data.
    pub fn start_on(port: u16) -> Result<RedisServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("chat-test-redis")
            .tempdir()
            .map_err(|e| format!("create redis dir: {e}"))?;
        let mut r = RedisServer {
            child: None,
            port,
            dir,
        };
        r.spawn()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port Redis listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the running Redis (None once stopped or killed).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGTERM (Redis fsyncs and exits) and wait for the process to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }

    /// SIGKILL and wait.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start Redis again on the same port and directory (after [`RedisServer::stop`]
    /// or [`RedisServer::kill`]): it loads what it had written.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again: Redis is still running");
        if let Err(e) = self.spawn() {
            panic!(
                "redis-server did not start again on port {}: {e}",
                self.port
            );
        }
    }

    /// Start the process and wait until it answers PING; on failure, the process is
    /// gone and the error names why.
    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let mut child = Command::new(REDIS_SERVER)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {REDIS_SERVER}: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited ({status}) on port {}: {}",
                    self.port,
                    tail(&log)
                ));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}: {}",
                    self.port,
                    tail(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nobody listened on a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Whether Redis on `port` answers `PING` with `+PONG` (not `-LOADING`).
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"+PONG")
}

/// The end of Redis's log, for error messages.
fn tail(log: &PathBuf) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
