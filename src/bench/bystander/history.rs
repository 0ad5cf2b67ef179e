//! The `history` load: a client of the big room keeps `history_window`
//! requests in flight for pages below the room's middle id (older than the
//! server's recent cache) for `load_time`; a refused request is asked again
//! only once a page has come.

use super::frames::{answers, Ev};
use super::runner::{user, Phase, Runner};
use crate::protocol::{encode, ClientMsg};
use std::time::Instant;

impl Runner<'_> {
    pub(super) fn history(&mut self, p: &mut Phase) -> Result<String, String> {
        let big = self.big_room()?;
        let deadline = self.deadline(p);
        let a = self.login(&[user(&self.cfg.tag, p, "q")], &big.room, deadline)?[0];
        let before = big.ids[big.ids.len() / 2];
        let limit = self.cfg.history_limit.max(1);
        let req = encode(&ClientMsg::History {
            room: Some(big.room.clone()),
            peer: None,
            before: Some(before),
            limit,
        });
        let window = self.cfg.history_window.max(1);
        self.on(p);
        let t0 = Instant::now();
        let stop_at = t0 + self.cfg.load_time;
        let mut in_flight = 0usize;
        for _ in 0..window {
            self.net.send(a, &req, "history", 1);
            in_flight += 1;
        }
        let (mut pages, mut msgs) = (0u64, 0u64);
        'run: while in_flight > 0 {
            if self.timed_out(p) {
                break;
            }
            for ev in self.pump_for(a)? {
                match ev {
                    Ev::Message => msgs += 1,
                    Ev::HistoryEnd => {
                        pages += 1;
                        if Instant::now() < stop_at {
                            self.net.send(a, &req, "history", 1);
                        } else {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    // Refused (e.g. `slow_down` past the reads a connection
                    // may have in flight): ask again only once a page came.
                    Ev::Error { .. } if answers(&ev, "history") => {
                        in_flight = in_flight.saturating_sub(1)
                    }
                    Ev::Closed => break 'run,
                    _ => {}
                }
            }
            if in_flight == 0 && Instant::now() < stop_at {
                self.net.send(a, &req, "history", 1);
                in_flight += 1;
            }
        }
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        self.off(p);
        p.rounds = 1;
        Ok(format!(
            "pages of up to {limit} messages below id {before} (the middle) of #{} ({} \
             messages), {window} requests in flight for {:.1} s: {pages} pages ({msgs} \
             messages) = {:.0} pages/s",
            big.room,
            big.ids.len(),
            self.cfg.load_time.as_secs_f64(),
            pages as f64 / secs
        ))
    }
}
