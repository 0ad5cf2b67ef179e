//! The current target belongs to the user: a `/switch` made while the client
//! is reconnecting survives the `welcome` that ends the reconnect (it used to
//! be reset to the first room of the resume request, and the next plain line
//! went to the old room). A scripted client talks to a test server that
//! holds the `welcome` back until the switch has been printed.

mod common;

use common::hostile::HostileServer;
use common::ChatClient;
use serde_json::json;
use std::process::Command;

#[test]
fn a_switch_during_a_reconnect_survives_the_welcome() {
    let hostile = HostileServer::start();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(common::client_args(hostile.addr(), "bob"))
        .env("CHAT_RECONNECT_BASE_MS", "50");
    let mut bob = ChatClient::spawn_command(cmd, "bob");
    let (mut peer, _) = hostile.accept_login();
    bob.wait("* you joined #general");
    bob.send_line("/join lab");
    peer.recv_type("join");
    peer.send(&json!({"type": "joined", "room": "lab", "members": ["bob"], "created": true}));
    bob.wait("* you joined #lab");

    // The connection drops; the client comes back asking to resume with #lab current.
    drop(peer);
    bob.wait("connection to the server lost");
    let mut peer = hostile.accept();
    let hello = peer.recv_type("hello");
    assert_eq!(hello["room"], "lab", "{hello}");

    // Before the welcome, the user switches to #general.
    bob.send_line("/switch general");
    bob.wait("* now talking in #general");

    // The welcome lists the resume request's first room first; the catch-up ends.
    peer.send(&json!({
        "type": "welcome", "version": 1, "name": "bob", "server": "test",
        "rooms": ["lab", "general"], "session": "s2", "last_id": 0
    }));
    peer.send(&json!({"type": "synced", "count": 0, "last_id": 0}));
    bob.wait(&format!(
        "reconnected to {}; caught up on 0 missed message(s)",
        hostile.addr()
    ));

    // A plain line goes where the user said.
    bob.send_line("meant for general");
    let msg = peer.recv_type("room_msg");
    assert_eq!(msg["room"], "general", "{msg}\n{}", bob.transcript());
    assert_eq!(msg["text"], "meant for general");
}
