//! A panic in any thread of a running client takes the process down with a
//! message and a non-zero status, instead of leaving a client that looks
//! alive but hears nothing.
//!
//! The test runs its own binary again as a child, in which
//! `chat::client::run` is logged in to a hostile server (in the same
//! process) while a thread of that process panics and keeps the connection
//! open, and stdin stays open: without the hook `run` would go on forever.

mod common;

use common::hostile::HostileServer;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CHAT_TEST_PANIC_CHILD";

/// Runs only as the child of the test below (it returns at once otherwise).
#[test]
fn child_process_of_the_panic_test() {
    let Some(dl) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let hostile = HostileServer::start();
    let addr = hostile.addr();
    std::thread::Builder::new()
        .name("hostile".into())
        .spawn(move || {
            let (peer, _) = hostile.accept_login();
            // Keep the connection open: the client must not learn of the
            // panic from a closed socket.
            std::mem::forget(peer);
            panic!("deliberate panic for the test");
        })
        .unwrap();
    let mut opts = chat::client::Options::new("bob");
    opts.host = addr.ip().to_string();
    opts.port = addr.port();
    opts.reconnect = false;
    opts.download_dir = dl.into();
    let r = chat::client::run(opts);
    eprintln!("run returned {r:?}");
    std::process::exit(3);
}

#[test]
fn a_panicking_thread_ends_the_client_with_a_message() {
    let dl = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_of_the_panic_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dl.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdin stays open (a script still running); stderr is read to its end.
    let _stdin = child.stdin.take();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the client kept running after a thread panicked:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(chat::client::PANIC_EXIT), "{err}");
    assert!(err.contains("deliberate panic for the test"), "{err}");
    assert!(
        err.contains("error: chat-client stopped: internal error in its hostile thread"),
        "{err}"
    );
}
