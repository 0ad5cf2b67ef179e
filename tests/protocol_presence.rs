//! Status notices and typing indicators (docs/PROTOCOL.md "Presence and typing").

mod common;

use chat::protocol::{ClientMsg, NoticeKind, ServerMsg, Status};
use common::*;
use std::time::{Duration, Instant};

fn typing_room(room: &str, active: bool) -> ClientMsg {
    ClientMsg::Typing {
        room: Some(room.into()),
        to: None,
        active,
    }
}

fn typing_to(to: &str, active: bool) -> ClientMsg {
    ClientMsg::Typing {
        room: None,
        to: Some(to.into()),
        active,
    }
}

/// Next frame must be `typing{from, active}`; returns its `room`.
fn expect_typing(c: &mut Client, from: &str, active: bool) -> Option<String> {
    match c.recv_what(&format!("typing from {from} active={active}")) {
        ServerMsg::Typing {
            from: f,
            room,
            active: a,
            ..
        } if f == from && a == active => room,
        other => panic!(
            "[{}] expected typing from {from} active={active}, got {other:?}",
            c.name
        ),
    }
}

#[test]
fn status_change_reaches_the_user_and_room_sharers_only() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    let mut carol = Client::login_to(server.addr(), "carol", "elsewhere");

    bob.send(&ClientMsg::SetStatus {
        status: Status::Away,
        message: None,
    });
    for c in [&mut bob, &mut alice] {
        match c.recv_what("status notice") {
            ServerMsg::Notice {
                event,
                user,
                status,
                text,
                ..
            } => {
                assert_eq!(event, NoticeKind::Status);
                assert_eq!(user, "bob");
                assert_eq!(status, Some(Status::Away));
                assert_eq!(text, "bob is now away");
            }
            other => panic!("[{}] expected status notice, got {other:?}", c.name),
        }
    }
    carol.expect_quiet();

    carol.send(&ClientMsg::ListUsers {});
    match carol.recv_what("user_list") {
        ServerMsg::UserList { users } => {
            let b = users.iter().find(|u| u.name == "bob").expect("bob listed");
            assert_eq!(b.status, Status::Away);
        }
        other => panic!("expected user_list, got {other:?}"),
    }

    // Sharing any room is enough, and each sharer hears it once.
    carol.join("general");
    alice.expect_notice(NoticeKind::Join, "carol", None);
    bob.expect_notice(NoticeKind::Join, "carol", None);
    alice.join("elsewhere");
    carol.expect_notice(NoticeKind::Join, "alice", Some("elsewhere"));
    alice.send(&ClientMsg::SetStatus {
        status: Status::Busy,
        message: None,
    });
    for c in [&mut alice, &mut bob, &mut carol] {
        c.recv_until_what("busy notice", |m| {
            matches!(
                m,
                ServerMsg::Notice {
                    event: NoticeKind::Status,
                    status: Some(Status::Busy),
                    ..
                }
            )
        });
        c.expect_quiet();
    }
}

#[test]
fn room_typing_is_relayed_to_other_members_and_stops() {
    let server = Server::start(&["--typing-timeout", "30"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    let mut carol = Client::login(server.addr(), "carol");
    alice.expect_notice(NoticeKind::Join, "carol", None);
    bob.expect_notice(NoticeKind::Join, "carol", None);
    let mut dave = Client::login_to(server.addr(), "dave", "other");

    alice.send(&typing_room("general", true));
    for c in [&mut bob, &mut carol] {
        assert_eq!(expect_typing(c, "alice", true).as_deref(), Some("general"));
    }
    alice.send(&typing_room("general", false));
    for c in [&mut bob, &mut carol] {
        assert_eq!(expect_typing(c, "alice", false).as_deref(), Some("general"));
    }
    alice.expect_quiet();
    dave.expect_quiet();
}

#[test]
fn typing_expires_without_refresh() {
    let server = Server::start(&["--typing-timeout", "1"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    alice.send(&typing_room("general", true));
    expect_typing(&mut bob, "alice", true);
    let started = Instant::now();
    assert_eq!(
        expect_typing(&mut bob, "alice", false).as_deref(),
        Some("general")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "expired too early: {:?}",
        started.elapsed()
    );

    // Private typing expires too.
    alice.send(&typing_to("bob", true));
    expect_typing(&mut bob, "alice", true);
    assert_eq!(expect_typing(&mut bob, "alice", false), None);
    alice.expect_quiet();
}

#[test]
fn a_message_from_the_typist_clears_typing() {
    let server = Server::start(&["--typing-timeout", "30"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    alice.send(&typing_room("general", true));
    expect_typing(&mut bob, "alice", true);
    let (id, _) = alice.say("general", "done typing");
    let (mut got_msg, mut got_stop) = (false, false);
    while !(got_msg && got_stop) {
        match bob.recv_within(Duration::from_secs(3), "message and typing stop") {
            ServerMsg::Message { id: m, .. } if m == id && !got_msg => got_msg = true,
            ServerMsg::Typing {
                from,
                active: false,
                room,
                ..
            } if from == "alice" && !got_stop => {
                assert_eq!(room.as_deref(), Some("general"));
                got_stop = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Same for a private conversation.
    alice.send(&typing_to("bob", true));
    expect_typing(&mut bob, "alice", true);
    let id = alice.dm("bob", "hi");
    let (mut got_msg, mut got_stop) = (false, false);
    while !(got_msg && got_stop) {
        match bob.recv_within(Duration::from_secs(3), "dm and typing stop") {
            ServerMsg::Message { id: m, .. } if m == id && !got_msg => got_msg = true,
            ServerMsg::Typing {
                from,
                active: false,
                room: None,
                ..
            } if from == "alice" && !got_stop => got_stop = true,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn private_typing_reaches_only_the_peer() {
    let server = Server::start(&["--typing-timeout", "30"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    let mut carol = Client::login(server.addr(), "carol");
    alice.expect_notice(NoticeKind::Join, "carol", None);
    bob.expect_notice(NoticeKind::Join, "carol", None);

    alice.send(&typing_to("bob", true));
    assert_eq!(expect_typing(&mut bob, "alice", true), None);
    alice.send(&typing_to("bob", false));
    assert_eq!(expect_typing(&mut bob, "alice", false), None);
    carol.expect_quiet();
    alice.expect_quiet();
}

#[test]
fn disconnect_clears_typing() {
    let server = Server::start(&["--typing-timeout", "30"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    alice.send(&typing_room("general", true));
    expect_typing(&mut bob, "alice", true);
    alice.disconnect();
    let (mut got_leave, mut got_stop) = (false, false);
    while !(got_leave && got_stop) {
        match bob.recv_within(Duration::from_secs(3), "leave notice and typing stop") {
            ServerMsg::Notice {
                event: NoticeKind::Leave,
                user,
                ..
            } if user == "alice" => got_leave = true,
            ServerMsg::Typing {
                from,
                active: false,
                ..
            } if from == "alice" => got_stop = true,
            other => panic!("unexpected {other:?}"),
        }
    }
}
