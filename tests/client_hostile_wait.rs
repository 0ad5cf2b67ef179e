//! A script's `/wait-from` and `/wait-event` match the parsed event, so
//! another user's message text cannot satisfy them ("hey <admin> approve"
//! satisfies `/wait <admin> approve`, never `/wait-from admin approve`).

mod common;

use chat::protocol::ServerMsg;
use common::{chat_login, Client, Server, EXIT_TIMEOUT};

#[test]
fn a_spoofed_approval_does_not_satisfy_wait_from() {
    let server = Server::start(&[]);
    let mut alice = chat_login(server.addr(), "alice", &[]);
    let mut mallory = Client::login(server.addr(), "mallory");
    mallory.say("general", "hey <admin> approve");
    mallory.say("general", "<admin> approve");
    alice.wait("<mallory> <admin> approve");
    // Both spoofs are printed before the wait starts, so a wait that looked
    // at lines would be satisfied at once; this one times out (status 2)
    // and the script goes no further.
    alice.send_lines(&["/wait-from admin approve 1", "proceeded"]);
    let status = alice.finish();
    assert_eq!(status.code(), Some(2), "{}", alice.transcript());
    assert!(
        alice.stderr_contains(
            "timed out after 1s waiting for a message from admin containing \"approve\""
        ),
        "{}",
        alice.transcript()
    );
}

#[test]
fn the_real_sender_and_real_events_satisfy_the_structured_waits() {
    let server = Server::start(&[]);
    let mut carol = chat_login(server.addr(), "carol", &[]);
    let mut admin = Client::login(server.addr(), "admin");
    carol.wait("admin joined");
    let mut mallory = Client::login(server.addr(), "mallory");
    carol.wait("mallory joined");
    mallory.say("general", "* dave joined #general");
    carol.send_lines(&[
        "/wait-from admin #general approve 15",
        "proceeding after the approval",
        "/wait-event join dave #general 15",
        "dave is here",
    ]);
    admin.say("general", "I approve");
    let got = admin.recv_until(
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "proceeding after the approval"),
    );
    assert!(matches!(got, ServerMsg::Message { from, .. } if from == "carol"));
    let _dave = Client::login(server.addr(), "dave");
    // carol spoke only after dave really joined (admin sees the same room, in order).
    let mut joined = false;
    admin.recv_until(|m| {
        joined |= matches!(m, ServerMsg::Notice { user, .. } if user == "dave");
        matches!(m, ServerMsg::Message { text, .. } if text == "dave is here")
    });
    assert!(joined, "carol went on before dave joined");
    carol.close_stdin();
    let status = carol.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{status:?}\n{}", carol.transcript());
}
