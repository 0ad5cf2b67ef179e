//! One client connection: socket, read buffer and a backpressure-aware write queue.
//!
//! Buffers grow on demand and shrink back when drained (the read buffer once
//! its bytes are decoded, the write queue once written out), so an idle
//! connection costs its `Conn` (232 bytes) and no buffer. Writes go out with `write_vectored` until the
//! kernel says `WouldBlock`; a partial write just advances the head offset.
//! The queue is a [`OutQueue`]: chat and control frames first, file chunks
//! round-robin across transfers behind them.

use super::sched::OutQueue;
use super::tls::{self, TlsWriter, Transport};
use crate::core::Priority;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// Result of trying to queue a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Queued {
    Yes,
    /// Low-priority frame dropped: the queue is above the high watermark.
    Dropped,
    /// The queue passed the hard limit: the peer is not reading.
    OverLimit,
}

/// What happened on a read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Drained to `WouldBlock`.
    Drained,
    /// Stopped because the per-turn budget was used; more may be waiting.
    Budget,
    /// Peer closed its side.
    Eof,
    /// A plaintext client on a TLS port: its first byte (not read).
    NotTls(u8),
}

/// A connection's key in the shell's slab (and its mio token). The core
/// never sees it: it knows the connection by its [`ConnId`](crate::core::ConnId).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub usize);

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub struct Conn {
    /// The id the core knows this connection by: its slab key in the low 32
    /// bits and a generation above, so output queued for a connection that
    /// closed can never reach a new one that got the same slab slot.
    pub id: crate::core::ConnId,
    pub stream: TcpStream,
    pub peer: std::net::SocketAddr,
    /// Bytes received but not yet decoded (a partial frame).
    pub rbuf: Vec<u8>,
    out: OutQueue,
    /// WRITABLE interest is registered.
    pub want_write: bool,
    /// No more input is decoded (fatal protocol error or closing).
    pub stop_reading: bool,
    /// Set when the server decided to close (lingering close in progress).
    pub closing: bool,
    /// The peer closed its side.
    pub eof: bool,
    /// Write side shut down; waiting for the peer's EOF (lingering close).
    pub shut: bool,
    /// Monotonic ms after which a closing connection is dropped regardless.
    pub close_deadline: u64,
    /// Plain TCP or TLS.
    pub transport: Transport,
    /// Input is throttled (message rate) until the core says `Resume`.
    pub throttled: bool,
    /// Some bytes have arrived (the first ones are checked for TLS).
    pub started: bool,
    /// A TLS close_notify was queued.
    pub close_notified: bool,
    /// Since when (monotonic ms) a partial frame has waited in `rbuf`
    /// without another frame completing.
    pub partial_since: Option<u64>,
    /// Not read while the history writer is behind (in `Server::disk_wait`).
    pub disk_wait: bool,
    /// Frames decoded so far (to tell a stalled frame from a busy stream).
    pub frames_in: u64,
    /// Frames decoded in this turn (see `input::FRAMES_PER_TURN`); u32 so
    /// it packs beside `stream`.
    pub turn_frames: u32,
    /// A browser: HTTP, or a WebSocket after the upgrade (see `web`).
    pub web: Option<super::web::Web>,
    /// The browser closed its WebSocket (or broke its framing).
    pub ws_closed: bool,
    /// The client asked for file chunks as binary frames (`binary_chunks`).
    pub binary_chunks: bool,
    /// An event said the peer closed or the socket failed: reads go on to
    /// the end (0 bytes or an error), not stopping at a short read.
    pub hup: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, peer: std::net::SocketAddr) -> Self {
        Conn {
            id: crate::core::ConnId(0),
            stream,
            peer,
            rbuf: Vec::new(),
            out: OutQueue::new(),
            want_write: false,
            stop_reading: false,
            closing: false,
            eof: false,
            shut: false,
            close_deadline: 0,
            transport: Transport::Plain,
            throttled: false,
            started: false,
            close_notified: false,
            partial_since: None,
            disk_wait: false,
            frames_in: 0,
            turn_frames: 0,
            web: None,
            ws_closed: false,
            binary_chunks: false,
            hup: false,
        }
    }

    /// Queued bytes that count for backpressure: control and chat frames and
    /// the frame being written (chunks waiting behind them are bounded by
    /// their transfers' credit windows instead).
    /// Bytes waiting to be written: frames and chunks.
    pub fn queued_bytes(&self) -> usize {
        self.out.queued() + self.out.chunk_bytes()
    }

    /// Transfers whose chunks went out in full since the last call.
    pub fn take_sent_chunks(&mut self) -> Vec<u64> {
        self.out.take_sent_chunks()
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || self.transport.wants_write()
    }

    /// Whether a new chunk may be pulled for this connection: no chunk is
    /// waiting behind the one being written and the queue is under `high`.
    pub fn chunk_slot_free(&self, high: usize) -> bool {
        self.out.chunk_frames() == 0 && self.out.queued() < high
    }

    /// Queue a frame, honouring the high watermark for low-priority frames and
    /// the hard limit for everything.
    pub fn push(&mut self, frame: Rc<[u8]>, prio: Priority, high: usize, hard: usize) -> Queued {
        if prio == Priority::Low && self.out.queued() >= high {
            return Queued::Dropped;
        }
        if let Priority::Chunk(transfer) = prio {
            self.out.push_chunk(transfer, frame);
        } else {
            self.out.push_ctrl(frame);
        }
        // Chunks count too: a receiver that grants credit but never reads
        // is a slow consumer like any other.
        if self.queued_bytes() > hard {
            Queued::OverLimit
        } else {
            Queued::Yes
        }
    }

    /// Drop everything queued (the connection is being torn down).
    pub fn discard_output(&mut self) {
        self.out.clear();
    }

    /// Drop everything queued but the frame being written (so a last frame
    /// can still follow it on a well-framed stream).
    pub fn discard_queued(&mut self) {
        self.out.clear_behind_head();
    }

    /// Write until the queue is empty or the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.transport {
            Transport::Tls(session) => {
                let mut w = TlsWriter {
                    tls: session,
                    stream: &mut self.stream,
                };
                self.out.write_to(&mut w)?;
                w.flush()
            }
            _ => self.out.write_to(&mut self.stream),
        }
    }

    /// Queue a TLS close_notify before the write side is shut (once).
    pub fn close_notify(&mut self) {
        if !self.close_notified {
            self.close_notified = true;
            if let Some(super::web::Web::Ws(ws)) = &mut self.web {
                let frame = ws.close_frame();
                self.out.push_ctrl(Rc::from(frame));
            }
            self.transport.close_notify();
        }
    }

    /// A browser connection upgraded to WebSocket.
    pub fn is_ws(&self) -> bool {
        matches!(self.web, Some(super::web::Web::Ws(_)))
    }

    /// Read into `scratch`, handing each chunk to `sink`, until `WouldBlock`,
    /// EOF, `budget` bytes, or a read shorter than `scratch`.
    ///
    /// A short read has emptied the socket's receive buffer, so the read
    /// that would only say `WouldBlock` is skipped (as tokio does): with
    /// edge-triggered readiness, data arriving after it raises a new event.
    /// A close is not a new event if it came with the data, so once an event
    /// has said the peer closed ([`Conn::hup`]) reads go on to the end.
    pub fn read_some(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        mut sink: impl FnMut(&mut Self, &[u8]),
    ) -> io::Result<ReadOutcome> {
        if let Some(outcome) = self.transport.sniff(&self.stream)? {
            return Ok(outcome);
        }
        if let Transport::Tls(_) = self.transport {
            return tls::read_some(self, scratch, budget, sink);
        }
        let mut total = 0;
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => {
                    sink(self, &scratch[..n]);
                    total += n;
                    if total >= budget {
                        return Ok(ReadOutcome::Budget);
                    }
                    if n < scratch.len() && !self.hup {
                        return Ok(ReadOutcome::Drained);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Give back read-buffer memory once it is empty.
    pub fn shrink(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection costs its `Conn` in the server's slab, idle or not
    /// (320 bytes before the chunk state was boxed and `turn_frames` made
    /// a u32): keep it from growing back unnoticed.
    #[test]
    fn a_connection_stays_small() {
        let size = std::mem::size_of::<Conn>();
        assert!(size <= 232, "Conn is {size} bytes");
        assert!(std::mem::size_of::<OutQueue>() <= 72);
    }
}
