//! The terminal client's side of TLS and accounts, driving `chat-client` in
//! scripted mode: chat and a file over TLS with `--ca`, clear errors for
//! the wrong protocol on a port and an untrusted certificate, passwords
//! from `CHAT_PASSWORD` and `--password-file`, `/passwd`, and a session
//! taken over by another login (the client stops instead of fighting back).

mod common;
mod security_common;

use chat::protocol::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use common::*;
use security_common::*;
use std::process::Command;
use std::time::Duration;

fn tls_server(certs: &Certs) -> Server {
    let args = certs.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args)
}

/// `chat-client` with extra arguments and environment variables.
fn client_env(
    addr: std::net::SocketAddr,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> ChatClient {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(client_args(addr, name)).args(args);
    cmd.env_remove("CHAT_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    ChatClient::spawn_command(cmd, name)
}

/// The client exits with status 1 and says `what` on stderr.
fn expect_failure(c: &mut ChatClient, what: &str) {
    let status = c.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "exit status");
    assert!(
        c.stderr_contains(what),
        "stderr lacks {what:?}: {:?}",
        c.stderr_lines()
    );
}

#[test]
fn chat_and_a_file_over_tls_with_a_self_signed_certificate() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let ca = certs.cert.to_str().unwrap();
    let dl = tempfile::tempdir().unwrap();
    let mut alice = chat_login(server.addr(), "alice", &["--ca", ca]);
    let mut bob = chat_login(
        server.addr(),
        "bob",
        &[
            "--tls",
            "--ca",
            ca,
            "--auto-accept",
            "--download-dir",
            dl.path().to_str().unwrap(),
        ],
    );
    alice.wait("bob joined #general");
    alice.send_line("hello over TLS");
    bob.wait("hello over TLS");
    let src = certs.dir.path().join("notes.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    alice.send_line(&format!("/send bob {}", src.display()));
    bob.wait_line(
        "transfer 1: notes.bin from alice: completed",
        Duration::from_secs(30),
    );
    assert_eq!(std::fs::read(dl.path().join("notes.bin")).unwrap(), data);
    bob.send_line("got it");
    alice.wait("got it");
    assert!(alice.finish().success());
    assert!(bob.finish().success());
}

#[test]
fn a_tls_client_on_a_plaintext_port_is_told_to_drop_tls() {
    let certs = Certs::new();
    let server = Server::start(&[]);
    let mut c = client_env(
        server.addr(),
        "alice",
        &["--ca", certs.cert.to_str().unwrap()],
        &[],
    );
    expect_failure(
        &mut c,
        "the server does not speak TLS on this port; drop --tls",
    );
}

#[test]
fn a_plaintext_client_on_a_tls_port_is_told_to_use_tls() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let mut c = client_env(server.addr(), "alice", &[], &[]);
    expect_failure(&mut c, "this port speaks TLS");
}

#[test]
fn an_untrusted_certificate_is_refused_with_a_hint() {
    let certs = Certs::new();
    let other = Certs::new();
    let server = tls_server(&certs);
    let mut c = client_env(
        server.addr(),
        "alice",
        &["--ca", other.cert.to_str().unwrap()],
        &[],
    );
    expect_failure(&mut c, "--ca FILE");
}

#[test]
fn passwords_from_the_environment_and_a_file_and_passwd() {
    let server = Server::start(&[]);
    // Register with CHAT_PASSWORD.
    let mut alice = client_env(
        server.addr(),
        "alice",
        &[],
        &[("CHAT_PASSWORD", "correct horse battery")],
    );
    alice.wait(&format!("connected to {} as alice", server.addr()));
    assert!(alice.finish().success());

    // Without it: refused, saying why.
    let mut mallory = client_env(server.addr(), "alice", &[], &[]);
    expect_failure(&mut mallory, "is registered");
    let mut wrong = client_env(
        server.addr(),
        "alice",
        &[],
        &[("CHAT_PASSWORD", "not the password")],
    );
    expect_failure(&mut wrong, "wrong password");

    // From a file, then /passwd in a script.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let mut alice = client_env(
        server.addr(),
        "alice",
        &["--password-file", pw.to_str().unwrap()],
        &[],
    );
    alice.wait(&format!("connected to {} as alice", server.addr()));
    alice.send_line("/passwd a brand new one");
    alice.wait("usage");
    alice.send_line("/passwd brand-new-password");
    alice.wait("password changed");
    assert!(alice.finish().success());
    let mut old = client_env(
        server.addr(),
        "alice",
        &["--password-file", pw.to_str().unwrap()],
        &[],
    );
    expect_failure(&mut old, "wrong password");
    let mut new = client_env(
        server.addr(),
        "alice",
        &[],
        &[("CHAT_PASSWORD", "brand-new-password")],
    );
    new.wait(&format!("connected to {} as alice", server.addr()));
    assert!(new.finish().success());
    assert!(!server.log().contains("brand-new-password"));
}

/// A client whose session another login takes over (the right password from
/// elsewhere) stops, saying so, instead of reconnecting and taking it back:
/// two clients with one password would otherwise take the session from each
/// other forever.
#[test]
fn a_client_taken_over_stops_instead_of_taking_the_session_back() {
    let server = Server::start(&[]);
    let mut alice = client_env(
        server.addr(),
        "alice",
        &[],
        &[("CHAT_PASSWORD", "correct horse battery")],
    );
    alice.wait(&format!("connected to {} as alice", server.addr()));
    alice.sync();
    let mut other = Client::connect(server.addr());
    other.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: "alice".into(),
        room: None,
        status: None,
        resume: None,
        password: Some("correct horse battery".into()),
    });
    other.recv_until_what("welcome", |m| matches!(m, ServerMsg::Welcome { .. }));
    expect_failure(&mut alice, "took this session over");
    assert!(
        alice.stderr_contains("start it again to take it back"),
        "{:?}",
        alice.stderr_lines()
    );
    // The old client is gone for good: the new session was never taken back.
    let after = other.sync();
    assert!(
        !after.iter().any(|m| matches!(m, ServerMsg::Bye { .. })),
        "{after:?}"
    );
}
