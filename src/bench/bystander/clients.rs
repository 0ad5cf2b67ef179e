//! The attacker's clients, all on the runner's thread and one mio `Poll`
//! ([`Net`]): connect, send (counted into the phase's [`Tally`] while a load
//! runs), and pump events into decoded frames per client.

use super::frames::{decode, read_frames, Ev};
use super::tally::Tally;
use crate::bench::net::{Conn, ReadEnd};
use mio::{Events, Interest, Poll, Token};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The attacker's clients, by index (a closed one leaves `None`).
pub(super) struct Net {
    poll: Poll,
    events: Events,
    addr: SocketAddr,
    pub(super) conns: Vec<Option<Conn>>,
    scratch: Vec<u8>,
    epoch: Instant,
    pub(super) tally: Tally,
    /// Count frames into `tally` (only while a load runs).
    pub(super) counting: bool,
    /// Clients found closed while sending, reported by the next `pump`.
    dead: Vec<usize>,
}

impl Net {
    pub(super) fn new(addr: SocketAddr) -> Result<Net, String> {
        Ok(Net {
            poll: Poll::new().map_err(|e| e.to_string())?,
            events: Events::with_capacity(256),
            addr,
            conns: Vec::new(),
            scratch: Vec::new(),
            epoch: Instant::now(),
            tally: Tally::default(),
            counting: false,
            dead: Vec::new(),
        })
    }

    /// A new client whose first bytes are `first` (sent once connected).
    pub(super) fn connect(&mut self, first: &[u8]) -> Result<usize, String> {
        let i = self.conns.len();
        let mut c = Conn::connect(self.addr).map_err(|e| format!("connect: {e}"))?;
        self.poll
            .registry()
            .register(
                &mut c.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| e.to_string())?;
        c.out().extend_from_slice(first);
        self.conns.push(Some(c));
        Ok(i)
    }

    pub(super) fn is_open(&self, i: usize) -> bool {
        self.conns.get(i).is_some_and(|c| c.is_some())
    }

    pub(super) fn close(&mut self, i: usize) {
        if let Some(mut c) = self.conns.get_mut(i).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// The server closed client `i`.
    fn lost(&mut self, i: usize) {
        if self.is_open(i) && self.counting {
            self.tally.closed += 1;
        }
        self.close(i);
    }

    pub(super) fn count_sent(&mut self, kind: &str, n: u64) {
        if self.counting {
            self.tally.add_sent(kind, n);
        }
    }

    /// Queue `bytes` (`n` frames of type `kind`) for client `i` and send
    /// what the socket takes; a client the server closed is dropped.
    pub(super) fn send(&mut self, i: usize, bytes: &[u8], kind: &str, n: u64) {
        let Some(Some(c)) = self.conns.get_mut(i) else {
            return;
        };
        c.out().extend_from_slice(bytes);
        let failed = c.flush().is_err();
        self.count_sent(kind, n);
        if failed {
            self.dead.push(i);
        }
    }

    pub(super) fn pending(&self, i: usize) -> usize {
        match self.conns.get(i) {
            Some(Some(c)) => c.pending(),
            _ => 0,
        }
    }

    /// Wait up to `wait` for events; the frames that arrived, per client.
    /// Client `i` closed by the server gives `(i, Ev::Closed)`.
    pub(super) fn pump(&mut self, wait: Duration) -> Result<Vec<(usize, Ev)>, String> {
        self.poll
            .poll(&mut self.events, Some(wait))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut gone = std::mem::take(&mut self.dead);
        for ev in self.events.iter() {
            let i = ev.token().0;
            let Some(Some(c)) = self.conns.get_mut(i) else {
                continue;
            };
            if !c.connected {
                match c.finish_connect() {
                    Ok(_) => {}
                    Err(e) => return Err(format!("connect: {e}")),
                }
            }
            if ev.is_writable() && c.flush().is_err() {
                gone.push(i);
                continue;
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            let tally = &mut self.tally;
            let counting = self.counting;
            let res = read_frames(c, &mut self.scratch, self.epoch, |body, _at| {
                let (kind, e) = decode(body);
                if counting {
                    tally.add_received(&kind);
                    if let Ev::Error { code, message, .. } = &e {
                        tally.add_error(code, message);
                    }
                }
                out.push((i, e));
            })?;
            match res {
                Ok(ReadEnd::Drained) => {}
                Ok(ReadEnd::Eof) | Err(_) => gone.push(i),
            }
        }
        for i in gone {
            if self.is_open(i) {
                self.lost(i);
                out.push((i, Ev::Closed));
            }
        }
        Ok(out)
    }
}
