//! File transfers through real `chat-client` processes: every command and
//! state from both sides, resume after killing a client, checksum mismatch,
//! no overwriting, and scripts that end only once their transfers have.

mod common;
mod transfer_common;

use common::{chat_login, ChatClient, Server, LINE_TIMEOUT};
use std::path::{Path, PathBuf};
use std::time::Duration;
use transfer_common::{data, sha};

const SLOW: Duration = Duration::from_secs(60);

fn file(dir: &Path, name: &str, n: usize, seed: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data(n, seed)).unwrap();
    p
}

fn same(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(x.len(), y.len(), "{} vs {}", a.display(), b.display());
    assert!(x == y, "{} differs from {}", a.display(), b.display());
}

struct Two {
    server: Server,
    dir: tempfile::TempDir,
    alice: ChatClient,
    bob: ChatClient,
}

fn two(server_args: &[&str], bob_args: &[&str]) -> Two {
    let server = Server::start(server_args);
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("bob-dl");
    let alice = chat_login(server.addr(), "alice", &[]);
    let mut args = vec!["--download-dir", dl.to_str().unwrap()];
    args.extend_from_slice(bob_args);
    let bob = chat_login(server.addr(), "bob", &args);
    Two {
        server,
        dir,
        alice,
        bob,
    }
}

impl Two {
    fn dl(&self, name: &str) -> PathBuf {
        self.dir.path().join("bob-dl").join(name)
    }
}

#[test]
fn send_accept_complete_with_chat_and_no_overwrite() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "notes.txt", 300_000, 1);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.alice
        .wait("transfer 1: notes.txt to bob: pending (293.0 KiB), waiting for bob to accept");
    t.bob
        .wait("transfer 1: alice offers notes.txt (293.0 KiB); /accept 1 or /reject 1");
    t.bob.send_line("/accept 1");
    t.bob.wait("transfer 1: notes.txt from alice: in progress");
    t.alice.send_line("hello while it moves");
    t.bob.wait("<alice> hello while it moves");
    let line = t.bob.wait("transfer 1: notes.txt from alice: completed");
    assert!(line.contains("SHA-256 verified"), "{line}");
    t.alice
        .wait("transfer 1: notes.txt to bob: completed (293.0 KiB)");
    same(&src, &t.dl("notes.txt"));
    assert!(!t.dl("notes.txt.part").exists());
    // The same name again lands beside it, never over it.
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 2: alice offers notes.txt");
    t.bob.send_line("/accept 2");
    let line = t.bob.wait("transfer 2: notes.txt from alice: completed");
    assert!(line.contains("notes-1.txt"), "{line}");
    same(&src, &t.dl("notes-1.txt"));
    // /transfers lists both, from both sides.
    t.bob.send_line("/transfers");
    t.bob.wait("receive  alice");
    t.alice.send_line("/transfers");
    let row = t.alice.wait("send  bob");
    assert!(row.contains("completed") && row.contains("100%"), "{row}");
}

#[test]
fn reject_and_errors() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "a.bin", 1000, 2);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers a.bin");
    t.bob.send_line("/reject 1");
    t.alice.wait("transfer 1: a.bin to bob: rejected by bob");
    t.bob.wait("transfer 1: a.bin from alice: rejected by bob");
    t.bob.send_line("/accept 1");
    t.bob
        .wait("error: transfer 1 is rejected; nothing to accept");
    t.alice.send_line(&format!("/send zed {}", src.display()));
    t.alice.wait("error: no user \"zed\" is online");
    t.alice.send_line("/send bob /no/such/file");
    t.alice.wait("error: cannot read /no/such/file");
    t.alice.send_line("/pause 9");
    t.alice.wait("error: no transfer 9; /transfers lists them");
    t.alice.send_line("/send bob");
    t.alice.wait("usage: /send NAME PATH");
}

#[test]
fn pause_resume_cancel_from_each_side() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "big.bin", 24 << 20, 3);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers big.bin");
    // The pause follows the accept at once: at most one window moves first.
    t.bob.send_lines(&["/accept 1", "/pause 1"]);
    t.alice.wait("transfer 1: big.bin to bob: paused by bob");
    t.bob.wait("transfer 1: big.bin from alice: paused by bob");
    t.alice.send_line("/resume 1");
    t.bob.wait("transfer 1: big.bin from alice: in progress");
    t.alice.send_line("/pause 1");
    t.bob
        .wait("transfer 1: big.bin from alice: paused by alice");
    t.bob.send_line("/resume 1");
    t.alice.wait("transfer 1: big.bin to bob: in progress");
    t.alice.send_line("/cancel 1");
    t.bob
        .wait("transfer 1: big.bin from alice: cancelled by alice");
    t.alice
        .wait("transfer 1: big.bin to bob: cancelled by alice");
    assert!(
        !t.dl("big.bin.part").exists(),
        "a cancelled part file is removed"
    );
    assert!(!t.dl("big.bin").exists());
    // The receiver cancels too.
    let small = file(t.dir.path(), "small.bin", 10_000, 4);
    t.alice.send_line(&format!("/send bob {}", small.display()));
    t.bob.wait("transfer 2: alice offers small.bin");
    t.bob.send_line("/cancel 2");
    t.alice
        .wait("transfer 2: small.bin to bob: cancelled by bob");
}

#[test]
fn checksum_mismatch_fails_and_leaves_nothing() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "x.bin", 100_000, 5);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers x.bin");
    // The file changes (same size) after it was hashed and offered.
    std::fs::write(&src, data(100_000, 6)).unwrap();
    t.bob.send_line("/accept 1");
    let line = t
        .bob
        .wait("transfer 1: x.bin from alice: failed: checksum mismatch");
    assert!(line.contains(&sha(&data(100_000, 6))), "{line}");
    t.alice
        .wait("transfer 1: x.bin to bob: failed: checksum mismatch");
    assert!(!t.dl("x.bin").exists() && !t.dl("x.bin.part").exists());
}

#[test]
fn resume_after_killing_the_receiver() {
    let mut t = two(&["--grace", "0"], &[]);
    let src = file(t.dir.path(), "movie.bin", 40 << 20, 7);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers movie.bin");
    t.bob.send_line("/accept 1");
    // The second progress line comes a second after the first: bytes have moved.
    t.bob.wait_line("~ transfer 1: movie.bin from alice", SLOW);
    t.bob.wait_line("~ transfer 1: movie.bin from alice", SLOW);
    let pid = t.bob.pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    t.alice
        .wait_line("transfer 1: movie.bin to bob: interrupted", SLOW);
    let part = t.dl("movie.bin.part");
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have < 40 << 20, "partial file of {have} bytes");
    let dl = t.dir.path().join("bob-dl");
    let mut bob = chat_login(
        t.server.addr(),
        "bob",
        &["--download-dir", dl.to_str().unwrap()],
    );
    // A new process is a new session of the open name "bob": alice is
    // asked before her file goes to it, and confirms with /resume.
    t.alice
        .wait("new session took the unregistered name; /resume 1");
    t.alice.send_line("/resume 1");
    t.alice.wait("confirmed: the new bob sees it now");
    bob.wait("transfer 1: movie.bin from alice: interrupted");
    bob.send_line("/resume 1");
    // Alice continues from what bob has, not from 0.
    let line = t
        .alice
        .wait("transfer 1: movie.bin to bob: in progress from");
    assert!(!line.contains("from 0 B"), "{line}");
    bob.wait_line("transfer 1: movie.bin from alice: completed", SLOW);
    same(&src, &t.dl("movie.bin"));
    assert!(!part.exists());
}

#[test]
fn resume_after_killing_the_sender() {
    let mut t = two(&["--grace", "0"], &[]);
    let src = file(t.dir.path(), "disk.img", 40 << 20, 8);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers disk.img");
    t.bob.send_line("/accept 1");
    t.alice.wait_line("~ transfer 1: disk.img to bob", SLOW);
    t.bob.wait_line("~ transfer 1: disk.img from alice", SLOW);
    t.bob.wait_line("~ transfer 1: disk.img from alice", SLOW);
    std::process::Command::new("kill")
        .args(["-KILL", &t.alice.pid().to_string()])
        .status()
        .unwrap();
    t.bob
        .wait_line("transfer 1: disk.img from alice: interrupted", SLOW);
    let mut alice = chat_login(t.server.addr(), "alice", &[]);
    // A new process is a new session of the open name "alice": bob is
    // asked before the transfer continues with it, and confirms.
    t.bob
        .wait("new session took the unregistered name; /resume 1");
    t.bob.send_line("/resume 1");
    t.bob.wait("confirmed: the new alice sees it now");
    alice.wait("transfer 1: disk.img to bob: interrupted");
    // A new process does not know the path until told.
    alice.send_line("/resume 1");
    alice.wait("error: this client does not know where disk.img is");
    alice.send_line(&format!("/resume 1 {}", src.display()));
    let line = alice.wait("transfer 1: disk.img to bob: in progress from");
    assert!(!line.contains("from 0 B"), "{line}");
    t.bob
        .wait_line("transfer 1: disk.img from alice: completed", SLOW);
    same(&src, &t.dl("disk.img"));
}

#[test]
fn upload_list_download_through_the_store() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "shared.pdf", 200_000, 9);
    t.alice.send_line(&format!("/upload {}", src.display()));
    t.alice
        .wait_line("transfer 1: shared.pdf to the store: completed", SLOW);
    t.alice.send_line(&format!("/upload {}", src.display()));
    t.alice
        .wait("error: the store already has a file named \"shared.pdf\"");
    t.bob.send_line("/files");
    let line = t.bob.wait("shared.pdf  195.3 KiB  uploaded by alice");
    assert!(line.contains(" on "), "{line}");
    t.bob.send_line("/download shared.pdf");
    t.bob.wait("transfer 2: shared.pdf from the store");
    t.bob
        .wait_line("transfer 2: shared.pdf from the store: completed", SLOW);
    same(&src, &t.dl("shared.pdf"));
    t.bob.send_line("/download nope.txt");
    t.bob.wait("error: no file named \"nope.txt\" in the store");
}

#[test]
fn auto_accept_and_scripts_wait_for_their_transfers() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl");
    let mut bob = chat_login(
        server.addr(),
        "bob",
        &["--auto-accept", "--download-dir", dl.to_str().unwrap()],
    );
    let src = file(dir.path(), "report.csv", 3 << 20, 10);
    let mut alice = chat_login(server.addr(), "alice", &[]);
    // The script ends right after the offer; the client stays until the transfer has ended.
    alice.send_line(&format!("/send bob {}", src.display()));
    let status = alice.finish();
    assert!(status.success(), "{status:?}");
    assert!(alice
        .lines()
        .iter()
        .any(|l| l.contains("transfer 1: report.csv to bob: completed")));
    bob.wait_line("transfer 1: report.csv from alice: completed", LINE_TIMEOUT);
    same(&src, &dl.join("report.csv"));
}

#[test]
fn a_server_restart_ends_open_transfers_on_both_sides_with_a_reason() {
    let mut t = two(&[], &[]);
    let src = file(t.dir.path(), "movie.bin", 40 << 20, 11);
    t.alice.send_line(&format!("/send bob {}", src.display()));
    t.bob.wait("transfer 1: alice offers movie.bin");
    t.bob.send_line("/accept 1");
    t.bob.wait_line("~ transfer 1: movie.bin from alice", SLOW);
    // The server is killed and started again: it has no transfer 1 any
    // more. Both clients reconnect, learn it is another run, and say so
    // instead of showing "in progress" forever.
    t.server.restart();
    for c in [&mut t.alice, &mut t.bob] {
        c.wait_line("failed: the server restarted and lost this transfer", SLOW);
    }
    // A new offer gets a new id, never 1 again.
    t.alice.send_line(&format!("/send bob {}", src.display()));
    let line = t.bob.wait("alice offers movie.bin");
    assert!(!line.contains("transfer 1:"), "{line}");
}
