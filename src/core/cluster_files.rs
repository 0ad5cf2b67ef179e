//! File transfers between users on two nodes of a cluster.
//!
//! A transfer runs on its sender's node (its *home*), exactly as on one
//! server: the receiver there is the stand-in of a user of another node.
//! What the home's core sends that stand-in about files (the offer, every
//! `file_state`, relayed chunks, errors answering the receiver's own file
//! frames) goes straight to the receiver's node as a direct message (not
//! sequenced: [`Effect::Forward`]), which queues it on the receiver's
//! connection. The receiver's file frames about that transfer go back the
//! same way, and its node reports each relayed chunk written out to the
//! receiver's socket, so the home passes credit on only as the receiver
//! really drains: the credit window holds across nodes as on one.
//!
//! Direct messages are text: a header line, then a frame body:
//! - `D <from node> <run> <conn> <n|c<id>>` + a server frame: for connection
//!   `conn` of run `run` of the receiving node (`c<id>`: a chunk of transfer
//!   `id`, queued as one);
//! - `U <node> <run> <conn>` + a client frame: a user's file frame, for the
//!   home to apply as from that user's stand-in;
//! - `S <node> <run> <conn> <id>`: a chunk of `id` was written out to that
//!   user.

use super::effect::Effect;
use super::{ConnId, Core, Output, Priority};
use crate::protocol::binary::{self, ChunkData};
use crate::protocol::{ClientMsg, ServerMsg};
use std::rc::Rc;

/// Remote transfers (id -> home node) a node remembers for its users, at
/// most: the oldest are forgotten past it.
pub(crate) const MAX_HOMES: usize = 4096;

/// A transfer of a local user that another node runs.
#[derive(Debug)]
pub(crate) struct Home {
    /// The node running it.
    pub node: String,
    /// The local user's connection it was last told to.
    pub conn: ConnId,
    /// The last `file_state` it sent (to tell the user if that node dies).
    pub last: ServerMsg,
}

/// A frame's body (after the 4-byte length).
fn body(frame: &[u8]) -> &[u8] {
    frame.get(4..).unwrap_or_default()
}

/// A frame as it crosses to another node: a binary chunk as its JSON
/// `file_chunk` (the payload between nodes is text), anything else as is.
fn json_form(frame: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match binary::is_binary(frame)
        .then(|| binary::to_json(frame))
        .flatten()
    {
        Some(json) => json.into(),
        None => frame.into(),
    }
}

/// A body framed again (its 4-byte length in front).
fn framed(body: &[u8]) -> Rc<[u8]> {
    let mut v = Vec::with_capacity(body.len() + 4);
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v.into()
}

impl Core {
    /// Output for `conn`, a user of another node: dropped (that node tells
    /// them), unless it is about a transfer this node runs for them, which
    /// goes to their node.
    pub(crate) fn forward_remote(&mut self, conn: ConnId, out: Output) {
        let Output::Frame(bytes, prio) = out else {
            return;
        };
        let Some(c) = self.cluster.as_deref() else {
            return;
        };
        let kind = match prio {
            Priority::Chunk(id) => format!("c{id}"),
            _ if c.replying == Some(conn) || body(&bytes).starts_with(b"{\"type\":\"file_") => {
                "n".to_string()
            }
            _ => return,
        };
        let Some((node, run, their)) = c.remote_of.get(&conn).cloned() else {
            return;
        };
        let bytes = json_form(&bytes);
        let Ok(text) = std::str::from_utf8(body(&bytes)) else {
            return;
        };
        let payload = format!("D {} {run} {their} {kind}\n{text}", c.node);
        self.push_effect(Effect::Forward { node, payload });
    }

    /// A direct message from another node.
    pub(crate) fn direct(&mut self, payload: &str) {
        let (head, rest) = payload.split_once('\n').unwrap_or((payload, ""));
        let f: Vec<&str> = head.split(' ').collect();
        match f.as_slice() {
            ["D", from, run, conn, kind] => self.direct_frame(from, run, conn, kind, rest),
            ["U", node, run, conn] => self.direct_user_frame(node, run, conn, rest),
            ["S", node, run, conn, id] => {
                let (Some(r), Ok(id)) = (self.stand_in(node, run, conn), id.parse()) else {
                    return;
                };
                self.chunks_sent(r, &[id]);
            }
            _ => log::warn!(
                "cluster: an unreadable direct message ({} bytes) was dropped",
                payload.len()
            ),
        }
    }

    /// The stand-in here for connection `conn` of run `run` of `node`.
    fn stand_in(&self, node: &str, run: &str, conn: &str) -> Option<ConnId> {
        let c = self.cluster.as_deref()?;
        let key = (node.to_string(), run.parse().ok()?, conn.parse().ok()?);
        c.remote.get(&key).copied()
    }

    /// A frame another node's transfer has for one of our users.
    fn direct_frame(&mut self, from: &str, run: &str, conn: &str, kind: &str, text: &str) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        let ours = run.parse() == Ok(c.run);
        let Ok(conn) = conn.parse().map(ConnId) else {
            return;
        };
        if !ours || conn.is_remote() || self.name_of(conn).is_none() {
            return; // an earlier run's, or the user is gone
        }
        let prio = match kind.strip_prefix('c').map(str::parse) {
            Some(Ok(id)) => Priority::Chunk(id),
            Some(Err(_)) => return,
            None => Priority::Normal,
        };
        if prio == Priority::Normal && text.starts_with("{\"type\":\"file_") {
            self.learn_home(from, conn, text);
        }
        self.emit(conn, Output::Frame(framed(text.as_bytes()), prio), None);
    }

    /// Remember (or forget, once it ended) where the transfer a `file_offer`
    /// or `file_state` frame is about runs.
    fn learn_home(&mut self, from: &str, conn: ConnId, text: &str) {
        let Ok(msg) = crate::protocol::parse_body::<ServerMsg>(text.as_bytes()) else {
            return;
        };
        let (id, ended) = match &msg {
            ServerMsg::FileState { id, state, .. } => (*id, state.is_final()),
            _ => return,
        };
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        if ended {
            c.homes.remove(&id);
            return;
        }
        if c.homes.len() >= MAX_HOMES && !c.homes.contains_key(&id) {
            let oldest = c.homes.keys().next().copied();
            if let Some(o) = oldest {
                c.homes.remove(&o);
            }
        }
        let home = Home {
            node: from.to_string(),
            conn,
            last: msg,
        };
        c.homes.insert(id, home);
    }

    /// `node` is gone: the transfers it ran for local users fail, and they
    /// are told so (with the last state they had of each).
    pub(crate) fn homes_gone(&mut self, node: &str) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        let ids: Vec<u64> = c
            .homes
            .iter()
            .filter(|(_, h)| h.node == node)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(h) = self
                .cluster
                .as_deref_mut()
                .and_then(|c| c.homes.remove(&id))
            else {
                continue;
            };
            let ServerMsg::FileState {
                id,
                role,
                peer,
                name,
                size,
                sha256,
                offset,
                ..
            } = h.last
            else {
                continue;
            };
            let msg = ServerMsg::FileState {
                id,
                state: crate::protocol::files::TransferState::Failed,
                role,
                peer,
                name,
                size,
                sha256,
                offset,
                prefix_sha256: None,
                by: None,
                reason: Some(format!(
                    "the server node running this transfer ({node}) stopped; send it again"
                )),
                cid: None,
            };
            self.send(h.conn, &msg);
        }
    }

    /// A user of another node sent a file frame about a transfer that runs
    /// here: applied as from their stand-in, its answers sent back.
    fn direct_user_frame(&mut self, node: &str, run: &str, conn: &str, text: &str) {
        let Some(r) = self.stand_in(node, run, conn) else {
            return;
        };
        let Ok(msg) = crate::protocol::parse_body::<ClientMsg>(text.as_bytes()) else {
            return;
        };
        if let Some(c) = self.cluster.as_deref_mut() {
            c.replying = Some(r);
        }
        match msg {
            ClientMsg::FileChunk { id, offset, data } => {
                let raw = framed(text.as_bytes());
                self.file_chunk(r, id, offset, ChunkData::Base64(&data), raw);
            }
            other => self.file_msg(r, other, super::Now::default()),
        }
        if let Some(c) = self.cluster.as_deref_mut() {
            c.replying = None;
        }
    }

    /// The node running transfer `id`, when it is not this one.
    fn home_of(&self, id: u64) -> Option<String> {
        if self.transfers.map.contains_key(&id) {
            return None;
        }
        Some(self.cluster.as_deref()?.homes.get(&id)?.node.clone())
    }

    /// A local user's file frame about a transfer another node runs: sent
    /// there (true), or false to handle it here.
    pub(crate) fn forward_file_frame(&mut self, conn: ConnId, msg: &ClientMsg) -> bool {
        let id = match msg {
            ClientMsg::FileAccept { id, .. }
            | ClientMsg::FileReject { id }
            | ClientMsg::FileCredit { id, .. }
            | ClientMsg::FileChunk { id, .. }
            | ClientMsg::FilePause { id }
            | ClientMsg::FileResume { id }
            | ClientMsg::FileCancel { id }
            | ClientMsg::FileDone { id }
            | ClientMsg::FileFailed { id, .. } => *id,
            _ => return false,
        };
        if self.home_of(id).is_none() {
            return false;
        }
        let frame = crate::protocol::encode_shared(msg);
        self.forward_raw(conn, id, &frame)
    }

    /// A local user's frame `raw` (as received: a relayed chunk is never
    /// decoded) about transfer `id`, which another node runs: forwarded
    /// there as it is (true), or false to handle it here.
    pub(crate) fn forward_raw(&mut self, conn: ConnId, id: u64, raw: &[u8]) -> bool {
        let Some(home) = self.home_of(id) else {
            return false;
        };
        let raw = json_form(raw);
        let (Some(c), Ok(text)) = (self.cluster.as_deref(), std::str::from_utf8(body(&raw))) else {
            return false;
        };
        let payload = format!("U {} {} {}\n{text}", c.node, c.run, conn.0);
        self.push_effect(Effect::Forward {
            node: home,
            payload,
        });
        true
    }

    /// Chunks of transfers other nodes run were written out to local
    /// `conn`: their homes are told (their credit goes on); the ids left
    /// are this node's own.
    pub(crate) fn remote_chunks_sent(&mut self, conn: ConnId, ids: &[u64]) -> Vec<u64> {
        let Some(c) = self.cluster.as_deref() else {
            return ids.to_vec();
        };
        let (node, run) = (c.node.clone(), c.run);
        let mut own = Vec::with_capacity(ids.len());
        for &id in ids {
            match self.home_of(id) {
                Some(home) => self.push_effect(Effect::Forward {
                    node: home,
                    payload: format!("S {node} {run} {} {id}", conn.0),
                }),
                None => own.push(id),
            }
        }
        own
    }
}
