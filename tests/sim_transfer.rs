//! File transfers in the in-memory simulation (`chat::sim::Sim`): the
//! transfer state machine (offer, accept, reject, credit, pause, resume,
//! cancel, resume after a drop) and the shared store as an end (upload,
//! download, resume with a prefix), with the store's work run as effects on
//! a real store in a temporary directory, held back where a test needs to
//! see what waits for it, or failing on demand. Accounts saves too.

use base64::Engine;
use chat::core::effect::Effect;
use chat::core::store_ops::StoreJob;
use chat::core::transfer::FileLimits;
use chat::core::{Config, ConnId};
use chat::protocol::files::{Role, TransferState as S};
use chat::protocol::{ClientMsg as C, ErrorCode, Secret, ServerMsg as M, PROTOCOL_VERSION};
use chat::sim::Sim;
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const CHUNK: usize = 64 * 1024;
/// The store's credit window in these tests: two chunks.
const WINDOW: u64 = 2 * CHUNK as u64;

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A sim whose store holds at most `quota` bytes; `alice` on 1, `bob` on 2.
fn sim_with(quota: u64) -> Sim {
    let cfg = Config {
        grace_ms: 0,
        ..Config::default()
    };
    let mut sim = Sim::new(cfg);
    let catalog = sim.runner.open_store(quota);
    let limits = FileLimits {
        max_file_size: 1 << 30,
        max_window: 4 * CHUNK as u64,
        store_window: WINDOW,
        relay_budget: 4 * CHUNK as u64,
        ..FileLimits::default()
    };
    sim.core.set_file_store(Some(catalog), limits);
    login(&mut sim, ConnId(1), "alice", None);
    login(&mut sim, ConnId(2), "bob", None);
    sim
}

fn sim() -> Sim {
    sim_with(10 << 20)
}

thread_local! {
    /// The session token each name's client got last: a client logging in
    /// again presents it, as `chat-client` does, and so is the same session.
    static TOKENS: std::cell::RefCell<std::collections::HashMap<String, String>> =
        Default::default();
}

fn login(sim: &mut Sim, conn: ConnId, name: &str, password: Option<&str>) -> Vec<M> {
    sim.connect(conn);
    let session = TOKENS.with(|t| t.borrow().get(name).cloned());
    sim.send(
        conn,
        C::Hello {
            version: PROTOCOL_VERSION,
            name: name.into(),
            room: None,
            status: None,
            resume: session.map(|s| chat::protocol::Resume {
                session: Some(s),
                rooms: vec![],
                since: None,
            }),
            password: password.map(Secret::from),
        },
    );
    let out = to(sim.turn(), conn);
    if let Some(M::Welcome { session, .. }) = out.first() {
        TOKENS.with(|t| t.borrow_mut().insert(name.to_string(), session.clone()));
    }
    if password.is_none() {
        assert!(matches!(out.first(), Some(M::Welcome { .. })), "{out:?}");
    }
    out
}

/// Frames to `conn` in a turn's output.
fn to(out: Vec<(ConnId, Result<M, String>)>, conn: ConnId) -> Vec<M> {
    out.into_iter()
        .filter(|(c, _)| *c == conn)
        .map(|(_, m)| m.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// One turn's frames, split for alice (1) and bob (2).
fn turn(sim: &mut Sim) -> (Vec<M>, Vec<M>) {
    let out = sim.turn();
    let a = out
        .iter()
        .filter(|(c, _)| *c == ConnId(1))
        .cloned()
        .collect();
    (to(a, ConnId(1)), to(out, ConnId(2)))
}

#[derive(Debug, Clone)]
struct State {
    id: u64,
    state: S,
    role: Role,
    offset: u64,
    prefix: Option<String>,
    by: Option<String>,
    reason: Option<String>,
}

fn states(msgs: &[M]) -> Vec<State> {
    msgs.iter()
        .filter_map(|m| match m {
            M::FileState {
                id,
                state,
                role,
                offset,
                prefix_sha256,
                by,
                reason,
                ..
            } => Some(State {
                id: *id,
                state: *state,
                role: *role,
                offset: *offset,
                prefix: prefix_sha256.clone(),
                by: by.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The one `file_state` in `msgs`, which must be `want`.
fn state(msgs: &[M], want: S) -> State {
    let s = states(msgs);
    assert_eq!(s.len(), 1, "one file_state expected: {msgs:?}");
    assert_eq!(s[0].state, want, "{msgs:?}");
    s[0].clone()
}

fn credits(msgs: &[M]) -> u64 {
    msgs.iter()
        .map(|m| match m {
            M::FileCredit { bytes, .. } => *bytes,
            _ => 0,
        })
        .sum()
}

fn chunks(msgs: &[M]) -> Vec<(u64, Vec<u8>)> {
    msgs.iter()
        .filter_map(|m| match m {
            M::FileChunk { offset, data, .. } => Some((*offset, B64.decode(data).unwrap())),
            _ => None,
        })
        .collect()
}

fn error(msgs: &[M]) -> Option<(ErrorCode, String)> {
    msgs.iter().find_map(|m| match m {
        M::Error { code, message, .. } => Some((*code, message.clone())),
        _ => None,
    })
}

fn chunk(id: u64, offset: u64, bytes: &[u8]) -> C {
    C::FileChunk {
        id,
        offset,
        data: B64.encode(bytes),
    }
}

fn accept(id: u64, offset: u64, prefix: Option<String>) -> C {
    C::FileAccept {
        id,
        offset,
        prefix_sha256: prefix,
    }
}

/// Alice offers `file` to bob; returns the transfer id.
fn offer(sim: &mut Sim, file: &[u8]) -> u64 {
    sim.send(
        ConnId(1),
        C::FileOffer {
            to: "bob".into(),
            name: "f.bin".into(),
            size: file.len() as u64,
            sha256: sha(file),
            cid: Some("o1".into()),
        },
    );
    let (a, b) = turn(sim);
    let sa = state(&a, S::Pending);
    let sb = state(&b, S::Pending);
    assert_eq!((sa.role, sb.role), (Role::Sender, Role::Receiver));
    assert_eq!(sa.id, sb.id);
    sa.id
}

/// Alice uploads `file` as `name`; returns the id and the first credit.
fn upload(sim: &mut Sim, name: &str, file: &[u8], sha256: String) -> (u64, u64) {
    sim.send(
        ConnId(1),
        C::Upload {
            name: name.into(),
            size: file.len() as u64,
            sha256,
            cid: Some("u1".into()),
        },
    );
    let (a, _) = turn(sim);
    let s = state(&a, S::InProgress);
    assert_eq!(s.role, Role::Sender);
    (s.id, credits(&a))
}

/// Send `file[from..]` as the credit allows; returns what alice saw last.
fn push_all(sim: &mut Sim, id: u64, file: &[u8], from: usize, mut credit: u64) -> Vec<M> {
    let mut next = from;
    let mut last = Vec::new();
    while next < file.len() {
        assert!(credit > 0, "stalled at {next} without credit: {last:?}");
        let n = (file.len() - next).min(CHUNK).min(credit as usize);
        sim.send(ConnId(1), chunk(id, next as u64, &file[next..next + n]));
        next += n;
        credit -= n as u64;
        let (a, _) = turn(sim);
        credit += credits(&a);
        last = a;
    }
    last
}

fn store_file(sim: &mut Sim, name: &str, file: &[u8]) {
    let (id, credit) = upload(sim, name, file, sha(file));
    let last = push_all(sim, id, file, 0, credit);
    state(&last, S::Completed);
}

/// Bob downloads `name`: returns the transfer id.
fn download(sim: &mut Sim, name: &str) -> u64 {
    sim.send(
        ConnId(2),
        C::Download {
            name: name.into(),
            cid: Some("d1".into()),
        },
    );
    let (_, b) = turn(sim);
    let s = state(&b, S::Pending);
    assert_eq!(s.role, Role::Receiver);
    s.id
}

/// Pull bob's download chunks as the shell would, until none move.
fn pull_all(sim: &mut Sim) -> Vec<(u64, Vec<u8>)> {
    let mut got = Vec::new();
    while sim.core.pull_chunk(ConnId(2)) {
        let (_, b) = turn(sim);
        got.extend(chunks(&b));
    }
    got
}

// ---- relayed transfers: the state machine ----

#[test]
fn offer_accept_credit_chunks_and_done() {
    let mut sim = sim();
    let file = data(1000, 1);
    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    let (a, b) = turn(&mut sim);
    assert_eq!(state(&a, S::InProgress).offset, 0);
    state(&b, S::InProgress);
    // Nothing may be sent before credit.
    sim.send(ConnId(1), chunk(id, 0, &file[..100]));
    let (a, b) = turn(&mut sim);
    assert_eq!(error(&a).map(|e| e.0), Some(ErrorCode::CreditExceeded));
    state(&b, S::Failed);

    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    turn(&mut sim);
    sim.send(ConnId(2), C::FileCredit { id, bytes: 600 });
    let (a, _) = turn(&mut sim);
    assert_eq!(credits(&a), 600);
    sim.send(ConnId(1), chunk(id, 0, &file[..600]));
    let (_, b) = turn(&mut sim);
    assert_eq!(chunks(&b), vec![(0, file[..600].to_vec())]);
    // Past the credit: the transfer fails, nothing is forwarded.
    sim.send(ConnId(1), chunk(id, 600, &file[600..700]));
    let (a, b) = turn(&mut sim);
    assert_eq!(error(&a).map(|e| e.0), Some(ErrorCode::CreditExceeded));
    assert!(chunks(&b).is_empty());
    assert!(state(&b, S::Failed).reason.unwrap().contains("more than"));

    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    sim.send(ConnId(2), C::FileCredit { id, bytes: 1000 });
    turn(&mut sim);
    sim.send(ConnId(1), chunk(id, 0, &file));
    sim.send(ConnId(2), C::FileDone { id });
    let (a, b) = turn(&mut sim);
    assert_eq!(chunks(&b), vec![(0, file.clone())]);
    state(&a, S::Completed);
    state(&b, S::Completed);
}

#[test]
fn reject_and_cancel_end_a_transfer_for_both() {
    let mut sim = sim();
    let file = data(10, 2);
    let id = offer(&mut sim, &file);
    sim.send(ConnId(1), accept(id, 0, None));
    let (a, _) = turn(&mut sim);
    assert_eq!(error(&a).map(|e| e.0), Some(ErrorCode::TransferState));
    sim.send(ConnId(2), C::FileReject { id });
    let (a, b) = turn(&mut sim);
    assert_eq!(state(&a, S::Rejected).by.as_deref(), Some("bob"));
    state(&b, S::Rejected);
    // Gone: anything more is about an unknown transfer.
    sim.send(ConnId(2), accept(id, 0, None));
    let (_, b) = turn(&mut sim);
    assert_eq!(error(&b).map(|e| e.0), Some(ErrorCode::UnknownTransfer));

    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    turn(&mut sim);
    sim.send(ConnId(1), C::FileCancel { id });
    let (a, b) = turn(&mut sim);
    state(&a, S::Cancelled);
    assert_eq!(state(&b, S::Cancelled).by.as_deref(), Some("alice"));
}

#[test]
fn pause_and_resume() {
    let mut sim = sim();
    let file = data(100, 3);
    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    turn(&mut sim);
    sim.send(ConnId(2), C::FilePause { id });
    let (a, b) = turn(&mut sim);
    assert_eq!(state(&a, S::Paused).by.as_deref(), Some("bob"));
    state(&b, S::Paused);
    sim.send(ConnId(2), C::FilePause { id });
    let (_, b) = turn(&mut sim);
    assert_eq!(error(&b).map(|e| e.0), Some(ErrorCode::TransferState));
    sim.send(ConnId(1), C::FileResume { id });
    let (a, b) = turn(&mut sim);
    state(&a, S::InProgress);
    assert_eq!(state(&b, S::InProgress).by.as_deref(), Some("alice"));
}

#[test]
fn resume_after_a_drop_continues_from_the_receivers_prefix() {
    let mut sim = sim();
    let file = data(3000, 4);
    let id = offer(&mut sim, &file);
    sim.send(ConnId(2), accept(id, 0, None));
    sim.send(ConnId(2), C::FileCredit { id, bytes: 1000 });
    turn(&mut sim);
    sim.send(ConnId(1), chunk(id, 0, &file[..1000]));
    turn(&mut sim);
    sim.disconnect(ConnId(2));
    let (a, _) = turn(&mut sim);
    let s = state(&a, S::Interrupted);
    assert_eq!((s.by.as_deref(), s.offset), (Some("bob"), 1000));
    // Nothing moves while bob is away.
    sim.send(ConnId(1), C::FileResume { id });
    let (a, _) = turn(&mut sim);
    assert!(error(&a).unwrap().1.contains("offline"));
    let back = login(&mut sim, ConnId(3), "bob", None);
    state(&back, S::Interrupted);
    sim.send(ConnId(1), C::FileResume { id });
    let out = sim.turn();
    state(&to(out.clone(), ConnId(1)), S::Resuming);
    state(&to(out, ConnId(3)), S::Resuming);
    sim.send(ConnId(3), accept(id, 1000, Some(sha(&file[..1000]))));
    sim.send(ConnId(3), C::FileCredit { id, bytes: 2000 });
    let out = sim.turn();
    let a = to(out.clone(), ConnId(1));
    let s = states(&a)[0].clone();
    assert_eq!((s.state, s.offset), (S::InProgress, 1000));
    assert_eq!(s.prefix, Some(sha(&file[..1000])), "alice checks it");
    assert_eq!(credits(&a), 2000, "credit starts afresh");
    state(&to(out, ConnId(3)), S::InProgress);
    // A stale chunk (from before the drop) is dropped; the next one goes
    // through.
    sim.send(ConnId(1), chunk(id, 500, &file[500..1000]));
    sim.send(ConnId(1), chunk(id, 1000, &file[1000..3000]));
    sim.send(ConnId(3), C::FileDone { id });
    let out = sim.turn();
    let got = chunks(&to(out.clone(), ConnId(3)));
    assert_eq!(got, vec![(1000, file[1000..].to_vec())]);
    state(&to(out, ConnId(1)), S::Completed);
}

// ---- the store: uploads ----

#[test]
fn an_upload_gets_credit_back_only_when_its_write_is_done() {
    let mut sim = sim();
    let file = data(300_000, 5);
    let (id, credit) = upload(&mut sim, "report.pdf", &file, sha(&file));
    assert_eq!(credit, WINDOW);
    sim.hold_effects = true;
    sim.send(ConnId(1), chunk(id, 0, &file[..CHUNK]));
    let (a, _) = turn(&mut sim);
    assert_eq!(credits(&a), 0, "the write is not done yet");
    assert!(
        matches!(
            sim.held_effects().iter().collect::<Vec<_>>()[..],
            [Effect::Store(StoreJob::Write { offset: 0, .. })]
        ),
        "the write waits"
    );
    sim.release_effects();
    let (a, _) = turn(&mut sim);
    assert_eq!(credits(&a), CHUNK as u64, "the write is done");
    sim.hold_effects = false;
    let last = push_all(&mut sim, id, &file, CHUNK, WINDOW);
    state(&last, S::Completed);
    let on_disk = std::fs::read(sim.runner.store_dir().join("report.pdf")).unwrap();
    assert_eq!(on_disk, file);
    sim.send(ConnId(2), C::ListFiles {});
    let (_, b) = turn(&mut sim);
    match &b[..] {
        [M::FileList { files }] => {
            assert_eq!(files.len(), 1);
            assert_eq!(
                (
                    files[0].name.as_str(),
                    files[0].size,
                    files[0].uploader.as_str()
                ),
                ("report.pdf", 300_000, "alice")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_paused_upload_gets_its_credit_back_on_resume() {
    let mut sim = sim();
    let file = data(300_000, 18);
    let (id, credit) = upload(&mut sim, "p.bin", &file, sha(&file));
    assert_eq!(credit, WINDOW);
    sim.send(ConnId(1), chunk(id, 0, &file[..CHUNK]));
    sim.send(ConnId(1), C::FilePause { id });
    let (a, _) = turn(&mut sim);
    state(&a, S::Paused);
    assert_eq!(credits(&a), 0, "no credit while paused, even once written");
    // Chunks within the credit still land while paused.
    sim.send(ConnId(1), chunk(id, CHUNK as u64, &file[CHUNK..2 * CHUNK]));
    let (a, _) = turn(&mut sim);
    assert_eq!(credits(&a), 0);
    sim.send(ConnId(1), C::FileResume { id });
    let (a, _) = turn(&mut sim);
    state(&a, S::InProgress);
    assert_eq!(credits(&a), WINDOW, "the window, topped up at once");
    let last = push_all(&mut sim, id, &file, 2 * CHUNK, WINDOW);
    state(&last, S::Completed);
}

#[test]
fn the_upload_completes_only_when_the_commit_is_done() {
    let mut sim = sim();
    let file = data(1000, 6);
    let (id, _) = upload(&mut sim, "a.txt", &file, sha(&file));
    sim.send(ConnId(1), chunk(id, 0, &file));
    sim.hold_effects = true;
    turn(&mut sim); // the write is held
    sim.release_effects(); // the write: the commit is queued, held
    let (a, _) = turn(&mut sim);
    assert!(states(&a).is_empty(), "not completed before the commit");
    // Cancelling now is too late: the data is final.
    sim.send(ConnId(1), C::FileCancel { id });
    let (a, _) = turn(&mut sim);
    assert_eq!(error(&a).map(|e| e.0), Some(ErrorCode::TransferState));
    sim.hold_effects = false;
    let (a, _) = turn(&mut sim);
    state(&a, S::Completed);
    assert!(sim.runner.store_dir().join("a.txt").exists());
}

#[test]
fn a_checksum_mismatch_fails_the_upload_and_leaves_nothing() {
    let mut sim = sim();
    let file = data(100_000, 7);
    let (id, credit) = upload(&mut sim, "bad.bin", &file, sha(b"something else"));
    let last = push_all(&mut sim, id, &file, 0, credit);
    let s = state(&last, S::Failed);
    assert!(s.reason.unwrap().contains("checksum mismatch"));
    let left: Vec<_> = std::fs::read_dir(sim.runner.store_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "temp file removed: {left:?}");
    // The name and the quota are free again.
    store_file(&mut sim, "bad.bin", &file);
}

#[test]
fn names_and_quota_are_checked_from_memory() {
    let mut sim = sim_with(150_000);
    let file = data(100_000, 8);
    store_file(&mut sim, "one.bin", &file);
    let try_up = |sim: &mut Sim, name: &str, size: u64| {
        sim.send(
            ConnId(1),
            C::Upload {
                name: name.into(),
                size,
                sha256: sha(b"x"),
                cid: None,
            },
        );
        turn(sim).0
    };
    let refused = |a: Vec<M>| {
        assert!(states(&a).is_empty(), "{a:?}");
        error(&a).unwrap()
    };
    let (code, m) = refused(try_up(&mut sim, "two.bin", 60_000));
    assert_eq!(code, ErrorCode::QuotaExceeded);
    assert!(m.contains("50000 bytes left"), "{m}");
    let (code, m) = refused(try_up(&mut sim, "one.bin", 10));
    assert_eq!(code, ErrorCode::FileExists);
    assert!(m.contains("already has a file named"), "{m}");
    // An upload in progress holds its name and its bytes...
    let small = data(40_000, 9);
    let (id, _) = upload(&mut sim, "three.bin", &small, sha(&small));
    let (code, m) = refused(try_up(&mut sim, "three.bin", 10));
    assert_eq!(code, ErrorCode::FileExists);
    assert!(m.contains("uploading"), "{m}");
    let (code, _) = refused(try_up(&mut sim, "four.bin", 20_000));
    assert_eq!(code, ErrorCode::QuotaExceeded);
    // ... until it ends.
    sim.send(ConnId(1), C::FileCancel { id });
    turn(&mut sim);
    state(&try_up(&mut sim, "four.bin", 20_000), S::InProgress);
}

#[test]
fn a_failed_store_write_fails_the_upload_with_its_reason() {
    let mut sim = sim();
    let file = data(200_000, 10);
    let (id, _) = upload(&mut sim, "full.bin", &file, sha(&file));
    sim.runner.fail_store_writes(true);
    sim.send(ConnId(1), chunk(id, 0, &file[..CHUNK]));
    let (a, _) = turn(&mut sim);
    assert_eq!(credits(&a), 0, "a failed write gives no credit back");
    let reason = state(&a, S::Failed).reason.unwrap();
    assert!(reason.contains("could not store the file"), "{reason}");
    assert!(reason.contains("No space left on device"), "{reason}");
    // Nothing visible; once the disk is back, the same name uploads.
    sim.runner.fail_store_writes(false);
    sim.send(ConnId(1), C::ListFiles {});
    let (a, _) = turn(&mut sim);
    assert!(matches!(&a[..], [M::FileList { files }] if files.is_empty()));
    store_file(&mut sim, "full.bin", &file);
}

#[test]
fn a_failed_commit_fails_the_upload() {
    let mut sim = sim();
    let file = data(1000, 11);
    let (id, _) = upload(&mut sim, "late.bin", &file, sha(&file));
    sim.hold_effects = true;
    sim.send(ConnId(1), chunk(id, 0, &file));
    turn(&mut sim);
    sim.release_effects(); // the write succeeds; the commit is queued
    turn(&mut sim);
    sim.runner.fail_store_writes(true);
    sim.hold_effects = false;
    let (a, _) = turn(&mut sim);
    let reason = state(&a, S::Failed).reason.unwrap();
    assert!(reason.contains("No space left on device"), "{reason}");
    assert!(!sim.runner.store_dir().join("late.bin").exists());
}

#[test]
fn an_interrupted_upload_resumes_where_the_store_stopped() {
    let mut sim = sim();
    let file = data(500_000, 12);
    let (id, credit) = upload(&mut sim, "cont.bin", &file, sha(&file));
    assert_eq!(credit, WINDOW);
    sim.send(ConnId(1), chunk(id, 0, &file[..CHUNK]));
    sim.send(ConnId(1), chunk(id, CHUNK as u64, &file[CHUNK..2 * CHUNK]));
    sim.hold_effects = true;
    turn(&mut sim); // both writes held
    sim.disconnect(ConnId(1));
    turn(&mut sim);
    login(&mut sim, ConnId(3), "alice", None);
    sim.send(ConnId(3), C::FileResume { id });
    let out = to(sim.turn(), ConnId(3));
    let s = state(&out, S::InProgress);
    assert_eq!(s.offset, 2 * CHUNK as u64);
    assert_eq!(s.prefix, Some(sha(&file[..2 * CHUNK])));
    assert_eq!(credits(&out), 0, "the window is still in the store's hands");
    sim.hold_effects = false;
    let out = to(sim.turn(), ConnId(3));
    assert_eq!(credits(&out), WINDOW, "given back as the writes finish");
    // The rest, from the new connection.
    let mut next = 2 * CHUNK;
    let mut credit = WINDOW;
    let mut last = Vec::new();
    while next < file.len() {
        let n = (file.len() - next).min(CHUNK).min(credit as usize);
        sim.send(ConnId(3), chunk(id, next as u64, &file[next..next + n]));
        next += n;
        credit -= n as u64;
        last = to(sim.turn(), ConnId(3));
        credit += credits(&last);
    }
    state(&last, S::Completed);
    let on_disk = std::fs::read(sim.runner.store_dir().join("cont.bin")).unwrap();
    assert_eq!(on_disk, file);
}

// ---- the store: downloads ----

#[test]
fn a_download_reads_one_chunk_at_a_time() {
    let mut sim = sim();
    let file = data(200_000, 13);
    store_file(&mut sim, "dl.bin", &file);
    let id = download(&mut sim, "dl.bin");
    sim.send(ConnId(2), accept(id, 0, None));
    sim.send(
        ConnId(2),
        C::FileCredit {
            id,
            bytes: 4 * CHUNK as u64,
        },
    );
    turn(&mut sim);
    assert_eq!(sim.core.download_conns(), vec![ConnId(2)]);
    sim.hold_effects = true;
    assert!(sim.core.pull_chunk(ConnId(2)));
    assert!(
        sim.core.download_conns().is_empty(),
        "its read is in flight"
    );
    assert!(!sim.core.pull_chunk(ConnId(2)), "one read at a time");
    let (_, b) = turn(&mut sim);
    assert!(chunks(&b).is_empty(), "the chunk waits for its read");
    assert_eq!(sim.held_effects().len(), 1);
    sim.hold_effects = false;
    let (_, b) = turn(&mut sim);
    assert_eq!(chunks(&b), vec![(0, file[..CHUNK].to_vec())]);
    let mut got = file[..CHUNK].to_vec();
    loop {
        for (off, bytes) in pull_all(&mut sim) {
            assert_eq!(off as usize, got.len());
            sim.send(
                ConnId(2),
                C::FileCredit {
                    id,
                    bytes: bytes.len() as u64,
                },
            );
            got.extend(bytes);
        }
        turn(&mut sim);
        if sim.core.download_conns().is_empty() {
            break;
        }
    }
    assert_eq!(got, file);
    sim.send(ConnId(2), C::FileDone { id });
    let (_, b) = turn(&mut sim);
    state(&b, S::Completed);
}

#[test]
fn a_download_resumes_from_a_matching_prefix_checked_off_the_loop() {
    let mut sim = sim();
    let file = data(300_000, 14);
    store_file(&mut sim, "big.iso", &file);
    let id = download(&mut sim, "big.iso");
    let have = 100_000;
    sim.hold_effects = true;
    sim.send(ConnId(2), accept(id, have as u64, Some(sha(&file[..have]))));
    let (_, b) = turn(&mut sim);
    assert!(b.is_empty(), "the accept waits for the hash: {b:?}");
    assert!(matches!(
        sim.held_effects().iter().collect::<Vec<_>>()[..],
        [Effect::Store(StoreJob::HashPrefix { len: 100_000, .. })]
    ));
    // A second accept while the first is checked is told to wait.
    sim.send(ConnId(2), accept(id, have as u64, Some(sha(&file[..have]))));
    let (_, b) = turn(&mut sim);
    assert_eq!(error(&b).map(|e| e.0), Some(ErrorCode::SlowDown));
    sim.hold_effects = false;
    let (_, b) = turn(&mut sim);
    let s = state(&b, S::InProgress);
    assert_eq!(s.offset, have as u64);
    assert_eq!(s.prefix, Some(sha(&file[..have])));
    sim.send(ConnId(2), C::FileCredit { id, bytes: 300_000 });
    turn(&mut sim);
    let got = pull_all(&mut sim);
    assert_eq!(got[0].0, have as u64);
    let rest: Vec<u8> = got.into_iter().flat_map(|(_, b)| b).collect();
    assert_eq!(rest, file[have..]);
}

#[test]
fn a_download_with_a_wrong_prefix_starts_over() {
    let mut sim = sim();
    let file = data(300_000, 15);
    store_file(&mut sim, "big.iso", &file);
    let id = download(&mut sim, "big.iso");
    sim.send(ConnId(2), accept(id, 100_000, Some(sha(b"not the start"))));
    let (_, b) = turn(&mut sim);
    let s = state(&b, S::InProgress);
    assert_eq!((s.offset, s.prefix), (0, None));
    sim.send(ConnId(2), C::FileCredit { id, bytes: 1000 });
    turn(&mut sim);
    assert_eq!(pull_all(&mut sim), vec![(0, file[..1000].to_vec())]);
    // The whole file's prefix is checked against its known hash, without
    // hashing: a wrong one starts over, the right one is at the end.
    let id = download(&mut sim, "big.iso");
    sim.hold_effects = true;
    sim.send(
        ConnId(2),
        accept(id, file.len() as u64, Some(sha(b"wrong"))),
    );
    let (_, b) = turn(&mut sim);
    assert_eq!(sim.held_effects().len(), 0, "no hash for a whole file");
    assert_eq!(state(&b, S::InProgress).offset, 0);
    let id = download(&mut sim, "big.iso");
    sim.send(ConnId(2), accept(id, file.len() as u64, Some(sha(&file))));
    let (_, b) = turn(&mut sim);
    assert_eq!(state(&b, S::InProgress).offset, file.len() as u64);
    sim.hold_effects = false;
}

#[test]
fn a_hash_that_completes_after_a_cancel_is_ignored() {
    let mut sim = sim();
    let file = data(200_000, 16);
    store_file(&mut sim, "x.bin", &file);
    let id = download(&mut sim, "x.bin");
    sim.hold_effects = true;
    sim.send(ConnId(2), accept(id, 50_000, Some(sha(&file[..50_000]))));
    turn(&mut sim);
    sim.send(ConnId(2), C::FileCancel { id });
    let (_, b) = turn(&mut sim);
    state(&b, S::Cancelled);
    sim.hold_effects = false;
    let (_, b) = turn(&mut sim); // the hash comes back
    assert!(b.is_empty(), "nothing about a cancelled transfer: {b:?}");
    assert!(sim.core.download_conns().is_empty());
    // Same when the receiver drops before the hash comes back and a new
    // accept follows: only the new one counts.
    let id = download(&mut sim, "x.bin");
    sim.hold_effects = true;
    sim.send(ConnId(2), accept(id, 50_000, Some(sha(&file[..50_000]))));
    turn(&mut sim);
    sim.disconnect(ConnId(2));
    turn(&mut sim);
    sim.hold_effects = false;
    let back = login(&mut sim, ConnId(4), "bob", None);
    let s = state(&back, S::Interrupted);
    assert_eq!(s.id, id);
    let out = to(sim.turn(), ConnId(4));
    assert!(
        states(&out).is_empty(),
        "the old accept does not count: {out:?}"
    );
}

#[test]
fn prefix_hashes_in_flight_are_bounded_per_user() {
    let mut sim = sim();
    let file = data(100_000, 17);
    store_file(&mut sim, "h.bin", &file);
    sim.hold_effects = true;
    let mut refused = 0;
    for _ in 0..3 {
        let id = download(&mut sim, "h.bin");
        sim.send(ConnId(2), accept(id, 10, Some(sha(&file[..10]))));
        let (_, b) = turn(&mut sim);
        if error(&b).map(|e| e.0) == Some(ErrorCode::SlowDown) {
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
    assert_eq!(sim.held_effects().len(), 2);
    sim.hold_effects = false;
    let (_, b) = turn(&mut sim);
    assert_eq!(states(&b).len(), 2);
}

#[test]
fn a_download_of_a_missing_name_is_refused() {
    let mut sim = sim();
    sim.send(
        ConnId(2),
        C::Download {
            name: "nope".into(),
            cid: None,
        },
    );
    let (_, b) = turn(&mut sim);
    assert_eq!(error(&b).map(|e| e.0), Some(ErrorCode::NoSuchFile));
}

// ---- accounts ----

#[test]
fn a_registration_is_saved_to_the_accounts_file_before_the_welcome() {
    let mut sim = sim();
    let out = login(&mut sim, ConnId(5), "carol", Some("correct horse"));
    assert!(matches!(out.first(), Some(M::Welcome { .. })), "{out:?}");
    assert!(sim.runner.saved_accounts().contains_key("carol"));
    sim.runner.fail_account_saves(true);
    let out = login(&mut sim, ConnId(6), "dave", Some("correct horse"));
    let (code, m) = error(&out).unwrap();
    assert_eq!(code, ErrorCode::Internal);
    assert!(m.contains("could not save its accounts file"), "{m}");
    assert!(!out.iter().any(|m| matches!(m, M::Welcome { .. })));
    assert!(!sim.core.is_registered("dave"));
    assert!(!sim.runner.saved_accounts().contains_key("dave"));
    sim.runner.fail_account_saves(false);
    sim.send(
        ConnId(6),
        C::Hello {
            version: PROTOCOL_VERSION,
            name: "dave".into(),
            room: None,
            status: None,
            resume: None,
            password: Some(Secret::from("correct horse")),
        },
    );
    let out = to(sim.turn(), ConnId(6));
    assert!(matches!(out.first(), Some(M::Welcome { .. })), "{out:?}");
    assert!(sim.runner.saved_accounts().contains_key("dave"));
}
