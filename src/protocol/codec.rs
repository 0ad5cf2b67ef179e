//! Length-prefixed JSON framing.
//!
//! Decoding is incremental: [`decode_frame`] looks at the bytes buffered so far
//! and returns `Ok(None)` when a whole frame has not arrived yet ("not enough
//! bytes" is not an error). Errors say whether the stream can still be trusted:
//! a frame that is too large breaks framing, while bad JSON inside a correctly
//! framed body does not.

use super::binary;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::rc::Rc;

/// Default largest client frame body the server accepts: 128 KiB. The
/// largest frame a client needs is a 64 KiB file chunk (87,4xx bytes in
/// base64); a 4,000-character message is at most 24 KB even with every
/// character escaped. Decoding a frame costs time in proportion to its size
/// on the loop everyone shares, so the bound is kept near what is needed.
pub const DEFAULT_MAX_FRAME: usize = 128 * 1024;

/// Largest server frame a client accepts: a server's lists (users, rooms,
/// files) may be long.
pub const MAX_SERVER_FRAME: usize = 16 * 1024 * 1024;

/// Length of the big-endian size prefix.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The declared length exceeds the limit; framing cannot be trusted afterwards.
    TooLarge { size: usize, max: usize },
    /// The body is not valid UTF-8.
    NotUtf8,
    /// The body is not a JSON object with a known `"type"` and the right fields.
    BadJson(String),
}

impl FrameError {
    /// Whether the byte stream is still usable after this error.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FrameError::TooLarge { .. })
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { size, max } => write!(
                f,
                "frame of {size} bytes is larger than the maximum of {max} bytes"
            ),
            FrameError::NotUtf8 => write!(f, "frame body is not valid UTF-8"),
            FrameError::BadJson(e) => write!(f, "frame body is not a valid message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A decoded frame and how many bytes of the buffer it used.
#[derive(Debug)]
pub struct Decoded<T> {
    pub frame: Result<T, FrameError>,
    pub consumed: usize,
}

/// Try to decode one frame from the front of `buf`.
///
/// Returns `Ok(None)` if more bytes are needed, `Err` for a fatal framing error
/// (the caller should send an error and close), and `Ok(Some(decoded))` for a
/// complete frame whose body may still be invalid (`decoded.frame` is `Err`); in
/// that case the bad frame is skipped by `decoded.consumed` bytes.
pub fn decode_frame<T: DeserializeOwned>(
    buf: &[u8],
    max: usize,
) -> Result<Option<Decoded<T>>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    if buf.len() < HEADER_LEN + size {
        return Ok(None);
    }
    let body = &buf[HEADER_LEN..HEADER_LEN + size];
    Ok(Some(Decoded {
        frame: parse_body(body),
        consumed: HEADER_LEN + size,
    }))
}

/// The body of the frame at the front of `buf` and the bytes the whole frame
/// takes, without parsing it; `Ok(None)` until it has all arrived. A binary
/// chunk (see [`super::binary`]) is bounded by its own size, not `max`.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let prefix = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let (size, max) = match prefix & binary::FLAG {
        0 => (prefix as usize, max),
        _ => ((prefix & !binary::FLAG) as usize, binary::MAX_BODY),
    };
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    if buf.len() < HEADER_LEN + size {
        return Ok(None);
    }
    Ok(Some((
        &buf[HEADER_LEN..HEADER_LEN + size],
        HEADER_LEN + size,
    )))
}

/// Parse a frame body (without the length prefix).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let text = std::str::from_utf8(body).map_err(|_| FrameError::NotUtf8)?;
    serde_json::from_str(text).map_err(|e| FrameError::BadJson(describe_json_error(text, e)))
}

fn describe_json_error(text: &str, e: serde_json::Error) -> String {
    use super::shape::{shape, Shape};
    // Give the peer a sentence rather than serde's internals where we can
    // (read in one pass that builds nothing, see `shape`).
    match shape(text) {
        Shape::NotJson => format!("not JSON ({e})"),
        Shape::NotObject => "expected a JSON object".to_string(),
        Shape::NoType => "missing \"type\" field".to_string(),
        // The type itself; an unknown value in another field (a `status`
        // of "dancing") keeps serde's sentence, which names the values
        // allowed.
        Shape::Type(t) if e.to_string().contains(&format!("unknown variant `{t}`")) => {
            format!("unknown frame type \"{t}\"")
        }
        Shape::Type(_) | Shape::Other => e.to_string(),
    }
}

/// Encode a message as a complete frame (length prefix + JSON).
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Most frames fit: growing a Vec while serializing showed in profiles.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    // Serializing our own types into a Vec cannot fail.
    serde_json::to_writer(&mut out, msg).expect("serializable frame");
    let len = (out.len() - HEADER_LEN) as u32;
    out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out
}

/// Encode once into a shared buffer, for fan-out to many connections.
pub fn encode_shared<T: Serialize>(msg: &T) -> Rc<[u8]> {
    Rc::from(encode(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::ClientMsg;

    #[test]
    fn the_largest_frames_a_client_needs_fit_the_default_limit() {
        use base64::Engine;
        let chunk = encode(&ClientMsg::FileChunk {
            id: u64::MAX,
            offset: u64::MAX,
            data: base64::engine::general_purpose::STANDARD
                .encode(vec![0xff; crate::protocol::files::MAX_CHUNK]),
        });
        assert!(
            chunk.len() - HEADER_LEN <= DEFAULT_MAX_FRAME,
            "{}",
            chunk.len()
        );
        // 4,000 characters that JSON escapes as \u00XX (6 bytes each).
        let text = encode(&ClientMsg::RoomMsg {
            room: "r".repeat(32),
            text: "\u{1}".repeat(4_000),
            cid: Some("c".repeat(64)),
        });
        assert!(
            text.len() - HEADER_LEN <= DEFAULT_MAX_FRAME / 4,
            "{}",
            text.len()
        );
    }

    #[test]
    fn partial_then_whole() {
        let f = encode(&ClientMsg::Ping { seq: Some(7) });
        for cut in 0..f.len() {
            assert!(decode_frame::<ClientMsg>(&f[..cut], 1000)
                .unwrap()
                .is_none());
        }
        let d = decode_frame::<ClientMsg>(&f, 1000).unwrap().unwrap();
        assert_eq!(d.consumed, f.len());
        assert!(matches!(d.frame, Ok(ClientMsg::Ping { seq: Some(7) })));
    }

    #[test]
    fn too_large_is_fatal() {
        let mut buf = (2000u32).to_be_bytes().to_vec();
        buf.extend_from_slice(b"{}");
        let e = decode_frame::<ClientMsg>(&buf, 1000).unwrap_err();
        assert!(e.is_fatal());
        assert!(e.to_string().contains("2000"));
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn bad_bodies_are_not_fatal() {
        let cases: [(&[u8], &str); 6] = [
            (b"\xff\xfe", "UTF-8"),
            (b"{not json", "not JSON"),
            (b"[1,2]", "object"),
            (b"{\"x\":1}", "missing \"type\""),
            (b"{\"type\":\"fly\"}", "unknown frame type \"fly\""),
            (
                b"{\"type\":\"set_status\",\"status\":\"fly\"}",
                "unknown variant `fly`, expected one of `online`, `busy`, `away`",
            ),
        ];
        for (body, want) in cases {
            let d = decode_frame::<ClientMsg>(&framed(body), 1000)
                .unwrap()
                .unwrap();
            let e = d.frame.unwrap_err();
            assert!(!e.is_fatal());
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
    }
}
