//! Receipts, both ways, without I/O.
//!
//! [`Outgoing`] follows your own messages: an `ack` makes one `sent` (with the
//! number of recipients), and cumulative `receipts` markers from the server
//! move it on to delivered and read, counted per recipient ("read by 2 of 3").
//! Only changes are reported, grouped into one [`Event::Delivery`] per distinct
//! new state. A message read by all its recipients is forgotten.
//!
//! [`Incoming`] follows other people's messages and decides which receipts to
//! send: one cumulative `delivered` per conversation per batch of frames read,
//! at most one batch of them every [`DELIVERED_EVERY`] (the first at once,
//! what came meanwhile when the pause ends), and one `read` per conversation
//! up to the newest message *displayed* when the user next submits a line
//! (see `command::READ_RULE`).

use super::event::{Conv, DeliveryState, Event};
use crate::protocol::{ClientMsg, Marker, ReceiptKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The shortest time between two rounds of `delivered` receipts. In a busy
/// room a client reads about one message per batch, and acknowledging each
/// made 30 receipts per message in a room of 1000 (the server's largest
/// inbound load); one round per 200 ms is at most 5 a second per member,
/// and an author sees "delivered" at most that much later. A quiet
/// conversation's first message is acknowledged at once.
pub const DELIVERED_EVERY: Duration = Duration::from_millis(200);

/// Own messages remembered per conversation; older ones are dropped.
const MAX_TRACKED: usize = 1000;

#[derive(Debug)]
struct OwnMsg {
    id: u64,
    recipients: u32,
    /// Who it was addressed to, when known (room members at ack time).
    audience: Option<BTreeSet<String>>,
    delivered: u32,
    read: u32,
}

/// Your own messages and what the others' markers say about them.
#[derive(Debug, Default)]
pub struct Outgoing {
    msgs: HashMap<Conv, Vec<OwnMsg>>,
    /// Per conversation, per user: (delivered, read) high-water marks.
    markers: HashMap<Conv, BTreeMap<String, (u64, u64)>>,
}

impl Outgoing {
    /// The server accepted message `id`; `audience` are the intended readers if known.
    pub fn acked(
        &mut self,
        conv: Conv,
        id: u64,
        recipients: u32,
        audience: Option<BTreeSet<String>>,
    ) -> Event {
        let audience = audience.filter(|a| a.len() == recipients as usize);
        let mut m = OwnMsg {
            id,
            recipients,
            audience,
            delivered: 0,
            read: 0,
        };
        (m.delivered, m.read) = self.count(&conv, &m);
        let ev = delivery(&conv, vec![id], &m);
        if m.recipients > 0 && m.read < m.recipients {
            let list = self.msgs.entry(conv).or_default();
            list.push(m);
            if list.len() > MAX_TRACKED {
                list.remove(0);
            }
        }
        ev
    }

    /// New markers for `conv`; returns events for messages whose state changed.
    pub fn markers(&mut self, conv: &Conv, markers: &[Marker], me: &str) -> Vec<Event> {
        let table = self.markers.entry(conv.clone()).or_default();
        for mk in markers.iter().filter(|m| m.user != me) {
            let e = table.entry(mk.user.clone()).or_insert((0, 0));
            e.1 = e.1.max(mk.read);
            e.0 = e.0.max(mk.delivered).max(e.1);
        }
        let Some(mut list) = self.msgs.remove(conv) else {
            return Vec::new();
        };
        // Changed messages grouped by their new (recipients, delivered, read).
        let mut changed: BTreeMap<(u32, u32, u32), Vec<u64>> = BTreeMap::new();
        for m in list.iter_mut() {
            let (d, r) = self.count(conv, m);
            if (d, r) != (m.delivered, m.read) {
                (m.delivered, m.read) = (d, r);
                changed.entry((m.recipients, d, r)).or_default().push(m.id);
            }
        }
        list.retain(|m| m.read < m.recipients);
        if !list.is_empty() {
            self.msgs.insert(conv.clone(), list);
        }
        changed
            .into_iter()
            .map(|((recipients, delivered, read), ids)| {
                let m = OwnMsg {
                    id: 0,
                    recipients,
                    audience: None,
                    delivered,
                    read,
                };
                delivery(conv, ids, &m)
            })
            .collect()
    }

    /// How many of `m`'s recipients have it delivered / read, per the markers.
    fn count(&self, conv: &Conv, m: &OwnMsg) -> (u32, u32) {
        let Some(table) = self.markers.get(conv) else {
            return (0, 0);
        };
        let mut d = 0u32;
        let mut r = 0u32;
        for (user, &(del, read)) in table {
            let counts = match (&m.audience, conv) {
                (Some(a), _) => a.contains(user),
                (None, Conv::Peer(p)) => p == user,
                (None, Conv::Room(_)) => true,
            };
            if counts {
                d += u32::from(del >= m.id);
                r += u32::from(read >= m.id);
            }
        }
        (d.min(m.recipients), r.min(m.recipients))
    }

    /// Forget a conversation (you left the room).
    pub fn forget(&mut self, conv: &Conv) {
        self.msgs.remove(conv);
        self.markers.remove(conv);
    }

    /// Number of own messages still being followed (for tests).
    pub fn tracked(&self) -> usize {
        self.msgs.values().map(Vec::len).sum()
    }
}

fn delivery(conv: &Conv, ids: Vec<u64>, m: &OwnMsg) -> Event {
    let state = if m.read > 0 {
        DeliveryState::Read
    } else if m.delivered > 0 {
        DeliveryState::Delivered
    } else {
        DeliveryState::Sent
    };
    Event::Delivery {
        conv: conv.clone(),
        ids,
        state,
        recipients: m.recipients,
        delivered: m.delivered,
        read: m.read,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    received: u64,
    displayed: u64,
    delivered_sent: u64,
    read_sent: u64,
}

/// Other people's messages: which delivered/read receipts are owed.
#[derive(Debug, Default)]
pub struct Incoming {
    marks: BTreeMap<Conv, Marks>,
    /// No `delivered` receipts before this (see [`DELIVERED_EVERY`]).
    delivered_hold: Option<Instant>,
}

impl Incoming {
    pub fn received(&mut self, conv: &Conv, id: u64) {
        let m = self.marks.entry(conv.clone()).or_default();
        m.received = m.received.max(id);
    }

    pub fn displayed(&mut self, conv: &Conv, id: u64) {
        let m = self.marks.entry(conv.clone()).or_default();
        m.displayed = m.displayed.max(id);
    }

    pub fn forget(&mut self, conv: &Conv) {
        self.marks.remove(conv);
    }

    /// One cumulative `delivered` receipt per conversation with news,
    /// unless the last round was less than [`DELIVERED_EVERY`] before `now`.
    pub fn take_delivered(&mut self, now: Instant) -> Vec<ClientMsg> {
        if self.delivered_hold.is_some_and(|t| now < t) {
            return Vec::new();
        }
        let out = self.owed_delivered();
        if !out.is_empty() {
            self.delivered_hold = Some(now + DELIVERED_EVERY);
        }
        out
    }

    /// Every `delivered` receipt owed, now (a logout does not wait).
    pub fn owed_delivered(&mut self) -> Vec<ClientMsg> {
        let mut out = Vec::new();
        for (conv, m) in self.marks.iter_mut() {
            if m.received > m.delivered_sent {
                m.delivered_sent = m.received;
                out.push(receipt(ReceiptKind::Delivered, conv, m.received));
            }
        }
        out
    }

    /// When receipts held back by the pause are due, if any are.
    pub fn delivered_due(&self) -> Option<Instant> {
        let owed = self.marks.values().any(|m| m.received > m.delivered_sent);
        if owed {
            self.delivered_hold
        } else {
            None
        }
    }

    /// After a re-login: per conversation, `delivered` up to everything
    /// received and `read` up to the last read marker sent (repeats are
    /// harmless: the server only moves markers forward).
    pub fn resend(&mut self) -> Vec<ClientMsg> {
        let mut out = Vec::new();
        for (conv, m) in self.marks.iter_mut() {
            m.delivered_sent = m.delivered_sent.max(m.received);
            if m.delivered_sent > 0 {
                out.push(receipt(ReceiptKind::Delivered, conv, m.delivered_sent));
            }
            if m.read_sent > 0 {
                out.push(receipt(ReceiptKind::Read, conv, m.read_sent));
            }
        }
        out
    }

    /// One cumulative `read` receipt per conversation up to the newest displayed message.
    pub fn take_read(&mut self) -> Vec<ClientMsg> {
        let mut out = Vec::new();
        for (conv, m) in self.marks.iter_mut() {
            if m.displayed > m.read_sent {
                m.read_sent = m.displayed;
                // Read implies delivered on the server; no separate delivered needed.
                m.delivered_sent = m.delivered_sent.max(m.displayed);
                out.push(receipt(ReceiptKind::Read, conv, m.displayed));
            }
        }
        out
    }
}

fn receipt(kind: ReceiptKind, conv: &Conv, up_to: u64) -> ClientMsg {
    let (room, peer) = match conv {
        Conv::Room(r) => (Some(r.clone()), None),
        Conv::Peer(p) => (None, Some(p.clone())),
    };
    ClientMsg::Receipt {
        kind,
        room,
        peer,
        up_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(user: &str, delivered: u64, read: u64) -> Marker {
        Marker {
            user: user.into(),
            delivered,
            read,
        }
    }

    fn counts(ev: &Event) -> (Vec<u64>, DeliveryState, u32, u32, u32) {
        match ev {
            Event::Delivery {
                ids,
                state,
                recipients,
                delivered,
                read,
                ..
            } => (ids.clone(), *state, *recipients, *delivered, *read),
            other => panic!("not a delivery: {other:?}"),
        }
    }

    #[test]
    fn room_counts() {
        let room = Conv::Room("general".into());
        let aud: BTreeSet<String> = ["bob", "carol", "dave"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut o = Outgoing::default();
        let e = o.acked(room.clone(), 10, 3, Some(aud));
        assert_eq!(counts(&e), (vec![10], DeliveryState::Sent, 3, 0, 0));
        let e = o.acked(room.clone(), 12, 3, None);
        assert_eq!(counts(&e), (vec![12], DeliveryState::Sent, 3, 0, 0));

        // bob got both, carol only #10; a stranger's marker does not count for #10.
        let ev = o.markers(
            &room,
            &[mk("bob", 12, 0), mk("carol", 11, 0), mk("zed", 12, 12)],
            "alice",
        );
        assert_eq!(ev.len(), 2);
        assert_eq!(
            counts(&ev[0]),
            (vec![10], DeliveryState::Delivered, 3, 2, 0)
        );
        // #12 had no audience: everyone's markers count (capped at recipients).
        assert_eq!(counts(&ev[1]), (vec![12], DeliveryState::Read, 3, 2, 1));

        // Repeating old markers changes nothing.
        assert!(o.markers(&room, &[mk("bob", 5, 0)], "alice").is_empty());

        // Everyone read everything: one grouped event per distinct state, then forgotten.
        let ev = o.markers(
            &room,
            &[mk("bob", 12, 12), mk("carol", 12, 12), mk("dave", 12, 12)],
            "alice",
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(counts(&ev[0]), (vec![10, 12], DeliveryState::Read, 3, 3, 3));
        assert_eq!(o.tracked(), 0);
    }

    #[test]
    fn private_and_read_implies_delivered() {
        let dm = Conv::Peer("bob".into());
        let mut o = Outgoing::default();
        o.acked(dm.clone(), 4, 1, None);
        let ev = o.markers(&dm, &[mk("bob", 0, 4)], "alice");
        assert_eq!(counts(&ev[0]), (vec![4], DeliveryState::Read, 1, 1, 1));
        // Markers that arrived before the ack are applied at ack time.
        let e = o.acked(dm.clone(), 3, 1, None);
        assert_eq!(counts(&e), (vec![3], DeliveryState::Read, 1, 1, 1));
    }

    #[test]
    fn alone_in_room() {
        let mut o = Outgoing::default();
        let e = o.acked(Conv::Room("x".into()), 1, 0, None);
        assert_eq!(counts(&e), (vec![1], DeliveryState::Sent, 0, 0, 0));
        assert_eq!(o.tracked(), 0);
    }

    #[test]
    fn incoming_coalesces() {
        let mut i = Incoming::default();
        let g = Conv::Room("general".into());
        let b = Conv::Peer("bob".into());
        i.received(&g, 5);
        i.received(&g, 7);
        i.received(&b, 6);
        let t0 = Instant::now();
        let d = i.take_delivered(t0);
        assert_eq!(d.len(), 2);
        assert!(d.contains(&receipt(ReceiptKind::Delivered, &g, 7)));
        assert!(i.take_delivered(t0).is_empty());
        assert!(i.take_read().is_empty());
        i.displayed(&g, 5);
        assert_eq!(i.take_read(), vec![receipt(ReceiptKind::Read, &g, 5)]);
        assert!(i.take_read().is_empty());
        // After a reconnect the latest markers go again, even those already sent.
        i.received(&b, 8);
        assert_eq!(
            i.resend(),
            vec![
                receipt(ReceiptKind::Delivered, &g, 7),
                receipt(ReceiptKind::Read, &g, 5),
                receipt(ReceiptKind::Delivered, &b, 8),
            ]
        );
        assert!(i.take_delivered(t0 + DELIVERED_EVERY).is_empty());
    }

    #[test]
    fn delivered_receipts_pause_between_rounds() {
        let mut i = Incoming::default();
        let g = Conv::Room("general".into());
        let t0 = Instant::now();
        // A quiet conversation's first message: acknowledged at once.
        i.received(&g, 1);
        assert_eq!(
            i.take_delivered(t0),
            vec![receipt(ReceiptKind::Delivered, &g, 1)]
        );
        assert_eq!(i.delivered_due(), None);
        // More within the pause: held, and due when it ends.
        i.received(&g, 2);
        i.received(&g, 3);
        let half = t0 + DELIVERED_EVERY / 2;
        assert!(i.take_delivered(half).is_empty());
        assert_eq!(i.delivered_due(), Some(t0 + DELIVERED_EVERY));
        let end = t0 + DELIVERED_EVERY;
        assert_eq!(
            i.take_delivered(end),
            vec![receipt(ReceiptKind::Delivered, &g, 3)]
        );
        // A logout sends what is owed without waiting.
        i.received(&g, 4);
        assert!(i.take_delivered(end).is_empty());
        assert_eq!(
            i.owed_delivered(),
            vec![receipt(ReceiptKind::Delivered, &g, 4)]
        );
        assert_eq!(i.delivered_due(), None);
    }
}
