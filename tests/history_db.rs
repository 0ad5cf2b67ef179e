//! The history database against the real server: an old `history.log` is
//! imported once (damaged lines skipped and counted, the old file kept
//! renamed), a database the server cannot open stops start-up with a
//! sentence saying what to do, a damaged page is reported to whoever
//! reads it while the server goes on, and `--check-db` runs SQLite's
//! integrity check.

mod common;

use chat::core::history::{Record, StoredMsg};
use chat::protocol::{ClientMsg, Replay, ServerMsg};
use chat::store::legacy;
use common::{Client, Server};
use std::process::Command;

fn history(c: &mut Client, room: &str) -> Vec<String> {
    c.send(&ClientMsg::History {
        room: Some(room.into()),
        peer: None,
        before: None,
        limit: 100,
    });
    let mut out = Vec::new();
    loop {
        match c.recv_what("history") {
            ServerMsg::Message {
                text,
                replay: Some(Replay::History),
                ..
            } => out.push(text),
            ServerMsg::HistoryEnd { .. } => return out,
            _ => {}
        }
    }
}

fn msg(id: u64, text: &str) -> Record {
    Record::Msg(std::sync::Arc::new(StoredMsg {
        id,
        ts: 1_700_000_000_000 + id,
        from: "alice".into(),
        room: Some("general".into()),
        to: None,
        text: text.into(),
        cid: Some(format!("c{id}")),
        recipients: 1,
    }))
}

#[test]
fn an_old_history_log_is_imported_once_and_kept_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    for (id, t) in [(1, "first"), (2, "second")] {
        log.extend(legacy::encode(&msg(id, t)));
    }
    // A flipped bit in the middle: that line is skipped, not the rest.
    let mut bad = legacy::encode(&msg(3, "flipped"));
    bad[20] ^= 0x01;
    log.extend(bad);
    for (id, t) in [(4, "fourth"), (5, "fifth")] {
        log.extend(legacy::encode(&msg(id, t)));
    }
    std::fs::write(dir.path().join("history.log"), &log).unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let mut bob = Client::login(server.addr(), "bob");
    assert_eq!(
        history(&mut bob, "general"),
        ["first", "second", "fourth", "fifth"]
    );
    let text = server.log();
    assert!(
        text.contains("imported the old history log")
            && text.contains("4 message(s)")
            && text.contains("1 damaged line(s) skipped"),
        "{text}"
    );
    assert!(!dir.path().join("history.log").exists());
    assert_eq!(
        std::fs::read(dir.path().join("history.log.imported")).unwrap(),
        log,
        "the old log is kept as it was"
    );
    // Ids go on after the imported ones; a restart imports nothing again.
    drop(bob);
    let mut alice = Client::login(server.addr(), "alice");
    let (id, _) = alice.say("general", "after the import");
    assert_eq!(id, 6);
    server.restart();
    let mut carol = Client::login(server.addr(), "carol");
    assert_eq!(history(&mut carol, "general").len(), 5);
    assert_eq!(
        server.log().matches("imported the old history log").count(),
        1
    );
}

#[test]
fn a_database_that_cannot_be_opened_stops_start_up_saying_what_to_do() {
    let mut server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.say("general", "hello");
    server.terminate();
    // Gone, and its last connection closed: no WAL is left to hide the damage below.
    assert!(server
        .wait_exit(std::time::Duration::from_secs(20))
        .success());
    let dir = server.data_dir().to_path_buf();
    let db = dir.join("history.db");
    let check = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .arg("--check-db")
            .arg("--data-dir")
            .arg(dir)
            .output()
            .unwrap()
    };
    let out = check(&dir);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("history.db: ok") && said.contains("search.db: ok"),
        "{out:?}"
    );
    // Garbage over the header: not a database any more.
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..100].fill(0x5a);
    std::fs::write(&db, &bytes).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--port", "0", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = common::wait_child(&mut child, std::time::Duration::from_secs(20)) else {
        let _ = child.kill();
        panic!("chat-server started on a damaged database");
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("cannot open the history database") && err.contains("--check-db"),
        "{err}"
    );
    let out = check(&dir);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("restore it from a backup"),
        "{out:?}"
    );
}

#[test]
fn a_damaged_page_is_reported_to_whoever_reads_it_and_the_rest_is_served() {
    let mut server = Server::start(&["--msg-rate", "0"]);
    let mut alice = Client::login(server.addr(), "alice");
    alice.join("big");
    alice.join("small");
    let pad = "p".repeat(300);
    for i in 0..600 {
        alice.say("big", &format!("old-{i:04} {pad}"));
    }
    alice.say("small", "still readable");
    drop(alice);
    server.terminate();
    assert!(server
        .wait_exit(std::time::Duration::from_secs(20))
        .success());
    // Garbage over the page that holds message "old-0300".
    let db = server.data_dir().join("history.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"old-0300")
        .expect("the message is in the file");
    let page = at / 4096 * 4096;
    assert!(page > 0, "not the header page");
    for (i, b) in bytes[page..page + 4096].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    server.restart();
    // The server is up; a reader of the damaged range is told so...
    let mut bob = Client::login(server.addr(), "bob");
    bob.join("big");
    bob.join("small");
    bob.send(&ClientMsg::History {
        room: Some("big".into()),
        peer: None,
        before: Some(320),
        limit: 50,
    });
    let got =
        bob.recv_until(|m| matches!(m, ServerMsg::Error { .. } | ServerMsg::HistoryEnd { .. }));
    assert!(
        matches!(&got, ServerMsg::Error { message, .. } if message.contains("could not be read")),
        "{got:?}"
    );
    // ...and everything else is served: other rooms, new messages.
    // (the answer still ends with its `history_end`)
    bob.recv_until(|m| matches!(m, ServerMsg::HistoryEnd { .. }));
    // A write into the damaged database, and the server goes on serving.
    bob.send(&ClientMsg::RoomMsg {
        room: "small".into(),
        text: "after the damage".into(),
        cid: Some("d1".into()),
    });
    // (Whether the table still takes rows depends on where the damage
    // fell: either the message is acknowledged and readable, or refused
    // with store_failed; never a false ack, never a hang.)
    let mut carol = Client::login(server.addr(), "carol");
    carol.join("small");
    match bob.recv_until(|m| matches!(m, ServerMsg::Ack { .. } | ServerMsg::Error { .. })) {
        ServerMsg::Ack { cid, .. } => {
            assert_eq!(cid.as_deref(), Some("d1"));
            assert!(history(&mut carol, "small").contains(&"after the damage".to_string()));
        }
        ServerMsg::Error { code, cid, .. } => {
            assert_eq!(code, chat::protocol::ErrorCode::StoreFailed);
            assert_eq!(cid.as_deref(), Some("d1"));
        }
        _ => unreachable!(),
    }
    carol.ping(1);
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--check-db")
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        server.log().contains("database disk image is malformed")
            || server.log().contains("cannot read"),
        "{}",
        server.log()
    );
}

/// Texts of the hits of a search for `words`.
fn search(c: &mut Client, words: &str) -> Vec<String> {
    c.send(&ClientMsg::Search {
        text: words.into(),
        room: None,
        peer: None,
        before: None,
        limit: None,
    });
    match c.recv_what("search_results") {
        ServerMsg::SearchResults { results, .. } => results.into_iter().map(|h| h.text).collect(),
        other => panic!("expected search_results, got {other:?}"),
    }
}

/// The nice value of the server's thread named `name`, once it is `want`
/// (the thread sets its own as it starts), or what it was at the deadline.
fn thread_nice(pid: u32, name: &str, want: i64) -> Option<i64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut seen = None;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if comm.trim_end() == name {
                let stat = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
                // Fields after the command's closing parenthesis; nice is field 19.
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                seen = rest.split_whitespace().nth(16).and_then(|n| n.parse().ok());
            }
        }
        if seen == Some(want) || std::time::Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_search_index_runs_below_the_loop_and_is_rebuilt_when_its_file_is_gone() {
    let mut server = Server::start(&[]);
    assert_eq!(thread_nice(server.pid(), "search-index", 10), Some(10));
    assert_eq!(
        thread_nice(server.pid(), "chat-server", 0),
        Some(0),
        "the loop keeps its priority"
    );
    let mut alice = Client::login(server.addr(), "alice");
    alice.say("general", "deploy on friday");
    assert_eq!(search(&mut alice, "deploy"), ["deploy on friday"]);
    drop(alice);
    server.kill();
    for f in ["search.db", "search.db-wal", "search.db-shm"] {
        let _ = std::fs::remove_file(server.data_dir().join(f));
    }
    server.restart();
    let mut alice = Client::login(server.addr(), "alice");
    assert_eq!(
        search(&mut alice, "friday"),
        ["deploy on friday"],
        "indexed again from the history"
    );
    assert!(server.data_dir().join("search.db").exists());
}
