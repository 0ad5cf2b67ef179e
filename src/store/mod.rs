//! What outlives a process, and the effect runners that touch it: the
//! core never calls these; workers beside the loop (or the simulation) do.
//!
//! # Layout
//! - `accounts`: registered names and their Argon2id password hashes.
//! - `files`: the shared file store (temp files renamed when complete and verified).
//! - `history`: the history worker's log, its index, group commit and reads.
//! - `journal`: an append-only, checksummed record log with one fsync per batch.
//! - `perms`: the data directory 0700, every file in it 0600.

pub mod accounts;
pub mod files;
pub mod history;
pub mod journal;
pub mod perms;
