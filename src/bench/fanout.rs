//! Scenarios 1 and 2: fan-out in one room (chat) or on one channel (Redis).
//!
//! # What is measured
//! - **Members**: `S` connections that receive: chat members of one room, or
//!   Redis connections SUBSCRIBEd to one channel.
//! - **Publishers**: `P` of them send `size`-byte messages whose text starts
//!   with a [`Stamp`] (send time, publisher, sequence). In chat a publisher
//!   is one of the `S` members (`room_msg` needs membership) and the server
//!   does not echo its message back: it gets an `ack`, and each message
//!   reaches the other `S - 1` members. A RESP2 connection that subscribes
//!   cannot PUBLISH, so Redis publishers are `P` extra connections; each
//!   message reaches all `S` subscribers and the publisher gets the receiver
//!   count. "Delivered" counts what each server actually delivered to member
//!   connections: `S - 1` per message for chat, `S` for Redis.
//! - **Window**: publisher `p` keeps at most `W` messages in flight, and a
//!   message is in flight until it has *come back* from every member it is
//!   addressed to: until all `S - 1` (chat) or `S` (Redis) receiving members
//!   have read it. So at most `P x W` messages are anywhere between the
//!   publishers and the last reader, whatever order a server writes its
//!   members in (a window closed by one chosen member would favour the
//!   server that happens to write that member first), and a server cannot
//!   pile up unbounded queues. Counting acks instead would not bound them:
//!   a server acknowledges as soon as it has queued the fan-out. Acks
//!   (PUBLISH replies) are still counted: their receiver counts say how many
//!   deliveries to expect.
//! - **Receipts** (chat, on by default): every member, publishers included,
//!   answers each batch of frames it read that brought new messages with one
//!   cumulative `receipt{kind:"delivered", room, up_to}`, `up_to` the newest
//!   id it read, as chat-client does (`client::receipts::Incoming`). The
//!   server then tells the authors (`receipts` frames to the publishers,
//!   counted, not parsed). The receipts are counted (the server's inbound
//!   receipt load) and do not move the window. `receipts: false` gives the
//!   receipt-free workload, where members only read. Redis has no
//!   equivalent: its subscribers only read.
//! - **Latency**: at every receiving member, the time the read returned minus
//!   the stamp's send time (one clock, one process).
//! - **Rates**: in a timed run, messages published (queued by a publisher)
//!   and delivered (read by a member) between the end of the warm-up and the
//!   stop time, divided by that interval; latency covers messages sent in
//!   that interval (including the ones read after it, while draining). In a
//!   counted run (`messages` per publisher, used by the tests) everything
//!   counts and the interval runs until the last delivery.
//! - **CPU and memory**: server and bench CPU seconds (utime + stime from
//!   /proc) over the same interval, server VmHWM and VmRSS at the end.
//! - **Several servers** (cluster nodes, `addrs`): connection `i` goes to
//!   node `i % n`, so members, and the publishers among them, are spread
//!   round-robin; every node's process is measured and the figures summed.
//!   For a cluster, its Redis's CPU and the commands it ran (`INFO
//!   commandstats` at both ends of the interval) are read too.
//!
//! Every received message is checked: each member must see each publisher's
//! sequence numbers in order, without gaps or repeats (`order_errors`), and
//! the total delivered must equal what the acks announced (`lost`).

use super::net::{Conn, ReadEnd};
use super::resp::{self, Reply};
use super::wire::{self, ChatIn, Stamp, Template};
use crate::protocol::ServerMsg;
use mio::{Events, Interest, Poll, Token};
use std::time::{Duration, Instant};

mod config;
mod probe;
mod tally;
use probe::Reading;
use tally::Tally;

pub use config::{
    parse_addrs, parse_pids, unique_tag, FanoutConfig, FanoutResult, ServerProc, Target, MAX_FRAME,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    LoggingIn,
    Ready,
}

struct Peer {
    conn: Conn,
    stage: Stage,
    /// Receiver index (chat: every member; Redis: subscribers).
    recv: Option<u32>,
    /// Publisher index.
    publ: Option<u32>,
    /// Over WebSocket, still reading the server's `101` response head.
    http_head: bool,
    /// Chat: the newest message id read, and the `up_to` of the last
    /// `delivered` receipt sent.
    newest: u64,
    receipted: u64,
    /// No receipt before this (ns since the epoch), as chat-client's
    /// pause between rounds (`client::receipts::DELIVERED_EVERY`); and
    /// whether this peer waits in the queue of held receipts.
    hold_until: u64,
    held: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Run,
    Drain,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Run one fan-out measurement.
pub fn run(cfg: &FanoutConfig) -> Result<FanoutResult, String> {
    let s = cfg.members;
    let p = cfg.publishers;
    if p == 0 {
        return Err("need at least one publisher".into());
    }
    if cfg.target == Target::Chat && (s < 2 || p > s) {
        return Err(format!(
            "chat fan-out needs S >= 2 and P <= S (publishers are members); got S={s} P={p}"
        ));
    }
    if cfg.target == Target::Redis && s < 1 {
        return Err("need at least one subscriber".into());
    }
    if cfg.size < wire::STAMP_LEN {
        return Err(format!("message size must be at least {}", wire::STAMP_LEN));
    }
    let window = cfg.window.max(1) as u64;
    let total = match cfg.target {
        Target::Chat => s,
        Target::Redis => s + p,
    };
    let tmpl = match cfg.target {
        Target::Chat if cfg.websocket => Template::room_msg(&cfg.tag, cfg.size).websocket(),
        Target::Chat => Template::room_msg(&cfg.tag, cfg.size),
        Target::Redis => Template::publish(&cfg.tag, cfg.size),
    };
    if cfg.websocket && cfg.target != Target::Chat {
        return Err("--websocket is for the chat target".into());
    }
    let push_prefix = resp::message_prefix(cfg.tag.as_bytes(), cfg.size);
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let epoch = Instant::now();
    let now_ns = || epoch.elapsed().as_nanos() as u64;

    let (pub_peers, fanout) = match cfg.target {
        Target::Chat => ((0..p).collect(), (s - 1) as u32),
        Target::Redis => ((s..s + p).collect(), s as u32),
    };
    let mut t = Tally::new(pub_peers, s, window, fanout);
    let receipts = (cfg.target == Target::Chat && cfg.receipts)
        .then(|| wire::DeliveredReceipt::new(&cfg.tag, cfg.websocket));
    let mut peers: Vec<Peer> = Vec::with_capacity(total);
    let mut scratch = Vec::new();
    let mut ready = 0usize;
    let mut phase = Phase::Setup;
    let setup_deadline = now_ns() + ns(cfg.setup_timeout);
    let mut drain_deadline = u64::MAX;
    let mut run_start = 0u64;
    let mut setup_s = 0.0;
    let mut warm_sampled = false;
    let mut r0 = Reading::default();
    let mut r1 = Reading::default();
    let mut end_ns = 0u64;
    let expected_notices = (s as u64 * (s as u64 - 1)) / 2;
    let pause = ns(crate::client::receipts::DELIVERED_EVERY);
    // Peers whose receipt waits for its pause to end, in the order they
    // end (every pause is as long).
    let mut owed: std::collections::VecDeque<(u64, usize)> = Default::default();

    loop {
        // Open more connections, keeping at most max_connecting logins open.
        while peers.len() < total && peers.len() - ready < cfg.max_connecting.max(1) {
            let i = peers.len();
            let to = cfg.addr_of(i);
            let mut conn = Conn::connect(to).map_err(|e| format!("connect to {to}: {e}"))?;
            poll.registry()
                .register(
                    &mut conn.stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("register: {e}"))?;
            let (recv, publ) = match cfg.target {
                Target::Chat => (Some(i as u32), (i < p).then_some(i as u32)),
                Target::Redis if i < s => (Some(i as u32), None),
                Target::Redis => (None, Some((i - s) as u32)),
            };
            peers.push(Peer {
                conn,
                stage: Stage::Connecting,
                recv,
                publ,
                http_head: cfg.websocket,
                newest: 0,
                receipted: 0,
                hold_until: 0,
                held: false,
            });
        }

        let now = now_ns();
        let timeout = match phase {
            Phase::Setup => Duration::from_millis(50),
            Phase::Run => {
                let next = if !warm_sampled { t.t_warm } else { t.t_stop };
                Duration::from_nanos(next.saturating_sub(now).min(50_000_000))
            }
            Phase::Drain => Duration::from_millis(20),
        };
        let timeout = match owed.front() {
            Some(&(due, _)) => timeout.min(Duration::from_nanos(due.saturating_sub(now))),
            None => timeout,
        };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }

        for ev in events.iter() {
            let i = ev.token().0;
            let Peer {
                conn,
                stage,
                recv,
                publ,
                http_head,
                newest,
                receipted,
                hold_until,
                held,
            } = &mut peers[i];
            let (recv, publ) = (*recv, *publ);
            if *stage == Stage::Connecting && (ev.is_writable() || ev.is_error()) {
                match conn.finish_connect() {
                    Ok(true) => match (cfg.target, publ, recv) {
                        (Target::Chat, _, _) => {
                            let hello = wire::hello(&format!("{}-{i}", cfg.tag), &cfg.tag);
                            if cfg.websocket {
                                // The upgrade, then the first frame at once.
                                let host = cfg.addr_of(i).to_string();
                                conn.out().extend_from_slice(&wire::ws_upgrade(&host));
                                conn.out().extend_from_slice(&wire::ws_frame(&hello));
                            } else {
                                conn.out().extend_from_slice(&hello);
                            }
                            *stage = Stage::LoggingIn;
                        }
                        (Target::Redis, _, Some(_)) => {
                            resp::push_command(conn.out(), &[b"SUBSCRIBE", cfg.tag.as_bytes()]);
                            *stage = Stage::LoggingIn;
                        }
                        (Target::Redis, _, None) => {
                            *stage = Stage::Ready;
                            ready += 1;
                        }
                    },
                    Ok(false) => {}
                    Err(e) => return Err(format!("connect to {}: {e}", cfg.addr_of(i))),
                }
            }
            if ev.is_writable() {
                if let Err(e) = conn.flush() {
                    return Err(format!("write to {}: {e}", cfg.addr_of(i)));
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                let mut became_ready = false;
                let res = match cfg.target {
                    Target::Chat => conn.read(&mut scratch, epoch, |data, now| {
                        let mut off = 0;
                        if *http_head {
                            match data.windows(4).position(|w| w == b"\r\n\r\n") {
                                Some(at) if data.starts_with(b"HTTP/1.1 101") => {
                                    off = at + 4;
                                    *http_head = false;
                                }
                                Some(_) => {
                                    t.fatal = Some(format!(
                                        "the WebSocket upgrade was refused: {}",
                                        String::from_utf8_lossy(&data[..data.len().min(200)])
                                    ));
                                    return data.len();
                                }
                                None => return 0,
                            }
                        }
                        loop {
                            let split = if cfg.websocket {
                                wire::split_ws_frame(&data[off..], MAX_FRAME)
                            } else {
                                wire::split_frame(&data[off..], MAX_FRAME)
                            };
                            match split {
                                Ok(Some((body, used))) => {
                                    off += used;
                                    match wire::classify(body, cfg.size) {
                                        ChatIn::Message { id, text } => {
                                            *newest = (*newest).max(id);
                                            t.on_message(recv, text, now)
                                        }
                                        ChatIn::Ack { recipients } => {
                                            t.on_ack(publ, recipients as u64)
                                        }
                                        ChatIn::JoinNotice => t.notices += 1,
                                        ChatIn::Receipts => t.receipt_frames_in += 1,
                                        ChatIn::Other(ServerMsg::Joined { .. }) => {
                                            became_ready = true
                                        }
                                        ChatIn::Other(ServerMsg::Message { id, text, .. }) => {
                                            *newest = (*newest).max(id);
                                            t.on_message(recv, text.as_bytes(), now)
                                        }
                                        ChatIn::Other(ServerMsg::Error {
                                            code, message, ..
                                        }) => t.note_error(format!("{code:?}: {message}")),
                                        ChatIn::Other(ServerMsg::Bye { reason, .. }) => {
                                            t.fatal = Some(format!("server said bye: {reason}"))
                                        }
                                        ChatIn::Other(_) => {}
                                        ChatIn::Bad(e) => t.note_error(e),
                                    }
                                }
                                Ok(None) => return off,
                                Err(e) => {
                                    t.fatal = Some(e);
                                    return data.len();
                                }
                            }
                        }
                    }),
                    Target::Redis => conn.read(&mut scratch, epoch, |data, now| {
                        let mut off = 0;
                        loop {
                            if let Some((payload, used)) =
                                resp::fast_message(&data[off..], &push_prefix, cfg.size)
                            {
                                off += used;
                                t.on_message(recv, payload, now);
                                continue;
                            }
                            match resp::parse(&data[off..]) {
                                Ok(Some((reply, used))) => {
                                    off += used;
                                    match reply {
                                        Reply::Message { payload, .. } => {
                                            t.on_message(recv, payload, now)
                                        }
                                        Reply::Integer(n) => t.on_ack(publ, n.max(0) as u64),
                                        Reply::Subscribed { .. } => became_ready = true,
                                        Reply::Error(e) => {
                                            t.note_error(String::from_utf8_lossy(e).into_owned())
                                        }
                                        _ => {}
                                    }
                                }
                                Ok(None) => return off,
                                Err(e) => {
                                    t.fatal = Some(e.to_string());
                                    return data.len();
                                }
                            }
                        }
                    }),
                };
                match res {
                    Ok(ReadEnd::Drained) => {}
                    Ok(ReadEnd::Eof) => {
                        t.fatal
                            .get_or_insert_with(|| format!("the server closed connection {i}"));
                    }
                    Err(e) => {
                        t.fatal.get_or_insert_with(|| format!("read: {e}"));
                    }
                }
                // As chat-client does after each batch it read: one
                // cumulative `delivered` receipt if the batch brought news,
                // unless the last one went out less than DELIVERED_EVERY
                // ago; then it goes when that pause ends.
                if let Some(rc) = &receipts {
                    if *newest > *receipted {
                        let now = now_ns();
                        if now >= *hold_until {
                            rc.push(conn.out(), *newest);
                            *receipted = *newest;
                            *hold_until = now + pause;
                            t.on_receipt_sent(now);
                            if let Err(e) = conn.flush() {
                                return Err(format!("write to {}: {e}", cfg.addr_of(i)));
                            }
                        } else if !*held {
                            *held = true;
                            owed.push_back((*hold_until, i));
                        }
                    }
                }
                if became_ready && *stage == Stage::LoggingIn {
                    *stage = Stage::Ready;
                    ready += 1;
                }
            }
            if let Some(f) = t.fatal.take() {
                return Err(f);
            }
        }

        // Held receipts whose pause is over.
        if let Some(rc) = &receipts {
            let now = now_ns();
            while let Some(&(due, i)) = owed.front() {
                if due > now {
                    break;
                }
                owed.pop_front();
                let p = &mut peers[i];
                p.held = false;
                if p.newest > p.receipted {
                    rc.push(p.conn.out(), p.newest);
                    p.receipted = p.newest;
                    p.hold_until = now + pause;
                    t.on_receipt_sent(now);
                    if let Err(e) = p.conn.flush() {
                        return Err(format!("write to {}: {e}", cfg.addr_of(i)));
                    }
                }
            }
        }

        let now = now_ns();
        match phase {
            Phase::Setup => {
                let logged_in = ready == total;
                let settled = cfg.target == Target::Redis || t.notices >= expected_notices;
                if logged_in && settled {
                    phase = Phase::Run;
                    run_start = now;
                    setup_s = now as f64 / 1e9;
                    match cfg.messages {
                        Some(_) => {
                            t.t_warm = now;
                            t.t_stop = u64::MAX;
                        }
                        None => {
                            t.t_warm = now + ns(cfg.warmup);
                            t.t_stop = t.t_warm + ns(cfg.duration);
                        }
                    }
                    if cfg.messages.is_some() || cfg.warmup.is_zero() {
                        r0 = Reading::take(cfg)?;
                        warm_sampled = true;
                    }
                    for i in 0..p {
                        t.topup.push(i as u32);
                    }
                } else if now > setup_deadline {
                    return Err(format!(
                        "setup timed out: {ready} of {total} connections ready, {} of {expected_notices} join notices",
                        t.notices
                    ));
                }
            }
            Phase::Run => {
                if !warm_sampled && now >= t.t_warm {
                    r0 = Reading::take(cfg)?;
                    warm_sampled = true;
                }
                let done_sending = match cfg.messages {
                    Some(n) => t.pubs.iter().all(|pb| pb.sent >= n),
                    None => now >= t.t_stop,
                };
                if done_sending {
                    if cfg.messages.is_none() {
                        r1 = Reading::take(cfg)?;
                        end_ns = t.t_stop;
                    }
                    phase = Phase::Drain;
                    drain_deadline = now + ns(cfg.drain_timeout);
                }
            }
            Phase::Drain => {}
        }
        if phase == Phase::Drain {
            let all_acked = t.pubs.iter().all(|pb| pb.acked == pb.sent);
            // The last receipts (held ones included, at most a pause
            // later) are written out before the run ends.
            let all_written = owed.is_empty() && peers.iter().all(|pr| pr.conn.pending() == 0);
            if (all_acked && all_written && t.delivered_total >= t.expected) || now > drain_deadline
            {
                if cfg.messages.is_some() {
                    r1 = Reading::take(cfg)?;
                    end_ns = now;
                }
                break;
            }
        }

        // Top up the publishers whose oldest messages every member has read.
        if phase != Phase::Setup && !t.topup.is_empty() {
            let now = now_ns();
            let flagged = std::mem::take(&mut t.topup);
            for &pi in &flagged {
                let pb = &mut t.pubs[pi as usize];
                pb.flagged = false;
                if phase != Phase::Run {
                    continue;
                }
                let conn = &mut peers[pb.peer].conn;
                let limit = cfg.messages.unwrap_or(u64::MAX);
                while pb.sent - pb.done < window && pb.sent < limit && now < t.t_stop {
                    tmpl.push(
                        conn.out(),
                        Stamp {
                            ts_ns: now,
                            publisher: pi,
                            seq: pb.sent,
                        },
                    );
                    pb.sent += 1;
                    if now >= t.t_warm {
                        t.published_window += 1;
                    }
                }
                if let Err(e) = conn.flush() {
                    return Err(format!("write to {}: {e}", cfg.addr_of(pb.peer)));
                }
            }
            t.topup = flagged;
            t.topup.clear();
        }
    }

    let interval_ns = end_ns.saturating_sub(t.t_warm.min(end_ns)).max(1);
    let interval_s = interval_ns as f64 / 1e9;
    let total_published: u64 = t.pubs.iter().map(|pb| pb.sent).sum();
    let total_acked: u64 = t.pubs.iter().map(|pb| pb.acked).sum();
    let (published, delivered, receipts_sent) = match cfg.messages {
        Some(_) => (total_published, t.delivered_total, t.receipts_total),
        None => (t.published_window, t.delivered_window, t.receipts_window),
    };
    let us = |v: Option<u64>| v.map_or(0.0, |x| x as f64 / 1e3);
    let _ = run_start;
    let mut r = FanoutResult {
        scenario: "fanout".into(),
        target: cfg.target.as_str().into(),
        variant: None,
        members: s,
        publishers: p,
        window: cfg.window,
        size: cfg.size,
        mode: if cfg.messages.is_some() {
            "counted"
        } else {
            "timed"
        }
        .into(),
        interval_s,
        published,
        delivered,
        published_per_s: published as f64 / interval_s,
        delivered_per_s: delivered as f64 / interval_s,
        latency_samples: t.hist.count(),
        p50_us: us(t.hist.percentile(50.0)),
        p99_us: us(t.hist.percentile(99.0)),
        p999_us: us(t.hist.percentile(99.9)),
        max_us: us(t.hist.max()),
        mean_us: t.hist.mean().unwrap_or(0.0) / 1e3,
        total_published,
        total_delivered: t.delivered_total,
        expected_delivered: t.expected,
        lost: (total_published - total_acked) + t.expected.saturating_sub(t.delivered_total),
        order_errors: t.order_errors,
        server_errors: t.server_errors,
        first_error: t.first_error,
        setup_s,
        receipts: receipts.is_some(),
        receipts_sent,
        receipts_per_s: receipts_sent as f64 / interval_s,
        total_receipts_sent: t.receipts_total,
        receipt_frames_received: t.receipt_frames_in,
        ..Default::default()
    };
    r0.fill(&r1, cfg, &mut r);
    Ok(r)
}
