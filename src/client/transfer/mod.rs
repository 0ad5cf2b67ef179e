//! The client's side of file transfers: a table of transfers shared by the
//! front end (commands, `/transfers`) and the network thread (frames, chunks).
//!
//! File work is done in blocks, never whole files in memory: a sender reads
//! one chunk (64 KiB at most) when it has credit and the socket has room; a
//! receiver writes each chunk into `NAME.part` as it arrives, hashing as it
//! goes, grants the same number of bytes back (a window of [`WINDOW`]), and
//! when the last byte is in compares the SHA-256, then renames the part file
//! to a name that does not exist yet. Hashing a file to offer it runs on a
//! helper thread. A receiver that comes back after a drop continues from the
//! length of its part file, sending the prefix's SHA-256 for the sender to
//! check.
//!
//! # Layout
//! - [`command`]: `/send`, `/accept`, ... parsed.
//! - `table`: the transfer table and everything that changes it.
//! - [`disk`]: hashing, numbered names, no-clobber publishing.
//! - [`view`]: event payloads and their lines.

pub mod command;
pub mod disk;
mod table;
pub mod view;

pub use command::FileCommand;
pub use table::Files;

use super::event::Event;
use super::net::NetHandle;
use super::output::Sink;
use super::Shared;
use crate::protocol::ClientMsg;
use std::sync::Arc;

/// Credit a receiver keeps granted per transfer.
pub const WINDOW: u64 = 1024 * 1024;

/// Run a file command from the front end.
pub fn execute(shared: &Arc<Shared>, net: &NetHandle, sink: &Arc<dyn Sink>, cmd: FileCommand) {
    let files = &shared.files;
    let result: Result<Vec<ClientMsg>, String> = match cmd {
        FileCommand::Send { to, path } => {
            files.offer(shared.clone(), Some(to), path, net.clone(), sink.clone())
        }
        FileCommand::Upload(path) => {
            files.offer(shared.clone(), None, path, net.clone(), sink.clone())
        }
        FileCommand::Accept { id, path } => files.accept(id, path),
        FileCommand::Reject(id) => files.simple(id, "reject"),
        FileCommand::Pause(id) => files.simple(id, "pause"),
        FileCommand::Cancel(id) => files.simple(id, "cancel"),
        FileCommand::Resume { id, path } => files.resume(id, path),
        FileCommand::Transfers => {
            sink.emit(&[Event::TransferList {
                transfers: files.rows(std::time::Instant::now()),
            }]);
            Ok(Vec::new())
        }
        FileCommand::Files => Ok(vec![ClientMsg::ListFiles {}]),
        FileCommand::Download { name, path } => Ok(files.download(name, path)),
    };
    match result {
        Ok(frames) => net.send(frames),
        Err(e) => sink.emit(&[Event::local_error(e)]),
    }
}
