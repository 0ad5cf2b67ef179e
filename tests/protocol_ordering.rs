//! The order of frames a client can rely on (docs/PROTOCOL.md, "Ordering"),
//! against the real server: answers come in the order of the requests
//! (errors without a `cid` included, and a `history` read from disk holds
//! back what follows it), an `ack` before the answer to the next frame, the
//! typing-off before the message that ends it, catch-up in id order across
//! conversations, and `file_state{in_progress}` before the first
//! `file_credit`.

mod common;
mod transfer_common;

use chat::protocol::files::TransferState;
use chat::protocol::{ClientMsg, NoticeKind, Replay, ServerMsg, PROTOCOL_VERSION};
use common::*;
use transfer_common::*;

#[test]
fn answers_come_in_the_order_of_the_requests_errors_without_cid_included() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    // One write: a message, two frames that fail (no cid to tell them
    // apart: only their order does), a history, a ping.
    alice.send_batch(&[
        ClientMsg::RoomMsg {
            room: "general".into(),
            text: "one".into(),
            cid: Some("m1".into()),
        },
        ClientMsg::Leave {
            room: "first".into(),
        },
        ClientMsg::Leave {
            room: "second".into(),
        },
        ClientMsg::History {
            room: Some("general".into()),
            peer: None,
            before: None,
            limit: 10,
        },
        ClientMsg::Ping { seq: Some(77) },
    ]);
    let mut got = Vec::new();
    loop {
        match alice.recv_what("the answers, in order") {
            ServerMsg::Ack { cid, .. } => got.push(format!("ack {}", cid.unwrap())),
            ServerMsg::Error { message, .. } if message.contains("#first") => {
                got.push("error first".into())
            }
            ServerMsg::Error { message, .. } if message.contains("#second") => {
                got.push("error second".into())
            }
            ServerMsg::Message {
                replay: Some(Replay::History),
                ..
            } => {}
            ServerMsg::HistoryEnd { .. } => got.push("history_end".into()),
            ServerMsg::Pong { seq: Some(77) } => {
                got.push("pong".into());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        got,
        [
            "ack m1",
            "error first",
            "error second",
            "history_end",
            "pong"
        ]
    );
    // The recipient got the message (it is not held back by the sender's
    // later frames).
    assert_eq!(bob.expect_message().text, "one");
}

#[test]
fn typing_off_comes_before_the_message_that_ends_it() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    alice.send(&ClientMsg::Typing {
        room: Some("general".into()),
        to: None,
        active: true,
    });
    bob.recv_until_what("typing on", |m| {
        matches!(m, ServerMsg::Typing { active: true, .. })
    });
    alice.say("general", "done typing");
    assert!(matches!(
        bob.recv_what("typing off"),
        ServerMsg::Typing { active: false, .. }
    ));
    assert_eq!(bob.expect_message().text, "done typing");
}

#[test]
fn catch_up_is_in_id_order_across_rooms_and_private_conversations() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.join("lab");
    let token = alice.session.clone().unwrap();
    let mut bob = Client::login(server.addr(), "bob");
    bob.join("lab");
    let (since, _) = bob.say("general", "seen by alice");
    alice.recv_until_what(
        "bob's message",
        |m| matches!(m, ServerMsg::Message { id, .. } if *id == since),
    );
    alice.disconnect();
    // Interleaved: a room, a private message (held for alice's session),
    // the other room, the first room again.
    let mut sent = vec![bob.say("lab", "1 lab").0];
    sent.push(bob.dm("alice", "2 private"));
    sent.push(bob.say("general", "3 general").0);
    sent.push(bob.say("lab", "4 lab").0);
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: "alice".into(),
        room: None,
        status: None,
        resume: Some(chat::protocol::Resume {
            session: Some(token),
            rooms: vec!["lab".into()],
            since: Some(since),
        }),
        password: None,
    });
    let mut replayed = Vec::new();
    loop {
        match c.recv_what("catch-up") {
            ServerMsg::Message {
                id,
                replay: Some(Replay::Missed),
                ..
            } => replayed.push(id),
            ServerMsg::Synced { count, .. } => {
                assert_eq!(count as usize, replayed.len());
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        replayed, sent,
        "one sequence in id order, not per conversation"
    );
}

#[test]
fn file_state_in_progress_comes_before_the_first_credit() {
    let server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    let bytes = data(10_000, 3);
    let id = offer(&mut a, &mut b, "bob", "z.bin", &bytes);
    // The receiver accepts and grants credit in one write.
    b.send_batch(&[
        ClientMsg::FileAccept {
            id,
            offset: 0,
            prefix_sha256: None,
        },
        ClientMsg::FileCredit { id, bytes: 65536 },
    ]);
    match a.recv_what("file_state in_progress") {
        m if as_state(&m).is_some_and(|s| s.state == TransferState::InProgress) => {}
        other => panic!("expected file_state in_progress first, got {other:?}"),
    }
    assert_eq!(expect_credit(&mut a, id), 65536);
}
