//! The network thread's part in file transfers: file frames go to the
//! transfer table (which writes received chunks to disk), and outgoing chunks
//! are read from disk only while the socket's queue is nearly empty, so a
//! chat frame typed meanwhile waits behind at most a chunk or two.

use super::Link;
use crate::client::event::Event;
use crate::protocol::ServerMsg;
use std::time::Instant;

/// Unsent bytes past which no more chunks are queued.
const CHUNK_QUEUE: usize = 192 * 1024;

impl Link<'_> {
    /// Hand file frames to the transfer table; return the others.
    pub(super) fn file_frames(&mut self, frames: Vec<ServerMsg>) -> Vec<ServerMsg> {
        let mut rest = Vec::with_capacity(frames.len());
        let mut events: Vec<Event> = Vec::new();
        for m in frames {
            match self.shared.files.on_frame(&m) {
                Some((replies, evs)) => {
                    for r in &replies {
                        self.queue(r);
                    }
                    events.extend(evs);
                }
                None => rest.push(m),
            }
        }
        if !events.is_empty() {
            self.sink.emit(&events);
            self.shared.notify();
        }
        rest
    }

    fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queue chunks while the socket keeps up; emit a progress line when due.
    pub(super) fn pump_files(&mut self) {
        while self.unsent() < CHUNK_QUEUE {
            let Some((frames, events)) = self.shared.files.next_chunk() else {
                break;
            };
            for f in &frames {
                self.queue(f);
            }
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
