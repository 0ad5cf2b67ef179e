//! Resizing a real terminal (tmux `resize-window`) keeps what was received:
//! widening from 60 to 120 columns erases no message, and narrowing again
//! leaves exactly one prompt, with the half-typed line on it.

mod common;

use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

#[test]
fn resizing_keeps_messages_and_leaves_one_prompt() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let client = env!("CARGO_BIN_EXE_chat-client");
    let cmd = format!(
        "NO_COLOR=1 {client} --name alice --host {} --port {}",
        addr.ip(),
        addr.port()
    );
    let tmux = Tmux::start_sized(&cmd, 60, 20);
    tmux.wait_for("the prompt", |s| prompt_line(s).contains("#general>"));
    let mut bob = Client::login(addr, "bob");
    tmux.wait_for("bob's join notice", |s| s.contains("bob joined"));
    let long = "the quick brown fox jumps over the lazy dog and keeps running far past the end of a narrow row";
    bob.say("general", long);
    bob.say("general", "second-message");
    tmux.wait_for("bob's messages", |s| s.contains("second-message"));
    // A half-typed line longer than a row of the narrow window.
    let typed = "typing along a line long enough to wrap in a narrow window xyz";
    tmux.keys(&["-l", typed]);
    tmux.wait_for("the typed text", |s| prompt_line(s).ends_with("window xyz"));

    for (cols, rows) in [(120, 20), (60, 20), (120, 21), (40, 20), (100, 20)] {
        tmux.resize(cols, rows);
        tmux.wait_size(cols, rows);
        // Barrier: a message the client itself cut to the new width (one
        // column short of it), so it knew the size before printing it, and
        // had handled the resize (rustyline takes the signal first).
        let mark = format!("after-{cols}-{rows}-{}", "x".repeat(usize::from(cols)));
        bob.say("general", &mark);
        let head = format!("after-{cols}-{rows}-");
        // ...and the prompt drawn again below it (the client prints the
        // message, then the prompt: a capture between the two shows none).
        let s = tmux.wait_for(&format!("{head} cut by the client, then the prompt"), |s| {
            s.lines()
                .any(|l| l.contains(&head) && l.trim_end().len() == usize::from(cols) - 1)
                && prompt_line(s).ends_with("xyz")
        });
        let prompts = s.lines().filter(|l| l.contains("#general>")).count();
        let typed = s.lines().filter(|l| l.contains("typing along")).count();
        assert_eq!(
            (prompts, typed),
            (1, 1),
            "one prompt after the resize to {cols}:\n{s}"
        );
        assert!(prompt_line(&s).ends_with("xyz"), "{s}");
        let all = tmux.history();
        // Rows re-wrapped by the terminal split words: compare without spaces.
        let flat: String = all.split_whitespace().collect();
        for word in ["quickbrownfox", "narrowrow", "second-message"] {
            assert!(
                flat.contains(word),
                "{word:?} erased by the resize to {cols}:\n{all}"
            );
        }
    }
}
