//! The client in a real terminal: chat-client runs inside tmux, the test types
//! half a line, another user's message arrives, and the screen shows it above
//! the prompt with the half line intact; then Tab completes a user name.
//!
//! Waiting is done by polling `tmux capture-pane` against a deadline (the
//! screen is the only event a terminal gives us).

mod common;

use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

#[test]
fn incoming_message_prints_above_a_half_typed_line_and_tab_completes_names() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let client = env!("CARGO_BIN_EXE_chat-client");
    let cmd = format!(
        "NO_COLOR=1 {client} --name alice --host {} --port {}",
        addr.ip(),
        addr.port()
    );
    let tmux = Tmux::start(&cmd);
    tmux.wait_for("the prompt", |s| prompt_line(s).contains("#general>"));

    // bob logs in (alice sees it), alice types half a line.
    let mut bob = Client::login(addr, "bob");
    tmux.wait_for("bob's join notice", |s| s.contains("bob joined"));
    tmux.keys(&["-l", "half a li"]);
    tmux.wait_for("the typed text", |s| prompt_line(s).ends_with("half a li"));

    bob.say("general", "hello from bob");
    let s = tmux.wait_for("bob's message", |s| s.contains("hello from bob"));
    let prompt = prompt_line(&s);
    assert!(
        prompt.contains("#general>") && prompt.ends_with("half a li"),
        "the half-typed line must survive intact at the prompt; screen:\n{s}"
    );
    let rows: Vec<&str> = s.lines().collect();
    let msg_row = rows
        .iter()
        .position(|l| l.contains("hello from bob"))
        .unwrap();
    let prompt_row = rows.iter().rposition(|l| l.contains("half a li")).unwrap();
    assert!(
        msg_row < prompt_row,
        "message printed above the prompt:\n{s}"
    );

    // Clear the line, then complete a user name with Tab.
    tmux.keys(&["C-u"]);
    tmux.wait_for("an empty prompt", |s| {
        prompt_line(s).trim_end().ends_with("#general>")
    });
    tmux.keys(&["-l", "/msg bo"]);
    tmux.keys(&["Tab"]);
    let s = tmux.wait_for("the completed name", |s| {
        prompt_line(s).contains("/msg bob")
    });
    assert!(!prompt_line(&s).contains("/msg bobb"), "{s}");

    // Finish the line: bob gets the private message.
    tmux.keys(&["-l", "done typing"]);
    tmux.keys(&["Enter"]);
    let m = bob.recv_until(|m| matches!(m, chat::protocol::ServerMsg::Message { .. }));
    match m {
        chat::protocol::ServerMsg::Message { from, to, text, .. } => {
            assert_eq!(from, "alice");
            assert_eq!(to.as_deref(), Some("bob"));
            assert_eq!(text, "done typing");
        }
        _ => unreachable!(),
    }
    tmux.keys(&["-l", "/quit"]);
    tmux.keys(&["Enter"]);
}
