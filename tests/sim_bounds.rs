//! Bounds on what one client can make the server keep, in the simulation:
//! client-chosen strings are refused past their length before anything is
//! stored, logged or echoed.

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
