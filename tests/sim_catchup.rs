//! A long catch-up is paced by what the client reads: one page goes out,
//! the next is read from the log only when the connection has taken it, so
//! thousands of missed messages never pile up past the outbound limit; a
//! client that does not read its catch-up while live traffic piles up
//! behind it is closed as a slow consumer, with the server's memory bounded.

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, Resume, ServerMsg as S};
use chat::sim::Sim;

fn hello(name: &str, since: Option<u64>) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: since.map(|s| Resume {
            session: None,
            rooms: vec![],
            since: Some(s),
        }),
        password: None,
    }
}

fn to(out: &[(ConnId, Result<S, String>)], conn: u64) -> Vec<&Result<S, String>> {
    out.iter()
        .filter(|(c, _)| *c == ConnId(conn))
        .map(|(_, m)| m)
        .collect()
}

fn missed(frames: &[&Result<S, String>]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|m| match m {
            Ok(S::Message {
                id,
                replay: Some(_),
                ..
            }) => Some(*id),
            _ => None,
        })
        .collect()
}

/// alice fills #general with `n` long messages; returns their ids.
fn fill(sim: &mut Sim, n: usize) {
    sim.login(ConnId(1), "alice");
    for i in 0..n {
        sim.send(
            ConnId(1),
            C::RoomMsg {
                room: "general".into(),
                text: format!("{i:05} {}", "x".repeat(3_000)),
                cid: None,
            },
        );
        if i % 200 == 199 {
            sim.turn();
        }
    }
    sim.turn();
}

#[test]
fn a_long_catch_up_goes_out_a_page_at_a_time_as_the_client_reads() {
    let mut sim = Sim::new(Config::default());
    fill(&mut sim, 2_000); // 6 MB of messages: more than the outbound limit
    sim.slow_readers.push(ConnId(2));
    sim.connect(ConnId(2));
    sim.send(ConnId(2), hello("bob", Some(0)));
    let out = sim.turn();
    let first = missed(&to(&out, 2));
    assert_eq!(first.len(), 128, "one page, not 2000 messages at once");
    let out = sim.turn();
    assert!(missed(&to(&out, 2)).is_empty(), "bob has not read it yet");

    // bob reads: the rest follows in order, then synced.
    sim.slow_readers.clear();
    let out = sim.turn();
    let bob = to(&out, 2);
    let rest = missed(&bob);
    let all: Vec<u64> = first.iter().chain(rest.iter()).copied().collect();
    assert_eq!(all.len(), 2_000);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        matches!(bob.last(), Some(Ok(S::Synced { count: 2000, .. }))),
        "{:?}",
        bob.last()
    );
}

#[test]
fn a_client_that_never_reads_its_catch_up_is_closed_before_memory_grows() {
    let mut sim = Sim::new(Config::default());
    fill(&mut sim, 300);
    sim.slow_readers.push(ConnId(2));
    sim.connect(ConnId(2));
    sim.send(ConnId(2), hello("bob", Some(0)));
    sim.turn();
    // Live traffic for bob piles up behind his unread catch-up.
    let mut closed = false;
    for i in 0..2_000 {
        sim.send(
            ConnId(1),
            C::RoomMsg {
                room: "general".into(),
                text: format!("live {i} {}", "y".repeat(3_000)),
                cid: None,
            },
        );
        let out = sim.turn();
        if to(&out, 2)
            .iter()
            .any(|m| matches!(m, Err(e) if e.starts_with("close: slow consumer")))
        {
            closed = true;
            assert!(i > 1_000, "not before 4 MiB waited: {i}");
            break;
        }
    }
    assert!(closed, "bob is closed as a slow consumer");
    assert_eq!(sim.core.waiting_frames(), 0, "nothing kept for him");
}
