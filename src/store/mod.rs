//! What outlives a process, and the effect runners that touch it: the
//! core never calls these; workers beside the loop (or the simulation) do.
//!
//! # Layout
//! - `accounts`: registered names and their Argon2id password hashes.
//! - `files`: the shared file store (temp files renamed when complete and verified).
//! - `db`: the history database (SQLite): schema, opening, what start-up loads.
//! - `history`: the history worker's connection: group commit, reads, retention.
//! - `legacy`: importing the old `history.log` once.
//! - `search`: full-text search over the conversations a user may read.
//! - `search_index`: the search index's own file, built from the history.
//! - `perms`: the data directory 0700, every file in it 0600.

pub mod accounts;
pub mod db;
pub mod files;
pub mod history;
pub mod legacy;
pub mod perms;
pub mod search;
pub mod search_index;
