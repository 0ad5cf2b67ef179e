//! Binary file chunks on the native framing: a length prefix with its top
//! bit set marks a frame whose body is the transfer id (u64, big-endian),
//! the offset (u64, big-endian), then 1 to 65,536 raw bytes: a `file_chunk`
//! without JSON and without base64 (a quarter fewer bytes, and no encoding or
//! decoding at either end). JSON bodies are at most `--max-frame` bytes,
//! far below 2^31, so the bit never collides with one.
//!
//! A server that reads them says so in `welcome` (`binary_chunks: true`); a
//! client sends them only then, and asks for them with the `binary_chunks`
//! frame (until it does, chunks reach it as JSON). [`ChunkData`] is a
//! chunk's payload in either form, as the server's core takes it.

use super::files::{base64_raw_len, MAX_CHUNK};
use super::{fast, parse_body, ClientMsg, FrameError, ServerMsg};
use base64::Engine;
use std::borrow::Cow;

/// The length prefix's bit that marks a binary chunk.
pub const FLAG: u32 = 1 << 31;
/// Bytes of a binary chunk's body before its data: id and offset.
pub const HEADER: usize = 16;
/// Largest binary chunk body: id, offset and a 64 KiB chunk.
pub const MAX_BODY: usize = HEADER + MAX_CHUNK;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A chunk's payload: base64 text from a JSON frame, or raw bytes.
#[derive(Debug, Clone, Copy)]
pub enum ChunkData<'a> {
    Base64(&'a str),
    Raw(&'a [u8]),
}

impl<'a> ChunkData<'a> {
    /// Bytes of the file it carries.
    pub fn raw_len(&self) -> u64 {
        match self {
            ChunkData::Base64(s) => base64_raw_len(s),
            ChunkData::Raw(b) => b.len() as u64,
        }
    }

    /// The file's bytes (decoded from base64 if need be).
    pub fn bytes(&self) -> Result<Cow<'a, [u8]>, String> {
        match self {
            ChunkData::Base64(s) => B64
                .decode(s)
                .map(Cow::Owned)
                .map_err(|e| format!("chunk data is not valid base64: {e}")),
            ChunkData::Raw(b) => Ok(Cow::Borrowed(b)),
        }
    }
}

/// Whether a whole native frame (prefix included) is a binary chunk.
pub fn is_binary(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x80 != 0)
}

/// The whole frame (prefix included) of a binary chunk.
pub fn frame(id: u64, offset: u64, data: &[u8]) -> Vec<u8> {
    let len = (HEADER + data.len()) as u32 | FLAG;
    let mut f = Vec::with_capacity(4 + HEADER + data.len());
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&offset.to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// A binary chunk's body as (id, offset, data); `Err` with a sentence for
/// one too short to hold id and offset.
pub fn parse(body: &[u8]) -> Result<(u64, u64, &[u8]), String> {
    if body.len() < HEADER {
        return Err(format!(
            "a binary frame is a file chunk: 8 bytes of transfer id, 8 of offset, then the data; this one has {} bytes",
            body.len()
        ));
    }
    let id = u64::from_be_bytes(body[..8].try_into().expect("8 bytes"));
    let offset = u64::from_be_bytes(body[8..16].try_into().expect("8 bytes"));
    Ok((id, offset, &body[HEADER..]))
}

/// A binary chunk frame as the JSON `file_chunk` frame, for a peer that
/// has not asked for binary; `None` if `frame` is not a well-formed one.
pub fn to_json(frame: &[u8]) -> Option<Vec<u8>> {
    let (id, offset, data) = parse(frame.get(4..)?).ok()?;
    Some(super::encode(&ClientMsg::FileChunk {
        id,
        offset,
        data: B64.encode(data),
    }))
}

/// A JSON `file_chunk` frame as a binary chunk frame; `None` if `frame` is
/// not one or its data is not base64.
pub fn from_json(frame: &[u8]) -> Option<Vec<u8>> {
    let c = fast::chunk(frame.get(4..)?)?;
    let data = B64.decode(c.data).ok()?;
    Some(self::frame(c.id, c.offset, &data))
}

/// A whole server frame in either form, as a client that reads JSON sees
/// it (a binary chunk as `file_chunk` with base64 data).
pub fn server_msg(frame: &[u8]) -> Result<ServerMsg, FrameError> {
    let json;
    let frame = match is_binary(frame) {
        true => {
            json = to_json(frame).ok_or(FrameError::BadJson("a short binary chunk".into()))?;
            &json[..]
        }
        false => frame,
    };
    parse_body(frame.get(4..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::split_frame;

    #[test]
    fn binary_and_json_chunks_turn_into_each_other() {
        let data: Vec<u8> = (0..=255u8).cycle().take(MAX_CHUNK).collect();
        let bin = frame(7, 1 << 40, &data);
        assert!(is_binary(&bin));
        assert_eq!(bin.len(), 4 + MAX_BODY);
        let json = to_json(&bin).expect("well formed");
        assert!(!is_binary(&json));
        assert_eq!(from_json(&json).expect("a chunk"), bin);
        // A quarter fewer bytes than the JSON frame (base64 is 4/3).
        assert!(
            bin.len() * 4 < json.len() * 3,
            "{} {}",
            bin.len(),
            json.len()
        );
        let (body, used) = split_frame(&bin, 1024).unwrap().unwrap();
        assert_eq!(used, bin.len());
        assert_eq!(parse(body).unwrap(), (7, 1 << 40, &data[..]));
    }

    #[test]
    fn the_example_of_protocol_md_is_these_bytes() {
        // docs/PROTOCOL.md, "Binary file chunks": 5 bytes for transfer 3
        // at offset 0.
        let f = frame(3, 0, b"hello");
        assert_eq!(f[..4], [0x80, 0x00, 0x00, 0x15]);
        assert_eq!(f[4..12], [0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(f[12..20], [0; 8]);
        assert_eq!(&f[20..], b"hello");
        let doc = include_str!("../../docs/PROTOCOL.md");
        assert!(doc.contains("`80 00 00 15`"), "the doc shows the prefix");
        assert!(doc.contains("over 65,552 bytes"), "the doc states MAX_BODY");
        assert_eq!(MAX_BODY, 65_552);
    }

    #[test]
    fn payloads_in_either_form_say_the_same() {
        let raw = b"hello, file";
        let text = B64.encode(raw);
        for d in [ChunkData::Raw(raw), ChunkData::Base64(&text)] {
            assert_eq!(d.raw_len(), raw.len() as u64);
            assert_eq!(&*d.bytes().unwrap(), raw);
        }
        assert!(ChunkData::Base64("not base64!").bytes().is_err());
    }

    #[test]
    fn short_bodies_are_refused_with_a_sentence() {
        for n in 0..HEADER {
            let e = parse(&vec![0; n]).unwrap_err();
            assert!(e.contains(&format!("this one has {n} bytes")), "{e}");
        }
        assert_eq!(parse(&[0; HEADER]).unwrap().2, b"");
        assert_eq!(to_json(&frame(1, 0, b"")[..10]), None);
    }
}
