//! Three chat-server nodes on one Redis (`--cluster`), real processes on
//! loopback: clients on different nodes see one server; a node killed
//! mid-conversation loses and doubles nothing (its users leave, and resume
//! on another node); Redis killed and restarted holds messages back, then
//! delivers them once.

mod common;

use chat::protocol::{ClientMsg, ErrorCode, ServerMsg};
use common::redis::RedisServer;
use common::{Client, Server};
use std::time::Duration;

/// Node `id` of the cluster on `redis`, declared down after 2 s of silence.
fn node(redis: &RedisServer, id: &str) -> Server {
    let url = redis.url();
    Server::start(&["--cluster", &url, "--node-id", id, "--node-timeout", "2"])
}

fn say(c: &mut Client, text: &str, cid: &str) {
    c.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: text.into(),
        cid: Some(cid.into()),
    });
}

/// The next `ack` (other frames skipped): (id, recipients, duplicate).
fn ack(c: &mut Client) -> (u64, u32, bool) {
    match c.recv_until_what("ack", |m| matches!(m, ServerMsg::Ack { .. })) {
        ServerMsg::Ack {
            id,
            recipients,
            duplicate,
            ..
        } => (id, recipients, duplicate),
        _ => unreachable!(),
    }
}

/// The next message (other frames skipped): (id, from, text).
fn message(c: &mut Client) -> (u64, String, String) {
    match c.recv_until_what("message", |m| matches!(m, ServerMsg::Message { .. })) {
        ServerMsg::Message { id, from, text, .. } => (id, from, text),
        _ => unreachable!(),
    }
}

/// Wait until `c` is told `who` joined (other frames skipped).
fn saw_join(c: &mut Client, who: &str) {
    c.recv_until_what(&format!("{who} joined"), |m| {
        matches!(m, ServerMsg::Notice { user, text, .. } if user == who && text.contains("joined"))
    });
}

#[test]
fn three_nodes_act_as_one_server() {
    let redis = RedisServer::start();
    let nodes = [node(&redis, "n1"), node(&redis, "n2"), node(&redis, "n3")];
    let mut alice = Client::login(nodes[0].addr(), "alice");
    let mut bob = Client::login(nodes[1].addr(), "bob");
    saw_join(&mut alice, "bob");
    let mut carol = Client::login(nodes[2].addr(), "carol");
    saw_join(&mut alice, "carol");
    saw_join(&mut bob, "carol");
    say(&mut alice, "hello from n1", "a1");
    let (id, recipients, dup) = ack(&mut alice);
    assert_eq!((recipients, dup), (2, false), "bob and carol count");
    for c in [&mut bob, &mut carol] {
        assert_eq!(message(c), (id, "alice".into(), "hello from n1".into()));
    }
    // A private message across nodes, and who is online, from n2.
    carol.send(&ClientMsg::PrivateMsg {
        to: "bob".into(),
        text: "psst".into(),
        cid: Some("c1".into()),
    });
    let (pid, _, _) = ack(&mut carol);
    assert!(pid > id, "ids increase across the cluster");
    assert_eq!(message(&mut bob), (pid, "carol".into(), "psst".into()));
    bob.send(&ClientMsg::ListUsers {});
    let users = match bob.recv_until_what("users", |m| matches!(m, ServerMsg::UserList { .. })) {
        ServerMsg::UserList { users } => users,
        _ => unreachable!(),
    };
    let mut names: Vec<_> = users.into_iter().map(|u| u.name).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol"]);
    // The name alice is taken on every node.
    let mut other = Client::connect(nodes[2].addr());
    other.send(&common::hello("alice", None, None));
    other.expect_error(ErrorCode::NameTaken);
}

#[test]
fn a_killed_nodes_users_leave_and_resume_elsewhere_with_nothing_lost_or_doubled() {
    let redis = RedisServer::start();
    let mut nodes = [node(&redis, "n1"), node(&redis, "n2"), node(&redis, "n3")];
    let mut alice = Client::login(nodes[0].addr(), "alice");
    let bob = Client::login(nodes[1].addr(), "bob");
    let token = bob.session.clone().expect("a session token");
    saw_join(&mut alice, "bob");
    say(&mut alice, "before", "a1");
    let (seen, _, _) = ack(&mut alice);
    // bob's node dies mid-conversation (SIGKILL: no goodbye).
    nodes[1].kill();
    drop(bob);
    // alice is told bob left once the node's heartbeat runs out.
    alice.recv_until_within(Duration::from_secs(10), "bob leaves", |m| {
        matches!(m, ServerMsg::Notice { user, text, .. } if user == "bob" && text.contains("left"))
    });
    say(&mut alice, "while you were away 1", "a2");
    let (m1, _, _) = ack(&mut alice);
    say(&mut alice, "while you were away 2", "a3");
    let (m2, _, _) = ack(&mut alice);
    // bob's client reconnects to n3 with its session: the name is his,
    // and what he missed comes once, in order.
    let mut bob = Client::connect(nodes[2].addr());
    bob.name = "bob".into();
    bob.send(&ClientMsg::Hello {
        version: chat::protocol::PROTOCOL_VERSION,
        name: "bob".into(),
        room: None,
        status: None,
        resume: Some(chat::protocol::Resume {
            session: Some(token),
            rooms: vec!["general".into()],
            since: Some(seen),
        }),
        password: None,
    });
    let mut missed = Vec::new();
    loop {
        match bob.recv_what("catch-up") {
            ServerMsg::Message { id, text, .. } => missed.push((id, text)),
            ServerMsg::Synced { .. } => break,
            ServerMsg::Error { code, message, .. } => panic!("{code:?}: {message}"),
            _ => {}
        }
    }
    assert_eq!(
        missed,
        [
            (m1, "while you were away 1".to_string()),
            (m2, "while you were away 2".to_string())
        ]
    );
    // A resend of a message alice's node sequenced is a duplicate on n3.
    say(&mut bob, "hi again", "b1");
    let (b1, _, dup) = ack(&mut bob);
    assert!(!dup);
    assert_eq!(message(&mut alice).0, b1);
    say(&mut bob, "hi again", "b1");
    assert_eq!(ack(&mut bob), (b1, 1, true));
    alice.expect_quiet();
}

#[test]
fn while_redis_is_killed_and_restarted_messages_wait_and_then_arrive_once() {
    let mut redis = RedisServer::start();
    let nodes = [node(&redis, "n1"), node(&redis, "n2")];
    let mut alice = Client::login(nodes[0].addr(), "alice");
    let mut bob = Client::login(nodes[1].addr(), "bob");
    saw_join(&mut alice, "bob");
    // SIGKILL: Redis's append-only file (fsync always) keeps what it took.
    redis.kill();
    say(&mut alice, "sent while redis is down", "r1");
    // bob's node still answers him while Redis is away.
    bob.ping(77);
    redis.start_again();
    let (id, recipients, dup) = ack(&mut alice);
    assert_eq!((recipients, dup), (1, false));
    assert_eq!(
        message(&mut bob),
        (id, "alice".into(), "sent while redis is down".into())
    );
    bob.expect_quiet();
    // The cluster carries on.
    say(&mut bob, "back", "b1");
    let (b, _, _) = ack(&mut bob);
    assert!(b > id);
    assert_eq!(message(&mut alice).0, b);
}

#[test]
fn with_reuse_port_two_nodes_share_one_port_and_the_kernel_spreads_clients() {
    let redis = RedisServer::start();
    let port = common::unused_port().to_string();
    let url = redis.url();
    let args = |id: &'static str| {
        vec![
            "--port",
            &port,
            "--reuse-port",
            "--cluster",
            &url,
            "--node-id",
            id,
        ]
    };
    // Without SO_REUSEPORT the second could not listen on the same port.
    let a = Server::start(&args("n1"));
    let b = Server::start(&args("n2"));
    assert_eq!(a.addr(), b.addr());
    let mut on = std::collections::BTreeMap::new();
    let mut clients = Vec::new();
    for i in 0..20 {
        let name = format!("user{i}");
        let mut c = Client::connect(a.addr());
        c.send(&common::hello(&name, None, None));
        match c.recv_until_what("welcome", |m| matches!(m, ServerMsg::Welcome { .. })) {
            ServerMsg::Welcome { server, .. } => {
                let node = if server.contains("(node n1)") {
                    "n1"
                } else {
                    "n2"
                };
                assert!(server.contains(&format!("(node {node})")), "{server}");
                *on.entry(node).or_insert(0) += 1;
            }
            _ => unreachable!(),
        }
        clients.push(c);
    }
    assert_eq!(on.len(), 2, "both nodes took connections: {on:?}");
    // And they are one server: the first user's message reaches the last.
    clients[0].send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "to everyone on either node".into(),
        cid: None,
    });
    let last = clients.last_mut().unwrap();
    assert_eq!(message(last).2, "to everyone on either node");
}

#[test]
fn a_node_stopped_with_sigterm_says_so_and_its_users_leave_at_once() {
    let redis = RedisServer::start();
    let url = redis.url();
    // A heartbeat timeout far beyond the wait below: only the node's own
    // goodbye can make its users leave in time.
    let slow =
        |id: &str| Server::start(&["--cluster", &url, "--node-id", id, "--node-timeout", "60"]);
    let (n1, mut n2) = (slow("n1"), slow("n2"));
    let mut alice = Client::login(n1.addr(), "alice");
    let _bob = Client::login(n2.addr(), "bob");
    saw_join(&mut alice, "bob");
    n2.terminate();
    alice.recv_until_within(Duration::from_secs(10), "bob leaves", |m| {
        matches!(m, ServerMsg::Notice { user, text, .. } if user == "bob" && text.contains("left"))
    });
    n2.wait_exit(Duration::from_secs(10));
}
