//! Never lose a message, through real `chat-client` processes: reconnecting by
//! themselves after a server restart or shutdown, messages typed while the
//! server is down sent exactly once afterwards, what others said meanwhile
//! shown marked `(missed)`, private messages held for someone offline,
//! `/history` across a restart, and a name taken while reconnecting.
//!
//! Clients retry after `CHAT_RECONNECT_BASE_MS` (100 ms here); one that must
//! stay away until the test says so gets a long base and is brought back with
//! `/reconnect`. Everything synchronises on printed lines, with deadlines.

mod common;

use common::{client_args, hello, ChatClient, Client, Server, EXIT_TIMEOUT, LINE_TIMEOUT};
use std::net::SocketAddr;
use std::process::Command;

/// Retry delay base for clients that should come back quickly.
const FAST_MS: u64 = 100;
/// ... and for one that stays away until it is told `/reconnect`.
const SLOW_MS: u64 = 60_000;
/// Passwords for the users that register their names.
const ALICE_PASSWORD: &str = "alice's password";
const BOB_PASSWORD: &str = "bob's password";

/// Spawn `chat-client` as `name` with this retry base and wait until it is in its room.
/// Wait for the line saying the connection was lost: it gives the reason
/// (the server closed it, or reset it when killed) before `then`.
fn expect_lost(c: &mut ChatClient, then: &str) {
    let line = c.wait("connection to the server lost (");
    let why = [
        "the server closed the connection",
        "reset by peer",
        "Broken pipe",
    ];
    assert!(
        why.iter().any(|w| line.contains(w)) && line.contains(&format!("); {then}")),
        "{line}"
    );
}

fn login(addr: SocketAddr, name: &str, base_ms: u64) -> ChatClient {
    login_with(addr, name, base_ms, None)
}

/// [`login`] with `password` in `CHAT_PASSWORD`: the first login registers
/// the name (only a registered name's private messages wait for it while it
/// is offline, and are read back after a restart); every later one must
/// give the same password.
fn login_registered(addr: SocketAddr, name: &str, password: &str, base_ms: u64) -> ChatClient {
    login_with(addr, name, base_ms, Some(password))
}

fn login_with(addr: SocketAddr, name: &str, base_ms: u64, password: Option<&str>) -> ChatClient {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(client_args(addr, name))
        .env("CHAT_RECONNECT_BASE_MS", base_ms.to_string());
    match password {
        Some(pw) => cmd.env("CHAT_PASSWORD", pw),
        None => cmd.env_remove("CHAT_PASSWORD"),
    };
    let mut c = ChatClient::spawn_command(cmd, name);
    c.wait_line(&format!("connected to {addr} as {name}"), LINE_TIMEOUT);
    c.wait("* you joined #");
    c
}

/// How many printed lines contain `text`.
fn count(c: &ChatClient, text: &str) -> usize {
    c.lines().iter().filter(|l| l.contains(text)).count()
}

#[test]
fn server_restart_mid_conversation_clients_come_back_by_themselves_and_catch_up() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = login(addr, "alice", SLOW_MS);
    let mut bob = login(addr, "bob", FAST_MS);
    alice.wait("* bob joined #general");
    alice.send_line("before the restart");
    bob.wait("#general <alice> before the restart");
    alice.wait("sent to #general");

    server.kill();
    expect_lost(&mut alice, "reconnecting in");
    expect_lost(&mut bob, "reconnecting in 0.");
    // The script goes on while disconnected: this waits for the next login.
    alice.send_line("typed while the server was down");
    server.restart();

    // bob is back by himself (nothing missed) and talks while alice is still away.
    bob.wait(&format!(
        "reconnected to {addr}; caught up on 0 missed message(s)"
    ));
    bob.send_line("said while alice was away");
    bob.wait("sent to #general (nobody else is there)");

    // alice comes back on request, sees what she missed, marked, then her queued line goes out.
    // (The "reconnecting now" line comes from the front end and may be
    // printed after the network thread's first lines: checked at the end.)
    alice.send_line("/reconnect");
    alice.wait("#general <bob> said while alice was away (missed)");
    alice.wait(&format!(
        "reconnected to {addr}; caught up on 1 missed message(s)"
    ));
    bob.wait("* alice joined #general");
    bob.wait("#general <alice> typed while the server was down");
    alice.wait("sent to #general");

    // Live again, both ways.
    bob.send_line("all good?");
    alice.wait("#general <bob> all good?");
    alice.send_line("all good");
    bob.wait("#general <alice> all good");

    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(
        alice.lines().iter().any(|l| l.contains("reconnecting now")),
        "{}",
        alice.transcript()
    );
    bob.wait("* alice left #general");
    assert!(bob.finish().success(), "{}", bob.transcript());
    // Exactly once each, nothing replayed twice.
    for text in [
        "<alice> before the restart",
        "<alice> typed while the server was down",
        "<alice> all good",
    ] {
        assert_eq!(count(&bob, text), 1, "{text}\n{}", bob.transcript());
    }
    assert_eq!(count(&alice, "<bob> said while alice was away"), 1);
    assert_eq!(count(&alice, "connection to the server lost"), 1);
}

#[test]
fn a_graceful_shutdown_counts_as_a_drop_and_the_client_resumes_when_the_server_is_back() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = login(addr, "alice", FAST_MS);
    alice.send_line("/join lab");
    alice.wait("* you joined #lab");
    alice.send_line("/status away");
    alice.wait("alice is now away");
    server.terminate();
    alice.wait("* the server is closing the connection");
    expect_lost(&mut alice, "reconnecting in");
    assert!(server.wait_exit(EXIT_TIMEOUT).success());
    server.restart();
    alice.wait(&format!(
        "reconnected to {addr}; caught up on 0 missed message(s)"
    ));

    // Rooms, current room and status came back without a word from the user.
    let mut bob = login(addr, "bob", FAST_MS);
    bob.send_line("/users");
    bob.wait("alice (away; #general #lab)");
    bob.send_line("/join lab");
    bob.wait("* you joined #lab");
    alice.send_line("hello lab");
    bob.wait("#lab <alice> hello lab");
    assert!(alice.finish().success(), "{}", alice.transcript());
}

#[test]
fn a_private_message_to_someone_offline_is_delivered_at_their_next_login() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = login(addr, "alice", FAST_MS);
    // bob registers his name, so messages can wait for him; carol does not.
    let mut bob = login_registered(addr, "bob", BOB_PASSWORD, FAST_MS);
    alice.wait("* bob joined #general");
    let mut carol = login(addr, "carol", FAST_MS);
    alice.wait("* carol joined #general");
    assert!(bob.finish().success(), "{}", bob.transcript());
    alice.wait("* bob left #general");
    assert!(carol.finish().success(), "{}", carol.transcript());
    alice.wait("* carol left #general");

    // Nothing waits for an offline name nobody has registered.
    alice.send_line("/msg carol you will never see this");
    alice.wait("error: carol is offline and has no account");

    alice.send_line("/msg bob see this when you are back");
    let sent = alice.wait("sent to bob");
    let id = sent
        .split_whitespace()
        .find(|w| w.starts_with('#'))
        .unwrap_or_else(|| panic!("no id in {sent:?}"))
        .to_string();

    let mut bob = login_registered(addr, "bob", BOB_PASSWORD, FAST_MS);
    bob.wait("private <alice> see this when you are back (missed)");
    bob.wait("1 message(s) arrived while you were away");
    alice.wait(&format!("{id} delivered to bob"));
    assert!(bob.finish().success(), "{}", bob.transcript());
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert_eq!(count(&alice, "sent to carol"), 0, "{}", alice.transcript());
}

#[test]
fn history_shows_older_messages_after_a_restart_and_pages_backwards() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    // Registered: their private conversation is theirs across the restart
    // (which ends every session; an open name's history starts anew).
    let mut alice = login_registered(addr, "alice", ALICE_PASSWORD, FAST_MS);
    let mut bob = login_registered(addr, "bob", BOB_PASSWORD, FAST_MS);
    alice.wait("* bob joined #general");
    for i in 1..=3 {
        alice.send_line(&format!("old message {i}"));
        bob.wait(&format!("<alice> old message {i}"));
    }
    bob.send_line("/msg alice a private word");
    alice.wait("private <bob> a private word");
    bob.wait("delivered to alice");

    server.restart();
    alice.wait(&format!(
        "reconnected to {addr}; caught up on 0 missed message(s)"
    ));
    bob.wait(&format!(
        "reconnected to {addr}; caught up on 0 missed message(s)"
    ));

    // Someone new reads back, two at a time.
    let mut carol = login(addr, "carol", FAST_MS);
    carol.send_line("/history 2");
    carol.wait("#general <alice> old message 2 (history)");
    carol.wait("#general <alice> old message 3 (history)");
    carol.wait("-- 2 older message(s) of #general; /history for more");
    carol.send_line("/history 2");
    carol.wait("#general <alice> old message 1 (history)");
    carol.wait("-- 1 older message(s) of #general; nothing older");
    carol.send_line("/history");
    carol.wait("-- start of #general");
    assert_eq!(count(&carol, "old message 1"), 1, "{}", carol.transcript());

    // A private conversation, own messages included, after the restart too.
    alice.send_line("/msg bob and my answer");
    bob.wait("private <alice> and my answer");
    alice.send_line("/history @bob");
    alice.wait("private <bob> a private word (history)");
    alice.wait("private <alice> and my answer (history)");
    alice.wait("-- 2 older message(s) of your conversation with bob; nothing older");
    assert!(carol.finish().success(), "{}", carol.transcript());
}

#[test]
fn a_name_taken_while_reconnecting_ends_the_client_with_one_clear_line() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = login(addr, "alice", SLOW_MS);
    server.restart();
    expect_lost(&mut alice, "reconnecting in");
    // The restarted server holds nothing: an impostor gets the name first.
    let mut impostor = Client::connect(addr);
    impostor.send(&hello("alice", None, None));
    impostor.recv_what("welcome");
    alice.send_line("/reconnect");
    let status = alice.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", alice.transcript());
    let err = alice.stderr_lines();
    assert_eq!(err.len(), 1, "{}", alice.transcript());
    assert!(
        err[0].starts_with("error: cannot log in again as \"alice\" after the lost connection")
            && err[0].contains("another --name"),
        "{}",
        alice.transcript()
    );
}
