//! Person-to-person file transfers at the protocol level: offer, accept,
//! reject, credit, relayed chunks, pause/resume/cancel from each side,
//! interruption and resume, errors.

mod common;
mod transfer_common;

use base64::Engine;
use chat::protocol::files::{Role, TransferState as S};
use chat::protocol::{ClientMsg, ErrorCode, ServerMsg};
use common::{Client, Server};
use transfer_common::*;

fn pair(server: &Server) -> (Client, Client) {
    let a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    b.ping(1);
    (a, b)
}

#[test]
fn offer_accept_relay_complete() {
    let server = Server::start(&[]);
    let (mut a, mut b) = pair(&server);
    let file = data(300_000, 1);
    let id = offer(&mut a, &mut b, "bob", "photo.jpg", &file);
    accept(&mut b, id, 128 * 1024);
    let s = expect_state(&mut a, S::InProgress);
    assert_eq!((s.id, s.offset, s.peer.as_deref()), (id, 0, Some("bob")));
    expect_state(&mut b, S::InProgress);
    // The server passes the receiver's credit on as it is.
    assert_eq!(expect_credit(&mut a, id), 128 * 1024);
    a.send(&chunk(id, 0, &file[..CHUNK]));
    // The receiver gets the sender's frame byte for byte.
    match b.recv_until(|m| matches!(m, ServerMsg::FileChunk { .. })) {
        ServerMsg::FileChunk { offset, data, .. } => {
            assert_eq!(offset, 0);
            assert_eq!(data, B64.encode(&file[..CHUNK]));
        }
        _ => unreachable!(),
    }
    let got = {
        // Continue from CHUNK with the 64 KiB of credit left.
        a.send(&chunk(id, CHUNK as u64, &file[CHUNK..2 * CHUNK]));
        b.recv_until(|m| matches!(m, ServerMsg::FileChunk { .. }));
        b.send(&ClientMsg::FileCredit {
            id,
            bytes: 2 * CHUNK as u64,
        });
        let mut got = file[..2 * CHUNK].to_vec();
        got.extend(relay(&mut a, &mut b, id, &file, 2 * CHUNK as u64, None).split_off(2 * CHUNK));
        got
    };
    assert_eq!(sha(&got), sha(&file));
    b.send(&ClientMsg::FileDone { id });
    for c in [&mut a, &mut b] {
        let s = expect_state(c, S::Completed);
        assert_eq!((s.id, s.offset), (id, file.len() as u64));
    }
}

#[test]
fn offer_errors_are_clear() {
    let server = Server::start(&["--max-file-size", "1K"]);
    let (mut a, _b) = pair(&server);
    let good = sha(b"x");
    let mut try_offer = |to: &str, name: &str, size: u64, sha: &str, code: ErrorCode| {
        a.send(&ClientMsg::FileOffer {
            to: to.into(),
            name: name.into(),
            size,
            sha256: sha.into(),
            cid: None,
        });
        let (msg, re) = expect_err(&mut a, code);
        assert_eq!(re.as_deref(), Some("file_offer"));
        msg
    };
    let m = try_offer("carol", "a.txt", 1, &good, ErrorCode::UnknownUser);
    assert!(m.contains("no user \"carol\" is online"), "{m}");
    let m = try_offer("alice", "a.txt", 1, &good, ErrorCode::Invalid);
    assert!(m.contains("yourself"), "{m}");
    let m = try_offer("bob", "a.txt", 2000, &good, ErrorCode::FileTooLarge);
    assert!(m.contains("at most 1024 bytes"), "{m}");
    let m = try_offer("bob", "a.txt", 1, "nothex", ErrorCode::Invalid);
    assert!(m.contains("sha256"), "{m}");
    for (name, why) in [
        ("../../etc/passwd", "path separator"),
        ("/etc/passwd", "path separator"),
        ("..", "\"..\""),
        ("evil\u{0}.txt", "control character"),
        ("bell\u{7}", "control character"),
        (".bashrc", "must not start with '.'"),
    ] {
        let m = try_offer("bob", name, 1, &good, ErrorCode::BadFileName);
        assert!(m.contains(why), "{name:?}: {m}");
    }
    let long = "x".repeat(300);
    let m = try_offer("bob", &long, 1, &good, ErrorCode::BadFileName);
    assert!(m.contains("too long"), "{m}");
}

#[test]
fn reject_from_the_receiver() {
    let server = Server::start(&[]);
    let (mut a, mut b) = pair(&server);
    let id = offer(&mut a, &mut b, "bob", "x.bin", b"hello");
    // Only the receiver may reject or accept.
    a.send(&ClientMsg::FileReject { id });
    expect_err(&mut a, ErrorCode::TransferState);
    b.send(&ClientMsg::FileReject { id });
    for c in [&mut a, &mut b] {
        let s = expect_state(c, S::Rejected);
        assert_eq!(s.by.as_deref(), Some("bob"));
    }
    accept(&mut b, id, 10);
    expect_err(&mut b, ErrorCode::UnknownTransfer);
    // Someone else's transfer is unknown to you.
    let mut c = Client::login(server.addr(), "carol");
    c.send(&ClientMsg::FileCancel { id: 99 });
    expect_err(&mut c, ErrorCode::UnknownTransfer);
}

#[test]
fn pause_resume_cancel_from_each_side() {
    let server = Server::start(&[]);
    let (mut a, mut b) = pair(&server);
    let file = data(200_000, 2);
    let id = offer(&mut a, &mut b, "bob", "movie.mkv", &file);
    accept(&mut b, id, 0);
    expect_state(&mut a, S::InProgress);
    for (who, name) in [(0, "alice"), (1, "bob")] {
        let pauser = if who == 0 { &mut a } else { &mut b };
        pauser.send(&ClientMsg::FilePause { id });
        for c in [&mut a, &mut b] {
            let s = expect_state(c, S::Paused);
            assert_eq!(s.by.as_deref(), Some(name));
        }
        // Pausing twice is a state error.
        let pauser = if who == 0 { &mut a } else { &mut b };
        pauser.send(&ClientMsg::FilePause { id });
        expect_err(pauser, ErrorCode::TransferState);
        // The other side resumes.
        let resumer = if who == 0 { &mut b } else { &mut a };
        resumer.send(&ClientMsg::FileResume { id });
        for c in [&mut a, &mut b] {
            expect_state(c, S::InProgress);
        }
    }
    b.send(&ClientMsg::FileCredit {
        id,
        bytes: CHUNK as u64,
    });
    let got = relay(&mut a, &mut b, id, &file, 0, Some(2 * CHUNK as u64));
    assert!(got.len() >= 2 * CHUNK);
    b.send(&ClientMsg::FileCancel { id });
    for c in [&mut a, &mut b] {
        let s = expect_state(c, S::Cancelled);
        assert_eq!(s.by.as_deref(), Some("bob"));
    }
    // The sender cancels a pending offer too.
    let id2 = offer(&mut a, &mut b, "bob", "other.txt", b"abc");
    a.send(&ClientMsg::FileCancel { id: id2 });
    for c in [&mut a, &mut b] {
        let s = expect_state(c, S::Cancelled);
        assert_eq!((s.id, s.by.as_deref()), (id2, Some("alice")));
    }
}

#[test]
fn a_sender_past_its_credit_gets_an_error() {
    let server = Server::start(&[]);
    let (mut a, mut b) = pair(&server);
    let file = data(100_000, 3);
    let id = offer(&mut a, &mut b, "bob", "f.bin", &file);
    accept(&mut b, id, 1000);
    expect_credit(&mut a, id);
    a.send(&chunk(id, 0, &file[..5000]));
    let (msg, _) = expect_err(&mut a, ErrorCode::CreditExceeded);
    assert!(msg.contains("1000 bytes of credit"), "{msg}");
    let s = expect_state(&mut b, S::Failed);
    assert!(s.reason.unwrap().contains("more than the receiver granted"));
}

#[test]
fn interrupted_when_a_side_drops_then_resumed_from_the_prefix() {
    // No grace period: a new connection may take the name at once.
    let server = Server::start(&["--grace", "0"]);
    let (mut a, mut b) = pair(&server);
    let file = data(400_000, 4);
    let id = offer(&mut a, &mut b, "bob", "big.iso", &file);
    accept(&mut b, id, CHUNK as u64);
    let got = relay(&mut a, &mut b, id, &file, 0, Some(3 * CHUNK as u64));
    let token = b.session.clone().expect("bob's session token");
    b.disconnect();
    let s = expect_state(&mut a, S::Interrupted);
    assert_eq!(s.by.as_deref(), Some("bob"));
    // Resuming while bob is away is refused with a reason.
    a.send(&ClientMsg::FileResume { id });
    let (msg, _) = expect_err(&mut a, ErrorCode::TransferState);
    assert!(msg.contains("bob is offline"), "{msg}");
    // Bob's client comes back with its session token and is told about
    // the transfer (a new session of the open name would not be).
    let mut b = Client::login_resuming(server.addr(), "bob", &token);
    let s = expect_state(&mut b, S::Interrupted);
    assert_eq!((s.id, s.role), (id, Role::Receiver));
    // Alice asks to resume: both see resuming; bob's client accepts at its length.
    a.send(&ClientMsg::FileResume { id });
    expect_state(&mut b, S::Resuming);
    let have = got.len() as u64;
    b.send(&ClientMsg::FileAccept {
        id,
        offset: have,
        prefix_sha256: Some(sha(&got)),
    });
    b.send(&ClientMsg::FileCredit {
        id,
        bytes: CHUNK as u64,
    });
    let s = expect_state(&mut a, S::InProgress);
    assert_eq!(s.offset, have);
    assert_eq!(
        s.prefix.as_deref(),
        Some(sha(&file[..have as usize]).as_str())
    );
    let all = relay(&mut a, &mut b, id, &file, have, None);
    assert_eq!(sha(&all), sha(&file));
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut a, S::Completed);
}

#[test]
fn concurrent_transfers_with_chat_flowing() {
    let server = Server::start(&[]);
    let (mut a, mut b) = pair(&server);
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| data(150_000 + i * 1000, 10 + i as u8))
        .collect();
    let mut ids = Vec::new();
    for (i, f) in files.iter().enumerate() {
        ids.push(offer(&mut a, &mut b, "bob", &format!("f{i}.bin"), f));
    }
    for &id in &ids {
        accept(&mut b, id, 4 * CHUNK as u64);
    }
    // Alice sends all the credit allows on all three at once, then chats.
    let mut sent = [0usize; 3];
    for (i, &id) in ids.iter().enumerate() {
        expect_credit(&mut a, id);
        for _ in 0..2 {
            let n = CHUNK.min(files[i].len() - sent[i]);
            a.send(&chunk(id, sent[i] as u64, &files[i][sent[i]..sent[i] + n]));
            sent[i] += n;
        }
    }
    a.dm("bob", "while the files move");
    // Bob sees chunks of all three transfers interleaved and the message.
    let mut seen = std::collections::BTreeSet::new();
    let mut got_msg = false;
    let mut chunks = 0;
    while chunks < 6 || !got_msg {
        match b.recv_what("chunks and the message") {
            ServerMsg::FileChunk { id, .. } => {
                seen.insert(id);
                chunks += 1;
            }
            ServerMsg::Message { text, .. } => {
                assert_eq!(text, "while the files move");
                got_msg = true;
            }
            _ => {}
        }
    }
    assert_eq!(seen.len(), 3, "every transfer progressed");
}
