//! Text from a hostile server or user reaches the output neutralised: no
//! escape sequence, bidi control, zero-width character or line separator
//! gets through raw, in text lines, `--json` lines, error lines after login,
//! or the refusal of a login on stderr.

mod common;

use common::hostile::{room_message, HostileServer};
use common::{ChatClient, EXIT_TIMEOUT};
use serde_json::json;

/// Characters that must never reach a terminal raw.
fn hidden(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2028}' | '\u{2029}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    })
}

const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\rfake\u{202e}txt.exe\u{200b}\u{2028}* carol joined #general";

fn no_hidden(c: &ChatClient) {
    for l in c.lines().iter().chain(c.stderr_lines().iter()) {
        if let Some(ch) = hidden(l) {
            panic!("raw {ch:?} in {l:?}\n{}", c.transcript());
        }
    }
}

#[test]
fn messages_names_and_errors_are_shown_escaped() {
    let hostile = HostileServer::start();
    let mut bob = ChatClient::spawn(hostile.addr(), "bob", &[]);
    let (mut peer, _) = hostile.accept_login();
    bob.wait("* you joined #general");
    peer.send(&room_message(1, "mallory", HOSTILE));
    let line = bob.wait("<mallory>");
    assert!(
        line.ends_with(
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31m\\u{d}fake\\u{202e}txt.exe\\u{200b}\\u{2028}* carol joined #general"
        ),
        "{line}"
    );
    // The server's own texts: an error, a notice, a goodbye.
    peer.send(&json!({"type": "error", "code": "invalid", "message": HOSTILE}));
    let line = bob.wait("error: \\u{1b}]0;pwned");
    assert!(line.contains("fake\\u{202e}txt"), "{line}");
    peer.send(&json!({
        "type": "notice", "event": "join", "user": "m\u{202e}x", "room": "general", "text": HOSTILE
    }));
    bob.wait("* \\u{1b}]0;pwned");
    no_hidden(&bob);
}

#[test]
fn json_lines_escape_what_serde_leaves_raw() {
    let hostile = HostileServer::start();
    let mut bob = ChatClient::spawn(hostile.addr(), "bob", &["--json"]);
    let (mut peer, _) = hostile.accept_login();
    bob.wait(r#""event":"joined""#);
    peer.send(&room_message(1, "mallory", HOSTILE));
    let line = bob.wait(r#""from":"mallory""#);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["text"], HOSTILE, "same value");
    assert!(
        line.contains("\\u202e") && line.contains("\\u2028"),
        "{line}"
    );
    no_hidden(&bob);
}

#[test]
fn a_refused_login_is_reported_escaped() {
    let hostile = HostileServer::start();
    let mut bob = ChatClient::spawn(hostile.addr(), "bob", &["--no-reconnect"]);
    let mut peer = hostile.accept();
    peer.recv_type("hello");
    peer.send(&json!({"type": "error", "code": "invalid", "message": HOSTILE, "re": "hello"}));
    let status = bob.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", bob.transcript());
    let err = bob.stderr_lines().join("\n");
    assert!(
        err.contains("error: login refused: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J"),
        "{err}"
    );
    no_hidden(&bob);
}
