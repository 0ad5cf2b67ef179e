//! Names and the data directory against the real server: the data
//! directory is 0700 and every file in it 0600, whether the server made it
//! or found it wider (tightened at start-up, with a log line each); and a
//! look-alike of a registered name is refused over a real socket.

mod common;

use chat::protocol::{ClientMsg, ErrorCode, Secret, ServerMsg, PROTOCOL_VERSION};
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// Every file and directory under `dir`, `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Directories 0700, files 0600, under `dir`.
fn assert_private(dir: &Path) {
    for p in walk(dir) {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p), want, "{} is {:04o}", p.display(), mode(&p));
    }
}

fn hello(name: &str, password: Option<&str>) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: password.map(Secret::from),
    }
}

/// Register `name` (its first login with a password), say something, and
/// log out: the accounts file and the history database both get written.
fn register_and_talk(server: &Server, name: &str) {
    let mut c = Client::connect(server.addr());
    c.name = name.into();
    c.send(&hello(name, Some("a good password")));
    assert!(matches!(c.recv_what("welcome"), ServerMsg::Welcome { .. }));
    c.expect_joined("general");
    c.say("general", "a private thought, in a public room");
    c.send(&ClientMsg::Logout {});
    c.expect_closed();
}

#[test]
fn a_new_data_dir_and_everything_the_server_writes_in_it_are_private() {
    let root = tempfile::tempdir().unwrap();
    set_mode(root.path(), 0o755);
    let data = root.path().join("new").join("data");
    let server = Server::start_in(&data, &[]);
    register_and_talk(&server, "alice");
    assert!(data.join("history.db").exists() && data.join("accounts.json").exists());
    assert!(data.join("files").is_dir());
    assert_private(&data);
}

#[test]
fn an_old_data_dir_with_wide_modes_is_tightened_at_start_up_with_a_log_line() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let files = data.join("files");
    fs::create_dir_all(&files).unwrap();
    // As an older server (or a copy, or a restore) left it.
    fs::write(data.join("history.log"), "").unwrap();
    fs::write(data.join("accounts.json"), r#"{"version":1,"accounts":{}}"#).unwrap();
    fs::write(files.join("notes.txt"), "hello").unwrap();
    fs::write(
        files.join(".index.json"),
        r#"{"notes.txt":{"size":5,"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","uploader":"alice","ts":1}}"#,
    )
    .unwrap();
    for p in walk(&data) {
        set_mode(&p, if p.is_dir() { 0o755 } else { 0o644 });
    }
    let server = Server::start_in(&data, &[]);
    assert_private(&data);
    let log = server.log();
    for p in [
        data.join("history.log"),
        data.join("accounts.json"),
        files.join("notes.txt"),
        files.join(".index.json"),
    ] {
        let line = format!(
            "{} was mode 0644, readable by other users; now 0600",
            p.display()
        );
        assert!(log.contains(&line), "no {line:?} in\n{log}");
    }
    assert!(
        log.contains(&format!(
            "data directory {} was mode 0755, open to other users; now 0700",
            data.display()
        )),
        "{log}"
    );
    // The tightened store and history still work, and stay private.
    register_and_talk(&server, "bob");
    let mut c = Client::login(server.addr(), "carol");
    c.send(&ClientMsg::ListFiles {});
    let list = c.recv_until(|m| matches!(m, ServerMsg::FileList { .. }));
    assert!(
        matches!(&list, ServerMsg::FileList { files } if files.len() == 1),
        "{list:?}"
    );
    assert_private(&data);
}

#[test]
fn a_look_alike_of_a_registered_name_is_refused_naming_it() {
    let server = Server::start(&[]);
    register_and_talk(&server, "bob");
    for (i, name) in ["Bob", "B0B", "bob."].into_iter().enumerate() {
        let mut c = Client::connect(server.addr());
        c.name = name.into();
        c.send(&hello(name, None));
        let (message, re) = c.expect_error(ErrorCode::NameTaken);
        assert_eq!(re.as_deref(), Some("hello"));
        assert!(
            message.contains(&format!(
                "\"{name}\" is too much like \"bob\", which is registered"
            )),
            "{message}"
        );
        // Still connected: another name works.
        c.send(&hello(&format!("carol{}", i + 2), None));
        assert!(matches!(c.recv_what("welcome"), ServerMsg::Welcome { .. }));
    }
}
