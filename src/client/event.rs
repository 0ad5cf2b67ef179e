//! What the client reports to the user: [`Event`], produced by the state
//! machine and turned into text by `render` (or into one JSON object per line
//! with `--json`, tagged by `"event"`). A conversation ([`Conv`]) is a room or
//! a private chat with one peer; in JSON it appears as a `"room"` or `"peer"`
//! field, mirroring the wire protocol.

use crate::protocol::{CallEnd, ErrorCode, Media, NoticeKind, Replay, RoomInfo, Status, UserInfo};
use serde::Serialize;
use std::fmt;

/// A conversation: a room, or the private chat with one other user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conv {
    Room(String),
    Peer(String),
}

impl fmt::Display for Conv {
    /// `#general` for a room, `private` for a direct chat.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conv::Room(r) => write!(f, "#{r}"),
            Conv::Peer(_) => f.write_str("private"),
        }
    }
}

/// How far one of your own messages has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// The server accepted it (`ack`).
    Sent,
    /// At least one recipient's client received it.
    Delivered,
    /// At least one recipient read it.
    Read,
}

/// Something to show the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Logged in (`welcome`).
    Connected {
        addr: String,
        name: String,
        server: String,
    },
    /// You are in `room` now (and it is the current room).
    Joined {
        room: String,
        members: Vec<String>,
        created: bool,
    },
    /// You left `room`.
    Left {
        room: String,
    },
    /// The current room changed without a join (after `/switch` or a leave).
    Switched {
        room: String,
    },
    /// A message from someone else (or your own, in a `/history` answer).
    Message {
        id: u64,
        ts: u64,
        from: String,
        #[serde(flatten)]
        conv: Conv,
        text: String,
        /// `missed` (sent while you were away) or `history`; absent when live.
        #[serde(skip_serializing_if = "Option::is_none")]
        replay: Option<Replay>,
    },
    /// Your messages `ids` in `conv` reached a new state. Counts are out of
    /// `recipients` (1 for a private message).
    Delivery {
        #[serde(flatten)]
        conv: Conv,
        ids: Vec<u64>,
        state: DeliveryState,
        recipients: u32,
        delivered: u32,
        read: u32,
    },
    /// A room's topic, on joining it or when someone changes it (empty:
    /// cleared).
    Topic {
        room: String,
        topic: String,
        by: String,
        ts: u64,
    },
    /// Join, leave or status notice from the server.
    Notice {
        kind: NoticeKind,
        user: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        text: String,
    },
    /// `from` started or stopped typing; `expired` when the client timed it out itself.
    Typing {
        from: String,
        #[serde(flatten)]
        conv: Conv,
        active: bool,
        expired: bool,
    },
    RoomList {
        rooms: Vec<RoomInfo>,
    },
    UserList {
        users: Vec<UserInfo>,
    },
    CallRinging {
        call: u64,
        to: String,
        media: Media,
    },
    CallIncoming {
        call: u64,
        from: String,
        media: Media,
    },
    CallAccepted {
        call: u64,
        peer: String,
        media: Media,
    },
    CallEnded {
        call: u64,
        peer: String,
        reason: CallEnd,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// An error from the server (`code` set) or the client itself.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        message: String,
    },
    /// A usage hint for a line that is not a valid command.
    Hint {
        text: String,
    },
    /// Local information (help text).
    Info {
        text: String,
    },
    /// The server is closing the connection.
    Bye {
        reason: String,
    },
    /// The connection dropped (`reason`: what the socket said, when it
    /// said something); the next try is in `retry_ms`, at `next` (given
    /// when there are several server addresses).
    ConnectionLost {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        retry_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// A try to connect (or log in) failed for `reason`; the next is in
    /// `retry_ms`, at `next` (given when there are several server addresses).
    Retrying {
        reason: String,
        retry_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// The catch-up after a login is complete: `missed` messages were shown
    /// (`reconnected`: this login resumed a dropped session, at `addr`).
    Synced {
        missed: u32,
        reconnected: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        addr: Option<String>,
    },
    /// The answer to `/search`: hits newest first; `more` exist before them.
    SearchResults {
        text: String,
        hits: Vec<Hit>,
        more: bool,
    },
    /// End of a `/history` answer: `count` older messages; `more` exist before them.
    HistoryEnd {
        #[serde(flatten)]
        conv: Conv,
        count: u32,
        more: bool,
    },
    /// A file transfer changed state.
    Transfer(crate::client::transfer::view::TransferEvent),
    /// Periodic progress of the transfers that are moving (at most once a second).
    Progress {
        transfers: Vec<crate::client::transfer::view::TransferRow>,
    },
    /// `/transfers`.
    TransferList {
        transfers: Vec<crate::client::transfer::view::TransferRow>,
    },
    /// `/files`: the shared store.
    FileList {
        files: Vec<crate::protocol::files::FileInfo>,
    },
}

impl Event {
    /// A client-side error line.
    pub fn local_error(message: impl Into<String>) -> Event {
        Event::Error {
            code: None,
            message: message.into(),
        }
    }
}

/// One message a search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub id: u64,
    pub ts: u64,
    pub from: String,
    #[serde(flatten)]
    pub conv: Conv,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = Event::Message {
            id: 3,
            ts: 5,
            from: "bob".into(),
            conv: Conv::Room("general".into()),
            text: "hi".into(),
            replay: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"message","id":3,"ts":5,"from":"bob","room":"general","text":"hi"}"#
        );
        let e = Event::Message {
            id: 3,
            ts: 5,
            from: "bob".into(),
            conv: Conv::Peer("bob".into()),
            text: "hi".into(),
            replay: Some(Replay::Missed),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"message","id":3,"ts":5,"from":"bob","peer":"bob","text":"hi","replay":"missed"}"#
        );
        let d = Event::Delivery {
            conv: Conv::Peer("bob".into()),
            ids: vec![7],
            state: DeliveryState::Read,
            recipients: 1,
            delivered: 1,
            read: 1,
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"event":"delivery","peer":"bob","ids":[7],"state":"read","recipients":1,"delivered":1,"read":1}"#
        );
    }
}
