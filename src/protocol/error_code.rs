//! The machine-readable codes of `error` frames (docs/PROTOCOL.md, "Errors"
//! says when each is sent and whether the connection stays open), and
//! [`ALL`], every code, for tests that must cover each one.

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
    /// Also a new transfer whose id could not be recorded: nothing started.
    StoreFailed,
    /// Past `--max-transfers-per-user` open transfers: finish or cancel some.
    TooManyTransfers,
    /// A search could not be answered (it ran too long, or the database
    /// could not be read); the message says which.
    SearchFailed,
}

/// Every [`ErrorCode`], in declaration order. The unit tests below fail when
/// a variant is added without being listed here; tests/protocol_errors.rs
/// provokes each of them from the live server.
pub const ALL: &[ErrorCode] = &[
    ErrorCode::BadFrame,
    ErrorCode::FrameTooLarge,
    ErrorCode::VersionMismatch,
    ErrorCode::NotLoggedIn,
    ErrorCode::AlreadyLoggedIn,
    ErrorCode::NameTaken,
    ErrorCode::Invalid,
    ErrorCode::UnknownUser,
    ErrorCode::UnknownRoom,
    ErrorCode::NotInRoom,
    ErrorCode::RoomExists,
    ErrorCode::CallState,
    ErrorCode::SlowDown,
    ErrorCode::Internal,
    ErrorCode::UnknownTransfer,
    ErrorCode::TransferState,
    ErrorCode::CreditExceeded,
    ErrorCode::BadFileName,
    ErrorCode::FileTooLarge,
    ErrorCode::QuotaExceeded,
    ErrorCode::FileExists,
    ErrorCode::NoSuchFile,
    ErrorCode::AuthRequired,
    ErrorCode::BadPassword,
    ErrorCode::TooManyAttempts,
    ErrorCode::TooManyConnections,
    ErrorCode::LoginTimeout,
    ErrorCode::TlsRequired,
    ErrorCode::TlsNotSupported,
    ErrorCode::TooManyRooms,
    ErrorCode::StoreFailed,
    ErrorCode::TooManyTransfers,
    ErrorCode::SearchFailed,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire name of `c`, spelled out. Exhaustive on purpose: a new
    /// variant does not compile until it has an arm here, and
    /// [`every_variant_is_in_all`] then fails until it is in [`ALL`].
    fn wire_name(c: ErrorCode) -> &'static str {
        match c {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::AlreadyLoggedIn => "already_logged_in",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::Invalid => "invalid",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::RoomExists => "room_exists",
            ErrorCode::CallState => "call_state",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::Internal => "internal",
            ErrorCode::UnknownTransfer => "unknown_transfer",
            ErrorCode::TransferState => "transfer_state",
            ErrorCode::CreditExceeded => "credit_exceeded",
            ErrorCode::BadFileName => "bad_file_name",
            ErrorCode::FileTooLarge => "file_too_large",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::FileExists => "file_exists",
            ErrorCode::NoSuchFile => "no_such_file",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::BadPassword => "bad_password",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::LoginTimeout => "login_timeout",
            ErrorCode::TlsRequired => "tls_required",
            ErrorCode::TlsNotSupported => "tls_not_supported",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::StoreFailed => "store_failed",
            ErrorCode::TooManyTransfers => "too_many_transfers",
            ErrorCode::SearchFailed => "search_failed",
        }
    }

    fn serde_name(c: ErrorCode) -> String {
        serde_json::to_value(c)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn all_is_spelled_as_serde_spells_it_and_lists_each_code_once() {
        for (i, c) in ALL.iter().enumerate() {
            assert_eq!(wire_name(*c), serde_name(*c));
            assert!(!ALL[..i].contains(c), "{c:?} is listed twice");
        }
    }

    /// serde's derived deserializer names every variant when it refuses an
    /// unknown one ("expected one of `bad_frame`, ..."): that list is the
    /// enum as compiled, so a variant missing from [`ALL`] shows up here.
    #[test]
    fn every_variant_is_in_all() {
        let err = serde_json::from_str::<ErrorCode>("\"no such code\"")
            .unwrap_err()
            .to_string();
        let expected = err
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("serde's message changed: {err}"));
        let variants: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let listed: Vec<String> = ALL.iter().map(|c| serde_name(*c)).collect();
        assert_eq!(variants, listed, "ALL must list every ErrorCode, in order");
    }

    /// Each code has a row in the error table of docs/PROTOCOL.md.
    #[test]
    fn every_code_has_a_row_in_the_protocol_doc() {
        let doc = include_str!("../../docs/PROTOCOL.md");
        let table = doc
            .split("## Errors")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("docs/PROTOCOL.md has an Errors section");
        for c in ALL {
            let row = format!("\n| `{}` |", serde_name(*c));
            assert!(table.contains(&row), "no row for {c:?} in the Errors table");
        }
    }
}
