//! Several chat-server nodes acting as one, through Redis.
//!
//! Redis is the cluster's sequencer: every change to shared chat state (a
//! login, a frame that changes a room, a message, a receipt, a call, a
//! disconnect) is published by the node that received it, given the next
//! number of one cluster-wide sequence by a Lua script (`INCR`, `XADD` to
//! one stream, `PUBLISH`, atomically), and applied by every node, the origin
//! included, in that order. Every node's core therefore holds the same view
//! of users, rooms, markers and calls, assigns the same message ids (the
//! sequence numbers) and keeps a full copy of the history in its own
//! database.
//!
//! # Layout
//! - [`backplane`]: the worker threads that talk to Redis with the `redis`
//!   crate; the loop hands them payloads and takes back ordered events.
//! - [`event`]: what nodes publish to each other.

pub mod backplane;
pub mod event;
