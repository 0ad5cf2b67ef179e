//! Several server addresses (`--host A --host B`, `--host A,B`), through real
//! `chat-client` and `chat-server` processes: a dead address is skipped for
//! a live one at once, a client whose server dies moves to the next address
//! by itself (no backoff wait: every client here has a 60 s retry base, far
//! beyond the line timeout) and carries its rooms there, TLS checks the
//! certificate against the host part of the address used, and bad
//! addresses are refused with a sentence saying what is wrong.

mod common;

use common::{chat_login, unused_port, ChatClient, Server, EXIT_TIMEOUT, LINE_TIMEOUT};
use std::process::Command;

/// A backoff no test here may wait out: moving to the next address must not.
const SLOW_MS: &str = "60000";

/// A scripted `chat-client` as `name` with these arguments (addresses
/// included) and the slow retry base.
fn spawn(name: &str, args: &[String]) -> ChatClient {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(["--name", name])
        .args(args)
        .env("CHAT_RECONNECT_BASE_MS", SLOW_MS);
    ChatClient::spawn_command(cmd, name)
}

#[test]
fn a_dead_address_is_skipped_for_the_next_one_and_the_client_chats_there() {
    let server = Server::start(&[]);
    let live = server.addr();
    let dead = unused_port();
    let mut alice = chat_login(live, "alice", &[]);
    let mut bob = spawn(
        "bob",
        &[
            "--host".into(),
            format!("127.0.0.1:{dead}"),
            "--host".into(),
            live.to_string(),
        ],
    );
    bob.wait(&format!(
        "cannot reach the chat server at 127.0.0.1:{dead} (connection refused); trying {live} now"
    ));
    bob.wait(&format!("connected to {live} as bob"));
    bob.wait("* you joined #general");
    alice.wait("* bob joined #general");
    bob.send_line("hello through the second address");
    alice.wait("#general <bob> hello through the second address");
    alice.send_line("hi bob");
    bob.wait("#general <alice> hi bob");
    assert!(bob.finish().success(), "{}", bob.transcript());
    assert!(alice.finish().success(), "{}", alice.transcript());
}

#[test]
fn with_no_reconnect_each_address_is_still_tried_once() {
    let server = Server::start(&[]);
    let live = server.addr();
    let dead = unused_port();
    let mut bob = spawn(
        "bob",
        &[
            "--no-reconnect".into(),
            "--host".into(),
            format!("127.0.0.1:{dead},{live}"),
        ],
    );
    bob.wait(&format!("connected to {live} as bob"));
    assert!(bob.finish().success(), "{}", bob.transcript());

    // Every address dead: one try each, then exit 1 naming the last one.
    let other = unused_port();
    let mut bob = spawn(
        "bob",
        &[
            "--no-reconnect".into(),
            "--host".into(),
            format!("127.0.0.1:{dead},127.0.0.1:{other}"),
        ],
    );
    bob.wait(&format!(
        "cannot reach the chat server at 127.0.0.1:{dead} (connection refused); trying 127.0.0.1:{other} now"
    ));
    let status = bob.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", bob.transcript());
    assert!(
        bob.stderr_contains(&format!(
            "error: cannot reach the chat server at 127.0.0.1:{other} (connection refused)"
        )),
        "{}",
        bob.transcript()
    );
}

#[test]
fn when_its_server_dies_the_client_moves_to_the_next_address_with_its_rooms() {
    let mut a = Server::start(&[]);
    let b = Server::start(&[]);
    let (a_addr, b_addr) = (a.addr(), b.addr());
    let mut carol = chat_login(b_addr, "carol", &[]);
    let mut bob = spawn("bob", &["--host".into(), format!("{a_addr},{b_addr}")]);
    bob.wait(&format!("connected to {a_addr} as bob"));
    bob.wait("* you joined #general");
    bob.send_line("/join lab");
    bob.wait("* you joined #lab");

    // A dies: bob goes to B at once (no 60 s backoff) and resumes there,
    // asking for the rooms he was in (B never saw his session: it is new).
    a.kill();
    let line = bob.wait("connection to the server lost (");
    assert!(
        line.contains(&format!("); reconnecting to {b_addr} now")),
        "{line}"
    );
    bob.wait(&format!(
        "reconnected to {b_addr}; caught up on 0 missed message(s)"
    ));
    carol.wait("* bob joined #general");
    carol.send_line("/join lab");
    carol.wait("* you joined #lab");
    bob.send_line("hello from B");
    carol.wait("#lab <bob> hello from B");
    carol.send_line("welcome to B");
    bob.wait("#lab <carol> welcome to B");
    assert!(bob.finish().success(), "{}", bob.transcript());
    assert!(carol.finish().success(), "{}", carol.transcript());
}

#[test]
fn tls_checks_the_certificate_against_the_host_of_the_address_used() {
    // A certificate for the name `localhost` only.
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = server.addr().port();
    let dead = unused_port();
    let mut bob = spawn(
        "bob",
        &[
            "--ca".into(),
            cert.display().to_string(),
            "--host".into(),
            format!("127.0.0.1:{dead}, localhost:{port}"),
        ],
    );
    bob.wait(&format!("connected to localhost:{port} as bob"));
    bob.wait("* you joined #general");
    assert!(bob.finish().success(), "{}", bob.transcript());
}

#[test]
fn bad_addresses_are_refused_with_a_sentence() {
    let refused = |hosts: &[&str], want: &str| {
        let mut args = Vec::new();
        for h in hosts {
            args.push("--host".to_string());
            args.push(h.to_string());
        }
        let mut c = spawn("bob", &args);
        let status = c.wait_exit(EXIT_TIMEOUT);
        assert_eq!(status.code(), Some(2), "{hosts:?}\n{}", c.transcript());
        assert!(
            c.stderr_contains(&format!("error: bad --host: {want}")),
            "{hosts:?}: want {want:?}\n{}",
            c.transcript()
        );
    };
    refused(
        &["host:notaport"],
        "\"notaport\" in server address \"host:notaport\" is not a port; a port is a number from 1 to 65535 (HOST:PORT)",
    );
    refused(
        &["127.0.0.1", "host:99999"],
        "\"99999\" in server address \"host:99999\" is not a port",
    );
    refused(&["a,,b"], "an empty server address in \"a,,b\"");
    refused(&[""], "no server address given");
    let many: Vec<String> = (1..=17).map(|i| format!("127.0.0.1:{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    refused(
        &many,
        "17 server addresses given, but at most 16 are allowed; list fewer",
    );
}

#[test]
fn one_host_and_a_port_still_connect_as_before() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut c = ChatClient::spawn(addr, "solo", &[]);
    c.wait_line(&format!("connected to {addr} as solo"), LINE_TIMEOUT);
    assert!(c.finish().success(), "{}", c.transcript());
}
