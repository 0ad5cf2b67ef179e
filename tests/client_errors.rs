//! End to end through real `chat-client` processes: what the user sees when things go wrong,
//! and the exit status (0 ok, 1 connection or login error, 2 script `/wait` timeout).

mod common;

use common::{chat_login, unused_port, ChatClient, Server, EXIT_TIMEOUT};
use std::net::SocketAddr;

#[test]
fn server_not_reachable_with_no_reconnect_exits_1_with_a_clear_line() {
    let port = unused_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = ChatClient::spawn(addr, "alice", &["--no-reconnect"]);
    let status = c.finish();
    assert_eq!(status.code(), Some(1), "{}", c.transcript());
    assert!(
        c.stderr_contains(&format!(
            "error: cannot reach the chat server at 127.0.0.1:{port}"
        )),
        "{}",
        c.transcript()
    );
    assert!(
        !c.lines().iter().any(|l| l.starts_with("connected to")),
        "{}",
        c.transcript()
    );
}

#[test]
fn name_taken_exits_1() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut first = chat_login(addr, "dup", &[]);
    let mut second = ChatClient::spawn(addr, "dup", &[]);
    // No stdin needed: the login is refused and the client exits by itself.
    let status = second.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", second.transcript());
    assert!(
        second.stderr_contains(r#"error: name "dup" is already taken; pick another with --name"#),
        "{}",
        second.transcript()
    );
    // The first one is unaffected and nobody saw a second "dup" join: the /users answer, asked
    // after the second client was refused and exited, is the barrier.
    first.send_line("/users");
    first.wait("* users online: dup (online; #general)");
    first.assert_absent_before("dup joined", "* users online");
}

/// With `--no-reconnect`; reconnecting is the default (tests/reliability_client.rs).
#[test]
fn lost_connection_is_reported_and_exits_nonzero() {
    let mut server = Server::start(&[]);
    let mut alice = chat_login(server.addr(), "alice", &["--no-reconnect"]);
    // stdin stays open: the client is idle, waiting for the next command.
    server.kill();
    let status = alice.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "{}", alice.transcript());
    assert_eq!(status.code(), Some(1), "{}", alice.transcript());
    assert!(
        alice.stderr_contains("connection to the server lost"),
        "{}",
        alice.transcript()
    );
}

#[test]
fn lost_connection_during_a_wait_is_reported() {
    let mut server = Server::start(&[]);
    let mut alice = chat_login(server.addr(), "alice", &["--no-reconnect"]);
    // The script prints a hint for an unknown command, then goes straight into the wait (the
    // next line is already read); /help is only run once the wait is over.
    alice.send_line("/about-to-wait");
    alice.send_line("/wait something that never comes 30");
    alice.send_line("/help");
    alice.wait("unknown command /about-to-wait");
    server.kill();
    let status = alice.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", alice.transcript());
    assert!(
        alice.stderr_contains("connection to the server lost"),
        "{}",
        alice.transcript()
    );
    // It exited from the wait (within EXIT_TIMEOUT, well before the wait's 30 s): /help, next
    // in the script, never ran. The client has exited, so every line it printed is in.
    assert!(
        !alice.lines().iter().any(|l| l.contains("commands")),
        "{}",
        alice.transcript()
    );
}

#[test]
fn unknown_command_and_bad_usage_get_a_hint_and_the_script_goes_on() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    alice.send_line("/frobnicate now");
    alice.wait("unknown command /frobnicate; type /help for the list");
    alice.send_line("/join");
    alice.wait("usage: /join ROOM");
    alice.send_line("/call bob fax");
    alice.wait("usage: /call NAME [voice|video]");
    alice.send_line("/status asleep");
    alice.wait("online, busy or away");
    // None of that reached the server; the next line still works.
    alice.send_line("still fine");
    bob.wait("#general <alice> still fine");
    bob.assert_absent_before("frobnicate", "still fine");
    let status = alice.finish();
    assert!(status.success(), "{}", alice.transcript());
}

#[test]
fn wait_timeout_exits_2() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut bob = chat_login(addr, "bob", &[]);
    let mut alice = chat_login(addr, "alice", &[]);
    bob.wait("* alice joined #general");
    alice.send_line("/wait carol joined 0.5");
    alice.send_line("this line is never sent");
    let status = alice.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(2), "{}", alice.transcript());
    assert!(
        alice.stderr_contains(r#"timed out after 0.5s waiting for "carol joined""#),
        "{}",
        alice.transcript()
    );
    // It logged out politely (no "(disconnected)") and never sent the line after the wait.
    let left = bob.wait("* alice left #general");
    assert!(!left.contains("disconnected"), "{left}");
    bob.assert_absent_before("never sent", "alice left #general");
}
