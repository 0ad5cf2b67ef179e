//! The two history scenarios of `make bench`: start-up and reads on a big
//! database, and the history worker's write rate. Each starts its own
//! release server (see [`super::history::Spawned`]) on its own data
//! directory.

use super::history::{fill, median_max_ms, Client, Spawned};
use super::procfs;
use crate::protocol::{ClientMsg, ServerMsg};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rooms the filled history is spread over.
const ROOMS: u64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupResult {
    pub scenario: String,
    pub messages: u64,
    pub db_bytes: u64,
    pub fill_seconds: f64,
    pub startup_ms: f64,
    pub rss_bytes: u64,
    pub samples: usize,
    pub history_p50_ms: f64,
    pub history_max_ms: f64,
    pub search_rare_p50_ms: f64,
    pub search_rare_max_ms: f64,
    pub search_common_p50_ms: f64,
    pub search_common_max_ms: f64,
}

/// Fill `dir` with `messages`, start the server on it, measure.
pub fn startup(
    server: &Path,
    dir: &Path,
    messages: u64,
    samples: usize,
) -> Result<StartupResult, String> {
    let filled = fill(dir, messages, ROOMS, 100)?;
    let srv = Spawned::start(server, dir, &["--msg-rate", "0"], Duration::from_secs(120))?;
    let rss_bytes = procfs::rss_bytes(Some(srv.child.id())).unwrap_or(0);
    let startup_ms = srv.started_in.as_secs_f64() * 1e3;
    let mut c = Client::login(&srv.addr, "bench-reader")?;
    for r in 0..ROOMS {
        let room = format!("room{r}");
        c.time(&ClientMsg::Join { room }, |m| {
            matches!(m, ServerMsg::Joined { .. })
        })?;
    }
    let samples = samples.max(1);
    // Pages of 50 from all over the history: read from disk.
    let mut hist = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = 1 + (i as u64 * 7919 * 1013) % messages.max(1);
        hist.push(c.time(
            &ClientMsg::History {
                room: Some("room0".into()),
                peer: None,
                before: Some(before),
                limit: 50,
            },
            |m| matches!(m, ServerMsg::HistoryEnd { .. }),
        )?);
    }
    let mut search = |text: &str| -> Result<Vec<Duration>, String> {
        let mut v = Vec::with_capacity(samples);
        for _ in 0..samples {
            v.push(c.time(
                &ClientMsg::Search {
                    text: text.into(),
                    room: None,
                    peer: None,
                    before: None,
                    limit: Some(20),
                },
                |m| matches!(m, ServerMsg::SearchResults { .. }),
            )?);
        }
        Ok(v)
    };
    let mut rare = search("needle")?;
    let mut common = search("deploy friday")?;
    drop(srv);
    let (history_p50_ms, history_max_ms) = median_max_ms(&mut hist);
    let (search_rare_p50_ms, search_rare_max_ms) = median_max_ms(&mut rare);
    let (search_common_p50_ms, search_common_max_ms) = median_max_ms(&mut common);
    Ok(StartupResult {
        scenario: "history_startup".into(),
        messages,
        db_bytes: filled.db_bytes,
        fill_seconds: filled.seconds,
        startup_ms,
        rss_bytes,
        samples,
        history_p50_ms,
        history_max_ms,
        search_rare_p50_ms,
        search_rare_max_ms,
        search_common_p50_ms,
        search_common_max_ms,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteResult {
    pub scenario: String,
    pub publishers: usize,
    pub window: usize,
    pub seconds: f64,
    pub messages: u64,
    pub messages_per_s: f64,
    /// `None`: the server did not log its count (an older server).
    pub transactions_per_s: Option<f64>,
    pub messages_per_transaction: Option<f64>,
    pub bytes_per_message: f64,
    pub server_cpu_s: f64,
}

/// `publishers` clients in one room keep `window` messages each in flight
/// for `seconds`; acks counted, then the server's own count of
/// transactions and the database's size.
pub fn write_rate(
    server: &Path,
    dir: &Path,
    publishers: usize,
    window: usize,
    seconds: f64,
) -> Result<WriteResult, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let srv = Spawned::start(
        server,
        dir,
        &["--msg-rate", "0", "--log-level", "info"],
        Duration::from_secs(30),
    )?;
    let pid = srv.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    let run_t0 = Instant::now();
    for p in 0..publishers {
        let mut c = Client::login(&srv.addr, &format!("writer{p}"))?;
        let (stop, acked) = (stop.clone(), acked.clone());
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            let text = "x".repeat(100);
            let mut n = 0u64;
            let send = |c: &mut Client, n: &mut u64| {
                *n += 1;
                c.send(&ClientMsg::RoomMsg {
                    room: "general".into(),
                    text: text.clone(),
                    cid: Some(format!("w{p}-{n}")),
                })
            };
            for _ in 0..window {
                send(&mut c, &mut n)?;
            }
            let mut in_flight = window;
            while in_flight > 0 {
                if let ServerMsg::Ack { .. } = c.recv()? {
                    acked.fetch_add(1, Ordering::Relaxed);
                    if stop.load(Ordering::Relaxed) {
                        in_flight -= 1;
                    } else {
                        send(&mut c, &mut n)?;
                    }
                }
            }
            Ok(())
        }));
    }
    let cpu0 = procfs::cpu_seconds(Some(pid)).unwrap_or(0.0);
    let a0 = acked.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let messages = acked.load(Ordering::Relaxed) - a0;
    let elapsed = t0.elapsed().as_secs_f64();
    let server_cpu_s = procfs::cpu_seconds(Some(pid)).unwrap_or(0.0) - cpu0;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| "a writer panicked")??;
    }
    let total = acked.load(Ordering::Relaxed);
    let run_secs = run_t0.elapsed().as_secs_f64().max(1e-9);
    let log = srv.stop();
    let transactions = log.lines().find_map(|l| {
        let rest = l.split("history worker: ").nth(1)?;
        let t = rest.split(" committed in ").nth(1)?;
        t.split(' ').next()?.parse::<u64>().ok()
    });
    let db = dir.join(crate::store::db::FILE);
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(db.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0)
        // (an older server's log, for a before/after comparison)
        + std::fs::metadata(dir.join("history.log"))
            .map(|m| m.len())
            .unwrap_or(0);
    Ok(WriteResult {
        scenario: "history_write".into(),
        publishers,
        window,
        seconds: elapsed,
        messages,
        messages_per_s: messages as f64 / elapsed,
        // The server counts over its whole run (logins and drain included).
        transactions_per_s: transactions.map(|t| t as f64 / run_secs),
        messages_per_transaction: transactions.map(|t| total as f64 / t.max(1) as f64),
        bytes_per_message: bytes as f64 / total.max(1) as f64,
        server_cpu_s,
    })
}
