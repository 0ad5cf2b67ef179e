//! Binary file chunks (`protocol::binary`) from a server that never offered
//! them: the client reads them like any chunk, refuses more bytes than were
//! offered, and drops a connection whose binary frame is over the bound
//! instead of waiting for it.

mod common;
mod transfer_common;

use chat::protocol::binary::{self, MAX_BODY};
use common::hostile::{offer, HostileServer};
use common::ChatClient;
use serde_json::json;
use transfer_common::sha;

#[test]
fn unasked_binary_chunks_are_read_checked_and_bounded() {
    let hostile = HostileServer::start();
    let dl = tempfile::tempdir().unwrap();
    let dir = dl.path().to_str().unwrap();
    let mut bob = ChatClient::spawn(
        hostile.addr(),
        "bob",
        &["--auto-accept", "--download-dir", dir],
    );
    let (mut peer, _) = hostile.accept_login();
    bob.wait("* you joined #general");
    let payload = b"binary bytes, never base64";
    let sum = sha(payload);
    let state = |id: u64, name: &str| {
        json!({
            "type": "file_state", "id": id, "state": "in_progress", "role": "receiver",
            "peer": "mallory", "name": name, "size": payload.len(), "sha256": sum, "offset": 0
        })
    };
    // A binary chunk, though this server's welcome offered none: the file
    // arrives and is verified.
    peer.send(&offer(
        1,
        Some("mallory"),
        "ok.bin",
        payload.len() as u64,
        &sum,
    ));
    assert_eq!(peer.recv_file_frame(1)["type"], "file_accept");
    peer.send(&state(1, "ok.bin"));
    peer.send_raw(&binary::frame(1, 0, payload));
    loop {
        let f = peer.recv_file_frame(1);
        if f["type"] == "file_done" {
            break;
        }
        assert_eq!(f["type"], "file_credit", "{f}");
    }
    assert_eq!(std::fs::read(dl.path().join("ok.bin")).unwrap(), payload);
    // More bytes than offered: the transfer fails, nothing is kept.
    peer.send(&offer(
        2,
        Some("mallory"),
        "big.bin",
        payload.len() as u64,
        &sum,
    ));
    assert_eq!(peer.recv_file_frame(2)["type"], "file_accept");
    peer.send(&state(2, "big.bin"));
    peer.send_raw(&binary::frame(2, 0, &[7; 100]));
    let answer = loop {
        let f = peer.recv_file_frame(2);
        if f["type"] != "file_credit" {
            break f;
        }
    };
    assert_eq!(answer["type"], "file_failed", "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("more data than the 26 bytes offered"),
        "{answer}"
    );
    assert!(!dl.path().join("big.bin").exists());
    // A binary frame over the bound: the connection is dropped at once.
    let mut big = ((MAX_BODY + 1) as u32 | binary::FLAG)
        .to_be_bytes()
        .to_vec();
    big.extend([0; 16]);
    peer.send_raw(&big);
    // (without waiting for the 2 GiB a JSON reader would expect)
    bob.wait("connection to the server lost");
}
