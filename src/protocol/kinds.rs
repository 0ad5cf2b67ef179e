//! Every client frame type, and reading a frame's `type` when the rest of
//! it does not decode (so a `bad_frame` error can name the frame it
//! answers, as an error answering a known frame does).

use serde::Deserialize;

/// Every client frame type (`ClientMsg`'s tags), in the document's order.
pub const CLIENT_KINDS: &[&str] = &[
    "hello",
    "logout",
    "change_password",
    "ping",
    "room_msg",
    "private_msg",
    "set_status",
    "set_topic",
    "typing",
    "receipt",
    "create_room",
    "join",
    "leave",
    "list_rooms",
    "list_users",
    "history",
    "search",
    "call",
    "call_accept",
    "call_decline",
    "hangup",
    "file_offer",
    "file_accept",
    "file_reject",
    "file_credit",
    "file_chunk",
    "file_pause",
    "file_resume",
    "file_cancel",
    "file_done",
    "file_failed",
    "upload",
    "list_files",
    "download",
];

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// The `type` of an undecodable frame body, if it names a client frame.
pub fn readable_kind(body: &[u8]) -> Option<&'static str> {
    let t: TypeOnly = serde_json::from_slice(body).ok()?;
    CLIENT_KINDS.iter().copied().find(|k| *k == t.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_body, ClientMsg};

    #[test]
    fn every_listed_kind_is_a_client_frame_type() {
        for k in CLIENT_KINDS {
            let body = format!(r#"{{"type":"{k}"}}"#);
            match parse_body::<ClientMsg>(body.as_bytes()) {
                Ok(m) => assert_eq!(m.kind(), *k),
                Err(e) => assert!(!e.to_string().contains("unknown"), "{k}: {e}"),
            }
        }
    }

    #[test]
    fn the_type_is_read_only_when_it_names_a_client_frame() {
        assert_eq!(
            readable_kind(br#"{"type":"room_msg","room":5}"#),
            Some("room_msg")
        );
        assert_eq!(
            readable_kind(br#"{"room":5,"type":"join","x":[1]}"#),
            Some("join")
        );
        assert_eq!(readable_kind(br#"{"type":"\u001b[2J"}"#), None);
        assert_eq!(readable_kind(br#"{"type":7}"#), None);
        assert_eq!(readable_kind(b"not json"), None);
    }
}
