//! End to end through real `chat-client` processes: call signalling (ring, accept, hang up,
//! decline, busy, missed) as both sides print it.

mod common;

use common::{chat_login, ChatClient, Server};
use std::net::SocketAddr;

/// alice and bob logged in, in #general, each having seen the other.
fn pair(addr: SocketAddr) -> (ChatClient, ChatClient) {
    let mut alice = chat_login(addr, "alice", &[]);
    let bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");
    (alice, bob)
}

#[test]
fn call_is_accepted_then_hung_up() {
    let server = Server::start(&[]);
    let (mut alice, mut bob) = pair(server.addr());

    alice.send_line("/call bob video");
    alice.wait("☎ calling bob (video)...");
    bob.wait("☎ alice is calling you (video) — /accept-call or /decline-call");
    bob.send_line("/accept-call");
    bob.wait("☎ call with alice connected (video)");
    alice.wait("☎ call with bob connected (video)");
    alice.send_line("/hangup");
    alice.wait("☎ call with bob ended: hung up by alice");
    bob.wait("☎ call with alice ended: hung up by alice");

    // Both are free again: bob can call alice (voice by default) and hang up while ringing.
    bob.send_line("/call alice");
    bob.wait("☎ calling alice (voice)...");
    alice.wait("☎ bob is calling you (voice)");
    bob.send_line("/hangup");
    alice.wait("☎ call with bob ended: hung up by bob");
    bob.wait("☎ call with alice ended: hung up by bob");

    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
}

#[test]
fn call_is_declined() {
    let server = Server::start(&[]);
    let (mut alice, mut bob) = pair(server.addr());

    alice.send_line("/call bob voice");
    bob.wait("☎ alice is calling you (voice)");
    bob.send_line("/decline-call");
    bob.wait("☎ call with alice ended: declined by bob");
    alice.wait("☎ call with bob ended: declined by bob");
    // Nothing is ringing any more.
    bob.send_line("/accept-call");
    bob.wait("error: no call is ringing for you");
    alice.send_line("/hangup");
    alice.wait("error: you are not in a call");
}

#[test]
fn calling_someone_in_a_call_is_busy() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let (mut alice, mut bob) = pair(addr);
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");

    alice.send_line("/call bob");
    bob.wait("☎ alice is calling you (voice)");
    // Ringing counts as busy, for the callee and for the caller.
    carol.send_line("/call bob video");
    carol.wait("☎ call with bob ended: busy");
    carol.send_line("/call alice");
    carol.wait("☎ call with alice ended: busy");

    // Connected is busy too; the busy attempt does not disturb the call.
    bob.send_line("/accept-call");
    alice.wait("☎ call with bob connected (voice)");
    bob.wait("☎ call with alice connected (voice)");
    carol.send_line("/call bob");
    carol.wait("☎ call with bob ended: busy");
    bob.assert_absent_before_sync("carol is calling you");
    bob.send_line("/hangup");
    alice.wait("☎ call with bob ended: hung up by bob");
    bob.wait("☎ call with alice ended: hung up by bob");
}

#[test]
fn unanswered_call_is_missed() {
    let server = Server::start(&["--ring-timeout", "1"]);
    let (mut alice, mut bob) = pair(server.addr());

    alice.send_line("/call bob");
    alice.wait("☎ calling bob (voice)...");
    bob.wait("☎ alice is calling you (voice)");
    // Nobody answers: after the 1 s ring timeout both sides learn it was missed.
    alice.wait("☎ call with bob ended: missed");
    bob.wait("☎ call with alice ended: missed");
    bob.send_line("/accept-call");
    bob.wait("error: no call is ringing for you");
}
