//! Durability per dependency and the loop that never waits, in the
//! in-memory simulation (core + fake clock + effects run inline): a failed
//! batch is never acknowledged, a bystander is never held behind somebody
//! else's fsync, receipts never read the log, catch-up and history pages
//! older than memory come from read effects in order, and a huge resume
//! list is refused before anything looks at it.

use chat::core::effect::Effect;
use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, ReceiptKind, Replay, Resume, ServerMsg as S};
use chat::sim::{frames_to, texts, Sim};

fn say(room: &str, text: &str) -> C {
    C::RoomMsg {
        room: room.into(),
        text: text.into(),
        cid: Some(format!("c-{text}")),
    }
}

fn acks(frames: &[S]) -> Vec<(Option<String>, u64)> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::Ack { cid, id, .. } => Some((cid.clone(), *id)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_batch_is_never_acknowledged_and_a_resend_stores_it() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.runner.fail_writes(true);
    for t in ["one", "two", "three"] {
        sim.send(ConnId(1), say("general", t));
    }
    let out = sim.turn();
    let alice = frames_to(&out, ConnId(1));
    assert!(acks(&alice).is_empty(), "nothing acknowledged: {alice:?}");
    let failed: Vec<Option<String>> = alice
        .iter()
        .filter_map(|m| match m {
            S::Error {
                code: ErrorCode::StoreFailed,
                cid,
                re,
                ..
            } => {
                assert_eq!(re.as_deref(), Some("room_msg"));
                Some(cid.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            Some("c-one".into()),
            Some("c-two".into()),
            Some("c-three".into())
        ]
    );
    assert!(
        texts(&frames_to(&out, ConnId(2))).is_empty(),
        "bob never sees them"
    );
    assert_eq!(sim.runner.stored_messages(), 0);

    // Space is back: the same cids are stored as new messages, not
    // answered as duplicates of the failed ones.
    sim.runner.fail_writes(false);
    for t in ["one", "two", "three"] {
        sim.send(ConnId(1), say("general", t));
    }
    let out = sim.turn();
    let alice = frames_to(&out, ConnId(1));
    assert_eq!(acks(&alice).len(), 3, "{alice:?}");
    assert!(alice.iter().all(|m| !matches!(
        m,
        S::Ack {
            duplicate: true,
            ..
        }
    )));
    assert_eq!(texts(&frames_to(&out, ConnId(2))), ["one", "two", "three"]);
    assert_eq!(sim.runner.stored_messages(), 3);
}

#[test]
fn a_bystander_is_not_held_behind_a_busy_room() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    sim.send(
        ConnId(3),
        C::Join {
            room: "quiet".into(),
        },
    );
    sim.send(
        ConnId(3),
        C::Leave {
            room: "general".into(),
        },
    );
    sim.turn();

    sim.hold_effects = true; // the disk is slow: the batch is not durable yet
    sim.send(ConnId(1), say("general", "busy"));
    sim.send(ConnId(2), C::Ping { seq: Some(7) });
    sim.send(ConnId(3), C::Ping { seq: Some(9) });
    let out = sim.turn();
    assert_eq!(
        frames_to(&out, ConnId(3)),
        vec![S::Pong { seq: Some(9) }],
        "carol's pong waits for nothing"
    );
    assert!(
        frames_to(&out, ConnId(1)).is_empty(),
        "alice's ack waits for the batch"
    );
    assert!(
        frames_to(&out, ConnId(2)).is_empty(),
        "bob's pong keeps its place behind the message it follows"
    );
    assert!(matches!(sim.held_effects().front(), Some(Effect::Log(_))));

    sim.hold_effects = false;
    let out = sim.turn();
    assert_eq!(acks(&frames_to(&out, ConnId(1))).len(), 1);
    let bob = frames_to(&out, ConnId(2));
    assert_eq!(texts(&bob), ["busy"]);
    assert_eq!(
        bob.last(),
        Some(&S::Pong { seq: Some(7) }),
        "in order: {bob:?}"
    );
}

#[test]
fn receipts_are_routed_from_memory_without_a_read() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    let mut last = 0;
    for i in 0..3000 {
        let who = if i % 2 == 0 { 1 } else { 3 };
        sim.send(ConnId(who), say("general", &format!("m{i}")));
        if i % 100 == 99 {
            for (c, id) in acks(&frames_to(&sim.turn(), ConnId(who))) {
                assert!(c.is_some());
                last = last.max(id);
            }
        }
    }
    sim.turn();
    sim.hold_effects = true;
    // 2000 cumulative receipts, one id at a time, then one big jump.
    for up_to in (last - 2000)..last {
        sim.send(
            ConnId(2),
            C::Receipt {
                kind: ReceiptKind::Delivered,
                room: Some("general".into()),
                peer: None,
                up_to,
            },
        );
    }
    sim.send(
        ConnId(2),
        C::Receipt {
            kind: ReceiptKind::Read,
            room: Some("general".into()),
            peer: None,
            up_to: last,
        },
    );
    let out = sim.turn();
    assert!(
        sim.held_effects()
            .iter()
            .all(|e| !matches!(e, Effect::ReadHistory(_))),
        "a receipt never reads the log"
    );
    for author in [1, 3] {
        let got = frames_to(&out, ConnId(author));
        let marker = got.iter().find_map(|m| match m {
            S::Receipts { markers, .. } => markers.iter().find(|k| k.user == "bob").cloned(),
            _ => None,
        });
        let marker = marker.unwrap_or_else(|| panic!("author {author} told: {got:?}"));
        assert_eq!((marker.delivered, marker.read), (last, last));
    }
}

#[test]
fn catch_up_older_than_memory_is_read_from_the_log_in_order() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    for i in 0..300 {
        sim.send(ConnId(1), say("general", &format!("m{i}")));
    }
    sim.turn();
    sim.connect(ConnId(2));
    sim.hold_effects = true;
    sim.send(
        ConnId(2),
        C::Hello {
            version: 1,
            name: "bob".into(),
            room: None,
            status: None,
            resume: Some(Resume {
                session: None,
                rooms: vec![],
                since: Some(0),
            }),
            password: None,
        },
    );
    // In the same turn, a new message bob must see after his catch-up.
    sim.send(ConnId(1), say("general", "live"));
    let out = sim.turn();
    let bob = frames_to(&out, ConnId(2));
    assert!(
        matches!(bob.first(), Some(S::Welcome { .. })),
        "the welcome goes out before the read: {bob:?}"
    );
    assert!(texts(&bob).is_empty(), "the rest waits for the read");
    assert!(sim
        .held_effects()
        .iter()
        .any(|e| matches!(e, Effect::ReadHistory(_))));
    sim.hold_effects = false;
    let out = sim.turn();
    let bob = frames_to(&out, ConnId(2));
    let mut want: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    want.push("live".into());
    assert_eq!(texts(&bob), want, "missed ones in order, then the live one");
    let synced = bob.iter().position(|m| matches!(m, S::Synced { .. }));
    let live = bob
        .iter()
        .position(|m| matches!(m, S::Message { replay: None, .. }));
    assert!(
        synced < live,
        "synced closes the catch-up before live traffic"
    );
    assert!(bob
        .iter()
        .filter(|m| matches!(m, S::Message { .. }))
        .take(300)
        .all(|m| matches!(
            m,
            S::Message {
                replay: Some(Replay::Missed),
                ..
            }
        )));
}

#[test]
fn history_pages_older_than_memory_come_from_the_log() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    let mut ids = Vec::new();
    for i in 0..1000 {
        sim.send(ConnId(1), say("general", &format!("m{i}")));
        if i % 100 == 99 {
            ids.extend(
                acks(&frames_to(&sim.turn(), ConnId(1)))
                    .into_iter()
                    .map(|(_, id)| id),
            );
        }
    }
    // Ids 101..=200 of the room are far older than what memory keeps.
    let before = ids[200];
    sim.send(
        ConnId(1),
        C::History {
            room: Some("general".into()),
            peer: None,
            before: Some(before),
            limit: 100,
        },
    );
    let out = frames_to(&sim.turn(), ConnId(1));
    let got = texts(&out);
    let want: Vec<String> = (100..200).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    assert!(matches!(
        out.last(),
        Some(S::HistoryEnd {
            count: 100,
            more: true,
            ..
        })
    ));
}

#[test]
fn too_many_history_reads_at_once_are_refused_with_slow_down() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    for i in 0..500 {
        sim.send(ConnId(1), say("general", &format!("m{i}")));
    }
    sim.turn();
    sim.hold_effects = true;
    for _ in 0..6 {
        sim.send(
            ConnId(1),
            C::History {
                room: Some("general".into()),
                peer: None,
                before: Some(100),
                limit: 10,
            },
        );
    }
    let out = frames_to(&sim.turn(), ConnId(1));
    assert!(
        out.is_empty(),
        "everything waits behind the first read: {out:?}"
    );
    let reads = sim
        .held_effects()
        .iter()
        .filter(|e| matches!(e, Effect::ReadHistory(_)))
        .count();
    assert_eq!(reads, 4, "at most four reads in flight per connection");
    sim.hold_effects = false;
    let out = frames_to(&sim.turn(), ConnId(1));
    let refused = out
        .iter()
        .filter(|m| {
            matches!(
                m,
                S::Error {
                    code: ErrorCode::SlowDown,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 2, "the rest refused: {out:?}");
    let ends = out
        .iter()
        .filter(|m| matches!(m, S::HistoryEnd { .. }))
        .count();
    assert_eq!(ends, 4);
}

#[test]
fn a_resume_list_longer_than_the_room_cap_is_refused() {
    let mut sim = Sim::new(Config::default());
    sim.connect(ConnId(1));
    sim.send(
        ConnId(1),
        C::Hello {
            version: 1,
            name: "mallory".into(),
            room: None,
            status: None,
            resume: Some(Resume {
                session: None,
                rooms: (0..110_000).map(|i| format!("r{i}")).collect(),
                since: Some(0),
            }),
            password: None,
        },
    );
    let out = frames_to(&sim.turn(), ConnId(1));
    assert!(
        matches!(&out[..], [S::Error { code: ErrorCode::Invalid, message, .. }] if message.contains("110000 rooms")),
        "{out:?}"
    );
}

#[test]
fn a_receipt_tells_only_the_authors_whose_messages_changed_state() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    sim.send(ConnId(1), say("general", "a1"));
    sim.turn();
    sim.send(ConnId(3), say("general", "c1"));
    let carol_id = acks(&frames_to(&sim.turn(), ConnId(3)))[0].1;
    let receipt = |kind, up_to| C::Receipt {
        kind,
        room: Some("general".into()),
        peer: None,
        up_to,
    };
    sim.send(ConnId(2), receipt(ReceiptKind::Delivered, carol_id));
    let out = sim.turn();
    assert!(
        !frames_to(&out, ConnId(1)).is_empty() && !frames_to(&out, ConnId(3)).is_empty(),
        "both delivered"
    );
    // Reading only alice's message changes nothing of carol's.
    sim.send(ConnId(2), receipt(ReceiptKind::Read, carol_id - 1));
    let out = sim.turn();
    assert!(
        matches!(&frames_to(&out, ConnId(1))[..], [S::Receipts { .. }]),
        "alice: read"
    );
    assert!(
        frames_to(&out, ConnId(3)).is_empty(),
        "carol's message did not change"
    );
}

#[test]
fn a_receipt_for_what_arrived_before_leaving_still_counts() {
    let mut sim = Sim::new(Config::default());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    for t in ["one", "two", "three"] {
        sim.send(ConnId(1), say("general", t));
    }
    sim.turn();
    // bob leaves, then his client acknowledges what it had shown (and a
    // little more than existed when he left, which is cut to that).
    sim.send(
        ConnId(2),
        C::Leave {
            room: "general".into(),
        },
    );
    sim.turn();
    sim.send(ConnId(1), say("general", "after bob left"));
    sim.turn();
    sim.send(
        ConnId(2),
        C::Receipt {
            kind: ReceiptKind::Read,
            room: Some("general".into()),
            peer: None,
            up_to: 4,
        },
    );
    let out = sim.turn();
    assert!(frames_to(&out, ConnId(2)).is_empty(), "no error: {out:?}");
    let markers: Vec<(String, u64)> = frames_to(&out, ConnId(1))
        .iter()
        .flat_map(|m| match m {
            S::Receipts { markers, .. } => markers
                .iter()
                .map(|k| (k.user.clone(), k.read))
                .collect::<Vec<_>>(),
            _ => vec![],
        })
        .collect();
    assert_eq!(markers, [("bob".to_string(), 3)]);
    // A room never joined (and that does not exist) is still refused.
    sim.send(
        ConnId(2),
        C::Receipt {
            kind: ReceiptKind::Read,
            room: Some("elsewhere".into()),
            peer: None,
            up_to: 1,
        },
    );
    let out = sim.turn();
    assert!(
        matches!(
            &frames_to(&out, ConnId(2))[..],
            [S::Error {
                code: ErrorCode::UnknownRoom,
                ..
            }]
        ),
        "{out:?}"
    );
}
