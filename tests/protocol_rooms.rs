//! Rooms: join, create, leave, listing rooms and users (docs/PROTOCOL.md "Rooms").

mod common;

use chat::protocol::{ClientMsg, ErrorCode, NoticeKind, RoomInfo, ServerMsg, Status};
use common::*;

fn room_list(c: &mut Client) -> Vec<RoomInfo> {
    c.send(&ClientMsg::ListRooms {});
    match c.recv_what("room_list") {
        ServerMsg::RoomList { rooms } => rooms,
        other => panic!("expected room_list, got {other:?}"),
    }
}

fn info(name: &str, members: u32) -> RoomInfo {
    RoomInfo {
        name: name.into(),
        members,
    }
}

#[test]
fn join_creates_on_first_use_then_lists_sorted_members_and_notifies() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    let (members, created) = bob.join("zeta");
    assert_eq!(members, vec!["bob"]);
    assert!(created, "first join creates the room");

    let (members, created) = alice.join("zeta");
    assert_eq!(
        members,
        vec!["alice", "bob"],
        "sorted, including the joiner"
    );
    assert!(!created);
    match bob.recv_what("join notice") {
        ServerMsg::Notice {
            event,
            user,
            room,
            text,
            ..
        } => {
            assert_eq!(event, NoticeKind::Join);
            assert_eq!(user, "alice");
            assert_eq!(room.as_deref(), Some("zeta"));
            assert_eq!(text, "alice joined #zeta");
        }
        other => panic!("expected notice, got {other:?}"),
    }

    // Joining again just answers `joined` and tells nobody.
    let (members, created) = alice.join("zeta");
    assert_eq!(members, vec!["alice", "bob"]);
    assert!(!created);
    bob.expect_quiet();
}

#[test]
fn create_room_refuses_existing_rooms() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    alice.send(&ClientMsg::CreateRoom { room: "lab".into() });
    let (members, created) = alice.expect_joined("lab");
    assert_eq!(members, vec!["alice"]);
    assert!(created);

    bob.send(&ClientMsg::CreateRoom { room: "lab".into() });
    bob.expect_error(ErrorCode::RoomExists);
    bob.send(&ClientMsg::CreateRoom {
        room: "general".into(),
    });
    bob.expect_error(ErrorCode::RoomExists);
    // bob did not end up in lab.
    assert_eq!(
        room_list(&mut bob),
        vec![info("general", 2), info("lab", 1)]
    );
    alice.expect_quiet();
}

#[test]
fn leave_replies_left_notifies_members_and_refuses_non_members() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    alice.join("lab");
    bob.join("lab");
    alice.expect_notice(NoticeKind::Join, "bob", Some("lab"));

    bob.send(&ClientMsg::Leave { room: "lab".into() });
    match bob.recv_what("left") {
        ServerMsg::Left { room } => assert_eq!(room, "lab"),
        other => panic!("expected left, got {other:?}"),
    }
    match alice.recv_what("leave notice") {
        ServerMsg::Notice {
            event,
            user,
            room,
            text,
            ..
        } => {
            assert_eq!(event, NoticeKind::Leave);
            assert_eq!(user, "bob");
            assert_eq!(room.as_deref(), Some("lab"));
            assert_eq!(text, "bob left #lab");
        }
        other => panic!("expected notice, got {other:?}"),
    }

    bob.send(&ClientMsg::Leave { room: "lab".into() });
    bob.expect_error(ErrorCode::NotInRoom);
    // After leaving, messages to the room are refused.
    bob.send(&ClientMsg::RoomMsg {
        room: "lab".into(),
        text: "still here?".into(),
        cid: None,
    });
    bob.expect_error(ErrorCode::NotInRoom);
    alice.expect_quiet();
}

#[test]
fn list_rooms_counts_members_sorted_and_empty_rooms_disappear() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    alice.join("b-room");
    bob.join("b-room");
    alice.expect_notice(NoticeKind::Join, "bob", Some("b-room"));
    alice.join("a-room");

    assert_eq!(
        room_list(&mut bob),
        vec![info("a-room", 1), info("b-room", 2), info("general", 2)]
    );

    alice.send(&ClientMsg::Leave {
        room: "a-room".into(),
    });
    assert!(matches!(alice.recv_what("left"), ServerMsg::Left { .. }));
    assert_eq!(
        room_list(&mut alice),
        vec![info("b-room", 2), info("general", 2)],
        "an empty room disappears"
    );
}

#[test]
fn list_users_shows_everyone_online_with_status_and_rooms() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.join("dev");
    let _bob = Client::login_with(server.addr(), "bob", None, Some(Status::Away));
    let _carol = Client::login_to(server.addr(), "carol", "x");
    let mut anon = Client::connect(server.addr()); // not logged in: not listed
    anon.ping(1);

    alice.send(&ClientMsg::ListUsers {});
    let users = match alice.recv_until(|m| matches!(m, ServerMsg::UserList { .. })) {
        ServerMsg::UserList { users } => users,
        _ => unreachable!(),
    };
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["alice", "bob", "carol"], "sorted by name");
    let mut rooms: Vec<Vec<String>> = users.iter().map(|u| u.rooms.clone()).collect();
    rooms.iter_mut().for_each(|r| r.sort());
    assert_eq!(
        rooms,
        vec![
            vec!["dev".to_string(), "general".to_string()],
            vec!["general".to_string()],
            vec!["x".to_string()]
        ]
    );
    let statuses: Vec<_> = users.iter().map(|u| u.status).collect();
    assert_eq!(statuses, vec![Status::Online, Status::Away, Status::Online]);
}

#[test]
fn invalid_room_names_are_refused() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let long = "r".repeat(33);
    for room in ["", "bad room", "#general", "-dash", long.as_str(), "ca$h"] {
        alice.send(&ClientMsg::Join { room: room.into() });
        alice.expect_error(ErrorCode::Invalid);
        alice.send(&ClientMsg::CreateRoom { room: room.into() });
        alice.expect_error(ErrorCode::Invalid);
    }
    let ok = "r".repeat(32);
    let (_, created) = alice.join(&ok);
    assert!(created);
    // Invalid room in hello.
    let mut bob = Client::connect(server.addr());
    bob.send(&hello("bob", Some("bad room"), None));
    bob.expect_error(ErrorCode::Invalid);
    bob.send(&hello("bob", Some("fine"), None));
    assert!(matches!(
        bob.recv_what("welcome"),
        ServerMsg::Welcome { .. }
    ));
}
