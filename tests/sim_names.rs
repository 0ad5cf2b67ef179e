//! Names and accounts in the in-memory simulation: confusable names
//! (case, `i`/`l`/`1`, `0`/`o`, trailing dots) are one name; private
//! messages wait and are read back only for a name someone can prove is
//! theirs; wrong passwords lock out the guessing address, not the owner.

mod sim_names_common;

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, Replay, Secret, ServerMsg as S};
use chat::sim::{frames_to, texts, Sim};
use sim_names_common::*;
use std::net::IpAddr;

// ---- item 1: confusable names ----

#[test]
fn names_that_look_like_a_registered_one_are_refused_saying_which() {
    let mut sim = Sim::new(cfg());
    let f = fresh(
        &mut sim,
        ConnId(1),
        HOME,
        hello("bob", Some("bob's password")),
    );
    welcomed(&f, "bob");
    logout(&mut sim, ConnId(1));
    for (i, name) in ["Bob", "BOB", "b0b", "bob.", "B0B..", "boB"]
        .iter()
        .enumerate()
    {
        let conn = ConnId(10 + i as u64);
        // Without a password, and with one (which would register it).
        for pw in [None, Some("another password")] {
            let f = fresh(&mut sim, conn, AWAY, hello(name, pw));
            let (code, message) = error(&f);
            assert_eq!(code, ErrorCode::NameTaken, "{name} {pw:?}: {message}");
            assert!(
                message.contains("\"bob\"") && message.contains("registered"),
                "{name}: {message}"
            );
            sim.disconnect(conn);
        }
        assert!(!sim.core.is_registered(name), "{name}");
    }
    // The exact name goes through the usual rules.
    let f = fresh(&mut sim, ConnId(20), AWAY, hello("bob", None));
    assert_eq!(error(&f).0, ErrorCode::AuthRequired);
    let f = ask(&mut sim, ConnId(20), hello("bob", Some("bob's password")));
    welcomed(&f, "bob");
}

#[test]
fn names_that_look_like_an_online_or_held_one_are_refused_until_it_is_free() {
    let mut sim = Sim::new(cfg());
    let f = fresh(&mut sim, ConnId(1), HOME, hello("alice", None));
    welcomed(&f, "alice");
    let f = fresh(&mut sim, ConnId(2), AWAY, hello("ALICE", None));
    let (code, message) = error(&f);
    assert_eq!(code, ErrorCode::NameTaken);
    assert!(message.contains("\"alice\", which is online"), "{message}");
    // Dropped: held for its session, and so are its look-alikes.
    sim.disconnect(ConnId(1));
    sim.turn();
    let f = ask(&mut sim, ConnId(2), hello("A1ice", None));
    let (code, message) = error(&f);
    assert_eq!(code, ErrorCode::NameTaken);
    assert!(message.contains("\"alice\", which is held"), "{message}");
    // Once the grace period is over it is free, and shown as typed.
    sim.advance(Config::default().grace_ms + 1);
    sim.turn();
    let f = ask(&mut sim, ConnId(2), hello("Alice", None));
    welcomed(&f, "Alice");
    let f = ask(&mut sim, ConnId(2), C::ListUsers {});
    assert!(
        matches!(&f[..], [S::UserList { users }] if users.iter().map(|u| u.name.as_str()).eq(["Alice"])),
        "{f:?}"
    );
    let f = fresh(&mut sim, ConnId(3), HOME, hello("alice", None));
    assert!(error(&f).1.contains("\"Alice\", which is online"), "{f:?}");
}

#[test]
fn a_registration_that_races_a_look_alike_login_is_refused() {
    let mut sim = Sim::new(cfg());
    // bob's password is being hashed...
    sim.hold_effects = true;
    assert!(fresh(
        &mut sim,
        ConnId(1),
        HOME,
        hello("bob", Some("bob's password"))
    )
    .is_empty());
    // ...when BOB logs in without one; then the hash is done.
    sim.hold_effects = false;
    assert!(sim.core.accept(ConnId(2), IpAddr::from(AWAY), sim.now));
    sim.send(ConnId(2), hello("BOB", None));
    let out = sim.turn();
    welcomed(&frames_to(&out, ConnId(2)), "BOB");
    let (code, message) = error(&frames_to(&out, ConnId(1)));
    assert_eq!(code, ErrorCode::NameTaken);
    assert!(message.contains("\"BOB\""), "{message}");
    assert!(!sim.core.is_registered("bob"));
    // BOB may register the name they hold.
    let f = ask(
        &mut sim,
        ConnId(2),
        C::ChangePassword {
            old: None,
            new: Secret::from("BOB's password"),
        },
    );
    assert!(
        matches!(
            &f[..],
            [S::PasswordChanged {
                registered: true,
                ..
            }]
        ),
        "{f:?}"
    );
}

#[test]
fn a_private_message_to_a_look_alike_says_who_was_meant() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    let f = ask(&mut sim, ConnId(1), dm("Bob", "hi"));
    let (code, message) = error(&f);
    assert_eq!(code, ErrorCode::UnknownUser);
    assert!(message.contains("did you mean \"bob\""), "{message}");
}

// ---- item 2: private messages only for names that are someone's ----

#[test]
fn a_private_message_to_an_offline_open_name_is_refused_and_not_stored() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    logout(&mut sim, ConnId(2));
    let stored = sim.runner.stored_messages();
    let f = ask(&mut sim, ConnId(1), dm("bob", "are you there?"));
    let (code, message) = error(&f);
    assert_eq!(code, ErrorCode::UnknownUser);
    assert_eq!(
        message,
        "bob is offline and has no account, so messages cannot wait for them; try again when they are online"
    );
    assert!(!f.iter().any(|m| matches!(m, S::Ack { .. })));
    assert_eq!(sim.runner.stored_messages(), stored, "nothing kept for bob");
}

#[test]
fn whoever_takes_an_open_name_after_the_grace_period_reads_none_of_its_private_messages() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    ask(&mut sim, ConnId(1), dm("bob", "the door code is 4711"));
    ask(&mut sim, ConnId(2), dm("alice", "thanks"));
    // bob drops; during the grace period his name is held, messages wait.
    sim.disconnect(ConnId(2));
    sim.turn();
    let f = ask(&mut sim, ConnId(1), dm("bob", "and the alarm is 0000"));
    assert!(
        f.iter().any(|m| matches!(m, S::Ack { recipients: 1, .. })),
        "{f:?}"
    );
    sim.advance(Config::default().grace_ms + 1);
    sim.turn();
    // mallory takes "bob", asking for everything since the beginning.
    let f = fresh(&mut sim, ConnId(3), GUESSER, resume("bob", None, Some(0)));
    welcomed(&f, "mallory as bob");
    assert_eq!(texts(&f), Vec::<String>::new(), "no catch-up: {f:?}");
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    assert_eq!(texts(&f), Vec::<String>::new(), "no history: {f:?}");
    assert!(
        matches!(
            f.last(),
            Some(S::HistoryEnd {
                count: 0,
                more: false,
                ..
            })
        ),
        "{f:?}"
    );
    // What is sent to this session is its own, and shows in its history.
    ask(&mut sim, ConnId(1), dm("bob", "who is this?"));
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    assert_eq!(texts(&f), ["who is this?"]);
    // alice still has the whole conversation.
    let f = ask(&mut sim, ConnId(1), history_with("bob"));
    assert_eq!(
        texts(&f),
        [
            "the door code is 4711",
            "thanks",
            "and the alarm is 0000",
            "who is this?"
        ]
    );
}

#[test]
fn the_same_session_back_within_the_grace_period_gets_what_waited() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    let token = welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    ask(&mut sim, ConnId(1), dm("bob", "before"));
    sim.disconnect(ConnId(2));
    sim.turn();
    let last = sim.core.last_id();
    ask(&mut sim, ConnId(1), dm("bob", "while you were away"));
    let f = fresh(
        &mut sim,
        ConnId(3),
        AWAY,
        resume("bob", Some(token), Some(last)),
    );
    welcomed(&f, "bob again");
    assert!(
        f.iter().any(|m| matches!(m, S::Message { text, replay: Some(Replay::Missed), .. } if text == "while you were away")),
        "{f:?}"
    );
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    assert_eq!(texts(&f), ["before", "while you were away"]);
}

#[test]
fn a_registered_name_keeps_its_offline_messages_and_history() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    let f = fresh(
        &mut sim,
        ConnId(2),
        AWAY,
        hello("bob", Some("bob's password")),
    );
    welcomed(&f, "bob");
    let f = ask(&mut sim, ConnId(1), dm("bob", "one"));
    let one = f
        .iter()
        .find_map(|m| match m {
            S::Ack { id, .. } => Some(*id),
            _ => None,
        })
        .expect("an ack");
    // bob's client says it has it.
    ask(
        &mut sim,
        ConnId(2),
        C::Receipt {
            kind: chat::protocol::ReceiptKind::Delivered,
            room: None,
            peer: Some("alice".into()),
            up_to: one,
        },
    );
    logout(&mut sim, ConnId(2));
    let f = ask(&mut sim, ConnId(1), dm("bob", "two, while you were out"));
    assert!(
        f.iter().any(|m| matches!(m, S::Ack { recipients: 1, .. })),
        "{f:?}"
    );
    sim.advance(60_000);
    let f = fresh(
        &mut sim,
        ConnId(3),
        AWAY,
        hello("bob", Some("bob's password")),
    );
    welcomed(&f, "bob");
    assert_eq!(texts(&f), ["two, while you were out"], "{f:?}");
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    assert_eq!(texts(&f), ["one", "two, while you were out"]);
}

#[test]
fn registering_an_open_name_later_does_not_reveal_what_its_earlier_users_were_sent() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    ask(&mut sim, ConnId(1), dm("bob", "for the first bob"));
    logout(&mut sim, ConnId(2));
    // Someone else takes the open name, chats, then registers it.
    welcomed(
        &fresh(&mut sim, ConnId(3), GUESSER, hello("bob", None)),
        "next bob",
    );
    ask(&mut sim, ConnId(1), dm("bob", "for the next bob"));
    let f = ask(
        &mut sim,
        ConnId(3),
        C::ChangePassword {
            old: None,
            new: Secret::from("next bob's password"),
        },
    );
    assert!(
        matches!(
            &f[..],
            [S::PasswordChanged {
                registered: true,
                ..
            }]
        ),
        "{f:?}"
    );
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    assert_eq!(texts(&f), ["for the next bob"]);
    // Also on a later login with the password.
    logout(&mut sim, ConnId(3));
    let f = fresh(
        &mut sim,
        ConnId(4),
        GUESSER,
        hello("bob", Some("next bob's password")),
    );
    welcomed(&f, "next bob");
    let f = ask(&mut sim, ConnId(4), history_with("alice"));
    assert_eq!(texts(&f), ["for the next bob"]);
}

#[test]
fn a_history_page_read_from_the_log_stops_where_the_session_began() {
    let mut sim = Sim::new(cfg());
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", None)),
        "alice",
    );
    welcomed(&fresh(&mut sim, ConnId(2), AWAY, hello("bob", None)), "bob");
    for i in 0..10 {
        ask(&mut sim, ConnId(1), dm("bob", &format!("old {i}")));
    }
    logout(&mut sim, ConnId(2));
    welcomed(
        &fresh(&mut sim, ConnId(3), GUESSER, hello("bob", None)),
        "next bob",
    );
    // More than memory keeps (64 a conversation): the page is read back.
    for i in 0..100 {
        ask(&mut sim, ConnId(1), dm("bob", &format!("new {i}")));
    }
    let f = ask(&mut sim, ConnId(3), history_with("alice"));
    let got = texts(&f);
    assert_eq!(got.len(), 100, "{got:?}");
    assert!(got.iter().all(|t| t.starts_with("new ")), "{got:?}");
    assert!(
        matches!(
            f.last(),
            Some(S::HistoryEnd {
                count: 100,
                more: false,
                ..
            })
        ),
        "{:?}",
        f.last()
    );
}

// ---- item 3: lock out the guessing address, not the owner ----

#[test]
fn wrong_guesses_lock_out_the_guessing_address_not_the_owner() {
    let mut sim = Sim::new(cfg());
    let pw = "alice's password";
    welcomed(
        &fresh(&mut sim, ConnId(1), HOME, hello("alice", Some(pw))),
        "alice",
    );
    logout(&mut sim, ConnId(1));
    assert!(sim.core.accept(ConnId(2), IpAddr::from(GUESSER), sim.now));
    let guess = |sim: &mut Sim| {
        let f = ask(sim, ConnId(2), hello("alice", Some("a guess, wrong")));
        assert_eq!(error(&f).0, ErrorCode::BadPassword, "{f:?}");
    };
    let guesser_locked_out = |sim: &mut Sim| {
        let f = ask(sim, ConnId(2), hello("alice", Some(pw)));
        let (code, message) = error(&f);
        assert_eq!(code, ErrorCode::TooManyAttempts, "{message}");
        assert!(message.contains("from your address"), "{message}");
    };
    let owner_gets_in = |sim: &mut Sim, conn: u64| {
        let f = fresh(sim, ConnId(conn), HOME, hello("alice", Some(pw)));
        welcomed(&f, "the owner, from home");
        logout(sim, ConnId(conn));
    };
    // Three wrong guesses in a row: the guesser is locked out...
    for _ in 0..3 {
        guess(&mut sim);
    }
    guesser_locked_out(&mut sim);
    // ...and the owner, from another address, is not delayed.
    owner_gets_in(&mut sim, 100);
    // One guess per window keeps the guesser out, never the owner.
    for round in 0..5 {
        sim.advance(5 * 60 * 1000 + 1); // past the longest lockout
        guess(&mut sim);
        guesser_locked_out(&mut sim);
        owner_gets_in(&mut sim, 101 + round);
    }
}
