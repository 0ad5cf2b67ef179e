//! Chat round-trip latency (scenario 5): user A sends a private message to
//! user B; B's client answers with the same text the moment it reads it; A
//! records the time from sending to reading the answer. One round trip in
//! flight, a new one every `interval` (or at once), so this measures
//! latency, not throughput. Run alone for the idle figure and beside large
//! transfers for the loaded one.

use super::fanout::{unique_tag, MAX_FRAME};
use super::net::{Conn, ReadEnd};
use super::stats::Histogram;
use super::wire::{self, ChatIn, Stamp, Template};
use crate::protocol::ServerMsg;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RttConfig {
    pub addr: SocketAddr,
    pub samples: u64,
    /// Time between the starts of two round trips (zero: back to back).
    pub interval: Duration,
    pub size: usize,
    pub timeout: Duration,
    /// What the figure is for ("idle", "4 transfers").
    pub label: String,
    pub tag: String,
}

impl RttConfig {
    pub fn new(addr: SocketAddr, samples: u64) -> Self {
        RttConfig {
            addr,
            samples,
            interval: Duration::from_millis(1),
            size: 100,
            timeout: Duration::from_secs(60),
            label: "idle".into(),
            tag: unique_tag("r"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RttResult {
    pub scenario: String,
    pub label: String,
    /// A diagnostic run's difference from the plain setup (e.g. "history on
    /// tmpfs"); `None` for the figures the targets are judged on.
    #[serde(default)]
    pub variant: Option<String>,
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    pub seconds: f64,
}

impl RttResult {
    pub fn summary(&self) -> String {
        format!(
            "rtt {}{}: {} round trips, p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
            self.label,
            self.variant
                .as_ref()
                .map_or(String::new(), |v| format!(" ({v})")),
            self.samples,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us
        )
    }
}

const A: usize = 0;
const B: usize = 1;

pub fn run(cfg: &RttConfig) -> Result<RttResult, String> {
    let names = [format!("{}-a", cfg.tag), format!("{}-b", cfg.tag)];
    let to_b = Template::private_msg(&names[B], cfg.size);
    let to_a = Template::private_msg(&names[A], cfg.size);
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(16);
    let epoch = Instant::now();
    let deadline = epoch + cfg.timeout;
    let mut conns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut c = Conn::connect(cfg.addr).map_err(|e| format!("connect: {e}"))?;
        poll.registry()
            .register(
                &mut c.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| e.to_string())?;
        c.out().extend_from_slice(&wire::hello(name, &cfg.tag));
        conns.push(c);
    }
    let mut joined = [false; 2];
    let mut hist = Histogram::new();
    let mut scratch = Vec::new();
    let mut in_flight = false;
    let mut next_send = 0u64;
    let mut seq = 0u64;
    let mut start_run = None;
    while hist.count() < cfg.samples {
        let now = epoch.elapsed().as_nanos() as u64;
        if joined == [true, true] && !in_flight && now >= next_send {
            start_run.get_or_insert(now);
            to_b.push(
                conns[A].out(),
                Stamp {
                    ts_ns: now,
                    publisher: 0,
                    seq,
                },
            );
            seq += 1;
            in_flight = true;
            next_send = now + cfg.interval.as_nanos() as u64;
            conns[A].flush().map_err(|e| format!("send: {e}"))?;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "round trips timed out after {} of {}",
                hist.count(),
                cfg.samples
            ));
        }
        let wait = if in_flight || joined != [true, true] {
            Duration::from_millis(50)
        } else {
            Duration::from_nanos(next_send.saturating_sub(now))
        };
        poll.poll(&mut events, Some(wait))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token().0;
            if !conns[i].connected {
                match conns[i].finish_connect() {
                    Ok(_) => {}
                    Err(e) => return Err(format!("connect: {e}")),
                }
            }
            if ev.is_writable() {
                conns[i].flush().map_err(|e| format!("send: {e}"))?;
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let mut texts: Vec<(Vec<u8>, u64)> = Vec::new();
            let mut fatal = None;
            let mut got_joined = false;
            let res = conns[i].read(&mut scratch, epoch, |data, now| {
                let mut off = 0;
                loop {
                    match wire::split_frame(&data[off..], MAX_FRAME) {
                        Ok(Some((body, used))) => {
                            off += used;
                            match wire::classify(body, cfg.size) {
                                ChatIn::Message { text, .. } => texts.push((text.to_vec(), now)),
                                ChatIn::Other(ServerMsg::Message { text, .. }) => {
                                    texts.push((text.into_bytes(), now))
                                }
                                ChatIn::Other(ServerMsg::Joined { .. }) => got_joined = true,
                                ChatIn::Other(ServerMsg::Error { code, message, .. }) => {
                                    fatal = Some(format!("server error {code:?}: {message}"))
                                }
                                ChatIn::Bad(e) => fatal = Some(e),
                                _ => {}
                            }
                        }
                        Ok(None) => return off,
                        Err(e) => {
                            fatal = Some(e);
                            return data.len();
                        }
                    }
                }
            });
            match res {
                Ok(ReadEnd::Drained) => {}
                Ok(ReadEnd::Eof) => return Err("the server closed the connection".into()),
                Err(e) => return Err(format!("read: {e}")),
            }
            if let Some(f) = fatal {
                return Err(f);
            }
            if got_joined {
                joined[i] = true;
            }
            for (text, at) in texts {
                if i == B {
                    // B echoes at once.
                    let out = conns[B].out();
                    out.extend_from_slice(&to_a.head);
                    out.extend_from_slice(&text);
                    out.extend_from_slice(&to_a.tail);
                    conns[B].flush().map_err(|e| format!("send: {e}"))?;
                } else {
                    let st = wire::read_stamp(&text).ok_or("reply without a stamp")?;
                    if st.seq + 1 != seq {
                        return Err(format!("reply {} while waiting for {}", st.seq, seq - 1));
                    }
                    hist.record(at.saturating_sub(st.ts_ns));
                    in_flight = false;
                }
            }
        }
    }
    let end = epoch.elapsed().as_nanos() as u64;
    let us = |v: Option<u64>| v.map_or(0.0, |x| x as f64 / 1e3);
    Ok(RttResult {
        scenario: "rtt".into(),
        label: cfg.label.clone(),
        variant: None,
        samples: hist.count(),
        p50_us: us(hist.percentile(50.0)),
        p99_us: us(hist.percentile(99.0)),
        p999_us: us(hist.percentile(99.9)),
        max_us: us(hist.max()),
        mean_us: hist.mean().unwrap_or(0.0) / 1e3,
        seconds: (end - start_run.unwrap_or(end)) as f64 / 1e9,
    })
}
