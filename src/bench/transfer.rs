//! Scenarios 4 and 5: file transfers relayed by the chat server.
//!
//! Each transfer is a sender and a receiver, two users of the server driven
//! by this process on one mio `Poll`, speaking the protocol's file frames the
//! way `chat-client` does: `file_offer`, the receiver's `file_accept` and a
//! 1 MiB `file_credit` window that it tops up by each chunk's size as the
//! chunk arrives, 64 KiB chunks sent only against credit, and `file_done`
//! when the last byte is in. Chunks are binary frames (`protocol::binary`)
//! when the server's `welcome` offers them, as `chat-client` sends and asks
//! for them; `--json-chunks` keeps the base64-in-JSON `file_chunk` frames.
//!
//! The file is synthetic: one 64 KiB block repeated, so the sender encodes
//! the block once and each chunk frame is a copy, and the receiver checks
//! every chunk byte for byte (offset in sequence, data equal to the
//! expected bytes or base64) without decoding it, so the bench does not become the
//! bottleneck it measures. A transfer meant to complete offers the file's
//! real SHA-256; one that runs as background load until a measurement ends
//! is cancelled then, never verified, and offers a placeholder checksum.

use super::fanout::{unique_tag, MAX_FRAME};
use super::net::{Conn, ReadEnd};
use super::procfs;
use super::report::TransferResult;
use super::rtt::{self, RttConfig, RttResult};
use super::wire;
use crate::protocol::files::TransferState;
use crate::protocol::{binary, encode, ClientMsg, ServerMsg};
use base64::Engine;
use mio::{Events, Interest, Poll, Token};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raw bytes per chunk (the protocol's maximum).
pub const CHUNK: usize = crate::protocol::files::MAX_CHUNK;
/// Credit a receiver keeps granted, as `chat-client` does.
pub const WINDOW: u64 = 1024 * 1024;
/// Bytes queued on a sender's socket before it waits for room.
const SEND_QUEUE: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct TransferConfig {
    pub addr: SocketAddr,
    /// Size of each file.
    pub bytes: u64,
    /// Concurrent transfers (one sender/receiver pair each).
    pub transfers: usize,
    pub window: u64,
    pub timeout: Duration,
    pub server_pid: Option<u32>,
    pub tag: String,
    /// Binary chunk frames where the server offers them (else JSON).
    pub binary: bool,
}

impl TransferConfig {
    pub fn new(addr: SocketAddr, bytes: u64, transfers: usize) -> Self {
        TransferConfig {
            addr,
            bytes,
            transfers,
            window: WINDOW,
            timeout: Duration::from_secs(600),
            server_pid: None,
            tag: unique_tag("t"),
            binary: true,
        }
    }
}

/// The synthetic file's repeated block.
pub fn block() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..CHUNK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// SHA-256 (lower-case hex) of `size` bytes of `block` repeated.
pub fn sha256_of(block: &[u8], size: u64) -> String {
    let mut h = Sha256::new();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        h.update(&block[..n]);
        left -= n as u64;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The frame `file_chunk{id, offset, data}` for an already encoded `data`,
/// byte-identical to the library's encoder.
pub fn push_chunk(out: &mut Vec<u8>, id: u64, offset: u64, b64: &str) {
    let head = format!(r#"{{"type":"file_chunk","id":{id},"offset":{offset},"data":""#);
    let len = head.len() + b64.len() + 2;
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b64.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Recognise a `file_chunk` body: `(id, offset, data)`.
pub fn parse_chunk(body: &[u8]) -> Option<(u64, u64, &[u8])> {
    let rest = body.strip_prefix(br#"{"type":"file_chunk","id":"#)?;
    let (id, rest) = digits(rest)?;
    let rest = rest.strip_prefix(br#","offset":"#)?;
    let (offset, rest) = digits(rest)?;
    let data = rest.strip_prefix(br#","data":""#)?.strip_suffix(br#""}"#)?;
    Some((id, offset, data))
}

fn digits(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = std::str::from_utf8(&s[..n]).ok()?.parse().ok()?;
    Some((v, &s[n..]))
}

#[derive(Default)]
struct Xfer {
    id: Option<u64>,
    /// Sender side.
    credit: u64,
    sent: u64,
    /// Receiver side.
    received: u64,
    done_sent: bool,
    completed: bool,
    logged_in: [bool; 2],
    offered: bool,
    /// The server takes and sends binary chunks (and `cfg.binary`).
    binary: bool,
}

/// Run `cfg.transfers` transfers at once. With `stop`, they run until it is
/// set (or they finish) and are then cancelled; `flowing` is set once every
/// transfer has delivered its first chunk.
pub fn run(
    cfg: &TransferConfig,
    stop: Option<&AtomicBool>,
    flowing: Option<&AtomicBool>,
) -> Result<TransferResult, String> {
    let n = cfg.transfers.max(1);
    let blk = block();
    let b64 = base64::engine::general_purpose::STANDARD;
    let full = b64.encode(&blk);
    let rem = (cfg.bytes % CHUNK as u64) as usize;
    let last = b64.encode(&blk[..rem]);
    let sha = if stop.is_some() {
        "0".repeat(64)
    } else {
        sha256_of(&blk, cfg.bytes)
    };
    let me0 = procfs::cpu_seconds(None).unwrap_or(0.0);
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(64);
    let epoch = Instant::now();
    let deadline = epoch + cfg.timeout;
    let name = |k: usize, role: usize| format!("{}-{}{k}", cfg.tag, ["s", "r"][role]);
    let mut conns = Vec::new();
    for k in 0..n {
        for role in 0..2 {
            let mut c = Conn::connect(cfg.addr).map_err(|e| format!("connect: {e}"))?;
            poll.registry()
                .register(
                    &mut c.stream,
                    Token(2 * k + role),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| e.to_string())?;
            c.out()
                .extend_from_slice(&wire::hello(&name(k, role), &cfg.tag));
            conns.push(c);
        }
    }
    let mut xs: Vec<Xfer> = (0..n).map(|_| Xfer::default()).collect();
    let mut scratch = Vec::new();
    let mut rss_before = None;
    let mut rss_max = 0u64;
    let mut next_rss = Instant::now();
    let mut start: Option<Instant> = None;
    let mut end: Option<Instant> = None;
    let mut dirty: Vec<usize> = Vec::new();
    loop {
        if Instant::now() > deadline {
            let got: u64 = xs.iter().map(|x| x.received).sum();
            return Err(format!(
                "transfers timed out after {got} of {} bytes",
                cfg.bytes * n as u64
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token().0;
            let (k, role) = (i / 2, i % 2);
            let conn = &mut conns[i];
            if !conn.connected {
                conn.finish_connect().map_err(|e| format!("connect: {e}"))?;
            }
            if ev.is_writable() {
                conn.flush().map_err(|e| format!("send: {e}"))?;
                if role == 0 {
                    dirty.push(k);
                }
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let x = &mut xs[k];
            let mut replies: Vec<ClientMsg> = Vec::new();
            let mut fatal: Option<String> = None;
            let res = conn.read(&mut scratch, epoch, |data, _now| {
                let mut off = 0;
                loop {
                    let (body, used) = match wire::split_frame(&data[off..], MAX_FRAME) {
                        Ok(Some(f)) => f,
                        Ok(None) => return off,
                        Err(e) => {
                            fatal = Some(e);
                            return data.len();
                        }
                    };
                    let bin = data[off] & 0x80 != 0;
                    off += used;
                    let chunk = match bin {
                        true => binary::parse(body).ok(),
                        false => parse_chunk(body),
                    };
                    if let Some((id, offset, d)) = chunk {
                        // Receiver: check the chunk byte for byte.
                        let len = (cfg.bytes - x.received).min(CHUNK as u64);
                        let want: &[u8] = match (bin, len == CHUNK as u64) {
                            (true, _) => &blk[..len as usize],
                            (false, true) => full.as_bytes(),
                            (false, false) => last.as_bytes(),
                        };
                        if role != 1 || Some(id) != x.id || offset != x.received || d != want {
                            fatal = Some(format!(
                                "transfer {k}: unexpected chunk at offset {offset} (have {})",
                                x.received
                            ));
                            return data.len();
                        }
                        x.received += len;
                        if x.received < cfg.bytes {
                            replies.push(ClientMsg::FileCredit { id, bytes: len });
                        } else if !x.done_sent {
                            x.done_sent = true;
                            replies.push(ClientMsg::FileDone { id });
                        }
                        continue;
                    }
                    match crate::protocol::parse_body::<ServerMsg>(body) {
                        Ok(ServerMsg::Welcome { binary_chunks, .. }) => {
                            x.binary = binary_chunks && cfg.binary;
                            if x.binary && role == 1 {
                                replies.push(ClientMsg::BinaryChunks {});
                            }
                        }
                        Ok(ServerMsg::Joined { .. }) => x.logged_in[role] = true,
                        Ok(ServerMsg::FileState { id, state, .. }) => {
                            x.id = Some(id);
                            match state {
                                TransferState::Pending if role == 1 => {
                                    replies.push(ClientMsg::FileAccept {
                                        id,
                                        offset: 0,
                                        prefix_sha256: None,
                                    });
                                    replies.push(ClientMsg::FileCredit {
                                        id,
                                        bytes: cfg.window,
                                    });
                                }
                                TransferState::Completed => x.completed = true,
                                TransferState::Failed
                                | TransferState::Rejected
                                | TransferState::Interrupted => {
                                    fatal = Some(format!("transfer {k} ended: {state}"));
                                }
                                TransferState::Cancelled if !stopped_flag(stop) => {
                                    fatal = Some(format!("transfer {k} was cancelled"));
                                }
                                _ => {}
                            }
                        }
                        Ok(ServerMsg::FileCredit { bytes, .. }) if role == 0 => x.credit += bytes,
                        Ok(ServerMsg::Error { code, message, .. }) => {
                            fatal = Some(format!("transfer {k}: server error {code:?}: {message}"))
                        }
                        Ok(ServerMsg::Bye { reason, .. }) => {
                            fatal = Some(format!("server said bye: {reason}"))
                        }
                        Ok(_) => {}
                        Err(e) => fatal = Some(e.to_string()),
                    }
                }
            });
            match res {
                Ok(ReadEnd::Drained) => {}
                Ok(ReadEnd::Eof) => return Err("the server closed a connection".into()),
                Err(e) => return Err(format!("read: {e}")),
            }
            if let Some(f) = fatal {
                return Err(f);
            }
            for m in &replies {
                conn.out().extend_from_slice(&encode(m));
            }
            if !replies.is_empty() {
                conn.flush().map_err(|e| format!("send: {e}"))?;
            }
            if role == 0 {
                dirty.push(k);
            }
            if x.received == cfg.bytes
                && end.is_none()
                && xs.iter().all(|x| x.received == cfg.bytes)
            {
                end = Some(Instant::now());
            }
        }

        // Offers, once both ends of a transfer are logged in.
        for k in 0..n {
            let x = &mut xs[k];
            if !x.offered && x.logged_in == [true, true] {
                if rss_before.is_none() {
                    rss_before = cfg.server_pid.and_then(|p| procfs::rss_bytes(Some(p)).ok());
                }
                x.offered = true;
                let offer = encode(&ClientMsg::FileOffer {
                    to: name(k, 1),
                    name: format!("bench-{k}.bin"),
                    size: cfg.bytes,
                    sha256: sha.clone(),
                    cid: None,
                });
                conns[2 * k].out().extend_from_slice(&offer);
                conns[2 * k].flush().map_err(|e| format!("send: {e}"))?;
            }
        }

        // Senders: chunks against credit, while the socket takes them.
        let stopping = stop.is_some_and(|s| s.load(Ordering::Relaxed));
        dirty.sort_unstable();
        dirty.dedup();
        for k in dirty.drain(..) {
            let x = &mut xs[k];
            let Some(id) = x.id else { continue };
            let conn = &mut conns[2 * k];
            while !stopping && x.sent < cfg.bytes && conn.pending() < SEND_QUEUE {
                let len = (cfg.bytes - x.sent).min(CHUNK as u64);
                if x.credit < len {
                    break;
                }
                if x.binary {
                    // (binary::frame's bytes, written straight into the queue)
                    let len32 = (binary::HEADER + len as usize) as u32 | binary::FLAG;
                    let out = conn.out();
                    out.extend_from_slice(&len32.to_be_bytes());
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&x.sent.to_be_bytes());
                    out.extend_from_slice(&blk[..len as usize]);
                } else {
                    let data = if len == CHUNK as u64 { &full } else { &last };
                    push_chunk(conn.out(), id, x.sent, data);
                }
                start.get_or_insert_with(Instant::now);
                x.sent += len;
                x.credit -= len;
            }
            conn.flush().map_err(|e| format!("send: {e}"))?;
        }
        if let Some(f) = flowing {
            if xs.iter().all(|x| x.received > 0) {
                f.store(true, Ordering::Relaxed);
            }
        }
        if cfg.server_pid.is_some() && Instant::now() >= next_rss {
            if let Ok(r) = procfs::rss_bytes(cfg.server_pid) {
                rss_max = rss_max.max(r);
            }
            next_rss = Instant::now() + Duration::from_millis(100);
        }
        if stopping {
            end = Some(Instant::now());
            for k in 0..n {
                if let Some(id) = xs[k].id {
                    let c = &mut conns[2 * k];
                    c.out()
                        .extend_from_slice(&encode(&ClientMsg::FileCancel { id }));
                    let _ = c.flush();
                }
            }
            break;
        }
        if xs.iter().all(|x| x.completed) {
            break;
        }
    }
    let peak = cfg
        .server_pid
        .and_then(|p| procfs::peak_rss_bytes(Some(p)).ok());
    let moved: u64 = xs.iter().map(|x| x.received).sum();
    let seconds = match (start, end) {
        (Some(s), Some(e)) => e.duration_since(s).as_secs_f64().max(1e-9),
        _ => 1e-9,
    };
    Ok(TransferResult {
        scenario: "transfer".into(),
        json_chunks: !xs.iter().all(|x| x.binary),
        available: true,
        reason: None,
        bytes: moved,
        seconds,
        mb_per_s: moved as f64 / 1e6 / seconds,
        server_rss_before: rss_before,
        server_peak_rss: peak,
        server_rss_max: cfg.server_pid.map(|_| rss_max),
        bench_cpu_s: procfs::cpu_seconds(None).unwrap_or(0.0) - me0,
        transfers: n as u32,
        completed: xs.iter().all(|x| x.completed),
    })
}

fn stopped_flag(stop: Option<&AtomicBool>) -> bool {
    stop.is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Size offered for background-load transfers: far more than can move
/// before the measurement they load ends (they are cancelled then).
pub const LOAD_BYTES: u64 = 256 << 30;

/// Scenario 5: chat round trips with no transfer running, then beside
/// `tcfg.transfers` large transfers on the same server. Returns the idle
/// figure, the loaded one and what the transfers moved meanwhile.
pub fn latency_under_transfer(
    tcfg: &TransferConfig,
    rcfg: &RttConfig,
) -> Result<(RttResult, RttResult, TransferResult), String> {
    let mut idle_cfg = rcfg.clone();
    idle_cfg.label = "idle".into();
    let idle = rtt::run(&idle_cfg)?;

    let mut loaded_cfg = rcfg.clone();
    loaded_cfg.label = format!("{} transfers", tcfg.transfers);
    loaded_cfg.tag = unique_tag("r");
    let mut tcfg = tcfg.clone();
    tcfg.bytes = tcfg.bytes.max(LOAD_BYTES);
    let stop = Arc::new(AtomicBool::new(false));
    let flowing = Arc::new(AtomicBool::new(false));
    let (stop2, flowing2) = (stop.clone(), flowing.clone());
    let measure = std::thread::Builder::new()
        .name("rtt".into())
        .spawn(move || {
            let t0 = Instant::now();
            while !flowing2.load(Ordering::Relaxed) {
                if t0.elapsed() > Duration::from_secs(30) {
                    stop2.store(true, Ordering::Relaxed);
                    return Err("the transfers did not start within 30 s".to_string());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let r = rtt::run(&loaded_cfg);
            stop2.store(true, Ordering::Relaxed);
            r
        })
        .map_err(|e| e.to_string())?;
    let load = run(&tcfg, Some(&stop), Some(&flowing));
    stop.store(true, Ordering::Relaxed);
    let loaded = measure
        .join()
        .map_err(|_| "round-trip thread panicked".to_string())??;
    let load = load?;
    if load.completed {
        return Err("the transfers ended before the measurement did".into());
    }
    Ok((idle, loaded, load))
}
