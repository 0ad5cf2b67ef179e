//! The input path: bytes read from a connection become frames for the core.
//!
//! Frames are cut from the read buffer without copying when a read holds
//! whole frames; only a partial frame's bytes stay in the connection's
//! buffer. The hottest frames (room and private messages, file chunks) take
//! the fast decoders of `protocol::fast`; a file chunk is handed on with its
//! raw bytes, to be forwarded as they came. The message rate is applied
//! here: a frame over the rate waits, with everything behind it. At most
//! [`FRAMES_PER_TURN`] frames of one connection are decoded per loop turn;
//! the rest waits in its read buffer for the next turn, so a client that
//! floods cheap frames delays the others by one short turn at most.

use super::{files, throttle, tls, Conn};
use crate::core::limits::Admit;
use crate::core::logsafe::Safe;
use crate::core::{ConnId, Core, Now};
use crate::protocol::codec::{parse_body, split_frame};
use crate::protocol::{fast, ClientMsg, FrameError};
use std::rc::Rc;

/// Frames decoded per connection per loop turn.
pub(super) const FRAMES_PER_TURN: usize = 32;

/// Append `data` to the connection's input and hand every complete frame to the core.
/// (`conn.id`, not the slab key, is what the core knows.)
pub(super) fn ingest(conn: &mut Conn, data: &[u8], core: &mut Core, max_frame: usize, now: Now) {
    let k = conn.id;
    if conn.stop_reading {
        return; // discard input while saying goodbye
    }
    if !conn.started && !data.is_empty() {
        conn.started = true;
        if matches!(conn.transport, tls::Transport::Plain) && tls::looks_like_tls(data) {
            throttle::tls_on_plain_port(k, conn, core);
            return;
        }
    }
    if conn.rbuf.is_empty() {
        let used = decode_all(k, conn, data, core, max_frame, now);
        if !conn.stop_reading {
            conn.rbuf.extend_from_slice(&data[used..]);
        }
    } else {
        conn.rbuf.extend_from_slice(data);
        let buf = std::mem::take(&mut conn.rbuf);
        let used = decode_all(k, conn, &buf, core, max_frame, now);
        conn.rbuf = buf;
        if conn.stop_reading {
            conn.rbuf.clear();
        } else {
            conn.rbuf.drain(..used);
        }
    }
}

fn decode_all(
    k: ConnId,
    conn: &mut Conn,
    buf: &[u8],
    core: &mut Core,
    max_frame: usize,
    now: Now,
) -> usize {
    let mut off = 0;
    while !conn.stop_reading && !conn.throttled && conn.turn_frames < FRAMES_PER_TURN {
        match split_frame(&buf[off..], max_frame) {
            Ok(None) => {
                core.caught_up(k);
                break;
            }
            Ok(Some((body, used))) => {
                conn.frames_in += 1;
                conn.turn_frames += 1;
                // A file chunk is forwarded as it came: its payload is
                // neither copied out of the frame nor decoded.
                if let Some(c) = fast::chunk(body) {
                    let raw = Rc::from(&buf[off..off + used]);
                    off += used;
                    core.handle_chunk(k, c.id, c.offset, c.data, raw, now);
                    continue;
                }
                let frame = match (fast::message(body), fast::hello(body)) {
                    (Some(msg), _) | (None, Some(Ok(msg))) => Ok(msg),
                    (None, Some(Err(e))) => Err(FrameError::BadJson(e)),
                    (None, None) => parse_body::<ClientMsg>(body),
                };
                // Every frame takes from the rate, one that does not decode
                // too; past it, this frame and those behind it wait.
                let admit = match &frame {
                    Ok(msg) => core.admit(k, msg, now),
                    Err(_) => core.admit_invalid(k, now),
                };
                if let Admit::Hold { .. } = admit {
                    conn.throttled = true; // until the core says Resume
                    break;
                }
                off += used;
                match frame {
                    Ok(msg) => files::handle(core, k, msg, &buf[off - used..off], now),
                    Err(e) => {
                        log::debug!("conn {k}: bad frame: {}", Safe(&e.to_string()));
                        let re = crate::protocol::kinds::readable_kind(body);
                        core.frame_error(k, &e, re);
                    }
                }
            }
            Err(e) => {
                log::warn!(
                    "conn {k} ({}): {}; closing",
                    conn.peer,
                    Safe(&e.to_string())
                );
                core.frame_error(k, &e, None);
                conn.stop_reading = true; // the core queued a Close; stop reading now
                return buf.len();
            }
        }
    }
    off
}
