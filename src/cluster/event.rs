//! What nodes publish to each other: one [`Event`] per change to shared
//! chat state, as JSON (the backplane sequences the text and hands it back
//! to every node in order).
//!
//! An event names where it came from (`node`, and the connection there,
//! `conn`), when (`ts`, the origin's clock, so every node stamps a message
//! the same) and what happened ([`Body`]). Applying it is the core's work
//! (`core::cluster`); this module only says what may be in it and how it
//! is written.

use crate::core::ConnId;
use crate::protocol::{ClientMsg, ReceiptKind, Resume, Status};
use serde::{Deserialize, Serialize};

/// One change to shared state, from one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The node that published it.
    pub node: String,
    /// Which run of that node (its start time): a restarted node's
    /// connection numbers start again, so an event of an earlier run must
    /// never be taken for one of the connections it has now.
    #[serde(default)]
    pub run: u64,
    /// The connection on that node it is about (0 when none).
    #[serde(default)]
    pub conn: u64,
    /// Unix milliseconds at the origin when it was published.
    pub ts: u64,
    #[serde(flatten)]
    pub body: Body,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Body {
    /// A frame from a logged-in user that changes shared state (a message,
    /// a join, a receipt, a call...), applied by every node as if the user
    /// were connected there.
    Frame {
        /// The user's name (so a node that has not met them yet still
        /// stores their message).
        #[serde(default)]
        user: Option<String>,
        frame: ClientMsg,
    },
    /// A login that passed the origin's own checks (version, name rules,
    /// password): every node applies the rest (the name free or taken over,
    /// joins), so all agree who holds a name.
    Login(Login),
    /// The connection is gone (`abrupt`: dropped rather than logged out).
    Gone { abrupt: bool },
    /// The node started (again): whatever an earlier run of it held is gone.
    Boot,
    /// `down` stopped refreshing its heartbeat: its users are gone.
    NodeDown { down: String },
    /// A timer on some node ran out for shared state: applied once, by all.
    Expire(Expiry),
    /// A name registered, or its password changed, on the origin (saved
    /// there): every node keeps the same accounts.
    Account {
        name: String,
        account: crate::store::accounts::Account,
    },
    /// The origin's store took a file (an upload committed): every node
    /// lists it, and the origin serves it.
    Stored {
        name: String,
        size: u64,
        sha256: String,
        uploader: String,
        /// When it was uploaded, Unix ms (not `ts`: that is the event's).
        uploaded: u64,
        /// Listed without an upload notice (a node starting publishes its
        /// whole store so).
        #[serde(default)]
        quiet: bool,
    },
    /// The receipts the origin's users sent in the last few ms, in one
    /// event (a member answers what it reads with one: sequenced one by one
    /// they were most of the backplane's load).
    Receipts { items: Vec<ReceiptItem> },
    /// The node's own users, in answer to another node's `boot`, so a node
    /// that starts late learns who is online.
    Roster { users: Vec<RosterUser> },
}

/// The login's fields every node needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub name: String,
    /// Rooms to be in, the first the one asked for in `hello`.
    pub rooms: Vec<String>,
    pub status: Status,
    #[serde(default)]
    pub resume: Resume,
    /// The password check passed (or the name is open).
    pub verified: bool,
    /// The token a new session gets (a resumed one keeps its own).
    pub token: String,
}

/// One `receipt` frame of a [`Body::Receipts`], from connection `conn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptItem {
    pub conn: u64,
    pub kind: ReceiptKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub up_to: u64,
}

/// A timer that changes shared state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "timer", rename_all = "snake_case")]
pub enum Expiry {
    /// A dropped user's name is free again, unless they came back.
    Reservation { name: String },
    /// A call rang unanswered.
    Ring { call: u64 },
}

/// One user online on a node, as another node must know them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterUser {
    pub conn: u64,
    pub name: String,
    pub status: Status,
    #[serde(default)]
    pub away: Option<String>,
    pub rooms: Vec<String>,
    pub token: String,
}

/// What the backplane tells the core (the shell passes it on as a
/// completion).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Redis answers; the cluster's sequence number then.
    Up { seq: u64 },
    /// Redis is lost; events wait (bounded) until it is back.
    Down { reason: String },
    /// Event `seq`, in order, each once.
    Event { seq: u64, payload: String },
    /// Sequence numbers that could not be read back.
    Skipped { from: u64, to: u64 },
    /// Another node stopped heartbeating.
    NodeDown { node: String },
    /// The backplane would not queue `conn`'s newest event (its bound).
    Refused { conn: ConnId, reason: String },
    /// A message another node sent this one (a transfer's frames between
    /// the nodes of its ends: see `core::cluster_files`).
    Direct { payload: String },
}

impl Event {
    /// The JSON published for it.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An event read back from the backplane; the error says what is wrong.
    pub fn from_payload(s: &str) -> Result<Event, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let evs = [
            Event {
                node: "a".into(),
                run: 9,
                conn: 7,
                ts: 1,
                body: Body::Frame {
                    user: Some("alice".into()),
                    frame: ClientMsg::RoomMsg {
                        room: "general".into(),
                        text: "hi".into(),
                        cid: Some("c1".into()),
                    },
                },
            },
            Event {
                node: "b".into(),
                run: 1,
                conn: 3,
                ts: 2,
                body: Body::Login(Login {
                    name: "bob".into(),
                    rooms: vec!["general".into()],
                    status: Status::Online,
                    resume: Resume::default(),
                    verified: false,
                    token: "t".into(),
                }),
            },
            Event {
                node: "b".into(),
                run: 1,
                conn: 0,
                ts: 3,
                body: Body::Expire(Expiry::Ring { call: 4 }),
            },
        ];
        // Every other kind, so a field named like the event's own (`ts`,
        // `node`, `conn`...) would fail here rather than on a live node.
        let more = [
            Body::Gone { abrupt: true },
            Body::Boot,
            Body::NodeDown { down: "c".into() },
            Body::Expire(Expiry::Reservation { name: "x".into() }),
            Body::Roster {
                users: vec![RosterUser {
                    conn: 3,
                    name: "x".into(),
                    status: Status::Away,
                    away: Some("lunch".into()),
                    rooms: vec!["general".into()],
                    token: "t".into(),
                }],
            },
            Body::Account {
                name: "x".into(),
                account: crate::store::accounts::Account {
                    hash: "h".into(),
                    since: 5,
                    dms_from: 6,
                },
            },
            Body::Receipts {
                items: vec![ReceiptItem {
                    conn: 3,
                    kind: ReceiptKind::Read,
                    room: Some("general".into()),
                    peer: None,
                    up_to: 12,
                }],
            },
            Body::Stored {
                name: "a.pdf".into(),
                size: 9,
                sha256: "ab".into(),
                uploader: "x".into(),
                uploaded: 7,
                quiet: true,
            },
        ];
        let evs: Vec<Event> = evs
            .into_iter()
            .chain(more.into_iter().map(|body| Event {
                node: "n".into(),
                run: 2,
                conn: 4,
                ts: 8,
                body,
            }))
            .collect();
        for e in evs {
            let back = Event::from_payload(&e.to_payload()).unwrap();
            assert_eq!(back, e);
        }
        assert!(Event::from_payload("{\"node\":\"a\"}").is_err());
    }
}
