//! The Redis backplane (`chat::cluster::backplane`) against a real `redis-server`.
//!
//! Each test runs its own Redis (tests/common/redis.rs) and two or three
//! backplanes with different node ids, each driven like the server's loop: a
//! `mio::Poll` with the backplane's `Waker`, draining `try_recv` after every wake.
//! Every wait is on reports, with a deadline.

mod common;

use chat::cluster::backplane::{Backplane, BackplaneConfig, Report};
use common::redis::RedisServer;
use mio::{Events, Poll, Token, Waker};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deadline for a report that should come promptly.
const WAIT: Duration = Duration::from_secs(15);
const WAKE: Token = Token(0);

/// One backplane and the loop around it.
struct Node {
    id: String,
    bp: Backplane,
    poll: Poll,
    events: Events,
    /// Every report received, in order.
    reports: Vec<Report>,
    /// The events among them: (seq, payload).
    got: Vec<(u64, String)>,
    /// Where `wait_for` looks next in `reports`.
    cursor: usize,
}

fn config(url: &str, id: &str) -> BackplaneConfig {
    BackplaneConfig {
        url: url.to_string(),
        node: id.to_string(),
        heartbeat_ms: 100,
        node_ttl_ms: 600,
        ..BackplaneConfig::default()
    }
}

/// With `CHAT_TEST_LOG=1`, the backplane's log goes to stderr (run with `--nocapture`).
fn init_log() {
    if std::env::var_os("CHAT_TEST_LOG").is_some() {
        let _ = simplelog::WriteLogger::init(
            log::LevelFilter::Debug,
            simplelog::Config::default(),
            std::io::stderr(),
        );
    }
}

impl Node {
    fn start(url: &str, id: &str, from_seq: Option<u64>) -> Node {
        Self::with(config(url, id), from_seq)
    }

    fn with(cfg: BackplaneConfig, from_seq: Option<u64>) -> Node {
        init_log();
        let poll = Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).expect("waker"));
        Node {
            id: cfg.node.clone(),
            bp: Backplane::start(cfg, waker, from_seq),
            poll,
            events: Events::with_capacity(8),
            reports: Vec::new(),
            got: Vec::new(),
            cursor: 0,
        }
    }

    /// Drain what is there; if nothing, wait for a wake up to `deadline`. False once
    /// the deadline passed with nothing new.
    fn pump(&mut self, deadline: Instant) -> bool {
        let mut any = false;
        loop {
            while let Some(r) = self.bp.try_recv() {
                if let Report::Event { seq, payload } = &r {
                    self.got.push((*seq, payload.clone()));
                }
                self.reports.push(r);
                any = true;
            }
            if any {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.poll
                .poll(&mut self.events, Some(deadline - now))
                .expect("poll");
        }
    }

    /// Wait for the next report (after earlier matches) that `pred` accepts.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Report) -> bool) -> Report {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.reports[self.cursor..].iter().position(&pred) {
                self.cursor += i + 1;
                return self.reports[self.cursor - 1].clone();
            }
            self.cursor = self.reports.len();
            if !self.pump(deadline) {
                panic!(
                    "[{}] no {what} within {WAIT:?}; reports: {:?}",
                    self.id, self.reports
                );
            }
        }
    }

    fn wait_up(&mut self) -> u64 {
        match self.wait_for("Up", |r| matches!(r, Report::Up { .. })) {
            Report::Up { seq } => seq,
            _ => unreachable!(),
        }
    }

    fn wait_down(&mut self) {
        self.wait_for("Down", |r| matches!(r, Report::Down { .. }));
    }

    /// Wait until `n` events in all have arrived.
    fn wait_events(&mut self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.got.len() < n {
            if !self.pump(deadline) {
                panic!(
                    "[{}] {} events of {n} within {WAIT:?}; reports: {:?}",
                    self.id,
                    self.got.len(),
                    self.reports
                );
            }
        }
    }

    fn publish(&self, payload: &str) {
        self.bp
            .publish(payload.to_string())
            .unwrap_or_else(|e| panic!("[{}] publish {payload:?} refused: {e}", self.id));
    }

    /// Wait until every payload is confirmed.
    fn wait_backlog_empty(&mut self) {
        let deadline = Instant::now() + WAIT;
        while self.bp.backlog() != (0, 0) {
            assert!(
                Instant::now() < deadline,
                "[{}] backlog still {:?}",
                self.id,
                self.bp.backlog()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn skipped(&self) -> Vec<&Report> {
        self.reports
            .iter()
            .filter(|r| matches!(r, Report::Skipped { .. }))
            .collect()
    }
}

/// Sequence numbers strictly increasing and payloads each once.
fn assert_sound(node: &Node) {
    for w in node.got.windows(2) {
        assert!(
            w[0].0 < w[1].0,
            "[{}] seq not increasing: {:?} then {:?}",
            node.id,
            w[0],
            w[1]
        );
    }
    let mut seen = HashSet::new();
    for (_, p) in &node.got {
        assert!(
            seen.insert(p),
            "[{}] payload {p:?} delivered twice",
            node.id
        );
    }
}

/// Every node got the same events, in the same order.
fn assert_same(nodes: &[&Node]) {
    for n in nodes {
        assert_sound(n);
        assert_eq!(
            n.got, nodes[0].got,
            "[{}] and [{}] differ",
            n.id, nodes[0].id
        );
    }
}

/// Each origin's payloads arrive in the order it published them: `id-0`, `id-1`, ...
fn assert_origin_order(node: &Node, origins: &[&str], per_origin: usize) {
    for o in origins {
        let mine: Vec<&str> = node
            .got
            .iter()
            .map(|(_, p)| p.as_str())
            .filter(|p| p.starts_with(&format!("{o}-")))
            .collect();
        let want: Vec<String> = (0..per_origin).map(|i| format!("{o}-{i}")).collect();
        assert_eq!(mine, want, "[{}] events of {o}", node.id);
    }
}

#[test]
fn every_node_gets_every_payload_once_in_one_order() {
    let redis = RedisServer::start();
    let mut nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|id| Node::start(&redis.url(), id, None))
        .collect();
    for n in &mut nodes {
        assert_eq!(n.wait_up(), 0);
    }
    const EACH: usize = 300;
    for i in 0..EACH {
        for n in &nodes {
            n.publish(&format!("{}-{i}", n.id));
        }
    }
    for n in &mut nodes {
        n.wait_events(3 * EACH);
        assert_origin_order(n, &["a", "b", "c"], EACH);
        assert!(n.skipped().is_empty(), "[{}] {:?}", n.id, n.skipped());
    }
    assert_same(&nodes.iter().collect::<Vec<_>>());
    assert_eq!(nodes[0].got.first().map(|e| e.0), Some(1));
    assert_eq!(nodes[0].got.last().map(|e| e.0), Some(3 * EACH as u64));
    for n in &mut nodes {
        n.wait_backlog_empty();
    }
}

#[test]
fn payloads_held_while_redis_is_down_arrive_once_after() {
    let mut redis = RedisServer::start();
    let mut a = Node::start(&redis.url(), "a", None);
    let mut b = Node::start(&redis.url(), "b", None);
    a.wait_up();
    b.wait_up();
    for i in 0..10 {
        a.publish(&format!("a-{i}"));
        b.publish(&format!("b-{i}"));
    }
    a.wait_events(20);
    b.wait_events(20);

    // Stopped cleanly: held, then sent.
    redis.stop();
    a.wait_down();
    b.wait_down();
    for i in 10..20 {
        a.publish(&format!("a-{i}"));
        b.publish(&format!("b-{i}"));
    }
    assert_eq!(a.bp.backlog().0, 10);
    assert_eq!(
        a.bp.backlog().1,
        (10..20).map(|i| format!("a-{i}").len()).sum::<usize>()
    );
    redis.start_again();
    a.wait_up();
    b.wait_up();
    a.wait_events(40);
    b.wait_events(40);

    // Killed in the middle of a burst: scripts that ran but whose replies were lost
    // are not run again when resent.
    for i in 20..600 {
        a.publish(&format!("a-{i}"));
        b.publish(&format!("b-{i}"));
    }
    a.wait_events(60);
    redis.kill();
    a.wait_down();
    b.wait_down();
    redis.start_again();
    a.wait_up();
    b.wait_up();
    a.wait_events(1200);
    b.wait_events(1200);
    assert_origin_order(&a, &["a", "b"], 600);
    assert_same(&[&a, &b]);
    assert!(a.skipped().is_empty(), "{:?}", a.skipped());
    a.wait_backlog_empty();
    b.wait_backlog_empty();
}

#[test]
fn a_stopped_node_is_reported_down_once() {
    let redis = RedisServer::start();
    let mut a = Node::start(&redis.url(), "a", None);
    let mut b = Node::start(&redis.url(), "b", None);
    let mut c = Node::start(&redis.url(), "c", None);
    a.wait_up();
    b.wait_up();
    c.wait_up();
    wait_key(&redis.url(), "chat:node:c");

    let stopped = Instant::now();
    c.bp.stop();
    for n in [&mut a, &mut b] {
        let r = n.wait_for("NodeDown", |r| matches!(r, Report::NodeDown { .. }));
        assert_eq!(r, Report::NodeDown { node: "c".into() }, "[{}]", n.id);
        // TTL 600 ms, heartbeat 100 ms: within about a second (slack for a busy machine).
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "[{}] NodeDown took {:?}",
            n.id,
            stopped.elapsed()
        );
    }

    // c comes back, stops again: reported down a second time, once.
    // (Its key lives a TTL after its last beat: a sees it alive meanwhile.)
    let mut c = Node::start(&redis.url(), "c", None);
    c.wait_up();
    wait_key(&redis.url(), "chat:node:c");
    c.bp.stop();
    a.wait_for("second NodeDown", |r| matches!(r, Report::NodeDown { .. }));
    // A barrier: an event published after, then check c was reported twice in all.
    b.publish("b-barrier");
    a.wait_events(1);
    let downs: Vec<&Report> = a
        .reports
        .iter()
        .filter(|r| matches!(r, Report::NodeDown { .. }))
        .collect();
    assert_eq!(
        downs,
        vec![
            &Report::NodeDown { node: "c".into() },
            &Report::NodeDown { node: "c".into() }
        ]
    );
}

/// Wait until `key` exists in Redis at `url`.
fn wait_key(url: &str, key: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let n: i64 = redis::cmd("EXISTS").arg(key).query(&mut con).unwrap();
        if n == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{key} not set within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn publish_refuses_past_the_queue_bound() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();

    // The count bound.
    // (Both deliver from the start of the stream: the other's events may be
    // sequenced before one's first connect.)
    let mut n = Node::with(
        BackplaneConfig {
            max_queue: 20,
            max_queue_bytes: 1000,
            ..config(&url, "a")
        },
        Some(0),
    );
    n.wait_down();
    let mut accepted = 0;
    let err = loop {
        match n.bp.publish(format!("p-{accepted:03}")) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 20, "more than max_queue accepted");
    };
    assert_eq!(accepted, 20);
    assert_eq!(n.bp.backlog(), (20, 20 * 5));
    assert!(err.to_string().ends_with('.'), "{err}");

    // The bytes bound, and a payload bigger than the bound alone.
    let mut m = Node::with(
        BackplaneConfig {
            max_queue: 1000,
            max_queue_bytes: 1000,
            ..config(&url, "b")
        },
        Some(0),
    );
    m.wait_down();
    assert!(m.bp.publish("x".repeat(1001)).is_err());
    let mut accepted = 0;
    while m.bp.publish(format!("{accepted:0100}")).is_ok() {
        accepted += 1;
        assert!(accepted <= 10, "more than max_queue_bytes accepted");
    }
    assert_eq!(accepted, 10);
    assert_eq!(m.bp.backlog(), (10, 1000));

    // Redis comes: everything held goes through, in order.
    redis.start_again();
    n.wait_up();
    m.wait_up();
    n.wait_events(30);
    m.wait_events(30);
    assert_same(&[&n, &m]);
    assert_origin_order_numbered(&n);
    n.wait_backlog_empty();
    m.wait_backlog_empty();
    assert!(n.bp.publish("after".into()).is_ok());
}

/// `p-000`.. `p-019` in order among n's events.
fn assert_origin_order_numbered(n: &Node) {
    let mine: Vec<&str> = n
        .got
        .iter()
        .map(|(_, p)| p.as_str())
        .filter(|p| p.starts_with("p-"))
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("p-{i:03}")).collect();
    assert_eq!(mine, want);
}

#[test]
fn a_redis_that_lost_its_data_never_takes_seq_back() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let mut a = Node::start(&redis.url(), "a", None);
    let mut b = Node::start(&redis.url(), "b", None);
    a.wait_up();
    b.wait_up();
    for i in 0..30 {
        a.publish(&format!("a-{i}"));
    }
    a.wait_events(30);
    b.wait_events(30);
    let top = a.got.last().unwrap().0;
    assert_eq!(top, 30);

    redis.kill();
    a.wait_down();
    b.wait_down();
    // A fresh Redis, empty, on the same port.
    let _fresh = RedisServer::start_on(port).expect("fresh redis on the same port");
    assert!(a.wait_up() >= top);
    assert!(b.wait_up() >= top);
    for i in 30..40 {
        a.publish(&format!("a-{i}"));
        b.publish(&format!("b-{i}"));
    }
    a.wait_events(50);
    b.wait_events(50);
    assert_same(&[&a, &b]);
    assert!(a.got[30..].iter().all(|(seq, _)| *seq > top), "{:?}", a.got);
    assert!(a.skipped().is_empty(), "{:?}", a.skipped());
    // A node starting now begins above the old numbers too.
    let mut c = Node::start(&_fresh.url(), "c", None);
    assert!(c.wait_up() >= top + 20);
}

#[test]
fn from_seq_replays_the_stream() {
    let redis = RedisServer::start();
    let mut a = Node::start(&redis.url(), "a", None);
    a.wait_up();
    for i in 0..20 {
        a.publish(&format!("a-{i}"));
    }
    a.wait_events(20);

    // From 5: events 6..=20 from the stream, then live ones.
    let mut r = Node::start(&redis.url(), "r", Some(5));
    assert_eq!(r.wait_up(), 20);
    r.wait_events(15);
    assert_eq!(r.got, a.got[5..].to_vec());
    a.publish("a-20");
    r.wait_events(16);
    assert_eq!(r.got.last(), Some(&(21, "a-20".to_string())));

    // Entries gone from the stream are reported skipped, in order with the rest.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: i64 = redis::cmd("XDEL")
        .arg("chat:events")
        .arg("3-0")
        .arg("4-0")
        .arg("21-0")
        .query(&mut con)
        .unwrap();
    let mut z = Node::start(&redis.url(), "z", Some(0));
    z.wait_up();
    z.wait_for("Skipped 3..=4", |r| {
        *r == Report::Skipped { from: 3, to: 4 }
    });
    z.wait_for("Skipped 21", |r| *r == Report::Skipped { from: 21, to: 21 });
    z.wait_events(18);
    let want: Vec<(u64, String)> = a
        .got
        .iter()
        .filter(|(s, _)| ![3, 4, 21].contains(s))
        .cloned()
        .collect();
    assert_eq!(z.got, want);
    let order: Vec<Report> = z
        .reports
        .iter()
        .filter(|r| !matches!(r, Report::Up { .. }))
        .take(4)
        .cloned()
        .collect();
    assert_eq!(
        order,
        vec![
            Report::Event {
                seq: 1,
                payload: "a-0".into()
            },
            Report::Event {
                seq: 2,
                payload: "a-1".into()
            },
            Report::Skipped { from: 3, to: 4 },
            Report::Event {
                seq: 5,
                payload: "a-4".into()
            },
        ]
    );
}
