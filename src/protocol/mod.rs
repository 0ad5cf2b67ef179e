//! The wire protocol, free of I/O.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes holding one
//! UTF-8 JSON object with a `"type"` field. [`codec`] turns bytes into frames and
//! back, incrementally and with a size limit; [`message`] holds the typed frames
//! each side sends; [`binary`] the file chunks a length with its top bit set
//! marks, raw bytes in place of JSON. docs/PROTOCOL.md documents every frame
//! with an example.

pub mod binary;
pub mod codec;
pub mod error_code;
pub mod fast;
pub mod filename;
pub mod files;
pub mod hot;
pub mod kinds;
pub mod lengths;
pub mod message;
pub mod numbers;
pub mod secret;
pub mod shape;
pub mod values;

pub use codec::{
    decode_frame, encode, encode_shared, parse_body, Decoded, FrameError, DEFAULT_MAX_FRAME,
    MAX_SERVER_FRAME,
};
pub use message::*;
pub use secret::Secret;

/// Version carried in `hello`; a server refuses any other.
pub const PROTOCOL_VERSION: u32 = 1;
