//! Keystrokes in a real terminal (tmux) are never lost: lines typed or
//! pasted faster than the client handles them all arrive, in order.

mod common;

use chat::protocol::ServerMsg;
use common::tmux::{prompt_line, Tmux};
use common::{Client, Server};

/// Start alice in tmux and bob over the protocol, both in #general.
fn start(server: &Server) -> (Tmux, Client) {
    let addr = server.addr();
    let client = env!("CARGO_BIN_EXE_chat-client");
    let cmd = format!(
        "NO_COLOR=1 {client} --name alice --host {} --port {}",
        addr.ip(),
        addr.port()
    );
    let tmux = Tmux::start(&cmd);
    tmux.wait_for("the prompt", |s| prompt_line(s).contains("#general>"));
    let bob = Client::login(addr, "bob");
    tmux.wait_for("bob's join notice", |s| s.contains("bob joined"));
    (tmux, bob)
}

/// Send `n` lines in one `send-keys` (as fast as a paste) and check bob gets them all in order.
fn quick_lines_all_arrive(n: usize) {
    let server = Server::start(&[]);
    let (tmux, mut bob) = start(&server);
    let lines: Vec<String> = (1..=n).map(|i| format!("line-{i}")).collect();
    let mut keys = Vec::new();
    for l in &lines {
        keys.push(l.as_str());
        keys.push("Enter");
    }
    tmux.keys(&keys);
    for want in &lines {
        let m = bob.recv_until_what(
            &format!("alice's {want}"),
            |m| matches!(m, ServerMsg::Message { from, .. } if from == "alice"),
        );
        match m {
            ServerMsg::Message { text, .. } => {
                assert_eq!(&text, want, "screen:\n{}", tmux.screen())
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn five_quick_lines_all_arrive_in_order() {
    quick_lines_all_arrive(5);
}

#[test]
fn forty_quick_lines_all_arrive_in_order() {
    quick_lines_all_arrive(40);
}
