//! Unit tests of the state machine on a fake clock: frames in, frames out.

use super::*;
use crate::protocol::{
    parse_body, CallEnd, ClientMsg as C, ErrorCode, Media, ReceiptKind, ServerMsg as S, Status,
};

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

struct Harness {
    core: Core,
}

impl Harness {
    fn new() -> Self {
        Harness {
            core: Core::new(Config::default()),
        }
    }

    fn login(&mut self, conn: ConnId, name: &str) {
        self.core.connect(conn);
        self.core.handle(
            conn,
            C::Hello {
                version: 1,
                name: name.into(),
                room: None,
                status: None,
                resume: None,
                password: None,
            },
            at(0),
        );
        self.take();
    }

    fn send(&mut self, conn: ConnId, msg: C, now: Now) {
        self.core.handle(conn, msg, now);
    }

    /// Everything queued, decoded, after an end of turn.
    fn take(&mut self) -> Vec<(ConnId, S)> {
        self.core.end_of_turn();
        self.core
            .drain()
            .filter_map(|(c, o)| match o {
                Output::Frame(b, _) => Some((c, parse_body::<S>(&b[4..]).unwrap())),
                Output::Close(_) => None,
            })
            .collect()
    }

    fn to(&mut self, conn: ConnId) -> Vec<S> {
        self.take()
            .into_iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, m)| m)
            .collect()
    }
}

fn say(room: &str, text: &str) -> C {
    C::RoomMsg {
        room: room.into(),
        text: text.into(),
        cid: Some(format!("cid-{text}")),
    }
}

#[test]
fn login_welcomes_and_joins_general() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.core.connect(2);
    h.send(
        2,
        C::Hello {
            version: 1,
            name: "bob".into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        },
        at(0),
    );
    let out = h.take();
    assert!(matches!(&out[0], (2, S::Welcome { name, .. }) if name == "bob"));
    assert!(
        matches!(&out[1], (2, S::Joined { room, members, created: false }) if room == "general" && members == &["alice", "bob"])
    );
    assert!(matches!(&out[2], (1, S::Notice { text, .. }) if text == "bob joined #general"));
}

#[test]
fn duplicate_name_and_bad_version() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.core.connect(2);
    let hello = |v| C::Hello {
        version: v,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: None,
    };
    h.send(2, hello(1), at(0));
    assert!(matches!(
        &h.to(2)[0],
        S::Error {
            code: ErrorCode::NameTaken,
            ..
        }
    ));
    h.send(2, hello(9), at(0));
    h.core.end_of_turn();
    let out: Vec<_> = h.core.drain().collect();
    assert!(matches!(out.last(), Some((2, Output::Close(_)))));
}

#[test]
fn room_message_is_encoded_once_for_all_members() {
    let mut h = Harness::new();
    for (c, n) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        h.login(c, n);
    }
    h.send(1, say("general", "hi"), at(5));
    let frames: Vec<_> = h.core.drain().collect();
    let shared: Vec<&Rc<[u8]>> = frames
        .iter()
        .filter(|(c, _)| *c != 1)
        .map(|(_, o)| match o {
            Output::Frame(b, _) => b,
            Output::Close(_) => panic!("close"),
        })
        .collect();
    assert_eq!(shared.len(), 3);
    assert!(shared.windows(2).all(|w| Rc::ptr_eq(w[0], w[1])));
}

#[test]
fn rooms_isolate_and_ack_counts_recipients() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.login(3, "carol");
    h.send(1, C::Join { room: "dev".into() }, at(0));
    h.send(2, C::Join { room: "dev".into() }, at(0));
    h.take();
    h.send(1, say("dev", "ship it"), at(10));
    let out = h.take();
    assert!(out.iter().all(|(c, _)| *c != 3), "carol is not in #dev");
    assert!(out.iter().any(|(c, m)| *c == 1
        && matches!(
            m,
            S::Ack {
                recipients: 1,
                cid: Some(_),
                ..
            }
        )));
    assert!(out
        .iter()
        .any(|(c, m)| *c == 2 && matches!(m, S::Message { text, .. } if text == "ship it")));
    h.send(3, say("dev", "let me in"), at(11));
    assert!(matches!(
        &h.to(3)[0],
        S::Error {
            code: ErrorCode::NotInRoom,
            ..
        }
    ));
}

#[test]
fn receipts_are_coalesced_per_turn() {
    let mut h = Harness::new();
    for (c, n) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        h.login(c, n);
    }
    h.send(1, say("general", "one"), at(1));
    h.send(1, say("general", "two"), at(2));
    h.take();
    let rc = |kind, up_to| C::Receipt {
        kind,
        room: Some("general".into()),
        peer: None,
        up_to,
    };
    // bob and carol each acknowledge twice within one turn.
    h.send(2, rc(ReceiptKind::Delivered, 1), at(3));
    h.send(2, rc(ReceiptKind::Read, 2), at(3));
    h.send(3, rc(ReceiptKind::Delivered, 2), at(3));
    h.send(3, rc(ReceiptKind::Delivered, 99), at(3));
    let out = h.to(1);
    assert_eq!(out.len(), 1, "one receipts frame for alice: {out:?}");
    let S::Receipts { markers, room, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(room.as_deref(), Some("general"));
    assert_eq!(markers.len(), 2);
    assert_eq!(
        (
            markers[0].user.as_str(),
            markers[0].delivered,
            markers[0].read
        ),
        ("bob", 2, 2)
    );
    assert_eq!(
        (
            markers[1].user.as_str(),
            markers[1].delivered,
            markers[1].read
        ),
        ("carol", 2, 0)
    );
    // Markers never move back and a repeat sends nothing.
    h.send(2, rc(ReceiptKind::Read, 1), at(4));
    assert!(h.to(1).is_empty());
}

#[test]
fn dm_receipts_reach_the_sender() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.send(
        1,
        C::PrivateMsg {
            to: "bob".into(),
            text: "psst".into(),
            cid: None,
        },
        at(1),
    );
    h.take();
    h.send(
        2,
        C::Receipt {
            kind: ReceiptKind::Read,
            room: None,
            peer: Some("alice".into()),
            up_to: 1,
        },
        at(2),
    );
    let out = h.to(1);
    assert!(
        matches!(&out[..], [S::Receipts { peer: Some(p), markers, .. }] if p == "bob" && markers[0].read == 1)
    );
}

#[test]
fn typing_expires_without_refresh_and_message_clears_it() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    let typing = C::Typing {
        room: Some("general".into()),
        to: None,
        active: true,
    };
    h.send(1, typing.clone(), at(1_000));
    assert!(matches!(&h.to(2)[0], S::Typing { active: true, .. }));
    assert_eq!(h.core.next_deadline(), Some(6_000));
    h.core.tick(at(5_999));
    assert!(h.to(2).is_empty());
    h.core.tick(at(6_000));
    assert!(matches!(&h.to(2)[0], S::Typing { active: false, from, .. } if from == "alice"));
    assert!(!h.core.typing.is_active("alice"));

    h.send(1, typing, at(7_000));
    h.take();
    h.send(1, say("general", "done"), at(7_500));
    let out = h.to(2);
    assert!(matches!(&out[0], S::Typing { active: false, .. }));
    assert!(matches!(&out[1], S::Message { .. }));
    assert_eq!(h.core.next_deadline(), None);
}

#[test]
fn status_reaches_room_sharers_only() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.core.connect(3);
    h.send(
        3,
        C::Hello {
            version: 1,
            name: "loner".into(),
            room: Some("quiet".into()),
            status: None,
            resume: None,
            password: None,
        },
        at(0),
    );
    h.take();
    h.send(
        1,
        C::SetStatus {
            status: Status::Away,
        },
        at(1),
    );
    let out = h.take();
    let to: Vec<ConnId> = out.iter().map(|(c, _)| *c).collect();
    assert_eq!(to, vec![1, 2]);
    h.send(3, C::ListUsers, at(2));
    let S::UserList { users } = &h.to(3)[0] else {
        panic!()
    };
    assert_eq!(users[0].name, "alice");
    assert_eq!(users[0].status, Status::Away);
    assert_eq!(users[2].rooms, vec!["quiet".to_string()]);
}

#[test]
fn calls_ring_busy_accept_and_miss() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.login(3, "carol");
    h.send(
        1,
        C::Call {
            to: "bob".into(),
            media: Media::Video,
        },
        at(0),
    );
    let out = h.take();
    assert!(matches!(&out[0], (1, S::CallRinging { call: 1, .. })));
    assert!(matches!(
        &out[1],
        (
            2,
            S::CallIncoming {
                call: 1,
                media: Media::Video,
                ..
            }
        )
    ));
    // carol calls bob: busy.
    h.send(
        3,
        C::Call {
            to: "bob".into(),
            media: Media::Voice,
        },
        at(1),
    );
    assert!(matches!(
        &h.to(3)[0],
        S::CallEnded {
            reason: CallEnd::Busy,
            ..
        }
    ));
    // alice cannot accept her own call.
    h.send(1, C::CallAccept { call: 1 }, at(2));
    assert!(matches!(
        &h.to(1)[0],
        S::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    h.send(2, C::CallAccept { call: 1 }, at(3));
    assert_eq!(h.take().len(), 2);
    assert_eq!(
        h.core.next_deadline(),
        None,
        "accepted calls do not time out"
    );
    h.send(2, C::Hangup { call: 1 }, at(4));
    let out = h.take();
    assert!(out
        .iter()
        .all(|(_, m)| matches!(m, S::CallEnded { reason: CallEnd::Hangup, by: Some(b), .. } if b == "bob")));
    // Unanswered: missed after 30 s.
    h.send(
        3,
        C::Call {
            to: "alice".into(),
            media: Media::Voice,
        },
        at(10_000),
    );
    h.take();
    h.core.tick(at(39_999));
    assert!(h.take().is_empty());
    h.core.tick(at(40_000));
    let out = h.take();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, m)| matches!(
        m,
        S::CallEnded {
            reason: CallEnd::Missed,
            ..
        }
    )));
}

#[test]
fn disconnect_leaves_rooms_and_ends_calls() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.send(
        1,
        C::Call {
            to: "bob".into(),
            media: Media::Voice,
        },
        at(0),
    );
    h.take();
    h.core.disconnect(1, Gone::Abrupt, at(1));
    let out = h.to(2);
    assert!(out.iter().any(|m| matches!(
        m,
        S::CallEnded {
            reason: CallEnd::Disconnected,
            ..
        }
    )));
    assert!(out.iter().any(
        |m| matches!(m, S::Notice { text, .. } if text == "alice left #general (disconnected)")
    ));
    // The name is held for alice's client during the grace period, then free.
    h.core.tick(at(1 + Config::default().grace_ms));
    h.login(3, "alice");
    assert_eq!(h.core.online(), 2);
}

#[test]
fn frames_before_login_are_refused() {
    let mut h = Harness::new();
    h.core.connect(1);
    h.send(1, C::ListUsers, at(0));
    assert!(
        matches!(&h.to(1)[0], S::Error { code: ErrorCode::NotLoggedIn, re: Some(r), .. } if r == "list_users")
    );
    h.send(1, C::Ping { seq: Some(3) }, at(0));
    assert_eq!(h.to(1)[0], S::Pong { seq: Some(3) });
}

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
    h.login(1, "alice");
    h.login(2, "bob");
    h.send(1, say("general", "once"), at(1));
    let first = h.take();
    h.send(1, say("general", "once"), at(2));
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

#[test]
fn private_messages_to_offline_users_wait_for_their_next_login() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.core.handle(2, C::Logout, at(1));
    h.take();
    h.core.disconnect(2, Gone::Abrupt, at(1));
    h.send(1, dm("bob", "while you were out", "c9"), at(2));
    assert!(matches!(&h.to(1)[0], S::Ack { recipients: 1, .. }));
    h.send(1, dm("nobody", "hello?", "c10"), at(2));
    assert!(matches!(
        &h.to(1)[0],
        S::Error {
            code: ErrorCode::UnknownUser,
            ..
        }
    ));
    // bob comes back on a fresh client: the held message arrives, marked missed.
    h.core.connect(3);
    h.send(
        3,
        C::Hello {
            version: 1,
            name: "bob".into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        },
        at(3),
    );
    let out = h.to(3);
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
        3,
        C::Receipt {
            kind: ReceiptKind::Delivered,
            room: None,
            peer: Some("alice".into()),
            up_to: 1,
        },
        at(4),
    );
    assert!(matches!(&h.to(1)[0], S::Receipts { markers, .. } if markers[0].delivered == 1));
    h.send(3, C::Logout, at(5));
    h.take();
    h.core.disconnect(3, Gone::Abrupt, at(5));
    h.core.connect(4);
    h.send(
        4,
        C::Hello {
            version: 1,
            name: "bob".into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        },
        at(6),
    );
    assert!(!h.to(4).iter().any(|m| matches!(m, S::Message { .. })));
}

#[test]
fn a_dropped_name_is_held_for_its_session_then_released() {
    let mut h = Harness::new();
    h.core.connect(1);
    h.send(1, hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(1).remove(0) else {
        panic!()
    };
    h.core.disconnect(1, Gone::Abrupt, at(1_000));
    // Someone else cannot take it during the grace period.
    h.core.connect(2);
    h.send(2, hello_resume("alice", None, None, &[]), at(2_000));
    assert!(
        matches!(&h.to(2)[0], S::Error { code: ErrorCode::NameTaken, message, .. } if message.contains("held"))
    );
    assert_eq!(h.core.next_deadline(), Some(31_000));
    // The owner can, with its token.
    h.send(
        2,
        hello_resume("alice", Some(session), None, &[]),
        at(3_000),
    );
    assert!(matches!(&h.to(2)[0], S::Welcome { .. }));
    // After a drop and the grace period, anyone can.
    h.core.disconnect(2, Gone::Abrupt, at(4_000));
    h.core.tick(at(34_000));
    h.core.connect(3);
    h.send(3, hello_resume("alice", None, None, &[]), at(34_001));
    assert!(matches!(&h.to(3)[0], S::Welcome { .. }));
}

#[test]
fn a_resumed_session_keeps_its_token_so_a_lost_welcome_does_not_lock_the_owner_out() {
    let mut h = Harness::new();
    h.core.connect(1);
    h.send(1, hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(1).remove(0) else {
        panic!()
    };
    h.core.disconnect(1, Gone::Abrupt, at(1_000));
    // The resume is accepted, but its welcome never reaches the client.
    h.core.connect(2);
    h.send(
        2,
        hello_resume("alice", Some(session.clone()), None, &[]),
        at(2_000),
    );
    assert!(matches!(&h.to(2)[0], S::Welcome { session: s, .. } if *s == session));
    h.core.disconnect(2, Gone::Abrupt, at(2_100));
    // The client tries again with the token it has.
    h.core.connect(3);
    h.send(
        3,
        hello_resume("alice", Some(session), None, &[]),
        at(2_200),
    );
    assert!(matches!(&h.to(3)[0], S::Welcome { .. }));
}

#[test]
fn a_session_token_takes_over_a_half_open_connection() {
    let mut h = Harness::new();
    h.core.connect(1);
    h.send(1, hello_resume("alice", None, None, &[]), at(0));
    let S::Welcome { session, .. } = h.to(1).remove(0) else {
        panic!()
    };
    h.core.connect(2);
    h.send(2, hello_resume("alice", Some(session), None, &[]), at(10));
    h.core.end_of_turn();
    let out: Vec<_> = h.core.drain().collect();
    assert!(out
        .iter()
        .any(|(c, o)| *c == 1 && matches!(o, Output::Close(_))));
    assert_eq!(h.core.names.get("alice"), Some(&2));
}

#[test]
fn reconnect_with_since_replays_missed_room_and_private_messages() {
    let mut h = Harness::new();
    h.login(1, "alice");
    h.login(2, "bob");
    h.send(1, C::Join { room: "dev".into() }, at(0));
    h.send(2, C::Join { room: "dev".into() }, at(0));
    h.send(1, say("general", "seen"), at(1));
    h.take();
    h.core.disconnect(2, Gone::Abrupt, at(2));
    h.send(1, say("general", "missed 1"), at(3));
    h.send(1, say("dev", "missed 2"), at(4));
    h.send(1, dm("bob", "missed 3", "d1"), at(5));
    h.take();
    let token = h.core.tokens.get("bob").cloned();
    h.core.connect(3);
    h.send(
        3,
        hello_resume("bob", token, Some(1), &["general", "dev"]),
        at(6),
    );
    let out = h.to(3);
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
    h.login(1, "alice");
    for i in 0..10 {
        h.send(
            1,
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
        1,
        C::History {
            room: Some("general".into()),
            peer: None,
            before: Some(8),
            limit: 3,
        },
        at(20),
    );
    let out = h.to(1);
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
