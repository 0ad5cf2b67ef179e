//! Away messages, room topics and upload announcements in the simulation:
//! a private message to an away user is answered with their message once
//! per sender and away period; a room's topic is shown on change and on
//! joining, and is kept across a restart, empty room or not; a file put in
//! the store is announced to those who share a room with its uploader.

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, NoticeKind, ServerMsg as S, Status};
use chat::sim::{frames_to, Sim};
use chat::store::history::Retention;

fn dm(to: &str, text: &str) -> C {
    C::PrivateMsg {
        to: to.into(),
        text: text.into(),
        cid: Some(format!("c-{text}")),
    }
}

fn away_notices(frames: &[S]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::Notice {
                event: NoticeKind::Away,
                text,
                ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn topics(frames: &[S]) -> Vec<(String, String, String)> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::Topic {
                room, topic, by, ..
            } => Some((room.clone(), topic.clone(), by.clone())),
            _ => None,
        })
        .collect()
}

fn set_status(sim: &mut Sim, conn: ConnId, status: Status, message: Option<String>) -> Vec<S> {
    ask(sim, conn, C::SetStatus { status, message })
}

fn ask(sim: &mut Sim, conn: ConnId, msg: C) -> Vec<S> {
    sim.send(conn, msg);
    let out = sim.turn();
    frames_to(&out, conn)
}

#[test]
fn a_private_message_to_an_away_user_is_answered_once_per_sender() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    set_status(
        &mut sim,
        ConnId(2),
        Status::Away,
        Some("at lunch until 2".into()),
    );
    let f = ask(&mut sim, ConnId(1), dm("bob", "one"));
    assert_eq!(away_notices(&f), ["bob is away: at lunch until 2"], "{f:?}");
    let f = ask(&mut sim, ConnId(1), dm("bob", "two"));
    assert!(away_notices(&f).is_empty(), "told once: {f:?}");
    let f = ask(&mut sim, ConnId(3), dm("bob", "three"));
    assert_eq!(away_notices(&f).len(), 1, "each sender once: {f:?}");
    // Back (online): nobody is told any more; away again: told again.
    set_status(&mut sim, ConnId(2), Status::Online, None);
    let f = ask(&mut sim, ConnId(1), dm("bob", "four"));
    assert!(away_notices(&f).is_empty(), "{f:?}");
    set_status(&mut sim, ConnId(2), Status::Away, Some("gone home".into()));
    let f = ask(&mut sim, ConnId(1), dm("bob", "five"));
    assert_eq!(away_notices(&f), ["bob is away: gone home"], "{f:?}");
    // Away without a message answers nothing.
    set_status(&mut sim, ConnId(3), Status::Away, None);
    let f = ask(&mut sim, ConnId(1), dm("carol", "six"));
    assert!(away_notices(&f).is_empty(), "{f:?}");
    // One line only: nothing that could forge a line on a terminal.
    let f = set_status(
        &mut sim,
        ConnId(3),
        Status::Away,
        Some("out\n12:00 #general <alice> send me your password".into()),
    );
    assert!(
        matches!(
            &f[..],
            [S::Error {
                code: ErrorCode::Invalid,
                ..
            }]
        ),
        "{f:?}"
    );
    // The message is bounded.
    let f = set_status(&mut sim, ConnId(3), Status::Away, Some("x".repeat(300)));
    assert!(
        matches!(
            &f[..],
            [S::Error {
                code: ErrorCode::Invalid,
                ..
            }]
        ),
        "{f:?}"
    );
}

#[test]
fn a_topic_is_shown_on_change_and_on_join_and_survives_a_restart() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    ask(&mut sim, ConnId(1), C::CreateRoom { room: "dev".into() });
    let set = C::SetTopic {
        room: "dev".into(),
        topic: "release on friday".into(),
    };
    // Only a member may set it.
    let f = ask(&mut sim, ConnId(2), set.clone());
    assert!(
        matches!(
            &f[..],
            [S::Error {
                code: ErrorCode::NotInRoom,
                ..
            }]
        ),
        "{f:?}"
    );
    let f = ask(&mut sim, ConnId(1), set);
    assert_eq!(
        topics(&f),
        [("dev".into(), "release on friday".into(), "alice".into())]
    );
    // bob joins: joined, then the topic.
    let f = ask(&mut sim, ConnId(2), C::Join { room: "dev".into() });
    assert!(matches!(f.first(), Some(S::Joined { .. })), "{f:?}");
    assert_eq!(topics(&f).len(), 1, "{f:?}");
    // One line only.
    let f = ask(
        &mut sim,
        ConnId(2),
        C::SetTopic {
            room: "dev".into(),
            topic: "a\nforged line".into(),
        },
    );
    assert!(
        matches!(
            &f[..],
            [S::Error {
                code: ErrorCode::Invalid,
                ..
            }]
        ),
        "{f:?}"
    );
    // Everyone leaves; the server restarts; the topic is still there.
    ask(&mut sim, ConnId(1), C::Leave { room: "dev".into() });
    ask(&mut sim, ConnId(2), C::Leave { room: "dev".into() });
    sim.restart(Config::default(), Retention::default());
    sim.login(ConnId(3), "carol");
    let f = ask(&mut sim, ConnId(3), C::Join { room: "dev".into() });
    assert_eq!(
        topics(&f),
        [("dev".into(), "release on friday".into(), "alice".into())],
        "{f:?}"
    );
    // Cleared: nobody sees it afterwards, across a restart too.
    let f = ask(
        &mut sim,
        ConnId(3),
        C::SetTopic {
            room: "dev".into(),
            topic: "  ".into(),
        },
    );
    assert_eq!(topics(&f), [("dev".into(), "".into(), "carol".into())]);
    ask(&mut sim, ConnId(3), C::Leave { room: "dev".into() });
    sim.restart(Config::default(), Retention::default());
    sim.login(ConnId(4), "dave");
    let f = ask(&mut sim, ConnId(4), C::Join { room: "dev".into() });
    assert!(topics(&f).is_empty(), "{f:?}");
}

#[test]
fn an_upload_is_announced_to_those_who_share_a_room_with_the_uploader() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut sim = Sim::new(Config::default());
    let catalog = sim.runner.open_store(1 << 20);
    sim.core
        .set_file_store(Some(catalog), chat::core::transfer::FileLimits::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    ask(
        &mut sim,
        ConnId(3),
        C::Leave {
            room: "general".into(),
        },
    );
    let file = b"the quarterly numbers".to_vec();
    let sha: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let f = ask(
        &mut sim,
        ConnId(1),
        C::Upload {
            name: "numbers.txt".into(),
            size: file.len() as u64,
            sha256: sha,
            cid: None,
        },
    );
    let id = f
        .iter()
        .find_map(|m| match m {
            S::FileState { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the upload started");
    sim.send(
        ConnId(1),
        C::FileChunk {
            id,
            offset: 0,
            data: base64::engine::general_purpose::STANDARD.encode(&file),
        },
    );
    let out = sim.turn();
    let notice = |conn| {
        frames_to(&out, conn)
            .iter()
            .filter_map(|m| match m {
                S::Notice {
                    event: NoticeKind::Upload,
                    text,
                    ..
                } => Some(text.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let want =
        "alice uploaded numbers.txt (21 B) to the shared store; /download numbers.txt fetches it";
    assert_eq!(notice(ConnId(2)), [want], "bob shares #general with alice");
    assert_eq!(notice(ConnId(1)), [want], "alice herself");
    assert!(
        notice(ConnId(3)).is_empty(),
        "carol shares no room with alice"
    );
}

#[test]
fn topics_are_bounded_by_the_room_cap_and_the_oldest_empty_ones_go() {
    let mut cfg = Config::default();
    cfg.limits.max_rooms = 5;
    cfg.limits.max_rooms_per_user = 0;
    let mut sim = Sim::new(cfg.clone());
    sim.login(ConnId(1), "mallory");
    // Ten thousand rooms, each given a topic and left.
    for i in 0..10_000 {
        let room = format!("t{i}");
        sim.send(ConnId(1), C::CreateRoom { room: room.clone() });
        sim.send(
            ConnId(1),
            C::SetTopic {
                room: room.clone(),
                topic: format!("topic {i}"),
            },
        );
        sim.send(ConnId(1), C::Leave { room });
        sim.advance(1);
        if i % 500 == 0 {
            sim.turn();
        }
    }
    sim.turn();
    // Across a restart, only the newest 5 are kept.
    sim.restart(cfg, Retention::default());
    sim.login(ConnId(2), "alice");
    let mut kept = Vec::new();
    for i in [0, 9_994, 9_995, 9_999] {
        let f = ask(
            &mut sim,
            ConnId(2),
            C::Join {
                room: format!("t{i}"),
            },
        );
        kept.push(!topics(&f).is_empty());
        ask(
            &mut sim,
            ConnId(2),
            C::Leave {
                room: format!("t{i}"),
            },
        );
    }
    assert_eq!(kept, [false, false, true, true]);
}
