//! The direct thread: messages to one other node, not sequenced.
//!
//! A file transfer between users on two nodes runs on the sender's node; the
//! frames for the other end (offers, states, chunks, credit) and that end's
//! answers travel as direct messages: `PUBLISH {prefix}:node:{id}:direct`,
//! pipelined, on a connection of this thread's own. Pub/sub delivers at most
//! once: a message sent while Redis is away is dropped (logged), and the
//! transfers that lose frames are left to their ends' resume (see
//! docs/CLUSTER.md). The queue is bounded ([`QUEUE`]); the receiving side is
//! the feed thread, subscribed to this node's channel.

use super::{Shared, IO_TIMEOUT};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// Messages waiting for this thread, at most (a relayed chunk is up to about
/// 90 KB: at most about 90 MB, and transfers' credit windows keep it far
/// lower).
pub const QUEUE: usize = 1024;
/// Messages sent per pipeline.
const BATCH: usize = 64;
/// How often an idle thread looks for a stop.
const POLL: Duration = Duration::from_millis(250);

/// The thread's body.
pub(super) fn run(shared: Arc<Shared>, queue: Receiver<(String, String)>) {
    let mut con: Option<redis::Connection> = None;
    loop {
        if shared.stopping() {
            return;
        }
        let first = match queue.recv_timeout(POLL) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if con.is_none() {
            con = shared.connect(IO_TIMEOUT, |e| {
                log::debug!("backplane: direct connection failed: {e}")
            });
        }
        let Some(c) = con.as_mut() else {
            return; // stopping
        };
        let mut pipe = redis::pipe();
        for (node, payload) in &batch {
            pipe.cmd("PUBLISH")
                .arg(shared.cfg.direct_channel(node))
                .arg(payload.as_bytes())
                .ignore();
        }
        if let Err(e) = pipe.query::<()>(c) {
            log::warn!(
                "backplane: {} message(s) for other nodes were lost ({e})",
                batch.len()
            );
            con = None;
        }
    }
}
