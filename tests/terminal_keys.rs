//! Keys in a real terminal (tmux): Ctrl-C clears a half-typed line and the
//! client stays; Ctrl-D on an empty line leaves; `/passwd NEW` never shows
//! the password and Up-arrow never brings it back.

mod common;

use chat::protocol::{NoticeKind, ServerMsg};
use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

/// Start alice in tmux and bob over the protocol, both in #general.
fn start(server: &Server) -> (Tmux, Client) {
    let addr = server.addr();
    let client = env!("CARGO_BIN_EXE_chat-client");
    let cmd = format!(
        "NO_COLOR=1 {client} --name alice --host {} --port {}; echo client-exited-$?; sleep 30",
        addr.ip(),
        addr.port()
    );
    let tmux = Tmux::start(&cmd);
    tmux.wait_for("the prompt", |s| prompt_line(s).contains("#general>"));
    let bob = Client::login(addr, "bob");
    tmux.wait_for("bob's join notice", |s| s.contains("bob joined"));
    (tmux, bob)
}

fn next_text_from_alice(bob: &mut Client) -> String {
    match bob.recv_until_what(
        "a message from alice",
        |m| matches!(m, ServerMsg::Message { from, .. } if from == "alice"),
    ) {
        ServerMsg::Message { text, .. } => text,
        _ => unreachable!(),
    }
}

#[test]
fn ctrl_c_clears_the_line_and_ctrl_d_leaves() {
    let server = Server::start(&[]);
    let (tmux, mut bob) = start(&server);
    tmux.keys(&["-l", "half a thought"]);
    tmux.wait_for("the typed text", |s| {
        prompt_line(s).ends_with("half a thought")
    });
    tmux.keys(&["C-c"]);
    let s = tmux.wait_for("an empty prompt", |s| {
        prompt_line(s).trim_end().ends_with("#general>")
    });
    assert!(!s.contains("client-exited"), "Ctrl-C must not quit:\n{s}");
    tmux.type_line("still here");
    assert_eq!(next_text_from_alice(&mut bob), "still here");

    // Ctrl-D on a non-empty line does not leave; on an empty one it does.
    tmux.keys(&["-l", "x"]);
    tmux.wait_for("the x", |s| prompt_line(s).ends_with("> x"));
    tmux.keys(&["BSpace"]);
    tmux.wait_for("an empty prompt", |s| {
        prompt_line(s).trim_end().ends_with("#general>")
    });
    tmux.keys(&["C-d"]);
    bob.expect_notice(NoticeKind::Leave, "alice", Some("general"));
    tmux.wait_for("the exit status", |s| s.contains("client-exited-0"));
}

#[test]
fn a_password_on_the_line_is_masked_and_never_recalled() {
    let server = Server::start(&[]);
    let (tmux, _bob) = start(&server);
    tmux.keys(&["-l", "/passwd hunter2-secret"]);
    let s = tmux.wait_for("the masked line", |s| prompt_line(s).contains("/passwd *"));
    assert!(!s.contains("hunter2"), "password shown while typed:\n{s}");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the confirmation", |s| s.contains("is registered now"));
    assert!(!s.contains("hunter2"), "password shown after Enter:\n{s}");

    // A chat line, then Up twice: the chat line comes back, the password never.
    tmux.type_line("an ordinary line");
    tmux.wait_for("the line sent", |s| {
        s.contains("an ordinary line") && prompt_line(s).trim_end().ends_with("#general>")
    });
    tmux.keys(&["Up"]);
    tmux.wait_for("the recalled line", |s| {
        prompt_line(s).ends_with("an ordinary line")
    });
    tmux.keys(&["Up"]);
    tmux.keys(&["-l", "!"]);
    let s = tmux.wait_for("the marker", |s| prompt_line(s).ends_with('!'));
    assert!(
        !s.contains("hunter2"),
        "password recalled from history:\n{s}"
    );
    assert!(
        !tmux.history().contains("hunter2"),
        "password in the scrollback:\n{}",
        tmux.history()
    );
}

#[test]
fn the_password_prompt_shows_nothing_of_the_password() {
    let server = Server::start(&[]);
    let (tmux, _bob) = start(&server);
    tmux.type_line("/passwd");
    tmux.wait_for("the first prompt", |s| {
        prompt_line(s).contains("new password:")
    });
    tmux.keys(&["-l", "quiet-pw-1"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the second prompt", |s| {
        prompt_line(s).contains("new password again:")
    });
    tmux.keys(&["-l", "quiet-pw-1"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the confirmation", |s| s.contains("is registered now"));
    tmux.keys(&["Up"]);
    tmux.keys(&["-l", "!"]);
    tmux.wait_for("the marker", |s| prompt_line(s).ends_with('!'));
    assert!(
        !tmux.history().contains("quiet-pw"),
        "password on screen or recalled:\n{}",
        tmux.history()
    );
}
