//! The client's scripted mode (stdin not a terminal): exit at end of input only once every
//! send is acknowledged, expect-style `/wait`, and `--json` output.

mod common;

use common::{chat_login, ChatClient, Server, EXIT_TIMEOUT};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn end_of_input_exits_0_after_every_send_is_acknowledged() {
    const N: usize = 50;
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut bob = chat_login(addr, "bob", &[]);
    let mut alice = chat_login(addr, "alice", &[]);
    bob.wait("* alice joined #general");

    // The whole script at once, then EOF straight away.
    let script: Vec<String> = (1..=N).map(|i| format!("burst message {i:03}")).collect();
    for line in &script {
        alice.send_line(line);
    }
    let status = alice.finish();
    assert!(status.success(), "exit {status:?}\n{}", alice.transcript());

    // Every send was acknowledged before the client left.
    let sent = alice
        .lines()
        .iter()
        .filter(|l| l.starts_with("✓ #") && l.ends_with(" sent to #general"))
        .count();
    assert_eq!(sent, N, "{}", alice.transcript());

    // bob got all of them, in order, once each, and then a polite leave.
    for line in &script {
        bob.wait(&format!("#general <alice> {line}"));
    }
    let left = bob.wait("* alice left #general");
    assert!(!left.contains("disconnected"), "{left}");
    let got = bob
        .lines()
        .iter()
        .filter(|l| l.contains("<alice> burst message"))
        .count();
    assert_eq!(got, N, "{}", bob.transcript());
}

#[test]
fn wait_matches_output_printed_before_it_was_read_and_only_once() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    // The line is on alice's stdout before her script even reads the /wait.
    bob.send_line("early bird");
    alice.wait("#general <bob> early bird");
    alice.send_lines(&["/wait early bird 5", "after the early wait"]);
    bob.wait("#general <alice> after the early wait");

    // A wait for a line that comes later blocks until it does.
    alice.send_lines(&["/wait <bob> later 10", "after the late wait"]);
    // /wait holds back the next line until "later" reaches alice. The server queues bob's ack
    // for "later" before alice can even see it, so alice's line must come after that ack.
    bob.send_line("later");
    bob.wait_absent_before("sent to #general", "after the late wait");
    bob.wait("#general <alice> after the late wait");

    // Expect-style: each wait scans after the previous match, so "early bird" is used up.
    alice.send_lines(&["/wait early bird 0.5", "never sent"]);
    let status = alice.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(2), "{}", alice.transcript());
    assert!(
        alice.stderr_contains(r#"timed out after 0.5s waiting for "early bird""#),
        "{}",
        alice.transcript()
    );
    bob.wait("* alice left #general");
    bob.assert_absent_before("never sent", "alice left #general");
}

#[test]
fn json_output_is_one_object_per_line() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = ChatClient::spawn(addr, "alice", &["--json"]);
    alice.wait(r#""event":"joined""#);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait(r#""event":"notice""#);

    bob.send_line("hi json");
    alice.wait("hi json");
    alice.send_lines(&[
        "/users",
        "/rooms",
        "/msg bob hello from json",
        "tricky \"quotes\", \\backslash, tab\tand ünïcödé",
        "/frobnicate",
        "/msg zed anyone?",
        "/status busy",
    ]);
    bob.wait("private <alice> hello from json");
    bob.wait("<alice> tricky");
    alice.wait(r#""event":"error""#);
    alice.wait("is now busy");
    let status = alice.finish();
    assert!(status.success(), "{}", alice.transcript());

    let lines = alice.lines();
    let mut kinds = BTreeSet::new();
    let mut objects = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{}", alice.transcript()));
        let kind = v
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no \"event\" string in {line:?}"))
            .to_string();
        kinds.insert(kind);
        objects.push(v);
    }
    for want in [
        "connected",
        "joined",
        "notice",
        "message",
        "delivery",
        "user_list",
        "room_list",
        "hint",
        "error",
    ] {
        assert!(
            kinds.contains(want),
            "no {want:?} event\n{}",
            alice.transcript()
        );
    }

    let find = |pred: &dyn Fn(&Value) -> bool, what: &str| -> Value {
        objects
            .iter()
            .find(|v| pred(v))
            .cloned()
            .unwrap_or_else(|| panic!("no {what}\n{}", alice.transcript()))
    };
    let connected = find(&|v| v["event"] == "connected", "connected event");
    assert_eq!(connected["name"], "alice");
    assert_eq!(connected["addr"], addr.to_string());
    let msg = find(&|v| v["event"] == "message", "message event");
    assert_eq!(msg["from"], "bob");
    assert_eq!(msg["room"], "general");
    assert_eq!(msg["text"], "hi json");
    assert!(msg["id"].is_u64() && msg["ts"].is_u64(), "{msg}");
    let dm = find(
        &|v| v["event"] == "delivery" && v["peer"] == "bob" && v["state"] == "sent",
        "delivery sent to bob",
    );
    assert_eq!(dm["recipients"], 1);
    assert!(dm["ids"].as_array().is_some_and(|a| a.len() == 1), "{dm}");
    let users = find(&|v| v["event"] == "user_list", "user_list");
    let names: Vec<&str> = users["users"]
        .as_array()
        .expect("users array")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let rooms = find(&|v| v["event"] == "room_list", "room_list");
    assert_eq!(rooms["rooms"][0]["name"], "general");
    assert_eq!(rooms["rooms"][0]["members"], 2);
    let err = find(&|v| v["event"] == "error", "error event");
    assert_eq!(err["code"], "unknown_user");
    let hint = find(&|v| v["event"] == "hint", "hint event");
    assert!(
        hint["text"].as_str().unwrap_or("").contains("/frobnicate"),
        "{hint}"
    );
}
