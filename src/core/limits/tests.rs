//! Tests of the abuse limits (`core::limits`): token buckets, connection
//! caps, the login deadline, holds and pauses, and what each frame costs.

use super::*;
use crate::core::{Config, Output};
use crate::protocol::parse_body;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

fn core(f: impl FnOnce(&mut Limits)) -> Core {
    let mut cfg = Config::default();
    f(&mut cfg.limits);
    Core::new(cfg)
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

/// (errors, closed) sent to `conn` since the last call.
fn out(core: &mut Core, conn: ConnId) -> (Vec<(ErrorCode, String)>, bool) {
    let mut errors = Vec::new();
    let mut closed = false;
    for (c, o) in core.drain() {
        if c != conn {
            continue;
        }
        match o {
            Output::Frame(b, _) => {
                if let ServerMsg::Error { code, message, .. } = parse_body(&b[4..]).unwrap() {
                    errors.push((code, message));
                }
            }
            Output::Close(_) => closed = true,
            Output::Resume => {}
        }
    }
    (errors, closed)
}

fn hello(name: &str) -> ClientMsg {
    serde_json::from_str(&format!(
        r#"{{"type":"hello","version":1,"name":"{name}"}}"#
    ))
    .unwrap()
}

fn say(text: &str) -> ClientMsg {
    ClientMsg::RoomMsg {
        room: "general".into(),
        text: text.into(),
        cid: None,
    }
}

#[test]
fn a_connection_guard_is_48_bytes() {
    // One per connection: what a throttled one needs more is boxed.
    assert!(std::mem::size_of::<ConnGuard>() <= 48);
}

#[test]
fn bucket_refills_at_the_rate_up_to_the_burst() {
    let mut b = Bucket::full(3, 0);
    for _ in 0..3 {
        assert_eq!(b.take(1000, 10, 3, 0), Ok(()));
    }
    // 10 a second: the next token is due 100 ms later.
    assert_eq!(b.take(1000, 10, 3, 0), Err(100));
    assert_eq!(b.take(1000, 10, 3, 99), Err(100));
    assert_eq!(b.take(1000, 10, 3, 100), Ok(()));
    // A long pause refills only up to the burst.
    for _ in 0..3 {
        assert_eq!(b.take(1000, 10, 3, 60_000), Ok(()));
    }
    assert!(b.take(1000, 10, 3, 60_000).is_err());
}

#[test]
fn caps_in_total_and_per_address() {
    let mut c = core(|l| {
        l.max_connections = 3;
        l.max_connections_per_ip = 2;
    });
    assert!(c.accept(ConnId(1), ip(1), at(0)));
    assert!(c.accept(ConnId(2), ip(1), at(0)));
    assert!(!c.accept(ConnId(3), ip(1), at(0)));
    let (errors, closed) = out(&mut c, ConnId(3));
    assert!(closed);
    assert_eq!(errors[0].0, ErrorCode::TooManyConnections);
    assert!(errors[0].1.contains("10.0.0.1"), "{}", errors[0].1);
    c.disconnect(ConnId(3), crate::core::Gone::Kicked, at(0));
    assert!(c.accept(ConnId(4), ip(2), at(0)));
    assert!(!c.accept(ConnId(5), ip(3), at(0)));
    assert!(out(&mut c, ConnId(5)).0[0].1.contains("server is full"));
    // A connection that goes frees its places.
    c.disconnect(ConnId(5), crate::core::Gone::Kicked, at(0));
    c.disconnect(ConnId(1), crate::core::Gone::Abrupt, at(0));
    c.disconnect(ConnId(1), crate::core::Gone::Abrupt, at(0));
    assert!(c.accept(ConnId(6), ip(1), at(0)));
    assert!(!c.accept(ConnId(7), ip(1), at(0)));
}

#[test]
fn a_connection_that_does_not_log_in_is_closed_at_its_deadline() {
    let mut c = core(|l| l.login_timeout_ms = 3_000);
    c.accept(ConnId(1), ip(1), at(0));
    c.accept(ConnId(2), ip(1), at(1_000));
    c.handle(ConnId(2), hello("bob"), at(1_500));
    assert_eq!(c.next_deadline(), Some(3_000));
    c.tick(at(2_999));
    assert_eq!(out(&mut c, ConnId(1)), (vec![], false));
    c.tick(at(3_000));
    let (errors, closed) = out(&mut c, ConnId(1));
    assert!(closed);
    assert_eq!(errors[0].0, ErrorCode::LoginTimeout);
    assert!(errors[0].1.contains("3 s"), "{}", errors[0].1);
    // bob logged in in time: his deadline passes quietly.
    c.tick(at(4_000));
    assert_eq!(out(&mut c, ConnId(2)), (vec![], false));
    assert_eq!(c.next_deadline(), None, "no timer left");
}

#[test]
fn past_the_rate_input_is_held_with_one_warning_then_a_flood_is_closed() {
    let mut c = core(|l| {
        l.msg_rate = 10;
        l.msg_burst = 2;
        l.flood_ms = 1_000;
    });
    c.accept(ConnId(1), ip(1), at(0));
    c.handle(ConnId(1), hello("alice"), at(0));
    c.drain().for_each(drop);
    assert_eq!(c.admit(ConnId(1), &say("a"), at(0)), Admit::Go);
    assert_eq!(c.admit(ConnId(1), &say("b"), at(0)), Admit::Go);
    assert_eq!(
        c.admit(ConnId(1), &say("c"), at(0)),
        Admit::Hold { until_ms: 100 }
    );
    let (errors, closed) = out(&mut c, ConnId(1));
    assert!(!closed);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, ErrorCode::SlowDown);
    assert!(errors[0].1.contains("none are lost"), "{}", errors[0].1);
    // Asked again when the token is due: it goes; later holds do not warn again.
    assert_eq!(c.admit(ConnId(1), &say("c"), at(100)), Admit::Go);
    assert_eq!(
        c.admit(ConnId(1), &say("d"), at(100)),
        Admit::Hold { until_ms: 200 }
    );
    assert_eq!(out(&mut c, ConnId(1)), (vec![], false));
    // Never caught up: a second after the hold began, a hold is a flood.
    assert_eq!(c.admit(ConnId(1), &say("d"), at(1_000)), Admit::Go);
    assert_eq!(c.admit(ConnId(1), &say("e"), at(1_000)), Admit::Go);
    assert!(matches!(
        c.admit(ConnId(1), &say("f"), at(1_000)),
        Admit::Hold { .. }
    ));
    let (errors, closed) = out(&mut c, ConnId(1));
    assert!(closed);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.contains("disconnecting"), "{}", errors[0].1);
}

#[test]
fn a_pause_ends_the_hold() {
    let mut c = core(|l| {
        l.msg_rate = 10;
        l.msg_burst = 1;
        l.flood_ms = 1_000;
    });
    c.accept(ConnId(1), ip(1), at(0));
    // Lock step faster than the rate for 5 s: every frame waits a little,
    // but the connection catches up in between, so it is never a flood.
    let mut t = 0;
    while t < 5_000 {
        if let Admit::Hold { until_ms } = c.admit(ConnId(1), &say("x"), at(t)) {
            t = until_ms;
            assert_eq!(c.admit(ConnId(1), &say("x"), at(t)), Admit::Go);
        }
        c.caught_up(ConnId(1));
        t += 10;
    }
    let (errors, closed) = out(&mut c, ConnId(1));
    assert!(!closed);
    assert!(errors.iter().all(|(code, _)| *code == ErrorCode::SlowDown));
}

#[test]
fn no_rate_means_no_holds() {
    let mut c = core(|l| l.msg_rate = 0);
    c.accept(ConnId(1), ip(1), at(0));
    for _ in 0..10_000 {
        assert_eq!(c.admit(ConnId(1), &say("x"), at(0)), Admit::Go);
    }
}

#[test]
fn every_frame_takes_from_the_rate_cheap_ones_an_eighth_chunks_nothing() {
    let mut c = core(|l| {
        l.msg_rate = 1;
        l.msg_burst = 2;
    });
    c.accept(ConnId(1), ip(1), at(0));
    // Two frames that did not decode use the burst; the third waits.
    assert_eq!(c.admit_invalid(ConnId(1), at(0)), Admit::Go);
    assert_eq!(c.admit_invalid(ConnId(1), at(0)), Admit::Go);
    assert!(matches!(
        c.admit_invalid(ConnId(1), at(0)),
        Admit::Hold { .. }
    ));
    // A second later one token is back: 8 pings or receipts take it.
    let ping = ClientMsg::Ping { seq: None };
    for _ in 0..8 {
        assert_eq!(c.admit(ConnId(1), &ping, at(1_000)), Admit::Go);
    }
    assert!(matches!(
        c.admit(ConnId(1), &ping, at(1_000)),
        Admit::Hold { .. }
    ));
    // Flow-controlled frames cost nothing.
    let credit = ClientMsg::FileCredit { id: 1, bytes: 1 };
    assert_eq!(c.admit(ConnId(1), &credit, at(1_000)), Admit::Go);
}
