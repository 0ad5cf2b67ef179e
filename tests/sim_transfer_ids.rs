//! Transfer ids in the in-memory simulation: an id shown to a client is
//! never shown again for another transfer, even when the server is killed
//! before its history batch lands (found by CI: a restarted server offered
//! "transfer 1" again), and on a disk that cannot record new ids, offers
//! are refused with `store_failed` instead of reusing one.

use chat::core::transfer_ids::BLOCK;
use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, ServerMsg as M};
use chat::sim::{frames_to, Sim};
use chat::store::history::Retention;

fn cfg() -> Config {
    Config {
        grace_ms: 0,
        ..Config::default()
    }
}

fn offer_frame() -> C {
    C::FileOffer {
        to: "bob".into(),
        name: "f.bin".into(),
        size: 10,
        sha256: "0".repeat(64),
        cid: Some("o".into()),
    }
}

/// Alice (on `alice`) offers a file to bob and cancels it (so the per-user
/// limit never stops the next): the id, or the error alice got.
fn offer(sim: &mut Sim, alice: ConnId) -> Result<u64, (ErrorCode, String)> {
    sim.send(alice, offer_frame());
    let out = sim.turn();
    for m in frames_to(&out, alice) {
        match m {
            M::FileState { id, .. } => {
                sim.send(alice, C::FileCancel { id });
                sim.turn();
                return Ok(id);
            }
            M::Error { code, message, .. } => return Err((code, message)),
            _ => {}
        }
    }
    panic!("no answer to the offer: {out:?}");
}

fn two(sim: &mut Sim, a: u64, b: u64) -> ConnId {
    sim.login(ConnId(a), "alice");
    sim.login(ConnId(b), "bob");
    ConnId(a)
}

#[test]
fn a_server_killed_before_its_batch_lands_never_gives_an_id_again() {
    let mut sim = Sim::new(cfg());
    let alice = two(&mut sim, 1, 2);
    // Nothing reaches the disk from here: the kill comes first.
    sim.hold_effects = true;
    let before: Vec<u64> = (0..3).map(|_| offer(&mut sim, alice).unwrap()).collect();
    sim.restart(cfg(), Retention::default());
    sim.hold_effects = false;
    let alice = two(&mut sim, 3, 4);
    let after = offer(&mut sim, alice).unwrap();
    assert!(
        before.iter().all(|&b| after > b),
        "{after} after {before:?}"
    );
    // And a clean run's ids go on above this run's block.
    sim.restart(cfg(), Retention::default());
    let alice = two(&mut sim, 5, 6);
    let again = offer(&mut sim, alice).unwrap();
    assert!(again > after + BLOCK - 1, "{again} after {after}");
}

#[test]
fn a_disk_that_cannot_record_ids_refuses_offers_until_it_can() {
    let mut sim = Sim::new(cfg());
    let alice = two(&mut sim, 1, 2);
    sim.runner.fail_writes(true);
    let mut ids = Vec::new();
    let refused = loop {
        match offer(&mut sim, alice) {
            Ok(id) => ids.push(id),
            Err(e) => break e,
        }
        assert!(ids.len() as u64 <= BLOCK, "never refused");
    };
    // The block recorded at start-up, and not one id more.
    assert_eq!(ids, (1..=BLOCK).collect::<Vec<_>>());
    assert_eq!(refused.0, ErrorCode::StoreFailed);
    assert!(refused.1.contains("transfer id"), "{}", refused.1);
    // The disk is back: the request goes again with the next batch (a
    // turn), and the next offer gets the next id.
    sim.runner.fail_writes(false);
    sim.turn();
    assert_eq!(offer(&mut sim, alice), Ok(BLOCK + 1));
}
