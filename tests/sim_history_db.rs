//! History in the database, in the simulation (core + fake clock + the real
//! database in a temporary directory): what survives a restart, a start-up
//! that loads only the newest messages and reads the rest back, retention
//! by age and by size applied in steps, and search limited to what the user
//! may read.

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, Replay, Resume, Secret, ServerMsg as S};
use chat::sim::{frames_to, texts, Sim};
use chat::store::db::STARTUP_MESSAGES;
use chat::store::history::Retention;

fn say(room: &str, text: &str) -> C {
    C::RoomMsg {
        room: room.into(),
        text: text.into(),
        cid: Some(format!("c-{text}")),
    }
}

fn dm(to: &str, text: &str) -> C {
    C::PrivateMsg {
        to: to.into(),
        text: text.into(),
        cid: Some(format!("d-{text}")),
    }
}

fn cfg() -> Config {
    let mut cfg = Config::default();
    cfg.limits.login_timeout_ms = 0;
    cfg
}

fn hello_pw(name: &str, pw: &str) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(Secret::from(pw)),
    }
}

/// What `conn` gets for `msg` in one turn.
fn ask(sim: &mut Sim, conn: ConnId, msg: C) -> Vec<S> {
    sim.send(conn, msg);
    let out = sim.turn();
    frames_to(&out, conn)
}

fn history(sim: &mut Sim, conn: ConnId, room: &str, before: Option<u64>, limit: u32) -> Vec<S> {
    ask(
        sim,
        conn,
        C::History {
            room: Some(room.into()),
            peer: None,
            before,
            limit,
        },
    )
}

fn search(
    sim: &mut Sim,
    conn: ConnId,
    text: &str,
    room: Option<&str>,
    peer: Option<&str>,
) -> Vec<S> {
    ask(
        sim,
        conn,
        C::Search {
            text: text.into(),
            room: room.map(Into::into),
            peer: peer.map(Into::into),
            before: None,
            limit: None,
        },
    )
}

/// The texts of a `search_results` answer, and its `more`.
fn hits(frames: &[S]) -> (Vec<String>, bool) {
    match frames {
        [S::SearchResults { results, more, .. }] => {
            (results.iter().map(|h| h.text.clone()).collect(), *more)
        }
        other => panic!("no search results: {other:?}"),
    }
}

#[test]
fn history_offline_messages_and_markers_survive_a_restart() {
    let mut sim = Sim::new(cfg());
    sim.login(ConnId(1), "alice");
    sim.connect(ConnId(2));
    let f = ask(&mut sim, ConnId(2), hello_pw("bob", "bob's password"));
    assert!(matches!(f.first(), Some(S::Welcome { .. })), "{f:?}");
    for t in ["one", "two", "three"] {
        sim.send(ConnId(1), say("general", t));
    }
    sim.turn();
    ask(&mut sim, ConnId(2), C::Logout {});
    sim.disconnect(ConnId(2));
    ask(&mut sim, ConnId(1), dm("bob", "while you were away"));
    sim.restart(cfg(), Retention::default());
    // The room's history comes back from the database.
    sim.login(ConnId(3), "carol");
    let f = history(&mut sim, ConnId(3), "general", None, 50);
    assert_eq!(texts(&f), ["one", "two", "three"]);
    // bob's private message waited for him across the restart.
    sim.connect(ConnId(4));
    let f = ask(&mut sim, ConnId(4), hello_pw("bob", "bob's password"));
    assert_eq!(texts(&f), ["while you were away"], "{f:?}");
    // Shown once: his delivered marker moved and was stored.
    ask(
        &mut sim,
        ConnId(4),
        C::Receipt {
            kind: chat::protocol::ReceiptKind::Delivered,
            room: None,
            peer: Some("alice".into()),
            up_to: 4,
        },
    );
    ask(&mut sim, ConnId(4), C::Logout {});
    sim.disconnect(ConnId(4));
    sim.restart(cfg(), Retention::default());
    sim.connect(ConnId(5));
    let f = ask(&mut sim, ConnId(5), hello_pw("bob", "bob's password"));
    assert!(texts(&f).is_empty(), "already delivered: {f:?}");
}

/// bob's markers in #general as alice, logging in again with `since`,
/// is told them: (delivered, read), or none.
fn bobs_general_marker(sim: &mut Sim, conn: ConnId) -> Option<(u64, u64)> {
    sim.connect(conn);
    let mut hello = hello_pw("alice", "alice's password");
    if let C::Hello { resume, room, .. } = &mut hello {
        *room = Some("general".into());
        *resume = Some(Resume {
            session: None,
            rooms: vec!["general".into()],
            since: Some(0),
        });
    }
    let f = ask(sim, conn, hello);
    assert!(matches!(f.first(), Some(S::Welcome { .. })), "{f:?}");
    let marker = f.iter().find_map(|m| match m {
        S::Receipts {
            room: Some(r),
            markers,
            ..
        } if r == "general" => markers
            .iter()
            .find(|k| k.user == "bob")
            .map(|k| (k.delivered, k.read)),
        _ => None,
    });
    ask(sim, conn, C::Logout {});
    sim.disconnect(conn);
    marker
}

#[test]
fn room_markers_are_written_within_a_second_and_at_shutdown() {
    // A room's markers are written once a second (MARKER_LOG_MS), not per
    // receipt: a crash forgets at most that second; a shutdown nothing.
    let mut sim = Sim::new(cfg());
    sim.connect(ConnId(1));
    ask(&mut sim, ConnId(1), hello_pw("alice", "alice's password"));
    sim.login(ConnId(2), "bob");
    let receipt = |kind, up_to| C::Receipt {
        kind,
        room: Some("general".into()),
        peer: None,
        up_to,
    };
    use chat::protocol::ReceiptKind::{Delivered, Read};
    for t in ["one", "two", "three"] {
        sim.send(ConnId(1), say("general", t));
    }
    sim.turn();
    sim.send(ConnId(2), receipt(Read, 1));
    sim.turn();
    sim.advance(chat::core::MARKER_LOG_MS);
    sim.turn();
    sim.send(ConnId(2), receipt(Delivered, 2));
    sim.turn();
    // A crash now: the marker written a second after it changed is there,
    // the newer one is not.
    sim.restart(cfg(), Retention::default());
    assert_eq!(bobs_general_marker(&mut sim, ConnId(3)), Some((1, 1)));
    sim.login(ConnId(4), "bob");
    sim.send(ConnId(4), receipt(Read, 3));
    sim.turn();
    sim.shutdown("restarting");
    sim.restart(cfg(), Retention::default());
    assert_eq!(bobs_general_marker(&mut sim, ConnId(5)), Some((3, 3)));
}

#[test]
fn start_up_loads_the_newest_messages_and_reads_the_rest_back() {
    let mut sim = Sim::new(cfg());
    sim.login(ConnId(1), "alice");
    let total = STARTUP_MESSAGES + 300;
    for i in 1..=total {
        sim.send(ConnId(1), say("general", &format!("m{i}")));
        if i % 500 == 0 {
            sim.turn();
        }
    }
    sim.turn();
    assert_eq!(sim.runner.stored_messages(), total);
    sim.restart(cfg(), Retention::default());
    sim.login(ConnId(2), "bob");
    // The oldest are not in memory: a read effect brings them.
    let f = history(&mut sim, ConnId(2), "general", Some(6), 10);
    assert_eq!(texts(&f), ["m1", "m2", "m3", "m4", "m5"]);
    assert!(matches!(f.last(), Some(S::HistoryEnd { more: false, .. })));
    // The newest are.
    let f = history(&mut sim, ConnId(2), "general", None, 3);
    assert_eq!(
        texts(&f),
        [total - 2, total - 1, total].map(|i| format!("m{i}"))
    );
    // A resend of one of the newest is still recognised after the restart.
    let f = ask(&mut sim, ConnId(1), say("general", &format!("m{total}")));
    assert!(
        f.is_empty(),
        "alice is not logged in on the new core: {f:?}"
    );
    let f = sim.login(ConnId(3), "alice");
    assert!(f.iter().any(|m| matches!(m, S::Welcome { .. })));
    let f = ask(&mut sim, ConnId(3), say("general", &format!("m{total}")));
    assert!(
        matches!(&f[..], [S::Ack { id, duplicate: true, .. }] if *id == total as u64),
        "{f:?}"
    );
    // A catch-up from an old id reads pages back in order.
    sim.connect(ConnId(4));
    sim.send(
        ConnId(4),
        C::Hello {
            version: 1,
            name: "dave".into(),
            room: None,
            status: None,
            resume: Some(Resume {
                session: None,
                rooms: vec!["general".into()],
                since: Some(total as u64 - 1000),
            }),
            password: None,
        },
    );
    let out = sim.turn();
    let got: Vec<String> = frames_to(&out, ConnId(4))
        .iter()
        .filter_map(|m| match m {
            S::Message {
                text,
                replay: Some(Replay::Missed),
                ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let want: Vec<String> = (total - 999..=total).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn retention_by_age_removes_old_messages_in_steps_from_disk_and_memory() {
    let mut sim = Sim::new(cfg());
    sim.restart(
        cfg(),
        Retention {
            days: 1,
            max_bytes: 0,
        },
    );
    sim.login(ConnId(1), "alice");
    for i in 0..2_500 {
        sim.send(ConnId(1), say("general", &format!("old{i}")));
    }
    sim.turn();
    assert!(!sim.prune(), "nothing is a day old yet");
    sim.advance(2 * 86_400_000);
    sim.send(ConnId(1), say("general", "new"));
    sim.turn();
    // Steps of at most 1,000, until nothing is due.
    let mut steps = 0;
    while sim.prune() {
        steps += 1;
    }
    assert_eq!(steps, 3);
    assert_eq!(sim.runner.stored_messages(), 1);
    let f = history(&mut sim, ConnId(1), "general", None, 100);
    assert_eq!(texts(&f), ["new"], "memory forgot them too");
    // And the search index: the deleted ones are taken out of it.
    let index =
        rusqlite::Connection::open(sim.runner.db_path().with_file_name("search.db")).unwrap();
    let entries: i64 = index
        .query_row("SELECT count(*) FROM messages_fts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(entries, 1);
}

#[test]
fn retention_by_size_keeps_the_database_under_its_limit_and_the_newest_messages() {
    let mut sim = Sim::new(cfg());
    let max_bytes = 512 * 1024;
    sim.restart(cfg(), Retention { days: 0, max_bytes });
    sim.login(ConnId(1), "alice");
    let text = "x".repeat(400);
    for i in 0..5_000 {
        sim.send(
            ConnId(1),
            C::RoomMsg {
                room: "general".into(),
                text: format!("{i} {text}"),
                cid: Some(format!("s{i}")),
            },
        );
        if i % 500 == 0 {
            sim.turn();
        }
    }
    sim.turn();
    while sim.prune() {}
    let kept = sim.runner.stored_messages();
    assert!(kept > 0 && kept < 5_000, "{kept}");
    let used = chat::store::history::HistoryDb::open(&sim.runner.db_path(), Retention::default())
        .unwrap()
        .used_bytes()
        .unwrap();
    assert!(used <= max_bytes, "{used} bytes in use");
    let f = history(&mut sim, ConnId(1), "general", None, 1);
    assert!(texts(&f)[0].starts_with("4999 "), "the newest is kept");
}

#[test]
fn search_covers_only_what_the_user_may_read() {
    let mut sim = Sim::new(cfg());
    sim.login(ConnId(1), "alice");
    sim.login(ConnId(2), "bob");
    sim.login(ConnId(3), "carol");
    ask(&mut sim, ConnId(1), C::CreateRoom { room: "ops".into() });
    sim.send(ConnId(1), say("general", "deploy on friday"));
    sim.send(ConnId(1), say("ops", "deploy secret plan"));
    sim.send(ConnId(1), dm("carol", "deploy between us"));
    sim.send(ConnId(2), say("general", "no deploying today"));
    sim.turn();
    // bob: only #general, where he is.
    let (h, _) = hits(&search(&mut sim, ConnId(2), "deploy", None, None));
    assert_eq!(h, ["deploy on friday"]);
    let f = search(&mut sim, ConnId(2), "deploy", Some("ops"), None);
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
    let (h, _) = hits(&search(&mut sim, ConnId(2), "deploy", None, Some("carol")));
    assert!(h.is_empty(), "not his conversation: {h:?}");
    // alice: her rooms and her private conversations, newest first.
    let (h, _) = hits(&search(&mut sim, ConnId(1), "deploy", None, None));
    assert_eq!(
        h,
        [
            "deploy between us",
            "deploy secret plan",
            "deploy on friday"
        ]
    );
    let (h, _) = hits(&search(&mut sim, ConnId(3), "deploy", None, Some("alice")));
    assert_eq!(h, ["deploy between us"]);
    // Every word must be there; query syntax is just words.
    let (h, _) = hits(&search(&mut sim, ConnId(1), "deploy friday", None, None));
    assert_eq!(h, ["deploy on friday"]);
    // (`*` and `:` are not part of a word: `deploy*` is the word `deploy`,
    // never a prefix that would find "deploying".)
    for (text, n) in [
        ("deploy OR nothing", 0),
        ("deploy*", 3),
        ("NEAR(deploy friday)", 0), // the phrase "near deploy", then "friday"
        ("text:deploy", 0),
        ("\"", 0),
    ] {
        let f = search(&mut sim, ConnId(1), text, None, None);
        let (h, _) = hits(&f);
        assert_eq!(h.len(), n, "{text}: {h:?}");
        assert!(!h.iter().any(|t| t.contains("deploying")), "{text}: {h:?}");
    }
    // Leaving a room takes it out of the search.
    ask(&mut sim, ConnId(1), C::Leave { room: "ops".into() });
    let (h, _) = hits(&search(&mut sim, ConnId(1), "secret", None, None));
    assert!(h.is_empty(), "{h:?}");
}

#[test]
fn search_pages_back_with_before() {
    let mut sim = Sim::new(cfg());
    sim.login(ConnId(1), "alice");
    for i in 1..=45 {
        sim.send(ConnId(1), say("general", &format!("needle {i}")));
    }
    sim.turn();
    let f = ask(
        &mut sim,
        ConnId(1),
        C::Search {
            text: "needle".into(),
            room: None,
            peer: None,
            before: None,
            limit: Some(20),
        },
    );
    let (h, more) = hits(&f);
    assert_eq!(h.len(), 20);
    assert_eq!(h[0], "needle 45");
    assert!(more);
    let f = ask(
        &mut sim,
        ConnId(1),
        C::Search {
            text: "needle".into(),
            room: None,
            peer: None,
            before: Some(6),
            limit: Some(50),
        },
    );
    let (h, more) = hits(&f);
    assert_eq!(
        h,
        ["needle 5", "needle 4", "needle 3", "needle 2", "needle 1"]
    );
    assert!(!more);
    // Bounds: too many words, and an empty search.
    let many = vec!["w"; 17].join(" ");
    for text in [many.as_str(), "   "] {
        let f = search(&mut sim, ConnId(1), text, None, None);
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
}

#[test]
fn transfer_ids_are_never_used_twice_across_restarts() {
    let mut sim = Sim::new(cfg());
    let offer = |to: &str| C::FileOffer {
        to: to.into(),
        name: "a.txt".into(),
        size: 10,
        sha256: "ab".repeat(32),
        cid: None,
    };
    let id_of = |f: &[S]| {
        f.iter()
            .find_map(|m| match m {
                S::FileState { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a file_state")
    };
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..3 {
        sim.login(ConnId(10 * round + 1), "alice");
        sim.login(ConnId(10 * round + 2), "bob");
        for _ in 0..3 {
            let id = id_of(&ask(&mut sim, ConnId(10 * round + 1), offer("bob")));
            assert!(seen.insert(id), "id {id} used again in round {round}");
        }
        sim.restart(cfg(), Retention::default());
    }
}
