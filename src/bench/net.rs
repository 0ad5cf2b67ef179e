//! Non-blocking client connections for the load generator: one mio
//! `TcpStream` each, a write buffer flushed until `WouldBlock`, and reads
//! into one shared scratch buffer with only a partial frame kept per
//! connection (so ten thousand idle connections cost little here either).
//! A read goes on until the socket would block or reports the peer's close,
//! so a close that came with the last data is seen by the same readiness
//! event (edge-triggered: no later event would report it).

use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Bytes asked of the kernel per read.
pub const READ_CHUNK: usize = 256 * 1024;

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Nothing more to read for now.
    Drained,
    /// The peer closed the connection.
    Eof,
}

pub struct Conn {
    pub stream: TcpStream,
    /// The connect completed (first WRITABLE event seen, no socket error).
    pub connected: bool,
    partial: Vec<u8>,
    wbuf: Vec<u8>,
    woff: usize,
    /// A read returned 0: the peer closed its side.
    eof: bool,
}

impl Conn {
    /// Start a non-blocking connect (with TCP_NODELAY, like a chat client).
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            connected: false,
            partial: Vec::new(),
            wbuf: Vec::new(),
            woff: 0,
            eof: false,
        })
    }

    /// Check a connect in progress after a WRITABLE event; true once connected.
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The write buffer, to append frames to; [`Conn::flush`] sends them.
    #[inline]
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// Bytes queued but not yet written.
    pub fn pending(&self) -> usize {
        self.wbuf.len() - self.woff
    }

    /// Write until the buffer is empty or the socket would block. Does
    /// nothing before the connect completed.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        while self.woff < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.woff..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.woff += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.woff == self.wbuf.len() {
            self.wbuf.clear();
            self.woff = 0;
            if self.wbuf.capacity() > 1024 * 1024 {
                self.wbuf = Vec::new();
            }
        }
        Ok(())
    }

    /// Whether a read has seen the peer close the connection.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Read all that is available. `on_bytes(data, now)` gets the buffered
    /// bytes (a kept partial frame followed by new ones) and the time the
    /// read returned, and says how many it consumed; the rest is kept for
    /// next time. Reads until the socket would block or the peer's close
    /// (a read of 0) even after a short read: with edge-triggered readiness,
    /// a FIN that arrived with the last data raises no event of its own.
    /// `Eof` once the close was seen (then and on every later call), after
    /// `on_bytes` had all the data that came before it.
    pub fn read(
        &mut self,
        scratch: &mut Vec<u8>,
        epoch: Instant,
        mut on_bytes: impl FnMut(&[u8], u64) -> usize,
    ) -> io::Result<ReadEnd> {
        while !self.eof {
            let p = self.partial.len();
            if scratch.len() < p + READ_CHUNK {
                scratch.resize(p + READ_CHUNK, 0);
            }
            scratch[..p].copy_from_slice(&self.partial);
            match self.stream.read(&mut scratch[p..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let used = on_bytes(&scratch[..p + n], now);
                    self.partial.clear();
                    self.partial.extend_from_slice(&scratch[used..p + n]);
                    if self.partial.capacity() > 1024 * 1024 && self.partial.len() < 4096 {
                        self.partial.shrink_to(4096);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(ReadEnd::Eof)
    }
}
