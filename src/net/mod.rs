//! The server's mio shell: one thread, one `Poll`, connections in a `Slab`.
//!
//! Each turn: poll -> accept -> read (decode frames, hand them to the core) ->
//! timers -> end of turn -> queue the core's output -> write -> reap. Reads are
//! budgeted per connection per turn so a flooding client cannot starve the
//! others; a connection that used its budget is read again next turn without
//! waiting for a new edge. Every path that queues bytes tries to write at once
//! and arms WRITABLE interest if bytes remain. The core's effects (history
//! batches and reads, store jobs, password hashing) go to worker threads
//! (`workers`), whose completions wake the loop: it never waits for a disk.
//!
//! This file is the loop and its turn (poll, dispatch, write); a connection's
//! accept, read, close and reap are in `lifecycle`, the settings and errors
//! in `config`.

use crate::core::logsafe::Safe;
mod auth;
mod cluster;
pub use cluster::{check_node_id, default_node_id, ClusterConfig, MAX_NODE_ID};
mod config;
mod conn;
mod files;
mod indexer;
mod input;
mod lifecycle;
mod listen;
mod slow;
mod throttle;
pub mod web;
mod workers;

pub mod sched;
pub mod tls;

pub use config::{ServerConfig, ServerError};
pub use files::FileConfig;
pub use listen::LISTEN_BACKLOG;

pub use conn::{Conn, Queued, ReadOutcome, Slot};

use crate::core::effect::Effect;
use crate::core::{ConnId, Core, Now, Output, Priority};
use crate::protocol::binary;
use crate::store::history::HistoryDb;
use crate::store::search::Searcher;
use crate::store::search_index::{self, SearchIndex};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
/// The loop's one waker: every effect runner (see `workers`).
const WAKE: Token = Token(usize::MAX - 3);

/// The slab slot inside a connection id (see `Conn::id`).
fn key_of(id: ConnId) -> Slot {
    Slot(id.slot())
}

/// History bytes the writer may be behind before the loop stops reading
/// input (and TCP pushes back on the senders) until it catches up.
const LOG_BACKLOG_LIMIT: usize = 64 << 20;

/// A paced history read's next page is asked for once the connection's
/// queue is down to this.
const READ_PACE_LOW: usize = 256 * 1024;

/// Cluster events applied per loop turn (the rest the next turn).
const CLUSTER_EVENTS_PER_TURN: usize = 1024;

/// History messages turned into frames per loop turn (read-back pages).
const PAGE_MESSAGES_PER_TURN: usize = 256;

/// Bytes read from one connection per turn before others get their go.
const READ_BUDGET: usize = 64 * 1024;
/// How long a closing connection may take to flush and say goodbye.
const LINGER_MS: u64 = 2_000;
/// Capacity (entries) the output vector keeps from one turn to the next:
/// enough for a turn of a busy room, at most 160 KiB; a burst past it (a
/// thousand logins in flight) is not kept while idle.
const SPARE_OUTPUT: usize = 4096;

/// The clock, read only here: the core gets it as a value.
struct Clock {
    start: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        Now {
            mono_ms: self.start.elapsed().as_millis() as u64,
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    cfg: ServerConfig,
    poll: Poll,
    listener: Option<TcpListener>,
    addr: SocketAddr,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    conns: Slab<Conn>,
    core: Core,
    clock: Clock,
    scratch: Vec<u8>,
    /// The browser client's files and settings.
    web: web::WebCtx,
    /// Connections with input left over from a budget-limited read.
    backlog: VecDeque<Slot>,
    /// Completions are waiting past last turn's budget.
    done_left: bool,
    /// Connections not read because the history writer is behind.
    disk_wait: Vec<Slot>,
    /// Connections that have output to try writing this turn.
    dirty: Vec<Slot>,
    /// Connections in a lingering close.
    closing: Vec<Slot>,
    /// Connections whose queue is past `--max-outbound` (see `slow`).
    backlogged: slow::Backlogged,
    outbox: Vec<(ConnId, Output)>,
    /// The emptied output vector of the last turn, for the core to fill next
    /// (see `Core::take_output`); at most [`SPARE_OUTPUT`] entries' capacity.
    spare_out: Vec<(ConnId, Output)>,
    /// TLS configuration when listening with TLS.
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The effect runners.
    workers: workers::Workers,
    /// Generation of the next connection id.
    next_gen: usize,
    /// The backplane, in a cluster (`--cluster`).
    cluster: Option<cluster::ClusterLink>,
}

impl Server {
    /// Bind the listening socket and prepare the data directory.
    pub fn bind(cfg: ServerConfig) -> Result<Server, ServerError> {
        // 0700, every file in it 0600; wider ones are tightened, logged.
        crate::store::perms::private_dir(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        })?;
        let addr_text = format!("{}:{}", cfg.host, cfg.port);
        let bind_err = |source| ServerError::Bind {
            addr: addr_text.clone(),
            source,
        };
        let addr = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(bind_err)?
            .next()
            .ok_or_else(|| bind_err(io::Error::other("host name did not resolve")))?;
        // SO_REUSEADDR and an explicit backlog (`listen::LISTEN_BACKLOG`):
        // mio's and std's `bind` fix it at 128, too few for a burst of logins.
        let mut listener = listen::listen(addr, cfg.reuse_port).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let poll = Poll::new().map_err(ServerError::Poll)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(ServerError::Poll)?;
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])
        .map_err(ServerError::Poll)?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(ServerError::Poll)?;
        let tls = match &cfg.tls {
            Some(files) => Some(tls::server_config(files).map_err(ServerError::Tls)?),
            None => None,
        };
        let (mut core, log, index, searcher) = open_history(&cfg)?;
        let waker =
            std::sync::Arc::new(Waker::new(poll.registry(), WAKE).map_err(ServerError::Poll)?);
        let store = files::attach_store(&cfg, &mut core)?;
        let accounts = auth::attach_accounts(&cfg, &mut core)?;
        let clock = Clock {
            start: Instant::now(),
        };
        let cluster = cfg
            .cluster
            .as_ref()
            .map(|c| cluster::ClusterLink::start(c, &mut core, waker.clone(), clock.now()));
        let workers =
            workers::Workers::start(log, index, searcher, Some(store), Some(accounts), waker)
                .map_err(ServerError::Poll)?;
        let web = web::WebCtx {
            cfg: cfg.web.clone(),
            assets: web::assets::Assets::new(),
        };
        Ok(Server {
            cfg,
            poll,
            listener: Some(listener),
            addr,
            signals: Some(signals),
            conns: Slab::new(),
            core,
            clock,
            scratch: vec![0; 64 * 1024],
            web,
            backlog: VecDeque::new(),
            disk_wait: Vec::new(),
            done_left: false,
            dirty: Vec::new(),
            closing: Vec::new(),
            backlogged: slow::Backlogged::default(),
            outbox: Vec::new(),
            spare_out: Vec::new(),
            tls,
            workers,
            next_gen: 1,
            cluster,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Run until SIGINT or SIGTERM, then shut down cleanly.
    pub fn run(mut self) -> Result<(), ServerError> {
        let mut events = Events::with_capacity(1024);
        let mut stop = false;
        while !stop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ServerError::Poll(e));
            }
            let now = self.clock.now();
            // Input left over from last turn first, then new events.
            let backlog: Vec<Slot> = self.backlog.drain(..).collect();
            for k in backlog {
                self.read_conn(k, now);
            }
            if self.done_left {
                self.collect_done(now);
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept_all(now),
                    SIGNALS => stop |= self.signalled(),
                    WAKE => {
                        self.collect_done(now);
                        if self.core.log_backlog() <= LOG_BACKLOG_LIMIT {
                            for k in std::mem::take(&mut self.disk_wait) {
                                self.read_conn(k, now);
                            }
                        }
                    }
                    Token(k) => {
                        let k = Slot(k);
                        if ev.is_read_closed() || ev.is_error() {
                            if let Some(c) = self.conns.get_mut(k.0) {
                                c.hup = true;
                            }
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read_conn(k, now);
                        }
                        if ev.is_writable() {
                            self.dirty.push(k);
                        }
                    }
                }
            }
            self.finish_turn(now);
        }
        self.shutdown();
        Ok(())
    }

    /// Hand the workers' answers to the core, up to a turn's budget of
    /// history messages (pages turn into frames on the loop); the rest next
    /// turn.
    fn collect_done(&mut self, now: Now) {
        let mut budget = PAGE_MESSAGES_PER_TURN;
        self.done_left = false;
        if let Some(c) = self.cluster.as_mut() {
            // Bounded per turn too: a node catching up on many events
            // still answers its users between batches.
            if c.collect(&mut self.core, now, CLUSTER_EVENTS_PER_TURN) {
                self.done_left = true;
            }
        }
        while let Some(done) = self.workers.try_done() {
            if let crate::core::effect::Completion::HistoryPage(p) = &done {
                budget = budget.saturating_sub(p.msgs.len().max(1));
            }
            self.core.complete(now, done);
            if budget == 0 {
                self.done_left = true;
                return;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.backlog.is_empty()
            || self.done_left
            || self.core.has_effects()
            || self.downloads_ready()
        {
            return Some(Duration::ZERO);
        }
        let now = self.clock.now().mono_ms;
        // The core's one timer table, and this shell's lingering closes.
        let mut deadline = self.core.next_deadline();
        if let Some(d) = self.backlogged.next_deadline() {
            deadline = Some(deadline.map_or(d, |e| e.min(d)));
        }
        for &k in &self.closing {
            if let Some(c) = self.conns.get(k.0) {
                deadline = Some(deadline.map_or(c.close_deadline, |d| d.min(c.close_deadline)));
            }
        }
        // +1: wake just after the deadline, not just before it.
        deadline.map(|d| Duration::from_millis(d.saturating_sub(now) + 1))
    }

    fn signalled(&mut self) -> bool {
        let mut got = false;
        if let Some(s) = self.signals.as_mut() {
            for sig in s.pending() {
                log::info!("received signal {sig}, shutting down");
                got = true;
            }
        }
        got
    }

    fn finish_turn(&mut self, now: Now) {
        if self.core.next_deadline().is_some_and(|d| d <= now.mono_ms) {
            self.core.tick(now);
        }
        self.expire_backlogged(now);
        self.core.end_of_turn();
        self.dispatch(now);
        self.flush_dirty();
        self.pump_downloads(now);
        self.reap(now);
    }

    /// Hand the core's effects to the workers and move its output into
    /// connection queues (what waits for a batch or a read, the core keeps).
    fn dispatch(&mut self, now: Now) {
        while let Some(e) = self.core.poll_effect() {
            match (e, self.cluster.as_mut()) {
                (Effect::Publish { conn, payload }, Some(c)) => {
                    c.publish(&mut self.core, conn, payload, now)
                }
                (Effect::Forward { node, payload }, Some(c)) => c.forward(&node, payload),
                (e, _) => self.workers.submit(e),
            }
        }
        if self.outbox.is_empty() {
            self.outbox = self.core.take_output(std::mem::take(&mut self.spare_out));
        } else {
            self.outbox.extend(self.core.drain());
        }
        self.deliver(now);
    }

    /// Queue `outbox` (and whatever the core says while we do: leave notices
    /// for dropped slow consumers) into connection queues.
    fn deliver(&mut self, now: Now) {
        loop {
            if self.outbox.is_empty() {
                return;
            }
            let mut batch = std::mem::take(&mut self.outbox);
            // A fan-out hands one frame to many connections (in any order:
            // a group commit releases each connection's frames together),
            // and a server's WebSocket frame (unmasked) is the same for
            // every browser: each is framed once per batch, keyed by the
            // shared buffer (kept alive here, so its address is not reused).
            let mut ws_framed: HashMap<*const u8, Framed> = HashMap::new();
            for (id, out) in batch.drain(..) {
                // Output for a connection that is gone, even if its slot
                // was reused since, is dropped.
                let k = key_of(id);
                let Some(conn) = self.conns.get_mut(k.0).filter(|c| c.id == id) else {
                    continue;
                };
                match out {
                    Output::Frame(bytes, prio) => {
                        if conn.shut {
                            continue;
                        }
                        // A browser gets WebSocket messages; a plain HTTP
                        // connection nothing of the protocol.
                        let bytes = match &conn.web {
                            // A chunk in the form this client reads.
                            None if matches!(prio, Priority::Chunk(_))
                                && binary::is_binary(&bytes) != conn.binary_chunks =>
                            {
                                let other = match conn.binary_chunks {
                                    true => binary::from_json(&bytes),
                                    false => binary::to_json(&bytes),
                                };
                                other.map_or(bytes, Rc::from)
                            }
                            None => bytes,
                            // An HTTP download's raw bytes.
                            Some(web::Web::Http) if matches!(prio, Priority::Chunk(_)) => bytes,
                            Some(web::Web::Http) => continue,
                            Some(web::Web::Ws(_)) => {
                                let chunk = matches!(prio, Priority::Chunk(_));
                                ws_framed
                                    .entry(bytes.as_ptr())
                                    .or_insert_with(|| {
                                        let framed = Rc::from(web::ws::encode(&bytes, chunk));
                                        (bytes.clone(), framed)
                                    })
                                    .1
                                    .clone()
                            }
                        };
                        let was_empty = !conn.has_output();
                        match conn.push(bytes, prio, self.cfg.high_watermark, self.cfg.max_outbound)
                        {
                            Queued::Yes => {
                                if was_empty {
                                    self.dirty.push(k);
                                }
                            }
                            Queued::Dropped => {}
                            Queued::OverLimit => self.over_limit(k, now),
                        }
                    }
                    Output::Close(reason) => self.begin_close(k, &reason, now),
                    Output::Resume => {
                        // The hold is over: decode what waited, read again.
                        conn.throttled = false;
                        self.backlog.push_back(k);
                    }
                }
            }
            // The emptied vector goes back to the core next turn; one that
            // grew for a burst is trimmed, so a turn's peak is not kept.
            batch.shrink_to(SPARE_OUTPUT);
            self.spare_out = batch;
            self.outbox.extend(self.core.drain());
        }
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &k in &dirty {
            self.flush_conn(k);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn flush_conn(&mut self, k: Slot) {
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        let before = conn.queued_bytes();
        if let Err(e) = conn.flush() {
            self.remove(k, &format!("write failed: {e}"));
            return;
        }
        let queued = conn.queued_bytes();
        self.flushed(k, before, queued);
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        let sent = conn.take_sent_chunks();
        if !sent.is_empty() {
            self.core.chunks_sent(conn.id, &sent);
        }
        // A paced read's next page once most of the last one is out.
        if conn.queued_bytes() <= READ_PACE_LOW && self.core.wants_output_low(conn.id) {
            self.core.output_low(conn.id);
        }
        let want = conn.has_output();
        if want != conn.want_write {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(k.0), interest)
            {
                self.remove(k, &format!("reregister failed: {e}"));
                return;
            }
            conn.want_write = want;
        }
        debug_assert!(
            !conn.has_output() || conn.want_write,
            "queued bytes without WRITABLE interest"
        );
    }

    /// Stop accepting, say goodbye, flush for a bounded time.
    fn shutdown(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.core.shutdown("the server is shutting down");
        let now = self.clock.now();
        self.dispatch(now);
        // Everything sent to the writer is settled before the goodbyes go out.
        for done in self.workers.finish() {
            self.core.complete(now, done);
        }
        while let Some(e) = self.core.poll_effect() {
            log::debug!("effect left at shutdown: {}", Safe(&format!("{e:?}")));
        }
        self.dispatch(now);
        if let Some(mut c) = self.cluster.take() {
            // This node's users leave the others now, not after a timeout.
            c.finish(Duration::from_secs(1));
        }
        self.flush_dirty();
        let deadline = Instant::now() + Duration::from_millis(LINGER_MS);
        let mut events = Events::with_capacity(256);
        while self.conns.iter().any(|(_, c)| c.has_output()) && Instant::now() < deadline {
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(50)));
            let keys: Vec<Slot> = self.conns.iter().map(|(k, _)| Slot(k)).collect();
            for k in keys {
                self.flush_conn(k);
            }
        }
        for (_, c) in self.conns.iter_mut() {
            c.close_notify();
            let _ = c.flush();
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
        }
        log::info!("shut down with {} connection(s) open", self.conns.len());
    }
}

/// Open the history database under the data directory (importing an old
/// `history.log` first, once), load what the core keeps in memory, and
/// hand back the worker's connection, the search index's writer and the
/// search connection.
fn open_history(
    cfg: &ServerConfig,
) -> Result<(Core, HistoryDb, SearchIndex, Searcher), ServerError> {
    use crate::store::{db, legacy};
    let path = cfg.data_dir.join(db::FILE);
    let fail = |why: String| ServerError::History {
        path: path.clone(),
        why,
    };
    let started = Instant::now();
    match legacy::import_if_present(&cfg.data_dir) {
        Ok(Some(done)) => log::warn!(
            "imported the old history log into {}: {} message(s), {} record(s), {} damaged line(s) skipped; the old log is kept as {}",
            path.display(),
            done.messages,
            done.records,
            done.skipped,
            cfg.data_dir.join(legacy::IMPORTED).display()
        ),
        Ok(None) => {}
        Err(e) => return Err(fail(format!("importing the old history log failed: {e}"))),
    }
    let conn = db::open_rw(&path).map_err(|e| fail(e.to_string()))?;
    let loaded = db::load(&conn).map_err(|e| fail(e.to_string()))?;
    let index = SearchIndex::open(&path).map_err(|e| ServerError::SearchIndex {
        path: path.with_file_name(search_index::FILE),
        why: e.to_string(),
    })?;
    let mut searcher = Searcher::open(&path).map_err(|e| fail(e.to_string()))?;
    searcher.report_damage_to(index.damage_flag());
    log::info!(
        "history: up to id {} in {}, newest {} message(s) loaded in {} ms",
        loaded.history.last_id(),
        path.display(),
        loaded.messages,
        started.elapsed().as_millis()
    );
    let mut core_cfg = cfg.core.clone();
    // A run of the server, named by when it started (ns: distinct runs).
    core_cfg.boot = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 & ((1 << 53) - 1));
    let mut core = Core::with_history(core_cfg, loaded.history);
    let durable = db::reserve_first_transfer_ids(&conn, loaded.next_transfer_id);
    core.set_next_transfer_id(loaded.next_transfer_id, durable);
    Ok((core, HistoryDb::with(conn, cfg.retention), index, searcher))
}

/// A native frame and its WebSocket form.
type Framed = (Rc<[u8]>, Rc<[u8]>);

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_output_vector_is_at_most_160_kib() {
        let entry = std::mem::size_of::<(crate::core::ConnId, crate::core::Output)>();
        assert!(
            entry * super::SPARE_OUTPUT <= 160 << 10,
            "{entry} bytes each"
        );
    }
}
