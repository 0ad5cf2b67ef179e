//! Credit for a relayed transfer follows what the receiver's connection
//! actually drains: a receiver that grants credit but never reads holds at
//! most the relay budget of chunks in the server, however much it grants;
//! chunks written out give room back, shared by the receiver's transfers.

use base64::Engine;
use chat::core::transfer::FileLimits;
use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ServerMsg as M};
use chat::sim::Sim;

const CHUNK: usize = 64 * 1024;
const WINDOW: u64 = 8 * CHUNK as u64;
const BUDGET: u64 = 12 * CHUNK as u64;

fn sim() -> Sim {
    let mut sim = Sim::new(Config::default());
    let catalog = sim.runner.open_store(1 << 30);
    sim.core.set_file_store(
        Some(catalog),
        FileLimits {
            max_window: WINDOW,
            relay_budget: BUDGET,
            ..FileLimits::default()
        },
    );
    for (c, name) in [(1, "alice"), (2, "bob")] {
        sim.login(ConnId(c), name);
    }
    sim
}

/// Credit granted to alice (conn 1) in one turn's output, per transfer.
fn credit(out: &[(ConnId, Result<M, String>)]) -> Vec<(u64, u64)> {
    out.iter()
        .filter(|(c, _)| *c == ConnId(1))
        .filter_map(|(_, m)| match m {
            Ok(M::FileCredit { id, bytes }) => Some((*id, *bytes)),
            _ => None,
        })
        .collect()
}

/// Alice offers a file of `size` bytes to bob, who accepts: its id.
fn offer_accepted(sim: &mut Sim, name: &str, size: u64) -> u64 {
    sim.send(
        ConnId(1),
        C::FileOffer {
            to: "bob".into(),
            name: name.into(),
            size,
            sha256: "0".repeat(64),
            cid: None,
        },
    );
    let out = sim.turn();
    let id = out
        .iter()
        .find_map(|(c, m)| match m {
            Ok(M::FileState { id, .. }) if *c == ConnId(2) => Some(*id),
            _ => None,
        })
        .expect("bob is offered the file");
    sim.send(
        ConnId(2),
        C::FileAccept {
            id,
            offset: 0,
            prefix_sha256: None,
        },
    );
    sim.turn();
    id
}

/// Alice sends `n` chunks of transfer `id` from `offset`.
fn send_chunks(sim: &mut Sim, id: u64, offset: &mut u64, n: usize) -> usize {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; CHUNK]);
    for _ in 0..n {
        sim.send(
            ConnId(1),
            C::FileChunk {
                id,
                offset: *offset,
                data: data.clone(),
            },
        );
        *offset += CHUNK as u64;
    }
    let out = sim.turn();
    out.iter()
        .filter(|(c, m)| *c == ConnId(2) && matches!(m, Ok(M::FileChunk { .. })))
        .count()
}

#[test]
fn a_receiver_that_never_reads_holds_at_most_one_window_of_chunks() {
    let mut sim = sim();
    let id = offer_accepted(&mut sim, "big.bin", 1 << 30);
    let mut granted = 0;
    let mut offset = 0;
    let mut relayed = 0;
    // Bob grants far more than a window, again and again, but his
    // connection never drains (no chunk is ever reported written out).
    for _ in 0..20 {
        sim.send(
            ConnId(2),
            C::FileCredit {
                id,
                bytes: 64 << 20,
            },
        );
        let out = sim.turn();
        let got: u64 = credit(&out).iter().map(|(_, b)| b).sum();
        granted += got;
        relayed += send_chunks(&mut sim, id, &mut offset, (got / CHUNK as u64) as usize);
    }
    assert_eq!(granted, WINDOW, "credit stops at one window in flight");
    assert_eq!(relayed as u64 * CHUNK as u64, WINDOW);

    // Three chunks written out to bob's socket: exactly that much more.
    sim.core.chunks_sent(ConnId(2), &[id, id, id]);
    let out = sim.turn();
    assert_eq!(credit(&out), vec![(id, 3 * CHUNK as u64)]);
}

#[test]
fn the_budget_is_shared_by_the_receivers_transfers() {
    let mut sim = sim();
    let a = offer_accepted(&mut sim, "a.bin", 1 << 30);
    let b = offer_accepted(&mut sim, "b.bin", 1 << 30);
    sim.send(
        ConnId(2),
        C::FileCredit {
            id: a,
            bytes: 64 << 20,
        },
    );
    sim.send(
        ConnId(2),
        C::FileCredit {
            id: b,
            bytes: 64 << 20,
        },
    );
    let out = sim.turn();
    let got = credit(&out);
    let total: u64 = got.iter().map(|(_, b)| b).sum();
    assert_eq!(total, BUDGET, "two windows would pass the budget: {got:?}");
    let for_b: u64 = got.iter().filter(|(i, _)| *i == b).map(|(_, n)| n).sum();
    assert_eq!(for_b, BUDGET - WINDOW, "b gets what a left");
    // a's chunks drain: b's banked credit gets the room.
    let mut off = 0;
    send_chunks(&mut sim, a, &mut off, 2);
    sim.core.chunks_sent(ConnId(2), &[a, a]);
    let out = sim.turn();
    let got = credit(&out);
    let total: u64 = got.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 2 * CHUNK as u64, "{got:?}");
}

#[test]
fn an_interrupted_transfer_nobody_resumes_fails_at_its_time_and_frees_the_upload() {
    let mut sim = sim();
    // An upload that reserves most of the store, then its uploader leaves.
    sim.send(
        ConnId(1),
        C::Upload {
            name: "huge.bin".into(),
            size: 1 << 29,
            sha256: "0".repeat(64),
            cid: None,
        },
    );
    sim.turn();
    sim.disconnect(ConnId(1));
    sim.turn();
    // Bob cannot store a file the reservation leaves no room for.
    let try_upload = |sim: &mut Sim| {
        sim.send(
            ConnId(2),
            C::Upload {
                name: "mine.bin".into(),
                size: 1 << 29 | 1,
                sha256: "0".repeat(64),
                cid: None,
            },
        );
        sim.turn()
    };
    let out = try_upload(&mut sim);
    assert!(
        out.iter().any(|(_, m)| matches!(m, Ok(M::Error { .. }))),
        "{out:?}"
    );
    // Ten minutes later nobody resumed it: it fails, and its room is free.
    sim.advance(10 * 60 * 1000);
    sim.turn();
    sim.release_effects();
    let out = try_upload(&mut sim);
    assert!(
        out.iter()
            .any(|(c, m)| *c == ConnId(2) && matches!(m, Ok(M::FileCredit { .. }))),
        "{out:?}"
    );
}

#[test]
fn open_transfers_per_user_are_capped() {
    let mut sim = sim();
    let max = FileLimits::default().max_transfers_per_user;
    for i in 0..max {
        sim.send(
            ConnId(1),
            C::FileOffer {
                to: "bob".into(),
                name: format!("f{i}.bin"),
                size: 10,
                sha256: "0".repeat(64),
                cid: None,
            },
        );
    }
    sim.send(
        ConnId(1),
        C::FileOffer {
            to: "bob".into(),
            name: "one-too-many.bin".into(),
            size: 10,
            sha256: "0".repeat(64),
            cid: Some("x".into()),
        },
    );
    let out = sim.turn();
    let refused: Vec<_> = out
        .iter()
        .filter_map(|(c, m)| match m {
            Ok(M::Error { code, cid, .. }) if *c == ConnId(1) => Some((*code, cid.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![(
            chat::protocol::ErrorCode::TooManyTransfers,
            Some("x".into())
        )]
    );
}
