//! Typed frames. Every frame is a JSON object tagged by `"type"` (snake_case).
//!
//! [`ClientMsg`] is what a client sends, [`ServerMsg`] what a server sends.
//! Optional fields are omitted when absent. Message ids are server-assigned,
//! increase across the whole server, and order every conversation; `ts` is
//! milliseconds since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Presence status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Online,
    Busy,
    Away,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Busy => "busy",
            Status::Away => "away",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "online" => Ok(Status::Online),
            "busy" => Ok(Status::Busy),
            "away" => Ok(Status::Away),
            _ => Err(format!("unknown status \"{s}\": use online, busy or away")),
        }
    }
}

/// Which receipt marker a `receipt` frame moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// Kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Media {
    #[default]
    Voice,
    Video,
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Media::Voice => "voice",
            Media::Video => "video",
        })
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    /// The callee declined.
    Declined,
    /// The callee was already in a call.
    Busy,
    /// One side hung up.
    Hangup,
    /// Nobody answered within the ring timeout.
    Missed,
    /// One side disconnected.
    Disconnected,
}

impl fmt::Display for CallEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallEnd::Declined => "declined",
            CallEnd::Busy => "busy",
            CallEnd::Hangup => "hung up",
            CallEnd::Missed => "missed",
            CallEnd::Disconnected => "disconnected",
        })
    }
}

/// Kind of system notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A user joined a room.
    Join,
    /// A user left a room (or disconnected while in it).
    Leave,
    /// A user changed status.
    Status,
}

/// Machine-readable error code carried by `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Frame could not be decoded (bad JSON, bad UTF-8, unknown type, missing field).
    BadFrame,
    /// Frame larger than the server's maximum.
    FrameTooLarge,
    /// Protocol version in `hello` is not supported.
    VersionMismatch,
    /// Something other than `hello` arrived before login, or `hello` twice.
    NotLoggedIn,
    AlreadyLoggedIn,
    /// Name is held by someone online.
    NameTaken,
    /// Name, room or text fails validation.
    Invalid,
    /// No such user online / known.
    UnknownUser,
    /// No such room, or not a member.
    UnknownRoom,
    NotInRoom,
    RoomExists,
    /// Call signalling in the wrong state.
    CallState,
    /// The server is shedding load for this connection.
    SlowDown,
    /// Server-side failure.
    Internal,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// First frame: log in as `name`, joining `room` (default `general`).
    Hello {
        version: u32,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
    },
    /// Polite goodbye; the server closes after flushing.
    Logout,
    /// Liveness check; answered by `pong` with the same `seq`.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Message to a room the sender is in.
    RoomMsg {
        room: String,
        text: String,
        /// Client-chosen id echoed in the `ack`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Private message to one user.
    PrivateMsg {
        to: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Change presence status.
    SetStatus { status: Status },
    /// Typing started (`active: true`, refresh at least every 5 s) or stopped.
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        active: bool,
    },
    /// Cumulative marker: every message of the conversation up to `up_to` was
    /// delivered to / read by this client. Exactly one of `room`, `peer`.
    Receipt {
        kind: ReceiptKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        up_to: u64,
    },
    /// Create a new room and join it (error if it exists).
    CreateRoom { room: String },
    /// Join a room, creating it if needed.
    Join { room: String },
    /// Leave a room.
    Leave { room: String },
    /// Ask for `room_list`.
    ListRooms,
    /// Ask for `user_list`.
    ListUsers,
    /// Ring a user.
    Call {
        to: String,
        #[serde(default)]
        media: Media,
    },
    /// Accept a ringing call.
    CallAccept { call: u64 },
    /// Decline a ringing call.
    CallDecline { call: u64 },
    /// End a call (ringing or active), from either side.
    Hangup { call: u64 },
}

impl ClientMsg {
    /// The `"type"` tag, for logs and error replies.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMsg::Hello { .. } => "hello",
            ClientMsg::Logout => "logout",
            ClientMsg::Ping { .. } => "ping",
            ClientMsg::RoomMsg { .. } => "room_msg",
            ClientMsg::PrivateMsg { .. } => "private_msg",
            ClientMsg::SetStatus { .. } => "set_status",
            ClientMsg::Typing { .. } => "typing",
            ClientMsg::Receipt { .. } => "receipt",
            ClientMsg::CreateRoom { .. } => "create_room",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::ListRooms => "list_rooms",
            ClientMsg::ListUsers => "list_users",
            ClientMsg::Call { .. } => "call",
            ClientMsg::CallAccept { .. } => "call_accept",
            ClientMsg::CallDecline { .. } => "call_decline",
            ClientMsg::Hangup { .. } => "hangup",
        }
    }
}

/// One room in a `room_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub members: u32,
}

/// One user in a `user_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub status: Status,
    pub rooms: Vec<String>,
}

/// One member's markers in a `receipts` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub user: String,
    /// Highest message id delivered to `user` in this conversation (0: none).
    pub delivered: u64,
    /// Highest message id read by `user` in this conversation (0: none).
    pub read: u64,
}

/// Frames a server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Login accepted.
    Welcome {
        version: u32,
        name: String,
        /// Server software and version.
        server: String,
        /// Rooms the user is now in.
        rooms: Vec<String>,
    },
    /// Something went wrong. `re` names the frame type it answers, if any.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        re: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// The server accepted a message: it is `sent`. `recipients` is how many
    /// others it was addressed to (room members at that moment, or 1).
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
        id: u64,
        ts: u64,
        recipients: u32,
    },
    /// A room message (`room` set) or private message (`to` set).
    Message {
        id: u64,
        ts: u64,
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        text: String,
    },
    /// You are now in `room`; `members` lists everyone in it.
    Joined {
        room: String,
        members: Vec<String>,
        created: bool,
    },
    /// You left `room`.
    Left {
        room: String,
    },
    /// System notice: joins, leaves and status changes.
    Notice {
        event: NoticeKind,
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        /// Human-readable sentence.
        text: String,
    },
    /// `from` started or stopped typing in `room`, or to you (`to` set).
    Typing {
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        active: bool,
    },
    /// Coalesced receipt markers for a conversation you sent messages in.
    Receipts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        markers: Vec<Marker>,
    },
    RoomList {
        rooms: Vec<RoomInfo>,
    },
    UserList {
        users: Vec<UserInfo>,
    },
    /// Your call to `to` is ringing.
    CallRinging {
        call: u64,
        to: String,
        media: Media,
    },
    /// `from` is calling you.
    CallIncoming {
        call: u64,
        from: String,
        media: Media,
    },
    /// The call is connected.
    CallAccepted {
        call: u64,
        peer: String,
        media: Media,
    },
    /// The call is over.
    CallEnded {
        call: u64,
        peer: String,
        reason: CallEnd,
        /// Who ended it, when one side did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The server is closing this connection (shutdown or logout).
    Bye {
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_snake_case() {
        let j = serde_json::to_string(&ClientMsg::RoomMsg {
            room: "general".into(),
            text: "hi".into(),
            cid: None,
        })
        .unwrap();
        assert_eq!(j, r#"{"type":"room_msg","room":"general","text":"hi"}"#);
        let m: ClientMsg = serde_json::from_str(r#"{"type":"list_users"}"#).unwrap();
        assert_eq!(m, ClientMsg::ListUsers);
        assert_eq!(m.kind(), "list_users");
    }

    #[test]
    fn server_roundtrip() {
        let m = ServerMsg::CallEnded {
            call: 3,
            peer: "bob".into(),
            reason: CallEnd::Missed,
            by: None,
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(
            j,
            r#"{"type":"call_ended","call":3,"peer":"bob","reason":"missed"}"#
        );
        assert_eq!(serde_json::from_str::<ServerMsg>(&j).unwrap(), m);
    }
}
