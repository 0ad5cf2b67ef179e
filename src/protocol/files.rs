//! Types carried by the file-transfer frames (see docs/PROTOCOL.md, "Files").
//!
//! A transfer moves one file from a sender to a receiver: two users (relayed
//! by the server), a user and the shared store (`upload`), or the store and a
//! user (`download`). Either way it has a server-assigned id, a [`TransferState`]
//! both sides are told about with `file_state`, and a credit window granted by
//! the receiver: the sender may send `file_chunk` frames only for bytes the
//! receiver has granted with `file_credit`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest raw payload of one `file_chunk` (before base64).
pub const MAX_CHUNK: usize = 64 * 1024;

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Offered, waiting for the receiver to accept or reject.
    Pending,
    /// Chunks are moving.
    InProgress,
    /// One side paused it; nothing moves until either side resumes.
    Paused,
    /// The sender asked to resume an interrupted transfer; the receiver's
    /// client answers with `file_accept` at the length of its partial file.
    Resuming,
    /// One side disconnected; `file_resume` (or `file_accept`) continues it
    /// once both are back.
    Interrupted,
    /// Received and verified (final).
    Completed,
    /// Cancelled by either side (final).
    Cancelled,
    /// The receiver declined the offer (final).
    Rejected,
    /// Something went wrong, see `reason` (final).
    Failed,
}

impl TransferState {
    /// Whether nothing more can happen to the transfer.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TransferState::Completed
                | TransferState::Cancelled
                | TransferState::Rejected
                | TransferState::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Pending => "pending",
            TransferState::InProgress => "in progress",
            TransferState::Paused => "paused",
            TransferState::Resuming => "resuming",
            TransferState::Interrupted => "interrupted",
            TransferState::Completed => "completed",
            TransferState::Cancelled => "cancelled",
            TransferState::Rejected => "rejected",
            TransferState::Failed => "failed",
        }
    }
}

impl fmt::Display for TransferState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which end of a transfer the recipient of a `file_state` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Sender,
    Receiver,
}

/// One file in the shared store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    pub uploader: String,
    /// Upload time, Unix milliseconds (UTC).
    pub ts: u64,
}

/// Raw byte length of a base64 (standard alphabet, padded) string of `len`
/// characters ending in `pad` `=` signs, without decoding it.
pub fn base64_raw_len(text: &str) -> u64 {
    let b = text.as_bytes();
    let pad = b.iter().rev().take(2).filter(|c| **c == b'=').count();
    ((b.len() / 4) * 3).saturating_sub(pad) as u64
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn raw_len_matches_decoding() {
        for n in 0..20usize {
            let data = vec![7u8; n];
            let t = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(base64_raw_len(&t), n as u64, "{t}");
        }
    }

    #[test]
    fn states_serialize_snake_case() {
        let j = serde_json::to_string(&TransferState::InProgress).unwrap();
        assert_eq!(j, "\"in_progress\"");
        assert!(TransferState::Rejected.is_final());
        assert!(!TransferState::Interrupted.is_final());
    }
}
