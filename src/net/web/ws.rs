//! A WebSocket connection (RFC 6455): tungstenite's `WebSocketContext` does
//! the framing, masking, fragments, control frames and limits; it is driven
//! over in-memory buffers ([`Pipe`]) instead of the socket, so the shell's
//! TLS, write queue, backpressure and rate limits apply to a browser exactly
//! as to a native client.
//!
//! One WebSocket message carries one protocol frame. A text message is a
//! frame body (the JSON, without the native 4-byte length prefix). File
//! chunks travel as binary messages, `id` (u64, big-endian), `offset` (u64,
//! big-endian), then the raw bytes, so a browser never base64-encodes a
//! file: [`chunk_to_native`] turns one into the native binary chunk frame
//! (`protocol::binary`, the same bytes behind a length prefix) the core
//! relays, and [`encode`] turns a native chunk frame bound for a browser, in
//! either form, into a binary message.

use crate::protocol::{binary, fast};
use base64::Engine;
use std::io::{self, Read, Write};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The WebSocket side of a connection.
pub struct WsConn {
    ctx: WebSocketContext,
    /// A message decoded but held back by the message rate.
    pub held: Option<Message>,
    /// The peer sent a close frame (or broke the protocol): no more input.
    pub closed: bool,
    /// Bytes at the front of the connection's read buffer that finish a
    /// frame the WebSocket has begun reading (it reads in chunks, which may
    /// end inside a frame): frame boundaries are found after them.
    pub carry: usize,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("held", &self.held.is_some())
            .field("closed", &self.closed)
            .finish()
    }
}

/// Reads from a slice (`WouldBlock` at its end), writes into a vector.
struct Pipe<'a> {
    rx: &'a [u8],
    pos: &'a mut usize,
    tx: &'a mut Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.rx[*self.pos..];
        if left.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        *self.pos += n;
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A message for the caller of [`WsConn::feed`].
pub enum WsInput<'a> {
    /// A text message: a protocol frame body.
    Body(&'a [u8]),
    /// A binary message: a file chunk, as a native binary chunk frame.
    Chunk(Vec<u8>),
}

/// What [`WsConn::feed`] asks its caller.
pub enum Step<'a> {
    /// Go on with the next message?
    More,
    /// Take this one (`false`: held back, offer it again next time).
    Input(WsInput<'a>),
}

/// What [`WsConn::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A whole message.
    Message(Message),
    /// Every byte of `input` is taken; more are needed.
    NeedMore,
    /// The peer closed, or broke the protocol (the reason, for the log).
    Closed(String),
}

impl WsConn {
    /// A server-side WebSocket whose messages may be `max_message` bytes.
    pub fn new(max_message: usize) -> WsConn {
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        WsConn {
            ctx: WebSocketContext::new(Role::Server, Some(config)),
            held: None,
            closed: false,
            carry: 0,
        }
    }

    /// The next message from `input[*used..]` (advancing `used` past what
    /// was read); control frames the peer is owed (pong, close) are written
    /// to `out`.
    pub fn next(&mut self, input: &[u8], used: &mut usize, out: &mut Vec<u8>) -> Next {
        if let Some(m) = self.held.take() {
            return Next::Message(m);
        }
        let mut pipe = Pipe {
            rx: input,
            pos: used,
            tx: out,
        };
        loop {
            match self.ctx.read(&mut pipe) {
                Ok(Message::Close(_)) => {
                    // tungstenite queued the answering close; write it.
                    let _ = self.ctx.flush(&mut pipe);
                    self.closed = true;
                    return Next::Closed("the browser closed the WebSocket".into());
                }
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) | Ok(Message::Frame(_)) => {
                    let _ = self.ctx.flush(&mut pipe);
                }
                Ok(m) => return Next::Message(m),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = self.ctx.flush(&mut pipe);
                    return Next::NeedMore;
                }
                Err(e) => {
                    self.closed = true;
                    return Next::Closed(format!("WebSocket error: {e}"));
                }
            }
        }
    }

    /// Feed the read buffer `rbuf` to the WebSocket: whole frames only (a
    /// partial one stays in `rbuf` for the frame timer), each message handed
    /// to `step` as [`Step::Input`], which returns `false` to stop (the
    /// message rate holds it: it is kept and offered first next time);
    /// [`Step::More`] asks whether to go on before each message. What the
    /// peer is owed (pong, close) is written to `out`. `Err` with a reason
    /// once the socket closed or broke the protocol.
    pub fn feed(
        &mut self,
        rbuf: &mut Vec<u8>,
        max_message: usize,
        out: &mut Vec<u8>,
        mut step: impl FnMut(Step<'_>) -> bool,
    ) -> Result<(), String> {
        // The first `carry` bytes finish a frame the WebSocket has begun.
        let carry = self.carry.min(rbuf.len());
        let whole = carry + whole_frames(&rbuf[carry..], max_message);
        let mut used = 0;
        let mut result = Ok(());
        while step(Step::More) {
            match self.next(&rbuf[..whole], &mut used, out) {
                Next::NeedMore => break,
                Next::Closed(why) => {
                    result = Err(why);
                    break;
                }
                Next::Message(m) => {
                    let ok = match &m {
                        Message::Text(t) => step(Step::Input(WsInput::Body(t.as_bytes()))),
                        Message::Binary(b) => match chunk_to_native(b) {
                            Ok(native) => step(Step::Input(WsInput::Chunk(native))),
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        },
                        _ => true,
                    };
                    if !ok {
                        self.held = Some(m);
                        break;
                    }
                }
            }
        }
        self.carry = if used <= carry {
            carry - used
        } else {
            carry_after(&rbuf[carry..], used - carry)
        };
        rbuf.drain(..used);
        result
    }

    /// The close frame that ends a connection the server closes.
    pub fn close_frame(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut pipe = Pipe {
            rx: &[],
            pos: &mut pos,
            tx: &mut out,
        };
        let _ = self.ctx.close(&mut pipe, None);
        let _ = self.ctx.flush(&mut pipe);
        out
    }
}

/// How many bytes at the front of `buf` are whole WebSocket frames (parsed
/// with tungstenite's own header parser). Only those are handed to the
/// WebSocket, so a frame still arriving waits in the connection's read
/// buffer, where the shell's frame timer sees it (`--frame-timeout`), as it
/// sees a native partial frame. A header that does not parse, or announces
/// more than `max` bytes, counts as whole: the WebSocket then refuses it at
/// once, so no announced length makes the buffer grow past `max`.
pub fn whole_frames(buf: &[u8], max: usize) -> usize {
    let mut at = 0;
    while at < buf.len() {
        let mut cursor = std::io::Cursor::new(&buf[at..]);
        match FrameHeader::parse(&mut cursor) {
            Ok(Some((_, len))) if len > max as u64 => return buf.len(),
            Ok(Some((_, len))) => {
                let end = (at as u64)
                    .saturating_add(cursor.position())
                    .saturating_add(len);
                if end > buf.len() as u64 {
                    break;
                }
                at = end as usize;
            }
            Ok(None) => break,
            Err(_) => return buf.len(),
        }
    }
    at
}

/// With `buf` starting at a frame boundary and its first `used` bytes read
/// by the WebSocket: how many bytes after `used` finish the frame it is in
/// the middle of (0 at a boundary).
pub fn carry_after(buf: &[u8], used: usize) -> usize {
    let mut at = 0;
    while at < used {
        let mut cursor = std::io::Cursor::new(&buf[at..]);
        let Ok(Some((_, len))) = FrameHeader::parse(&mut cursor) else {
            return 0;
        };
        let end = (at as u64)
            .saturating_add(cursor.position())
            .saturating_add(len);
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        if end > used {
            return end - used;
        }
        at = end;
    }
    0
}

/// A WebSocket frame (unmasked, as a server sends) holding `payload`.
fn frame(opcode: Data, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(opcode),
        mask: None,
    };
    let mut out = Vec::with_capacity(len + 10);
    header
        .format(len as u64, &mut out)
        .expect("writing to a Vec cannot fail");
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// The WebSocket form of a native frame (length prefix and body) for a
/// browser: a text message of the body, or, for a file chunk, a binary
/// message of id, offset and the decoded bytes.
pub fn encode(native: &[u8], chunk: bool) -> Vec<u8> {
    let body = native.get(4..).unwrap_or_default();
    if chunk && binary::is_binary(native) {
        return frame(Data::Binary, &[body]);
    }
    if chunk {
        if let Some(c) = fast::chunk(body) {
            if let Ok(data) = B64.decode(c.data) {
                return frame(
                    Data::Binary,
                    &[&c.id.to_be_bytes(), &c.offset.to_be_bytes(), &data],
                );
            }
        }
    }
    frame(Data::Text, &[body])
}

/// A binary chunk message from a browser as the native binary chunk frame
/// (what the core relays byte for byte); `Err` with a sentence for a
/// message too short to hold id and offset.
pub fn chunk_to_native(msg: &[u8]) -> Result<Vec<u8>, String> {
    let (id, offset, data) = binary::parse(msg)?;
    Ok(binary::frame(id, offset, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, as a browser sends.
    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![0x80 | opcode];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn text_messages_arrive_whole_across_splits_and_pings_are_answered() {
        let mut ws = WsConn::new(1024);
        let mut input = masked(0x9, b"hi"); // ping
        input.extend(masked(0x1, br#"{"type":"ping","seq":1}"#));
        let (mut used, mut out) = (0, Vec::new());
        // Fed one byte at a time: nothing until the message is whole.
        let mut got = None;
        for end in 1..=input.len() {
            match ws.next(&input[..end], &mut used, &mut out) {
                Next::Message(m) => {
                    got = Some(m);
                    break;
                }
                Next::NeedMore => {}
                Next::Closed(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, Some(Message::text(r#"{"type":"ping","seq":1}"#)));
        assert_eq!(used, input.len());
        assert_eq!(out, [0x8a, 2, b'h', b'i'], "the pong");
    }

    #[test]
    fn only_whole_frames_are_counted() {
        let one = masked(0x1, b"hello");
        let mut two = one.clone();
        two.extend(masked(0x1, &[b'x'; 200]));
        assert_eq!(whole_frames(&one, 1024), one.len());
        assert_eq!(whole_frames(&two, 1024), two.len());
        assert_eq!(whole_frames(&two[..two.len() - 1], 1024), one.len());
        assert_eq!(whole_frames(&two[..one.len() + 1], 1024), one.len());
        assert_eq!(whole_frames(&[], 1024), 0);
        // Read up to inside the second frame: the rest of it carries over.
        assert_eq!(carry_after(&two, one.len() + 5), two.len() - one.len() - 5);
        assert_eq!(carry_after(&two, one.len()), 0);
        assert_eq!(carry_after(&two, 3), one.len() - 3);
        // A header announcing more than the limit is handed over at once.
        let big = masked(0x1, &[b'x'; 2000]);
        assert_eq!(whole_frames(&big[..10], 1024), 10);
    }

    /// Stopped after a few messages (the shell's frames-per-turn budget)
    /// while the WebSocket's 4 KiB reads end inside a frame, `feed` must go
    /// on from the same buffer next time without waiting for more input.
    #[test]
    fn feeding_resumes_mid_frame_without_new_input() {
        let mut input = Vec::new();
        let mut want = Vec::new();
        for i in 0..200 {
            // As chat-bench sends them: JSON, and a zero mask key, so the
            // middle of a frame can parse as a plausible header.
            // `~~~~` in the middle reads as a header announcing 32,382
            // bytes: counted from there, no frame would look whole.
            let text = format!(
                r#"{{"type":"room_msg","room":"general","text":"{i} {}"}}"#,
                "~".repeat(300 + i % 97)
            );
            let mut f = vec![0x81, 0x80 | 126];
            f.extend((text.len() as u16).to_be_bytes());
            f.extend([0, 0, 0, 0]);
            f.extend(text.as_bytes());
            input.extend(f);
            want.push(text);
        }
        let mut ws = WsConn::new(1 << 16);
        let (mut rbuf, mut out, mut got) = (Vec::new(), Vec::new(), Vec::<String>::new());
        // Input arrives 1,500 bytes at a time; after each arrival the shell
        // feeds 7 messages a turn for as long as messages come out.
        for piece in input.chunks(1500) {
            rbuf.extend_from_slice(piece);
            loop {
                let before = got.len();
                let mut budget = 7;
                ws.feed(&mut rbuf, 1 << 16, &mut out, |step| match step {
                    Step::More => budget > 0,
                    Step::Input(WsInput::Body(b)) => {
                        budget -= 1;
                        got.push(String::from_utf8(b.to_vec()).unwrap());
                        true
                    }
                    Step::Input(_) => panic!("a chunk"),
                })
                .unwrap();
                if got.len() == before {
                    break;
                }
            }
        }
        assert_eq!(got, want);
        assert!(rbuf.is_empty());
    }

    #[test]
    fn oversized_and_unmasked_messages_close_the_socket() {
        let mut ws = WsConn::new(16);
        let input = masked(0x1, &[b'a'; 100]);
        let (mut used, mut out) = (0, Vec::new());
        assert!(matches!(
            ws.next(&input, &mut used, &mut out),
            Next::Closed(_)
        ));
        let mut ws = WsConn::new(1024);
        let unmasked = [0x81, 2, b'h', b'i'];
        let (mut used, mut out) = (0, Vec::new());
        assert!(matches!(
            ws.next(&unmasked, &mut used, &mut out),
            Next::Closed(_)
        ));
    }

    #[test]
    fn chunks_cross_between_binary_and_native_forms() {
        let mut msg = 7u64.to_be_bytes().to_vec();
        msg.extend(65536u64.to_be_bytes());
        msg.extend(b"hello");
        let native = chunk_to_native(&msg).unwrap();
        assert_eq!(native, binary::frame(7, 65536, b"hello"));
        // Either native form of the chunk is the same binary message.
        let json = binary::to_json(&native).unwrap();
        assert!(String::from_utf8_lossy(&json).contains(r#""data":"aGVsbG8=""#));
        for form in [&native, &json] {
            let ws = encode(form, true);
            assert_eq!(ws[0], 0x82, "a final binary frame");
            assert_eq!(ws[1] as usize, 16 + 5);
            assert_eq!(&ws[2..], &msg[..]);
        }
        assert!(chunk_to_native(&[0; 15]).is_err());
        // Anything else is a text message of the body.
        let ping = crate::protocol::ClientMsg::Ping { seq: Some(1) };
        let text = encode(&crate::protocol::encode(&ping), false);
        assert_eq!(text[0], 0x81);
        assert_eq!(&text[2..], br#"{"type":"ping","seq":1}"#);
    }
}
