//! A full disk, end to end, against the real server binary: a history write or fsync that fails
//! is never acknowledged.
//!
//! The server's `--data-dir` is a small tmpfs (4 MiB) this test mounts (it needs root; without
//! it, or if the mount fails, the test says why and returns, except on CI, `CI=true`, where that
//! is an error). With the server running, a filler file takes every free byte of the tmpfs
//! (written until `ENOSPC`). Then alice sends numbered room messages, each with a `cid`, and
//! each gets either an `ack` or an `error{code:"store_failed", re:"room_msg", cid}`, until six
//! have failed (a short one may still fit in what is left of the log's last page, and be
//! acknowledged: that is fine), then private messages until one gets `store_failed` with
//! `re:"private_msg"`. Alice and Bob log in with passwords (registering their names while the
//! disk has room: the accounts file is tiny), so their private conversation is theirs to read
//! back after the restart. Bob, a member of the room and the private messages' addressee, must get
//! exactly the acknowledged ones and none of the failed ones. Then the filler is deleted: everything sent afterwards is acknowledged
//! again (the server retries with later batches; a failed message re-sent with its `cid` is
//! stored, not taken for a duplicate). Finally the server is killed and restarted on the same
//! directory, and `history` shows every acknowledged message (same id, same text) and none of
//! the failed ones. Throughout, the server process stays up and carol, a bystander in another
//! room, gets her pings answered.
//!
//! Synchronisation is by events only: acks, errors and `pong` round trips (a barrier: the server
//! answers one connection in order), each wait with a deadline. The children (server) are killed
//! on drop, and the tmpfs is unmounted by a drop guard, on panic too.

mod common;

use chat::protocol::{ClientMsg, ErrorCode, Replay, Secret, ServerMsg, PROTOCOL_VERSION};
use common::{Client, Server};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of the tmpfs the data directory lives on.
const TMPFS_SIZE: &str = "4m";
/// Most numbered messages are this long (characters, the most a message may have, minus its
/// number): a record larger than a 4 KiB page, which cannot fit in what is left of the log's
/// last page. Every fourth one is short and may still fit there.
const LONG: usize = 3990;
const SHORT: usize = 40;
/// Room messages that must be refused on the full disk before the test goes on.
const MIN_FAILED: usize = 6;
/// Give up (and fail) after this many room messages on the full disk.
const MAX_WHILE_FULL: usize = 100;

// ---------------------------------------------------------------------------------------------
// The tmpfs
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted on a fresh temporary directory; unmounted (then the directory removed) on
/// drop. Declare it before the [`Server`] using it, so the server is killed first.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mount, or say why not.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .map_err(|e| format!("cannot tell who runs the test (/proc/self: {e})"))?;
        if uid != 0 {
            return Err(format!(
                "mounting a tmpfs needs root (this runs as uid {uid})"
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("chat-disk-full")
            .tempdir()
            .map_err(|e| format!("cannot create a mount point: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs -o size={size} tmpfs {} failed ({}): {}",
                dir.path().display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success())
        };
        // Lazy as a last resort: the directory must not stay mounted whatever happened.
        if !umount(&[]) && !umount(&["-l"]) {
            eprintln!(
                "could not unmount the tmpfs at {}",
                self.dir.path().display()
            );
        }
    }
}

/// Mount the tmpfs, or return `None` after saying why (an error on CI, where it must run).
fn tmpfs_or_skip() -> Option<Tmpfs> {
    match Tmpfs::mount(TMPFS_SIZE) {
        Ok(t) => Some(t),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            assert!(
                !ci,
                "CI=true: the disk-full test must run, but the tmpfs could not be mounted: {why}"
            );
            eprintln!("skipping the disk-full test: {why}");
            None
        }
    }
}

/// Write `path` until the filesystem has no byte left (`ENOSPC`); returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = File::create(path).expect("create the filler");
    let block = vec![0x5au8; 64 * 1024];
    let mut total = 0u64;
    // Large writes first, then smaller ones for what is left of the last page.
    for size in [block.len(), 4096, 512, 1] {
        loop {
            match f.write(&block[..size]) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if is_enospc(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    match f.sync_all() {
        Ok(()) => {}
        Err(e) if is_enospc(&e) => {}
        Err(e) => panic!("syncing {}: {e}", path.display()),
    }
    total
}

fn is_enospc(e: &io::Error) -> bool {
    e.raw_os_error() == Some(28)
}

/// The filesystem is full: a byte written to a new file does not fit.
fn assert_full(dir: &Path) {
    let probe = dir.join("probe");
    let r = File::create(&probe).and_then(|mut f| {
        f.write_all(b"x")?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    match r {
        Err(e) if is_enospc(&e) => {}
        other => panic!("the tmpfs should be full, but writing one byte gave {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol helpers
// ---------------------------------------------------------------------------------------------

/// What the server answered a message with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `ack` with this id.
    Acked(u64),
    /// `error{code:"store_failed"}`.
    Failed,
}

fn text_of(n: usize) -> String {
    let pad = if n % 4 == 3 { SHORT } else { LONG };
    format!("m{n:04} {}", "x".repeat(pad))
}

fn dm_text(n: usize) -> String {
    format!("d{n:04} {}", "y".repeat(LONG))
}

fn cid_of(n: usize) -> String {
    format!("c{n}")
}

fn room_msg(n: usize) -> ClientMsg {
    ClientMsg::RoomMsg {
        room: "general".into(),
        text: text_of(n),
        cid: Some(cid_of(n)),
    }
}

/// Read alice's answer to the message with `cid` (other frames skipped): an `ack` for it, or a
/// `store_failed` error for it whose `re` is `re`. Anything else fails the test.
fn outcome(c: &mut Client, cid: &str, re: &str) -> Outcome {
    let m = c.recv_until_what(&format!("ack or error for {cid}"), |m| {
        matches!(m, ServerMsg::Ack { .. } | ServerMsg::Error { .. })
    });
    match m {
        ServerMsg::Ack {
            cid: Some(c), id, ..
        } if c == cid => Outcome::Acked(id),
        ServerMsg::Error {
            code: ErrorCode::StoreFailed,
            cid: Some(c),
            re: Some(r),
            ..
        } if c == cid && r == re => Outcome::Failed,
        other => panic!("expected an ack or store_failed (re {re}) for {cid}, got {other:?}"),
    }
}

/// Live room messages in `frames`, as `(id, text)`.
fn live_room_msgs(frames: &[ServerMsg]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message {
                id,
                text,
                room: Some(_),
                replay: None,
                ..
            } => Some((*id, text.clone())),
            _ => None,
        })
        .collect()
}

/// Live private messages in `frames`, as `(id, text)`.
fn live_dms(frames: &[ServerMsg]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message {
                id,
                text,
                to: Some(_),
                replay: None,
                ..
            } => Some((*id, text.clone())),
            _ => None,
        })
        .collect()
}

/// Passwords of the registered users (only a registered name's private messages are read back
/// after a restart, which ends every session).
const ALICE_PASSWORD: &str = "alice's password";
const BOB_PASSWORD: &str = "bob's password";

/// Log in as `name` with `password` (registering the name on first use; every later login
/// must give the same one): a `hello` with the password, then the welcome and `#general`.
fn login_registered(addr: std::net::SocketAddr, name: &str, password: &str) -> Client {
    let mut c = Client::connect(addr);
    c.name = name.into();
    c.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: Some(Secret::from(password)),
    });
    match c.recv_what("welcome") {
        ServerMsg::Welcome { name: n, .. } => assert_eq!(n, name, "welcome names someone else"),
        other => panic!("[{name}] login with a password: expected welcome, got {other:?}"),
    }
    match c.recv_what("joined after welcome") {
        ServerMsg::Joined { room, .. } => assert_eq!(room, "general", "joined another room"),
        other => panic!("[{name}] login: expected joined, got {other:?}"),
    }
    c
}

/// `history` of a room or of the conversation with a peer, every page; `(id, text)` oldest
/// first.
fn history(c: &mut Client, room: Option<&str>, peer: Option<&str>) -> Vec<(u64, String)> {
    let mut all: Vec<(u64, String)> = Vec::new();
    let mut before = None;
    loop {
        c.send(&ClientMsg::History {
            room: room.map(Into::into),
            peer: peer.map(Into::into),
            before,
            limit: 500,
        });
        let mut page = Vec::new();
        let more = loop {
            match c.recv_what("history") {
                ServerMsg::Message {
                    id,
                    text,
                    replay: Some(Replay::History),
                    ..
                } => page.push((id, text)),
                ServerMsg::HistoryEnd { more, .. } => break more,
                ServerMsg::Error { .. } => panic!("history of {room:?}/{peer:?} refused"),
                _ => {}
            }
        };
        before = page.first().map(|(id, _)| *id);
        page.append(&mut all);
        all = page;
        if !more || before.is_none() {
            return all;
        }
    }
}

/// The bystander's ping is answered, and the server process is still running.
fn still_serving(server: &mut Server, carol: &mut Client, when: &str) {
    assert!(server.is_running(), "the server process exited {when}");
    let before = carol.sync();
    assert!(
        live_room_msgs(&before).is_empty() && live_dms(&before).is_empty(),
        "carol, in another room, got messages {when}: {before:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn a_full_disk_refuses_messages_without_acking_them_and_the_server_recovers() {
    let Some(tmpfs) = tmpfs_or_skip() else {
        return;
    };
    let data: PathBuf = tmpfs.path().to_path_buf();
    let filler = data.join("filler");
    // Declared after the tmpfs: dropped (killed) before it is unmounted.
    let mut server = Server::start_in(&data, &["--msg-rate", "0"]);
    let addr = server.addr();

    // Registered now, while the disk has room.
    let mut alice = login_registered(addr, "alice", ALICE_PASSWORD);
    let mut bob = login_registered(addr, "bob", BOB_PASSWORD);
    let mut carol = Client::login_to(addr, "carol", "lobby");
    alice.expect_notice(chat::protocol::NoticeKind::Join, "bob", Some("general"));

    // Every message ever acknowledged, by cid: (id, text).
    let mut acked: BTreeMap<String, (u64, String)> = BTreeMap::new();
    // cids that got store_failed (and were not re-sent successfully).
    let mut failed: Vec<usize> = Vec::new();
    let mut n = 0usize;

    // 1. Room on the disk: messages are stored.
    for _ in 0..3 {
        alice.send(&room_msg(n));
        match outcome(&mut alice, &cid_of(n), "room_msg") {
            Outcome::Acked(id) => {
                acked.insert(cid_of(n), (id, text_of(n)));
            }
            Outcome::Failed => panic!("message {n} refused while the disk had room"),
        }
        n += 1;
    }
    let got = live_room_msgs(&bob.sync());
    assert_eq!(
        got.len(),
        3,
        "bob gets the messages stored before the disk fills"
    );
    still_serving(&mut server, &mut carol, "before the disk filled");

    // 2. Fill the disk (nothing is being written now: every message so far is acknowledged).
    let filled = fill(&filler);
    assert_full(&data);
    eprintln!("filler: {filled} bytes; the tmpfs is full");

    // 3. Numbered room messages, one, two or three per write (so some batches hold several),
    //    until at least MIN_FAILED were refused; then long private messages until one is.
    let mut while_full: Vec<(usize, Outcome)> = Vec::new();
    let mut round = 0usize;
    while failed.len() < MIN_FAILED || round < 4 {
        assert!(
            while_full.len() < MAX_WHILE_FULL,
            "{MAX_WHILE_FULL} messages sent on a full disk and only {} refused: {while_full:?}",
            failed.len()
        );
        let k = 1 + round % 3;
        round += 1;
        let first = n;
        alice.send_batch(&(first..first + k).map(room_msg).collect::<Vec<_>>());
        for m in first..first + k {
            let o = outcome(&mut alice, &cid_of(m), "room_msg");
            match o {
                Outcome::Acked(id) => {
                    acked.insert(cid_of(m), (id, text_of(m)));
                }
                Outcome::Failed => failed.push(m),
            }
            while_full.push((m, o));
        }
        n += k;
        still_serving(&mut server, &mut carol, "while the disk was full");
    }
    // A private message on the full disk fails the same way (re: private_msg).
    let mut dms_acked: Vec<(u64, String)> = Vec::new();
    let mut dms_failed: Vec<String> = Vec::new();
    for d in 0.. {
        assert!(
            d < 10,
            "10 private messages of a page each acknowledged on a full disk"
        );
        let cid = format!("dm{d}");
        alice.send(&ClientMsg::PrivateMsg {
            to: "bob".into(),
            text: dm_text(d),
            cid: Some(cid.clone()),
        });
        match outcome(&mut alice, &cid, "private_msg") {
            Outcome::Acked(id) => dms_acked.push((id, dm_text(d))),
            Outcome::Failed => {
                dms_failed.push(dm_text(d));
                break;
            }
        }
    }
    let summary: Vec<String> = while_full
        .iter()
        .map(|(m, o)| match o {
            Outcome::Acked(id) => format!("{m}:ack#{id}"),
            Outcome::Failed => format!("{m}:failed"),
        })
        .collect();
    eprintln!(
        "on the full disk: {} room messages acknowledged, {} refused [{}]; private: {} \
         acknowledged, {} refused",
        while_full.len() - failed.len(),
        failed.len(),
        summary.join(" "),
        dms_acked.len(),
        dms_failed.len()
    );
    assert!(!failed.is_empty(), "no message failed on a full disk");

    // Every batch has settled (alice has every answer), so every copy bob will ever get is
    // queued for him before the pong of a ping he sends now.
    let bob_frames = bob.sync();
    let got = live_room_msgs(&bob_frames);
    let want: Vec<(u64, String)> = while_full
        .iter()
        .filter_map(|(m, o)| match o {
            Outcome::Acked(id) => Some((*id, text_of(*m))),
            Outcome::Failed => None,
        })
        .collect();
    for (id, text) in &got {
        assert!(
            !failed.iter().any(|m| text_of(*m) == *text),
            "bob got {} (id {id}), a message the server refused with store_failed",
            &text[..5]
        );
    }
    assert_eq!(
        ids(&got),
        ids(&want),
        "bob gets exactly the acknowledged messages, in order"
    );
    assert_eq!(got, want, "with their texts");
    assert_eq!(
        live_dms(&bob_frames),
        dms_acked,
        "bob gets exactly the acknowledged private messages"
    );

    // 4. Room again: everything is acknowledged, the refused messages re-sent with their cid
    //    too (stored now, not taken for duplicates).
    std::fs::remove_file(&filler).expect("delete the filler");
    let mut after: Vec<usize> = (n..n + 5).collect();
    let resent: Vec<usize> = failed.iter().copied().take(3).collect();
    after.extend(&resent);
    alice.send_batch(&after[..2].iter().map(|&m| room_msg(m)).collect::<Vec<_>>());
    for &m in &after[2..] {
        alice.send(&room_msg(m));
    }
    for &m in &after {
        match alice.recv_until_what(&format!("ack for {}", cid_of(m)), |f| {
            matches!(f, ServerMsg::Ack { .. } | ServerMsg::Error { .. })
        }) {
            ServerMsg::Ack {
                cid: Some(c),
                id,
                duplicate,
                ..
            } if c == cid_of(m) => {
                assert!(
                    !duplicate,
                    "{c} was refused before, yet its resend is taken for a duplicate"
                );
                acked.insert(c, (id, text_of(m)));
            }
            other => panic!(
                "after the disk had room again, expected an ack for {}, got {other:?}",
                cid_of(m)
            ),
        }
    }
    failed.retain(|m| !resent.contains(m));
    alice.send(&ClientMsg::PrivateMsg {
        to: "bob".into(),
        text: "dm with room".into(),
        cid: Some("dm-room".into()),
    });
    match outcome(&mut alice, "dm-room", "private_msg") {
        Outcome::Acked(id) => dms_acked.push((id, "dm with room".to_string())),
        Outcome::Failed => panic!("a private message refused after the disk had room again"),
    }
    let bob_frames = bob.sync();
    let got: Vec<String> = live_room_msgs(&bob_frames)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let want: Vec<String> = after.iter().map(|&m| text_of(m)).collect();
    assert_eq!(
        got, want,
        "bob gets every message stored after the disk had room"
    );
    assert_eq!(
        live_dms(&bob_frames),
        dms_acked[dms_acked.len() - 1..],
        "bob gets the private message stored after the disk had room"
    );
    still_serving(&mut server, &mut carol, "after the disk had room again");

    // 5. Restart on the same directory: the log holds exactly what was acknowledged.
    drop((alice, bob, carol));
    server.restart();
    let mut alice = login_registered(addr, "alice", ALICE_PASSWORD);
    let got = history(&mut alice, Some("general"), None);
    let mut want: Vec<(u64, String)> = acked.values().cloned().collect();
    want.sort();
    let refused: Vec<String> = failed.iter().map(|&m| text_of(m)).collect();
    for (id, text) in &got {
        assert!(
            !refused.contains(text),
            "after the restart the history holds {} (id {id}), which was refused",
            &text[..5]
        );
    }
    assert_eq!(
        ids(&got),
        ids(&want),
        "after the restart the history holds exactly the acknowledged messages"
    );
    assert_eq!(got, want, "with the texts that were acknowledged");
    let got_dms = history(&mut alice, None, Some("bob"));
    for (id, text) in &got_dms {
        assert!(
            !dms_failed.contains(text),
            "after the restart the history holds {} (id {id}), which was refused",
            &text[..5]
        );
    }
    assert_eq!(
        got_dms, dms_acked,
        "the private conversation holds exactly the acknowledged messages"
    );
    eprintln!(
        "after the restart: {} room and {} private messages in the history, {} refused ones \
         absent",
        got.len(),
        got_dms.len(),
        refused.len() + dms_failed.len()
    );
    still_serving_after_restart(&mut server, &mut alice);
}

fn ids(v: &[(u64, String)]) -> Vec<u64> {
    v.iter().map(|(id, _)| *id).collect()
}

fn still_serving_after_restart(server: &mut Server, c: &mut Client) {
    assert!(server.is_running(), "the restarted server exited");
    c.sync();
}
