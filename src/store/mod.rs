//! What outlives a process: the history log.
//!
//! # Layout
//! - `journal`: an append-only, checksummed record log with one fsync per batch.

pub mod journal;
