//! Login, logout, ping and shutdown, checked against docs/PROTOCOL.md ("Login",
//! "Errors and robustness") through the raw protocol client.

mod common;

use chat::protocol::{ClientMsg, ErrorCode, NoticeKind, ServerMsg, Status, PROTOCOL_VERSION};
use common::*;
use std::time::Duration;

#[test]
fn login_sends_welcome_then_joined_and_notifies_the_room() {
    let server = Server::start(&[]);
    let mut alice = Client::connect(server.addr());
    alice.name = "alice".into();
    alice.send(&hello("alice", None, None));
    match alice.recv_what("welcome") {
        ServerMsg::Welcome {
            version,
            name,
            server,
            rooms,
            session,
            ..
        } => {
            assert_eq!(version, PROTOCOL_VERSION);
            assert_eq!(name, "alice");
            assert!(!server.is_empty(), "welcome.server names the software");
            assert_eq!(rooms, vec!["general".to_string()]);
            assert_eq!(session.len(), 32, "a session token for reconnecting");
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    let (members, _created) = alice.expect_joined("general");
    assert_eq!(members, vec!["alice"]);

    let mut bob = Client::connect(server.addr());
    bob.name = "bob".into();
    bob.send(&hello("bob", None, None));
    assert!(matches!(
        bob.recv_what("welcome"),
        ServerMsg::Welcome { .. }
    ));
    let (members, created) = bob.expect_joined("general");
    assert_eq!(
        members,
        vec!["alice", "bob"],
        "members are sorted and include you"
    );
    assert!(!created, "general already existed");

    match alice.recv_what("join notice for bob") {
        ServerMsg::Notice {
            event,
            user,
            room,
            text,
            ..
        } => {
            assert_eq!(event, NoticeKind::Join);
            assert_eq!(user, "bob");
            assert_eq!(room.as_deref(), Some("general"));
            assert_eq!(text, "bob joined #general");
        }
        other => panic!("expected a join notice, got {other:?}"),
    }
    // The newcomer is not told about their own join.
    bob.expect_quiet();
}

#[test]
fn hello_may_name_a_room_and_a_status() {
    let server = Server::start(&[]);
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut alice = Client::login_with(server.addr(), "alice", Some("dev"), Some(Status::Busy));
    // alice is only in #dev, so general's member does not hear about her.
    watcher.expect_quiet();

    alice.send(&ClientMsg::ListUsers {});
    match alice.recv_what("user_list") {
        ServerMsg::UserList { users } => {
            let a = users
                .iter()
                .find(|u| u.name == "alice")
                .expect("alice listed");
            assert_eq!(a.status, Status::Busy);
            assert_eq!(a.rooms, vec!["dev"]);
            let w = users.iter().find(|u| u.name == "watcher").expect("watcher");
            assert_eq!(w.status, Status::Online, "default status is online");
        }
        other => panic!("expected user_list, got {other:?}"),
    }
}

#[test]
fn version_mismatch_is_refused_then_closed() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION + 1,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: None,
    });
    c.expect_error(ErrorCode::VersionMismatch);
    c.expect_closed();
    // The name was never taken.
    Client::login(server.addr(), "alice");
}

#[test]
fn frames_before_hello_are_refused_and_the_connection_stays_open() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    let early = [
        ClientMsg::RoomMsg {
            room: "general".into(),
            text: "hi".into(),
            cid: None,
        },
        ClientMsg::Join {
            room: "general".into(),
        },
        ClientMsg::ListUsers {},
        ClientMsg::Logout {},
    ];
    for msg in &early {
        c.send(msg);
        let (_, re) = c.expect_error(ErrorCode::NotLoggedIn);
        assert_eq!(
            re.as_deref(),
            Some(msg.kind()),
            "error.re names the refused frame"
        );
    }
    // ping works before login.
    c.send(&ClientMsg::Ping { seq: Some(9) });
    c.expect_pong(9);
    c.send(&hello("alice", None, None));
    assert!(matches!(c.recv_what("welcome"), ServerMsg::Welcome { .. }));
    c.expect_joined("general");
}

#[test]
fn invalid_names_are_refused_and_hello_can_be_retried() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    let too_long = "a".repeat(33);
    let bad = [
        "",
        too_long.as_str(),
        "-bob",
        ".bob",
        "_bob",
        "bo b",
        "bób",
        "bob!",
        "#bob",
        "bob/x",
    ];
    for name in bad {
        c.send(&hello(name, None, None));
        let (message, _) = c.expect_error(ErrorCode::Invalid);
        assert!(!message.is_empty(), "error for {name:?} explains itself");
    }
    // Longest valid name, using every allowed character class.
    let good = format!("B0b_-.{}", "x".repeat(26));
    assert_eq!(good.len(), 32);
    c.send(&hello(&good, None, None));
    match c.recv_what("welcome") {
        ServerMsg::Welcome { name, .. } => assert_eq!(name, good),
        other => panic!("expected welcome for {good}, got {other:?}"),
    }
    c.expect_joined("general");
    // A name may start with a digit.
    Client::login(server.addr(), "9lives");
}

#[test]
fn duplicate_name_is_refused_until_the_holder_leaves() {
    let server = Server::start(&[]);
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut alice = Client::login(server.addr(), "alice");
    watcher.expect_notice(NoticeKind::Join, "alice", Some("general"));

    let mut other = Client::connect(server.addr());
    other.send(&hello("alice", None, None));
    let (message, _) = other.expect_error(ErrorCode::NameTaken);
    assert!(
        message.contains("name \"alice\" is already taken"),
        "name_taken message: {message:?}"
    );
    // Still open and usable.
    other.send(&ClientMsg::Ping { seq: Some(1) });
    other.expect_pong(1);

    alice.send(&ClientMsg::Logout {});
    alice.recv_until_what("bye", |m| {
        matches!(
            m,
            ServerMsg::Bye {
                code: chat::protocol::ByeCode::LoggedOut,
                ..
            }
        )
    });
    alice.expect_closed();
    watcher.expect_notice(NoticeKind::Leave, "alice", Some("general"));

    other.send(&hello("alice", None, None));
    match other.recv_what("welcome after the name was freed") {
        ServerMsg::Welcome { name, .. } => assert_eq!(name, "alice"),
        m => panic!("expected welcome, got {m:?}"),
    }
}

#[test]
fn second_hello_is_refused() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.send(&hello("alice2", None, None));
    alice.expect_error(ErrorCode::AlreadyLoggedIn);
    alice.ping(1);
}

#[test]
fn logout_says_bye_closes_and_others_get_a_plain_leave_notice() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    bob.send(&ClientMsg::Logout {});
    match bob.recv_what("bye") {
        ServerMsg::Bye { code, reason } => {
            assert_eq!(code, chat::protocol::ByeCode::LoggedOut);
            assert_eq!(reason, "logged out");
        }
        other => panic!("expected bye, got {other:?}"),
    }
    bob.expect_closed();

    match alice.expect_notice(NoticeKind::Leave, "bob", Some("general")) {
        ServerMsg::Notice { text, .. } => assert_eq!(text, "bob left #general"),
        _ => unreachable!(),
    }
}

#[test]
fn abrupt_disconnect_sends_leave_notices_for_every_room() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    alice.join("dev");
    bob.join("dev");
    alice.expect_notice(NoticeKind::Join, "bob", Some("dev"));

    bob.disconnect();
    let mut texts = Vec::new();
    for _ in 0..2 {
        match alice.recv_until_what("leave notice for bob", |m| {
            matches!(m, ServerMsg::Notice { event: NoticeKind::Leave, user, .. } if user == "bob")
        }) {
            ServerMsg::Notice { text, .. } => texts.push(text),
            _ => unreachable!(),
        }
    }
    texts.sort();
    assert_eq!(
        texts,
        vec![
            "bob left #dev (disconnected)".to_string(),
            "bob left #general (disconnected)".to_string()
        ]
    );
    // Only bob left.
    alice.send(&ClientMsg::ListUsers {});
    match alice.recv_until(|m| matches!(m, ServerMsg::UserList { .. })) {
        ServerMsg::UserList { users } => {
            let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(names, vec!["alice"]);
        }
        _ => unreachable!(),
    }
}

#[test]
fn ping_is_answered_with_the_same_seq() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::Ping { seq: None });
    match c.recv_what("pong without seq") {
        ServerMsg::Pong { seq } => assert_eq!(seq, None),
        other => panic!("expected pong, got {other:?}"),
    }
    let mut alice = Client::login(server.addr(), "alice");
    alice.send(&ClientMsg::Ping {
        seq: Some((1 << 53) - 1), // the largest a client may send
    });
    alice.expect_pong((1 << 53) - 1);
}

#[test]
fn sigterm_sends_bye_to_everyone_and_exits_zero() {
    let mut server = Server::start(&[]);
    let mut anon = Client::connect(server.addr());
    anon.ping(1);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    server.terminate();
    for c in [&mut alice, &mut bob] {
        c.recv_until_what("bye on shutdown", |m| {
            matches!(
                m,
                ServerMsg::Bye {
                    code: chat::protocol::ByeCode::Shutdown,
                    ..
                }
            )
        });
        c.expect_closed();
    }
    anon.expect_closed();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "server exited with {status}");
}
