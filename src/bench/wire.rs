//! The bench's side of the chat wire, built for speed: frames the load
//! generator sends are assembled from templates (byte-identical to what
//! `chat::protocol::encode` produces, which the tests check), and the frames
//! it receives most (`message`, `ack`, `notice`, `receipts`) are recognised
//! without a JSON parse. Anything else falls back to the library's serde
//! decoder.
//!
//! Every benchmark message carries a [`Stamp`] at the start of its text: the
//! send time in nanoseconds since the bench started, the publisher and a
//! sequence number, all fixed-width decimal digits (read eight at a time),
//! padded with `x` to the message size.

use crate::protocol::{binary, parse_body, ServerMsg};

/// Smallest payload that holds a [`Stamp`].
pub const STAMP_LEN: usize = 42;

/// What a benchmark message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When it was queued for sending, ns since the bench's epoch (below
    /// 10^16, i.e. runs shorter than 115 days).
    pub ts_ns: u64,
    /// Below 10^8.
    pub publisher: u32,
    /// Below 10^16.
    pub seq: u64,
}

#[inline]
fn put_digits(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[inline]
fn get_digits(s: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.wrapping_mul(10).wrapping_add(d as u64);
    }
    Some(v)
}

/// Eight ASCII digits to their value, all at once (SWAR), or `None` if any
/// byte is not a digit.
#[inline]
fn eight_digits(s: &[u8]) -> Option<u64> {
    let v = u64::from_le_bytes(s[..8].try_into().ok()?);
    // A byte below b'0' sets the top bit of `lo`, one above b'9' that of `hi`.
    let lo = v.wrapping_sub(0x3030_3030_3030_3030);
    let hi = v.wrapping_add(0x4646_4646_4646_4646);
    if (lo | hi) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    let v = lo.wrapping_mul(10).wrapping_add(lo >> 8);
    let mask = 0x0000_00FF_0000_00FF;
    let v = ((v & mask).wrapping_mul(100 + (1_000_000 << 32)))
        .wrapping_add(((v >> 16) & mask).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v)
}

/// Write `stamp` into `out` (at least [`STAMP_LEN`] bytes), padding with `x`.
/// Layout: 16 digits of time, `.`, 8 digits of publisher, `.`, 16 digits of
/// sequence.
pub fn write_stamp(out: &mut [u8], stamp: Stamp) {
    assert!(out.len() >= STAMP_LEN, "payload shorter than a stamp");
    put_digits(&mut out[0..16], stamp.ts_ns % 10_000_000_000_000_000);
    out[16] = b'.';
    put_digits(&mut out[17..25], stamp.publisher as u64 % 100_000_000);
    out[25] = b'.';
    put_digits(&mut out[26..42], stamp.seq % 10_000_000_000_000_000);
    out[STAMP_LEN..].fill(b'x');
}

/// Read the stamp at the start of a payload.
#[inline]
pub fn read_stamp(p: &[u8]) -> Option<Stamp> {
    if p.len() < STAMP_LEN || p[16] != b'.' || p[25] != b'.' {
        return None;
    }
    Some(Stamp {
        ts_ns: eight_digits(&p[0..8])? * 100_000_000 + eight_digits(&p[8..16])?,
        publisher: eight_digits(&p[17..25])? as u32,
        seq: eight_digits(&p[26..34])? * 100_000_000 + eight_digits(&p[34..42])?,
    })
}

/// A frame with a hole for the payload: `head + payload + tail`.
#[derive(Debug, Clone)]
pub struct Template {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    pub payload_len: usize,
}

impl Template {
    /// Append one frame whose payload carries `stamp`.
    #[inline]
    pub fn push(&self, out: &mut Vec<u8>, stamp: Stamp) {
        out.extend_from_slice(&self.head);
        let at = out.len();
        out.resize(at + self.payload_len, 0);
        write_stamp(&mut out[at..], stamp);
        out.extend_from_slice(&self.tail);
    }

    fn json(body_head: String, body_tail: &str, payload_len: usize) -> Template {
        let body_len = body_head.len() + payload_len + body_tail.len();
        let mut head = (body_len as u32).to_be_bytes().to_vec();
        head.extend_from_slice(body_head.as_bytes());
        Template {
            head,
            tail: body_tail.as_bytes().to_vec(),
            payload_len,
        }
    }

    /// `room_msg{room, text}` (no cid). `room` must be a valid room name (no
    /// characters that JSON escapes).
    pub fn room_msg(room: &str, payload_len: usize) -> Template {
        Template::json(
            format!(r#"{{"type":"room_msg","room":"{room}","text":""#),
            r#""}"#,
            payload_len,
        )
    }

    /// `private_msg{to, text}` (no cid).
    pub fn private_msg(to: &str, payload_len: usize) -> Template {
        Template::json(
            format!(r#"{{"type":"private_msg","to":"{to}","text":""#),
            r#""}"#,
            payload_len,
        )
    }

    /// `PUBLISH channel payload` for the Redis adapter.
    pub fn publish(channel: &str, payload_len: usize) -> Template {
        let (head, tail) = super::resp::publish_template(channel.as_bytes(), payload_len);
        Template {
            head,
            tail,
            payload_len,
        }
    }
}

/// What a received chat frame body is, as far as the bench cares.
#[derive(Debug)]
pub enum ChatIn<'a> {
    /// A `message`: its id and text.
    Message { id: u64, text: &'a [u8] },
    /// An `ack`: how many others the message was addressed to.
    Ack { recipients: u32 },
    /// A `join` notice (counted during setup).
    JoinNotice,
    /// A `receipts` frame (markers the server tells an author), not parsed.
    Receipts,
    /// Anything else, decoded (including a `message` the fast path did not
    /// recognise, e.g. one whose text has another size).
    Other(ServerMsg),
    /// Not a frame the library can decode.
    Bad(String),
}

const MSG_PREFIX: &[u8] = br#"{"type":"message","#;
const ACK_PREFIX: &[u8] = br#"{"type":"ack","#;
const JOIN_PREFIX: &[u8] = br#"{"type":"notice","event":"join","#;
const RECEIPTS_PREFIX: &[u8] = br#"{"type":"receipts","#;
const ID_KEY: &[u8] = br#""id":"#;
const TEXT_KEY: &[u8] = br#""text":""#;
const RECIPIENTS_KEY: &[u8] = br#""recipients":"#;

/// Classify a frame body. `text_len` is the payload size the bench sends:
/// a `message` whose `id` is the first field after the type and whose text is
/// the last field with exactly that many bytes is recognised without a parse
/// (the server writes fields in declaration order: `id` first, `text` last).
#[inline]
pub fn classify(body: &[u8], text_len: usize) -> ChatIn<'_> {
    if body.starts_with(MSG_PREFIX) {
        let n = body.len();
        if n >= MSG_PREFIX.len() + TEXT_KEY.len() + text_len + 2 && body.ends_with(b"\"}") {
            let start = n - 2 - text_len;
            if &body[start - TEXT_KEY.len()..start] == TEXT_KEY {
                if let Some(id) = leading_id(&body[MSG_PREFIX.len()..start]) {
                    return ChatIn::Message {
                        id,
                        text: &body[start..n - 2],
                    };
                }
            }
        }
    } else if body.starts_with(ACK_PREFIX) && body.ends_with(b"}") {
        // `..."recipients":N}`: recipients is the last field.
        let digits_end = body.len() - 1;
        let mut i = digits_end;
        while i > 0 && body[i - 1].is_ascii_digit() {
            i -= 1;
        }
        if i < digits_end && body[..i].ends_with(RECIPIENTS_KEY) {
            if let Some(r) = get_digits(&body[i..digits_end]) {
                return ChatIn::Ack {
                    recipients: r as u32,
                };
            }
        }
    } else if body.starts_with(JOIN_PREFIX) {
        return ChatIn::JoinNotice;
    } else if body.starts_with(RECEIPTS_PREFIX) && body.ends_with(b"}") {
        return ChatIn::Receipts;
    }
    match parse_body::<ServerMsg>(body) {
        Ok(ServerMsg::Ack { recipients, .. }) => ChatIn::Ack { recipients },
        Ok(ServerMsg::Notice {
            event: crate::protocol::NoticeKind::Join,
            ..
        }) => ChatIn::JoinNotice,
        Ok(ServerMsg::Receipts { .. }) => ChatIn::Receipts,
        Ok(m) => ChatIn::Other(m),
        Err(e) => ChatIn::Bad(e.to_string()),
    }
}

/// The value of a leading `"id":N,` (what follows a message's type).
#[inline]
fn leading_id(s: &[u8]) -> Option<u64> {
    let rest = s.strip_prefix(ID_KEY)?;
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 19 || rest.get(n) != Some(&b',') {
        return None;
    }
    get_digits(&rest[..n])
}

/// Split one length-prefixed frame off the front of `buf`: the body and the
/// bytes used, `Ok(None)` if incomplete, `Err` if the length exceeds `max`.
/// A binary chunk's body (`protocol::binary`) comes without its flag: tell
/// it by `buf[0]`.
#[inline]
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) & !binary::FLAG;
    let n = n as usize;
    if n > max {
        return Err(format!("server frame of {n} bytes exceeds {max}"));
    }
    if buf.len() < 4 + n {
        return Ok(None);
    }
    Ok(Some((&buf[4..4 + n], 4 + n)))
}

/// A `hello` frame logging `name` in to `room`, with only the fields every
/// protocol version 1 server takes (built directly, so that optional fields
/// added to `ClientMsg::Hello` later need no change here).
pub fn hello(name: &str, room: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "hello",
        "version": crate::protocol::PROTOCOL_VERSION,
        "name": name,
        "room": room,
    })
    .to_string();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The HTTP request that upgrades a connection to the chat WebSocket, as a
/// browser on the server's own page sends it.
pub fn ws_upgrade(host: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://{host}\r\n\r\n"
    )
    .into_bytes()
}

/// The WebSocket client frame header (text, final) for a `len`-byte body:
/// clients must mask (RFC 6455); a zero key leaves the body's bytes as they
/// are, so a body can be written straight after the header.
pub fn ws_header(len: usize) -> Vec<u8> {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let header = tungstenite::protocol::frame::FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(Data::Text),
        mask: Some([0; 4]),
    };
    let mut out = Vec::with_capacity(14);
    header
        .format(len as u64, &mut out)
        .expect("writing to a Vec cannot fail");
    out
}

/// A native frame (length prefix and body) as a WebSocket client frame.
pub fn ws_frame(native: &[u8]) -> Vec<u8> {
    let body = &native[4..];
    let mut out = ws_header(body.len());
    out.extend_from_slice(body);
    out
}

/// Split one server WebSocket frame off the front of `buf`: its payload and
/// the bytes used; `Ok(None)` if incomplete.
pub fn split_ws_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, String> {
    let mut cursor = std::io::Cursor::new(buf);
    let (_, len) = match tungstenite::protocol::frame::FrameHeader::parse(&mut cursor) {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("bad WebSocket frame from the server: {e}")),
    };
    let len = len as usize;
    if len > max {
        return Err(format!("server frame of {len} bytes exceeds {max}"));
    }
    let at = cursor.position() as usize;
    if buf.len() < at + len {
        return Ok(None);
    }
    Ok(Some((&buf[at..at + len], at + len)))
}

impl Template {
    /// The same frame as a WebSocket client text frame (zero mask key).
    pub fn websocket(&self) -> Template {
        let body_len = self.head.len() - 4 + self.payload_len + self.tail.len();
        let mut head = ws_header(body_len);
        head.extend_from_slice(&self.head[4..]);
        Template {
            head,
            tail: self.tail.clone(),
            payload_len: self.payload_len,
        }
    }
}

/// A cumulative `receipt{kind:"delivered", room, up_to}`, the frame
/// chat-client sends after each batch of frames it read (one per
/// conversation with news, `up_to` the newest id read). Only `up_to` changes
/// from one to the next, so the body is a fixed head, the digits and `}`.
#[derive(Debug, Clone)]
pub struct DeliveredReceipt {
    body_head: Vec<u8>,
    websocket: bool,
}

impl DeliveredReceipt {
    /// Receipts for `room` (a valid room name: nothing JSON escapes), as
    /// native frames or, with `websocket`, as WebSocket client frames.
    pub fn new(room: &str, websocket: bool) -> DeliveredReceipt {
        DeliveredReceipt {
            body_head: format!(r#"{{"type":"receipt","kind":"delivered","room":"{room}","up_to":"#)
                .into_bytes(),
            websocket,
        }
    }

    /// Append the receipt covering everything up to `up_to`.
    #[inline]
    pub fn push(&self, out: &mut Vec<u8>, up_to: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = up_to;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let body_len = self.body_head.len() + (digits.len() - at) + 1;
        if self.websocket {
            out.extend_from_slice(&ws_header(body_len));
        } else {
            out.extend_from_slice(&(body_len as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.body_head);
        out.extend_from_slice(&digits[at..]);
        out.push(b'}');
    }
}
