//! Accounts against the real server: a password registers a name, which
//! then needs it; wrong passwords are refused and locked out; `/passwd`
//! changes it; hashes (never passwords) survive a restart; password checks
//! do not hold up anyone else; and a login with a password over TLS.

mod common;
mod security_common;

use chat::protocol::{ClientMsg, ErrorCode, Secret, ServerMsg, PROTOCOL_VERSION};
use common::*;
use security_common::*;
use std::net::SocketAddr;
use std::time::Duration;

fn hello_pw(name: &str, password: Option<&str>) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: password.map(Secret::from),
    }
}

/// Connect and send `hello` with `password`; the first answer.
fn try_login(addr: SocketAddr, name: &str, password: Option<&str>) -> (Client, ServerMsg) {
    let mut c = Client::connect(addr);
    c.name = name.into();
    c.send(&hello_pw(name, password));
    let first = c.recv_what("the answer to hello");
    (c, first)
}

fn login_pw(addr: SocketAddr, name: &str, password: &str) -> Client {
    let (mut c, first) = try_login(addr, name, Some(password));
    assert!(
        matches!(first, ServerMsg::Welcome { .. }),
        "[{name}] expected welcome, got {first:?}"
    );
    c.expect_joined("general");
    c
}

fn error_of(m: &ServerMsg) -> (ErrorCode, String) {
    match m {
        ServerMsg::Error { code, message, .. } => (*code, message.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn logout(mut c: Client) {
    c.send(&ClientMsg::Logout {});
    c.expect_closed();
}

#[test]
fn a_registered_name_needs_its_password_and_a_wrong_one_is_refused() {
    let server = Server::start(&[]);
    let alice = login_pw(server.addr(), "alice", "correct horse battery");
    logout(alice);

    let (mut c, first) = try_login(server.addr(), "alice", None);
    let (code, message) = error_of(&first);
    assert_eq!(code, ErrorCode::AuthRequired);
    assert!(message.contains("registered"), "{message}");
    // Still connected: the same connection may try again.
    c.send(&hello_pw("alice", Some("incorrect horse")));
    let (code, message) = error_of(&c.recv_what("bad_password"));
    assert_eq!(code, ErrorCode::BadPassword);
    assert!(message.contains("wrong password"), "{message}");
    assert!(!message.contains("incorrect horse"), "never echoed");
    c.send(&hello_pw("alice", Some("correct horse battery")));
    assert!(matches!(c.recv_what("welcome"), ServerMsg::Welcome { .. }));

    // Open names work as before; without the password nobody takes a
    // registered one, online or not; with it, its owner takes the session
    // over at once, and the old connection is told why.
    let mut bob = Client::login(server.addr(), "bob");
    bob.ping(1);
    let (_, first) = try_login(server.addr(), "alice", None);
    assert_eq!(
        error_of(&first).0,
        ErrorCode::AuthRequired,
        "alice is online"
    );
    let (_, first) = try_login(server.addr(), "alice", Some("correct horse battery"));
    assert!(matches!(first, ServerMsg::Welcome { .. }), "{first:?}");
    let last = c.expect_closed();
    assert!(
        last.iter().any(
            |m| matches!(m, ServerMsg::Bye { code: chat::protocol::ByeCode::TakenOver, reason } if reason.contains("another connection"))
        ),
        "{last:?}"
    );
}

#[test]
fn failed_logins_are_locked_out_with_a_clear_wait() {
    let server = Server::start(&[]);
    logout(login_pw(server.addr(), "alice", "correct horse battery"));
    let mut c = Client::connect(server.addr());
    c.name = "guesser".into();
    for _ in 0..3 {
        c.send(&hello_pw("alice", Some("guess guess")));
        assert_eq!(error_of(&c.recv()).0, ErrorCode::BadPassword);
    }
    c.send(&hello_pw("alice", Some("correct horse battery")));
    let (code, message) = error_of(&c.recv());
    assert_eq!(code, ErrorCode::TooManyAttempts);
    assert!(message.contains("try again in 1 s"), "{message}");
    // The lockout is per name: another connection is locked out too...
    let (_, first) = try_login(server.addr(), "alice", Some("correct horse battery"));
    assert_eq!(error_of(&first).0, ErrorCode::TooManyAttempts);
    // ...until it passes.
    std::thread::sleep(Duration::from_millis(1_100));
    c.send(&hello_pw("alice", Some("correct horse battery")));
    assert!(matches!(c.recv(), ServerMsg::Welcome { .. }));
    assert!(server.log().contains("wrong password for alice"));
}

#[test]
fn a_password_is_changed_and_the_old_one_stops_working() {
    let server = Server::start(&[]);
    // A name used without a password is registered by /passwd.
    let mut bob = Client::login(server.addr(), "bob");
    bob.send(&ClientMsg::ChangePassword {
        old: None,
        new: Secret::from("first password"),
    });
    assert_eq!(
        bob.recv_what("password_changed"),
        ServerMsg::PasswordChanged {
            name: "bob".into(),
            registered: true
        }
    );
    bob.send(&ClientMsg::ChangePassword {
        old: Some(Secret::from("not the first")),
        new: Secret::from("second password"),
    });
    assert_eq!(error_of(&bob.recv()).0, ErrorCode::BadPassword);
    bob.send(&ClientMsg::ChangePassword {
        old: Some(Secret::from("first password")),
        new: Secret::from("short"),
    });
    assert_eq!(error_of(&bob.recv()).0, ErrorCode::Invalid);
    bob.send(&ClientMsg::ChangePassword {
        old: Some(Secret::from("first password")),
        new: Secret::from("second password"),
    });
    assert_eq!(
        bob.recv(),
        ServerMsg::PasswordChanged {
            name: "bob".into(),
            registered: false
        }
    );
    logout(bob);
    let (_, first) = try_login(server.addr(), "bob", Some("first password"));
    assert_eq!(error_of(&first).0, ErrorCode::BadPassword);
    login_pw(server.addr(), "bob", "second password").ping(1);
}

#[test]
fn hashes_survive_a_restart_and_passwords_are_nowhere() {
    let mut server = Server::start(&["--log-level", "debug"]);
    logout(login_pw(server.addr(), "alice", "correct horse battery"));
    server.restart();
    let (_, first) = try_login(server.addr(), "alice", None);
    assert_eq!(error_of(&first).0, ErrorCode::AuthRequired);
    login_pw(server.addr(), "alice", "correct horse battery").ping(1);

    let file = std::fs::read_to_string(server.data_dir().join("accounts.json")).unwrap();
    assert!(file.contains("$argon2id$"), "{file}");
    assert!(!file.contains("correct horse"), "no plaintext in {file}");
    assert!(
        !server.log().contains("correct horse"),
        "no password in the log"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir().join("accounts.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "accounts.json is private: {mode:o}");
}

#[test]
fn password_checks_do_not_hold_up_anyone_else() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    // Twenty registrations at once: each is an Argon2 hash off the loop.
    let mut pending: Vec<Client> = (0..20)
        .map(|i| {
            let mut c = Client::connect(server.addr());
            c.name = format!("user{i}");
            c.send(&hello_pw(&format!("user{i}"), Some("a good password")));
            c
        })
        .collect();
    for seq in 0..5 {
        alice.ping(seq);
        alice.say("general", &format!("meanwhile {seq}"));
        assert_eq!(bob.expect_message().text, format!("meanwhile {seq}"));
    }
    for c in &mut pending {
        assert!(matches!(
            c.recv_within(Duration::from_secs(20), "welcome"),
            ServerMsg::Welcome { .. }
        ));
    }
}

#[test]
fn a_password_login_over_tls() {
    let certs = Certs::new();
    let args = certs.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let proxy = TlsProxy::start(server.addr(), certs.client_config());
    logout(login_pw(proxy.addr(), "alice", "correct horse battery"));
    let (_, first) = try_login(proxy.addr(), "alice", Some("wrong horse battery"));
    assert_eq!(error_of(&first).0, ErrorCode::BadPassword);
    login_pw(proxy.addr(), "alice", "correct horse battery").ping(1);
}
