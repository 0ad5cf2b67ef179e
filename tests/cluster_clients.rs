//! Real `chat-client`s on a cluster of three nodes: a client given two
//! nodes' addresses whose node is killed mid-conversation moves to the
//! other by itself and resumes there, missing nothing and seeing nothing
//! twice; users on different nodes chat through scripts as on one server.

mod common;

use common::redis::RedisServer;
use common::{chat_login, ChatClient, Server};
use std::process::Command;

fn node(redis: &RedisServer, id: &str) -> Server {
    Server::start(&[
        "--cluster",
        &redis.url(),
        "--node-id",
        id,
        "--node-timeout",
        "1",
    ])
}

#[test]
fn a_client_whose_node_dies_moves_to_another_and_misses_nothing() {
    let redis = RedisServer::start();
    let mut nodes = [node(&redis, "n1"), node(&redis, "n2"), node(&redis, "n3")];
    let (n2, n3) = (nodes[1].addr(), nodes[2].addr());
    let mut alice = chat_login(nodes[0].addr(), "alice", &[]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(["--name", "bob", "--host", &format!("{n2},{n3}")]);
    let mut bob = ChatClient::spawn_command(cmd, "bob");
    bob.wait(&format!("connected to {n2} as bob"));
    bob.wait("* you joined #general");
    alice.wait("* bob joined #general");
    alice.send_line("first, before the crash");
    bob.wait("#general <alice> first, before the crash");
    nodes[1].kill();
    alice.send_line("second, during the crash");
    bob.wait(&format!("reconnected to {n3}"));
    bob.wait("#general <alice> second, during the crash");
    alice.send_line("third, after it");
    bob.wait("#general <alice> third, after it");
    bob.send_line("bob, back on n3");
    alice.wait("#general <bob> bob, back on n3");
    assert!(bob.finish().success(), "{}", bob.transcript());
    assert!(alice.finish().success(), "{}", alice.transcript());
    let seen = bob.transcript();
    for line in [
        "<alice> first, before the crash",
        "<alice> second, during the crash",
        "<alice> third, after it",
    ] {
        assert_eq!(seen.matches(line).count(), 1, "{line:?} once:\n{seen}");
    }
    let theirs = alice.transcript();
    assert_eq!(
        theirs.matches("<bob> bob, back on n3").count(),
        1,
        "{theirs}"
    );
}
