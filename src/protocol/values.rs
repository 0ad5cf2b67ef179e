//! The enumerated values frames carry in their fields: presence status,
//! receipt kinds, call media and endings, notice kinds and `bye` codes, each
//! as its snake_case JSON string.

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
    /// To the sender of a private message: its recipient is away, with
    /// their message (once per sender while they are away).
    Away,
    /// A user put a file in the shared store (to everyone sharing a room
    /// with them).
    Upload,
}

/// Why the server closes a connection with `bye` (its last frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeCode {
    /// The client sent `logout`.
    LoggedOut,
    /// Another connection took this session over (the session token or the
    /// password of a registered name): a client should not reconnect on
    /// its own, or the two would take the session from each other forever.
    TakenOver,
    /// The server is shutting down (SIGINT/SIGTERM); it may come back.
    Shutdown,
    /// The client did not read what was sent to it (past `--max-outbound`,
    /// or a catch-up it did not read); what was queued is dropped, and a
    /// reconnect with `resume.since` replays it.
    SlowConsumer,
}
