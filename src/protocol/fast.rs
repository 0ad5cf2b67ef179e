//! Fast paths for the frames that come by the thousand: room and private
//! messages, receipts, pings, and file chunks.
//!
//! serde decodes an internally tagged enum by first buffering the whole
//! object into an intermediate tree, then decoding that again; for the
//! hottest frames we parse straight into the variant's fields instead. A
//! file chunk's base64 `data` is borrowed from the frame, never copied: the
//! server forwards the frame's bytes as they are. Any frame a fast path does
//! not accept exactly goes through the general decoder, which also produces
//! the error messages, so behaviour is the same either way.

use super::message::{ClientMsg, ReceiptKind};
use serde::Deserialize;

const ROOM_MSG: &[u8] = br#"{"type":"room_msg","#;
const PRIVATE_MSG: &[u8] = br#"{"type":"private_msg","#;
const FILE_CHUNK: &[u8] = br#"{"type":"file_chunk","#;
const RECEIPT: &[u8] = br#"{"type":"receipt","#;
const PING: &[u8] = br#"{"type":"ping""#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Receipt {
    #[serde(rename = "type")]
    _type: Tag,
    kind: ReceiptKind,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    peer: Option<String>,
    up_to: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ping {
    #[serde(rename = "type")]
    _type: Tag,
    #[serde(default)]
    seq: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomMsg {
    #[serde(rename = "type")]
    _type: Tag,
    room: String,
    text: String,
    #[serde(default)]
    cid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateMsg {
    #[serde(rename = "type")]
    _type: Tag,
    to: String,
    text: String,
    #[serde(default)]
    cid: Option<String>,
}

/// A file chunk whose payload stays in the frame.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkRef<'a> {
    #[serde(rename = "type")]
    _type: Tag,
    pub id: u64,
    pub offset: u64,
    #[serde(borrow)]
    pub data: &'a str,
}

/// The `"type"` value, already checked by the prefix match.
#[derive(Debug)]
struct Tag;

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Tag)
    }
}

/// A room or private message, a receipt or a ping, if `body` is one with
/// `type` first.
pub fn message(body: &[u8]) -> Option<ClientMsg> {
    if body.starts_with(ROOM_MSG) {
        let m: RoomMsg = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::RoomMsg {
            room: m.room,
            text: m.text,
            cid: m.cid,
        })
    } else if body.starts_with(PRIVATE_MSG) {
        let m: PrivateMsg = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::PrivateMsg {
            to: m.to,
            text: m.text,
            cid: m.cid,
        })
    } else if body.starts_with(RECEIPT) {
        let r: Receipt = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::Receipt {
            kind: r.kind,
            room: r.room,
            peer: r.peer,
            up_to: r.up_to,
        })
    } else if body.starts_with(PING) {
        let p: Ping = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::Ping { seq: p.seq })
    } else {
        None
    }
}

/// A file chunk with its `data` borrowed from `body`, if `body` is one.
pub fn chunk(body: &[u8]) -> Option<ChunkRef<'_>> {
    if !body.starts_with(FILE_CHUNK) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::parse_body;

    #[test]
    fn fast_and_general_paths_agree() {
        let cases: [&[u8]; 16] = [
            br#"{"type":"receipt","kind":"delivered","room":"general","up_to":42}"#,
            br#"{"type":"receipt","up_to":7,"kind":"read","peer":"bob"}"#,
            br#"{"type":"receipt","kind":"seen","room":"general","up_to":42}"#,
            br#"{"type":"receipt","kind":"read","room":"general"}"#,
            br#"{"type":"receipt","kind":"read","room":"g","up_to":1,"x":0}"#,
            br#"{"type":"ping","seq":5}"#,
            br#"{"type":"ping"}"#,
            br#"{"type":"ping","seq":-1}"#,
            br#"{"type":"ping","seq":1,"extra":true}"#,
            br#"{"type":"pingx","seq":1}"#,
            br#"{"type":"room_msg","room":"general","text":"hi \"there\"\n","cid":"c1"}"#,
            br#"{"type":"room_msg","room":"general","text":"no cid"}"#,
            br#"{"type":"private_msg","to":"bob","text":"psst","cid":"c2"}"#,
            br#"{"type":"room_msg","room":"general","text":"x","extra":1}"#,
            br#"{"type":"room_msg","room":"general"}"#,
            br#"{"type":"private_msg","to":"bob","text":"\u00e9"}"#,
        ];
        for body in cases {
            let general = parse_body::<ClientMsg>(body).ok();
            assert_eq!(message(body), general, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn chunks_borrow_their_payload() {
        let body = br#"{"type":"file_chunk","id":7,"offset":65536,"data":"aGVsbG8="}"#;
        let c = chunk(body).unwrap();
        assert_eq!((c.id, c.offset, c.data), (7, 65536, "aGVsbG8="));
        let start = body.as_ptr() as usize;
        let p = c.data.as_ptr() as usize;
        assert!(p > start && p < start + body.len(), "borrowed, not copied");
        assert!(chunk(br#"{"type":"file_chunk","id":7}"#).is_none());
    }
}
