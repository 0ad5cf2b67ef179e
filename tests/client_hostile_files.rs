//! The client does not trust offered file names, survives any name, and
//! ends a script without waiting for offers it never accepted.
//!
//! - A hostile server offers `../x/rel.sh`, an absolute path and names no
//!   common file system holds to an `--auto-accept` client, and answers a
//!   `/download` with a path: the client declines each with a line saying why
//!   and writes nothing outside `--download-dir` (a safe offer afterwards is
//!   the barrier: frames are handled in order).
//! - `é.txt` received twice (through the real server) is saved as `é-1.txt`,
//!   and the client still hears what comes next.
//! - One unsolicited offer does not keep a scripted client running after
//!   `/quit` or the end of its input.

mod common;
mod transfer_common;

use base64::Engine;
use common::hostile::{offer, HostileServer};
use common::{chat_login, ChatClient, Client, Server, EXIT_TIMEOUT};
use serde_json::json;
use std::path::Path;
use transfer_common::{sha, B64};

/// Every file under `dir` (relative paths), sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn offered_paths_and_unsafe_names_are_declined_and_nothing_leaves_the_download_dir() {
    let hostile = HostileServer::start();
    let root = tempfile::tempdir().unwrap();
    let dl = root.path().join("dl");
    let abs = root.path().join("abs.sh");
    let mut bob = ChatClient::spawn(
        hostile.addr(),
        "bob",
        &["--auto-accept", "--download-dir", dl.to_str().unwrap()],
    );
    let (mut peer, _) = hostile.accept_login();
    bob.wait("* you joined #general");

    let payload = b"#!/bin/sh\necho pwned\n";
    let sum = sha(payload);
    let data = B64.encode(payload);
    let abs_name = abs.to_str().unwrap().to_string();
    let names = [
        "../x/rel.sh",
        abs_name.as_str(),
        "..",
        "CON",
        "a:b.sh",
        "\u{200b}\u{200b}",
        "evil\u{202e}hs.txt",
    ];
    for (i, name) in names.iter().enumerate() {
        let id = i as u64 + 1;
        peer.send(&offer(
            id,
            Some("mallory"),
            name,
            payload.len() as u64,
            &sum,
        ));
        let answer = peer.recv_file_frame(id);
        assert_eq!(
            answer["type"],
            "file_reject",
            "offer of {name:?} answered with {answer}\n{}",
            bob.transcript()
        );
        let line = bob.wait(&format!("transfer {id}: declined the file mallory offers"));
        assert!(line.contains("file name"), "{line}");
        if name.contains('\u{202e}') {
            assert!(
                line.contains("evil\\u{202e}hs.txt"),
                "shown escaped: {line}"
            );
        }
        // Pushed on regardless: the client has nowhere to put it.
        peer.send(&json!({
            "type": "file_state", "id": id, "state": "in_progress", "role": "receiver",
            "peer": "mallory", "name": name, "size": payload.len(), "sha256": sum, "offset": 0
        }));
        peer.send(&json!({"type": "file_chunk", "id": id, "offset": 0, "data": data}));
    }

    // A download answered with a path: declined as well.
    bob.send_line("/download notes.pdf");
    let asked = peer.recv_type("download");
    let mut st = offer(50, None, "../../notes.pdf", payload.len() as u64, &sum);
    st["cid"] = asked["cid"].clone();
    peer.send(&st);
    assert_eq!(peer.recv_file_frame(50)["type"], "file_reject");
    bob.wait("transfer 50: declined the file the store offers");

    // Barrier: a safe offer is accepted, received and verified.
    peer.send(&offer(
        99,
        Some("mallory"),
        "ok.sh",
        payload.len() as u64,
        &sum,
    ));
    assert_eq!(peer.recv_file_frame(99)["type"], "file_accept");
    peer.send(&json!({
        "type": "file_state", "id": 99, "state": "in_progress", "role": "receiver",
        "peer": "mallory", "name": "ok.sh", "size": payload.len(), "sha256": sum, "offset": 0
    }));
    peer.send(&json!({"type": "file_chunk", "id": 99, "offset": 0, "data": data}));
    loop {
        let f = peer.recv_file_frame(99);
        if f["type"] == "file_done" {
            break;
        }
        assert_eq!(f["type"], "file_credit", "{f}");
    }
    assert_eq!(std::fs::read(dl.join("ok.sh")).unwrap(), payload);
    assert_eq!(files_under(root.path()), ["dl/ok.sh"]);
    assert!(!abs.exists() && !root.path().join("x").exists());
}

#[test]
fn a_non_ascii_name_received_twice_is_numbered_and_the_client_keeps_listening() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl");
    let mut bob = chat_login(
        server.addr(),
        "bob",
        &["--auto-accept", "--download-dir", dl.to_str().unwrap()],
    );
    let mut alice = chat_login(server.addr(), "alice", &[]);
    let src = dir.path().join("é.txt");
    std::fs::write(&src, "bonjour").unwrap();
    for id in 1..=2 {
        alice.send_line(&format!("/send bob {}", src.display()));
        bob.wait(&format!("transfer {id}: é.txt from alice: completed"));
    }
    let lines = bob.lines();
    assert!(
        lines.iter().any(|l| l.ends_with("é-1.txt")),
        "{}",
        bob.transcript()
    );
    assert_eq!(std::fs::read(dl.join("é-1.txt")).unwrap(), b"bonjour");
    // The network thread is alive: chat still arrives.
    alice.send_line("still there?");
    bob.wait("<alice> still there?");
    assert!(bob.finish().success(), "{}", bob.transcript());
}

#[test]
fn an_offer_never_accepted_does_not_keep_a_script_running() {
    let server = Server::start(&[]);
    let mut bob = chat_login(server.addr(), "bob", &[]);
    let mut carol = chat_login(server.addr(), "carol", &[]);
    let mut alice = Client::login(server.addr(), "alice");
    for to in ["bob", "carol"] {
        alice.send(&chat::protocol::ClientMsg::FileOffer {
            to: to.into(),
            name: "gift.bin".into(),
            size: 10,
            sha256: sha(b"0123456789"),
            cid: None,
        });
    }
    bob.wait("alice offers gift.bin");
    carol.wait("alice offers gift.bin");
    // bob ends with /quit, carol with the end of her input.
    bob.send_line("/quit");
    let status = bob.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{status:?}\n{}", bob.transcript());
    let status = carol.finish();
    assert!(status.success(), "{status:?}\n{}", carol.transcript());
}
