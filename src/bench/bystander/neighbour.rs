//! The `neighbour` load: clients in another room each keep one `room_msg`
//! in flight (the next goes when the ack comes) for `load_time`.

use super::frames::{answers, Ev};
use super::runner::{filler, user, Phase, Runner};
use crate::protocol::{encode, ClientMsg};
use std::collections::HashSet;
use std::time::Instant;

impl Runner<'_> {
    pub(super) fn neighbour(&mut self, p: &mut Phase) -> Result<String, String> {
        let deadline = self.deadline(p);
        let room = format!("nb{}", self.cfg.tag);
        let n = self.cfg.neighbours.max(2);
        let names: Vec<String> = (0..n)
            .map(|k| user(&self.cfg.tag, p, &format!("n{k}")))
            .collect();
        let ids = self.login(&names, &room, deadline)?;
        let msg = encode(&ClientMsg::RoomMsg {
            room: room.clone(),
            text: filler(0, self.cfg.msg_size),
            cid: None,
        });
        self.on(p);
        let t0 = Instant::now();
        let stop_at = t0 + self.cfg.load_time;
        let mut busy: HashSet<usize> = HashSet::new();
        for &i in &ids {
            self.net.send(i, &msg, "room_msg", 1);
            busy.insert(i);
        }
        let (mut acked, mut delivered) = (0u64, 0u64);
        while !busy.is_empty() {
            if self.timed_out(p) {
                break;
            }
            for (i, ev) in self.pump()? {
                match ev {
                    Ev::Message => delivered += 1,
                    Ev::Ack { .. } | Ev::Error { .. }
                        if busy.contains(&i) && answers(&ev, "room_msg") =>
                    {
                        if matches!(ev, Ev::Ack { .. }) {
                            acked += 1;
                        }
                        if Instant::now() < stop_at {
                            self.net.send(i, &msg, "room_msg", 1);
                        } else {
                            busy.remove(&i);
                        }
                    }
                    Ev::Closed => {
                        busy.remove(&i);
                    }
                    _ => {}
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        self.off(p);
        p.rounds = 1;
        Ok(format!(
            "{n} members of #{room} each kept one {}-byte room_msg in flight for {:.1} s: \
             {acked} acked ({:.0}/s), {delivered} deliveries read by the members",
            self.cfg.msg_size,
            self.cfg.load_time.as_secs_f64(),
            acked as f64 / secs
        ))
    }
}
