//! Never losing a message, the client's half (sans I/O).
//!
//! - Every `room_msg` / `private_msg` gets a client id, `PREFIX` + a number,
//!   where the prefix is random per process (see `reconnect::cid_prefix`), and
//!   its frame is kept until the `ack` (a `duplicate` one included) or an
//!   `error` naming it. [`ClientState::take_unsent`] hands out the frames not
//!   yet written on the current connection, in id order: after a re-login
//!   that is all of them, before anything new.
//! - [`ClientState::hello`] resumes after the first login: the `session`
//!   token of the last `welcome`, every joined room, the current status, and
//!   `since`, the highest message id seen (messages and own acks; at the
//!   first login the `welcome`'s `last_id`).
//! - A bounded set of recently shown ids drops a message shown before, so a
//!   catch-up never shows one twice; `/history` answers are exempt and page
//!   backwards from the oldest id fetched per conversation.

use super::{ClientState, Outcome};
use crate::client::event::{Conv, Event};
use crate::protocol::{ClientMsg, Replay, Resume, Status, PROTOCOL_VERSION};
use std::collections::{BTreeMap, BTreeSet};

/// Message ids remembered for de-duplication (the oldest are forgotten first).
const SEEN_CAP: usize = 8192;

/// A message sent (or to be sent) and not acknowledged yet.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub conv: Conv,
    pub frame: ClientMsg,
    /// Connection generation it was last handed out on (0: never).
    pub sent_gen: u64,
}

/// What reconnecting needs to remember.
#[derive(Debug)]
pub(super) struct Reliable {
    /// Client ids are this plus a number (`c` unless set per process).
    cid_prefix: String,
    /// Logins so far (a later one resumes).
    logins: u32,
    /// Token from the last `welcome`.
    session: Option<String>,
    /// Highest message id seen; `None` before the first `welcome`.
    since: Option<u64>,
    /// Recently shown message ids.
    seen: BTreeSet<u64>,
    /// Bumped for every login attempt (see [`Pending::sent_gen`]).
    gen: u64,
    /// A resumed login's catch-up is running (until `synced`).
    pub resuming: bool,
    /// Missed messages shown during this catch-up.
    missed: u32,
    /// Our presence, for the next `hello`.
    pub status: Status,
    /// Per conversation, the oldest id a `/history` answer brought.
    oldest: BTreeMap<Conv, u64>,
}

impl Default for Reliable {
    fn default() -> Reliable {
        Reliable {
            cid_prefix: "c".to_string(),
            logins: 0,
            session: None,
            since: None,
            seen: BTreeSet::new(),
            // Above `Pending::sent_gen`'s "never".
            gen: 1,
            resuming: false,
            missed: 0,
            status: Status::Online,
            oldest: BTreeMap::new(),
        }
    }
}

impl ClientState {
    /// Client ids become `PREFIX1`, `PREFIX2`, ... (default prefix `c`).
    pub fn set_cid_prefix(&mut self, prefix: &str) {
        self.rel.cid_prefix = prefix.to_string();
    }

    /// The number in one of our client ids.
    pub(super) fn cid_num(&self, cid: &str) -> Option<u64> {
        cid.strip_prefix(self.rel.cid_prefix.as_str())?.parse().ok()
    }

    /// A new message for `conv`, kept until acknowledged.
    pub(super) fn outgoing_msg(&mut self, conv: Conv, text: String) -> ClientMsg {
        // Answering a conversation sees its activity.
        self.activity.remove(&conv);
        let n = self.next_cid;
        self.next_cid += 1;
        let cid = Some(format!("{}{n}", self.rel.cid_prefix));
        let frame = match &conv {
            Conv::Room(room) => ClientMsg::RoomMsg {
                room: room.clone(),
                text,
                cid,
            },
            Conv::Peer(to) => ClientMsg::PrivateMsg {
                to: to.clone(),
                text,
                cid,
            },
        };
        self.pending.insert(
            n,
            Pending {
                conv,
                frame: frame.clone(),
                sent_gen: 0,
            },
        );
        frame
    }

    /// The first frame on a new connection: a plain `hello` the first time,
    /// later one that resumes (token, rooms, status, `since`), keeping the
    /// current room current.
    pub fn hello(&mut self, room: &str) -> ClientMsg {
        self.rel.gen += 1;
        self.rel.missed = 0;
        let resuming = self.rel.logins > 0;
        self.rel.resuming = resuming;
        let (room, status, resume) = if resuming {
            let room = self.current.clone().unwrap_or_else(|| room.to_string());
            let resume = Resume {
                session: self.rel.session.clone(),
                rooms: self.rooms.keys().cloned().collect(),
                since: Some(self.rel.since.unwrap_or(0)),
            };
            (room, Some(self.rel.status), Some(resume))
        } else {
            (room.to_string(), None, None)
        };
        ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            name: self.me.clone(),
            room: Some(room),
            status,
            resume,
            password: self.password.clone(),
        }
    }

    /// `welcome` arrived: remember the token; the first one fixes `since`.
    /// Returns whether this login resumed an earlier one.
    pub(super) fn welcomed(&mut self, session: String, last_id: u64) -> bool {
        self.rel.logins += 1;
        self.rel.session = Some(session).filter(|s| !s.is_empty());
        match self.rel.since {
            None => self.rel.since = Some(last_id),
            // The server lost messages we saw (a wiped data directory): its ids
            // start again below ours, so forget what we saw.
            Some(s) if s > last_id => {
                self.rel.since = Some(last_id);
                self.rel.seen.clear();
            }
            Some(_) => {}
        }
        self.rel.resuming
    }

    /// The connection is gone: what it carried is void until the next login.
    pub fn connection_lost(&mut self) {
        self.logged_in = false;
        self.room_ops = 0;
        self.typing.clear();
        self.my_typing = None;
        self.call = None;
        self.rel.resuming = false;
    }

    /// Unacknowledged messages not yet written on this connection, in client
    /// id order (after a re-login: all of them). Marks them written.
    pub fn take_unsent(&mut self) -> Vec<ClientMsg> {
        let gen = self.rel.gen;
        self.pending
            .values_mut()
            .filter(|p| p.sent_gen != gen)
            .map(|p| {
                p.sent_gen = gen;
                p.frame.clone()
            })
            .collect()
    }

    /// After a re-login: the latest delivered and read markers again, per
    /// conversation (the server only moves markers forward).
    pub fn resend_receipts(&mut self) -> Vec<ClientMsg> {
        self.incoming.resend()
    }

    /// Highest message id seen (what the next resume asks to catch up from).
    pub fn since(&self) -> Option<u64> {
        self.rel.since
    }

    pub(super) fn saw_id(&mut self, id: u64) {
        self.rel.since = Some(self.rel.since.map_or(id, |s| s.max(id)));
    }

    /// Whether a message should be shown: not if this id was shown already
    /// (`/history` answers always are, and page backwards from them).
    pub(super) fn fresh_message(&mut self, id: u64, conv: &Conv, replay: Option<Replay>) -> bool {
        if replay == Some(Replay::History) {
            let oldest = self.rel.oldest.entry(conv.clone()).or_insert(id);
            *oldest = (*oldest).min(id);
            return true;
        }
        if !self.rel.seen.insert(id) {
            return false;
        }
        if self.rel.seen.len() > SEEN_CAP {
            self.rel.seen.pop_first();
        }
        self.saw_id(id);
        if replay == Some(Replay::Missed) {
            self.rel.missed += 1;
        }
        true
    }

    /// `synced`: the catch-up is over.
    pub(super) fn synced(&mut self) -> Outcome {
        let reconnected = std::mem::take(&mut self.rel.resuming);
        let missed = std::mem::take(&mut self.rel.missed);
        if reconnected || missed > 0 {
            Outcome::event(Event::Synced {
                missed,
                reconnected,
                addr: reconnected.then(|| self.addr.clone()),
            })
        } else {
            Outcome::default()
        }
    }

    /// `history{...}` for `conv`, before the oldest message fetched so far.
    pub(super) fn history_request(&mut self, conv: Conv, limit: u32) -> ClientMsg {
        let before = self.rel.oldest.get(&conv).copied();
        let (room, peer) = match conv {
            Conv::Room(r) => (Some(r), None),
            Conv::Peer(p) => (None, Some(p)),
        };
        ClientMsg::History {
            room,
            peer,
            before,
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::Command;
    use crate::client::event::DeliveryState;
    use crate::protocol::{ReceiptKind, ServerMsg};
    use std::time::Instant;

    fn welcome(s: &mut ClientState, session: &str, last_id: u64) -> Outcome {
        let t = Instant::now();
        s.handle(
            ServerMsg::Welcome {
                version: 1,
                name: "alice".into(),
                server: "test".into(),
                rooms: vec![s.current().unwrap_or("general").to_string()],
                session: session.into(),
                last_id,
                boot: 1,
                files_key: None,
                binary_chunks: false,
            },
            t,
        )
    }

    fn joined(s: &mut ClientState, room: &str) -> Outcome {
        s.handle(
            ServerMsg::Joined {
                room: room.into(),
                members: vec!["alice".into(), "bob".into()],
                created: false,
            },
            Instant::now(),
        )
    }

    /// Logged in as alice in #general (with bob), client ids `cX-N`.
    fn logged_in(last_id: u64) -> ClientState {
        let mut s = ClientState::new("alice", "127.0.0.1:5555");
        s.set_cid_prefix("cX-");
        let hello = s.hello("general");
        assert!(matches!(
            hello,
            ClientMsg::Hello {
                resume: None,
                status: None,
                ..
            }
        ));
        welcome(&mut s, "tok1", last_id);
        joined(&mut s, "general");
        s
    }

    fn msg(id: u64, from: &str, room: Option<&str>, replay: Option<Replay>) -> ServerMsg {
        ServerMsg::Message {
            id,
            ts: 0,
            from: from.into(),
            room: room.map(String::from),
            to: room.is_none().then(|| "alice".to_string()),
            text: format!("m{id}"),
            replay,
        }
    }

    fn ack(cid: &str, id: u64, duplicate: bool) -> ServerMsg {
        ServerMsg::Ack {
            cid: Some(cid.into()),
            id,
            ts: 0,
            recipients: 1,
            duplicate,
        }
    }

    fn cids(frames: &[ClientMsg]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                ClientMsg::RoomMsg { cid, .. } | ClientMsg::PrivateMsg { cid, .. } => {
                    cid.clone().unwrap_or_default()
                }
                other => panic!("not a message: {other:?}"),
            })
            .collect()
    }

    fn say(s: &mut ClientState, text: &str) -> ClientMsg {
        s.command(Command::Say(text.into()), Instant::now())
            .frames
            .remove(0)
    }

    #[test]
    fn unacknowledged_messages_are_resent_in_client_id_order_once_per_connection() {
        let t = Instant::now();
        let mut s = logged_in(0);
        say(&mut s, "one");
        let dm = s.command(
            Command::Msg {
                to: "bob".into(),
                text: "two".into(),
            },
            t,
        );
        assert_eq!(cids(&dm.frames), ["cX-2"]);
        say(&mut s, "three");
        // The first connection writes each once.
        assert_eq!(cids(&s.take_unsent()), ["cX-1", "cX-2", "cX-3"]);
        assert!(s.take_unsent().is_empty());
        // Only #2 is acknowledged (a duplicate ack counts like any other).
        let out = s.handle(ack("cX-2", 7, true), t);
        assert!(matches!(
            &out.events[..],
            [Event::Delivery { ids, state: DeliveryState::Sent, .. }] if ids == &[7]
        ));
        // An id from another run (another prefix) is not ours.
        assert!(s.handle(ack("c2", 8, false), t).events.is_empty());
        assert_eq!(s.pending(), 2);

        // Drop, something typed while away, re-login: everything unacked, in order.
        s.connection_lost();
        say(&mut s, "four");
        s.hello("general");
        welcome(&mut s, "tok1", 9);
        let again = s.take_unsent();
        assert_eq!(cids(&again), ["cX-1", "cX-3", "cX-4"]);
        assert!(
            matches!(&again[0], ClientMsg::RoomMsg { room, text, .. } if room == "general" && text == "one")
        );
        // Something new afterwards goes alone.
        say(&mut s, "five");
        assert_eq!(cids(&s.take_unsent()), ["cX-5"]);
        for (cid, id) in [("cX-1", 5), ("cX-3", 6), ("cX-4", 10), ("cX-5", 11)] {
            s.handle(ack(cid, id, cid == "cX-1"), t);
        }
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn the_resuming_hello_names_token_rooms_status_and_since() {
        let t = Instant::now();
        let mut s = logged_in(41);
        assert_eq!(s.since(), Some(41), "the first welcome's last_id");
        s.command(Command::Join("lab".into()), t);
        joined(&mut s, "lab");
        s.command(Command::Switch("general".into()), t);
        s.command(Command::Status(Status::Away), t);
        s.handle(msg(45, "bob", Some("lab"), None), t);
        say(&mut s, "hi");
        s.handle(ack("cX-1", 47, false), t);
        // An old message from /history does not move it back.
        s.handle(msg(3, "bob", Some("lab"), Some(Replay::History)), t);
        assert_eq!(s.since(), Some(47));

        s.connection_lost();
        assert!(!s.logged_in());
        // Back through another of the server's addresses: the line names it.
        s.set_addr("10.0.0.2:6000");
        assert_eq!(
            s.hello("lab"),
            ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                name: "alice".into(),
                room: Some("general".into()),
                status: Some(Status::Away),
                resume: Some(Resume {
                    session: Some("tok1".into()),
                    rooms: vec!["general".into(), "lab".into()],
                    since: Some(47),
                }),
                password: None,
            }
        );
        // The re-login is quiet until `synced`, and #general stays current.
        assert!(welcome(&mut s, "tok2", 50).events.is_empty());
        assert!(joined(&mut s, "general").events.is_empty());
        assert!(joined(&mut s, "lab").events.is_empty());
        assert_eq!(s.current(), Some("general"));
        let out = s.handle(msg(48, "bob", Some("lab"), Some(Replay::Missed)), t);
        assert!(matches!(
            &out.events[..],
            [Event::Message {
                id: 48,
                replay: Some(Replay::Missed),
                ..
            }]
        ));
        let out = s.handle(
            ServerMsg::Synced {
                count: 1,
                last_id: 50,
            },
            t,
        );
        assert_eq!(
            out.events,
            [Event::Synced {
                missed: 1,
                reconnected: true,
                addr: Some("10.0.0.2:6000".into())
            }]
        );
        // The status the server confirms is the one the next hello carries.
        s.handle(
            ServerMsg::Notice {
                event: crate::protocol::NoticeKind::Status,
                user: "alice".into(),
                room: None,
                status: Some(Status::Busy),
                text: String::new(),
            },
            t,
        );
        s.connection_lost();
        assert!(matches!(
            s.hello("general"),
            ClientMsg::Hello { status: Some(Status::Busy), resume: Some(Resume { session: Some(tok), since: Some(48), .. }), .. } if tok == "tok2"
        ));
        // A server that lost its history (ids below ours): start over from its last id.
        welcome(&mut s, "tok3", 5);
        assert_eq!(s.since(), Some(5));
    }

    #[test]
    fn a_message_already_shown_is_dropped_but_history_is_always_shown() {
        let t = Instant::now();
        let mut s = logged_in(0);
        let shown = |o: &Outcome| o.events.len();
        assert_eq!(
            shown(&s.handle(msg(10, "bob", Some("general"), None), t)),
            1
        );
        s.connection_lost();
        s.hello("general");
        welcome(&mut s, "tok1", 12);
        // Replayed again (it is above the `since` the server got, say): not shown twice.
        let again = msg(10, "bob", Some("general"), Some(Replay::Missed));
        assert_eq!(shown(&s.handle(again, t)), 0);
        assert_eq!(
            shown(&s.handle(msg(11, "bob", None, Some(Replay::Missed)), t)),
            1
        );
        let out = s.handle(
            ServerMsg::Synced {
                count: 2,
                last_id: 12,
            },
            t,
        );
        assert_eq!(
            out.events,
            [Event::Synced {
                missed: 1,
                reconnected: true,
                addr: Some("127.0.0.1:5555".into())
            }]
        );
        // Live after the catch-up, once.
        assert_eq!(
            shown(&s.handle(msg(12, "bob", Some("general"), None), t)),
            1
        );
        assert_eq!(
            shown(&s.handle(msg(12, "bob", Some("general"), None), t)),
            0
        );
        // /history shows what it is asked for, seen or not, and pages backwards.
        let frame = |s: &mut ClientState| {
            s.command(
                Command::History {
                    target: None,
                    limit: 2,
                },
                t,
            )
            .frames
        };
        assert_eq!(
            frame(&mut s),
            [ClientMsg::History {
                room: Some("general".into()),
                peer: None,
                before: None,
                limit: 2
            }]
        );
        for id in [9, 10] {
            let m = msg(id, "bob", Some("general"), Some(Replay::History));
            assert_eq!(shown(&s.handle(m, t)), 1);
        }
        let end = s.handle(
            ServerMsg::HistoryEnd {
                room: Some("general".into()),
                peer: None,
                count: 2,
                more: true,
            },
            t,
        );
        assert_eq!(
            end.events,
            [Event::HistoryEnd {
                conv: Conv::Room("general".into()),
                count: 2,
                more: true
            }]
        );
        assert!(matches!(
            &frame(&mut s)[..],
            [ClientMsg::History {
                before: Some(9),
                ..
            }]
        ));
    }

    #[test]
    fn own_messages_in_a_private_history_belong_to_the_peer_and_owe_no_receipts() {
        let t = Instant::now();
        let mut s = logged_in(0);
        let h = s.command(
            Command::History {
                target: Some(Conv::Peer("bob".into())),
                limit: 20,
            },
            t,
        );
        assert!(matches!(
            &h.frames[..],
            [ClientMsg::History { room: None, peer: Some(p), before: None, limit: 20 }] if p == "bob"
        ));
        let own = ServerMsg::Message {
            id: 4,
            ts: 0,
            from: "alice".into(),
            room: None,
            to: Some("bob".into()),
            text: "mine".into(),
            replay: Some(Replay::History),
        };
        let out = s.handle(own, t);
        assert!(matches!(
            &out.events[..],
            [Event::Message { conv: Conv::Peer(p), .. }] if p == "bob"
        ));
        s.displayed(&out.events);
        assert!(s.take_delivered(Instant::now()).is_empty());
        assert!(s.take_read().is_empty());
    }

    #[test]
    fn receipt_markers_are_sent_again_after_a_re_login() {
        let t = Instant::now();
        let mut s = logged_in(0);
        let out = s.handle(msg(3, "bob", Some("general"), None), t);
        s.displayed(&out.events);
        s.handle(msg(4, "bob", None, None), t);
        assert_eq!(s.take_delivered(t).len(), 2);
        assert_eq!(s.take_read().len(), 1);
        s.connection_lost();
        s.hello("general");
        welcome(&mut s, "tok1", 4);
        let rc = |kind, room: Option<&str>, peer: Option<&str>, up_to| ClientMsg::Receipt {
            kind,
            room: room.map(String::from),
            peer: peer.map(String::from),
            up_to,
        };
        assert_eq!(
            s.resend_receipts(),
            [
                rc(ReceiptKind::Delivered, Some("general"), None, 3),
                rc(ReceiptKind::Read, Some("general"), None, 3),
                rc(ReceiptKind::Delivered, None, Some("bob"), 4),
            ]
        );
    }
}
