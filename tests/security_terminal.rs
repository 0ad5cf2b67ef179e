//! Passwords in a real terminal (tmux): the client asks without echo, on
//! `--password` or by itself when the server says the name is registered,
//! and `/passwd` asks twice without echo.

mod common;

use chat::protocol::{ClientMsg, Secret, ServerMsg, PROTOCOL_VERSION};
use common::tmux::Tmux;
use common::{Client, Server};

fn client_cmd(server: &Server, extra: &str) -> String {
    format!(
        "NO_COLOR=1 CHAT_PASSWORD= {} --name alice --host {} --port {} {extra}",
        env!("CARGO_BIN_EXE_chat-client"),
        server.addr().ip(),
        server.addr().port()
    )
}

fn logs_in(server: &Server, password: &str) -> bool {
    let mut c = Client::connect(server.addr());
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: Some(Secret::from(password)),
    });
    let ok = matches!(c.recv(), ServerMsg::Welcome { .. });
    if ok {
        c.send(&ClientMsg::Logout {});
        c.expect_closed();
    }
    ok
}

#[test]
fn passwords_are_asked_without_echo_and_passwd_changes_it() {
    let server = Server::start(&[]);
    let tmux = Tmux::start(&client_cmd(&server, "--password"));
    tmux.wait_for("the password prompt", |s| s.contains("password for alice:"));
    tmux.type_line("first secret pw");
    tmux.wait_for("the chat prompt", |s| s.contains("#general>"));
    tmux.type_line("/passwd");
    tmux.wait_for("the new password prompt", |s| s.contains("new password:"));
    tmux.type_line("second secret pw");
    tmux.wait_for("the second prompt", |s| s.contains("new password again:"));
    tmux.type_line("second secret pw");
    let s = tmux.wait_for("the confirmation", |s| s.contains("password changed"));
    assert!(
        !s.contains("first secret") && !s.contains("second secret"),
        "a password was echoed:\n{s}"
    );
    tmux.type_line("/quit");
    drop(tmux);
    assert!(logs_in(&server, "second secret pw"));
    assert!(!server.log().contains("secret pw"));
}

#[test]
fn a_registered_name_makes_the_client_ask() {
    let server = Server::start(&[]);
    // Register alice at the protocol level.
    assert!(logs_in(&server, "the right one"));
    let tmux = Tmux::start(&client_cmd(&server, ""));
    tmux.wait_for("the password prompt", |s| s.contains("password for alice:"));
    tmux.type_line("the right one");
    let s = tmux.wait_for("the chat prompt", |s| s.contains("#general>"));
    assert!(!s.contains("the right one"), "echoed:\n{s}");
    tmux.type_line("/quit");
}
