//! What outlives a process: the history log.
//!
//! # Layout
//! - `accounts`: registered names and their Argon2id password hashes.
//! - `files`: the shared file store (temp files renamed when complete and verified).
//! - `journal`: an append-only, checksummed record log with one fsync per batch.

pub mod accounts;
pub mod files;
pub mod journal;
