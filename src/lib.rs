//! A real-time chat server and terminal client.
//!
//! # Layout
//! - [`protocol`]: the wire, sans-I/O: length-prefixed JSON frames and their types.
//! - [`core`]: the server's chat state machine: no sockets, no clock reads.
//! - [`net`]: the server's mio shell: one `Poll`, a `slab` of connections.
//! - [`client`]: the terminal client: command parsing, state, network thread, UI.
//! - [`cluster`]: several nodes acting as one through Redis (`--cluster`).
//! - [`store`]: what outlives a process, and the effect runners that touch it.
//! - [`size`]: byte counts with K/M/G/T suffixes, for options.
//! - [`sim`]: the server in memory for tests: core, fake clock, effects run inline.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod core;
pub mod net;
pub mod protocol;
pub mod sim;
pub mod size;
pub mod store;
