//! What docs/PROTOCOL.md once left a client author to guess (issue 13,
//! "Silences"), each answer checked against the real server: values outside
//! an enumeration, numbers at 2^53, text limits in Unicode scalar values
//! (not UTF-16 units), `history`/`search` limits, short passwords, chunks at
//! a wrong offset or too large, `file_done` before the last byte, 0-byte
//! files, a stale session token, a held name in `user_list`, and what
//! `synced` says.

mod common;
mod transfer_common;

use chat::protocol::files::TransferState;
use chat::protocol::{ClientMsg, ErrorCode, Replay, ServerMsg, PROTOCOL_VERSION};
use common::*;
use transfer_common::*;

/// The error answering the next frame that gets one: `(code, message, re)`.
fn error_of(c: &mut Client) -> (ErrorCode, String, Option<String>) {
    match c.recv_until_what("an error", |m| matches!(m, ServerMsg::Error { .. })) {
        ServerMsg::Error {
            code, message, re, ..
        } => (code, message, re),
        _ => unreachable!(),
    }
}

#[test]
fn values_outside_an_enumeration_are_bad_frame_naming_the_allowed_ones() {
    let server = Server::start(&[]);
    let mut c = Client::login(server.addr(), "alice");
    for (body, kind, allowed) in [
        (
            r#"{"type":"set_status","status":"dancing"}"#,
            "set_status",
            "`online`, `busy`, `away`",
        ),
        (
            r#"{"type":"receipt","kind":"seen","room":"general","up_to":1}"#,
            "receipt",
            "expected `delivered` or `read`",
        ),
        (
            r#"{"type":"call","to":"bob","media":"hologram"}"#,
            "call",
            "expected `voice` or `video`",
        ),
    ] {
        c.send_raw(&frame_body(body.as_bytes()));
        let (code, message, re) = error_of(&mut c);
        assert_eq!(code, ErrorCode::BadFrame, "{body}: {message}");
        assert_eq!(re.as_deref(), Some(kind), "{body}");
        assert!(message.contains(allowed), "{body}: {message}");
    }
    c.ping(1);
}

#[test]
fn numbers_at_two_to_the_53_are_refused_and_below_it_echoed_exactly() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    let top = (1u64 << 53) - 1;
    c.ping(top);
    c.send_raw(&frame_body(br#"{"type":"ping","seq":9007199254740992}"#));
    let (code, message, re) = error_of(&mut c);
    assert_eq!((code, re.as_deref()), (ErrorCode::Invalid, Some("ping")));
    assert!(message.contains("below 2^53"), "{message}");
    let mut c = Client::login(server.addr(), "alice");
    for body in [
        r#"{"type":"receipt","kind":"read","room":"general","up_to":9007199254740993}"#,
        r#"{"type":"history","room":"general","before":18446744073709551615,"limit":5}"#,
        r#"{"type":"file_credit","id":3,"bytes":9007199254740992}"#,
    ] {
        c.send_raw(&frame_body(body.as_bytes()));
        let (code, message, _) = error_of(&mut c);
        assert_eq!(code, ErrorCode::Invalid, "{body}: {message}");
        assert!(message.contains("below 2^53"), "{body}: {message}");
    }
}

#[test]
fn text_limits_count_unicode_scalar_values_not_utf16_units() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(chat::protocol::NoticeKind::Join, "bob", None);
    // 4000 emoji: 4000 scalar values, 8000 UTF-16 units (JavaScript's
    // `length`), 16000 bytes of UTF-8. Accepted.
    let text = "😀".repeat(4000);
    assert_eq!(text.encode_utf16().count(), 8000);
    let (id, _) = alice.say("general", &text);
    let m = bob.expect_message();
    assert_eq!((m.id, m.text.chars().count()), (id, 4000));
    // One more is refused.
    alice.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "😀".repeat(4001),
        cid: Some("long".into()),
    });
    let (code, message, _) = error_of(&mut alice);
    assert_eq!(code, ErrorCode::Invalid, "{message}");
    assert!(message.contains("4000"), "{message}");
}

#[test]
fn history_limit_defaults_to_50_caps_at_500_and_zero_is_invalid() {
    let server = Server::start(&["--msg-rate", "0"]);
    let mut alice = Client::login(server.addr(), "alice");
    for i in 0..60 {
        alice.say("general", &format!("m{i}"));
    }
    let history = |c: &mut Client, body: &str| -> (usize, bool) {
        c.send_raw(&frame_body(body.as_bytes()));
        let mut n = 0;
        loop {
            match c.recv_what("history") {
                ServerMsg::Message {
                    replay: Some(Replay::History),
                    ..
                } => n += 1,
                ServerMsg::HistoryEnd { count, more, .. } => {
                    assert_eq!(count as usize, n);
                    return (n, more);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    };
    assert_eq!(
        history(&mut alice, r#"{"type":"history","room":"general"}"#),
        (50, true)
    );
    assert_eq!(
        history(
            &mut alice,
            r#"{"type":"history","room":"general","limit":100000}"#
        ),
        (60, false)
    );
    alice.send_raw(&frame_body(
        br#"{"type":"history","room":"general","limit":0}"#,
    ));
    let (code, message, re) = error_of(&mut alice);
    assert_eq!((code, re.as_deref()), (ErrorCode::Invalid, Some("history")));
    assert!(message.contains("at least 1"), "{message}");
    alice.send_raw(&frame_body(br#"{"type":"search","text":"m1","limit":0}"#));
    let (code, message, re) = error_of(&mut alice);
    assert_eq!((code, re.as_deref()), (ErrorCode::Invalid, Some("search")));
    assert!(message.contains("at least 1"), "{message}");
}

#[test]
fn a_short_password_in_hello_is_invalid_and_the_connection_may_try_again() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    let hello = |password: &str| ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: Some(password.into()),
    };
    c.send(&hello("short"));
    let (code, message, re) = error_of(&mut c);
    assert_eq!((code, re.as_deref()), (ErrorCode::Invalid, Some("hello")));
    assert!(message.contains("8"), "{message}");
    c.send(&hello("long enough now"));
    c.recv_until_what("welcome", |m| matches!(m, ServerMsg::Welcome { .. }));
}

#[test]
fn a_chunk_at_a_wrong_offset_fails_the_transfer_instead_of_stalling_it() {
    let server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    let bytes = data(200_000, 1);
    let id = offer(&mut a, &mut b, "bob", "x.bin", &bytes);
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    b.send(&ClientMsg::FileCredit { id, bytes: 1 << 20 });
    expect_state(&mut a, TransferState::InProgress);
    expect_credit(&mut a, id);
    a.send(&chunk(id, 0, &bytes[..CHUNK]));
    // Skips a chunk: the server cannot pass it on, and says so.
    a.send(&chunk(id, 2 * CHUNK as u64, &bytes[2 * CHUNK..3 * CHUNK]));
    let (code, message, re) = error_of(&mut a);
    assert_eq!(
        (code, re.as_deref()),
        (ErrorCode::TransferState, Some("file_chunk"))
    );
    assert!(
        message.contains("expected its next chunk at offset 65536, not 131072"),
        "{message}"
    );
    for c in [&mut a, &mut b] {
        let s = expect_state(c, TransferState::Failed);
        assert!(
            s.reason.as_deref().is_some_and(|r| r.contains("131072")),
            "{s:?}"
        );
    }
}

#[test]
fn oversized_chunks_are_invalid_and_file_done_before_the_last_byte_is_refused() {
    let server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    let bytes = data(100_000, 2);
    let id = offer(&mut a, &mut b, "bob", "y.bin", &bytes);
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    b.send(&ClientMsg::FileCredit { id, bytes: 1 << 20 });
    expect_credit(&mut a, id);
    a.send(&chunk(id, 0, &bytes[..CHUNK + 1]));
    let (code, message, re) = error_of(&mut a);
    assert_eq!(
        (code, re.as_deref()),
        (ErrorCode::Invalid, Some("file_chunk"))
    );
    assert!(message.contains("1 to 65536 bytes"), "{message}");
    // The transfer goes on: the right chunk is still taken.
    a.send(&chunk(id, 0, &bytes[..CHUNK]));
    b.recv_until_what("the chunk", |m| matches!(m, ServerMsg::FileChunk { .. }));
    b.send(&ClientMsg::FileDone { id });
    let (code, _, re) = error_of(&mut b);
    assert_eq!(
        (code, re.as_deref()),
        (ErrorCode::TransferState, Some("file_done"))
    );
    a.send(&chunk(id, CHUNK as u64, &bytes[CHUNK..]));
    b.recv_until_what("the last chunk", |m| {
        matches!(m, ServerMsg::FileChunk { .. })
    });
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut a, TransferState::Completed);
    expect_state(&mut b, TransferState::Completed);
}

#[test]
fn a_zero_byte_file_is_offered_accepted_and_done_without_a_chunk() {
    let server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    let id = offer(&mut a, &mut b, "bob", "empty.txt", &[]);
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    expect_state(&mut b, TransferState::InProgress);
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut a, TransferState::Completed);
    expect_state(&mut b, TransferState::Completed);
}

#[test]
fn a_stale_session_token_is_ignored_the_login_is_a_fresh_session() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let old = alice.session.clone().unwrap();
    alice.send(&ClientMsg::Logout {});
    alice.expect_closed();
    // After logout the token is forgotten: a hello presenting it is an
    // ordinary login, with a new token.
    let again = Client::login_resuming(server.addr(), "alice", &old);
    assert_ne!(again.session.as_deref(), Some(old.as_str()));
}

#[test]
fn a_held_name_is_not_in_user_list_and_is_refused_to_others() {
    let server = Server::start(&[]);
    let mut watcher = Client::login(server.addr(), "watcher");
    let alice = Client::login(server.addr(), "alice");
    watcher.expect_notice(chat::protocol::NoticeKind::Join, "alice", None);
    alice.disconnect();
    watcher.expect_notice(chat::protocol::NoticeKind::Leave, "alice", None);
    watcher.send(&ClientMsg::ListUsers {});
    match watcher.recv_what("user_list") {
        ServerMsg::UserList { users } => {
            assert!(users.iter().all(|u| u.name != "alice"), "{users:?}");
        }
        other => panic!("{other:?}"),
    }
    let mut mallory = Client::connect(server.addr());
    mallory.send(&hello("alice", None, None));
    let (code, message, _) = error_of(&mut mallory);
    assert_eq!(code, ErrorCode::NameTaken, "{message}");
    assert!(message.contains("held"), "{message}");
}

#[test]
fn synced_counts_the_replay_and_names_the_newest_id_on_the_server() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login_to(server.addr(), "bob", "lab");
    let token = alice.session.clone().unwrap();
    let (seen, _) = alice.say("general", "before");
    alice.disconnect();
    let (first, _) = bob.say("lab", "in lab, not alice's");
    bob.send(&ClientMsg::Join {
        room: "general".into(),
    });
    bob.expect_joined("general");
    let (missed, _) = bob.say("general", "while alice was away");
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: "alice".into(),
        room: None,
        status: None,
        resume: Some(chat::protocol::Resume {
            session: Some(token),
            rooms: vec![],
            since: Some(seen),
        }),
        password: None,
    });
    let m = c.recv_until_what("the missed message", |m| {
        matches!(m, ServerMsg::Message { .. })
    });
    assert!(
        matches!(m, ServerMsg::Message { id, replay: Some(Replay::Missed), .. } if id == missed)
    );
    match c.recv_until_what("synced", |m| matches!(m, ServerMsg::Synced { .. })) {
        ServerMsg::Synced { count, last_id } => {
            assert_eq!(count, 1);
            assert_eq!(last_id, missed);
            assert!(last_id > first);
        }
        _ => unreachable!(),
    }
}
