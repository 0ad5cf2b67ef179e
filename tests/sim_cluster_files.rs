//! A file transfer between users on two nodes of a cluster, in memory: the
//! offer reaches the receiver's node, the receiver's accept and credit
//! reach the sender's, chunks flow as the receiver's connection drains
//! them (the credit window holds across nodes), and a cancel ends it on
//! both sides.

use base64::Engine;
use chat::core::{Config, ConnId};
use chat::protocol::files::TransferState;
use chat::protocol::{ClientMsg as C, ServerMsg as M};
use chat::sim::cluster::{ClusterSim, Out};
use chat::sim::frames_to;

const CHUNK: usize = 64 * 1024;

fn states(out: &Out, conn: u64) -> Vec<(u64, TransferState)> {
    frames_to(out, ConnId(conn))
        .into_iter()
        .filter_map(|m| match m {
            M::FileState { id, state, .. } => Some((id, state)),
            _ => None,
        })
        .collect()
}

fn credit(out: &Out, conn: u64) -> u64 {
    frames_to(out, ConnId(conn))
        .into_iter()
        .filter_map(|m| match m {
            M::FileCredit { bytes, .. } => Some(bytes),
            _ => None,
        })
        .sum()
}

fn chunks(out: &Out, conn: u64) -> Vec<u64> {
    frames_to(out, ConnId(conn))
        .into_iter()
        .filter_map(|m| match m {
            M::FileChunk { offset, .. } => Some(offset),
            _ => None,
        })
        .collect()
}

/// alice's offer of `name` (`size` bytes) to bob.
fn offer_to_bob(name: &str, size: u64) -> C {
    C::FileOffer {
        to: "bob".into(),
        name: name.into(),
        size,
        sha256: "0".repeat(64),
        cid: None,
    }
}

fn chunk(id: u64, offset: u64) -> C {
    C::FileChunk {
        id,
        offset,
        data: base64::engine::general_purpose::STANDARD.encode(vec![7u8; CHUNK]),
    }
}

/// Four chunks in flight per transfer and per receiver, at most.
const WINDOW: u64 = 4 * CHUNK as u64;

#[test]
fn a_transfer_between_nodes_moves_under_the_receivers_credit() {
    let mut c = ClusterSim::new(2, Config::default());
    for n in &mut c.nodes {
        let limits = chat::core::transfer::FileLimits {
            max_window: WINDOW,
            relay_budget: WINDOW,
            ..Default::default()
        };
        n.core.set_file_store(None, limits);
    }
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(2), "bob");
    c.send(0, ConnId(1), offer_to_bob("plans.pdf", 8 * CHUNK as u64));
    let out = c.settle();
    let offered = states(&out[1], 2);
    assert_eq!(offered.len(), 1, "bob, on n1, is offered it: {out:?}");
    let (id, state) = offered[0];
    assert_eq!(state, TransferState::Pending);
    assert_eq!(states(&out[0], 1), [(id, TransferState::Pending)]);
    // bob accepts and grants two chunks' worth; alice, on n0, gets it.
    c.send(
        1,
        ConnId(2),
        C::FileAccept {
            id,
            offset: 0,
            prefix_sha256: None,
        },
    );
    c.send(
        1,
        ConnId(2),
        C::FileCredit {
            id,
            bytes: 8 * CHUNK as u64,
        },
    );
    let out = c.settle();
    assert!(states(&out[0], 1).contains(&(id, TransferState::InProgress)));
    let granted = credit(&out[0], 1);
    assert_eq!(granted, WINDOW, "one window passed on, the rest banked");
    // alice sends what she may: bob's node queues each chunk for him.
    for i in 0..4 {
        c.send(0, ConnId(1), chunk(id, (i * CHUNK) as u64));
    }
    let out = c.settle();
    assert_eq!(chunks(&out[1], 2), [0, 1, 2, 3].map(|i| (i * CHUNK) as u64));
    assert_eq!(credit(&out[0], 1), 0);
    // bob grants two more: banked, as his connection holds a window.
    c.send(
        1,
        ConnId(2),
        C::FileCredit {
            id,
            bytes: 2 * CHUNK as u64,
        },
    );
    let out = c.settle();
    assert_eq!(credit(&out[0], 1), 0, "nothing drained, no more credit");
    // bob's socket takes two of them: two chunks' room goes back to alice.
    c.nodes[1].core.chunks_sent(ConnId(2), &[id, id]);
    let out = c.settle();
    assert_eq!(credit(&out[0], 1), 2 * CHUNK as u64);
    // bob cancels: both ends hear it.
    c.send(1, ConnId(2), C::FileCancel { id });
    let out = c.settle();
    assert!(states(&out[0], 1).contains(&(id, TransferState::Cancelled)));
    assert!(states(&out[1], 2).contains(&(id, TransferState::Cancelled)));
}

#[test]
fn a_user_elsewhere_gets_no_frames_of_a_transfer_between_others() {
    let mut c = ClusterSim::new(3, Config::default());
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(2), "bob");
    c.login(2, ConnId(3), "carol");
    c.send(0, ConnId(1), offer_to_bob("a.txt", 10));
    let out = c.settle();
    assert_eq!(states(&out[1], 2).len(), 1);
    assert!(states(&out[2], 3).is_empty());
    // carol cannot touch it.
    let id = states(&out[1], 2)[0].0;
    c.send(2, ConnId(3), C::FileCancel { id });
    let out = c.settle();
    assert!(frames_to(&out[2], ConnId(3)).iter().any(|m| matches!(
        m,
        M::Error {
            code: chat::protocol::ErrorCode::UnknownTransfer,
            ..
        }
    )));
    assert!(states(&out[0], 1).is_empty());
}

#[test]
fn when_the_senders_node_dies_the_receiver_is_told_its_transfer_failed() {
    let mut c = ClusterSim::new(3, Config::default());
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(2), "bob");
    c.send(0, ConnId(1), offer_to_bob("big.iso", 1 << 30));
    let out = c.settle();
    let id = states(&out[1], 2)[0].0;
    c.send(
        1,
        ConnId(2),
        C::FileAccept {
            id,
            offset: 0,
            prefix_sha256: None,
        },
    );
    c.settle();
    c.kill(0);
    let out = c.settle();
    let failed = frames_to(&out[1], ConnId(2))
        .into_iter()
        .find_map(|m| match m {
            M::FileState {
                id: i,
                state: TransferState::Failed,
                reason,
                name,
                ..
            } if i == id => Some((name, reason)),
            _ => None,
        });
    let (name, reason) = failed.expect("bob is told");
    assert_eq!(name, "big.iso");
    assert!(reason.unwrap_or_default().contains("n0"));
}
