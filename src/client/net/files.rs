//! The network thread's part in file transfers: file frames go to the
//! transfer table (which writes received chunks to disk), and outgoing chunks
//! are read from disk only while the socket's queue is nearly empty, so a
//! chat frame typed meanwhile waits behind at most a chunk or two.

use super::Link;
use crate::protocol::ServerMsg;
use std::time::Instant;

/// A frame as read: a server frame, or a binary chunk (id, offset, bytes).
pub(super) enum Incoming {
    Msg(ServerMsg),
    Chunk(u64, u64, Vec<u8>),
}

/// Unsent bytes past which no more chunks are queued.
const CHUNK_QUEUE: usize = 192 * 1024;

impl Link<'_> {
    /// Hand file frames to the transfer table; return the others. Their
    /// events are shown by the next [`Link::pump_files`], right after the
    /// chat events of the same batch (so `welcome` comes first).
    pub(super) fn file_frames(&mut self, frames: Vec<Incoming>) -> Vec<ServerMsg> {
        let mut rest = Vec::with_capacity(frames.len());
        for f in frames {
            let done = match f {
                Incoming::Chunk(id, offset, data) => {
                    Some(self.shared.files.on_binary_chunk(id, offset, &data))
                }
                Incoming::Msg(m) => match self.shared.files.on_frame(&m) {
                    None => {
                        rest.push(m);
                        None
                    }
                    done => done,
                },
            };
            if let Some((replies, evs)) = done {
                for r in &replies {
                    self.queue(r);
                }
                self.shared.files.defer(evs);
            }
        }
        rest
    }

    fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Show pending transfer events; queue chunks while the socket keeps up;
    /// emit a progress line when due.
    pub(super) fn pump_files(&mut self) {
        let events = self.shared.files.take_deferred();
        if !events.is_empty() {
            self.sink.emit(&events);
            self.shared.notify();
        }
        while self.unsent() < CHUNK_QUEUE {
            let Some((wire, events)) = self.shared.files.next_chunk_wire(self.binary) else {
                break;
            };
            self.out.extend_from_slice(&wire);
            if !events.is_empty() {
                self.sink.emit(&events);
            }
        }
        if let Some(ev) = self.shared.files.progress(Instant::now()) {
            self.sink.emit(&[ev]);
        }
    }

    /// Now, if chunks could go out right away; else when a progress line is due.
    pub(super) fn files_deadline(&self) -> Option<Instant> {
        if self.unsent() < CHUNK_QUEUE && self.shared.files.has_chunk() {
            return Some(Instant::now());
        }
        self.shared.files.next_deadline()
    }
}
