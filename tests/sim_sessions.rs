//! Sessions of a name in the in-memory simulation: a transfer never
//! resumes to a new session of an open name without the other end's
//! confirmation (the same session, by its token, or a registered owner
//! gets it back), and a registered name's password takes over its own
//! online or held session at once.

mod sim_names_common;

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, ServerMsg as S};
use chat::sim::{frames_to, Sim};
use sim_names_common::*;
use std::net::IpAddr;

// ---- item: a transfer never resumes to a stranger ----

fn offer(to: &str) -> C {
    C::FileOffer {
        to: to.into(),
        name: "plans.pdf".into(),
        size: 1000,
        sha256: "ab".repeat(32),
        cid: None,
    }
}

/// The file states in `frames`: (state, reason).
fn file_states(frames: &[S]) -> Vec<(chat::protocol::files::TransferState, Option<String>)> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::FileState { state, reason, .. } => Some((*state, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_transfer_to_an_open_name_waits_for_the_other_end_when_a_new_session_takes_the_name() {
    use chat::protocol::files::TransferState as T;
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), HOME, hello("bob", None)), "bob");
    let f = ask(&mut sim, ConnId(1), offer("bob"));
    assert_eq!(file_states(&f), [(T::Pending, None)], "{f:?}");
    // bob's connection drops; after the grace period the name is free.
    sim.disconnect(ConnId(2));
    sim.turn();
    sim.advance(Config::default().grace_ms + 1);
    sim.turn();
    // Someone logs in as bob without bob's session token: alice is asked;
    // the new bob is offered nothing and cannot touch the transfer.
    assert!(sim.core.accept(ConnId(3), IpAddr::from(AWAY), sim.now));
    sim.send(ConnId(3), hello("bob", None));
    let out = sim.turn();
    let to_alice = file_states(&frames_to(&out, ConnId(1)));
    assert!(
        matches!(&to_alice[..], [(T::Interrupted, Some(r))] if r.contains("new session took the unregistered name") && r.contains("/resume 1")),
        "{to_alice:?}"
    );
    let to_new_bob = frames_to(&out, ConnId(3));
    welcomed(&to_new_bob, "new bob");
    assert!(file_states(&to_new_bob).is_empty(), "{to_new_bob:?}");
    for msg in [
        C::FileAccept {
            id: 1,
            offset: 0,
            prefix_sha256: None,
        },
        C::FileResume { id: 1 },
        C::FileCancel { id: 1 },
    ] {
        let f = ask(&mut sim, ConnId(3), msg);
        assert_eq!(error(&f).0, ErrorCode::UnknownTransfer, "{f:?}");
    }
    // alice confirms with /resume: now the new bob sees it, and it
    // resumes like any interrupted transfer.
    sim.send(ConnId(1), C::FileResume { id: 1 });
    let out = sim.turn();
    assert_eq!(
        file_states(&frames_to(&out, ConnId(3))),
        [(T::Interrupted, None)],
        "{out:?}"
    );
    let to_alice = file_states(&frames_to(&out, ConnId(1)));
    assert!(
        matches!(&to_alice[..], [(T::Interrupted, Some(r))] if r.starts_with("confirmed")),
        "{to_alice:?}"
    );
    sim.send(ConnId(1), C::FileResume { id: 1 });
    let out = sim.turn();
    assert_eq!(
        file_states(&frames_to(&out, ConnId(3))),
        [(T::Resuming, None)],
        "{out:?}"
    );
}

#[test]
fn a_transfer_comes_back_to_the_same_session_or_the_registered_owner() {
    use chat::protocol::files::TransferState as T;
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    let token = welcomed(&fresh(&mut sim, ConnId(2), HOME, hello("bob", None)), "bob");
    welcomed(
        &fresh(
            &mut sim,
            ConnId(3),
            HOME,
            hello("carol", Some("carol's password")),
        ),
        "carol",
    );
    ask(&mut sim, ConnId(1), offer("bob"));
    ask(&mut sim, ConnId(1), offer("carol"));
    // bob comes back with his token within the grace period: still his
    // (interrupted by the drop, for him to accept or resume).
    sim.disconnect(ConnId(2));
    sim.turn();
    let f = fresh(&mut sim, ConnId(4), AWAY, resume("bob", Some(token), None));
    welcomed(&f, "bob");
    assert_eq!(file_states(&f), [(T::Interrupted, None)], "{f:?}");
    // carol logs out and in again with her password, a new session: the
    // registered owner gets her offer back.
    logout(&mut sim, ConnId(3));
    let f = fresh(
        &mut sim,
        ConnId(5),
        AWAY,
        hello("carol", Some("carol's password")),
    );
    welcomed(&f, "carol");
    assert_eq!(file_states(&f), [(T::Interrupted, None)], "{f:?}");
}

#[test]
fn a_client_back_after_the_grace_period_with_its_old_token_keeps_its_transfers() {
    use chat::protocol::files::TransferState as T;
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    let token = welcomed(&fresh(&mut sim, ConnId(2), HOME, hello("bob", None)), "bob");
    ask(&mut sim, ConnId(1), offer("bob"));
    sim.disconnect(ConnId(2));
    sim.turn();
    sim.advance(Config::default().grace_ms + 1);
    sim.turn();
    // The name was free meanwhile, but this is bob's own client (it has
    // the token of the session the transfer belongs to).
    let f = fresh(&mut sim, ConnId(3), AWAY, resume("bob", Some(token), None));
    welcomed(&f, "bob");
    assert_eq!(file_states(&f), [(T::Interrupted, None)], "{f:?}");
    // A wrong token is a stranger: held for alice to confirm.
    ask(&mut sim, ConnId(3), C::Logout {});
    sim.disconnect(ConnId(3));
    assert!(sim.core.accept(ConnId(4), IpAddr::from(AWAY), sim.now));
    sim.send(ConnId(4), resume("bob", Some("not-bobs".into()), None));
    let out = sim.turn();
    let to_alice = file_states(&frames_to(&out, ConnId(1)));
    assert!(
        matches!(&to_alice[..], [(T::Interrupted, Some(r))] if r.contains("new session")),
        "{to_alice:?}"
    );
    assert!(file_states(&frames_to(&out, ConnId(4))).is_empty());
}

#[test]
fn the_right_password_takes_a_held_or_half_open_session_over_at_once() {
    let mut sim = Sim::new(cfg());
    let f = fresh(
        &mut sim,
        ConnId(1),
        HOME,
        hello("bob", Some("bob's password")),
    );
    welcomed(&f, "bob");
    // bob's client crashed; its connection is half open (still there).
    // A wrong password says so; the right one takes over at once, and the
    // old connection is told why before it is closed.
    let f = fresh(
        &mut sim,
        ConnId(2),
        AWAY,
        hello("bob", Some("wrong password")),
    );
    assert_eq!(error(&f).0, ErrorCode::BadPassword, "{f:?}");
    sim.send(ConnId(2), hello("bob", Some("bob's password")));
    let out = sim.turn();
    welcomed(&frames_to(&out, ConnId(2)), "bob again");
    assert!(
        frames_to(&out, ConnId(1))
            .iter()
            .any(|m| matches!(m, S::Bye { code: chat::protocol::ByeCode::TakenOver, reason } if reason.contains("another connection"))),
        "{out:?}"
    );
    // Dropped now: the name is held for a reconnect; the password takes it
    // at once too, without waiting for the grace period.
    sim.disconnect(ConnId(2));
    sim.turn();
    let f = fresh(
        &mut sim,
        ConnId(3),
        AWAY,
        hello("bob", Some("bob's password")),
    );
    welcomed(&f, "bob after a drop");
    // Without a password, a held or online registered name is still refused.
    let f = fresh(&mut sim, ConnId(4), AWAY, hello("bob", None));
    assert_eq!(error(&f).0, ErrorCode::AuthRequired, "{f:?}");
}
