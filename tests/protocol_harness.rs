//! Self-tests of the harness in tests/common: the expect-style process driver (on `sh`, so it
//! does not depend on chat-client) and the server's restart with the same data dir and port.

mod common;

use chat::protocol::ServerMsg;
use common::*;
use std::process::Command;
use std::time::Duration;

fn sh(script: &str) -> ChatClient {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    ChatClient::spawn_command(cmd, "sh")
}

#[test]
fn process_driver_waits_for_lines_in_order() {
    let mut p = sh("echo ready; while read l; do echo \"got $l\"; done; echo bye >&2; exit 3");
    p.wait_line("ready", RECV_TIMEOUT);
    p.send_line("one");
    p.send_line("two");
    assert_eq!(p.wait_line("got", RECV_TIMEOUT), "got one");
    assert_eq!(p.wait_line("got", RECV_TIMEOUT), "got two");
    // A barrier: the answer to a fresh line comes after anything the first two caused.
    p.send_line("three");
    assert_eq!(p.wait_absent_before("got three", "got"), "got three");
    p.close_stdin();
    let status = p.wait_exit(RECV_TIMEOUT);
    assert_eq!(status.code(), Some(3));
    assert_eq!(p.stderr_lines(), vec!["bye"]);
}

#[test]
#[should_panic(expected = "waiting for a line containing \"never\"")]
fn process_driver_times_out_with_a_clear_message() {
    let mut p = sh("echo something; read l");
    p.wait_line("never", Duration::from_millis(200));
}

#[test]
#[should_panic(expected = "did not exit")]
fn process_driver_exit_wait_has_a_deadline() {
    let mut p = sh("read l");
    p.wait_exit(Duration::from_millis(200));
}

#[test]
fn server_restart_keeps_data_dir_and_address() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    let dir = server.data_dir().to_path_buf();
    let pid = server.pid();
    let mut alice = Client::login(addr, "alice");
    server.restart();
    assert_eq!(server.addr(), addr);
    assert_eq!(server.data_dir(), dir);
    assert!(dir.is_dir());
    assert_ne!(server.pid(), pid);
    alice.expect_closed();
    let mut alice = Client::login(addr, "alice");
    alice.ping(1);
}

#[test]
#[should_panic(expected = "timed out after")]
fn recv_timeout_names_what_was_expected() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.recv_within(Duration::from_millis(100), "a frame that never comes");
}

#[test]
fn frames_decode_as_server_messages() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send_body(br#"{"type":"ping","seq":42}"#);
    assert_eq!(c.recv(), ServerMsg::Pong { seq: Some(42) });
}

#[test]
fn sync_returns_the_frames_before_its_pong() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send(&chat::protocol::ClientMsg::Ping { seq: Some(7) });
    assert_eq!(c.sync(), vec![ServerMsg::Pong { seq: Some(7) }]);
    c.expect_quiet();
}

#[test]
#[should_panic(expected = "expected no frame before the barrier pong")]
fn expect_quiet_fails_on_a_frame_before_the_pong() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send(&chat::protocol::ClientMsg::Ping { seq: Some(8) });
    c.expect_quiet();
}
