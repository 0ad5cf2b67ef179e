//! The shared file store at the protocol level: upload, list, download and
//! its resume, name clashes, hostile names, size and quota limits, checksum
//! mismatch, metadata across restarts, and SIGKILL mid-upload.

mod common;
mod transfer_common;

use chat::protocol::files::{Role, TransferState as S};
use chat::protocol::{ClientMsg, ErrorCode, ServerMsg};
use common::{Client, Server};
use transfer_common::*;

fn upload(c: &mut Client, name: &str, data: &[u8], sha256: Option<String>) -> u64 {
    c.send(&ClientMsg::Upload {
        name: name.into(),
        size: data.len() as u64,
        sha256: sha256.unwrap_or_else(|| sha(data)),
        cid: Some("u1".into()),
    });
    let s = expect_state(c, S::InProgress);
    assert_eq!(
        (s.role, s.peer, s.cid.as_deref()),
        (Role::Sender, None, Some("u1"))
    );
    s.id
}

/// Send everything the store's credit allows until the end.
fn push_all(c: &mut Client, id: u64, data: &[u8], from: usize) {
    let mut next = from;
    let mut credit = 0u64;
    while next < data.len() {
        if credit == 0 {
            credit += expect_credit(c, id);
        }
        let n = (data.len() - next).min(CHUNK).min(credit as usize);
        c.send(&chunk(id, next as u64, &data[next..next + n]));
        next += n;
        credit -= n as u64;
    }
}

fn list(c: &mut Client) -> Vec<chat::protocol::files::FileInfo> {
    c.send(&ClientMsg::ListFiles {});
    match c.recv_until(|m| matches!(m, ServerMsg::FileList { .. })) {
        ServerMsg::FileList { files } => files,
        _ => unreachable!(),
    }
}

fn visible(server: &Server) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(server.data_dir().join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn upload_list_download_and_restart() {
    let mut server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let file = data(300_000, 1);
    let id = upload(&mut a, "report.pdf", &file, None);
    push_all(&mut a, id, &file, 0);
    let s = expect_state(&mut a, S::Completed);
    assert_eq!(s.id, id);
    let files = list(&mut a);
    assert_eq!(files.len(), 1);
    assert_eq!(
        (files[0].name.as_str(), files[0].size),
        ("report.pdf", 300_000)
    );
    assert_eq!(files[0].uploader, "alice");
    assert_eq!(
        std::fs::read(server.data_dir().join("files/report.pdf")).unwrap(),
        file
    );
    // The same name again is refused.
    a.send(&ClientMsg::Upload {
        name: "report.pdf".into(),
        size: 3,
        sha256: sha(b"abc"),
        cid: None,
    });
    let (m, _) = expect_err(&mut a, ErrorCode::FileExists);
    assert!(m.contains("already has a file named \"report.pdf\""), "{m}");
    // Metadata survives a restart.
    drop(a);
    server.restart();
    let mut b = Client::login(server.addr(), "bob");
    let files = list(&mut b);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].uploader, "alice");
    // Download: the server offers, the client accepts and grants credit.
    b.send(&ClientMsg::Download {
        name: "report.pdf".into(),
        cid: Some("d1".into()),
    });
    let s = expect_state(&mut b, S::Pending);
    assert_eq!(
        (s.role, s.cid.as_deref(), s.size),
        (Role::Receiver, Some("d1"), 300_000)
    );
    let id = s.id;
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    b.send(&ClientMsg::FileCredit {
        id,
        bytes: 2 * CHUNK as u64,
    });
    let mut got = Vec::new();
    while got.len() < file.len() {
        if let ServerMsg::FileChunk { offset, data, .. } =
            b.recv_until(|m| matches!(m, ServerMsg::FileChunk { .. }))
        {
            use base64::Engine;
            assert_eq!(offset as usize, got.len());
            let bytes = B64.decode(data).unwrap();
            got.extend_from_slice(&bytes);
            b.send(&ClientMsg::FileCredit {
                id,
                bytes: bytes.len() as u64,
            });
        }
    }
    assert_eq!(got, file);
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut b, S::Completed);
    b.send(&ClientMsg::Download {
        name: "nope".into(),
        cid: None,
    });
    expect_err(&mut b, ErrorCode::NoSuchFile);
}

#[test]
fn limits_names_and_checksums() {
    let server = Server::start(&["--max-file-size", "100K", "--store-quota", "150K"]);
    let mut a = Client::login(server.addr(), "alice");
    let try_up = |a: &mut Client, name: &str, size: u64, code: ErrorCode| {
        a.send(&ClientMsg::Upload {
            name: name.into(),
            size,
            sha256: sha(b"x"),
            cid: None,
        });
        expect_err(a, code).0
    };
    let m = try_up(&mut a, "big.bin", 200 * 1024, ErrorCode::FileTooLarge);
    assert!(m.contains("at most 102400 bytes"), "{m}");
    for name in ["../up.txt", "a/b", "..", "nul\0", "\u{1b}[2J", ".hidden"] {
        try_up(&mut a, name, 10, ErrorCode::BadFileName);
    }
    let file = data(100 * 1024, 2);
    let id = upload(&mut a, "one.bin", &file, None);
    push_all(&mut a, id, &file, 0);
    expect_state(&mut a, S::Completed);
    let m = try_up(&mut a, "two.bin", 60 * 1024, ErrorCode::QuotaExceeded);
    assert!(m.contains("the store is full"), "{m}");
    // A wrong checksum: the upload fails and nothing becomes visible.
    let bad = data(1000, 3);
    let id = upload(&mut a, "bad.bin", &bad, Some(sha(b"something else")));
    push_all(&mut a, id, &bad, 0);
    let s = expect_state(&mut a, S::Failed);
    assert!(s.reason.unwrap().contains("checksum mismatch"));
    assert_eq!(visible(&server), vec!["one.bin".to_string()]);
}

#[test]
fn sigkill_mid_upload_never_shows_a_half_file() {
    let mut server = Server::start(&[]);
    let mut a = Client::login(server.addr(), "alice");
    let file = data(2 << 20, 4);
    let id = upload(&mut a, "half.iso", &file, None);
    // Send a window's worth, make sure the server has written some of it.
    let credit = expect_credit(&mut a, id) as usize;
    a.send(&chunk(id, 0, &file[..CHUNK.min(credit)]));
    expect_credit(&mut a, id);
    server.kill();
    server.restart();
    assert!(visible(&server).is_empty(), "{:?}", visible(&server));
    let leftovers: Vec<_> = std::fs::read_dir(server.data_dir().join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files cleaned: {leftovers:?}");
    let mut b = Client::login(server.addr(), "bob");
    assert!(list(&mut b).is_empty());
}

#[test]
fn interrupted_upload_resumes_where_the_store_stopped() {
    let server = Server::start(&["--grace", "0"]);
    let mut a = Client::login(server.addr(), "alice");
    let file = data(500_000, 5);
    let id = upload(&mut a, "cont.bin", &file, None);
    let first = 3 * CHUNK;
    let mut next = 0;
    while next < first {
        expect_credit(&mut a, id);
        a.send(&chunk(id, next as u64, &file[next..next + CHUNK]));
        next += CHUNK;
    }
    a.ping(7); // the chunks before it were handled
    a.disconnect();
    let mut a = Client::login(server.addr(), "alice");
    let s = expect_state(&mut a, S::Interrupted);
    assert_eq!((s.id, s.offset), (id, first as u64));
    a.send(&ClientMsg::FileResume { id });
    let s = expect_state(&mut a, S::InProgress);
    assert_eq!(s.offset, first as u64);
    assert_eq!(s.prefix.as_deref(), Some(sha(&file[..first]).as_str()));
    push_all(&mut a, id, &file, first);
    expect_state(&mut a, S::Completed);
    assert_eq!(
        std::fs::read(server.data_dir().join("files/cont.bin")).unwrap(),
        file
    );
}
