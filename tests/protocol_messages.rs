//! Room and private messages, room isolation, DM privacy and receipts
//! (docs/PROTOCOL.md "Messages", "Receipts").

mod common;

use chat::protocol::{ClientMsg, ErrorCode, Marker, NoticeKind, ReceiptKind, ServerMsg};
use common::*;

/// alice, bob and carol logged in to #general, with every join notice consumed.
fn three(server: &Server) -> (Client, Client, Client) {
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    let carol = Client::login(server.addr(), "carol");
    alice.expect_notice(NoticeKind::Join, "carol", None);
    bob.expect_notice(NoticeKind::Join, "carol", None);
    (alice, bob, carol)
}

/// Next frame must be `receipts`; returns `(room, peer, markers)`.
fn expect_receipts(c: &mut Client) -> (Option<String>, Option<String>, Vec<Marker>) {
    match c.recv_what("receipts") {
        ServerMsg::Receipts {
            room,
            peer,
            markers,
        } => (room, peer, markers),
        other => panic!("[{}] expected receipts, got {other:?}", c.name),
    }
}

fn marker(markers: &[Marker], user: &str) -> (u64, u64) {
    let m =
        marker_of(markers, user).unwrap_or_else(|| panic!("no marker for {user} in {markers:?}"));
    (m.delivered, m.read)
}

#[test]
fn room_message_is_acked_to_the_sender_and_delivered_to_the_others() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    let before = now_ms();
    alice.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "hello, room".into(),
        cid: Some("c1".into()),
    });
    let (id, ts) = match alice.recv_what("ack") {
        ServerMsg::Ack {
            cid,
            id,
            ts,
            recipients,
            duplicate,
        } => {
            assert_eq!(cid.as_deref(), Some("c1"));
            assert_eq!(recipients, 2, "members other than the sender");
            assert!(!duplicate);
            (id, ts)
        }
        other => panic!("expected ack, got {other:?}"),
    };
    assert!(
        ts + 60_000 >= before && ts <= now_ms() + 60_000,
        "ts {ts} is unix milliseconds"
    );
    for c in [&mut bob, &mut carol] {
        match c.recv_what("message") {
            ServerMsg::Message {
                id: mid,
                ts: mts,
                from,
                room,
                to,
                text,
                replay,
            } => {
                assert_eq!((mid, mts), (id, ts), "same id and ts as the ack");
                assert_eq!(from, "alice");
                assert_eq!(room.as_deref(), Some("general"));
                assert_eq!(to, None);
                assert_eq!(text, "hello, room");
                assert_eq!(replay, None, "a live delivery");
            }
            other => panic!("expected message, got {other:?}"),
        }
    }
    // No echo to the sender.
    alice.expect_quiet();
}

#[test]
fn ack_without_cid_and_ids_increase_across_the_server() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    bob.join("side");
    carol.join("side");
    bob.expect_notice(NoticeKind::Join, "carol", Some("side"));
    let (a, _) = alice.say("general", "one");
    let b = alice.dm("bob", "two");
    let (c, recipients) = bob.say("side", "three");
    assert_eq!(recipients, 1);
    let d = carol.dm("alice", "four");
    assert!(a < b && b < c && c < d, "ids {a} {b} {c} {d} increase");
}

#[test]
fn a_non_member_never_sees_a_rooms_messages() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    alice.join("secret");
    bob.join("secret");
    alice.expect_notice(NoticeKind::Join, "bob", Some("secret"));

    let (id, recipients) = alice.say("secret", "for bob only");
    assert_eq!(recipients, 1);
    let m = bob.expect_message();
    assert_eq!((m.id, m.room.as_deref()), (id, Some("secret")));
    carol.expect_quiet();

    carol.send(&ClientMsg::RoomMsg {
        room: "secret".into(),
        text: "let me in".into(),
        cid: Some("x".into()),
    });
    carol.expect_error(ErrorCode::NotInRoom);
    alice.expect_quiet();
    bob.expect_quiet();
}

#[test]
fn room_message_validation() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, _carol) = three(&server);
    for text in [String::new(), "x".repeat(4001)] {
        alice.send(&ClientMsg::RoomMsg {
            room: "general".into(),
            text,
            cid: None,
        });
        alice.expect_error(ErrorCode::Invalid);
    }
    alice.send(&ClientMsg::RoomMsg {
        room: "nowhere".into(),
        text: "hi".into(),
        cid: None,
    });
    alice.expect_error(ErrorCode::UnknownRoom);
    bob.expect_quiet();

    let long = "x".repeat(4000);
    alice.say("general", &long);
    assert_eq!(
        bob.expect_message().text,
        long,
        "4000 characters is allowed"
    );
}

#[test]
fn text_limit_counts_characters_not_bytes() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, _carol) = three(&server);
    let text = "é".repeat(4000); // 8000 bytes, 4000 characters
    alice.say("general", &text);
    assert_eq!(bob.expect_message().text, text);
    alice.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "é".repeat(4001),
        cid: None,
    });
    alice.expect_error(ErrorCode::Invalid);
}

#[test]
fn private_message_reaches_only_the_recipient() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    alice.send(&ClientMsg::PrivateMsg {
        to: "bob".into(),
        text: "psst".into(),
        cid: Some("d1".into()),
    });
    let (id, recipients) = alice.expect_ack(Some("d1"));
    assert_eq!(recipients, 1);
    match bob.recv_what("private message") {
        ServerMsg::Message {
            id: mid,
            from,
            room,
            to,
            text,
            ..
        } => {
            assert_eq!(mid, id);
            assert_eq!(from, "alice");
            assert_eq!(room, None);
            assert_eq!(to.as_deref(), Some("bob"));
            assert_eq!(text, "psst");
        }
        other => panic!("expected message, got {other:?}"),
    }
    carol.expect_quiet();
    alice.expect_quiet();
}

#[test]
fn private_message_errors() {
    let server = Server::start(&[]);
    let (mut alice, bob, mut carol) = three(&server);
    alice.send(&ClientMsg::PrivateMsg {
        to: "nobody".into(),
        text: "hi".into(),
        cid: None,
    });
    alice.expect_error(ErrorCode::UnknownUser);
    alice.send(&ClientMsg::PrivateMsg {
        to: "alice".into(),
        text: "me".into(),
        cid: None,
    });
    alice.expect_error(ErrorCode::Invalid);
    alice.send(&ClientMsg::PrivateMsg {
        to: "carol".into(),
        text: String::new(),
        cid: None,
    });
    alice.expect_error(ErrorCode::Invalid);
    carol.expect_quiet();

    // A user who went offline is not unknown: the message is held for them.
    bob.disconnect();
    alice.expect_notice(NoticeKind::Leave, "bob", None);
    alice.send(&ClientMsg::PrivateMsg {
        to: "bob".into(),
        text: "are you there?".into(),
        cid: None,
    });
    let (_, recipients) = alice.expect_ack(None);
    assert_eq!(recipients, 1);
}

#[test]
fn room_receipts_reach_the_author_coalesced() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    let (n, _) = alice.say("general", "read me");
    assert_eq!(bob.expect_message().id, n);
    assert_eq!(carol.expect_message().id, n);

    // delivered + read in one write: one receipts frame showing both.
    bob.send_batch(&[
        room_receipt(ReceiptKind::Delivered, "general", n),
        room_receipt(ReceiptKind::Read, "general", n),
    ]);
    let (room, peer, markers) = expect_receipts(&mut alice);
    assert_eq!((room.as_deref(), peer), (Some("general"), None));
    assert_eq!(marker(&markers, "bob"), (n, n), "coalesced: {markers:?}");
    alice.expect_quiet();
    // The reader and bystanders get no receipts.
    bob.expect_quiet();
    carol.expect_quiet();

    // read implies delivered.
    carol.send(&room_receipt(ReceiptKind::Read, "general", n));
    let (_, _, markers) = expect_receipts(&mut alice);
    assert_eq!(marker(&markers, "carol"), (n, n));

    // Markers only move forward: repeating or going back changes nothing.
    bob.send_batch(&[
        room_receipt(ReceiptKind::Read, "general", n),
        room_receipt(ReceiptKind::Delivered, "general", n - 1),
    ]);
    // bob's pong comes after the server processed both receipts (his frames are read in
    // order); only then can alice's barrier show that they told her nothing.
    bob.expect_quiet();
    alice.expect_quiet();
}

#[test]
fn receipt_markers_are_clamped_to_the_last_message() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, _carol) = three(&server);
    let (m, _) = alice.say("general", "last one");
    bob.expect_message();
    bob.send(&room_receipt(ReceiptKind::Read, "general", m + 1000));
    let (_, _, markers) = expect_receipts(&mut alice);
    assert_eq!(marker(&markers, "bob"), (m, m), "clamped to the last id");
}

#[test]
fn receipts_go_only_to_authors_of_newly_covered_messages() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    let (n1, _) = alice.say("general", "from alice");
    assert_eq!(bob.expect_message().id, n1);
    let (n2, _) = bob.say("general", "from bob");
    alice.recv_until(|m| matches!(m, ServerMsg::Message { id, .. } if *id == n2));
    carol.expect_message();
    carol.expect_message();

    carol.send(&room_receipt(ReceiptKind::Read, "general", n1));
    let (_, _, markers) = expect_receipts(&mut alice);
    assert_eq!(marker(&markers, "carol"), (n1, n1));
    bob.expect_quiet();

    carol.send(&room_receipt(ReceiptKind::Read, "general", n2));
    let (_, _, markers) = expect_receipts(&mut bob);
    assert_eq!(marker(&markers, "carol"), (n2, n2));
    alice.expect_quiet();
    carol.expect_quiet();
}

#[test]
fn private_message_receipts_name_the_reader_as_peer() {
    let server = Server::start(&[]);
    let (mut alice, mut bob, mut carol) = three(&server);
    let m = alice.dm("bob", "did you get this?");
    assert_eq!(bob.expect_message().id, m);

    bob.send(&dm_receipt(ReceiptKind::Delivered, "alice", m));
    let (room, peer, markers) = expect_receipts(&mut alice);
    assert_eq!((room, peer.as_deref()), (None, Some("bob")));
    assert_eq!(marker(&markers, "bob"), (m, 0));

    bob.send(&dm_receipt(ReceiptKind::Read, "alice", m));
    let (_, peer, markers) = expect_receipts(&mut alice);
    assert_eq!(peer.as_deref(), Some("bob"));
    assert_eq!(marker(&markers, "bob"), (m, m));
    bob.expect_quiet();
    carol.expect_quiet();
}
