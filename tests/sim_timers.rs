//! The core's one timer table, driven by the fake clock: a stalled frame
//! closes its connection at the frame timeout (restarted by the shell's
//! report), a rate hold ends with `Resume` at its time, and typing, rings
//! and reserved names expire in deadline order, with the next deadline
//! always the earliest one set.

use chat::core::limits::Admit;
use chat::core::{Config, ConnId, Output};
use chat::protocol::{ClientMsg as C, ErrorCode, Media, ServerMsg as S};
use chat::sim::{hello, Sim};
use std::net::IpAddr;

#[test]
fn a_stalled_frame_is_closed_at_the_frame_timeout_restarted_by_progress() {
    let mut cfg = Config::default();
    cfg.limits.frame_timeout_ms = 5_000;
    let mut sim = Sim::new(cfg);
    sim.login(ConnId(1), "alice");
    let start = sim.now.mono_ms;
    sim.core.partial_frame(ConnId(1), Some(start));
    assert_eq!(sim.core.next_deadline(), Some(start + 5_000));
    sim.advance(4_000);
    // A frame completed and another began: the clock restarts.
    sim.core.partial_frame(ConnId(1), Some(sim.now.mono_ms));
    sim.advance(4_000);
    assert!(sim.turn().is_empty(), "8 s in, but only 4 s since progress");
    sim.advance(1_000);
    let out = sim.turn();
    assert!(
        matches!(&out[0], (ConnId(1), Ok(S::Error { code: ErrorCode::BadFrame, message, .. })) if message.contains("5 s")),
        "{out:?}"
    );
    assert!(matches!(&out[1], (ConnId(1), Err(close)) if close.starts_with("close")));
    // A frame that completes in time cancels the timer.
    sim.login(ConnId(2), "bob");
    sim.core.partial_frame(ConnId(2), Some(sim.now.mono_ms));
    sim.core.partial_frame(ConnId(2), None);
    assert_eq!(sim.core.next_deadline(), None);
}

#[test]
fn a_rate_hold_ends_with_resume_at_its_time() {
    let mut cfg = Config::default();
    cfg.limits.msg_rate = 1;
    cfg.limits.msg_burst = 1;
    let mut sim = Sim::new(cfg);
    let ip: IpAddr = [10, 0, 0, 1].into();
    assert!(sim.core.accept(ConnId(1), ip, sim.now));
    sim.send(ConnId(1), hello("alice"));
    sim.turn();
    let say = C::RoomMsg {
        room: "general".into(),
        text: "x".into(),
        cid: None,
    };
    assert_eq!(sim.core.admit(ConnId(1), &say, sim.now), Admit::Go);
    let Admit::Hold { until_ms } = sim.core.admit(ConnId(1), &say, sim.now) else {
        panic!("the second frame in the same second is held")
    };
    sim.turn(); // the slow_down warning
    sim.now.mono_ms = until_ms - 1;
    sim.core.tick(sim.now);
    assert_eq!(sim.core.drain().count(), 0, "not yet");
    sim.now.mono_ms = until_ms;
    sim.core.tick(sim.now);
    let out: Vec<(ConnId, Output)> = sim.core.drain().collect();
    assert!(matches!(&out[..], [(ConnId(1), Output::Resume)]), "{out:?}");
}

#[test]
fn typing_rings_and_reservations_expire_in_deadline_order() {
    let mut sim = Sim::new(Config {
        typing_timeout_ms: 3_000,
        ring_timeout_ms: 1_000,
        grace_ms: 2_000,
        ..Default::default()
    });
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    sim.login(ConnId(4), "dave");
    let t0 = sim.now.mono_ms;
    sim.send(
        ConnId(1),
        C::Typing {
            room: Some("general".into()),
            to: None,
            active: true,
        },
    );
    sim.send(
        ConnId(2),
        C::Call {
            to: "carol".into(),
            media: Media::Voice,
        },
    );
    sim.turn();
    assert_eq!(sim.core.next_deadline(), Some(t0 + 1_000), "the ring first");
    sim.disconnect(ConnId(4)); // dave's name is reserved for 2 s
    sim.turn();
    sim.advance(1_000);
    let out = sim.turn();
    assert!(
        out.iter()
            .any(|(c, m)| *c == ConnId(2) && matches!(m, Ok(S::CallEnded { .. }))),
        "{out:?}"
    );
    assert_eq!(sim.core.next_deadline(), Some(t0 + 2_000), "then the name");
    sim.advance(1_000);
    sim.turn();
    // The name is free again: someone else may take it.
    sim.connect(ConnId(5));
    sim.send(ConnId(5), hello("dave"));
    let out = sim.turn();
    assert!(
        matches!(&out[0], (ConnId(5), Ok(S::Welcome { .. }))),
        "{out:?}"
    );
    assert_eq!(
        sim.core.next_deadline(),
        Some(t0 + 3_000),
        "then the typist"
    );
    sim.advance(1_000);
    let out = sim.turn();
    assert!(
        out.iter().any(|(c, m)| *c == ConnId(2)
            && matches!(m, Ok(S::Typing { from, active: false, .. }) if from == "alice")),
        "{out:?}"
    );
    assert_eq!(sim.core.next_deadline(), None);
}
