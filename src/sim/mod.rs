//! The server without sockets or threads, for tests: the core, a fake
//! clock, and its effects run inline by the same runners the workers use
//! (the history database, the file store and the accounts file, on a temporary
//! directory), with faults on demand.
//!
//! [`Sim`] plays the shell: frames in, a turn ends, effects run (or wait,
//! while [`Sim::hold_effects`] is set, to see what waits for them), the
//! output comes out decoded per connection. Many clients, no network, no
//! waiting on a real clock.

use crate::core::effect::{Completion, Effect};
use crate::core::store_ops::Catalog;
use crate::core::{Config, ConnId, Core, Gone, Now, Output};
use crate::protocol::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use crate::store::accounts::AccountFile;
use crate::store::files::DiskStore;
use crate::store::history::{HistoryDb, Retention};
use crate::store::search::Searcher;
use crate::store::search_index::SearchIndex;
use std::collections::VecDeque;
use std::path::PathBuf;

pub mod cluster;

/// A `hello` for `name`: this protocol version, no room, status, resume or
/// password.
pub fn hello(name: &str) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: None,
    }
}

/// The frames for `conn` in one turn's output ([`Sim::turn`]), in order;
/// closes and undecodable frames left out.
pub fn frames_to(out: &[(ConnId, Result<ServerMsg, String>)], conn: ConnId) -> Vec<ServerMsg> {
    out.iter()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, m)| m.as_ref().ok().cloned())
        .collect()
}

/// The texts of the `message` frames among `frames`, in order.
pub fn texts(frames: &[ServerMsg]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Runs a core's effects inline.
pub struct Runner {
    /// Events the core asked to publish to its cluster, in order.
    pub published: Vec<(ConnId, String)>,
    /// Messages the core sent straight to another node: (node, payload).
    pub forwarded: Vec<(String, String)>,
    log: HistoryDb,
    index: SearchIndex,
    searcher: Searcher,
    store: DiskStore,
    accounts: AccountFile,
    dir: tempfile::TempDir,
}

/// The store's quota in a new runner (the server's default).
const STORE_QUOTA: u64 = 10 << 30;

impl Runner {
    /// A runner over an empty history database, an empty file store
    /// (`files/`) and no accounts file yet, in a new temporary directory.
    pub fn new() -> Runner {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join(crate::store::db::FILE);
        let log = HistoryDb::open(&db, Retention::default()).expect("a new database");
        let index = SearchIndex::open(&db).expect("a search index");
        let mut searcher = Searcher::open(&db).expect("a search connection");
        searcher.report_damage_to(index.damage_flag());
        let store = DiskStore::open(&dir.path().join("files"), STORE_QUOTA).expect("a new store");
        let (accounts, _) = AccountFile::open(dir.path()).expect("an accounts file");
        Runner {
            published: Vec::new(),
            forwarded: Vec::new(),
            log,
            index,
            searcher,
            store,
            accounts,
            dir,
        }
    }

    /// The history database's file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join(crate::store::db::FILE)
    }

    /// A new core as a restarted server would start: loaded from the
    /// database (the history worker's connection is opened again too).
    pub fn restarted_core(&mut self, cfg: Config, retention: Retention) -> Core {
        let db = self.db_path();
        self.log = HistoryDb::open(&db, retention).expect("the database");
        let loaded = crate::store::db::load(self.log.conn()).expect("start-up load");
        let mut core = Core::with_history(cfg, loaded.history);
        let first = loaded.next_transfer_id;
        let durable = crate::store::db::reserve_first_transfer_ids(self.log.conn(), first);
        core.set_next_transfer_id(first, durable);
        core.set_accounts(self.saved_accounts());
        core
    }

    /// One retention step at wall-clock `now_ms`, as the history worker
    /// takes when idle; its completion, if it removed anything.
    pub fn prune(&mut self, now_ms: u64) -> Option<Completion> {
        let through = self.log.prune_step(now_ms).expect("a retention step");
        // The history thread wakes the indexer, which takes them out.
        self.index.index_all().expect("indexing");
        through.map(|through| Completion::Pruned { through })
    }

    /// Make every history write fail (a full disk) or work again.
    pub fn fail_writes(&mut self, fail: bool) {
        self.log.inject_failure(fail);
    }

    /// Make every store write and commit fail (a full disk) or work again.
    pub fn fail_store_writes(&mut self, fail: bool) {
        self.store.inject_failure(fail);
    }

    /// Make every accounts file save fail (a full disk) or work again.
    pub fn fail_account_saves(&mut self, fail: bool) {
        self.accounts.inject_failure(fail);
    }

    /// Open the file store again (as a restart would) with `quota`, and
    /// return what the core starts from (`Core::set_file_store`).
    pub fn open_store(&mut self, quota: u64) -> Catalog {
        self.store = DiskStore::open(&self.store_dir(), quota).expect("the store");
        self.store.catalog()
    }

    /// Where the file store keeps its files.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// The accounts as a restart would find them.
    pub fn saved_accounts(
        &self,
    ) -> std::collections::BTreeMap<String, crate::store::accounts::Account> {
        AccountFile::open(self.dir.path())
            .expect("the accounts file")
            .1
    }

    /// Run one effect, returning its completions.
    pub fn run_one(&mut self, effect: Effect) -> Vec<Completion> {
        match effect {
            Effect::Log(b) => self.log.write(&[b]),
            Effect::ReadHistory(q) => {
                let mut pages = Vec::new();
                self.log
                    .read(&q, |p| pages.push(Completion::HistoryPage(p)));
                pages
            }
            Effect::Auth(job) => vec![Completion::Auth(job.run())],
            Effect::Store(job) => self
                .store
                .run(job)
                .map(Completion::Store)
                .into_iter()
                .collect(),
            Effect::SaveAccounts { ticket, accounts } => vec![Completion::AccountsSaved {
                ticket,
                result: self.accounts.save(&accounts).map_err(|e| e.to_string()),
            }],
            // Kept for a cluster of sims to sequence (`sim::cluster`).
            Effect::Publish { conn, payload } => {
                self.published.push((conn, payload));
                Vec::new()
            }
            Effect::Forward { node, payload } => {
                self.forwarded.push((node, payload));
                Vec::new()
            }
            Effect::Search(q) => {
                // The indexing thread would have indexed what was
                // committed before.
                self.index.index_all().expect("indexing");
                vec![Completion::Search(self.searcher.run(&q))]
            }
        }
    }

    /// Run the core's effects (and those their completions cause) until
    /// none are left.
    pub fn run(&mut self, core: &mut Core, now: Now) {
        while let Some(e) = core.poll_effect() {
            for done in self.run_one(e) {
                core.complete(now, done);
            }
        }
        // Idle now: the search index catches up, as the thread's does.
        self.index.index_all().expect("indexing");
    }

    /// Messages in the database (what a restart would find).
    pub fn stored_messages(&self) -> usize {
        self.log.message_count().expect("a count") as usize
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

/// A whole server in memory: core, runner, fake clock.
pub struct Sim {
    pub core: Core,
    pub runner: Runner,
    pub now: Now,
    /// While set, effects queue up instead of running at the end of a turn.
    pub hold_effects: bool,
    /// Connections that do not read: their paced reads wait.
    pub slow_readers: Vec<ConnId>,
    held: VecDeque<Effect>,
}

impl Sim {
    pub fn new(cfg: Config) -> Sim {
        let runner = Runner::new();
        let mut core = Core::new(cfg);
        // As the server starts: the first block of transfer ids on disk.
        let durable = crate::store::db::reserve_first_transfer_ids(runner.log.conn(), 1);
        core.set_next_transfer_id(1, durable);
        Sim {
            core,
            runner,
            now: Now {
                mono_ms: 1_000,
                unix_ms: 1_700_000_000_000,
            },
            hold_effects: false,
            slow_readers: Vec::new(),
            held: VecDeque::new(),
        }
    }

    /// Stop as on SIGTERM (everyone is told, what is pending is written);
    /// the frames sent. A [`Sim::restart`] after it is a clean restart, one
    /// without it a crash.
    pub fn shutdown(&mut self, reason: &str) -> Vec<(ConnId, Result<ServerMsg, String>)> {
        self.core.shutdown(reason);
        self.turn()
    }

    /// Restart the server: a new core loaded from the database, as a
    /// restarted server would start (every connection is gone, held effects
    /// are lost); history is kept by `retention` from now on.
    pub fn restart(&mut self, cfg: Config, retention: Retention) {
        self.core = self.runner.restarted_core(cfg, retention);
        self.held.clear();
    }

    /// One retention step now, as the history worker takes when idle;
    /// whether it removed anything.
    pub fn prune(&mut self) -> bool {
        match self.runner.prune(self.now.unix_ms) {
            Some(done) => {
                self.core.complete(self.now, done);
                true
            }
            None => false,
        }
    }

    /// Move the fake clock on.
    pub fn advance(&mut self, ms: u64) {
        self.now.mono_ms += ms;
        self.now.unix_ms += ms;
    }

    pub fn connect(&mut self, conn: ConnId) {
        self.core.connect(conn);
    }

    /// Connect `conn`, send [`hello`] as `name` and end the turn: the
    /// frames `conn` got. Panics unless one is a welcome.
    pub fn login(&mut self, conn: ConnId, name: &str) -> Vec<ServerMsg> {
        self.connect(conn);
        self.send(conn, hello(name));
        let out = self.turn();
        let got = frames_to(&out, conn);
        assert!(
            got.iter().any(|m| matches!(m, ServerMsg::Welcome { .. })),
            "{name} was not welcomed: {out:?}"
        );
        got
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        self.core.disconnect(conn, Gone::Abrupt, self.now);
    }

    /// One frame from `conn` (the turn is not over).
    pub fn send(&mut self, conn: ConnId, msg: ClientMsg) {
        self.core.handle(conn, msg, self.now);
    }

    /// End the turn: timers, receipts, the history batch; run the effects
    /// (unless held); return every frame and close, decoded, in order.
    pub fn turn(&mut self) -> Vec<(ConnId, Result<ServerMsg, String>)> {
        if self
            .core
            .next_deadline()
            .is_some_and(|d| d <= self.now.mono_ms)
        {
            self.core.tick(self.now);
        }
        self.core.end_of_turn();
        if self.hold_effects {
            while let Some(e) = self.core.poll_effect() {
                self.held.push_back(e);
            }
        } else {
            self.release_effects();
            self.runner.run(&mut self.core, self.now);
        }
        // The sim's clients read everything at once: a paced read's pages
        // follow each other until it is done (unless effects are held).
        while !self.hold_effects {
            let paced: Vec<ConnId> = self
                .core
                .reads_paused()
                .into_iter()
                .filter(|c| !self.slow_readers.contains(c))
                .collect();
            if paced.is_empty() {
                break;
            }
            for c in paced {
                self.core.output_low(c);
            }
            self.runner.run(&mut self.core, self.now);
        }
        self.core
            .drain()
            .map(|(c, o)| match o {
                Output::Frame(b, _) => (
                    c,
                    crate::protocol::binary::server_msg(&b).map_err(|e| e.to_string()),
                ),
                Output::Close(why) => (c, Err(format!("close: {why}"))),
                // The sim does not throttle its input (it calls the core
                // directly), so the end of a hold needs no reading.
                Output::Resume => (c, Err("resume".into())),
            })
            .collect()
    }

    /// Run the effects held so far, in order.
    pub fn release_effects(&mut self) {
        while let Some(e) = self.held.pop_front() {
            for done in self.runner.run_one(e) {
                self.core.complete(self.now, done);
            }
        }
    }

    /// Effects held so far, oldest first.
    pub fn held_effects(&self) -> &VecDeque<Effect> {
        &self.held
    }
}
