//! The first connection backs off and retries like a reconnect: a client
//! started before its server says so on each try and connects once the
//! server is up; a first connection cut before `welcome` is tried again and
//! the script typed meanwhile is not lost. (`--no-reconnect` still exits 1 at
//! once: see client_errors.)

mod common;

use common::hostile::{HostileServer, Peer};
use common::{unused_port, ChatClient};
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;

/// A scripted client for `addr` retrying every 50 ms or so.
fn spawn(addr: SocketAddr) -> ChatClient {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(common::client_args(addr, "bob"))
        .env("CHAT_RECONNECT_BASE_MS", "50");
    ChatClient::spawn_command(cmd, "bob")
}

/// Log `peer` in and expect the script's line as a `room_msg`.
fn login_and_expect_line(peer: &mut Peer, bob: &mut ChatClient, text: &str) {
    peer.login();
    bob.wait("* you joined #general");
    let msg = peer.recv_type("room_msg");
    assert_eq!(msg["text"], text, "{}", bob.transcript());
}

#[test]
fn a_client_started_before_its_server_retries_until_it_is_up() {
    let port = unused_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut bob = spawn(addr);
    bob.send_line("typed before the server was up");
    // Every try is shown, not just the first.
    let want = format!(
        "cannot reach the chat server at 127.0.0.1:{port} (connection refused); trying again in"
    );
    bob.wait(&want);
    bob.wait(&want);
    let listener = TcpListener::bind(addr).expect("bind the server's port");
    let (stream, _) = listener.accept().expect("the client connects");
    let mut peer = Peer::from_stream(stream);
    login_and_expect_line(&mut peer, &mut bob, "typed before the server was up");
}

#[test]
fn a_first_connection_cut_before_welcome_is_tried_again_and_the_script_goes_on() {
    let hostile = HostileServer::start();
    let mut bob = spawn(hostile.addr());
    bob.send_line("the script survives");
    let mut first = hostile.accept();
    first.recv_type("hello");
    drop(first);
    bob.wait("the server did not finish the login");
    let mut second = hostile.accept();
    login_and_expect_line(&mut second, &mut bob, "the script survives");
    second.send(&json!({"type": "bye", "reason": "test over"}));
}
