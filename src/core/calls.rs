//! Voice and video call signalling (no media): ring, accept, decline, hang up,
//! busy, and missed after the ring timeout.

use super::timers::Timer;
use super::{ConnId, Core, Now};
use crate::protocol::{CallEnd, ErrorCode, Media, ServerMsg};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct Call {
    caller: String,
    callee: String,
    media: Media,
    /// Ringing (with a `Timer::Ring`); false once accepted.
    ringing: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Calls {
    next: u64,
    live: BTreeMap<u64, Call>,
}

impl Core {
    fn in_call(&self, name: &str) -> Option<u64> {
        let conn = self.names.get(name)?;
        self.sessions.get(conn)?.call()
    }

    fn set_call(&mut self, name: &str, call: Option<u64>) {
        if let Some(s) = self.names.get(name).and_then(|c| self.sessions.get_mut(c)) {
            s.set_call(call);
        }
    }

    pub(crate) fn call(&mut self, conn: ConnId, to: String, media: Media, now: Now) {
        let Some(me) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        if to == me {
            self.error(conn, ErrorCode::Invalid, "you cannot call yourself", "call");
            return;
        }
        let Some(&peer) = self.names.get(&to) else {
            let msg = format!("no user named \"{to}\" is online; /users lists who is");
            self.error(conn, ErrorCode::UnknownUser, &msg, "call");
            return;
        };
        if self.in_call(&me).is_some() {
            let msg = "you are already in a call; /hangup first";
            self.error(conn, ErrorCode::CallState, msg, "call");
            return;
        }
        // In a cluster, the event's sequence number: the same on every node.
        self.calls.next = self.applying_seq().unwrap_or(self.calls.next + 1);
        let id = self.calls.next;
        if self.in_call(&to).is_some() {
            self.send(
                conn,
                &ServerMsg::CallEnded {
                    call: id,
                    peer: to,
                    reason: CallEnd::Busy,
                    by: None,
                },
            );
            return;
        }
        self.calls.live.insert(
            id,
            Call {
                caller: me.clone(),
                callee: to.clone(),
                media,
                ringing: true,
            },
        );
        self.timers
            .set(Timer::Ring(id), now.mono_ms + self.cfg.ring_timeout_ms);
        self.set_call(&me, Some(id));
        self.set_call(&to, Some(id));
        self.send(
            conn,
            &ServerMsg::CallRinging {
                call: id,
                to,
                media,
            },
        );
        self.send(
            peer,
            &ServerMsg::CallIncoming {
                call: id,
                from: me,
                media,
            },
        );
    }

    /// The call `id` if `conn`'s user is in it (and, with `callee_ringing`,
    /// is its callee and it is still ringing); otherwise an error is sent.
    fn my_call(&mut self, conn: ConnId, id: u64, callee_ringing: bool, re: &str) -> Option<Call> {
        let me = self.name_of(conn)?.to_string();
        let found = self.calls.live.get(&id).cloned();
        let ok = match &found {
            Some(c) if callee_ringing => c.callee == me && c.ringing,
            Some(c) => c.callee == me || c.caller == me,
            None => false,
        };
        if !ok {
            let msg = if callee_ringing {
                format!("no call {id} is ringing for you")
            } else {
                format!("you are not in call {id}")
            };
            self.error(conn, ErrorCode::CallState, &msg, re);
            return None;
        }
        found
    }

    pub(crate) fn call_accept(&mut self, conn: ConnId, id: u64) {
        let Some(c) = self.my_call(conn, id, true, "call_accept") else {
            return;
        };
        if let Some(live) = self.calls.live.get_mut(&id) {
            live.ringing = false;
            self.timers.cancel(&Timer::Ring(id));
        }
        for (me, peer) in [(&c.caller, &c.callee), (&c.callee, &c.caller)] {
            if let Some(&pc) = self.names.get(me.as_str()) {
                let msg = ServerMsg::CallAccepted {
                    call: id,
                    peer: peer.clone(),
                    media: c.media,
                };
                self.send(pc, &msg);
            }
        }
    }

    pub(crate) fn call_decline(&mut self, conn: ConnId, id: u64) {
        if let Some(c) = self.my_call(conn, id, true, "call_decline") {
            let by = c.callee.clone();
            self.end_call(id, CallEnd::Declined, Some(by));
        }
    }

    pub(crate) fn hangup(&mut self, conn: ConnId, id: u64) {
        if self.my_call(conn, id, false, "hangup").is_some() {
            let by = self.name_of(conn).map(str::to_string);
            self.end_call(id, CallEnd::Hangup, by);
        }
    }

    /// End the call, tell both sides that are still online.
    fn end_call(&mut self, id: u64, reason: CallEnd, by: Option<String>) {
        let Some(c) = self.calls.live.remove(&id) else {
            return;
        };
        self.timers.cancel(&Timer::Ring(id));
        for (me, peer) in [(&c.caller, &c.callee), (&c.callee, &c.caller)] {
            if self.in_call(me) == Some(id) {
                self.set_call(me, None);
            }
            if let Some(&pc) = self.names.get(me.as_str()) {
                let msg = ServerMsg::CallEnded {
                    call: id,
                    peer: peer.clone(),
                    reason,
                    by: by.clone(),
                };
                self.send(pc, &msg);
            }
        }
    }

    pub(crate) fn end_calls_of(&mut self, conn: ConnId, name: &str) {
        if let Some(id) = self
            .sessions
            .get_mut(&conn)
            .and_then(|s| s.rare().and_then(|r| r.call.take()))
        {
            // The leaver is already gone from `names`, so only the peer hears of it.
            self.end_call(id, CallEnd::Disconnected, Some(name.to_string()));
        }
    }

    /// Call `id` rang unanswered for the ring timeout: missed.
    pub(crate) fn ring_expired(&mut self, id: u64) {
        if self.calls.live.get(&id).is_some_and(|c| c.ringing) {
            self.end_call(id, CallEnd::Missed, None);
        }
    }
}
