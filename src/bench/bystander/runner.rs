//! The run on the main thread: phases and their measurement windows
//! ([`Phase`]), the pieces every load uses (login, fence pings, deadlines)
//! and each phase's result; the loads themselves are `impl Runner` blocks in
//! their own files.

use super::big_room::BigRoom;
use super::clients::Net;
use super::config::{BystanderConfig, Load};
use super::frames::Ev;
use super::pinger::Pinger;
use super::result::BystanderResult;
use super::tally::Tally;
use crate::bench::procfs;
use crate::bench::wire;
use crate::protocol::{encode, ClientMsg};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long the bystander's pings may stay unanswered after a load before
/// the server counts as stalled (and the remaining loads are skipped).
const QUIESCE: Duration = Duration::from_secs(20);

/// Fence pings' sequence numbers start here (the bystander's start at 0).
const FENCE_BASE: u64 = 1 << 40;

/// A user name unique to the run, the phase and `what`.
pub(super) fn user(tag: &str, p: &Phase, what: &str) -> String {
    format!("{tag}-{}{what}", p.id)
}

/// A message text of `size` bytes (at least its own label).
pub(super) fn filler(k: usize, size: usize) -> String {
    let mut t = format!("bystander load message {k} ");
    while t.len() < size {
        t.push('x');
    }
    t
}

/// A phase's measurement window, opened and closed around each round.
pub(super) struct Phase {
    id: usize,
    started: Instant,
    active: Duration,
    pub(super) rounds: u32,
    cpu_s: f64,
    on_since: Option<(Instant, f64)>,
    pub(super) timed_out: bool,
}

/// The run: the attacker's clients, the bystander and what the phases so
/// far left for the next (the idle figures, the big room).
pub(super) struct Runner<'a> {
    pub(super) cfg: &'a BystanderConfig,
    pub(super) net: Net,
    pinger: Pinger,
    next_phase: usize,
    /// The idle baseline: p50, p99, max (µs).
    idle: Option<(f64, f64, f64)>,
    /// The big room, once filled.
    pub(super) big: Option<BigRoom>,
    /// Clients kept across loads (the big room's helper).
    pub(super) keep: HashSet<usize>,
    fences: u64,
    /// Set when the bystander's pings went unanswered after a load.
    stalled: Option<String>,
}

impl<'a> Runner<'a> {
    /// Start the bystander and wait until it has logged in.
    pub(super) fn new(cfg: &'a BystanderConfig) -> Result<Runner<'a>, String> {
        let pinger = Pinger::start(
            cfg.addr,
            format!("{}-by", cfg.tag),
            format!("by{}", cfg.tag),
            cfg.ping_interval,
        )?;
        Ok(Runner {
            cfg,
            net: Net::new(cfg.addr)?,
            pinger,
            next_phase: 0,
            idle: None,
            big: None,
            keep: HashSet::new(),
            fences: 0,
            stalled: None,
        })
    }
}

impl Runner<'_> {
    fn cpu(&self) -> f64 {
        self.cfg
            .server_pid
            .and_then(|p| procfs::cpu_seconds(Some(p)).ok())
            .unwrap_or(0.0)
    }

    fn phase(&mut self) -> Phase {
        self.next_phase += 1;
        self.net.tally = Tally::default();
        Phase {
            id: self.next_phase,
            started: Instant::now(),
            active: Duration::ZERO,
            rounds: 0,
            cpu_s: 0.0,
            on_since: None,
            timed_out: false,
        }
    }

    pub(super) fn deadline(&self, p: &Phase) -> Instant {
        p.started + self.cfg.phase_timeout
    }

    /// The load's frames are about to go: measure.
    pub(super) fn on(&mut self, p: &mut Phase) {
        self.net.counting = true;
        p.on_since = Some((Instant::now(), self.cpu()));
        self.pinger.measure(p.id);
    }

    /// The server has answered them: stop measuring.
    pub(super) fn off(&mut self, p: &mut Phase) {
        self.pinger.measure(0);
        if let Some((t, c)) = p.on_since.take() {
            p.active += t.elapsed();
            p.cpu_s += self.cpu() - c;
        }
        self.net.counting = false;
    }

    /// Another round of a fixed-work load?
    pub(super) fn more(&self, p: &Phase) -> bool {
        p.rounds == 0
            || (!p.timed_out && p.active < self.cfg.min_load && Instant::now() < self.deadline(p))
    }

    pub(super) fn timed_out(&self, p: &mut Phase) -> bool {
        if Instant::now() > self.deadline(p) {
            p.timed_out = true;
        }
        p.timed_out
    }

    pub(super) fn pump(&mut self) -> Result<Vec<(usize, Ev)>, String> {
        self.pinger.check()?;
        self.net.pump(Duration::from_millis(5))
    }

    /// [`Runner::pump`], keeping only the frames client `i` got.
    pub(super) fn pump_for(&mut self, i: usize) -> Result<Vec<Ev>, String> {
        let evs = self.pump()?.into_iter();
        Ok(evs.filter(|(j, _)| *j == i).map(|(_, ev)| ev).collect())
    }

    /// Send a fence ping on client `i`; its sequence number.
    pub(super) fn fence(&mut self, i: usize) -> u64 {
        self.fences += 1;
        let seq = FENCE_BASE + self.fences;
        self.net
            .send(i, &encode(&ClientMsg::Ping { seq: Some(seq) }), "ping", 1);
        seq
    }

    /// Log clients in to `room`; their indices once each has `joined`.
    pub(super) fn login(
        &mut self,
        names: &[String],
        room: &str,
        deadline: Instant,
    ) -> Result<Vec<usize>, String> {
        let mut ids = Vec::new();
        for n in names {
            ids.push(self.net.connect(&wire::hello(n, room))?);
        }
        let mut joined = HashSet::new();
        while joined.len() < ids.len() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} of {} clients logged in before the deadline",
                    joined.len(),
                    ids.len()
                ));
            }
            for (i, ev) in self.pump()? {
                if !ids.contains(&i) {
                    continue;
                }
                match ev {
                    Ev::Joined => {
                        joined.insert(i);
                    }
                    Ev::Error { code, message, .. } => {
                        return Err(format!("login refused: {code}: {message}"))
                    }
                    Ev::Closed => return Err("the server closed a client logging in".into()),
                    _ => {}
                }
            }
        }
        Ok(ids)
    }

    fn finish(
        &mut self,
        mut p: Phase,
        load: &str,
        label: String,
        note: String,
        failed: Option<String>,
    ) -> BystanderResult {
        self.off(&mut p);
        if !self.pinger.quiesce(Instant::now() + QUIESCE) && self.stalled.is_none() {
            self.stalled = Some(format!(
                "the bystander's pings were still unanswered {} s after the {load} load",
                QUIESCE.as_secs()
            ));
        }
        let st = self.pinger.take(p.id);
        let h = &st.hist;
        let us = |v: Option<u64>| v.map_or(0.0, |x| x as f64 / 1e3);
        let (p50, p99, max) = (us(h.percentile(50.0)), us(h.percentile(99.0)), us(h.max()));
        let (ip50, ip99, imax) = self.idle.unwrap_or((p50, p99, max));
        BystanderResult {
            scenario: "bystander".into(),
            run: self.cfg.tag.clone(),
            load: load.into(),
            label,
            variant: self.cfg.variant.clone(),
            interval_ms: self.cfg.ping_interval.as_secs_f64() * 1e3,
            pings: st.sent,
            samples: h.count(),
            unanswered: st.sent.saturating_sub(h.count()),
            p50_us: p50,
            p99_us: p99,
            max_us: max,
            mean_us: h.mean().unwrap_or(0.0) / 1e3,
            idle_p50_us: ip50,
            idle_p99_us: ip99,
            idle_max_us: imax,
            load_s: p.active.as_secs_f64(),
            rounds: p.rounds,
            timed_out: p.timed_out,
            failed,
            server_cpu_s: self.cfg.server_pid.map(|_| p.cpu_s),
            attacker: self.net.tally.clone(),
            note: if p.timed_out {
                format!(
                    "TIMED OUT: still unfinished {} s after it began. {note}",
                    self.cfg.phase_timeout.as_secs()
                )
            } else {
                note
            },
        }
    }

    pub(super) fn idle_phase(&mut self) -> Result<BystanderResult, String> {
        let mut p = self.phase();
        self.on(&mut p);
        let end = Instant::now() + self.cfg.idle;
        while Instant::now() < end {
            self.pump()?;
        }
        p.rounds = 1;
        let r = self.finish(
            p,
            "idle",
            "idle (no load)".into(),
            "no client but the bystander sends anything".into(),
            None,
        );
        if r.samples == 0 {
            return Err("no round trip in the idle baseline".into());
        }
        self.idle = Some((r.p50_us, r.p99_us, r.max_us));
        Ok(r)
    }

    pub(super) fn load(&mut self, load: Load) -> BystanderResult {
        let label = match load {
            Load::Receipts => "receipts flood, 1 reader".to_string(),
            Load::Receipts4 => "receipts flood, 4 readers".to_string(),
            Load::Resumes => format!(
                "{} bogus download resumes of a {} file",
                self.cfg.resumes,
                crate::bench::report::bytes(self.cfg.file_size as f64)
            ),
            Load::Hello => format!("hello with {} resume rooms", self.cfg.resume_rooms),
            Load::Neighbour => format!("busy neighbour room, {} publishers", self.cfg.neighbours),
            Load::History => format!("history pages, {} in flight", self.cfg.history_window),
        };
        let mut p = self.phase();
        if let Some(why) = self.stalled.clone() {
            return self.finish(
                p,
                load.key(),
                label,
                String::new(),
                Some(format!("skipped: {why}")),
            );
        }
        let res = match load {
            Load::Receipts => self.receipts(&mut p, 1),
            Load::Receipts4 => self.receipts(&mut p, 4),
            Load::Resumes => self.resumes(&mut p),
            Load::Hello => self.hello(&mut p),
            Load::Neighbour => self.neighbour(&mut p),
            Load::History => self.history(&mut p),
        };
        self.off(&mut p);
        for i in 0..self.net.conns.len() {
            if !self.keep.contains(&i) {
                self.net.close(i);
            }
        }
        match res {
            Ok(note) => self.finish(p, load.key(), label, note, None),
            Err(e) => {
                let note = format!("{} round(s) before it failed", p.rounds);
                self.finish(p, load.key(), label, note, Some(e))
            }
        }
    }
}
