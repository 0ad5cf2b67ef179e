//! The status row above the input line (tmux, NO_COLOR): who is typing in
//! the current target appears and goes without adding a line; activity in
//! another room counts up and clears when you switch to it; the newest own
//! message's state shows there instead of receipt lines.

mod common;

use chat::protocol::{ClientMsg, ReceiptKind};
use common::tmux::{prompt_line, Tmux};
use common::{room_receipt, Client, Server};

/// The row just above the prompt.
fn status_row(screen: &str) -> String {
    let rows: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    rows.len()
        .checked_sub(2)
        .map(|i| rows[i].to_string())
        .unwrap_or_default()
}

#[test]
fn typing_activity_and_receipts_live_in_the_status_row() {
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
    let mut bob = Client::login(addr, "bob");
    tmux.wait_for("bob's join", |s| s.contains("* bob joined #general"));
    let before = tmux.history().lines().count();

    // Typing: in the status row, gone when bob stops; no scrollback line.
    bob.send(&ClientMsg::Typing {
        room: Some("general".into()),
        to: None,
        active: true,
    });
    tmux.wait_for("bob typing", |s| status_row(s).contains("[bob is typing]"));
    bob.send(&ClientMsg::Typing {
        room: Some("general".into()),
        to: None,
        active: false,
    });
    tmux.wait_for("bob stopped", |s| !status_row(s).contains("typing"));
    assert_eq!(
        tmux.history().lines().count(),
        before,
        "typing added lines:\n{}",
        tmux.history()
    );

    // Activity in #lab while alice is in #general.
    tmux.type_line("/join lab");
    tmux.wait_for("#lab current", |s| prompt_line(s).contains("#lab>"));
    tmux.type_line("/switch general");
    tmux.wait_for("#general current", |s| prompt_line(s).contains("#general>"));
    bob.join("lab");
    bob.say("lab", "one");
    bob.say("lab", "two alice");
    tmux.wait_for("activity in #lab", |s| {
        status_row(s).contains("[Act: #lab(2!)]")
    });
    tmux.type_line("/switch lab");
    let s = tmux.wait_for("#lab seen", |s| prompt_line(s).contains("#lab>"));
    assert!(!status_row(&s).contains("Act:"), "{s}");

    // Your message's state: in the status row, not as lines.
    tmux.type_line("hello lab");
    tmux.wait_for("sent", |s| status_row(s).contains("[last: sent]"));
    let m = bob.expect_message();
    bob.send(&room_receipt(ReceiptKind::Delivered, "lab", m.id));
    let s = tmux.wait_for("the state", |s| {
        status_row(s).contains("[last: delivered 1/1]")
    });
    assert!(!s.contains('✓'), "{s}");
    tmux.type_line("/quit");
}
