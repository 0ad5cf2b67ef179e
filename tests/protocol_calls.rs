//! Call signalling: ring, accept, decline, hang up, busy, missed, disconnect
//! (docs/PROTOCOL.md "Calls").

mod common;

use chat::protocol::{CallEnd, ClientMsg, ErrorCode, Media, ServerMsg};
use common::*;

/// `n` users logged in to #general (join notices not consumed: call frames are skipped to).
fn users(server: &Server, names: &[&str]) -> Vec<Client> {
    names
        .iter()
        .map(|n| Client::login(server.addr(), n))
        .collect()
}

fn is_call_frame(m: &ServerMsg) -> bool {
    matches!(
        m,
        ServerMsg::CallRinging { .. }
            | ServerMsg::CallIncoming { .. }
            | ServerMsg::CallAccepted { .. }
            | ServerMsg::CallEnded { .. }
            | ServerMsg::Error { .. }
    )
}

/// Skip notices; the next call-related frame.
fn next_call(c: &mut Client) -> ServerMsg {
    c.recv_until_what("a call frame", is_call_frame)
}

/// Ring `callee` from `caller`; returns the call id after checking both sides.
fn ring(caller: &mut Client, callee: &mut Client, media: Media) -> u64 {
    caller.send(&call(&callee.name.clone(), media));
    let id = match next_call(caller) {
        ServerMsg::CallRinging { call, to, media: m } => {
            assert_eq!(to, callee.name);
            assert_eq!(m, media);
            call
        }
        other => panic!("[{}] expected call_ringing, got {other:?}", caller.name),
    };
    match next_call(callee) {
        ServerMsg::CallIncoming {
            call,
            from,
            media: m,
        } => {
            assert_eq!(call, id);
            assert_eq!(from, caller.name);
            assert_eq!(m, media);
        }
        other => panic!("[{}] expected call_incoming, got {other:?}", callee.name),
    }
    id
}

fn expect_ended(c: &mut Client, id: u64, peer: &str, reason: CallEnd, by: Option<&str>) {
    match next_call(c) {
        ServerMsg::CallEnded {
            call,
            peer: p,
            reason: r,
            by: b,
        } => {
            assert_eq!(call, id, "[{}] call id", c.name);
            assert_eq!(p, peer, "[{}] call_ended.peer", c.name);
            assert_eq!(r, reason, "[{}] call_ended.reason", c.name);
            if by.is_some() {
                assert_eq!(b.as_deref(), by, "[{}] call_ended.by", c.name);
            }
        }
        other => panic!("[{}] expected call_ended {reason:?}, got {other:?}", c.name),
    }
}

fn accept(caller: &mut Client, callee: &mut Client, id: u64, media: Media) {
    callee.send(&ClientMsg::CallAccept { call: id });
    let (caller_name, callee_name) = (caller.name.clone(), callee.name.clone());
    for (c, peer) in [(&mut *callee, caller_name), (&mut *caller, callee_name)] {
        match next_call(c) {
            ServerMsg::CallAccepted {
                call,
                peer: p,
                media: m,
            } => {
                assert_eq!((call, p.as_str(), m), (id, peer.as_str(), media));
            }
            other => panic!("[{}] expected call_accepted, got {other:?}", c.name),
        }
    }
}

#[test]
fn ring_accept_hangup() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob"]);
    let (a, b) = v.split_at_mut(1);
    let (alice, bob) = (&mut a[0], &mut b[0]);
    let id = ring(alice, bob, Media::Video);
    accept(alice, bob, id, Media::Video);
    alice.send(&ClientMsg::Hangup { call: id });
    expect_ended(alice, id, "bob", CallEnd::Hangup, Some("alice"));
    expect_ended(bob, id, "alice", CallEnd::Hangup, Some("alice"));

    // Both are free again: a new call gets a new id.
    let id2 = ring(bob, alice, Media::Voice);
    assert_ne!(id2, id);
}

#[test]
fn media_defaults_to_voice() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob"]);
    v[0].send_body(br#"{"type":"call","to":"bob"}"#);
    match next_call(&mut v[0]) {
        ServerMsg::CallRinging { media, .. } => assert_eq!(media, Media::Voice),
        other => panic!("expected call_ringing, got {other:?}"),
    }
}

#[test]
fn callee_declines() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob"]);
    let (a, b) = v.split_at_mut(1);
    let (alice, bob) = (&mut a[0], &mut b[0]);
    let id = ring(alice, bob, Media::Voice);
    bob.send(&ClientMsg::CallDecline { call: id });
    expect_ended(alice, id, "bob", CallEnd::Declined, Some("bob"));
    expect_ended(bob, id, "alice", CallEnd::Declined, Some("bob"));
}

#[test]
fn either_side_may_hang_up_while_ringing() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob"]);
    let (a, b) = v.split_at_mut(1);
    let (alice, bob) = (&mut a[0], &mut b[0]);
    let id = ring(alice, bob, Media::Voice);
    bob.send(&ClientMsg::Hangup { call: id });
    expect_ended(alice, id, "bob", CallEnd::Hangup, Some("bob"));
    expect_ended(bob, id, "alice", CallEnd::Hangup, Some("bob"));

    let id = ring(alice, bob, Media::Voice);
    alice.send(&ClientMsg::Hangup { call: id });
    expect_ended(alice, id, "bob", CallEnd::Hangup, Some("alice"));
    expect_ended(bob, id, "alice", CallEnd::Hangup, Some("alice"));
}

#[test]
fn calling_someone_in_a_call_is_busy() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob", "carol", "dave"]);
    let [alice, bob, carol, dave] = &mut v[..] else {
        unreachable!()
    };
    let id = ring(alice, bob, Media::Voice);

    // Callee ringing -> busy.
    carol.send(&call("bob", Media::Voice));
    match next_call(carol) {
        ServerMsg::CallEnded { peer, reason, .. } => {
            assert_eq!((peer.as_str(), reason), ("bob", CallEnd::Busy));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    // Caller ringing -> busy too.
    carol.send(&call("alice", Media::Voice));
    match next_call(carol) {
        ServerMsg::CallEnded { peer, reason, .. } => {
            assert_eq!((peer.as_str(), reason), ("alice", CallEnd::Busy));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    // Calling while in a call yourself is a state error.
    alice.send(&call("carol", Media::Voice));
    assert!(matches!(
        next_call(alice),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));

    // The original call is untouched and can be accepted; active calls are busy too.
    accept(alice, bob, id, Media::Voice);
    dave.send(&call("bob", Media::Video));
    match next_call(dave) {
        ServerMsg::CallEnded { peer, reason, .. } => {
            assert_eq!((peer.as_str(), reason), ("bob", CallEnd::Busy));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    alice.send(&ClientMsg::Hangup { call: id });
    expect_ended(bob, id, "alice", CallEnd::Hangup, Some("alice"));
}

#[test]
fn unanswered_call_is_missed_after_the_ring_timeout() {
    let server = Server::start(&["--ring-timeout", "1"]);
    let mut v = users(&server, &["alice", "bob"]);
    let (a, b) = v.split_at_mut(1);
    let (alice, bob) = (&mut a[0], &mut b[0]);
    let id = ring(alice, bob, Media::Voice);
    expect_ended(alice, id, "bob", CallEnd::Missed, None);
    expect_ended(bob, id, "alice", CallEnd::Missed, None);
    // A missed call can no longer be accepted.
    bob.send(&ClientMsg::CallAccept { call: id });
    assert!(matches!(
        next_call(bob),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
}

#[test]
fn disconnect_ends_an_active_call() {
    let server = Server::start(&[]);
    let v = users(&server, &["alice", "bob", "carol"]);
    let [mut alice, mut bob, mut carol]: [Client; 3] = v.try_into().ok().unwrap();
    let id = ring(&mut alice, &mut bob, Media::Video);
    accept(&mut alice, &mut bob, id, Media::Video);
    bob.disconnect();
    expect_ended(&mut alice, id, "bob", CallEnd::Disconnected, None);
    // alice is free again.
    ring(&mut alice, &mut carol, Media::Voice);
}

#[test]
fn disconnect_ends_a_ringing_call() {
    let server = Server::start(&[]);
    let v = users(&server, &["alice", "bob"]);
    let [mut alice, mut bob]: [Client; 2] = v.try_into().ok().unwrap();
    let id = ring(&mut alice, &mut bob, Media::Voice);
    alice.disconnect();
    expect_ended(&mut bob, id, "alice", CallEnd::Disconnected, None);
}

#[test]
fn call_errors() {
    let server = Server::start(&[]);
    let mut v = users(&server, &["alice", "bob", "carol"]);
    let [alice, bob, carol] = &mut v[..] else {
        unreachable!()
    };
    alice.send(&call("nobody", Media::Voice));
    // (join notices may be queued before the error: next_call skips them)
    match next_call(alice) {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::UnknownUser),
        other => panic!("expected unknown_user, got {other:?}"),
    }
    alice.send(&call("alice", Media::Voice));
    match next_call(alice) {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::Invalid),
        other => panic!("expected invalid, got {other:?}"),
    }

    let id = ring(alice, bob, Media::Voice);
    // Only the callee may accept or decline.
    alice.send(&ClientMsg::CallAccept { call: id });
    assert!(matches!(
        next_call(alice),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    alice.send(&ClientMsg::CallDecline { call: id });
    assert!(matches!(
        next_call(alice),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    // Strangers cannot touch it; unknown ids are refused.
    carol.send(&ClientMsg::Hangup { call: id });
    assert!(matches!(
        next_call(carol),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    bob.send(&ClientMsg::CallAccept { call: id + 1000 });
    assert!(matches!(
        next_call(bob),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    // Still ringing.
    accept(alice, bob, id, Media::Voice);
    // Accepting twice is a state error.
    bob.send(&ClientMsg::CallAccept { call: id });
    assert!(matches!(
        next_call(bob),
        ServerMsg::Error {
            code: ErrorCode::CallState,
            ..
        }
    ));
    alice.expect_quiet();
}
