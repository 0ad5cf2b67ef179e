//! Typed frames. Every frame is a JSON object tagged by `"type"` (snake_case).
//!
//! [`ClientMsg`] is what a client sends, [`ServerMsg`] what a server sends.
//! Optional fields are omitted when absent. Message ids are server-assigned,
//! increase across the whole server, and order every conversation; `ts` is
//! milliseconds since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};

pub use super::error_code::ErrorCode;

pub use super::values::*;

/// `history.limit` when a client leaves it out.
fn default_history_limit() -> u32 {
    50
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
        /// Set by a client coming back after a dropped connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Resume>,
        /// The name's password: required for a registered name; for a name
        /// not registered yet it registers it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<crate::protocol::Secret>,
    },
    /// Polite goodbye; the server closes after flushing.
    Logout {},
    /// From now on, send file chunks to this connection as binary frames
    /// (see `protocol::binary`); only to a server whose `welcome` says
    /// `binary_chunks`. No answer.
    BinaryChunks {},
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
    /// Change presence status; with `away`, an optional `message` that a
    /// private message to you is answered with (once per sender).
    SetStatus {
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Set the topic of a room you are in (empty: no topic).
    SetTopic { room: String, topic: String },
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
    ListRooms {},
    /// Ask for `user_list`.
    ListUsers {},
    /// Ask for up to `limit` messages of a room or private conversation older
    /// than `before` (default: the newest). Answered by `message` frames with
    /// `replay: "history"`, oldest first, then `history_end`.
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// 1 to 500 (more is served as 500); 50 when absent.
        #[serde(default = "default_history_limit")]
        limit: u32,
    },
    /// Search stored messages for every word of `text` (plain words, no
    /// query syntax), newest first: in `room` (one you are in), with `peer`
    /// (your private conversation), or, with neither, in every room you are
    /// in now and all your private conversations. At most `limit` (default
    /// 20, at most 50) hits with ids below `before`. Answered by
    /// `search_results`.
    Search {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
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
    /// Offer `name` (`size` bytes, lower-case hex SHA-256) to user `to`.
    /// Answered by `file_state{state:"pending"}` to both sides (with `cid`
    /// echoed to the sender).
    FileOffer {
        to: String,
        name: String,
        size: u64,
        sha256: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Receiver: accept a pending offer, or continue an interrupted /
    /// resuming one from `offset` bytes already held, whose SHA-256 is
    /// `prefix_sha256` (the sender checks it is a true prefix).
    FileAccept {
        id: u64,
        #[serde(default)]
        offset: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix_sha256: Option<String>,
    },
    /// Receiver: decline a pending offer.
    FileReject { id: u64 },
    /// Receiver: the sender may send `bytes` more (like HTTP/2 WINDOW_UPDATE).
    FileCredit { id: u64, bytes: u64 },
    /// Sender: `data` (base64, at most 64 KiB raw) at `offset` of the file.
    FileChunk { id: u64, offset: u64, data: String },
    /// Either side: stop moving bytes until `file_resume`.
    FilePause { id: u64 },
    /// Either side: continue a paused transfer, or ask to continue an interrupted one.
    FileResume { id: u64 },
    /// Either side: give up on the transfer.
    FileCancel { id: u64 },
    /// Receiver: everything arrived and the SHA-256 matches.
    FileDone { id: u64 },
    /// Receiver: the file could not be received (checksum mismatch, disk error).
    FileFailed { id: u64, reason: String },
    /// Store `name` in the shared store; chunks follow like any transfer.
    Upload {
        name: String,
        size: u64,
        sha256: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Ask for `file_list`.
    ListFiles {},
    /// Fetch `name` from the store: the server offers it to you (`file_state`
    /// pending, `cid` echoed) and your client accepts it.
    Download {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// Set a new password for the logged-in name: `old` is its current one
    /// (absent when the name is not registered yet: this registers it).
    /// Answered by `password_changed`.
    ChangePassword {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<crate::protocol::Secret>,
        new: crate::protocol::Secret,
    },
}

impl ClientMsg {
    /// The `"type"` tag, for logs and error replies.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMsg::Hello { .. } => "hello",
            ClientMsg::Logout {} => "logout",
            ClientMsg::BinaryChunks {} => "binary_chunks",
            ClientMsg::Ping { .. } => "ping",
            ClientMsg::RoomMsg { .. } => "room_msg",
            ClientMsg::PrivateMsg { .. } => "private_msg",
            ClientMsg::SetStatus { .. } => "set_status",
            ClientMsg::SetTopic { .. } => "set_topic",
            ClientMsg::Typing { .. } => "typing",
            ClientMsg::Receipt { .. } => "receipt",
            ClientMsg::CreateRoom { .. } => "create_room",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::ListRooms {} => "list_rooms",
            ClientMsg::ListUsers {} => "list_users",
            ClientMsg::History { .. } => "history",
            ClientMsg::Search { .. } => "search",
            ClientMsg::Call { .. } => "call",
            ClientMsg::CallAccept { .. } => "call_accept",
            ClientMsg::CallDecline { .. } => "call_decline",
            ClientMsg::Hangup { .. } => "hangup",
            ClientMsg::FileOffer { .. } => "file_offer",
            ClientMsg::FileAccept { .. } => "file_accept",
            ClientMsg::FileReject { .. } => "file_reject",
            ClientMsg::FileCredit { .. } => "file_credit",
            ClientMsg::FileChunk { .. } => "file_chunk",
            ClientMsg::FilePause { .. } => "file_pause",
            ClientMsg::FileResume { .. } => "file_resume",
            ClientMsg::FileCancel { .. } => "file_cancel",
            ClientMsg::FileDone { .. } => "file_done",
            ClientMsg::FileFailed { .. } => "file_failed",
            ClientMsg::Upload { .. } => "upload",
            ClientMsg::ListFiles {} => "list_files",
            ClientMsg::Download { .. } => "download",
            ClientMsg::ChangePassword { .. } => "change_password",
        }
    }
}

/// What a reconnecting client tells the server in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// The `session` token from the previous `welcome`: reclaims a name the
    /// server is holding for this client after a drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Every room to be back in (the `room` field of `hello` is joined too);
    /// at most [`MAX_RESUME_ROOMS`](super::lengths::MAX_RESUME_ROOMS), checked while decoding.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::lengths::bounded_rooms"
    )]
    pub rooms: Vec<String>,
    /// Highest message id the client has seen: everything newer in its rooms
    /// and private conversations is replayed with `replay: "missed"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// Why a `message` is sent again rather than live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    /// Sent while this client was away (catch-up or held private message).
    Missed,
    /// Asked for with `history`.
    History,
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
        /// Token to present in `hello.resume.session` after a dropped
        /// connection, to reclaim the name during the grace period.
        #[serde(default)]
        session: String,
        /// Highest message id on the server at login.
        #[serde(default)]
        last_id: u64,
        /// This run of the server (it changes when the server restarts):
        /// transfers a client had before a restart are gone.
        #[serde(default)]
        boot: u64,
        /// The key of this user's HTTP downloads from the shared store
        /// (`GET /files/NAME?key=...`), valid while they are online.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        files_key: Option<String>,
        /// The server reads binary file chunks (see `protocol::binary`) and
        /// sends them to a connection that asks with `binary_chunks`.
        #[serde(default)]
        binary_chunks: bool,
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
        /// The server had this `cid` already: `id` and `ts` are the original
        /// ones and nothing was stored or delivered again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
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
        /// Set when this is not a live delivery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replay: Option<Replay>,
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
    /// End of the catch-up that follows `welcome`: `count` missed messages
    /// were replayed.
    Synced {
        count: u32,
        last_id: u64,
    },
    /// End of a `history` answer; `more` says older messages exist.
    HistoryEnd {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        count: u32,
        more: bool,
    },
    /// The answer to `search`: hits newest first; `more` says older hits
    /// exist (ask again with `before` the last hit's id).
    SearchResults {
        text: String,
        results: Vec<SearchHit>,
        more: bool,
    },
    /// A room's topic: after `joined` if it has one, and to every member
    /// when it changes (`topic` empty: cleared). `by` set it at `ts`.
    Topic {
        room: String,
        topic: String,
        by: String,
        ts: u64,
    },
    /// The server is closing this connection: `code` says why for a
    /// program, `reason` for people.
    Bye {
        code: ByeCode,
        reason: String,
    },
    /// A transfer you are part of changed state (or was created: `pending`).
    /// `peer` is the other user (absent for the shared store); `offset` is
    /// where sending starts (`in_progress`) or how far it got.
    FileState {
        id: u64,
        state: crate::protocol::files::TransferState,
        role: crate::protocol::files::Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        name: String,
        size: u64,
        sha256: String,
        offset: u64,
        /// SHA-256 of the receiver's first `offset` bytes, for the sender to check.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix_sha256: Option<String>,
        /// Who paused, resumed, cancelled or failed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// To the sender: the receiver granted `bytes` more.
    FileCredit {
        id: u64,
        bytes: u64,
    },
    /// To the receiver: a chunk, relayed byte for byte as the sender framed it.
    FileChunk {
        id: u64,
        offset: u64,
        data: String,
    },
    /// The shared store's files, sorted by name.
    FileList {
        files: Vec<crate::protocol::files::FileInfo>,
    },
    /// Answer to `change_password`: the name now needs the new password
    /// (`registered`: this registered it).
    PasswordChanged {
        name: String,
        registered: bool,
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
        assert_eq!(m, ClientMsg::ListUsers {});
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

/// One message found by a search (the fields of a `message` frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchHit {
    pub id: u64,
    pub ts: u64,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub text: String,
}
