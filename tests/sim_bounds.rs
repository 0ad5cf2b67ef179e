//! Bounds on what one client can make the server keep, in the simulation:
//! client-chosen strings are refused past their length before anything is
//! stored, logged or echoed.

use chat::core::{Config, ConnId};
use chat::protocol::lengths::MAX_CID;
use chat::protocol::{ClientMsg as C, ErrorCode, ServerMsg as S};
use chat::sim::Sim;

fn login(sim: &mut Sim, conn: u64, name: &str) {
    sim.connect(ConnId(conn));
    sim.send(
        ConnId(conn),
        C::Hello {
            version: 1,
            name: name.into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        },
    );
    sim.turn();
}

fn to(out: &[(ConnId, Result<S, String>)], conn: u64) -> Vec<S> {
    out.iter()
        .filter(|(c, _)| *c == ConnId(conn))
        .filter_map(|(_, m)| m.as_ref().ok().cloned())
        .collect()
}

#[test]
fn an_oversized_cid_is_refused_before_anything_is_stored() {
    let mut sim = Sim::new(Config::default());
    login(&mut sim, 1, "alice");
    login(&mut sim, 2, "bob");
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
    let alice = to(&out, 1);
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
    assert!(to(&out, 2).is_empty(), "bob got nothing");
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
    assert!(matches!(&to(&out, 1)[..], [S::Ack { .. }]), "{out:?}");
}

#[test]
fn an_oversized_failure_reason_is_refused_not_relayed() {
    let mut sim = Sim::new(Config::default());
    login(&mut sim, 1, "alice");
    sim.send(
        ConnId(1),
        C::FileFailed {
            id: 1,
            reason: "\n".repeat(1 << 16),
        },
    );
    let out = sim.turn();
    assert!(
        matches!(&to(&out, 1)[..], [S::Error { code: ErrorCode::Invalid, message, .. }] if message.contains("`reason`")),
        "{out:?}"
    );
}
