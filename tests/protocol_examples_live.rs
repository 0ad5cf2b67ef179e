//! Every client frame example in docs/PROTOCOL.md sent, as written, to the live server binary,
//! in a context where it is valid, and answered as the doc says.
//!
//! The examples are the lines of the doc's ```` ```json ```` blocks that parse as a `ClientMsg`
//! (as tests/protocol_doc.rs reads them). For each, a fresh server and the users, rooms, calls
//! and transfers the example needs are set up with typed frames; then the example's body goes
//! out byte for byte as the doc writes it, with one exception: the ids of calls and transfers
//! (`"call":3`, `"id":3`) are the server's to assign, so their number is replaced by the live
//! id (and nothing else is). Message ids in examples (`up_to`, `before`) are sent as written:
//! they are above every id a fresh server has given out, which the doc makes valid (an `up_to`
//! past the last message is clamped to it; `before` is an upper bound).
//!
//! The answer checked is the documented one: the frame(s) the doc says answer the example (to
//! the sender, or, for frames that answer nobody but the peer, such as `typing`, `receipt` and
//! `file_credit`, to the peer), with the fields the example determines. Then a ping/pong
//! barrier on every client of the context: no `error` may have arrived before its pong.
//!
//! Completeness: every example found is exercised (an example of a kind with no context here
//! fails), and every client frame type (`chat::protocol::kinds::CLIENT_KINDS`) has at least one
//! example exercised. Everything synchronises on frames and barriers, every wait with a
//! deadline.

mod common;
mod transfer_common;

use base64::Engine;
use chat::protocol::files::{Role, TransferState as S};
use chat::protocol::{
    CallEnd, ClientMsg, Media, NoticeKind, Replay, Secret, ServerMsg, Status, PROTOCOL_VERSION,
};
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;
use transfer_common::{as_state, chunk, data, expect_credit, expect_state, sha, B64};

const DOC: &str = include_str!("../docs/PROTOCOL.md");

fn json_examples() -> Vec<&'static str> {
    doc_json_examples(DOC)
}

/// The examples that are client frames.
fn client_examples() -> Vec<&'static str> {
    json_examples()
        .into_iter()
        .filter(|e| serde_json::from_str::<ClientMsg>(e).is_ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A live context
// ---------------------------------------------------------------------------------------------

/// A fresh server and the clients of one example's context, by name, with the rooms each is
/// in. The one that sends the example is `me`.
struct Live {
    clients: BTreeMap<String, Client>,
    rooms: BTreeMap<String, BTreeSet<String>>,
    me: String,
    server: Server,
}

impl Live {
    fn new(args: &[&str]) -> Live {
        Live {
            clients: BTreeMap::new(),
            rooms: BTreeMap::new(),
            me: String::new(),
            server: Server::start(args),
        }
    }

    /// Log `name` in (to #general); everyone already in #general reads the join notice.
    fn login(&mut self, name: &str) -> &mut Client {
        self.login_to(name, "general")
    }

    /// Log `name` in to `room`; everyone already in it reads the join notice.
    fn login_to(&mut self, name: &str, room: &str) -> &mut Client {
        let c = Client::login_to(self.server.addr(), name, room);
        self.clients.insert(name.into(), c);
        self.joined(name, room);
        self.c(name)
    }

    /// `name` joins `room`; the members read the join notice.
    fn join(&mut self, name: &str, room: &str) {
        self.c(name).join(room);
        self.joined(name, room);
    }

    /// `name` is in `room` now: every other member reads the join notice.
    fn joined(&mut self, name: &str, room: &str) {
        for (other, rooms) in &self.rooms {
            if other != name && rooms.contains(room) {
                let c = self.clients.get_mut(other).unwrap();
                c.expect_notice(NoticeKind::Join, name, Some(room));
            }
        }
        self.rooms
            .entry(name.into())
            .or_default()
            .insert(room.into());
    }

    fn c(&mut self, name: &str) -> &mut Client {
        self.clients
            .get_mut(name)
            .unwrap_or_else(|| panic!("{name} is not in this context"))
    }

    fn me(&mut self) -> &mut Client {
        let me = self.me.clone();
        self.c(&me)
    }

    /// Send `body` as `me`, byte for byte.
    fn send_as_me(&mut self, body: &str) {
        self.me().send_body(body.as_bytes());
    }

    /// The barrier on every client: no `error` before its pong.
    fn no_errors(&mut self) {
        for (name, c) in self.clients.iter_mut() {
            let before = c.sync();
            let errors: Vec<&ServerMsg> = before
                .iter()
                .filter(|m| matches!(m, ServerMsg::Error { .. }))
                .collect();
            assert!(errors.is_empty(), "[{name}] errors: {errors:#?}");
        }
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Someone other than the user the example names (`to` or `peer`): the example's sender.
fn sender_for(v: &Value) -> &'static str {
    let named = [field(v, "to"), field(v, "peer")];
    ["alice", "bob", "carol"]
        .into_iter()
        .find(|n| !named.contains(&Some(n)))
        .unwrap()
}

/// `example` with the number of its `"field":N` replaced by `live`: the only change made to
/// an example (call and transfer ids are the server's to assign).
fn with_live_id(example: &str, field: &str, live: u64) -> String {
    let key = format!("\"{field}\":");
    let start = example
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {example}"))
        + key.len();
    let len = example[start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(example.len() - start);
    assert!(len > 0, "{key} is not a number in {example}");
    format!("{}{live}{}", &example[..start], &example[start + len..])
}

fn hello_pw(name: &str, password: &str) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(Secret::from(password)),
    }
}

// ---------------------------------------------------------------------------------------------
// Each kind of example
// ---------------------------------------------------------------------------------------------

/// Set up the context of `ex`, send it, check the answer; returns what it was answered with
/// (and what was sent, when that is not the example as written).
fn exercise(ex: &str) -> String {
    let v: Value = serde_json::from_str(ex).unwrap();
    let kind = v["type"].as_str().unwrap();
    match kind {
        "hello" => hello(ex, &v),
        "logout" => logout(ex),
        "change_password" => change_password(ex, &v),
        "ping" => ping(ex, &v),
        "room_msg" => room_msg(ex, &v),
        "private_msg" => private_msg(ex, &v),
        "set_status" => set_status(ex, &v),
        "set_topic" => set_topic(ex, &v),
        "typing" => typing(ex, &v),
        "receipt" => receipt(ex, &v),
        "create_room" | "join" => create_or_join(ex, &v),
        "leave" => leave(ex, &v),
        "list_rooms" | "list_users" | "list_files" => list(ex, kind),
        "history" => history(ex, &v),
        "search" => search(ex, &v),
        "call" => call_example(ex, &v),
        "call_accept" | "call_decline" | "hangup" => answer_call(ex, kind),
        "file_offer" => file_offer(ex, &v),
        "file_accept" | "file_reject" | "file_credit" | "file_chunk" | "file_pause"
        | "file_resume" | "file_cancel" | "file_done" | "file_failed" => file_frame(ex, kind, &v),
        "upload" => upload(ex, &v),
        "download" => download(ex, &v),
        "binary_chunks" => binary_chunks(ex),
        other => panic!("no live context for a {other} example: {ex}"),
    }
}

/// A fresh server; `hello` as written: `welcome` naming the user, `joined` for each room it
/// lists (the `room` of `hello`, then a resume's `rooms`), then `synced` when it resumes
/// `since` an id.
fn hello(ex: &str, v: &Value) -> String {
    let mut live = Live::new(&[]);
    let name = field(v, "name").unwrap().to_string();
    let mut c = Client::connect(live.server.addr());
    c.name = name.clone();
    c.send_body(ex.as_bytes());
    let rooms = match c.recv_what("welcome") {
        ServerMsg::Welcome { name: n, rooms, .. } => {
            assert_eq!(n, name);
            rooms
        }
        other => panic!("expected welcome, got {other:?}"),
    };
    let mut want = vec![field(v, "room").unwrap_or("general").to_string()];
    if let Some(rs) = v.pointer("/resume/rooms").and_then(Value::as_array) {
        for r in rs {
            let r = r.as_str().unwrap().to_string();
            if !want.contains(&r) {
                want.push(r);
            }
        }
    }
    assert_eq!(rooms, want, "welcome.rooms");
    for r in &rooms {
        c.expect_joined(r);
    }
    let mut answer = format!("welcome, joined {}", rooms.join(", joined "));
    if v.pointer("/resume/since").is_some() {
        match c.recv_what("synced") {
            ServerMsg::Synced { .. } => answer.push_str(", synced"),
            other => panic!("expected synced, got {other:?}"),
        }
    }
    live.clients.insert(name.clone(), c);
    live.me = name;
    live.no_errors();
    answer
}

fn logout(ex: &str) -> String {
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.send_as_me(ex);
    let me = live.me();
    match me.recv_what("bye") {
        ServerMsg::Bye { code, reason } => {
            assert_eq!(code, chat::protocol::ByeCode::LoggedOut);
            assert_eq!(reason, "logged out");
        }
        other => panic!("expected bye, got {other:?}"),
    }
    let after = me.expect_closed();
    assert!(after.is_empty(), "after bye: {after:?}");
    live.clients.clear();
    "bye, then the server closed".into()
}

/// alice, registered with the example's `old` password (or an open name when it has none).
fn change_password(ex: &str, v: &Value) -> String {
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    let old = field(v, "old");
    match old {
        Some(pw) => {
            let mut c = Client::connect(live.server.addr());
            c.name = "alice".into();
            c.send(&hello_pw("alice", pw));
            c.recv_until_what("welcome", |m| matches!(m, ServerMsg::Welcome { .. }));
            c.expect_joined("general");
            live.clients.insert("alice".into(), c);
        }
        None => {
            live.login("alice");
        }
    }
    live.send_as_me(ex);
    match live.me().recv_what("password_changed") {
        ServerMsg::PasswordChanged { name, registered } => {
            assert_eq!(name, "alice");
            assert_eq!(registered, old.is_none());
        }
        other => panic!("expected password_changed, got {other:?}"),
    }
    live.no_errors();
    "password_changed".into()
}

fn ping(ex: &str, v: &Value) -> String {
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.send_as_me(ex);
    let seq = v.get("seq").and_then(Value::as_u64);
    match live.me().recv_what("pong") {
        ServerMsg::Pong { seq: s } => assert_eq!(s, seq),
        other => panic!("expected pong, got {other:?}"),
    }
    live.no_errors();
    "pong".into()
}

/// The sender and bob in the example's room.
fn room_msg(ex: &str, v: &Value) -> String {
    let room = field(v, "room").unwrap();
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login_to("alice", room);
    live.login_to("bob", room);
    live.send_as_me(ex);
    let cid = field(v, "cid").map(str::to_string);
    let (id, recipients) = live.me().expect_ack(cid.as_deref());
    assert_eq!(recipients, 1);
    let m = live.c("bob").expect_message();
    assert_eq!(
        (m.id, m.from.as_str(), m.room.as_deref(), m.text.as_str()),
        (id, "alice", Some(room), field(v, "text").unwrap())
    );
    live.no_errors();
    "ack (and the member got the message)".into()
}

/// The sender and the addressee online.
fn private_msg(ex: &str, v: &Value) -> String {
    let to = field(v, "to").unwrap();
    let mut live = Live::new(&[]);
    live.me = sender_for(v).into();
    let me = live.me.clone();
    live.login(&me);
    live.login(to);
    live.send_as_me(ex);
    let cid = field(v, "cid").map(str::to_string);
    let (id, recipients) = live.me().expect_ack(cid.as_deref());
    assert_eq!(recipients, 1);
    let m = live.c(to).expect_message();
    assert_eq!(
        (m.id, m.from.as_str(), m.to.as_deref(), m.text.as_str()),
        (id, me.as_str(), Some(to), field(v, "text").unwrap())
    );
    live.no_errors();
    "ack (and the addressee got the message)".into()
}

/// alice and bob in #general: both get the `status` notice (the sender and everyone sharing a
/// room with them).
fn set_status(ex: &str, v: &Value) -> String {
    let status: Status = serde_json::from_value(v["status"].clone()).unwrap();
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.login("bob");
    live.send_as_me(ex);
    for who in ["alice", "bob"] {
        match live.c(who).recv_what("notice status") {
            ServerMsg::Notice {
                event: NoticeKind::Status,
                user,
                status: s,
                ..
            } => {
                assert_eq!(user, "alice", "[{who}]");
                assert_eq!(s, Some(status), "[{who}]");
            }
            other => panic!("[{who}] expected a status notice, got {other:?}"),
        }
    }
    live.no_errors();
    "notice{event:status} to the sender and the room's member".into()
}

/// The sender in the example's room.
fn set_topic(ex: &str, v: &Value) -> String {
    let room = field(v, "room").unwrap();
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login_to("alice", room);
    live.send_as_me(ex);
    match live.me().recv_what("topic") {
        ServerMsg::Topic {
            room: r, topic, by, ..
        } => {
            assert_eq!(
                (r.as_str(), topic.as_str(), by.as_str()),
                (room, field(v, "topic").unwrap(), "alice")
            );
        }
        other => panic!("expected topic, got {other:?}"),
    }
    live.no_errors();
    "topic".into()
}

/// In a room: the sender and bob in it. To a user: both online; an `active:false` follows an
/// `active:true` (a typed frame), so there is a typing state to stop. The peer gets `typing`;
/// the sender gets nothing.
fn typing(ex: &str, v: &Value) -> String {
    let active = v["active"].as_bool().unwrap();
    let mut live = Live::new(&[]);
    let (me, peer, room, to) = match (field(v, "room"), field(v, "to")) {
        (Some(room), None) => ("alice", "bob", Some(room), None),
        (None, Some(to)) => (sender_for(v), to, None, Some(to)),
        _ => panic!("a typing example names a room or a user: {ex}"),
    };
    live.me = me.into();
    match room {
        Some(r) => {
            live.login_to(me, r);
            live.login_to(peer, r);
        }
        None => {
            live.login(me);
            live.login(peer);
        }
    }
    if !active {
        live.me().send(&ClientMsg::Typing {
            room: room.map(Into::into),
            to: to.map(Into::into),
            active: true,
        });
        let got = live.c(peer).recv_what("typing active:true");
        assert!(
            matches!(got, ServerMsg::Typing { active: true, .. }),
            "{got:?}"
        );
    }
    live.send_as_me(ex);
    match live.c(peer).recv_what("typing") {
        ServerMsg::Typing {
            from,
            room: r,
            to: t,
            active: a,
        } => {
            assert_eq!(from, me);
            assert_eq!(r.as_deref(), room);
            assert_eq!(t.as_deref(), to);
            assert_eq!(a, active);
        }
        other => panic!("expected typing, got {other:?}"),
    }
    live.me().expect_quiet();
    live.no_errors();
    "the peer got typing; nothing to the sender".into()
}

/// A message from someone else reached the sender; the receipt (its `up_to` as written, above
/// that message's id, so clamped to it) reaches the message's author as `receipts`.
fn receipt(ex: &str, v: &Value) -> String {
    let kind = field(v, "kind").unwrap();
    let up_to = v["up_to"].as_u64().unwrap();
    let mut live = Live::new(&[]);
    let (me, author, id) = match (field(v, "room"), field(v, "peer")) {
        (Some(room), None) => {
            live.login_to("alice", room);
            live.login_to("bob", room);
            let (id, _) = live.c("bob").say(room, "a message to acknowledge");
            assert_eq!(live.c("alice").expect_message().id, id);
            ("alice", "bob", id)
        }
        (None, Some(peer)) => {
            let me = sender_for(v);
            live.login(me);
            live.login(peer);
            let id = live.c(peer).dm(me, "a private message to acknowledge");
            assert_eq!(live.c(me).expect_message().id, id);
            (me, peer, id)
        }
        _ => panic!("a receipt example names a room or a peer: {ex}"),
    };
    assert!(
        up_to >= id,
        "the example's up_to {up_to} is below the live id {id}"
    );
    live.me = me.into();
    live.send_as_me(ex);
    match live.c(author).recv_what("receipts") {
        ServerMsg::Receipts {
            room,
            peer,
            markers,
        } => {
            assert_eq!(room.as_deref(), field(v, "room"));
            if field(v, "peer").is_some() {
                assert_eq!(peer.as_deref(), Some(me), "the reader is the peer");
            }
            let m = marker_of(&markers, me).unwrap_or_else(|| panic!("no marker: {markers:?}"));
            assert_eq!(m.delivered, id, "clamped to the last message");
            assert_eq!(m.read, if kind == "read" { id } else { 0 });
        }
        other => panic!("expected receipts, got {other:?}"),
    }
    live.me().expect_quiet();
    live.no_errors();
    "the author got receipts; nothing to the reader".into()
}

/// `create_room` of a room nobody has; `join` of a room bob is in.
fn create_or_join(ex: &str, v: &Value) -> String {
    let room = field(v, "room").unwrap();
    let create = v["type"] == "create_room";
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    if !create {
        live.login_to("bob", room);
    }
    live.send_as_me(ex);
    let (members, created) = live.me().expect_joined(room);
    assert_eq!(created, create);
    let want: Vec<String> = if create {
        vec!["alice".into()]
    } else {
        vec!["alice".into(), "bob".into()]
    };
    assert_eq!(members, want);
    if !create {
        live.c("bob")
            .expect_notice(NoticeKind::Join, "alice", Some(room));
    }
    live.no_errors();
    format!("joined (created:{created})")
}

/// The sender in the room it leaves.
fn leave(ex: &str, v: &Value) -> String {
    let room = field(v, "room").unwrap();
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.join("alice", room);
    live.send_as_me(ex);
    match live.me().recv_what("left") {
        ServerMsg::Left { room: r } => assert_eq!(r, room),
        other => panic!("expected left, got {other:?}"),
    }
    live.no_errors();
    "left".into()
}

fn list(ex: &str, kind: &str) -> String {
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.send_as_me(ex);
    let got = live.me().recv_what(kind);
    let answer = match (kind, &got) {
        ("list_rooms", ServerMsg::RoomList { rooms }) => {
            assert!(rooms.iter().any(|r| r.name == "general"), "{rooms:?}");
            "room_list"
        }
        ("list_users", ServerMsg::UserList { users }) => {
            assert!(users.iter().any(|u| u.name == "alice"), "{users:?}");
            "user_list"
        }
        ("list_files", ServerMsg::FileList { .. }) => "file_list",
        _ => panic!("{kind} answered with {got:?}"),
    };
    live.no_errors();
    answer.into()
}

/// Two messages in the room (the sender in it) or the private conversation; the answer is
/// those, oldest first, with `replay:"history"`, then `history_end`.
fn history(ex: &str, v: &Value) -> String {
    let mut live = Live::new(&[]);
    let mut ids = Vec::new();
    let (room, peer) = (field(v, "room"), field(v, "peer"));
    let me = sender_for(v);
    live.me = me.into();
    match (room, peer) {
        (Some(room), None) => {
            live.login_to(me, room);
            for text in ["first", "second"] {
                ids.push(live.me().say(room, text).0);
            }
        }
        (None, Some(peer)) => {
            live.login(me);
            live.login(peer);
            for text in ["first", "second"] {
                ids.push(live.me().dm(peer, text));
                live.c(peer).expect_message();
            }
        }
        _ => panic!("a history example names a room or a peer: {ex}"),
    }
    if let Some(before) = v.get("before").and_then(Value::as_u64) {
        assert!(
            before > ids[1],
            "the example's before {before} is not above the live ids"
        );
    }
    live.send_as_me(ex);
    let mut got = Vec::new();
    loop {
        match live.me().recv_what("history") {
            ServerMsg::Message {
                id,
                replay: Some(Replay::History),
                ..
            } => got.push(id),
            ServerMsg::HistoryEnd {
                room: r,
                peer: p,
                count,
                ..
            } => {
                assert_eq!((r.as_deref(), p.as_deref()), (room, peer));
                assert_eq!(count as usize, got.len());
                break;
            }
            other => panic!("expected history messages then history_end, got {other:?}"),
        }
    }
    assert_eq!(got, ids, "both messages, oldest first");
    live.no_errors();
    "message{replay:history} x2, history_end".into()
}

/// A message holding every word of the search, in its scope (#general, the named room, or the
/// private conversation with `peer`); the answer is `search_results` with that message.
fn search(ex: &str, v: &Value) -> String {
    let text = field(v, "text").unwrap();
    let words = format!("so {text} it is");
    let mut live = Live::new(&[]);
    let me = sender_for(v);
    live.me = me.into();
    let id = match (field(v, "room"), field(v, "peer")) {
        (room, None) => {
            let room = room.unwrap_or("general");
            live.login_to(me, room);
            live.me().say(room, &words).0
        }
        (None, Some(peer)) => {
            live.login(me);
            live.login(peer);
            let id = live.me().dm(peer, &words);
            live.c(peer).expect_message();
            id
        }
        _ => panic!("a search example names at most one of room and peer: {ex}"),
    };
    if let Some(before) = v.get("before").and_then(Value::as_u64) {
        assert!(
            before > id,
            "the example's before {before} is not above the live id"
        );
    }
    live.send_as_me(ex);
    match live.me().recv_what("search_results") {
        ServerMsg::SearchResults {
            text: t, results, ..
        } => {
            assert_eq!(t, text);
            let ids: Vec<u64> = results.iter().map(|h| h.id).collect();
            assert_eq!(ids, vec![id], "the one message holding the words");
        }
        other => panic!("expected search_results, got {other:?}"),
    }
    live.no_errors();
    "search_results".into()
}

/// The callee online: `call_ringing` to the caller, `call_incoming` to the callee.
fn call_example(ex: &str, v: &Value) -> String {
    let to = field(v, "to").unwrap();
    let media: Media = v
        .get("media")
        .map(|m| serde_json::from_value(m.clone()).unwrap())
        .unwrap_or(Media::Voice);
    let mut live = Live::new(&[]);
    let me = sender_for(v);
    live.me = me.into();
    live.login(me);
    live.login(to);
    live.send_as_me(ex);
    let call = match live.me().recv_what("call_ringing") {
        ServerMsg::CallRinging {
            call,
            to: t,
            media: m,
        } => {
            assert_eq!((t.as_str(), m), (to, media));
            call
        }
        other => panic!("expected call_ringing, got {other:?}"),
    };
    match live.c(to).recv_what("call_incoming") {
        ServerMsg::CallIncoming {
            call: c,
            from,
            media: m,
        } => {
            assert_eq!((c, from.as_str(), m), (call, me, media))
        }
        other => panic!("expected call_incoming, got {other:?}"),
    }
    live.no_errors();
    "call_ringing (and call_incoming to the callee)".into()
}

/// alice calls bob (ringing). `call_accept` and `call_decline` come from bob, the callee;
/// `hangup` from alice, the caller. The example's `call` is rewritten to the live call id.
fn answer_call(ex: &str, kind: &str) -> String {
    let mut live = Live::new(&[]);
    live.login("alice");
    live.login("bob");
    live.c("alice").send(&call("bob", Media::Voice));
    let call_id = match live.c("alice").recv_what("call_ringing") {
        ServerMsg::CallRinging { call, .. } => call,
        other => panic!("expected call_ringing, got {other:?}"),
    };
    assert!(matches!(
        live.c("bob").recv_what("call_incoming"),
        ServerMsg::CallIncoming { .. }
    ));
    live.me = if kind == "hangup" { "alice" } else { "bob" }.into();
    let body = with_live_id(ex, "call", call_id);
    live.send_as_me(&body);
    for (who, peer) in [("alice", "bob"), ("bob", "alice")] {
        let got = live.c(who).recv_what(&format!("the answer to {kind}"));
        match (kind, got) {
            ("call_accept", ServerMsg::CallAccepted { call, peer: p, .. }) => {
                assert_eq!((call, p.as_str()), (call_id, peer))
            }
            (
                "call_decline",
                ServerMsg::CallEnded {
                    call, reason, by, ..
                },
            ) => {
                assert_eq!(
                    (call, reason, by.as_deref()),
                    (call_id, CallEnd::Declined, Some("bob"))
                )
            }
            (
                "hangup",
                ServerMsg::CallEnded {
                    call, reason, by, ..
                },
            ) => {
                assert_eq!(
                    (call, reason, by.as_deref()),
                    (call_id, CallEnd::Hangup, Some("alice"))
                )
            }
            (_, other) => panic!("[{who}] {kind} answered with {other:?}"),
        }
    }
    live.no_errors();
    let answer = match kind {
        "call_accept" => "call_accepted to both",
        "call_decline" => "call_ended{declined} to both",
        _ => "call_ended{hangup} to both",
    };
    format!("{answer}; sent {body}")
}

/// The addressee online: `file_state{pending}` to both, the `cid` echoed to the sender.
fn file_offer(ex: &str, v: &Value) -> String {
    let to = field(v, "to").unwrap();
    let mut live = Live::new(&[]);
    let me = sender_for(v);
    live.me = me.into();
    live.login(me);
    live.login(to);
    live.send_as_me(ex);
    let mine = expect_next_state(live.me(), S::Pending);
    assert_eq!(mine.role, Role::Sender);
    assert_eq!(mine.cid.as_deref(), field(v, "cid"));
    assert_eq!(mine.name, field(v, "name").unwrap());
    let theirs = expect_next_state(live.c(to), S::Pending);
    assert_eq!((theirs.id, theirs.role), (mine.id, Role::Receiver));
    live.no_errors();
    "file_state{pending} to both".into()
}

/// Bob asks for binary chunks as written: no answer, and alice's JSON
/// `file_chunk` reaches him as a binary frame with the same bytes.
fn binary_chunks(ex: &str) -> String {
    let mut live = Live::new(&[]);
    live.me = "bob".into();
    live.login("alice");
    live.login("bob");
    live.send_as_me(ex);
    let payload = b"hello";
    let mut alice = live.clients.remove("alice").unwrap();
    let mut bob = live.clients.remove("bob").unwrap();
    let id = transfer_common::offer(&mut alice, &mut bob, "bob", "hello.txt", payload);
    transfer_common::accept(&mut bob, id, 5);
    expect_next_state(&mut alice, S::InProgress);
    expect_next_state(&mut bob, S::InProgress);
    assert_eq!(expect_credit(&mut alice, id), 5);
    alice.send(&chunk(id, 0, payload));
    match bob.recv_what("file_chunk") {
        ServerMsg::FileChunk { data, .. } => assert_eq!(B64.decode(data).unwrap(), payload),
        other => panic!("expected file_chunk, got {other:?}"),
    }
    assert_eq!(bob.binary_frames, 1, "the chunk came as a binary frame");
    live.clients.insert("alice".into(), alice);
    live.clients.insert("bob".into(), bob);
    live.no_errors();
    "no answer; chunks then come as binary frames".into()
}

/// The next frame must be `file_state` in `state`.
fn expect_next_state(c: &mut Client, state: S) -> transfer_common::St {
    let m = c.recv_what(&format!("file_state {state}"));
    match as_state(&m) {
        Some(s) if s.state == state => s,
        _ => panic!("[{}] expected file_state {state}, got {m:?}", c.name),
    }
}

/// A transfer from alice (sender) to bob (receiver) of `hello` (5 bytes, the payload of the
/// `file_chunk` example), brought to the state the example needs; the example's `id` is
/// rewritten to the live id. The receiver sends `file_accept`, `file_reject`, `file_credit`,
/// `file_done` and `file_failed`; the sender `file_chunk`, `file_pause`, `file_resume` and
/// `file_cancel` (either side may send those last three).
fn file_frame(ex: &str, kind: &str, v: &Value) -> String {
    let payload = b"hello";
    if kind == "file_chunk" {
        let data = v["data"].as_str().unwrap();
        assert_eq!(B64.decode(data).unwrap(), payload, "the example's payload");
    }
    let mut live = Live::new(&[]);
    live.login("alice");
    live.login("bob");
    let id = {
        let mut alice = live.clients.remove("alice").unwrap();
        let mut bob = live.clients.remove("bob").unwrap();
        let id = transfer_common::offer(&mut alice, &mut bob, "bob", "hello.txt", payload);
        live.clients.insert("alice".into(), alice);
        live.clients.insert("bob".into(), bob);
        id
    };
    // Accepted, for everything but accepting and rejecting.
    if !matches!(kind, "file_accept" | "file_reject") {
        let credit = if kind == "file_credit" { 0 } else { 5 };
        let mut frames = vec![ClientMsg::FileAccept {
            id,
            offset: 0,
            prefix_sha256: None,
        }];
        if credit > 0 {
            frames.push(ClientMsg::FileCredit { id, bytes: credit });
        }
        live.c("bob").send_batch(&frames);
        expect_next_state(live.c("alice"), S::InProgress);
        expect_next_state(live.c("bob"), S::InProgress);
        if credit > 0 {
            assert_eq!(expect_credit(live.c("alice"), id), credit);
        }
    }
    // The bytes arrived, for the receiver's verdict.
    if matches!(kind, "file_done") {
        live.c("alice").send(&chunk(id, 0, payload));
        match live.c("bob").recv_what("file_chunk") {
            ServerMsg::FileChunk { .. } => {}
            other => panic!("expected file_chunk, got {other:?}"),
        }
    }
    // Paused, to resume.
    if kind == "file_resume" {
        live.c("alice").send(&ClientMsg::FilePause { id });
        expect_next_state(live.c("alice"), S::Paused);
        expect_next_state(live.c("bob"), S::Paused);
    }
    let receiver_sends = matches!(
        kind,
        "file_accept" | "file_reject" | "file_credit" | "file_done" | "file_failed"
    );
    live.me = if receiver_sends { "bob" } else { "alice" }.into();
    let me = live.me.clone();
    let body = with_live_id(ex, "id", id);
    live.send_as_me(&body);
    let answer = match kind {
        "file_credit" => {
            let bytes = v["bytes"].as_u64().unwrap();
            match live.c("alice").recv_what("file_credit") {
                ServerMsg::FileCredit { id: i, bytes: b } => assert_eq!((i, b), (id, bytes)),
                other => panic!("expected file_credit, got {other:?}"),
            }
            live.c("bob").expect_quiet();
            "file_credit to the sender".to_string()
        }
        "file_chunk" => {
            match live.c("bob").recv_what("file_chunk") {
                ServerMsg::FileChunk {
                    id: i,
                    offset,
                    data,
                } => {
                    assert_eq!((i, offset), (id, 0));
                    assert_eq!(data, v["data"].as_str().unwrap(), "relayed as sent");
                }
                other => panic!("expected file_chunk, got {other:?}"),
            }
            live.c("alice").expect_quiet();
            "file_chunk to the receiver, as sent".to_string()
        }
        _ => {
            let (state, by) = match kind {
                "file_accept" => (S::InProgress, None),
                "file_reject" => (S::Rejected, Some(me.as_str())),
                "file_pause" => (S::Paused, Some(me.as_str())),
                "file_resume" => (S::InProgress, Some(me.as_str())),
                "file_cancel" => (S::Cancelled, Some(me.as_str())),
                "file_done" => (S::Completed, None),
                "file_failed" => (S::Failed, None),
                _ => unreachable!(),
            };
            for who in ["alice", "bob"] {
                let s = expect_next_state(live.c(who), state);
                assert_eq!(s.id, id);
                if let Some(by) = by {
                    assert_eq!(s.by.as_deref(), Some(by), "[{who}] by");
                }
                if kind == "file_failed" {
                    assert_eq!(s.reason.as_deref(), field(v, "reason"), "[{who}] reason");
                }
            }
            let state = serde_json::to_value(state).unwrap();
            format!("file_state{{{}}} to both", state.as_str().unwrap())
        }
    };
    live.no_errors();
    format!("{answer}; sent {body}")
}

/// `file_state{in_progress}` (no `peer`, the `cid` echoed) and `file_credit`.
fn upload(ex: &str, v: &Value) -> String {
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.send_as_me(ex);
    let s = expect_next_state(live.me(), S::InProgress);
    assert_eq!(s.peer, None);
    assert_eq!(s.role, Role::Sender);
    assert_eq!(s.cid.as_deref(), field(v, "cid"));
    assert_eq!(s.name, field(v, "name").unwrap());
    match live.me().recv_what("file_credit") {
        ServerMsg::FileCredit { id, bytes } => assert!(id == s.id && bytes > 0),
        other => panic!("expected file_credit, got {other:?}"),
    }
    live.no_errors();
    "file_state{in_progress}, file_credit".into()
}

/// The store holds the example's file (uploaded whole by bob first); the answer is an offer,
/// `file_state{pending}` to the sender as receiver, `cid` echoed.
fn download(ex: &str, v: &Value) -> String {
    let name = field(v, "name").unwrap();
    let content = data(20_480, 7);
    let mut live = Live::new(&[]);
    live.me = "alice".into();
    live.login("alice");
    live.login("bob");
    {
        let bob = live.c("bob");
        bob.send(&ClientMsg::Upload {
            name: name.into(),
            size: content.len() as u64,
            sha256: sha(&content),
            cid: None,
        });
        let id = expect_next_state(bob, S::InProgress).id;
        assert!(expect_credit(bob, id) >= content.len() as u64);
        bob.send(&chunk(id, 0, &content));
        expect_state(bob, S::Completed);
    }
    live.me().send(&ClientMsg::ListFiles {});
    match live
        .me()
        .recv_until_what("file_list", |m| matches!(m, ServerMsg::FileList { .. }))
    {
        ServerMsg::FileList { files } => {
            assert!(files.iter().any(|f| f.name == name), "{files:?}")
        }
        _ => unreachable!(),
    }
    live.send_as_me(ex);
    let s = expect_next_state(live.me(), S::Pending);
    assert_eq!(s.role, Role::Receiver);
    assert_eq!(s.cid.as_deref(), field(v, "cid"));
    assert_eq!((s.name.as_str(), s.size), (name, content.len() as u64));
    live.no_errors();
    "file_state{pending} offering the stored file".into()
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn every_client_example_in_the_doc_is_answered_as_documented_by_the_live_server() {
    let examples = client_examples();
    assert!(
        examples.len() > 30,
        "found only {} examples",
        examples.len()
    );
    let mut exercised: BTreeSet<String> = BTreeSet::new();
    let mut failed = Vec::new();
    let mut report = Vec::new();
    for ex in &examples {
        let kind = serde_json::from_str::<Value>(ex).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string();
        let start = Instant::now();
        match panic::catch_unwind(AssertUnwindSafe(|| exercise(ex))) {
            Ok(answer) => {
                report.push(format!(
                    "ok     {ex}\n         -> {answer} ({} ms)",
                    start.elapsed().as_millis()
                ));
                exercised.insert(kind);
            }
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into());
                report.push(format!("FAILED {ex}\n         -> {why}"));
                failed.push(format!("{ex}: {why}"));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    let unexercised: Vec<&&str> = CLIENT_FRAME_TYPES
        .iter()
        .filter(|k| !exercised.contains(**k))
        .collect();
    assert!(
        failed.is_empty() && unexercised.is_empty(),
        "client frame types with no example exercised: {unexercised:?}\nexamples that failed:\n{}",
        failed.join("\n")
    );
}

#[test]
fn the_id_rewrite_changes_only_the_number() {
    assert_eq!(
        with_live_id(r#"{"type":"file_accept","id":3,"offset":0}"#, "id", 17),
        r#"{"type":"file_accept","id":17,"offset":0}"#
    );
    assert_eq!(
        with_live_id(r#"{"type":"hangup","call":3}"#, "call", 1),
        r#"{"type":"hangup","call":1}"#
    );
}
