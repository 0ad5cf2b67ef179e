//! The terminal's layout (tmux, NO_COLOR): one line per message, irssi
//! style, your own included in place of the echoed input; receipts stay off
//! the screen until `/receipts` asks; joins carry a time.

mod common;

use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

#[test]
fn one_line_per_message_own_lines_replace_the_echo_and_receipts_wait_for_receipts() {
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
    let s = tmux.wait_for("bob's join notice", |s| s.contains("* bob joined #general"));
    let join = s.lines().find(|l| l.contains("* bob joined")).unwrap();
    assert!(
        join.as_bytes()[2] == b':' && join[6..].starts_with("* bob joined"),
        "a join carries its time: {join:?}"
    );

    bob.say("general", "morning alice");
    tmux.wait_for("bob's line", |s| {
        s.contains(" #general <bob> morning alice")
    });
    tmux.type_line("hi bob");
    let m = bob.expect_message();
    assert_eq!(m.text, "hi bob");
    let s = tmux.wait_for("alice's own line", |s| {
        s.contains(" #general <alice> hi bob") && prompt_line(s).trim_end().ends_with("#general>")
    });
    assert!(
        !s.contains("#general> hi bob"),
        "the echo is replaced by the message line:\n{s}"
    );

    // bob reads it (his next line marks it read): no receipt line appears...
    bob.say("general", "second from bob");
    tmux.wait_for("bob's second line", |s| s.contains("<bob> second from bob"));
    assert!(!tmux.screen().contains('✓'), "{}", tmux.screen());
    // ... until asked for.
    tmux.type_line("/receipts 1");
    let s = tmux.wait_for("the receipt", |s| s.contains("#general") && s.contains('✓'));
    let row = s.lines().find(|l| l.contains('✓')).unwrap();
    assert!(
        row.contains("#2") || row.contains("#1") || row.contains('#'),
        "{row}"
    );
    tmux.type_line("/quit");
}
