//! The settings file (`$XDG_CONFIG_HOME/chat/config.toml`): `chat-client`
//! alone connects where it says, as the name it says (else `$USER`); flags
//! override it; a mistake in it is a sentence naming the file, exit 2.

mod common;

use common::{ChatClient, Server, EXIT_TIMEOUT, LINE_TIMEOUT};
use std::process::Command;

/// A client run with this settings file and these arguments only.
fn with_settings(settings: &str, args: &[&str], user: &str) -> (ChatClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("chat")).unwrap();
    std::fs::write(dir.path().join("chat/config.toml"), settings).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(args)
        .env("XDG_CONFIG_HOME", dir.path())
        .env("USER", user);
    (ChatClient::spawn_command(cmd, user), dir)
}

#[test]
fn the_settings_file_alone_connects_and_flags_override_it() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let settings = format!(
        "name = \"cfgalice\"\nhost = \"{}\"\nport = {}\nroom = \"#lab\"\nbell = false\n",
        addr.ip(),
        addr.port()
    );
    let (mut c, _dir) = with_settings(&settings, &[], "someone");
    c.wait_line(&format!("connected to {addr} as cfgalice"), LINE_TIMEOUT);
    c.wait("* you joined #lab");
    assert!(c.finish().success(), "{}", c.transcript());

    // A flag wins over the file.
    let (mut c, _dir) = with_settings(&settings, &["--room", "ops"], "someone");
    c.wait("* you joined #ops");
    assert!(c.finish().success(), "{}", c.transcript());
}

#[test]
fn the_name_defaults_to_user() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let settings = format!("host = \"{}\"\nport = {}\n", addr.ip(), addr.port());
    let (mut c, _dir) = with_settings(&settings, &[], "zed");
    c.wait_line(&format!("connected to {addr} as zed"), LINE_TIMEOUT);
    assert!(c.finish().success(), "{}", c.transcript());
}

#[test]
fn a_mistake_in_the_file_is_named() {
    let (mut c, dir) = with_settings("prot = 5555\n", &[], "zed");
    let status = c.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(2), "{}", c.transcript());
    let file = dir.path().join("chat/config.toml");
    assert!(
        c.stderr_contains(&format!(
            "error: cannot use the settings in {}: ",
            file.display()
        )),
        "{}",
        c.transcript()
    );
}
