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
    // Offer `name` as transfer `id`, see it accepted and started, send
    // `data` as one binary chunk: the client's first answer past credit.
    let mut send = |id: u64, name: &str, data: &[u8]| {
        let size = payload.len() as u64;
        peer.send(&offer(id, Some("mallory"), name, size, &sum));
        assert_eq!(peer.recv_file_frame(id)["type"], "file_accept");
        peer.send(&state(id, name));
        peer.send_raw(&binary::frame(id, 0, data));
        loop {
            let f = peer.recv_file_frame(id);
            if f["type"] != "file_credit" {
                break f;
            }
        }
    };
    // A binary chunk, though this server's welcome offered none: the file
    // arrives and is verified.
    assert_eq!(send(1, "ok.bin", payload)["type"], "file_done");
    assert_eq!(std::fs::read(dl.path().join("ok.bin")).unwrap(), payload);
    // More bytes than offered: the transfer fails, nothing is kept.
    let answer = send(2, "big.bin", &[7; 100]);
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
