//! Bounds on what one client can make the server keep, in the simulation:
//! client-chosen strings are refused past their length before anything is
//! stored, logged or echoed; rooms live only while someone is in them, and
//! their number is capped.

use chat::core::{Config, ConnId};
use chat::protocol::lengths::MAX_CID;
use chat::protocol::{ClientMsg as C, ErrorCode, ServerMsg as S};
use chat::sim::{frames_to, Sim};

#[test]
fn an_oversized_cid_is_refused_before_anything_is_stored() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    for _ in 0..20 {
        sim.send(
            ConnId(1),
            C::RoomMsg {
                room: "general".into(),
                text: "hi".into(),
                cid: Some("c".repeat(100_000)),
            },
        );
    }
    let out = sim.turn();
    let alice = frames_to(&out, ConnId(1));
    assert_eq!(alice.len(), 20, "{:?}", &alice[..1]);
    for m in &alice {
        match m {
            S::Error {
                code: ErrorCode::Invalid,
                message,
                cid,
                re,
            } => {
                assert!(
                    message.contains("`cid` is too long: 100000 bytes"),
                    "{message}"
                );
                assert_eq!(cid, &None, "a 100 KB cid is not echoed back");
                assert_eq!(re.as_deref(), Some("room_msg"));
            }
            other => panic!("not refused: {other:?}"),
        }
    }
    assert!(frames_to(&out, ConnId(2)).is_empty(), "bob got nothing");
    assert_eq!(sim.runner.stored_messages(), 0, "nothing stored");
    // At the bound it is fine.
    sim.send(
        ConnId(1),
        C::RoomMsg {
            room: "general".into(),
            text: "hi".into(),
            cid: Some("c".repeat(MAX_CID)),
        },
    );
    let out = sim.turn();
    assert!(
        matches!(&frames_to(&out, ConnId(1))[..], [S::Ack { .. }]),
        "{out:?}"
    );
}

#[test]
fn an_oversized_failure_reason_is_refused_not_relayed() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.send(
        ConnId(1),
        C::FileFailed {
            id: 1,
            reason: "\n".repeat(1 << 16),
        },
    );
    let out = sim.turn();
    assert!(
        matches!(&frames_to(&out, ConnId(1))[..], [S::Error { code: ErrorCode::Invalid, message, .. }] if message.contains("`reason`")),
        "{out:?}"
    );
}

fn create(room: &str) -> C {
    C::CreateRoom { room: room.into() }
}

fn rooms_listed(sim: &mut Sim, conn: ConnId) -> Vec<String> {
    sim.send(conn, C::ListRooms {});
    let out = sim.turn();
    match &frames_to(&out, conn)[..] {
        [S::RoomList { rooms }] => rooms.iter().map(|r| r.name.clone()).collect(),
        other => panic!("no room list: {other:?}"),
    }
}

#[test]
fn rooms_live_while_someone_is_in_them_and_their_number_is_capped() {
    let mut cfg = Config::default();
    cfg.limits.max_rooms = 100;
    cfg.limits.max_rooms_per_user = 0;
    let mut sim = Sim::new(cfg);
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    // 2,000 rooms created and left one by one: none is kept.
    for i in 0..2_000 {
        sim.send(ConnId(1), create(&format!("r{i}")));
        sim.send(
            ConnId(1),
            C::Leave {
                room: format!("r{i}"),
            },
        );
    }
    sim.turn();
    assert_eq!(rooms_listed(&mut sim, ConnId(1)), ["general"]);
    // Up to the cap (general counts), then the next creation is refused
    // saying why; joining an existing room still works.
    for i in 0..99 {
        sim.send(ConnId(1), create(&format!("k{i}")));
    }
    sim.turn();
    sim.send(ConnId(1), create("one-too-many"));
    let out = sim.turn();
    match &frames_to(&out, ConnId(1))[..] {
        [S::Error {
            code: ErrorCode::TooManyRooms,
            message,
            ..
        }] => assert!(
            message.contains("this server has 100 rooms, the most it allows"),
            "{message}"
        ),
        other => panic!("not refused: {other:?}"),
    }
    sim.send(ConnId(2), C::Join { room: "k7".into() });
    let out = sim.turn();
    assert!(
        matches!(&frames_to(&out, ConnId(2))[..], [S::Joined { .. }]),
        "{out:?}"
    );
    // A room that empties frees its place.
    sim.send(ConnId(1), C::Leave { room: "k3".into() });
    sim.send(ConnId(1), create("now-fits"));
    let out = sim.turn();
    assert!(
        frames_to(&out, ConnId(1))
            .iter()
            .any(|m| matches!(m, S::Joined { room, created: true, .. } if room == "now-fits")),
        "{out:?}"
    );
}
