//! Unit tests of the state machine on a fake clock: frames in, frames out.

use super::*;
use crate::protocol::{
    CallEnd, ClientMsg as C, ErrorCode, Media, ReceiptKind, ServerMsg as S, Status,
};

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

struct Harness {
    core: Core,
    runner: crate::sim::Runner,
}

impl Harness {
    fn new() -> Self {
        Harness {
            core: Core::new(Config::default()),
            runner: crate::sim::Runner::new(),
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
        self.runner.run(&mut self.core, at(0));
        self.core
            .drain()
            .filter_map(|(c, o)| match o {
                Output::Frame(b, _) => Some((c, crate::protocol::binary::server_msg(&b).unwrap())),
                Output::Close(_) | Output::Resume => None,
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
fn a_session_is_80_bytes() {
    // One per connection: what few sessions set is boxed (`Rare`).
    assert!(std::mem::size_of::<Session>() <= 80);
}

#[test]
fn login_welcomes_and_joins_general() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.core.connect(ConnId(2));
    h.send(
        ConnId(2),
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
    assert!(matches!(&out[0], (ConnId(2), S::Welcome { name, .. }) if name == "bob"));
    assert!(
        matches!(&out[1], (ConnId(2), S::Joined { room, members, created: false }) if room == "general" && members == &["alice", "bob"])
    );
    assert!(
        matches!(&out[2], (ConnId(1), S::Notice { text, .. }) if text == "bob joined #general")
    );
}

#[test]
fn duplicate_name_and_bad_version() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.core.connect(ConnId(2));
    let hello = |v| C::Hello {
        version: v,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: None,
    };
    h.send(ConnId(2), hello(1), at(0));
    assert!(matches!(
        &h.to(ConnId(2))[0],
        S::Error {
            code: ErrorCode::NameTaken,
            ..
        }
    ));
    h.send(ConnId(2), hello(9), at(0));
    h.core.end_of_turn();
    let out: Vec<_> = h.core.drain().collect();
    assert!(matches!(out.last(), Some((ConnId(2), Output::Close(_)))));
}

#[test]
fn room_message_is_encoded_once_for_all_members() {
    let mut h = Harness::new();
    for (c, n) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        h.login(ConnId(c), n);
    }
    h.send(ConnId(1), say("general", "hi"), at(5));
    assert_eq!(
        h.core.drain().count(),
        0,
        "nothing shown before it is stored"
    );
    h.core.end_of_turn();
    h.runner.run(&mut h.core, at(5));
    let frames: Vec<_> = h.core.drain().collect();
    let shared: Vec<&Rc<[u8]>> = frames
        .iter()
        .filter(|(c, _)| *c != ConnId(1))
        .map(|(_, o)| match o {
            Output::Frame(b, _) => b,
            Output::Close(_) | Output::Resume => panic!("not a frame"),
        })
        .collect();
    assert_eq!(shared.len(), 3);
    assert!(shared.windows(2).all(|w| Rc::ptr_eq(w[0], w[1])));
}

#[test]
fn rooms_isolate_and_ack_counts_recipients() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.login(ConnId(3), "carol");
    h.send(ConnId(1), C::Join { room: "dev".into() }, at(0));
    h.send(ConnId(2), C::Join { room: "dev".into() }, at(0));
    h.take();
    h.send(ConnId(1), say("dev", "ship it"), at(10));
    let out = h.take();
    assert!(
        out.iter().all(|(c, _)| *c != ConnId(3)),
        "carol is not in #dev"
    );
    assert!(out.iter().any(|(c, m)| *c == ConnId(1)
        && matches!(
            m,
            S::Ack {
                recipients: 1,
                cid: Some(_),
                ..
            }
        )));
    assert!(
        out.iter()
            .any(|(c, m)| *c == ConnId(2)
                && matches!(m, S::Message { text, .. } if text == "ship it"))
    );
    h.send(ConnId(3), say("dev", "let me in"), at(11));
    assert!(matches!(
        &h.to(ConnId(3))[0],
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
        h.login(ConnId(c), n);
    }
    h.send(ConnId(1), say("general", "one"), at(1));
    h.send(ConnId(1), say("general", "two"), at(2));
    h.take();
    let rc = |kind, up_to| C::Receipt {
        kind,
        room: Some("general".into()),
        peer: None,
        up_to,
    };
    // bob and carol each acknowledge twice within one turn.
    h.send(ConnId(2), rc(ReceiptKind::Delivered, 1), at(3));
    h.send(ConnId(2), rc(ReceiptKind::Read, 2), at(3));
    h.send(ConnId(3), rc(ReceiptKind::Delivered, 2), at(3));
    h.send(ConnId(3), rc(ReceiptKind::Delivered, 99), at(3));
    let out = h.to(ConnId(1));
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
    h.send(ConnId(2), rc(ReceiptKind::Read, 1), at(4));
    assert!(h.to(ConnId(1)).is_empty());
}

#[test]
fn dm_receipts_reach_the_sender() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.send(
        ConnId(1),
        C::PrivateMsg {
            to: "bob".into(),
            text: "psst".into(),
            cid: None,
        },
        at(1),
    );
    h.take();
    h.send(
        ConnId(2),
        C::Receipt {
            kind: ReceiptKind::Read,
            room: None,
            peer: Some("alice".into()),
            up_to: 1,
        },
        at(2),
    );
    let out = h.to(ConnId(1));
    assert!(
        matches!(&out[..], [S::Receipts { peer: Some(p), markers, .. }] if p == "bob" && markers[0].read == 1)
    );
}

#[test]
fn typing_expires_without_refresh_and_message_clears_it() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    let typing = C::Typing {
        room: Some("general".into()),
        to: None,
        active: true,
    };
    h.send(ConnId(1), typing.clone(), at(1_000));
    assert!(matches!(
        &h.to(ConnId(2))[0],
        S::Typing { active: true, .. }
    ));
    assert_eq!(h.core.next_deadline(), Some(6_000));
    h.core.tick(at(5_999));
    assert!(h.to(ConnId(2)).is_empty());
    h.core.tick(at(6_000));
    assert!(
        matches!(&h.to(ConnId(2))[0], S::Typing { active: false, from, .. } if from == "alice")
    );
    assert!(!h.core.typing.is_active("alice"));

    h.send(ConnId(1), typing, at(7_000));
    h.take();
    h.send(ConnId(1), say("general", "done"), at(7_500));
    let out = h.to(ConnId(2));
    assert!(matches!(&out[0], S::Typing { active: false, .. }));
    assert!(matches!(&out[1], S::Message { .. }));
    assert_eq!(h.core.next_deadline(), None);
}

#[test]
fn status_reaches_room_sharers_only() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.core.connect(ConnId(3));
    h.send(
        ConnId(3),
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
        ConnId(1),
        C::SetStatus {
            status: Status::Away,
            message: None,
        },
        at(1),
    );
    let out = h.take();
    let to: Vec<ConnId> = out.iter().map(|(c, _)| *c).collect();
    assert_eq!(to, vec![ConnId(1), ConnId(2)]);
    h.send(ConnId(3), C::ListUsers {}, at(2));
    let S::UserList { users } = &h.to(ConnId(3))[0] else {
        panic!()
    };
    assert_eq!(users[0].name, "alice");
    assert_eq!(users[0].status, Status::Away);
    assert_eq!(users[2].rooms, vec!["quiet".to_string()]);
}

#[test]
fn calls_ring_busy_accept_and_miss() {
    let mut h = Harness::new();
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.login(ConnId(3), "carol");
    h.send(
        ConnId(1),
        C::Call {
            to: "bob".into(),
            media: Media::Video,
        },
        at(0),
    );
    let out = h.take();
    assert!(matches!(
        &out[0],
        (ConnId(1), S::CallRinging { call: 1, .. })
    ));
    assert!(matches!(
        &out[1],
        (
            ConnId(2),
            S::CallIncoming {
                call: 1,
                media: Media::Video,
                ..
            }
        )
    ));
    // carol calls bob: busy.
    h.send(
        ConnId(3),
        C::Call {
            to: "bob".into(),
            media: Media::Voice,
        },
        at(1),
    );
    assert!(matches!(
        &h.to(ConnId(3))[0],
        S::CallEnded {
            reason: CallEnd::Busy,
            ..
        }
    ));
    // alice cannot accept her own call.
    h.send(ConnId(1), C::CallAccept { call: 1 }, at(2));
    assert!(matches!(
        &h.to(ConnId(1))[0],
        S::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    h.send(ConnId(2), C::CallAccept { call: 1 }, at(3));
    assert_eq!(h.take().len(), 2);
    assert_eq!(
        h.core.next_deadline(),
        None,
        "accepted calls do not time out"
    );
    h.send(ConnId(2), C::Hangup { call: 1 }, at(4));
    let out = h.take();
    assert!(out
        .iter()
        .all(|(_, m)| matches!(m, S::CallEnded { reason: CallEnd::Hangup, by: Some(b), .. } if b == "bob")));
    // Unanswered: missed after 30 s.
    h.send(
        ConnId(3),
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
    h.login(ConnId(1), "alice");
    h.login(ConnId(2), "bob");
    h.send(
        ConnId(1),
        C::Call {
            to: "bob".into(),
            media: Media::Voice,
        },
        at(0),
    );
    h.take();
    h.core.disconnect(ConnId(1), Gone::Abrupt, at(1));
    let out = h.to(ConnId(2));
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
    h.login(ConnId(3), "alice");
    assert_eq!(h.core.online(), 2);
}

#[test]
fn frames_before_login_are_refused() {
    let mut h = Harness::new();
    h.core.connect(ConnId(1));
    h.send(ConnId(1), C::ListUsers {}, at(0));
    assert!(
        matches!(&h.to(ConnId(1))[0], S::Error { code: ErrorCode::NotLoggedIn, re: Some(r), .. } if r == "list_users")
    );
    h.send(ConnId(1), C::Ping { seq: Some(3) }, at(0));
    assert_eq!(h.to(ConnId(1))[0], S::Pong { seq: Some(3) });
}

mod history;
