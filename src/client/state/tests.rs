//! Unit tests of the client state machine, on a fake clock.

use super::*;
use crate::client::command::Command;
use crate::client::event::DeliveryState;
use crate::protocol::{CallEnd, ErrorCode, Marker, Media, ReceiptKind};

fn logged_in(t: Instant) -> ClientState {
    let mut s = ClientState::new("alice", "127.0.0.1:5555");
    s.handle(
        ServerMsg::Welcome {
            version: 1,
            name: "alice".into(),
            server: "test".into(),
            rooms: vec!["general".into()],
            session: String::new(),
            last_id: 0,
            boot: 1,
            files_key: None,
            binary_chunks: false,
        },
        t,
    );
    s.handle(
        ServerMsg::Joined {
            room: "general".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            created: false,
        },
        t,
    );
    s
}

fn msg(id: u64, from: &str, room: Option<&str>) -> ServerMsg {
    ServerMsg::Message {
        id,
        ts: 0,
        from: from.into(),
        room: room.map(String::from),
        to: room.is_none().then(|| "alice".to_string()),
        text: "hi".into(),
        replay: None,
    }
}

#[test]
fn send_ack_receipts() {
    let t = Instant::now();
    let mut s = logged_in(t);
    assert_eq!(s.current(), Some("general"));
    let out = s.command(Command::Say("hello".into()), t);
    assert_eq!(
        out.frames,
        vec![ClientMsg::RoomMsg {
            room: "general".into(),
            text: "hello".into(),
            cid: Some("c1".into())
        }]
    );
    let out = s.command(
        Command::Msg {
            to: "bob".into(),
            text: "psst".into(),
        },
        t,
    );
    assert!(matches!(&out.frames[0], ClientMsg::PrivateMsg { cid: Some(c), .. } if c == "c2"));
    assert_eq!(s.pending(), 2);
    let ack = |cid: &str, id| ServerMsg::Ack {
        cid: Some(cid.into()),
        id,
        ts: 0,
        recipients: if id == 10 { 2 } else { 1 },
        duplicate: false,
    };
    let out = s.handle(ack("c1", 10), t);
    assert!(matches!(
        &out.events[0],
        Event::Delivery {
            state: DeliveryState::Sent,
            recipients: 2,
            ..
        }
    ));
    s.handle(ack("c2", 11), t);
    assert_eq!(s.pending(), 0);

    let mk = |u: &str, d, r| Marker {
        user: u.into(),
        delivered: d,
        read: r,
    };
    let out = s.handle(
        ServerMsg::Receipts {
            room: Some("general".into()),
            peer: None,
            markers: vec![mk("bob", 10, 10)],
        },
        t,
    );
    assert!(matches!(
        &out.events[0],
        Event::Delivery {
            state: DeliveryState::Read,
            read: 1,
            recipients: 2,
            ..
        }
    ));
    let out = s.handle(
        ServerMsg::Receipts {
            room: None,
            peer: Some("bob".into()),
            markers: vec![mk("bob", 11, 0)],
        },
        t,
    );
    assert!(matches!(
        &out.events[0],
        Event::Delivery {
            state: DeliveryState::Delivered,
            ..
        }
    ));

    // A failed send is no longer pending.
    s.command(Command::Say("x".into()), t);
    s.handle(
        ServerMsg::Error {
            code: ErrorCode::Invalid,
            message: "too long".into(),
            re: Some("room_msg".into()),
            cid: Some("c3".into()),
        },
        t,
    );
    assert_eq!(s.pending(), 0);
}

#[test]
fn delivered_and_read_receipts() {
    let t = Instant::now();
    let mut s = logged_in(t);
    let mut shown = Vec::new();
    for m in [
        msg(5, "bob", Some("general")),
        msg(6, "carol", Some("general")),
        msg(7, "bob", None),
    ] {
        shown.extend(s.handle(m, t).events);
    }
    let d = s.take_delivered(t);
    assert_eq!(d.len(), 2, "one per conversation: {d:?}");
    assert!(d.contains(&ClientMsg::Receipt {
        kind: ReceiptKind::Delivered,
        room: Some("general".into()),
        peer: None,
        up_to: 6
    }));
    assert!(d.contains(&ClientMsg::Receipt {
        kind: ReceiptKind::Delivered,
        room: None,
        peer: Some("bob".into()),
        up_to: 7
    }));
    // Nothing is read until it was displayed.
    assert!(s.take_read().is_empty());
    s.displayed(&shown[..2]);
    assert_eq!(
        s.take_read(),
        vec![ClientMsg::Receipt {
            kind: ReceiptKind::Read,
            room: Some("general".into()),
            peer: None,
            up_to: 6
        }]
    );
    assert!(s.take_read().is_empty());
}

#[test]
fn typing_expires_with_fake_clock() {
    let t0 = Instant::now();
    let mut s = logged_in(t0);
    let typing = |active| ServerMsg::Typing {
        from: "bob".into(),
        room: Some("general".into()),
        to: None,
        active,
    };
    let out = s.handle(typing(true), t0);
    assert!(matches!(
        &out.events[..],
        [Event::Typing { active: true, .. }]
    ));
    // A refresh is silent and pushes the expiry.
    assert!(s
        .handle(typing(true), t0 + Duration::from_secs(4))
        .events
        .is_empty());
    assert!(s.tick(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(
        s.next_deadline(),
        Some(t0 + Duration::from_secs(4) + TYPING_EXPIRY)
    );
    let ev = s.tick(t0 + Duration::from_secs(10));
    assert!(matches!(
        &ev[..],
        [Event::Typing {
            active: false,
            expired: true,
            ..
        }]
    ));
    assert_eq!(s.next_deadline(), None);
    // The late stop frame is then silent.
    assert!(s
        .handle(typing(false), t0 + Duration::from_secs(11))
        .events
        .is_empty());
    // A message clears the indicator without a "stopped" line.
    s.handle(typing(true), t0);
    let out = s.handle(msg(9, "bob", Some("general")), t0);
    assert!(matches!(&out.events[..], [Event::Message { .. }]));
    assert!(s.tick(t0 + Duration::from_secs(60)).is_empty());
}

#[test]
fn own_typing() {
    let t0 = Instant::now();
    let mut s = logged_in(t0);
    let start = ClientMsg::Typing {
        room: Some("general".into()),
        to: None,
        active: true,
    };
    let stop = ClientMsg::Typing {
        room: Some("general".into()),
        to: None,
        active: false,
    };
    assert_eq!(s.edited("h", t0), vec![start.clone()]);
    assert!(s.edited("he", t0 + Duration::from_secs(1)).is_empty());
    assert_eq!(
        s.edited("hel", t0 + Duration::from_secs(3)),
        vec![start.clone()]
    );
    assert_eq!(
        s.edited("", t0 + Duration::from_secs(4)),
        vec![stop.clone()]
    );
    assert!(s.edited("/join x", t0).is_empty());
    // Submitting text to the same room needs no stop; a command does.
    s.edited("hi", t0);
    assert_eq!(s.submitted(Some(&Command::Say("hi".into()))), None);
    s.edited("hi", t0);
    assert_eq!(s.submitted(Some(&Command::Users)), Some(stop));
    assert_eq!(s.submitted(None), None);
}

#[test]
fn rooms_and_switching() {
    let t = Instant::now();
    let mut s = logged_in(t);
    s.command(Command::Join("rust".into()), t);
    assert_eq!(s.room_ops(), 1);
    s.handle(
        ServerMsg::Joined {
            room: "rust".into(),
            members: vec!["alice".into()],
            created: true,
        },
        t,
    );
    assert_eq!((s.current(), s.room_ops()), (Some("rust"), 0));
    assert_eq!(
        s.command(Command::Switch("general".into()), t).events,
        vec![Event::Switched {
            room: "general".into()
        }]
    );
    assert!(matches!(
        &s.command(Command::Switch("nope".into()), t).events[0],
        Event::Error { code: None, .. }
    ));
    let out = s.command(Command::Leave(None), t);
    assert_eq!(
        out.frames,
        vec![ClientMsg::Leave {
            room: "general".into()
        }]
    );
    let out = s.handle(
        ServerMsg::Left {
            room: "general".into(),
        },
        t,
    );
    assert_eq!(
        out.events[1],
        Event::Switched {
            room: "rust".into()
        }
    );
    assert_eq!(s.current(), Some("rust"));
    s.handle(
        ServerMsg::RoomList {
            rooms: vec![crate::protocol::RoomInfo {
                name: "zoo".into(),
                members: 1,
            }],
        },
        t,
    );
    assert_eq!(s.room_names(), vec!["rust".to_string(), "zoo".to_string()]);
    assert_eq!(s.users(), vec!["bob".to_string(), "carol".to_string()]);
}

#[test]
fn calls_need_no_argument() {
    let t = Instant::now();
    let mut s = logged_in(t);
    assert!(matches!(
        &s.command(Command::AcceptCall, t).events[0],
        Event::Error { .. }
    ));
    s.handle(
        ServerMsg::CallIncoming {
            call: 4,
            from: "bob".into(),
            media: Media::Video,
        },
        t,
    );
    assert_eq!(
        s.command(Command::AcceptCall, t).frames,
        vec![ClientMsg::CallAccept { call: 4 }]
    );
    s.handle(
        ServerMsg::CallAccepted {
            call: 4,
            peer: "bob".into(),
            media: Media::Video,
        },
        t,
    );
    assert!(s.command(Command::DeclineCall, t).frames.is_empty());
    assert_eq!(
        s.command(Command::Hangup, t).frames,
        vec![ClientMsg::Hangup { call: 4 }]
    );
    s.handle(
        ServerMsg::CallEnded {
            call: 4,
            peer: "bob".into(),
            reason: CallEnd::Hangup,
            by: Some("alice".into()),
        },
        t,
    );
    assert!(s.command(Command::Hangup, t).frames.is_empty());
}

#[test]
fn typing_stop_superseded_by_message_is_dropped() {
    let t = Instant::now();
    let mut s = logged_in(t);
    let typing = |from: &str, active| ServerMsg::Typing {
        from: from.into(),
        room: Some("general".into()),
        to: None,
        active,
    };
    let mut events = Vec::new();
    for m in [typing("bob", true), typing("carol", true)] {
        events.extend(s.handle(m, t).events);
    }
    // The server clears bob's typing, then relays his message, in one batch;
    // carol merely stops.
    for m in [
        typing("bob", false),
        typing("carol", false),
        msg(3, "bob", Some("general")),
    ] {
        events.extend(s.handle(m, t).events);
    }
    coalesce(&mut events);
    let kinds: Vec<(String, bool)> = events
        .iter()
        .map(|e| match e {
            Event::Typing { from, active, .. } => (format!("typing {from}"), *active),
            Event::Message { from, .. } => (format!("message {from}"), true),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let want = [
        ("typing bob", true),
        ("typing carol", true),
        ("typing carol", false),
        ("message bob", true),
    ];
    assert_eq!(kinds, want.map(|(k, a)| (k.to_string(), a)));
}

#[test]
fn query_sends_plain_lines_privately_until_switched_back() {
    let t = Instant::now();
    let mut s = logged_in(t);
    s.command(Command::Query(Some("bob".into())), t);
    assert_eq!(s.target(), Some(Conv::Peer("bob".into())));
    let out = s.command(Command::Say("psst".into()), t);
    assert!(
        matches!(&out.frames[..], [ClientMsg::PrivateMsg { to, text, .. }] if to == "bob" && text == "psst"),
        "{out:?}"
    );
    // Typing goes to bob too.
    let typing = s.edited("x", t);
    assert!(
        matches!(&typing[..], [ClientMsg::Typing { room: None, to: Some(p), active: true }] if p == "bob"),
        "{typing:?}"
    );
    // /msg #room says something there without moving the target.
    let out = s.command(
        Command::SayIn {
            room: "general".into(),
            text: "aside".into(),
        },
        t,
    );
    assert!(matches!(&out.frames[..], [ClientMsg::RoomMsg { room, .. }] if room == "general"));
    assert_eq!(s.target(), Some(Conv::Peer("bob".into())));
    // /win 1 (or /switch, or /query alone) goes back to the room.
    s.command(Command::Win(1), t);
    assert_eq!(s.target(), Some(Conv::Room("general".into())));
}

#[test]
fn names_whois_next_and_me() {
    let t = Instant::now();
    let mut s = logged_in(t);
    let out = s.command(Command::Names(None), t);
    assert_eq!(
        out.events,
        vec![Event::Info {
            text: "* #general (3): alice, bob, carol".into()
        }]
    );
    let out = s.command(Command::Whois("bob".into()), t);
    assert_eq!(out.frames, vec![ClientMsg::ListUsers {}]);
    let out = s.handle(
        ServerMsg::UserList {
            users: vec![crate::protocol::UserInfo {
                name: "bob".into(),
                status: crate::protocol::Status::Away,
                rooms: vec!["general".into()],
            }],
        },
        t,
    );
    assert_eq!(
        out.events,
        vec![Event::Info {
            text: "* bob is away, in #general".into()
        }]
    );
    // A private message while #general is the target: /next goes there.
    s.handle(msg(5, "carol", None), t);
    assert_eq!(
        s.activity().get(&Conv::Peer("carol".into())),
        Some(&(1, true))
    );
    s.command(Command::Next, t);
    assert_eq!(s.target(), Some(Conv::Peer("carol".into())));
    assert!(s.activity().is_empty());
    let out = s.command(Command::Me("waves".into()), t);
    assert!(
        matches!(&out.frames[..], [ClientMsg::PrivateMsg { text, .. }] if text == "/me waves"),
        "{out:?}"
    );
}
