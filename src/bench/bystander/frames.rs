//! The server's frames as the scenario reads them: whole frames out of a
//! connection's reads ([`read_frames`]), decoded loosely into the events the
//! loads care about ([`Ev`]).

use crate::bench::fanout::MAX_FRAME;
use crate::bench::net::{Conn, ReadEnd};
use crate::bench::wire;
use std::io;
use std::time::Instant;

/// Read what `c` has (see [`Conn::read`]) and hand the body of each whole
/// frame, with the time its bytes were read, to `on_body`; a partial frame
/// is kept for the next read. The read's end, or (as `Err`) a frame that
/// cannot be split, after which nothing more on the connection can be read.
pub(super) fn read_frames(
    c: &mut Conn,
    scratch: &mut Vec<u8>,
    epoch: Instant,
    mut on_body: impl FnMut(&[u8], u64),
) -> Result<io::Result<ReadEnd>, String> {
    let mut bad = None;
    let res = c.read(scratch, epoch, |data, at| {
        let mut off = 0;
        loop {
            match wire::split_frame(&data[off..], MAX_FRAME) {
                Ok(Some((body, used))) => {
                    off += used;
                    on_body(body, at);
                }
                Ok(None) => return off,
                Err(e) => {
                    bad = Some(e);
                    return data.len();
                }
            }
        }
    });
    match bad {
        Some(e) => Err(e),
        None => Ok(res),
    }
}

/// A frame an attacker client received, as far as the loads care.
#[derive(Debug)]
pub(super) enum Ev {
    Welcome,
    Joined,
    Ack {
        id: u64,
    },
    Message,
    Pong {
        seq: u64,
    },
    HistoryEnd,
    /// `(user, delivered)` of each marker.
    Receipts(Vec<(String, u64)>),
    FileState {
        id: u64,
        state: String,
        offset: u64,
        cid: Option<String>,
    },
    FileCredit {
        bytes: u64,
    },
    Error {
        code: String,
        re: Option<String>,
        cid: Option<String>,
        message: String,
    },
    /// The server closed the connection (or reset it).
    Closed,
    Other,
}

/// Decode a server frame body loosely (a newer server's extra fields, frame
/// types or error codes are counted, not refused): its type and the event.
pub(super) fn decode(body: &[u8]) -> (String, Ev) {
    if body.starts_with(br#"{"type":"message","#) {
        return ("message".into(), Ev::Message);
    }
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return ("(unparsable)".into(), Ev::Other),
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let n = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let kind = s("type").unwrap_or_else(|| "(untyped)".into());
    let ev = match kind.as_str() {
        "welcome" => Ev::Welcome,
        "joined" => Ev::Joined,
        "ack" => Ev::Ack { id: n("id") },
        "pong" => Ev::Pong { seq: n("seq") },
        "history_end" => Ev::HistoryEnd,
        "receipts" => Ev::Receipts(
            v.get("markers")
                .and_then(|m| m.as_array())
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            (
                                m.get("user")
                                    .and_then(|u| u.as_str())
                                    .unwrap_or("")
                                    .to_string(),
                                m.get("delivered").and_then(|d| d.as_u64()).unwrap_or(0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "file_state" => Ev::FileState {
            id: n("id"),
            state: s("state").unwrap_or_default(),
            offset: n("offset"),
            cid: s("cid"),
        },
        "file_credit" => Ev::FileCredit { bytes: n("bytes") },
        "error" => Ev::Error {
            code: s("code").unwrap_or_else(|| "?".into()),
            re: s("re"),
            cid: s("cid"),
            message: s("message").unwrap_or_default(),
        },
        _ => Ev::Other,
    };
    (kind, ev)
}

/// Whether `ev` answers a request of type `re`: anything but an `error`,
/// or an error about such a request (a `slow_down` warning answers nothing).
pub(super) fn answers(ev: &Ev, re: &str) -> bool {
    match ev {
        Ev::Error { re: r, .. } => r.as_deref() == Some(re),
        _ => true,
    }
}
