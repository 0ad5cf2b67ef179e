//! Helpers for the file-transfer tests (`mod transfer_common;` after `mod common;`).

#![allow(dead_code)]

use super::common::Client;
use base64::Engine;
use chat::protocol::files::{Role, TransferState};
use chat::protocol::{ClientMsg, ServerMsg};
use sha2::{Digest, Sha256};

pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
pub const CHUNK: usize = 64 * 1024;

pub fn sha(data: &[u8]) -> String {
    chat::protocol::files::hex(&Sha256::digest(data))
}

/// Deterministic test data of `n` bytes.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// The fields of a `file_state` frame.
#[derive(Debug, Clone)]
pub struct St {
    pub id: u64,
    pub state: TransferState,
    pub role: Role,
    pub peer: Option<String>,
    pub name: String,
    pub size: u64,
    pub offset: u64,
    pub prefix: Option<String>,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub cid: Option<String>,
}

pub fn as_state(m: &ServerMsg) -> Option<St> {
    match m {
        ServerMsg::FileState {
            id,
            state,
            role,
            peer,
            name,
            size,
            offset,
            prefix_sha256,
            by,
            reason,
            cid,
            ..
        } => Some(St {
            id: *id,
            state: *state,
            role: *role,
            peer: peer.clone(),
            name: name.clone(),
            size: *size,
            offset: *offset,
            prefix: prefix_sha256.clone(),
            by: by.clone(),
            reason: reason.clone(),
            cid: cid.clone(),
        }),
        _ => None,
    }
}

/// Skip frames until a `file_state` in `state` arrives.
pub fn expect_state(c: &mut Client, state: TransferState) -> St {
    let m = c.recv_until_what(&format!("file_state {state}"), |m| {
        as_state(m).is_some_and(|s| s.state == state)
    });
    as_state(&m).expect("file_state")
}

/// Skip frames until an `error`, which must have `code`; returns `(message, re)`.
pub fn expect_err(c: &mut Client, code: chat::protocol::ErrorCode) -> (String, Option<String>) {
    match c.recv_until_what(&format!("error {code:?}"), |m| {
        matches!(m, ServerMsg::Error { .. })
    }) {
        ServerMsg::Error {
            code: got,
            message,
            re,
            ..
        } => {
            assert_eq!(got, code, "{message}");
            (message, re)
        }
        _ => unreachable!(),
    }
}

/// Skip frames until `file_credit` for `id`; returns the bytes granted.
pub fn expect_credit(c: &mut Client, id: u64) -> u64 {
    match c.recv_until_what(
        "file_credit",
        |m| matches!(m, ServerMsg::FileCredit { id: i, .. } if *i == id),
    ) {
        ServerMsg::FileCredit { bytes, .. } => bytes,
        _ => unreachable!(),
    }
}

/// Offer `data` as `name` from `a` to user `to`; both see pending. Returns the id.
pub fn offer(a: &mut Client, b: &mut Client, to: &str, name: &str, data: &[u8]) -> u64 {
    a.send(&ClientMsg::FileOffer {
        to: to.into(),
        name: name.into(),
        size: data.len() as u64,
        sha256: sha(data),
        cid: Some("f1".into()),
    });
    let s = expect_state(a, TransferState::Pending);
    assert_eq!((s.role, s.cid.as_deref()), (Role::Sender, Some("f1")));
    let r = expect_state(b, TransferState::Pending);
    assert_eq!(
        (r.id, r.role, r.name.as_str()),
        (s.id, Role::Receiver, name)
    );
    assert_eq!(r.size, data.len() as u64);
    s.id
}

/// The receiver accepts transfer `id` from the start and grants `window`.
pub fn accept(b: &mut Client, id: u64, window: u64) {
    b.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    b.send(&ClientMsg::FileCredit { id, bytes: window });
}

pub fn chunk(id: u64, offset: u64, bytes: &[u8]) -> ClientMsg {
    ClientMsg::FileChunk {
        id,
        offset,
        data: B64.encode(bytes),
    }
}

/// Drive a transfer between two raw clients: `a` sends `data` from `from`
/// whenever it has credit, `b` writes what arrives and grants it back. Stops
/// after `stop_after` bytes have arrived (or at the end). Returns what `b` got.
pub fn relay(
    a: &mut Client,
    b: &mut Client,
    id: u64,
    data: &[u8],
    from: u64,
    stop_after: Option<u64>,
) -> Vec<u8> {
    let mut got = data[..from as usize].to_vec();
    let mut next = from as usize;
    let mut credit = 0u64;
    while got.len() < data.len() && stop_after.is_none_or(|s| (got.len() as u64) < s) {
        // Sender: take credit, send what it allows.
        if next < data.len() {
            if credit == 0 {
                credit += expect_credit(a, id);
            }
            while credit > 0 && next < data.len() {
                let n = (data.len() - next).min(CHUNK).min(credit as usize);
                a.send(&chunk(id, next as u64, &data[next..next + n]));
                next += n;
                credit -= n as u64;
            }
        }
        // Receiver: one chunk, granted back.
        match b.recv_until_what("file_chunk", |m| matches!(m, ServerMsg::FileChunk { .. })) {
            ServerMsg::FileChunk {
                id: i,
                offset,
                data: text,
            } => {
                assert_eq!(i, id);
                assert_eq!(offset as usize, got.len(), "chunks arrive in order");
                let bytes = B64.decode(text).expect("base64");
                got.extend_from_slice(&bytes);
                b.send(&ClientMsg::FileCredit {
                    id,
                    bytes: bytes.len() as u64,
                });
            }
            _ => unreachable!(),
        }
    }
    got
}
