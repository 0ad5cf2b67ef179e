//! The longest each client-chosen string may be, checked before a frame is
//! acted on, so nothing a client names is stored, logged or echoed at a size
//! it picked. Text has its own rule (`--max-message-chars`); names, rooms
//! and file names have their character rules on top of these byte bounds.
//! A resume's room list is bounded while it is decoded.

use super::message::ClientMsg;
use std::fmt;

/// A client id (`cid`) for matching answers: at most 64 bytes.
pub const MAX_CID: usize = 64;
/// A user or room name as a client spells it (the name rules allow far less).
pub const MAX_NAME_BYTES: usize = 256;
/// A file name: one path component.
pub const MAX_FILE_NAME: usize = 255;
/// A SHA-256 in hex, a session token.
pub const MAX_TOKEN: usize = 128;
/// A password.
pub const MAX_PASSWORD: usize = 1024;
/// A receiver's reason for a failed transfer.
pub const MAX_REASON: usize = 512;
/// `search.text`, in bytes.
pub const MAX_SEARCH: usize = 256;
/// `set_status.message` (an away message), in bytes.
pub const MAX_AWAY: usize = 256;
/// `set_topic.topic`, in bytes.
pub const MAX_TOPIC: usize = 512;

/// Most rooms a `hello` resume may list. The decoder stops at the first one
/// past it, so an oversized list costs no more than this many names.
pub const MAX_RESUME_ROOMS: usize = 1024;

/// The error that ends decoding an oversized resume list.
pub const TOO_MANY_RESUME_ROOMS: &str = "resume.rooms lists more than 1024 rooms";

/// Decode a list of at most [`MAX_RESUME_ROOMS`] room names.
pub(crate) fn bounded_rooms<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    struct Rooms;
    impl<'de> serde::de::Visitor<'de> for Rooms {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {MAX_RESUME_ROOMS} room names")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut rooms = Vec::new();
            while let Some(r) = seq.next_element::<String>()? {
                if rooms.len() == MAX_RESUME_ROOMS {
                    return Err(serde::de::Error::custom(TOO_MANY_RESUME_ROOMS));
                }
                rooms.push(r);
            }
            Ok(rooms)
        }
    }
    d.deserialize_seq(Rooms)
}

/// A string field past its bound: its name, its length and the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is too long: {} bytes, at most {} are accepted",
            self.field, self.len, self.max
        )
    }
}

fn check(field: &'static str, s: Option<&str>, max: usize) -> Result<(), TooLong> {
    match s {
        Some(s) if s.len() > max => Err(TooLong {
            field,
            len: s.len(),
            max,
        }),
        _ => Ok(()),
    }
}

impl ClientMsg {
    /// The client id of this frame, if it carries one.
    pub fn cid(&self) -> Option<&str> {
        match self {
            ClientMsg::RoomMsg { cid, .. }
            | ClientMsg::PrivateMsg { cid, .. }
            | ClientMsg::FileOffer { cid, .. }
            | ClientMsg::Upload { cid, .. }
            | ClientMsg::Download { cid, .. } => cid.as_deref(),
            _ => None,
        }
    }

    /// The first string field longer than its bound, if any.
    pub fn check_lengths(&self) -> Result<(), TooLong> {
        use ClientMsg as M;
        let name = MAX_NAME_BYTES;
        check("cid", self.cid(), MAX_CID)?;
        match self {
            M::Hello {
                name: n,
                room,
                resume,
                password,
                ..
            } => {
                check("name", Some(n), name)?;
                check("room", room.as_deref(), name)?;
                check(
                    "password",
                    password.as_ref().map(|p| p.expose()),
                    MAX_PASSWORD,
                )?;
                if let Some(r) = resume {
                    check("resume.session", r.session.as_deref(), MAX_TOKEN)?;
                    for room in &r.rooms {
                        check("resume.rooms", Some(room), name)?;
                    }
                }
                Ok(())
            }
            M::RoomMsg { room, .. }
            | M::CreateRoom { room }
            | M::Join { room }
            | M::Leave { room } => check("room", Some(room), name),
            M::PrivateMsg { to, .. } | M::Call { to, .. } => check("to", Some(to), name),
            M::Typing { room, to, .. } => {
                check("room", room.as_deref(), name)?;
                check("to", to.as_deref(), name)
            }
            M::SetStatus { message, .. } => check("message", message.as_deref(), MAX_AWAY),
            M::SetTopic { room, topic } => {
                check("room", Some(room), name)?;
                check("topic", Some(topic), MAX_TOPIC)
            }
            M::Search {
                text, room, peer, ..
            } => {
                check("text", Some(text), MAX_SEARCH)?;
                check("room", room.as_deref(), name)?;
                check("peer", peer.as_deref(), name)
            }
            M::Receipt { room, peer, .. } | M::History { room, peer, .. } => {
                check("room", room.as_deref(), name)?;
                check("peer", peer.as_deref(), name)
            }
            M::FileOffer {
                to,
                name: file,
                sha256,
                ..
            } => {
                check("to", Some(to), name)?;
                check("name", Some(file), MAX_FILE_NAME)?;
                check("sha256", Some(sha256), MAX_TOKEN)
            }
            M::Upload {
                name: file, sha256, ..
            } => {
                check("name", Some(file), MAX_FILE_NAME)?;
                check("sha256", Some(sha256), MAX_TOKEN)
            }
            M::Download { name: file, .. } => check("name", Some(file), MAX_FILE_NAME),
            M::FileAccept { prefix_sha256, .. } => {
                check("prefix_sha256", prefix_sha256.as_deref(), MAX_TOKEN)
            }
            M::FileFailed { reason, .. } => check("reason", Some(reason), MAX_REASON),
            M::ChangePassword { old, new } => {
                check("old", old.as_ref().map(|p| p.expose()), MAX_PASSWORD)?;
                check("new", Some(new.expose()), MAX_PASSWORD)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_enforced_and_named() {
        let long = |n: usize| "x".repeat(n);
        let ok = ClientMsg::RoomMsg {
            room: "general".into(),
            text: long(10),
            cid: Some(long(MAX_CID)),
        };
        assert_eq!(ok.check_lengths(), Ok(()));
        let cases = [
            (
                ClientMsg::RoomMsg {
                    room: "general".into(),
                    text: "hi".into(),
                    cid: Some(long(1 << 20)),
                },
                "cid",
            ),
            (
                ClientMsg::FileFailed {
                    id: 1,
                    reason: long(MAX_REASON + 1),
                },
                "reason",
            ),
            (
                ClientMsg::Join {
                    room: long(MAX_NAME_BYTES + 1),
                },
                "room",
            ),
            (
                ClientMsg::Download {
                    name: long(MAX_FILE_NAME + 1),
                    cid: None,
                },
                "name",
            ),
            (
                ClientMsg::FileAccept {
                    id: 1,
                    offset: 0,
                    prefix_sha256: Some(long(MAX_TOKEN + 1)),
                },
                "prefix_sha256",
            ),
        ];
        for (msg, field) in cases {
            let e = msg.check_lengths().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().contains("at most"), "{e}");
        }
    }
}
