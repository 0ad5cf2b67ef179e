//! The transfer table's own bookkeeping: nothing is sent for a transfer
//! after `/cancel`, and a restarted receiver shows the bytes of its `.part`.

use super::*;
use crate::client::transfer::WINDOW;
use crate::protocol::files::{Role, TransferState, MAX_CHUNK};
use std::io::Write;

/// A sending transfer in progress with credit and an open file of `size` bytes.
fn sending(size: usize) -> (Files, tempfile::NamedTempFile) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&vec![7u8; size]).unwrap();
    let files = Files::default();
    let x = Xfer {
        id: 3,
        dir: Some(Direction::Send),
        name: "big.bin".into(),
        size: size as u64,
        state: Some(TransferState::InProgress),
        src: Some(f.path().to_path_buf()),
        file: Some(File::open(f.path()).unwrap()),
        credit: WINDOW,
        ..Xfer::default()
    };
    files.lock().xfers.insert(3, x);
    (files, f)
}

#[test]
fn no_chunk_goes_out_after_cancel() {
    let (files, _f) = sending(3 * MAX_CHUNK);
    assert!(files.next_chunk().is_some(), "a chunk before the cancel");
    let frames = files.simple(3, "cancel").unwrap();
    assert!(matches!(frames[..], [ClientMsg::FileCancel { id: 3 }]));
    assert!(files.next_chunk().is_none(), "no chunk after the cancel");
}

#[test]
fn a_restarted_receiver_shows_what_its_part_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("movie.bin.part"), vec![1u8; 4096]).unwrap();
    let files = Files::default();
    files.configure(dir.path().to_path_buf(), false);
    let msg = ServerMsg::FileState {
        id: 9,
        state: TransferState::Interrupted,
        role: Role::Receiver,
        peer: Some("alice".into()),
        name: "movie.bin".into(),
        size: 10_000,
        sha256: "00".repeat(32),
        offset: 0,
        prefix_sha256: None,
        by: None,
        reason: None,
        cid: None,
    };
    let (_, events) = files.on_frame(&msg).unwrap();
    let done = events.iter().find_map(|e| match e {
        Event::Transfer(t) => Some(t.done),
        _ => None,
    });
    assert_eq!(done, Some(4096), "{events:?}");
}

#[test]
fn ended_transfers_age_out_of_the_list() {
    let (files, _f) = sending(10);
    let now = Instant::now();
    assert_eq!(files.rows(now).len(), 1, "running: listed");
    {
        let mut t = files.lock();
        let x = t.xfers.get_mut(&3).unwrap();
        x.state = Some(TransferState::Completed);
        x.ended = Some(now);
    }
    assert_eq!(files.rows(now).len(), 1, "just ended: still listed");
    assert_eq!(files.rows(now + AGE_OUT).len(), 0, "ended long ago: gone");
}
