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
        "2",
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
    // (The missed message may print before or after the reconnect line.)
    bob.wait(&format!("reconnected to {n3}"));
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

/// Two nodes on one Redis; alice on the first, bob (downloading into
/// `dl`) on the second.
struct Two {
    _redis: RedisServer,
    _nodes: [Server; 2],
    dir: tempfile::TempDir,
    dl: std::path::PathBuf,
    alice: ChatClient,
    bob: ChatClient,
}

fn two() -> Two {
    let redis = RedisServer::start();
    let nodes = [node(&redis, "n1"), node(&redis, "n2")];
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("bob-dl");
    let mut alice = chat_login(nodes[0].addr(), "alice", &[]);
    let bob = chat_login(
        nodes[1].addr(),
        "bob",
        &["--download-dir", dl.to_str().unwrap()],
    );
    alice.wait("* bob joined #general");
    Two {
        _redis: redis,
        _nodes: nodes,
        dir,
        dl,
        alice,
        bob,
    }
}

/// The transfer id in a line like "transfer 57: alice offers ...".
fn transfer_id(line: &str) -> u64 {
    let rest = &line[line.find("transfer ").expect("a transfer line") + 9..];
    rest[..rest.find(':').expect("an id")]
        .parse()
        .expect("a number")
}

#[test]
fn a_file_moves_between_users_on_two_nodes_under_pause_and_resume() {
    let Two {
        _redis,
        _nodes,
        dir,
        dl,
        mut alice,
        mut bob,
    } = two();
    let src = dir.path().join("plans.bin");
    let bytes: Vec<u8> = (0..24 << 20)
        .map(|i: u32| (i * 7 + i / 4093) as u8)
        .collect();
    std::fs::write(&src, &bytes).unwrap();
    alice.send_line(&format!("/send bob {}", src.display()));
    let offer = bob.wait("alice offers plans.bin");
    let id = transfer_id(&offer);
    bob.send_line(&format!("/accept {id}"));
    bob.wait(&format!("transfer {id}: plans.bin from alice: in progress"));
    bob.send_line(&format!("/pause {id}"));
    alice.wait(&format!("transfer {id}: plans.bin to bob: paused"));
    // Chat goes on between the nodes meanwhile.
    alice.send_line("is it there yet?");
    bob.wait("#general <alice> is it there yet?");
    bob.send_line(&format!("/resume {id}"));
    let done = bob.wait(&format!("transfer {id}: plans.bin from alice: completed"));
    assert!(done.contains("SHA-256 verified"), "{done}");
    alice.wait(&format!("transfer {id}: plans.bin to bob: completed"));
    assert!(std::fs::read(dl.join("plans.bin")).unwrap() == bytes);
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
}

#[test]
fn a_file_stored_on_one_node_is_listed_and_downloaded_from_another() {
    let Two {
        _redis,
        _nodes,
        dir,
        dl,
        mut alice,
        mut bob,
    } = two();
    let src = dir.path().join("shared.pdf");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    alice.send_line(&format!("/upload {}", src.display()));
    alice.wait_line(
        "shared.pdf to the store: completed",
        std::time::Duration::from_secs(60),
    );
    // bob, on the other node, hears of it, lists it and fetches it.
    bob.wait("alice uploaded shared.pdf");
    bob.send_line("/files");
    bob.wait("shared.pdf  2.9 MiB  uploaded by alice");
    bob.send_line("/download shared.pdf");
    bob.wait_line(
        "shared.pdf from the store: completed",
        std::time::Duration::from_secs(60),
    );
    assert!(std::fs::read(dl.join("shared.pdf")).unwrap() == bytes);
    // The name is taken on every node.
    bob.send_line(&format!("/upload {}", src.display()));
    bob.wait("is already in the shared store");
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
}
