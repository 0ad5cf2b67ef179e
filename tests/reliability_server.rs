//! Nothing lost, at the protocol level: history across graceful and SIGKILL
//! restarts, resends recognised by client id across a
//! restart, catch-up after a drop, names held for a reconnecting client, and
//! private messages held for offline users.

mod common;

use chat::protocol::{
    ClientMsg, ErrorCode, ReceiptKind, Replay, Resume, Secret, ServerMsg, PROTOCOL_VERSION,
};
use common::{dm_receipt, Client, Server};
use std::time::Duration;

fn say(c: &mut Client, room: &str, text: &str, cid: &str) -> u64 {
    c.send(&ClientMsg::RoomMsg {
        room: room.into(),
        text: text.into(),
        cid: Some(cid.into()),
    });
    c.expect_ack(Some(cid)).0
}

fn history(c: &mut Client, room: &str, limit: u32) -> Vec<(u64, String)> {
    c.send(&ClientMsg::History {
        room: Some(room.into()),
        peer: None,
        before: None,
        limit,
    });
    let mut out = Vec::new();
    loop {
        match c.recv_what("history") {
            ServerMsg::Message {
                id,
                text,
                replay: Some(Replay::History),
                ..
            } => out.push((id, text)),
            ServerMsg::HistoryEnd { .. } => return out,
            _ => {}
        }
    }
}

/// Log in with a `resume` block; returns the welcome's session token.
fn hello_resume(c: &mut Client, name: &str, resume: Resume) -> Result<String, ErrorCode> {
    c.name = name.into();
    c.send(&ClientMsg::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: Some(resume),
        password: None,
    });
    match c.recv_what("welcome or error") {
        ServerMsg::Welcome { session, .. } => Ok(session),
        ServerMsg::Error { code, .. } => Err(code),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[test]
fn history_survives_a_graceful_restart_and_ids_continue() {
    let mut server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let ids: Vec<u64> = (0..5)
        .map(|i| {
            say(
                &mut alice,
                "general",
                &format!("before {i}"),
                &format!("a{i}"),
            )
        })
        .collect();
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    server.restart();
    let mut bob = Client::login(server.addr(), "bob");
    let got = history(&mut bob, "general", 50);
    let want: Vec<(u64, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, format!("before {i}")))
        .collect();
    assert_eq!(got, want);
    let mut alice = Client::login(server.addr(), "alice");
    let next = say(&mut alice, "general", "after", "a-after");
    assert!(next > ids[4], "ids keep increasing after a restart");
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    // 200 messages as fast as acks come back: the message rate limit off.
    let mut server = Server::start(&["--msg-rate", "0"]);
    let mut alice = Client::login(server.addr(), "alice");
    // Acks arrive only after the turn's fsync: every acked message is on disk.
    for i in 0..200 {
        say(&mut alice, "general", &format!("m{i:03}"), &format!("k{i}"));
    }
    server.restart(); // SIGKILL, then start on the same data dir
    let mut bob = Client::login(server.addr(), "bob");
    let got = history(&mut bob, "general", 500);
    assert_eq!(got.len(), 200);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, (_, t))| *t == format!("m{i:03}")));
}

#[test]
fn a_resent_client_id_is_recognised_even_after_a_restart() {
    let mut server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let id = say(&mut alice, "general", "exactly once", "dup-1");
    server.restart();
    let mut bob = Client::login(server.addr(), "bob");
    let mut alice = Client::login(server.addr(), "alice");
    bob.expect_notice(chat::protocol::NoticeKind::Join, "alice", Some("general"));
    alice.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "exactly once".into(),
        cid: Some("dup-1".into()),
    });
    match alice.recv_what("duplicate ack") {
        ServerMsg::Ack {
            id: again,
            duplicate,
            ..
        } => {
            assert_eq!(again, id);
            assert!(duplicate);
        }
        other => panic!("expected ack, got {other:?}"),
    }
    bob.expect_quiet();
}

#[test]
fn a_dropped_client_resumes_its_name_rooms_and_missed_messages() {
    let server = Server::start(&[]);
    let mut alice = Client::connect(server.addr());
    let token = hello_resume(&mut alice, "alice", Resume::default()).unwrap();
    alice.expect_joined("general");
    alice.join("dev");
    let mut bob = Client::login(server.addr(), "bob");
    bob.join("dev");
    let seen = say(&mut bob, "dev", "seen live", "b0");
    alice.expect_message();
    alice.disconnect(); // abrupt
    say(&mut bob, "dev", "missed in dev", "b1");
    say(&mut bob, "general", "missed in general", "b2");
    bob.send(&ClientMsg::PrivateMsg {
        to: "alice".into(),
        text: "missed dm".into(),
        cid: Some("b3".into()),
    });
    bob.expect_ack(Some("b3"));

    // Someone else cannot take the held name.
    let mut mallory = Client::connect(server.addr());
    assert_eq!(
        hello_resume(&mut mallory, "alice", Resume::default()),
        Err(ErrorCode::NameTaken)
    );
    // The owner can, with its token, and catches up.
    let mut alice = Client::connect(server.addr());
    let resume = Resume {
        session: Some(token),
        rooms: vec!["general".into(), "dev".into()],
        since: Some(seen),
    };
    hello_resume(&mut alice, "alice", resume).expect("token reclaims the name");
    alice.expect_joined("general");
    alice.expect_joined("dev");
    let mut missed = Vec::new();
    loop {
        match alice.recv_what("catch-up") {
            ServerMsg::Message {
                text,
                replay: Some(Replay::Missed),
                ..
            } => missed.push(text),
            ServerMsg::Synced { count, .. } => {
                assert_eq!(count, 3);
                break;
            }
            other => panic!("unexpected during catch-up: {other:?}"),
        }
    }
    assert_eq!(missed, ["missed in dev", "missed in general", "missed dm"]);
}

/// Connect and send a `hello` for `name` with `password` (registering the
/// name on first use; every later login must give the same password), then
/// read the welcome.
fn hello_with_password(addr: std::net::SocketAddr, name: &str, password: &str) -> Client {
    let mut c = Client::connect(addr);
    c.name = name.into();
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(Secret::from(password)),
    });
    match c.recv_what("welcome") {
        ServerMsg::Welcome { name: n, .. } => assert_eq!(n, name, "welcome names someone else"),
        other => panic!("[{name}] login with a password: expected welcome, got {other:?}"),
    }
    c
}

#[test]
fn private_messages_wait_for_an_offline_user_and_then_show_delivered() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    // bob registers his name: only a registered name's messages wait for it.
    let mut bob = hello_with_password(server.addr(), "bob", "bob's password");
    bob.send(&ClientMsg::Logout {});
    bob.expect_closed();
    // carol does not: nothing waits for her once she is gone.
    let mut carol = Client::login(server.addr(), "carol");
    carol.send(&ClientMsg::Logout {});
    carol.expect_closed();
    alice.send(&ClientMsg::PrivateMsg {
        to: "carol".into(),
        text: "lost on you".into(),
        cid: Some("to-carol".into()),
    });
    let refused =
        alice.recv_until(|m| matches!(m, ServerMsg::Error { .. } | ServerMsg::Ack { .. }));
    assert!(
        matches!(&refused, ServerMsg::Error { code: ErrorCode::UnknownUser, message, .. }
            if message.contains("carol is offline and has no account")),
        "{refused:?}"
    );
    let id = alice.dm("bob", "see this when you are back");
    let mut bob = hello_with_password(server.addr(), "bob", "bob's password");
    let got = bob.recv_until(|m| matches!(m, ServerMsg::Message { .. }));
    assert!(matches!(
        got,
        ServerMsg::Message { id: i, replay: Some(Replay::Missed), ref text, .. }
            if i == id && text == "see this when you are back"
    ));
    bob.send(&dm_receipt(ReceiptKind::Delivered, "alice", id));
    let r = alice.recv_until(|m| matches!(m, ServerMsg::Receipts { .. }));
    assert!(
        matches!(r, ServerMsg::Receipts { peer: Some(p), markers, .. }
        if p == "bob" && markers[0].delivered == id)
    );
}

#[test]
fn a_private_message_to_someone_never_seen_is_refused() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send(&ClientMsg::PrivateMsg {
        to: "nobody".into(),
        text: "hello?".into(),
        cid: None,
    });
    let (msg, _) = alice.expect_error(ErrorCode::UnknownUser);
    assert!(msg.contains("never") || msg.contains("ever"), "{msg}");
}
