//! Binary file chunks (`protocol::binary`) on a real server: the welcome
//! offers them; a binary sender's chunks reach a JSON receiver as
//! `file_chunk` with the same bytes in base64, and a receiver that asked
//! for binary gets binary whatever the sender wrote; uploads and downloads
//! through the store work in binary; a malformed binary frame gets a clear
//! error, and an oversized one closes the connection as an oversized JSON
//! frame does.

mod common;
mod transfer_common;

use chat::protocol::binary::{self, MAX_BODY};
use chat::protocol::files::TransferState as S;
use chat::protocol::{ClientMsg, ErrorCode, ServerMsg};
use common::{Client, Server};
use transfer_common::*;

/// Login that checks the welcome offers binary chunks.
fn login(server: &Server, name: &str) -> Client {
    let c = Client::login(server.addr(), name);
    assert!(c.binary_offered, "the welcome offers binary chunks");
    c
}

/// `b` reads chunks of transfer `id` until it has `len` bytes, granting
/// credit back as it goes; `a` sends `file` as binary frames against its
/// credit. Returns what `b` got.
fn send_binary(a: &mut Client, b: &mut Client, id: u64, file: &[u8]) -> Vec<u8> {
    let (mut next, mut credit, mut got) = (0usize, 0u64, Vec::new());
    while got.len() < file.len() {
        if next < file.len() {
            if credit == 0 {
                credit += expect_credit(a, id);
            }
            while credit > 0 && next < file.len() {
                let n = (file.len() - next).min(CHUNK).min(credit as usize);
                a.send_raw(&binary::frame(id, next as u64, &file[next..next + n]));
                next += n;
                credit -= n as u64;
            }
        }
        match b.recv_until(|m| matches!(m, ServerMsg::FileChunk { .. })) {
            ServerMsg::FileChunk { offset, data, .. } => {
                assert_eq!(offset, got.len() as u64);
                let bytes = chat::protocol::binary::ChunkData::Base64(&data).bytes();
                let bytes = bytes.expect("base64").into_owned();
                b.send(&ClientMsg::FileCredit {
                    id,
                    bytes: bytes.len() as u64,
                });
                got.extend(bytes);
            }
            _ => unreachable!(),
        }
    }
    got
}

#[test]
fn binary_and_json_ends_each_read_their_own_form() {
    let server = Server::start(&[]);
    let mut a = login(&server, "alice");
    let mut b = login(&server, "bob");
    let file = data(300_000, 3);
    // Binary sender, JSON receiver.
    let id = offer(&mut a, &mut b, "bob", "one.bin", &file);
    accept(&mut b, id, 128 * 1024);
    let got = send_binary(&mut a, &mut b, id, &file);
    assert_eq!(sha(&got), sha(&file));
    assert_eq!(b.binary_frames, 0, "bob did not ask for binary");
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut a, S::Completed);
    // Bob asks for binary: the same sender's chunks, and a JSON sender's,
    // reach him as binary frames.
    b.send(&ClientMsg::BinaryChunks {});
    let id = offer(&mut a, &mut b, "bob", "two.bin", &file);
    accept(&mut b, id, 128 * 1024);
    let got = send_binary(&mut a, &mut b, id, &file);
    assert_eq!(sha(&got), sha(&file));
    let frames = file.len().div_ceil(CHUNK);
    assert_eq!(b.binary_frames, frames);
    b.send(&ClientMsg::FileDone { id });
    expect_state(&mut a, S::Completed);
    let id = offer(&mut a, &mut b, "bob", "three.bin", &file);
    accept(&mut b, id, 1 << 20);
    let got = relay(&mut a, &mut b, id, &file, 0, None);
    assert_eq!(sha(&got), sha(&file));
    assert_eq!(b.binary_frames, 2 * frames);
}

#[test]
fn uploads_and_downloads_through_the_store_in_binary() {
    let server = Server::start(&[]);
    let mut a = login(&server, "alice");
    let file = data(200_000, 9);
    a.send(&ClientMsg::Upload {
        name: "b.bin".into(),
        size: file.len() as u64,
        sha256: sha(&file),
        cid: None,
    });
    let id = expect_state(&mut a, S::InProgress).id;
    let mut next = 0;
    while next < file.len() {
        let credit = expect_credit(&mut a, id) as usize;
        let end = (next + credit).min(file.len());
        while next < end {
            let n = (end - next).min(CHUNK);
            a.send_raw(&binary::frame(id, next as u64, &file[next..next + n]));
            next += n;
        }
    }
    expect_state(&mut a, S::Completed);
    // Downloaded by a client that asked for binary, and by one that did not.
    let mut b = login(&server, "bob");
    b.send(&ClientMsg::BinaryChunks {});
    let mut c = login(&server, "carol");
    for (who, binary) in [(&mut b, true), (&mut c, false)] {
        who.send(&ClientMsg::Download {
            name: "b.bin".into(),
            cid: None,
        });
        let id = expect_state(who, S::Pending).id;
        accept(who, id, 1 << 20);
        let mut got = Vec::new();
        while got.len() < file.len() {
            if let ServerMsg::FileChunk { data, .. } =
                who.recv_until(|m| matches!(m, ServerMsg::FileChunk { .. }))
            {
                got.extend(
                    binary::ChunkData::Base64(&data)
                        .bytes()
                        .unwrap()
                        .into_owned(),
                );
            }
        }
        assert_eq!(sha(&got), sha(&file));
        assert_eq!(who.binary_frames > 0, binary, "{}", who.name);
    }
}

#[test]
fn malformed_and_oversized_binary_frames() {
    let server = Server::start(&[]);
    // Before login: like any frame, refused with a reason.
    let mut anon = Client::connect(server.addr());
    anon.send_raw(&binary::frame(1, 0, b"x"));
    let (msg, _) = anon.expect_error(ErrorCode::NotLoggedIn);
    assert!(msg.contains("log in first"), "{msg}");
    let mut a = login(&server, "alice");
    // Too short for id and offset: bad_frame, and the connection goes on.
    let mut short = (8u32 | binary::FLAG).to_be_bytes().to_vec();
    short.extend([0; 8]);
    a.send_raw(&short);
    let (msg, re) = a.expect_error(ErrorCode::BadFrame);
    assert!(msg.contains("8 bytes of transfer id"), "{msg}");
    assert_eq!(re.as_deref(), Some("file_chunk"));
    // Empty data, or a transfer that does not exist: the usual errors.
    a.send_raw(&binary::frame(77, 0, b""));
    a.expect_error(ErrorCode::UnknownTransfer);
    a.ping(1);
    // One byte past the largest chunk: the connection is closed, as for
    // any frame too large to skip.
    let mut big = ((MAX_BODY + 1) as u32 | binary::FLAG)
        .to_be_bytes()
        .to_vec();
    big.extend(vec![0; 64]);
    a.send_raw(&big);
    let (msg, _) = a.expect_error(ErrorCode::FrameTooLarge);
    assert!(msg.contains(&MAX_BODY.to_string()), "{msg}");
    a.expect_closed();
    // The largest is fine (it fails only as an unknown transfer).
    let mut c = login(&server, "carol");
    c.send_raw(&binary::frame(5, 0, &vec![1; CHUNK]));
    c.expect_error(ErrorCode::UnknownTransfer);
}
