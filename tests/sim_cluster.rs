//! Several nodes acting as one server, in memory (`chat::sim::cluster`): a
//! user on one node and a user on another see one server: rooms, joins,
//! messages with one id each, private messages, who is online, typing,
//! receipts, calls; a name is held once across nodes; a resend reaching
//! another node is answered as a duplicate; a dead node's users leave and
//! resume elsewhere with nothing lost or doubled; a node that starts late
//! learns who is online; events wait while the bus is away.

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, Resume, ServerMsg as S, PROTOCOL_VERSION};
use chat::sim::cluster::ClusterSim;
use chat::sim::{frames_to, texts};

fn room_msg(text: &str, cid: &str) -> C {
    C::RoomMsg {
        room: "general".into(),
        text: text.into(),
        cid: Some(cid.into()),
    }
}

fn session_of(frames: &[S]) -> String {
    frames
        .iter()
        .find_map(|m| match m {
            S::Welcome { session, .. } => Some(session.clone()),
            _ => None,
        })
        .expect("a welcome")
}

/// (id, recipients, duplicate) of the acks among `frames`.
fn acks(frames: &[S]) -> Vec<(u64, u32, bool)> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::Ack {
                id,
                recipients,
                duplicate,
                ..
            } => Some((*id, *recipients, *duplicate)),
            _ => None,
        })
        .collect()
}

fn message_ids(frames: &[S]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|m| match m {
            S::Message { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn private(to: &str, text: &str, cid: &str) -> C {
    C::PrivateMsg {
        to: to.into(),
        text: text.into(),
        cid: Some(cid.into()),
    }
}

/// `peer`'s private messages up to `id` were read.
fn read_up_to(peer: &str, id: u64) -> C {
    C::Receipt {
        kind: chat::protocol::ReceiptKind::Read,
        room: None,
        peer: Some(peer.into()),
        up_to: id,
    }
}

/// Whether `frames` tell that `user` read up to `id`.
fn read_by(frames: &[S], user: &str, id: u64) -> bool {
    frames.iter().any(|m| {
        matches!(m, S::Receipts { markers, .. } if markers.iter().any(|k| k.user == user && k.read >= id))
    })
}

fn three() -> ClusterSim {
    ClusterSim::new(3, Config::default())
}

#[test]
fn users_on_two_nodes_share_a_room_and_one_id_per_message() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(1), "bob");
    // bob's join reached alice, on the other node.
    c.send(0, ConnId(1), room_msg("hello bob", "c1"));
    let out = c.settle();
    let to_alice = frames_to(&out[0], ConnId(1));
    let to_bob = frames_to(&out[1], ConnId(1));
    let a = acks(&to_alice);
    assert_eq!(a.len(), 1, "{to_alice:?}");
    assert_eq!(a[0].1, 1, "bob, on another node, counts as a recipient");
    assert_eq!(texts(&to_bob), ["hello bob"]);
    assert_eq!(message_ids(&to_bob), [a[0].0], "one id for the message");
    // And back, with a larger id.
    c.send(1, ConnId(1), room_msg("hi alice", "c2"));
    let out = c.settle();
    let to_alice = frames_to(&out[0], ConnId(1));
    assert_eq!(texts(&to_alice), ["hi alice"]);
    assert!(message_ids(&to_alice)[0] > a[0].0);
}

#[test]
fn joins_leaves_and_the_user_list_span_the_nodes() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.send(1, ConnId(5), C::Ping { seq: Some(1) }); // (not logged in: answered)
    c.nodes[1].connect(ConnId(5));
    c.nodes[1].send(
        ConnId(5),
        C::Hello {
            version: PROTOCOL_VERSION,
            name: "bob".into(),
            room: None,
            status: None,
            resume: None,
            password: None,
        },
    );
    let out = c.settle();
    let joined: Vec<_> = frames_to(&out[0], ConnId(1))
        .into_iter()
        .filter(|m| matches!(m, S::Notice { user, .. } if user == "bob"))
        .collect();
    assert_eq!(joined.len(), 1, "alice saw bob join: {out:?}");
    // The third node, with nobody on it, knows both.
    c.login(2, ConnId(9), "carol");
    c.send(2, ConnId(9), C::ListUsers {});
    let out = c.settle();
    let users = frames_to(&out[2], ConnId(9))
        .into_iter()
        .find_map(|m| match m {
            S::UserList { users } => Some(users),
            _ => None,
        })
        .expect("a user list");
    let mut names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol"]);
    // bob leaves #general: alice and carol are told.
    c.send(
        1,
        ConnId(5),
        C::Leave {
            room: "general".into(),
        },
    );
    let out = c.settle();
    for (node, conn) in [(0, 1), (2, 9)] {
        let left = frames_to(&out[node], ConnId(conn)).into_iter().any(
            |m| matches!(m, S::Notice { user, text, .. } if user == "bob" && text.contains("left")),
        );
        assert!(left, "n{node} told its user: {out:?}");
    }
}

#[test]
fn a_name_is_held_once_across_the_nodes() {
    let mut c = three();
    // Two logins as "alice" on two nodes in the same moment.
    for node in [0, 2] {
        c.nodes[node].connect(ConnId(1));
        c.send(node, ConnId(1), chat::sim::hello("alice"));
    }
    let out = c.settle();
    let welcomed: Vec<usize> = (0..3)
        .filter(|&n| {
            frames_to(&out[n], ConnId(1))
                .iter()
                .any(|m| matches!(m, S::Welcome { .. }))
        })
        .collect();
    assert_eq!(welcomed.len(), 1, "exactly one welcome: {out:?}");
    let loser = if welcomed[0] == 0 { 2 } else { 0 };
    let refused = frames_to(&out[loser], ConnId(1)).into_iter().any(|m| {
        matches!(
            m,
            S::Error {
                code: ErrorCode::NameTaken,
                ..
            }
        )
    });
    assert!(refused, "{out:?}");
    // And the loser is not online anywhere as a second alice.
    c.send(1, ConnId(7), C::Ping { seq: None });
    c.login(1, ConnId(7), "zed");
    c.send(1, ConnId(7), C::ListUsers {});
    let out = c.settle();
    let n = frames_to(&out[1], ConnId(7))
        .into_iter()
        .find_map(|m| match m {
            S::UserList { users } => Some(users.iter().filter(|u| u.name == "alice").count()),
            _ => None,
        });
    assert_eq!(n, Some(1));
}

#[test]
fn private_messages_typing_and_receipts_cross_nodes() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(2, ConnId(1), "bob");
    c.send(
        0,
        ConnId(1),
        C::Typing {
            room: None,
            to: Some("bob".into()),
            active: true,
        },
    );
    c.send(0, ConnId(1), private("bob", "psst", "p1"));
    let out = c.settle();
    let to_bob = frames_to(&out[2], ConnId(1));
    assert!(
        to_bob
            .iter()
            .any(|m| matches!(m, S::Typing { from, active: true, .. } if from == "alice")),
        "{to_bob:?}"
    );
    assert_eq!(texts(&to_bob), ["psst"]);
    let id = message_ids(&to_bob)[0];
    c.send(2, ConnId(1), read_up_to("alice", id));
    // A node sends its users' receipts together, 20 ms after the first.
    let out = c.settle();
    assert!(!frames_to(&out[0], ConnId(1))
        .iter()
        .any(|m| matches!(m, S::Receipts { .. })));
    c.advance(chat::core::RECEIPT_BATCH_MS);
    let out = c.settle();
    let read = read_by(&frames_to(&out[0], ConnId(1)), "bob", id);
    assert!(read, "alice, on n0, learns bob read it: {out:?}");
}

#[test]
fn a_receipt_goes_out_before_what_its_user_does_next() {
    // Batched receipts still keep each user's order: bob reads alice's
    // message, answers and leaves within one batch (20 ms); his receipt is
    // applied before his answer and his logout, as on one server. (Sent on
    // the timer, it was applied after his logout, for no one: lost.)
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(2, ConnId(1), "bob");
    c.send(0, ConnId(1), private("bob", "psst", "p1"));
    let out = c.settle();
    let id = message_ids(&frames_to(&out[2], ConnId(1)))[0];
    c.send(2, ConnId(1), read_up_to("alice", id));
    c.send(2, ConnId(1), private("alice", "got it", "b1"));
    c.send(2, ConnId(1), C::Logout {});
    // No time passes: the batch went out because bob did something else,
    // and ahead of it, so alice's node applied the receipt while bob was
    // still there.
    let out = c.settle();
    let to_alice = frames_to(&out[0], ConnId(1));
    assert!(read_by(&to_alice, "bob", id), "{to_alice:?}");
    assert_eq!(texts(&to_alice), ["got it"]);
    c.advance(chat::core::RECEIPT_BATCH_MS);
    let out = c.settle();
    let to_alice = frames_to(&out[0], ConnId(1));
    assert!(!read_by(&to_alice, "bob", 0), "sent once: {to_alice:?}");
}

#[test]
fn a_call_rings_across_nodes_and_is_answered() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(1), "bob");
    c.send(
        0,
        ConnId(1),
        C::Call {
            to: "bob".into(),
            media: chat::protocol::Media::Voice,
        },
    );
    let out = c.settle();
    let call = frames_to(&out[1], ConnId(1))
        .into_iter()
        .find_map(|m| match m {
            S::CallIncoming { call, .. } => Some(call),
            _ => None,
        })
        .expect("bob's phone rings");
    c.send(1, ConnId(1), C::CallAccept { call });
    let out = c.settle();
    let accepted = frames_to(&out[0], ConnId(1))
        .into_iter()
        .any(|m| matches!(m, S::CallAccepted { call: id, .. } if id == call));
    assert!(accepted, "{out:?}");
}

#[test]
fn a_resend_reaching_another_node_is_answered_as_a_duplicate() {
    let mut c = three();
    let alice = c.login(0, ConnId(1), "alice");
    let token = session_of(&alice);
    c.login(1, ConnId(1), "bob");
    c.send(0, ConnId(1), room_msg("only once", "c9"));
    let out = c.settle();
    let first = acks(&frames_to(&out[0], ConnId(1)))[0].0;
    // alice's node dies before she saw the ack; she reconnects to n2 and
    // sends it again.
    c.kill(0);
    let out = c.settle();
    let left = frames_to(&out[1], ConnId(1))
        .into_iter()
        .any(|m| matches!(m, S::Notice { user, .. } if user == "alice"));
    assert!(left, "bob sees alice leave: {out:?}");
    c.nodes[2].connect(ConnId(3));
    c.send(
        2,
        ConnId(3),
        C::Hello {
            version: PROTOCOL_VERSION,
            name: "alice".into(),
            room: None,
            status: None,
            resume: Some(Resume {
                session: Some(token),
                rooms: vec!["general".into()],
                since: Some(first - 1),
            }),
            password: None,
        },
    );
    c.send(2, ConnId(3), room_msg("only once", "c9"));
    let out = c.settle();
    let got = frames_to(&out[2], ConnId(3));
    assert!(
        got.iter().any(|m| matches!(m, S::Welcome { .. })),
        "the held name is hers again: {got:?}"
    );
    assert_eq!(acks(&got), [(first, 1, true)], "{got:?}");
    assert!(
        texts(&frames_to(&out[1], ConnId(1))).is_empty(),
        "bob does not get it twice"
    );
}

#[test]
fn a_dead_nodes_user_resumes_elsewhere_and_catches_up() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    let bob = c.login(1, ConnId(1), "bob");
    let token = session_of(&bob);
    c.send(0, ConnId(1), room_msg("one", "a1"));
    let out = c.settle();
    let seen = message_ids(&frames_to(&out[1], ConnId(1)))[0];
    c.kill(1);
    c.settle();
    c.send(0, ConnId(1), room_msg("two", "a2"));
    c.send(0, ConnId(1), room_msg("three", "a3"));
    c.settle();
    c.nodes[2].connect(ConnId(4));
    c.send(
        2,
        ConnId(4),
        C::Hello {
            version: PROTOCOL_VERSION,
            name: "bob".into(),
            room: None,
            status: None,
            resume: Some(Resume {
                session: Some(token),
                rooms: vec!["general".into()],
                since: Some(seen),
            }),
            password: None,
        },
    );
    let out = c.settle();
    let got = frames_to(&out[2], ConnId(4));
    assert_eq!(
        texts(&got),
        ["two", "three"],
        "nothing lost, nothing doubled"
    );
}

#[test]
fn a_node_that_starts_late_learns_who_is_online() {
    let mut c = ClusterSim::new(2, Config::default());
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(1), "bob");
    let mut late = chat::sim::Sim::new(Config::default());
    late.core.join_cluster("n2", late.now);
    c.nodes.push(late);
    c.settle();
    c.login(2, ConnId(1), "carol");
    c.send(2, ConnId(1), C::ListUsers {});
    let out = c.settle();
    let users = frames_to(&out[2], ConnId(1))
        .into_iter()
        .find_map(|m| match m {
            S::UserList { users } => Some(users),
            _ => None,
        })
        .expect("a user list");
    assert_eq!(users.len(), 3, "{users:?}");
    // And the late node's user reaches the others.
    c.send(2, ConnId(1), room_msg("hi all", "k1"));
    let out = c.settle();
    assert_eq!(texts(&frames_to(&out[0], ConnId(1))), ["hi all"]);
    assert_eq!(texts(&frames_to(&out[1], ConnId(1))), ["hi all"]);
}

#[test]
fn while_the_bus_is_away_messages_wait_and_pings_are_answered() {
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(1), "bob");
    c.bus_down = true;
    c.send(0, ConnId(1), room_msg("later", "w1"));
    c.send(0, ConnId(1), C::Ping { seq: Some(5) });
    let out = c.settle();
    assert!(texts(&frames_to(&out[1], ConnId(1))).is_empty());
    // The ping waits behind the message (order is kept)...
    assert!(!frames_to(&out[0], ConnId(1))
        .iter()
        .any(|m| matches!(m, S::Pong { .. })));
    // ...but another user's ping is answered at once.
    c.send(1, ConnId(1), C::Ping { seq: Some(6) });
    let out = c.settle();
    assert!(frames_to(&out[1], ConnId(1))
        .iter()
        .any(|m| matches!(m, S::Pong { seq: Some(6) })));
    c.bus_down = false;
    let out = c.settle();
    assert_eq!(texts(&frames_to(&out[1], ConnId(1))), ["later"]);
    let to_alice = frames_to(&out[0], ConnId(1));
    assert_eq!(acks(&to_alice).len(), 1);
    assert!(to_alice
        .iter()
        .any(|m| matches!(m, S::Pong { seq: Some(5) })));
}

fn hello_with(name: &str, password: &str) -> C {
    C::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(chat::protocol::Secret::new(password)),
    }
}

#[test]
fn a_name_registered_on_one_node_is_registered_on_all() {
    let mut c = three();
    c.nodes[0].connect(ConnId(1));
    c.send(0, ConnId(1), hello_with("dora", "correct horse battery"));
    let out = c.settle();
    assert!(
        frames_to(&out[0], ConnId(1))
            .iter()
            .any(|m| matches!(m, S::Welcome { .. })),
        "{out:?}"
    );
    c.send(0, ConnId(1), C::Logout {});
    c.settle();
    // Another node asks for the password, and checks it.
    c.nodes[2].connect(ConnId(2));
    c.send(2, ConnId(2), chat::sim::hello("dora"));
    c.nodes[2].connect(ConnId(3));
    c.send(2, ConnId(3), hello_with("dora", "wrong password here"));
    c.nodes[1].connect(ConnId(4));
    c.send(1, ConnId(4), hello_with("dora", "correct horse battery"));
    let out = c.settle();
    let code = |node: usize, conn: u64| {
        frames_to(&out[node], ConnId(conn))
            .into_iter()
            .find_map(|m| match m {
                S::Error { code, .. } => Some(code),
                _ => None,
            })
    };
    assert_eq!(code(2, 2), Some(ErrorCode::AuthRequired));
    assert_eq!(code(2, 3), Some(ErrorCode::BadPassword));
    assert!(
        frames_to(&out[1], ConnId(4))
            .iter()
            .any(|m| matches!(m, S::Welcome { .. })),
        "{out:?}"
    );
}

#[test]
fn history_search_and_held_private_messages_are_on_every_node() {
    let mut c = three();
    // dora registers on n0 and leaves.
    c.nodes[0].connect(ConnId(1));
    c.send(0, ConnId(1), hello_with("dora", "correct horse battery"));
    c.settle();
    c.send(0, ConnId(1), C::Logout {});
    c.login(1, ConnId(2), "alice");
    c.send(1, ConnId(2), room_msg("the quarterly numbers", "h1"));
    c.send(
        1,
        ConnId(2),
        private("dora", "read this when you are back", "h2"),
    );
    c.settle();
    // dora comes back on n2: the message held for her is there.
    c.nodes[2].connect(ConnId(3));
    c.send(2, ConnId(3), hello_with("dora", "correct horse battery"));
    let out = c.settle();
    let got = frames_to(&out[2], ConnId(3));
    assert_eq!(texts(&got), ["read this when you are back"], "{got:?}");
    // History and search on n2 see what alice said on n1.
    c.send(
        2,
        ConnId(3),
        C::History {
            room: Some("general".into()),
            peer: None,
            before: None,
            limit: 10,
        },
    );
    c.send(
        2,
        ConnId(3),
        C::Search {
            text: "quarterly".into(),
            room: None,
            peer: None,
            before: None,
            limit: Some(10),
        },
    );
    let out = c.settle();
    let got = frames_to(&out[2], ConnId(3));
    assert!(
        texts(&got).iter().any(|t| t == "the quarterly numbers"),
        "history: {got:?}"
    );
    assert!(
        got.iter().any(|m| matches!(m, S::SearchResults { results, .. } if results.iter().any(|h| h.text == "the quarterly numbers"))),
        "search: {got:?}"
    );
}

#[test]
fn one_client_cannot_fill_the_shared_queue_while_the_bus_is_away() {
    use chat::core::limits::Admit;
    let mut c = three();
    c.login(0, ConnId(1), "alice");
    c.login(1, ConnId(1), "bob");
    c.bus_down = true;
    for i in 0..300 {
        c.send(0, ConnId(1), room_msg(&format!("m{i}"), &format!("c{i}")));
    }
    c.settle();
    assert_eq!(c.waiting.len(), 256, "one connection's share of the queue");
    // Its later frames wait in the core; past 64 its input is not read.
    let now = c.nodes[0].now;
    let ping = C::Ping { seq: Some(1) };
    assert!(matches!(
        c.nodes[0].core.admit(ConnId(1), &ping, now),
        Admit::Go
    ));
    for i in 300..330 {
        c.send(0, ConnId(1), room_msg(&format!("m{i}"), &format!("c{i}")));
    }
    assert!(matches!(
        c.nodes[0].core.admit(ConnId(1), &ping, now),
        Admit::Hold { .. }
    ));
    // bob's node still answers him.
    c.send(1, ConnId(1), C::Ping { seq: Some(2) });
    let out = c.settle();
    assert!(frames_to(&out[1], ConnId(1))
        .iter()
        .any(|m| matches!(m, S::Pong { seq: Some(2) })));
    // The bus is back: all 330 arrive, in order, once; alice may send again.
    c.bus_down = false;
    let mut got = Vec::new();
    let mut resumed = false;
    for _ in 0..10 {
        let out = c.settle();
        got.extend(texts(&frames_to(&out[1], ConnId(1))));
        resumed |= out[0]
            .iter()
            .any(|(conn, m)| *conn == ConnId(1) && m.as_ref().err().is_some_and(|e| e == "resume"));
    }
    let want: Vec<String> = (0..330).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    assert!(resumed, "the shell is told to read alice again");
}

#[test]
fn a_join_between_a_late_nodes_boot_and_the_roster_is_not_lost() {
    use chat::cluster::event::{Body, Event, Input, RosterUser};
    use chat::core::effect::Completion;
    let mut c = ClusterSim::new(1, Config::default());
    let alice = c.login(0, ConnId(1), "alice");
    let token = session_of(&alice);
    // A node starting now: its own boot, then (as Redis may order them)
    // alice's join of #dev, sequenced after that boot but before n0's
    // roster, which n0 built when it applied the boot (alice in #general
    // only).
    let mut late = chat::sim::Sim::new(Config::default());
    late.core.join_cluster("n9", late.now);
    late.turn();
    let boot = late.runner.published.remove(0).1;
    let event = |node: &str, conn: u64, body: Body| Event {
        node: node.into(),
        run: 0,
        conn,
        ts: 1,
        body,
    };
    let join = event(
        "n0",
        1,
        Body::Frame {
            user: Some("alice".into()),
            frame: C::Join { room: "dev".into() },
        },
    );
    let roster = event(
        "n0",
        0,
        Body::Roster {
            users: vec![RosterUser {
                conn: 1,
                name: "alice".into(),
                status: Default::default(),
                away: None,
                rooms: vec!["general".into()],
                token,
            }],
        },
    );
    let base = c.seq;
    for (i, payload) in [boot, join.to_payload(), roster.to_payload()]
        .into_iter()
        .enumerate()
    {
        let input = Input::Event {
            seq: base + 1 + i as u64,
            payload,
        };
        late.core.complete(late.now, Completion::Cluster(input));
    }
    // carol, on the late node, joins #dev: alice is in it there too.
    late.connect(ConnId(5));
    late.send(ConnId(5), chat::sim::hello("carol"));
    late.turn();
    let pending = late.runner.published.remove(0).1;
    let input = Input::Event {
        seq: base + 4,
        payload: pending,
    };
    late.core.complete(late.now, Completion::Cluster(input));
    late.send(ConnId(5), C::Join { room: "dev".into() });
    late.turn();
    let pending = late.runner.published.remove(0).1;
    let input = Input::Event {
        seq: base + 5,
        payload: pending,
    };
    late.core.complete(late.now, Completion::Cluster(input));
    let out = late.turn();
    let members = frames_to(&out, ConnId(5))
        .into_iter()
        .find_map(|m| match m {
            S::Joined { room, members, .. } if room == "dev" => Some(members),
            _ => None,
        })
        .expect("carol joins #dev");
    assert_eq!(members, ["alice", "carol"]);
}
