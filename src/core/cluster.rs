//! The core's side of a cluster (`--cluster`): frames that change shared
//! state go out as events and are applied when they come back sequenced.
//!
//! Every node runs its own core. A logged-in user's frame that changes what
//! others see (a message, a join, a status, a receipt, a call) is not acted
//! on when it arrives: it is published ([`Effect::Publish`]), and every node,
//! this one included, applies it when the backplane hands it back in the
//! cluster's one order ([`Input::Event`]). On the user's own node it is
//! applied to their connection; on the others to a stand-in connection
//! ([`ConnId::remote`]) whose output is dropped, since the user's own node
//! tells them. So every core holds the same users, rooms, markers and
//! calls, and gives a message the same id (its sequence number) and the
//! same recipients count. A frame that only reads (`ping`, `history`,
//! `users`, `search`) or a file frame is answered by the user's own node,
//! after the user's earlier frames came back, so the answers keep their
//! order.
//!
//! Logins split in two: the origin checks what needs no one else (version,
//! name rules, the password), then every node applies the rest in order,
//! so two nodes never both give a name away. A lost connection is an event
//! too ([`Body::Gone`]); until it comes back its user stays, as on the
//! other nodes.
//!
//! Timers that change shared state (a held name freed, a call unanswered)
//! do not act where they run out: they publish an [`Expiry`] that everyone
//! applies. A node that starts ([`Body::Boot`]) is sent every other node's
//! users ([`Body::Roster`]); a node that stops heartbeating is declared down
//! ([`Body::NodeDown`]) and its users leave everywhere.

use super::effect::Effect;
use super::{ConnId, ConnMap, Core, Now, Output};
use crate::cluster::event::{Body, Event, Expiry, Input, Login};
use crate::protocol::{ClientMsg, ErrorCode, Resume, Status};
use std::collections::{HashMap, VecDeque};

/// Frames a connection may have waiting behind its unsequenced ones before
/// the shell stops reading it (TCP then holds the rest back): with
/// `--max-frame` 128 KiB, at most 8 MiB of a connection's frames wait here.
pub(crate) const MAX_HELD: usize = 64;

/// Events of one connection on their way through the sequence, at most:
/// past it its frames wait (then its reading stops), so one client cannot
/// fill the backplane's queue (`--cluster-queue`) that every user shares.
pub(crate) const MAX_INFLIGHT: usize = 256;

/// Receipts one batch carries, at most: a full batch goes out at once.
const MAX_TURN_RECEIPTS: usize = 4096;

/// How long a node gathers its users' receipts before they go out as one
/// event: receipts then cost each node at most 50 events a second, however
/// many messages they acknowledge (sent every loop turn, they were one
/// event per turn per node: 3.8 events a message with two nodes at 1000
/// members). A receipt is a marker, not a message: 20 ms is not noticed.
pub const RECEIPT_BATCH_MS: u64 = 20;

/// A login's fields once its own checks passed (see `Core::login_commit`).
pub(crate) struct LoginCommit {
    pub name: String,
    pub rooms: Vec<String>,
    pub status: Status,
    pub resume: Resume,
    pub verified: bool,
    /// The token a new session gets (made by the origin, so every node
    /// agrees); `None` outside a cluster: made on the spot.
    pub token: Option<String>,
}

/// This node's part in a cluster.
#[derive(Debug, Default)]
pub(crate) struct Cluster {
    /// This node's id.
    pub node: String,
    /// Local connections with events on their way: how many, and the
    /// frames that arrived behind them.
    pub pending: ConnMap<Pending>,
    /// This run of this node (`Config::boot`).
    pub run: u64,
    /// Users of other nodes: (node, its run, connection there) -> stand-in
    /// here.
    pub remote: HashMap<(String, u64, u64), ConnId>,
    pub next_remote: u64,
    /// Local connections that closed and whose `gone` is on its way.
    pub departed: ConnMap<()>,
    /// The sequence number of the event being applied.
    applying: Option<u64>,
    /// The last sequence number applied.
    pub last_seq: u64,
    /// Redis answers (the backplane's last word).
    pub up: bool,
    /// Stand-ins -> (node, run, connection there): where to forward.
    pub remote_of: ConnMap<(String, u64, u64)>,
    /// Transfers of local users that run on other nodes: id -> that node
    /// (see `cluster_files`).
    pub homes: std::collections::BTreeMap<u64, super::cluster_files::Home>,
    /// The stand-in whose forwarded file frame is being applied: every
    /// answer to it goes back to its node.
    pub replying: Option<ConnId>,
    /// Other nodes' stored files (see `cluster_store`).
    pub files: super::cluster_store::RemoteFiles,
    /// Receipts of local users gathered for the next batch (see
    /// [`RECEIPT_BATCH_MS`]).
    receipts: Vec<crate::cluster::event::ReceiptItem>,
    /// The connections with receipts in that batch: anything else one of
    /// them publishes sends the batch out first, so a receipt is never
    /// applied after what its user did next (a reply, a logout).
    receipts_from: ConnMap<()>,
    /// This run's own `boot` was applied: from then on, the users of a node
    /// whose roster has not come yet wait for it.
    pub booted: bool,
    /// Nodes (and runs) whose roster came since this node's boot, or that
    /// started after it.
    pub rostered: std::collections::HashSet<(String, u64)>,
    /// Their users' events that came before their roster, in order.
    pub awaiting: HashMap<(String, u64), VecDeque<(u64, Event)>>,
    /// Reading back: the sequence number Redis had when this node
    /// connected, and when (monotonic ms), until the events reach it.
    catching_up: Option<(u64, u64)>,
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Published, not back yet: each one's frame type and `cid`, oldest
    /// first.
    inflight: VecDeque<(&'static str, Option<String>)>,
    /// Arrived behind them, in order.
    held: VecDeque<ClientMsg>,
    /// The shell was told to stop reading (see [`MAX_HELD`]).
    paused: bool,
}

/// Events one node may send before its roster arrives, at most.
const MAX_AWAITING: usize = 10_000;

/// Whether an event of a node whose roster has not come yet waits for it:
/// those about its users (a message is stored and shown at once: it needs
/// nothing the roster brings, and its id must not go back).
fn waits_for_roster(body: &Body) -> bool {
    match body {
        Body::Frame { frame, .. } => !matches!(
            frame,
            ClientMsg::RoomMsg { .. } | ClientMsg::PrivateMsg { .. }
        ),
        Body::Login(_) | Body::Gone { .. } | Body::Receipts { .. } => true,
        _ => false,
    }
}

/// Frames whose effect others see: they go through the sequence.
fn shared(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::Logout {}
            | ClientMsg::RoomMsg { .. }
            | ClientMsg::PrivateMsg { .. }
            | ClientMsg::SetStatus { .. }
            | ClientMsg::SetTopic { .. }
            | ClientMsg::Typing { .. }
            | ClientMsg::Receipt { .. }
            | ClientMsg::CreateRoom { .. }
            | ClientMsg::Join { .. }
            | ClientMsg::Leave { .. }
            | ClientMsg::Call { .. }
            | ClientMsg::CallAccept { .. }
            | ClientMsg::CallDecline { .. }
            | ClientMsg::Hangup { .. }
            // (for its id: one number across the cluster)
            | ClientMsg::FileOffer { .. }
            // (run by the node holding the file)
            | ClientMsg::Download { .. }
            // (for its id; run on its own node)
            | ClientMsg::Upload { .. }
    )
}

impl Core {
    /// Make this core node `node` of a cluster: from now on shared changes
    /// go through the backplane. Publishes this node's `boot`.
    pub fn join_cluster(&mut self, node: &str, now: Now) {
        self.cluster = Some(Box::new(Cluster {
            node: node.to_string(),
            run: self.cfg.boot,
            ..Default::default()
        }));
        self.publish(ConnId(0), Body::Boot, now);
    }

    /// This node's id, in a cluster.
    pub fn cluster_node(&self) -> Option<&str> {
        self.cluster.as_deref().map(|c| c.node.as_str())
    }

    /// The sequence number of the event being applied: the id a message
    /// gets, in a cluster.
    pub(crate) fn applying_seq(&self) -> Option<u64> {
        self.cluster.as_deref().and_then(|c| c.applying)
    }

    pub(crate) fn publish_event(&mut self, conn: ConnId, body: Body, now: Now) {
        self.publish(conn, body, now);
    }

    fn publish(&mut self, conn: ConnId, body: Body, now: Now) {
        let Some(c) = self.cluster.as_deref() else {
            return;
        };
        if c.receipts_from.contains_key(&conn) {
            self.flush_cluster_receipts(now);
        }
        let Some(c) = self.cluster.as_deref() else {
            return;
        };
        let ev = Event {
            node: c.node.clone(),
            run: c.run,
            conn: conn.0,
            ts: now.unix_ms,
            body,
        };
        self.push_effect(Effect::Publish {
            conn,
            payload: ev.to_payload(),
        });
    }

    /// A login on `conn` is on its way through the sequence.
    pub(crate) fn cluster_login_pending(&self, conn: ConnId) -> bool {
        self.cluster
            .as_deref()
            .is_some_and(|c| c.pending.contains_key(&conn))
    }

    /// `login` passed its own checks on this node: the rest is applied by
    /// every node in the sequence's order.
    pub(crate) fn cluster_login(&mut self, conn: ConnId, commit: LoginCommit, now: Now) {
        let token = self.new_token();
        let body = Body::Login(Login {
            name: commit.name,
            rooms: commit.rooms,
            status: commit.status,
            resume: commit.resume,
            verified: commit.verified,
            token,
        });
        if let Some(c) = self.cluster.as_deref_mut() {
            let p = c.pending.entry(conn).or_default();
            p.inflight.push_back(("hello", None));
        }
        self.publish(conn, body, now);
    }

    /// A checked frame from a logged-in local user: queued behind its
    /// unsequenced ones, then published or answered in order.
    pub(crate) fn cluster_frame(&mut self, conn: ConnId, msg: ClientMsg, now: Now) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        match msg {
            // Cumulative markers: one event per turn carries them all.
            ClientMsg::Receipt {
                kind,
                room,
                peer,
                up_to,
            } => {
                let first = c.receipts.is_empty();
                c.receipts_from.insert(conn, ());
                c.receipts.push(crate::cluster::event::ReceiptItem {
                    conn: conn.0,
                    kind,
                    room,
                    peer,
                    up_to,
                });
                if c.receipts.len() >= MAX_TURN_RECEIPTS {
                    self.flush_cluster_receipts(now);
                } else if first {
                    let at = now.mono_ms + RECEIPT_BATCH_MS;
                    self.timers.set(super::timers::Timer::ClusterReceipts, at);
                }
                return;
            }
            msg => c.pending.entry(conn).or_default().held.push_back(msg),
        }
        self.release_held(conn, now);
    }

    /// The receipts gathered go out as one event.
    pub(crate) fn flush_cluster_receipts(&mut self, now: Now) {
        self.timers.cancel(&super::timers::Timer::ClusterReceipts);
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        if c.receipts.is_empty() {
            return;
        }
        let items = std::mem::take(&mut c.receipts);
        c.receipts_from.clear();
        self.publish(ConnId(0), Body::Receipts { items }, now);
    }

    /// Move `conn`'s held frames on: shared ones are published at once,
    /// a local one waits until everything before it came back.
    fn release_held(&mut self, conn: ConnId, now: Now) {
        loop {
            let Some(c) = self.cluster.as_deref_mut() else {
                return;
            };
            let Some(p) = c.pending.get_mut(&conn) else {
                return;
            };
            let room = p.inflight.len() < MAX_INFLIGHT;
            let next = match p.held.front() {
                Some(m) if shared(m) && room => p.held.pop_front().map(|m| (m, true)),
                Some(m) if shared(m) => None,
                Some(_) if p.inflight.is_empty() => p.held.pop_front().map(|m| (m, false)),
                _ => None,
            };
            let Some((msg, publish)) = next else {
                if p.paused && p.held.len() <= MAX_HELD / 2 {
                    p.paused = false;
                    self.out.push((conn, Output::Resume));
                    continue;
                }
                if p.inflight.is_empty() && p.held.is_empty() {
                    c.pending.remove(&conn);
                }
                return;
            };
            if publish {
                p.inflight
                    .push_back((msg.kind(), msg.cid().map(str::to_string)));
                let user = self.name_of(conn).map(str::to_string);
                self.publish(conn, Body::Frame { user, frame: msg }, now);
            } else {
                self.dispatch(conn, msg, now);
            }
        }
    }

    /// Whether the shell should stop reading `conn` for now: too many of
    /// its frames wait for the sequence (it reads again on `Resume`).
    pub(crate) fn cluster_full(&mut self, conn: ConnId) -> bool {
        let Some(p) = self
            .cluster
            .as_deref_mut()
            .and_then(|c| c.pending.get_mut(&conn))
        else {
            return false;
        };
        if p.held.len() >= MAX_HELD {
            p.paused = true;
        }
        p.paused
    }

    /// Something the backplane reported.
    pub(crate) fn cluster_input(&mut self, input: Input, now: Now) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        match input {
            Input::Up { seq } => {
                if !c.up {
                    log::info!("cluster: Redis answers (sequence at {seq})");
                }
                c.up = true;
                if seq > c.last_seq && c.catching_up.is_none() {
                    c.catching_up = Some((seq, now.mono_ms));
                }
            }
            Input::Down { reason } => {
                if c.up {
                    log::warn!(
                        "cluster: lost Redis ({reason}); messages wait (bounded) until it is back"
                    );
                }
                c.up = false;
            }
            Input::Event { seq, payload } => match Event::from_payload(&payload) {
                Ok(ev) => self.apply(seq, ev, now),
                Err(e) => log::warn!("cluster: event {seq} is unreadable ({e}); skipped"),
            },
            Input::Skipped { from, to } => log::warn!(
                "cluster: events {from} to {to} could not be read back from Redis; this node's history lacks any messages among them"
            ),
            Input::NodeDown { node } => {
                log::warn!("cluster: node {node} stopped heartbeating; its users leave");
                self.publish(ConnId(0), Body::NodeDown { down: node }, now);
            }
            Input::Refused { conn, reason } => self.refused(conn, reason, now),
            Input::Direct { payload } => self.direct(&payload),
        }
    }

    /// The backplane would not take `conn`'s event (its queue is full, Redis
    /// is away): the frame is answered with an error, not applied anywhere.
    fn refused(&mut self, conn: ConnId, reason: String, now: Now) {
        // Refused as it was queued: the newest of the connection's.
        let last = self
            .cluster
            .as_deref_mut()
            .and_then(|c| c.pending.get_mut(&conn))
            .and_then(|p| p.inflight.pop_back());
        let Some((re, cid)) = last else {
            log::warn!("cluster: an event of this node was refused ({reason})");
            return;
        };
        let msg = format!(
            "the server could not pass this on to the rest of the cluster ({reason}), so it was not done; try again shortly"
        );
        self.error_cid(conn, ErrorCode::SlowDown, msg, re, cid);
        self.release_held(conn, now);
    }

    /// Apply event `seq` (they come in order, each once).
    fn apply(&mut self, seq: u64, ev: Event, now: Now) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        if seq <= c.last_seq {
            return;
        }
        c.last_seq = seq;
        let conn_of_event = ev.conn;
        if let Some((target, since)) = c.catching_up {
            if seq >= target {
                c.catching_up = None;
                log::info!(
                    "cluster: caught up to event {seq} in {} ms ({} message(s) stored here now)",
                    now.mono_ms.saturating_sub(since),
                    self.history.message_count()
                );
            }
        }
        let local = ev.node == c.node && ev.run == c.run;
        let from = (ev.node.clone(), ev.run);
        if !local && c.booted && !c.rostered.contains(&from) && waits_for_roster(&ev.body) {
            // A user of a node whose roster (its users as of this node's
            // boot) is on its way: applied after it, in order.
            let q = c.awaiting.entry(from).or_default();
            if q.len() >= MAX_AWAITING {
                log::warn!(
                    "cluster: node {} sent {MAX_AWAITING} events before its roster; the oldest is dropped",
                    crate::core::logsafe::Safe(&ev.node)
                );
                q.pop_front();
            }
            q.push_back((seq, ev));
            c.applying = None;
            return;
        }
        self.apply_body(seq, ev, now);
        if let Some(c) = self.cluster.as_deref_mut() {
            c.applying = None;
        }
        if local && conn_of_event != 0 {
            self.came_back(ConnId(conn_of_event), now);
        }
    }

    /// Apply one event's body (see [`Core::apply`]).
    fn apply_body(&mut self, seq: u64, ev: Event, now: Now) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        c.applying = Some(seq);
        let local = ev.node == c.node && ev.run == c.run;
        let from = (ev.node.clone(), ev.run);
        // Stamped with the origin's clock: the same on every node.
        let at = Now {
            mono_ms: now.mono_ms,
            unix_ms: ev.ts,
        };
        match ev.body {
            // An offer (or upload) runs on its sender's node only.
            Body::Frame {
                frame: ClientMsg::FileOffer { .. } | ClientMsg::Upload { .. },
                ..
            } if !local => {}
            // A download runs on the node holding the file.
            Body::Frame {
                frame: ClientMsg::Download { ref name, .. },
                ..
            } if self.download_runner(&ev.node, name) != self.cluster_node().unwrap_or("") => {}
            Body::Frame { user, frame } => match self.conn_for(&from, ev.conn, local) {
                Some(conn) => {
                    self.dispatch(conn, frame, at);
                    self.reap(conn);
                }
                None => {
                    if let Some(user) = user {
                        self.deliver_unknown(&user, frame, at);
                    }
                }
            },
            Body::Login(l) => self.apply_login(&from, ev.conn, local, l, at),
            Body::Gone { abrupt } => {
                if let Some(conn) = self.conn_for(&from, ev.conn, local) {
                    self.gone(conn, abrupt, at);
                }
            }
            Body::Boot => {
                // (Its earlier runs; this run has no users yet.)
                self.node_gone(&ev.node, at);
                if let Some(c) = self.cluster.as_deref_mut() {
                    if local {
                        // From here on, each other node's users wait for
                        // its roster.
                        c.booted = true;
                        c.rostered.clear();
                        c.awaiting.clear();
                    } else {
                        c.rostered.insert(from.clone());
                    }
                }
                if local {
                    self.publish_catalog(now);
                } else {
                    self.send_roster(now);
                }
            }
            Body::NodeDown { down } => {
                if self.cluster_node() == Some(down.as_str()) {
                    self.evicted(at);
                } else {
                    if let Some(c) = self.cluster.as_deref_mut() {
                        c.awaiting.retain(|(n, _), _| *n != down);
                    }
                    self.node_gone(&down, at);
                }
            }
            Body::Expire(Expiry::Reservation { name }) => self.reservation_expired(&name),
            Body::Expire(Expiry::Ring { call }) => self.ring_expired(call),
            Body::Stored {
                name,
                size,
                sha256,
                uploader,
                uploaded,
                quiet,
            } => {
                if !local {
                    let file = super::store_ops::StoredFile {
                        name,
                        size,
                        sha256,
                        uploader,
                        ts: uploaded,
                    };
                    self.stored_elsewhere(&ev.node, file, quiet);
                }
            }
            Body::Account { name, account } => {
                if !local {
                    self.account_from_cluster(name, account);
                }
            }
            Body::Receipts { items } => {
                for r in items {
                    let Some(conn) = self.conn_for(&from, r.conn, local) else {
                        continue;
                    };
                    let frame = ClientMsg::Receipt {
                        kind: r.kind,
                        room: r.room,
                        peer: r.peer,
                        up_to: r.up_to,
                    };
                    self.dispatch(conn, frame, at);
                }
            }
            Body::Roster { users } => {
                if !local {
                    self.install_roster(&from, users);
                    self.roster_in(from, now);
                }
            }
        }
    }

    /// `from`'s roster is in: the events its users sent since this node's
    /// boot are applied now, in their order.
    fn roster_in(&mut self, from: (String, u64), now: Now) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        let waiting = c.awaiting.remove(&from).unwrap_or_default();
        c.rostered.insert(from);
        for (seq, ev) in waiting {
            self.apply_body(seq, ev, now);
        }
    }

    /// One of `conn`'s events came back: the next held frames may go.
    fn came_back(&mut self, conn: ConnId, now: Now) {
        if let Some(p) = self
            .cluster
            .as_deref_mut()
            .and_then(|c| c.pending.get_mut(&conn))
        {
            p.inflight.pop_front();
        }
        self.release_held(conn, now);
    }

    /// The shell lost local `conn`. In a cluster its user stays until the
    /// `gone` event comes back (so every node drops them at the same point);
    /// true if that is so, and the caller must not forget the session yet.
    pub(crate) fn cluster_disconnect(&mut self, conn: ConnId, now: Now) -> bool {
        let Some(c) = self.cluster.as_deref_mut() else {
            return false;
        };
        if c.departed.contains_key(&conn) {
            return true;
        }
        let logged_in = self.sessions.get(&conn).is_some_and(|s| s.name.is_some());
        let on_its_way = c.pending.get(&conn).is_some_and(|p| !p.inflight.is_empty());
        if !logged_in && !on_its_way {
            c.pending.remove(&conn);
            return false;
        }
        c.departed.insert(conn, ());
        if let Some(p) = c.pending.get_mut(&conn) {
            p.held.clear();
        }
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.closing = true;
        }
        self.publish(conn, Body::Gone { abrupt: true }, now);
        true
    }

    /// An account change saved here: in a cluster, published for the
    /// other nodes.
    pub(crate) fn cluster_account(
        &mut self,
        name: String,
        account: crate::store::accounts::Account,
        now: Now,
    ) {
        if self.cluster.is_some() {
            self.publish(ConnId(0), Body::Account { name, account }, now);
        }
    }

    /// This node is shutting down: its users leave every other node now
    /// (not after its heartbeat runs out).
    pub(crate) fn cluster_leaving(&mut self) {
        if let Some(node) = self.cluster_node().map(str::to_string) {
            self.publish(ConnId(0), Body::NodeDown { down: node }, Now::default());
        }
    }

    /// A timer for shared state ran out here: in a cluster it is published
    /// for all to apply (true), else the caller applies it.
    pub(crate) fn cluster_expire(&mut self, what: Expiry, now: Now) -> bool {
        if self.cluster.is_none() {
            return false;
        }
        self.publish(ConnId(0), Body::Expire(what), now);
        true
    }
}
