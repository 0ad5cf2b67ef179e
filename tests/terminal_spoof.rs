//! Others' text in a real terminal (tmux, 100 columns, NO_COLOR): a message
//! padded to the terminal's width cannot make a fake `12:00 #general <carol>`
//! message or `12:00 * carol joined` line start at column 0 (the client
//! wraps it itself and indents every continuation under the text), and bidi
//! overrides and zero-width characters show as visible escapes.

mod common;

use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

#[test]
fn padded_text_cannot_forge_a_line_and_hidden_characters_show() {
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
    let mut mallory = Client::login(addr, "mallory");
    tmux.wait_for("mallory's join", |s| s.contains("mallory joined"));

    // The text starts after "HH:MM #general <mallory> " (25 columns); each
    // row of the 99 the client fills holds 74 columns of it.
    let fake_msg = "12:00 #general <carol> hi";
    let fake_join = "12:00 * carol joined #general";
    let text = format!(
        "{}{fake_msg}{}{fake_join}{}END-MARK",
        "x".repeat(74),
        " ".repeat(74 - fake_msg.len()),
        " ".repeat(74 - fake_join.len())
    );
    mallory.say("general", &text);
    mallory.say("general", "bidi\u{202e}done\u{200b}zw\u{2028}ls");
    let s = tmux.wait_for("both messages", |s| {
        s.contains("END-MARK") && s.contains("zw")
    });
    assert!(
        s.lines().any(|l| l.contains(" #general <mallory> xxxx")),
        "the real message line is there:\n{s}"
    );
    for row in s.lines() {
        assert!(
            !row.starts_with("12:00 #general <carol>")
                && !row.starts_with("12:00 * carol")
                && !row.starts_with("* carol"),
            "a forged line at column 0: {row:?}\n{s}"
        );
    }
    assert!(
        s.contains("bidi\\u{202e}done\\u{200b}zw\\u{2028}ls"),
        "hidden characters shown as escapes:\n{s}"
    );
    tmux.type_line("/quit");
}
