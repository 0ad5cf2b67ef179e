//! Resending, held names, catch-up, offline messages and history, on a fake clock.

use super::*;

fn dm(to: &str, text: &str, cid: &str) -> C {
    C::PrivateMsg {
        to: to.into(),
        text: text.into(),
        cid: Some(cid.into()),
    }
}

fn hello_resume(name: &str, session: Option<String>, since: Option<u64>, rooms: &[&str]) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: Some(crate::protocol::Resume {
            session,
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            since,
        }),
        password: None,
    }
}

#[test]
fn a_resent_cid_gets_the_original_id_and_is_not_delivered_again() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.send(ConnId(1), say("general", "once"), at(1));
    let first = h.take();
    h.send(ConnId(1), say("general", "once"), at(2));
    let again = h.take();
    assert_eq!(again.len(), 1, "only an ack: {again:?}");
    let (
        S::Ack { id: a, .. },
        S::Ack {
            id: b, duplicate, ..
        },
    ) = (&first[0].1, &again[0].1)
    else {
        panic!("{first:?} {again:?}")
    };
    assert_eq!((a, *duplicate), (b, true));
    assert_eq!(h.core.last_id(), 1);
}

/// A `hello` for `name` with `password` (registering the name on first use).
fn hello_pw(name: &str, password: &str) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(crate::protocol::Secret::from(password)),
    }
}

#[test]
fn private_messages_to_offline_users_wait_for_their_next_login() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    // bob registers his name: only a registered name's messages wait for it.
    h.core.connect(ConnId(2));
    h.send(ConnId(2), hello_pw("bob", "bob's password"), at(0));
    let out = h.to(ConnId(2));
    assert!(matches!(out.first(), Some(S::Welcome { .. })), "{out:?}");
    // carol stays open (no password).
    h.login(ConnId(5), "carol");
    h.core.handle(ConnId(2), C::Logout {}, at(1));
    h.core.handle(ConnId(5), C::Logout {}, at(1));
    h.take();
    h.core.disconnect(ConnId(2), Gone::Abrupt, at(1));
    h.core.disconnect(ConnId(5), Gone::Abrupt, at(1));
    h.send(ConnId(1), dm("bob", "while you were out", "c9"), at(2));
    assert!(matches!(&h.to(ConnId(1))[0], S::Ack { recipients: 1, .. }));
    h.send(ConnId(1), dm("nobody", "hello?", "c10"), at(2));
    assert!(matches!(
        &h.to(ConnId(1))[0],
        S::Error {
            code: ErrorCode::UnknownUser,
            ..
        }
    ));
    // An offline open name has nobody to keep messages for: refused.
    h.send(ConnId(1), dm("carol", "are you there?", "c11"), at(2));
    assert!(matches!(
        &h.to(ConnId(1))[0],
        S::Error {
            code: ErrorCode::UnknownUser,
            ..
        }
    ));
    // bob comes back on a fresh client: the held message arrives, marked missed.
    h.core.connect(ConnId(3));
    h.send(ConnId(3), hello_pw("bob", "bob's password"), at(3));
    let out = h.to(ConnId(3));
    assert!(matches!(out.first(), Some(S::Welcome { .. })), "{out:?}");
    let held: Vec<&S> = out
        .iter()
        .filter(|m| matches!(m, S::Message { .. }))
        .collect();
    assert!(
        matches!(held[..], [S::Message { text, replay: Some(crate::protocol::Replay::Missed), .. }] if text == "while you were out"),
        "{out:?}"
    );
    assert!(matches!(out.last(), Some(S::Synced { count: 1, .. })));
    // Once bob's client says delivered, alice hears of it and it is not held again.
    h.send(
        ConnId(3),
        C::Receipt {
            kind: ReceiptKind::Delivered,
            room: None,
            peer: Some("alice".into()),
            up_to: 1,
        },
        at(4),
    );
    assert!(
        matches!(&h.to(ConnId(1))[0], S::Receipts { markers, .. } if markers[0].delivered == 1)
    );
    h.send(ConnId(3), C::Logout {}, at(5));
    h.take();
    h.core.disconnect(ConnId(3), Gone::Abrupt, at(5));
    h.core.connect(ConnId(4));
    h.send(ConnId(4), hello_pw("bob", "bob's password"), at(6));
    let out = h.to(ConnId(4));
    assert!(matches!(out.first(), Some(S::Welcome { .. })), "{out:?}");
    assert!(!out.iter().any(|m| matches!(m, S::Message { .. })));
}

#[test]
fn a_dropped_name_is_held_for_its_session_then_released() {
    let mut h = Harness::new();
    h.core.connect(ConnId(1));
    h.send(ConnId(1), hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(ConnId(1)).remove(0) else {
        panic!()
    };
    h.core.disconnect(ConnId(1), Gone::Abrupt, at(1_000));
    // Someone else cannot take it during the grace period.
    h.core.connect(ConnId(2));
    h.send(ConnId(2), hello_resume("alice", None, None, &[]), at(2_000));
    assert!(
        matches!(&h.to(ConnId(2))[0], S::Error { code: ErrorCode::NameTaken, message, .. } if message.contains("held"))
    );
    assert_eq!(h.core.next_deadline(), Some(31_000));
    // The owner can, with its token.
    h.send(
        ConnId(2),
        hello_resume("alice", Some(session), None, &[]),
        at(3_000),
    );
    assert!(matches!(&h.to(ConnId(2))[0], S::Welcome { .. }));
    // After a drop and the grace period, anyone can.
    h.core.disconnect(ConnId(2), Gone::Abrupt, at(4_000));
    h.core.tick(at(34_000));
    h.core.connect(ConnId(3));
    h.send(
        ConnId(3),
        hello_resume("alice", None, None, &[]),
        at(34_001),
    );
    assert!(matches!(&h.to(ConnId(3))[0], S::Welcome { .. }));
}

#[test]
fn a_resumed_session_keeps_its_token_so_a_lost_welcome_does_not_lock_the_owner_out() {
    let mut h = Harness::new();
    h.core.connect(ConnId(1));
    h.send(ConnId(1), hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(ConnId(1)).remove(0) else {
        panic!()
    };
    h.core.disconnect(ConnId(1), Gone::Abrupt, at(1_000));
    // The resume is accepted, but its welcome never reaches the client.
    h.core.connect(ConnId(2));
    h.send(
        ConnId(2),
        hello_resume("alice", Some(session.clone()), None, &[]),
        at(2_000),
    );
    assert!(matches!(&h.to(ConnId(2))[0], S::Welcome { session: s, .. } if *s == session));
    h.core.disconnect(ConnId(2), Gone::Abrupt, at(2_100));
    // The client tries again with the token it has.
    h.core.connect(ConnId(3));
    h.send(
        ConnId(3),
        hello_resume("alice", Some(session), None, &[]),
        at(2_200),
    );
    assert!(matches!(&h.to(ConnId(3))[0], S::Welcome { .. }));
}

#[test]
fn a_session_token_takes_over_a_half_open_connection() {
    let mut h = Harness::new();
    h.core.connect(ConnId(1));
    h.send(ConnId(1), hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(ConnId(1)).remove(0) else {
        panic!()
    };
    h.core.connect(ConnId(2));
    h.send(
        ConnId(2),
        hello_resume("alice", Some(session), None, &[]),
        at(10),
    );
    h.core.end_of_turn();
    let out: Vec<_> = h.core.drain().collect();
    assert!(out
        .iter()
        .any(|(c, o)| *c == ConnId(1) && matches!(o, Output::Close(_))));
    assert_eq!(h.core.names.get("alice"), Some(&ConnId(2)));
}

#[test]
fn reconnect_with_since_replays_missed_room_and_private_messages() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.send(ConnId(1), C::Join { room: "dev".into() }, at(0));
    h.send(ConnId(2), C::Join { room: "dev".into() }, at(0));
    h.send(ConnId(1), say("general", "seen"), at(1));
    h.take();
    h.core.disconnect(ConnId(2), Gone::Abrupt, at(2));
    h.send(ConnId(1), say("general", "missed 1"), at(3));
    h.send(ConnId(1), say("dev", "missed 2"), at(4));
    h.send(ConnId(1), dm("bob", "missed 3", "d1"), at(5));
    h.take();
    let token = h.core.tokens.get("bob").cloned();
    h.core.connect(ConnId(3));
    h.send(
        ConnId(3),
        hello_resume("bob", token, Some(1), &["general", "dev"]),
        at(6),
    );
    let out = h.to(ConnId(3));
    let texts: Vec<&str> = out
        .iter()
        .filter_map(|m| match m {
            S::Message {
                text,
                replay: Some(_),
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["missed 1", "missed 2", "missed 3"]);
    assert!(out.iter().any(|m| matches!(
        m,
        S::Synced {
            count: 3,
            last_id: 4
        }
    )));
    let S::Welcome { rooms, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(rooms, &["general", "dev"]);
}

#[test]
fn history_pages_backwards() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    for i in 0..10 {
        h.send(
            ConnId(1),
            C::RoomMsg {
                room: "general".into(),
                text: format!("m{i}"),
                cid: None,
            },
            at(i),
        );
    }
    h.take();
    h.send(
        ConnId(1),
        C::History {
            room: Some("general".into()),
            peer: None,
            before: Some(8),
            limit: 3,
        },
        at(20),
    );
    let out = h.to(ConnId(1));
    let texts: Vec<&str> = out
        .iter()
        .filter_map(|m| match m {
            S::Message { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["m4", "m5", "m6"]);
    assert!(matches!(
        out.last(),
        Some(S::HistoryEnd {
            count: 3,
            more: true,
            ..
        })
    ));
}
