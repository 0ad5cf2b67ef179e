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
//! file: [`chunk_to_native`] turns one into the native `file_chunk` frame the
//! core relays, and [`encode`] turns a native chunk frame bound for a
//! browser into a binary message.

use crate::protocol::{encode as encode_frame, fast, ClientMsg};
use base64::Engine;
use std::io::{self, Read, Write};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Bytes of a binary chunk message before its data: id and offset.
pub const CHUNK_HEADER: usize = 16;

/// The WebSocket side of a connection.
pub struct WsConn {
    ctx: WebSocketContext,
    /// A message decoded but held back by the message rate.
    pub held: Option<Message>,
    /// The peer sent a close frame (or broke the protocol): no more input.
    pub closed: bool,
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

/// A binary chunk message from a browser as the native `file_chunk` frame
/// (what the core relays byte for byte) and its parts; `Err` with a
/// sentence for a message too short to hold id and offset.
pub fn chunk_to_native(msg: &[u8]) -> Result<(u64, u64, String, Vec<u8>), String> {
    if msg.len() < CHUNK_HEADER {
        return Err(format!(
            "a binary message is a file chunk: 8 bytes of transfer id, 8 of offset, then the data; this one has {} bytes",
            msg.len()
        ));
    }
    let id = u64::from_be_bytes(msg[..8].try_into().expect("8 bytes"));
    let offset = u64::from_be_bytes(msg[8..16].try_into().expect("8 bytes"));
    let data = B64.encode(&msg[CHUNK_HEADER..]);
    let native = encode_frame(&ClientMsg::FileChunk {
        id,
        offset,
        data: data.clone(),
    });
    Ok((id, offset, data, native))
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
        let (id, offset, data, native) = chunk_to_native(&msg).unwrap();
        assert_eq!((id, offset, data.as_str()), (7, 65536, "aGVsbG8="));
        let ws = encode(&native, true);
        assert_eq!(ws[0], 0x82, "a final binary frame");
        assert_eq!(ws[1] as usize, 16 + 5);
        assert_eq!(&ws[2..], &msg[..]);
        assert!(chunk_to_native(&[0; 15]).is_err());
        // Anything else is a text message of the body.
        let text = encode(
            &crate::protocol::encode(&ClientMsg::Ping { seq: Some(1) }),
            false,
        );
        assert_eq!(text[0], 0x81);
        assert_eq!(&text[2..], br#"{"type":"ping","seq":1}"#);
    }
}
