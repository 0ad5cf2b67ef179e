//! Several servers in memory acting as one cluster, for tests: each node a
//! [`Sim`], and in place of Redis a sequencer that numbers what the nodes
//! publish and hands every event to every node in that order.
//!
//! [`ClusterSim::settle`] runs turns on every node and sequences what they
//! publish until nothing more is published, as a quiet cluster would after
//! the frames sent. While [`ClusterSim::bus_down`] is set, published events
//! wait (as they wait in a node's backplane while Redis is away).

use super::{frames_to, hello, Sim};
use crate::cluster::event::Input;
use crate::core::effect::Completion;
use crate::core::{Config, ConnId};
use crate::protocol::{ClientMsg, ServerMsg};

/// One turn's output of one node, decoded (see [`Sim::turn`]).
pub type Out = Vec<(ConnId, Result<ServerMsg, String>)>;

/// Nodes `n0`, `n1`... in memory, and their sequencer.
pub struct ClusterSim {
    pub nodes: Vec<Sim>,
    /// The last sequence number given.
    pub seq: u64,
    /// Every event sequenced, in order (what Redis's stream would hold).
    pub log: Vec<(u64, String)>,
    /// While set, published events wait unsequenced.
    pub bus_down: bool,
    /// Events published while the bus was down, in order.
    pub waiting: Vec<String>,
    /// Nodes that no longer run (see [`ClusterSim::kill`]).
    dead: Vec<usize>,
}

impl ClusterSim {
    /// `n` nodes with `cfg`, started one after another.
    pub fn new(n: usize, cfg: Config) -> ClusterSim {
        let mut c = ClusterSim {
            nodes: Vec::new(),
            seq: 0,
            log: Vec::new(),
            bus_down: false,
            waiting: Vec::new(),
            dead: Vec::new(),
        };
        for i in 0..n {
            let mut sim = Sim::new(cfg.clone());
            sim.core.join_cluster(&format!("n{i}"), sim.now);
            c.nodes.push(sim);
            c.settle();
        }
        c
    }

    /// Send `name`'s hello from `conn` on `node` and settle: what `conn` got.
    /// Panics unless it was welcomed.
    pub fn login(&mut self, node: usize, conn: ConnId, name: &str) -> Vec<ServerMsg> {
        self.nodes[node].connect(conn);
        self.send(node, conn, hello(name));
        let out = self.settle();
        let got = frames_to(&out[node], conn);
        assert!(
            got.iter().any(|m| matches!(m, ServerMsg::Welcome { .. })),
            "{name} was not welcomed on n{node}: {out:?}"
        );
        got
    }

    /// One frame from `conn` on `node` (nothing settles yet).
    pub fn send(&mut self, node: usize, conn: ConnId, msg: ClientMsg) {
        self.nodes[node].send(conn, msg);
    }

    /// Move every node's clock on.
    pub fn advance(&mut self, ms: u64) {
        for n in &mut self.nodes {
            n.advance(ms);
        }
    }

    /// Node `node` stops (its process killed): it runs no more turns, and
    /// the others are told it is down, as their backplanes would report.
    pub fn kill(&mut self, node: usize) {
        self.dead.push(node);
        let name = format!("n{node}");
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if !self.dead.contains(&i) {
                let input = Input::NodeDown { node: name.clone() };
                n.core.complete(n.now, Completion::Cluster(input));
            }
        }
    }

    /// Run turns on every live node, sequencing and delivering what they
    /// publish, until none publishes more: each node's output, by index.
    pub fn settle(&mut self) -> Vec<Out> {
        let mut outs: Vec<Out> = vec![Vec::new(); self.nodes.len()];
        for _ in 0..1_000 {
            let mut batch = Vec::new();
            let mut direct = Vec::new();
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if self.dead.contains(&i) {
                    continue;
                }
                outs[i].extend(n.turn());
                batch.extend(n.runner.published.drain(..).map(|(_, p)| p));
                direct.append(&mut n.runner.forwarded);
            }
            // Direct messages go at once (they are not sequenced).
            let sent = !direct.is_empty();
            for (node, payload) in direct {
                let Some(i) = node.strip_prefix('n').and_then(|i| i.parse::<usize>().ok()) else {
                    continue;
                };
                if self.dead.contains(&i) || i >= self.nodes.len() {
                    continue;
                }
                let n = &mut self.nodes[i];
                n.core
                    .complete(n.now, Completion::Cluster(Input::Direct { payload }));
            }
            if self.bus_down {
                self.waiting.extend(batch);
                return outs;
            }
            let mut batch: Vec<String> = std::mem::take(&mut self.waiting)
                .into_iter()
                .chain(batch)
                .collect();
            if batch.is_empty() {
                if sent {
                    continue; // their answers may publish or send more
                }
                return outs;
            }
            for payload in batch.drain(..) {
                self.seq += 1;
                self.log.push((self.seq, payload.clone()));
                for (i, n) in self.nodes.iter_mut().enumerate() {
                    if self.dead.contains(&i) {
                        continue;
                    }
                    let input = Input::Event {
                        seq: self.seq,
                        payload: payload.clone(),
                    };
                    n.core.complete(n.now, Completion::Cluster(input));
                }
            }
        }
        panic!("the cluster kept publishing for 1000 rounds");
    }
}
