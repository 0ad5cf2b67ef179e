//! A person-to-person file received as an HTTP download (real server): the
//! receiver accepts over its chat connection, then `GET /transfers/ID?key=K`
//! streams the bytes while the server grants the sender credit as that
//! download drains; the hash is checked before the last chunk goes out (a
//! mismatch leaves the download short and fails the transfer); a download
//! that stops fails the transfer; a transfer paused before its first byte
//! can be opened and flows once resumed; links for someone else's transfer,
//! a wrong key or a transfer not yet accepted are refused.

mod common;
mod transfer_common;

use chat::protocol::files::TransferState;
use chat::protocol::ClientMsg;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use transfer_common::*;

/// Send `data` as transfer `id`, chunk by chunk as credit comes.
fn send_all(a: &mut Client, id: u64, data: &[u8]) {
    let (mut next, mut credit) = (0usize, 0u64);
    while next < data.len() {
        if credit == 0 {
            credit += expect_credit(a, id);
        }
        let n = (data.len() - next).min(CHUNK).min(credit as usize);
        a.send(&chunk(id, next as u64, &data[next..next + n]));
        next += n;
        credit -= n as u64;
    }
}

/// Open the download; the stream positioned after the response head, and the head.
fn open(addr: SocketAddr, path: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// Alice offers `data` (announced with `sha`) to bob, who accepts it.
fn accepted(a: &mut Client, b: &mut Client, data: &[u8], sha: String) -> u64 {
    a.send(&ClientMsg::FileOffer {
        to: "bob".into(),
        name: "big.bin".into(),
        size: data.len() as u64,
        sha256: sha,
        cid: None,
    });
    let id = expect_state(b, TransferState::Pending).id;
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    expect_state(a, TransferState::InProgress);
    expect_state(b, TransferState::InProgress);
    id
}

#[test]
fn a_browser_receives_a_file_as_a_download_with_server_granted_credit() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut a = Client::login(addr, "alice");
    let mut b = Client::login(addr, "bob");
    let bytes = data(5 << 20, 7);
    let id = accepted(&mut a, &mut b, &bytes, sha(&bytes));
    let key = b.files_key.clone().unwrap();
    let (mut s, head) = open(addr, &format!("/transfers/{id}?key={key}"));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", bytes.len())),
        "{head}"
    );
    assert!(head.contains("filename*=UTF-8''big%2Ebin"), "{head}");
    // Nothing can be sent twice: no resuming by range is offered.
    assert!(!head.contains("Accept-Ranges"), "{head}");
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    // Bob grants nothing himself: the download does.
    send_all(&mut a, id, &bytes);
    expect_state(&mut a, TransferState::Completed);
    expect_state(&mut b, TransferState::Completed);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), bytes.len());
    assert_eq!(sha(&got), sha(&bytes));
}

#[test]
fn a_transfer_paused_before_its_first_byte_can_be_opened_and_flows_once_resumed() {
    // A browser's download may reach the server just after either user paused.
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut a = Client::login(addr, "alice");
    let mut b = Client::login(addr, "bob");
    let bytes = data(3 << 20, 11);
    let id = accepted(&mut a, &mut b, &bytes, sha(&bytes));
    a.send(&ClientMsg::FilePause { id });
    expect_state(&mut a, TransferState::Paused);
    expect_state(&mut b, TransferState::Paused);
    let key = b.files_key.clone().unwrap();
    let (mut s, head) = open(addr, &format!("/transfers/{id}?key={key}"));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    a.send(&ClientMsg::FileResume { id });
    expect_state(&mut a, TransferState::InProgress);
    send_all(&mut a, id, &bytes);
    expect_state(&mut a, TransferState::Completed);
    expect_state(&mut b, TransferState::Completed);
    let got = reader.join().unwrap();
    assert_eq!(sha(&got), sha(&bytes));
}

#[test]
fn a_checksum_mismatch_keeps_the_last_chunk_and_fails_the_transfer() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut a = Client::login(addr, "alice");
    let mut b = Client::login(addr, "bob");
    let bytes = data(200_000, 8);
    let id = accepted(&mut a, &mut b, &bytes, sha(b"something else"));
    let key = b.files_key.clone().unwrap();
    let (mut s, head) = open(addr, &format!("/transfers/{id}?key={key}"));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    send_all(&mut a, id, &bytes);
    for c in [&mut a, &mut b] {
        let st = expect_state(c, TransferState::Failed);
        assert!(st.reason.unwrap().contains("checksum mismatch"));
    }
    let got = reader.join().unwrap();
    assert!(
        got.len() < bytes.len(),
        "the download is short: {} bytes",
        got.len()
    );
}

#[test]
fn a_download_that_stops_fails_the_transfer_and_bad_links_are_refused() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut a = Client::login(addr, "alice");
    let mut b = Client::login(addr, "bob");
    let bytes = data(3 << 20, 9);
    // Before the accept: not yet.
    a.send(&ClientMsg::FileOffer {
        to: "bob".into(),
        name: "x.bin".into(),
        size: bytes.len() as u64,
        sha256: sha(&bytes),
        cid: None,
    });
    let id = expect_state(&mut b, TransferState::Pending).id;
    let bk = b.files_key.clone().unwrap();
    let ak = a.files_key.clone().unwrap();
    let (_, head) = open(addr, &format!("/transfers/{id}?key={bk}"));
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    let (_, head) = open(addr, &format!("/transfers/{id}?key={ak}"));
    assert!(
        head.starts_with("HTTP/1.1 404"),
        "the sender's own key: {head}"
    );
    let (_, head) = open(addr, &format!("/transfers/{id}?key=nope"));
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    expect_state(&mut a, TransferState::InProgress);
    let (mut s, head) = open(addr, &format!("/transfers/{id}?key={bk}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A second download of the same transfer is refused.
    let (_, head) = open(addr, &format!("/transfers/{id}?key={bk}"));
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    // Some bytes, then the browser gives up.
    let credit = expect_credit(&mut a, id);
    a.send(&chunk(id, 0, &bytes[..CHUNK.min(credit as usize)]));
    let mut first = [0u8; 1000];
    s.read_exact(&mut first).unwrap();
    drop(s);
    for c in [&mut a, &mut b] {
        let st = expect_state(c, TransferState::Failed);
        assert!(st.reason.unwrap().contains("download of it stopped"));
    }
}
