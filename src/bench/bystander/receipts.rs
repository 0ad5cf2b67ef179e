//! The `receipts` and `receipts4` loads: fresh readers of the big room each
//! send one cumulative `receipt{kind:"delivered"}` per message, `up_to`
//! moving one id at a time, then a fence ping; a round ends when the fences
//! are answered and the author has been told the readers' final markers.

use super::frames::Ev;
use super::runner::{user, Phase, Runner};
use crate::protocol::{encode, ClientMsg, ReceiptKind};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a receipts round waits, after its fences, for the author to be
/// told the readers' final markers.
const MARKER_GRACE: Duration = Duration::from_secs(5);

impl Runner<'_> {
    pub(super) fn receipts(&mut self, p: &mut Phase, readers: usize) -> Result<String, String> {
        let big = self.big_room()?;
        let deadline = self.deadline(p);
        let mut buf = Vec::new();
        for &id in &big.ids {
            buf.extend_from_slice(&encode(&ClientMsg::Receipt {
                kind: ReceiptKind::Delivered,
                room: Some(big.room.clone()),
                peer: None,
                up_to: id,
            }));
        }
        let n = big.ids.len() as u64;
        let last = *big.ids.last().unwrap_or(&0);
        let mut missing_markers = 0usize;
        while self.more(p) {
            let names: Vec<String> = (0..readers)
                .map(|k| user(&self.cfg.tag, p, &format!("r{}k{k}", p.rounds)))
                .collect();
            let ids = self.login(&names, &big.room, deadline)?;
            self.on(p);
            let mut fences: HashMap<usize, u64> = HashMap::new();
            for &i in &ids {
                self.net.send(i, &buf, "receipt", n);
                let f = self.fence(i);
                fences.insert(i, f);
            }
            let mut told: HashSet<String> = HashSet::new();
            let mut fenced_at: Option<Instant> = None;
            loop {
                if fences.is_empty() {
                    if told.len() == readers {
                        break;
                    }
                    let t = *fenced_at.get_or_insert_with(Instant::now);
                    if t.elapsed() > MARKER_GRACE {
                        missing_markers += readers - told.len();
                        break;
                    }
                }
                if self.timed_out(p) {
                    break;
                }
                for (i, ev) in self.pump()? {
                    match ev {
                        Ev::Pong { seq } if fences.get(&i) == Some(&seq) => {
                            fences.remove(&i);
                        }
                        Ev::Closed if fences.contains_key(&i) => {
                            fences.remove(&i);
                        }
                        Ev::Receipts(markers) if i == big.helper => {
                            for (user, delivered) in markers {
                                if delivered >= last && names.contains(&user) {
                                    told.insert(user);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.off(p);
            p.rounds += 1;
            for i in ids {
                self.net.close(i);
            }
        }
        let mut note = format!(
            "#{} holds {} messages (ids {}..={}); per round {readers} new reader(s) each sent \
             {n} cumulative delivered receipts, up_to one id higher each time, then a fence ping",
            big.room,
            big.ids.len(),
            big.ids.first().unwrap_or(&0),
            last,
        );
        if missing_markers > 0 {
            note.push_str(&format!(
                "; {missing_markers} reader(s)' final marker never reached the author within {} s",
                MARKER_GRACE.as_secs()
            ));
        }
        Ok(note)
    }
}
