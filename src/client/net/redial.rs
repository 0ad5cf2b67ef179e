//! The loop around each connection: the first connection and every
//! reconnect, the order the server addresses are tried in, and the backoff.
//!
//! Addresses are tried in turn ([`Rotation`]): first the one that last
//! worked; a failed try, a login cut before `welcome`, or a lost connection
//! moves on to the next address at once, so a dead node of a cluster costs
//! one failed try; the backoff ([`Backoff`]) waits only once a whole round of
//! addresses has failed (with one address: after every failure, as ever).
//! Whichever address answers, the `hello` resumes the session the same way.

use super::connect::{connect_to, retrying};
use super::{ClientError, Idle, Link, NetConfig, NetStatus, ToNet};
use crate::client::event::Event;
use crate::client::output::Sink;
use crate::client::reconnect::{self, Backoff};
use crate::client::servers::Rotation;
use crate::client::tls::Transport;
use crate::client::Shared;
use crate::protocol::ClientMsg;
use mio::{Events, Poll};
use std::io;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// Connect to the rotation's current address; on success the state names
/// it (the `connected to` and `reconnected to` lines).
fn dial(cfg: &NetConfig, rot: &Rotation, shared: &Shared) -> Result<Transport, ClientError> {
    let addr = rot.current();
    let stream = connect_to(cfg, addr)?;
    shared.lock().set_addr(&addr.to_string());
    Ok(stream)
}

/// The wait before the next try: none while the round has addresses left,
/// else the next backoff delay.
fn pause(round_over: bool, backoff: &mut Backoff) -> Duration {
    match round_over {
        true => backoff.next_delay(),
        false => Duration::ZERO,
    }
}

/// The connections of one client run: the first must connect and log in;
/// after a drop, reconnect (backing off) until logout or a refused login.
pub(super) fn net_main(
    cfg: &NetConfig,
    poll: Poll,
    rx: Receiver<ToNet>,
    shared: &Shared,
    sink: &dyn Sink,
    status: &Sender<NetStatus>,
) -> Option<ClientError> {
    let mut backoff = Backoff::new(cfg.reconnect_base, reconnect::seed());
    let mut rot = Rotation::new(cfg.servers.clone());
    // The first connection backs off and retries like a reconnect, saying so
    // each time; with --no-reconnect it tries each address once.
    let stream = loop {
        match dial(cfg, &rot, shared) {
            Ok(s) => break s,
            Err(e @ ClientError::CannotReach { .. }) => {
                let round_over = rot.failed();
                if round_over && !cfg.reconnect {
                    return Some(e);
                }
                let delay = pause(round_over, &mut backoff);
                sink.emit(&[retrying(&e, delay, rot.next_shown())]);
                thread::sleep(delay);
            }
            Err(e) => return Some(e),
        }
    };
    let mut link = Link {
        poll,
        rx,
        shared,
        sink,
        status,
        stream,
        inbuf: Vec::new(),
        out: Vec::new(),
        out_pos: 0,
        want_write: true,
        logged_in: false,
        logout_by: None,
        held: Vec::new(),
        refused: None,
        taken_over: None,
        binary: false,
    };
    let mut ever = false;
    loop {
        let result = link.run(&cfg.room);
        ever |= link.logged_in;
        let e = match result {
            Ok(()) => return None,
            Err(e) => e,
        };
        if link.logged_in {
            // The next outage starts from the base delay, at this address.
            backoff.reset();
            rot.worked();
        }
        let refused = link.refused.take();
        if !ever {
            // The first login: a refusal or a TLS failure is final; a
            // connection cut before `welcome` is tried again (the next
            // address, or with backoff after a whole round).
            let cut = matches!(e, ClientError::Lost { .. } | ClientError::Login { .. });
            if refused.is_some() || !cut || !cfg.reconnect {
                return Some(e);
            }
            let delay = pause(rot.failed(), &mut backoff);
            sink.emit(&[retrying(&e, delay, rot.next_shown())]);
            let stream = link.reconnect_after(cfg, &mut rot, &mut backoff, delay)?;
            link.reset(stream);
            continue;
        }
        let reason = match &e {
            ClientError::Lost { detail } => detail.clone(),
            other => Some(other.to_string()),
        };
        let fatal = match (&e, refused) {
            _ if link.taken_over.is_some() => Some(ClientError::TakenOver {
                message: link.taken_over.take().unwrap_or_default(),
            }),
            (ClientError::NameTaken { name }, Some(message)) => Some(ClientError::NameLost {
                name: name.clone(),
                message,
            }),
            (_, Some(_)) => Some(e),
            _ if !cfg.reconnect => Some(e),
            _ => None,
        };
        if let Some(e) = fatal {
            sink.fatal(&e);
            return Some(e);
        }
        shared.lock().connection_lost();
        shared.notify();
        let stream = link.reconnect(cfg, &mut rot, &mut backoff, link.logged_in, reason)?;
        link.reset(stream);
    }
}

impl Link<'_> {
    /// The connection is gone: move to the next address, wait (after a
    /// whole round, the backoff), still serving the front end, and connect
    /// again. `None` when the user logs out meanwhile. `announce`: print the
    /// line saying the connection was lost (once per outage), with `reason`.
    fn reconnect(
        &mut self,
        cfg: &NetConfig,
        rot: &mut Rotation,
        backoff: &mut Backoff,
        announce: bool,
        reason: Option<String>,
    ) -> Option<Transport> {
        let delay = pause(rot.failed(), backoff);
        if announce {
            let retry_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.emit(vec![Event::ConnectionLost {
                reason,
                retry_ms,
                next: rot.next_shown(),
            }]);
        }
        self.reconnect_after(cfg, rot, backoff, delay)
    }

    /// Wait `delay`, still serving the front end, then connect to the
    /// current address; each failed try is shown with where and when the
    /// next goes.
    fn reconnect_after(
        &mut self,
        cfg: &NetConfig,
        rot: &mut Rotation,
        backoff: &mut Backoff,
        mut delay: Duration,
    ) -> Option<Transport> {
        let _ = self.poll.registry().deregister(&mut self.stream);
        loop {
            if let Idle::Quit = self.idle_until(Instant::now() + delay) {
                return None;
            }
            // Refused or unreachable: keep trying (the server may be restarting).
            match dial(cfg, rot, self.shared) {
                Ok(stream) => return Some(stream),
                Err(e) => {
                    delay = pause(rot.failed(), backoff);
                    self.emit(vec![retrying(&e, delay, rot.next_shown())]);
                }
            }
        }
    }

    /// Disconnected until `at`: hold the front end's frames for the next login.
    fn idle_until(&mut self, at: Instant) -> Idle {
        let mut events = Events::with_capacity(8);
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(ToNet::Frame(ClientMsg::Logout {})) | Err(TryRecvError::Disconnected) => {
                        return Idle::Quit
                    }
                    Ok(ToNet::Frame(msg)) => self.hold(msg),
                    Ok(ToNet::Reconnect) => return Idle::Try,
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            if now >= at {
                return Idle::Try;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(at - now)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    thread::sleep((at - now).min(Duration::from_millis(100)));
                }
            }
        }
    }
}
