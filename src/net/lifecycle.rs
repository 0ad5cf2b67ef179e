//! A connection's life in the shell: accepted (registered with the poll,
//! given an id, handed to the core), read (budgeted per turn, frames
//! decoded into the core, the partial-frame timer, end of input), closed
//! (a lingering close that flushes the goodbye first), reaped and removed.

use super::input::{ingest, InputCtx, FRAMES_PER_TURN};
use super::{throttle, tls, Conn, ReadOutcome, Server, Slot};
use super::{LINGER_MS, LOG_BACKLOG_LIMIT, READ_BUDGET};
use crate::core::logsafe::Safe;
use crate::core::{ConnId, Gone, Now};
use mio::{Interest, Token};
use std::io;

impl Server {
    pub(super) fn accept_all(&mut self, now: Now) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    // (Linux: inherited from the listener, see `listen`.)
                    if !cfg!(target_os = "linux") {
                        let _ = stream.set_nodelay(true);
                    }
                    let entry = self.conns.vacant_entry();
                    let k = Slot(entry.key());
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(k.0), Interest::READABLE)
                    {
                        log::warn!("cannot register connection from {peer}: {e}");
                        continue;
                    }
                    let id = ConnId::new(k.0, self.next_gen as u64);
                    self.next_gen += 1;
                    let conn = entry.insert(Conn::new(stream, peer));
                    conn.id = id;
                    if let Some(cfg) = &self.tls {
                        conn.transport = tls::Transport::Sniff(cfg.clone());
                    }
                    log::debug!("conn {k}: accepted from {peer}");
                    // A refused connection gets its error and close with
                    // this turn's output.
                    self.core.accept(id, peer.ip(), now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    break;
                }
            }
        }
    }

    /// Read what `k` has (up to the budget), decoding frames into the core.
    pub(super) fn read_conn(&mut self, k: Slot, now: Now) {
        let Server {
            conns,
            core,
            scratch,
            web,
            cfg,
            ..
        } = self;
        let cx = InputCtx {
            max_frame: cfg.max_frame,
            web,
        };
        let Some(conn) = conns.get_mut(k.0) else {
            return;
        };
        if core.log_backlog() > LOG_BACKLOG_LIMIT {
            if !conn.disk_wait {
                conn.disk_wait = true;
                self.disk_wait.push(k);
            }
            return;
        }
        conn.disk_wait = false;
        conn.turn_frames = 0;
        let frames_before = conn.frames_in;
        if (!conn.rbuf.is_empty() || conn.is_ws()) && !conn.throttled {
            // Frames left over from last turn's frame budget go first (a
            // WebSocket may hold whole messages in its own buffer).
            ingest(conn, &[], core, &cx, now);
        }
        let budget = if conn.throttled || conn.turn_frames >= FRAMES_PER_TURN {
            // Throttled, or this turn's frames are used: buffer a little,
            // then let TCP push back on the sender.
            throttle::THROTTLED_INPUT.saturating_sub(conn.rbuf.len())
        } else {
            READ_BUDGET
        };
        let outcome = if budget == 0 {
            Ok(ReadOutcome::Budget)
        } else {
            conn.read_some(scratch, budget, |conn, data| {
                ingest(conn, data, core, &cx, now);
            })
        };
        conn.shrink();
        // A partial frame starts (or restarts, when frames complete) the
        // core's frame timer.
        let waiting = !conn.rbuf.is_empty() && !conn.throttled && !conn.stop_reading;
        let since = match (waiting, conn.partial_since) {
            (false, None) => None,
            (false, Some(_)) => Some(None),
            (true, None) => Some(Some(now.mono_ms)),
            (true, Some(_)) if conn.frames_in != frames_before => Some(Some(now.mono_ms)),
            (true, Some(_)) => None,
        };
        if let Some(since) = since {
            conn.partial_since = since;
            core.partial_frame(conn.id, since);
        }
        if conn.transport.wants_write() || conn.has_output() {
            // A TLS handshake answer, an HTTP response, a WebSocket pong.
            self.dirty.push(k);
        }
        // A browser's close frame ends its input like a TCP close.
        let outcome = if conn.ws_closed && !conn.eof {
            Ok(ReadOutcome::Eof)
        } else {
            outcome
        };
        let undecoded = conn.turn_frames >= FRAMES_PER_TURN && !conn.throttled;
        match outcome {
            Ok(ReadOutcome::Drained) if undecoded => self.backlog.push_back(k),
            Ok(ReadOutcome::Drained) => {}
            Ok(ReadOutcome::Budget) if conn.throttled => {} // read again on Resume
            Ok(ReadOutcome::Budget) => self.backlog.push_back(k),
            Ok(ReadOutcome::NotTls(first)) => self.not_tls(k, first),
            Ok(ReadOutcome::Eof) => {
                conn.eof = true;
                if undecoded {
                    // What came before the close is still decoded, next turn.
                    self.backlog.push_back(k);
                } else if conn.shut {
                    self.remove(k, "closed");
                } else if conn.closing || conn.stop_reading {
                    // Still flushing our goodbye; the reaper finishes it.
                } else {
                    // The peer may only have closed its write side: what
                    // its last frames produced (acks waiting for their
                    // batch too) is still sent, then the core closes it.
                    conn.stop_reading = true;
                    if !core.peer_closed(conn.id) {
                        self.begin_close(k, "peer closed the connection", now);
                    }
                }
            }
            Err(e) => self.remove(k, &format!("read failed: {e}")),
        }
    }

    pub(super) fn begin_close(&mut self, k: Slot, reason: &str, now: Now) {
        let Some(conn) = self.conns.get_mut(k.0) else {
            return;
        };
        if conn.closing {
            return;
        }
        log::debug!("conn {k}: closing ({})", Safe(reason));
        conn.closing = true;
        conn.stop_reading = true;
        conn.close_deadline = now.mono_ms + LINGER_MS;
        let id = conn.id;
        self.closing.push(k);
        self.dirty.push(k);
        self.core.disconnect(id, Gone::Kicked, now);
    }

    /// Finish lingering closes: shut the write side once flushed, drop at EOF or deadline.
    pub(super) fn reap(&mut self, now: Now) {
        let closing = std::mem::take(&mut self.closing);
        for k in closing {
            let Some(conn) = self.conns.get_mut(k.0) else {
                continue;
            };
            if now.mono_ms >= conn.close_deadline {
                self.remove(k, "close timed out");
                continue;
            }
            if !conn.shut && !conn.has_output() && !conn.close_notified {
                conn.close_notify(); // TLS: the alert goes out before the FIN
                if conn.has_output() {
                    self.flush_conn(k);
                }
            }
            let Some(conn) = self.conns.get_mut(k.0) else {
                continue;
            };
            if !conn.shut && !conn.has_output() {
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                conn.shut = true;
            }
            if conn.shut && conn.eof {
                self.remove(k, "closed");
                continue;
            }
            self.closing.push(k);
        }
    }

    pub(super) fn remove(&mut self, k: Slot, why: &str) {
        if let Some(mut conn) = self.conns.try_remove(k.0) {
            log::debug!("conn {k} ({}): removed: {}", conn.peer, Safe(why));
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.core
                .disconnect(conn.id, Gone::Abrupt, self.clock.now());
        }
        self.closing.retain(|c| *c != k);
        self.backlogged.forget(k);
        self.backlog.retain(|c| *c != k);
        self.disk_wait.retain(|c| *c != k);
    }
}
