//! Where docs/PROTOCOL.md and the server disagreed (issue 13), against the
//! real server: unknown fields are refused in every client frame (unit
//! frames and `hello.resume` included), an error answering a frame with a
//! `cid` carries it (`not_logged_in` too), `bad_frame` names the frame
//! when its `type` was readable, the document's error example is what the
//! server sends, and a call ended by a disconnect names who left.

mod common;

use chat::protocol::{ClientMsg, ErrorCode, ServerMsg};
use common::*;

fn bad_frame(c: &mut Client, body: &str) -> (String, Option<String>) {
    c.send_raw(&frame_body(body.as_bytes()));
    match c.recv_until(|m| matches!(m, ServerMsg::Error { .. })) {
        ServerMsg::Error {
            code: ErrorCode::BadFrame,
            message,
            re,
            ..
        } => (message, re),
        other => panic!("{body}: expected bad_frame, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_refused_in_every_client_frame() {
    let server = Server::start(&[]);
    let mut c = Client::login(server.addr(), "alice");
    for (body, kind) in [
        (r#"{"type":"list_rooms","x":1}"#, "list_rooms"),
        (r#"{"type":"list_users","verbose":true}"#, "list_users"),
        (r#"{"type":"list_files","x":null}"#, "list_files"),
        (r#"{"type":"logout","now":true}"#, "logout"),
    ] {
        let (message, re) = bad_frame(&mut c, body);
        assert!(message.contains("unknown field"), "{body}: {message}");
        assert_eq!(re.as_deref(), Some(kind), "{body}");
    }
    // The logout with an extra field was not obeyed: still logged in.
    c.ping(1);
    c.send(&ClientMsg::ListUsers {});
    assert!(matches!(
        c.recv_until(|m| matches!(m, ServerMsg::UserList { .. })),
        ServerMsg::UserList { .. }
    ));
    // An unknown field inside hello.resume.
    let mut d = Client::connect(server.addr());
    let (message, re) = bad_frame(
        &mut d,
        r#"{"type":"hello","version":1,"name":"dave","resume":{"rooms":[],"sesion":"x"}}"#,
    );
    assert!(message.contains("unknown field"), "{message}");
    assert_eq!(re.as_deref(), Some("hello"));
    // A type that names no frame is not echoed back as `re`.
    let (_, re) = bad_frame(&mut d, r#"{"type":"\u001b[2Jnothing"}"#);
    assert_eq!(re, None);
}

#[test]
fn not_logged_in_carries_the_cid_of_the_frame_it_answers() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "too early".into(),
        cid: Some("early-1".into()),
    });
    match c.recv_what("not_logged_in") {
        ServerMsg::Error {
            code: ErrorCode::NotLoggedIn,
            re,
            cid,
            ..
        } => {
            assert_eq!(re.as_deref(), Some("room_msg"));
            assert_eq!(cid.as_deref(), Some("early-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_error_examples_in_the_document_are_what_the_server_sends() {
    let server = Server::start(&[]);
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    let mut c = Client::login(server.addr(), "alice");
    // A room that does not exist...
    c.send(&ClientMsg::Leave { room: "lab".into() });
    let got = serde_json::to_string(&c.recv_what("unknown_room")).unwrap();
    assert!(doc.contains(&got), "the document does not show {got}");
    // ... and one that does, without alice.
    let mut bob = Client::login_to(server.addr(), "bob", "lab");
    bob.ping(1);
    c.send(&ClientMsg::RoomMsg {
        room: "lab".into(),
        text: "hi".into(),
        cid: Some("c1".into()),
    });
    let got = serde_json::to_string(&c.recv_what("not_in_room")).unwrap();
    assert!(doc.contains(&got), "the document does not show {got}");
}

#[test]
fn a_call_ended_by_a_disconnect_names_who_left() {
    let server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::login(server.addr(), "bob");
    a.send(&call("bob", chat::protocol::Media::Voice));
    b.recv_until(|m| matches!(m, ServerMsg::CallIncoming { .. }));
    b.disconnect();
    match a.recv_until(|m| matches!(m, ServerMsg::CallEnded { .. })) {
        ServerMsg::CallEnded { reason, by, .. } => {
            assert_eq!(reason, chat::protocol::CallEnd::Disconnected);
            assert_eq!(by.as_deref(), Some("bob"));
        }
        _ => unreachable!(),
    }
}
