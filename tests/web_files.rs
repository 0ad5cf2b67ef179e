//! The shared store over plain HTTP (real server): `GET /files/NAME?key=K`
//! with the key of a logged-in user's `welcome` streams the file with the
//! headers a browser's download manager needs (attachment name, ETag,
//! `Accept-Ranges`), answers `Range` requests with `206` (and `416` past
//! the end), and refuses a wrong or stale key, an unknown name, and
//! everything once the user has left.

mod common;
mod transfer_common;
mod web_common;

use chat::protocol::files::TransferState;
use chat::protocol::ClientMsg;
use common::*;
use std::net::SocketAddr;
use transfer_common::*;
use web_common::*;

/// Upload `data` as `name` to the store through `c`.
fn store(c: &mut Client, name: &str, data: &[u8]) {
    c.send(&ClientMsg::Upload {
        name: name.into(),
        size: data.len() as u64,
        sha256: sha(data),
        cid: None,
    });
    let id = expect_state(c, TransferState::InProgress).id;
    let mut next = 0;
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
    expect_state(c, TransferState::Completed);
}

/// A response split into its head and its body bytes.
fn fetch(addr: SocketAddr, path: &str, extra: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    (head, out[at + 4..].to_vec())
}

#[test]
fn a_stored_file_downloads_over_http_whole_and_by_range() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = Client::login(addr, "alice");
    let bytes = data(300_000, 4);
    store(&mut alice, "report 2026 ✓.pdf", &bytes);
    let key = alice.files_key.clone().expect("welcome.files_key");
    let path = format!("/files/report%202026%20%E2%9C%93.pdf?key={key}");
    let (head, body) = fetch(addr, &path, "");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Length: 300000"), "{head}");
    assert!(head.contains("Accept-Ranges: bytes"), "{head}");
    assert!(
        head.contains(
            "Content-Disposition: attachment; filename*=UTF-8''report%202026%20%E2%9C%93%2Epdf"
        ),
        "{head}"
    );
    assert!(
        head.contains(&format!("ETag: \"{}\"", sha(&bytes))),
        "{head}"
    );
    assert_eq!(sha(&body), sha(&bytes));
    // Resuming: the rest from an offset, a middle slice, the last bytes.
    let (head, body) = fetch(addr, &path, "Range: bytes=100000-\r\n");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains("Content-Range: bytes 100000-299999/300000"),
        "{head}"
    );
    assert_eq!(body, &bytes[100_000..]);
    let (_, body) = fetch(addr, &path, "Range: bytes=10-19\r\n");
    assert_eq!(body, &bytes[10..20]);
    let (_, body) = fetch(addr, &path, "Range: bytes=-5\r\n");
    assert_eq!(body, &bytes[bytes.len() - 5..]);
    let (head, _) = fetch(addr, &path, "Range: bytes=300000-\r\n");
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    assert!(head.contains("Content-Range: bytes */300000"), "{head}");
    // HEAD: the head alone.
    let r = http(
        addr,
        format!("HEAD {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
}

#[test]
fn a_wrong_or_stale_key_or_an_unknown_name_is_refused() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = Client::login(addr, "alice");
    store(&mut alice, "a.txt", b"hello");
    let key = alice.files_key.clone().unwrap();
    let (head, body) = fetch(addr, "/files/a.txt?key=0123", "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("log in"),
        "{body:?}"
    );
    let (head, _) = fetch(addr, "/files/a.txt", "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let (head, _) = fetch(addr, &format!("/files/b.txt?key={key}"), "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = fetch(
        addr,
        &format!("/files/..%2F..%2Fetc%2Fpasswd?key={key}"),
        "",
    );
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, body) = fetch(addr, &format!("/files/a.txt?key={key}"), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello");
    // Gone with its session.
    alice.send(&ClientMsg::Logout {});
    alice.expect_closed();
    let (head, _) = fetch(addr, &format!("/files/a.txt?key={key}"), "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}
