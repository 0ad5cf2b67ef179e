//! What outlives a process: the history log.
//!
//! # Layout
//! - `files`: the shared file store (temp files renamed when complete and verified).
//! - `journal`: an append-only, checksummed record log with one fsync per batch.

pub mod files;
pub mod journal;
