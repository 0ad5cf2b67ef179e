//! The big room that `receipts` and `history` share: a helper client (kept
//! across loads) and `room_messages` messages it sent, each acknowledged;
//! filled once, as setup.

use super::frames::Ev;
use super::runner::{filler, Runner};
use crate::protocol::{encode, ClientMsg};
use std::time::Instant;

/// The big room, its helper client and its messages.
#[derive(Debug, Clone)]
pub(super) struct BigRoom {
    pub(super) room: String,
    pub(super) helper: usize,
    /// The ids of its messages, in order.
    pub(super) ids: Vec<u64>,
}

impl Runner<'_> {
    /// The big room: a helper and `room_messages` acknowledged messages.
    pub(super) fn big_room(&mut self) -> Result<BigRoom, String> {
        if let Some(b) = &self.big {
            return Ok(b.clone());
        }
        let room = format!("big{}", self.cfg.tag);
        let deadline = Instant::now() + self.cfg.phase_timeout;
        let h = self.login(&[format!("{}-h", self.cfg.tag)], &room, deadline)?[0];
        self.keep.insert(h);
        let m = self.cfg.room_messages.max(2);
        let mut buf = Vec::new();
        for k in 0..m {
            buf.extend_from_slice(&encode(&ClientMsg::RoomMsg {
                room: room.clone(),
                text: filler(k, self.cfg.msg_size),
                cid: None,
            }));
        }
        self.net.send(h, &buf, "room_msg", m as u64);
        let mut ids = Vec::with_capacity(m);
        while ids.len() < m {
            if Instant::now() > deadline {
                return Err(format!(
                    "filling the room: {} of {m} acks within {} s",
                    ids.len(),
                    self.cfg.phase_timeout.as_secs()
                ));
            }
            for ev in self.pump_for(h)? {
                match ev {
                    Ev::Ack { id } => ids.push(id),
                    Ev::Error { code, message, .. } => {
                        return Err(format!("filling the room: {code}: {message}"))
                    }
                    Ev::Closed => {
                        return Err("filling the room: the server closed the helper".into())
                    }
                    _ => {}
                }
            }
        }
        let b = BigRoom {
            room,
            helper: h,
            ids,
        };
        self.big = Some(b.clone());
        Ok(b)
    }
}
