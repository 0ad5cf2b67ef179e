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

use super::web::{self, Web, WebCtx, WsInput};
use super::{throttle, tls, Conn};
use crate::core::limits::Admit;
use crate::core::logsafe::Safe;
use crate::core::{ConnId, Core, Now};
use crate::protocol::binary::{self, ChunkData};
use crate::protocol::codec::{parse_body, split_frame, HEADER_LEN};
use crate::protocol::{fast, ClientMsg, FrameError};
use std::rc::Rc;

/// Frames decoded per connection per loop turn.
pub(super) const FRAMES_PER_TURN: u32 = 32;

/// What the input path needs besides the connection and the core.
pub(super) struct InputCtx<'a> {
    pub max_frame: usize,
    pub web: &'a WebCtx,
}

/// Append `data` to the connection's input and hand every complete frame to the core.
/// (`conn.id`, not the slab key, is what the core knows.)
pub(super) fn ingest(conn: &mut Conn, data: &[u8], core: &mut Core, cx: &InputCtx, now: Now) {
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
        if !cx.web.cfg.off && web::looks_like_http(data[0]) {
            conn.web = Some(Web::Http);
        }
    }
    match &conn.web {
        None => {}
        Some(Web::Http) => {
            web::ingest_http(conn, data, core, cx.web, cx.max_frame);
            if matches!(conn.web, Some(Web::Ws(_))) && !conn.rbuf.is_empty() {
                ingest_ws(k, conn, core, cx.max_frame, now);
            }
            return;
        }
        Some(Web::Ws(_)) => {
            conn.rbuf.extend_from_slice(data);
            return ingest_ws(k, conn, core, cx.max_frame, now);
        }
    }
    let max_frame = cx.max_frame;
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

/// A browser's buffered input: each WebSocket message is a frame.
fn ingest_ws(k: ConnId, conn: &mut Conn, core: &mut Core, max_frame: usize, now: Now) {
    let result = web::ingest_ws(
        conn,
        max_frame,
        |conn, input| match input {
            WsInput::Body(body) => handle_body(k, conn, body, None, core, now),
            WsInput::Chunk(native) => {
                conn.frames_in += 1;
                conn.turn_frames += 1;
                binary_chunk(k, Rc::from(native), core, now);
                true
            }
        },
        |conn| !conn.stop_reading && !conn.throttled && conn.turn_frames < FRAMES_PER_TURN,
    );
    if let Err(why) = result {
        log::debug!("conn {k} ({}): {}", conn.peer, Safe(&why));
        conn.rbuf.clear();
        conn.ws_closed = true;
    } else if conn.turn_frames < FRAMES_PER_TURN && !conn.throttled {
        core.caught_up(k);
    }
}

/// One frame body: decoded and handed to the core, unless the message rate
/// holds it (`false`: it waits, with everything behind it). `raw` is the
/// whole native frame when the body came in one (a chunk is forwarded as
/// it came); a browser's frame has none, and one is made if needed.
fn handle_body(
    k: ConnId,
    conn: &mut Conn,
    body: &[u8],
    raw: Option<&[u8]>,
    core: &mut Core,
    now: Now,
) -> bool {
    conn.frames_in += 1;
    conn.turn_frames += 1;
    let native = || -> Rc<[u8]> {
        match raw {
            Some(r) => Rc::from(r),
            None => {
                let mut f = (body.len() as u32).to_be_bytes().to_vec();
                f.extend_from_slice(body);
                Rc::from(f)
            }
        }
    };
    // A file chunk is forwarded as it came: its payload is neither copied
    // out of the frame nor decoded.
    if raw.is_some_and(binary::is_binary) {
        binary_chunk(k, native(), core, now);
        return true;
    }
    if let Some(c) = fast::chunk(body) {
        core.handle_chunk(k, c.id, c.offset, ChunkData::Base64(c.data), native(), now);
        return true;
    }
    // (a hello refused by the fast path is known to be one: its body is
    // not read again to name it)
    let mut kind = None;
    // (the hello path only for what is not a message: a large body whose
    // type is not first has its type read, which a message must not pay)
    let frame = match fast::message(body).map(Ok).or_else(|| fast::hello(body)) {
        Some(Ok(msg)) => Ok(msg),
        Some(Err(e)) => {
            kind = Some("hello");
            Err(FrameError::BadJson(e))
        }
        None => parse_body::<ClientMsg>(body),
    };
    // Every frame takes from the rate, one that does not decode too; past
    // it, this frame and those behind it wait.
    let admit = match &frame {
        Ok(msg) => core.admit(k, msg, now),
        Err(_) => core.admit_invalid(k, now),
    };
    if let Admit::Hold { .. } = admit {
        conn.throttled = true; // until the core says Resume
        return false;
    }
    match frame {
        Ok(ClientMsg::FileChunk { id, offset, data }) => {
            core.handle_chunk(k, id, offset, ChunkData::Base64(&data), native(), now)
        }
        Ok(ClientMsg::BinaryChunks {}) => conn.binary_chunks = true,
        Ok(msg) => core.handle(k, msg, now),
        Err(e) => {
            log::debug!("conn {k}: bad frame: {}", Safe(&e.to_string()));
            let re = kind.or_else(|| crate::protocol::kinds::readable_kind(body));
            core.frame_error(k, &e, re);
        }
    }
    true
}

/// A binary chunk frame (see `protocol::binary`), whole: to the core with
/// its payload borrowed from the frame it relays, or a `bad_frame` for one
/// too short to hold id and offset.
fn binary_chunk(k: ConnId, frame: Rc<[u8]>, core: &mut Core, now: Now) {
    match binary::parse(&frame[HEADER_LEN..]) {
        Ok((id, offset, data)) => {
            core.handle_chunk(k, id, offset, ChunkData::Raw(data), frame.clone(), now)
        }
        Err(why) => core.frame_error(k, &FrameError::BadJson(why), Some("file_chunk")),
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
                if !handle_body(k, conn, body, Some(&buf[off..off + used]), core, now) {
                    break;
                }
                off += used;
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
