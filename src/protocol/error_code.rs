//! The machine-readable codes of `error` frames (docs/PROTOCOL.md, "Errors"
//! says when each is sent and whether the connection stays open).

use serde::{Deserialize, Serialize};

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
    /// No transfer with that id, or not yours.
    UnknownTransfer,
    /// The transfer is not in a state that allows this (e.g. accepting twice).
    TransferState,
    /// A sender sent more than the receiver granted.
    CreditExceeded,
    /// A file name the server refuses (path separators, `..`, control characters, too long).
    BadFileName,
    /// Larger than the server's `--max-file-size`.
    FileTooLarge,
    /// The store would exceed `--store-quota`.
    QuotaExceeded,
    /// The store already has (or is receiving) a file of that name.
    FileExists,
    /// No such file in the store.
    NoSuchFile,
    /// The name is registered: `hello` must carry its password.
    AuthRequired,
    /// The password does not match the name's (or `change_password.old` is wrong).
    BadPassword,
    /// Too many failed logins for this name or from this address: wait and try again.
    TooManyAttempts,
    /// The server (or this address) has as many connections as it accepts.
    TooManyConnections,
    /// No `hello` succeeded within `--login-timeout`.
    LoginTimeout,
    /// A plaintext client reached a TLS port.
    TlsRequired,
    /// A TLS client reached a plaintext port.
    TlsNotSupported,
    /// Joining would take the user past `--max-rooms-per-user`.
    TooManyRooms,
    /// The server could not make the message durable (disk full or
    /// failing): it was not stored and nobody got it; send it again later.
    StoreFailed,
    /// Past `--max-transfers-per-user` open transfers: finish or cancel some.
    TooManyTransfers,
    /// A search could not be answered (it ran too long, or the database
    /// could not be read); the message says which.
    SearchFailed,
}
