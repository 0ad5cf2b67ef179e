//! The `hello` load: a new connection logs in with one `hello` whose
//! `resume.rooms` lists `resume_rooms` distinct room names, as large as the
//! server's frame limit allows, then sends a fence ping.

use super::frames::Ev;
use super::runner::{user, Phase, Runner};
use crate::protocol::{encode, ClientMsg, Resume, PROTOCOL_VERSION};

/// `n` distinct valid room names, as short as can be: `r0`, `r1`, ...
/// (the number in base 36).
pub fn room_names(n: usize) -> Vec<String> {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..n)
        .map(|mut k| {
            let mut d = Vec::new();
            loop {
                d.push(DIGITS[k % 36]);
                k /= 36;
                if k == 0 {
                    break;
                }
            }
            d.push(b'r');
            d.reverse();
            String::from_utf8(d).expect("ascii")
        })
        .collect()
}

/// The `hello` frame of the huge-resume load: log in as `name` to `room`,
/// with `resume.rooms` = `rooms`.
pub fn huge_hello(name: &str, room: &str, rooms: &[String]) -> Vec<u8> {
    encode(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.to_string(),
        room: Some(room.to_string()),
        status: None,
        resume: Some(Resume {
            session: None,
            rooms: rooms.to_vec(),
            since: None,
        }),
        password: None,
    })
}

impl Runner<'_> {
    pub(super) fn hello(&mut self, p: &mut Phase) -> Result<String, String> {
        let rooms = room_names(self.cfg.resume_rooms);
        let room = format!("hh{}", self.cfg.tag);
        let longest = user(&self.cfg.tag, p, &format!("z{}", u32::MAX));
        let frame_len = huge_hello(&longest, &room, &rooms).len() - 4;
        if frame_len > self.cfg.max_frame {
            return Err(format!(
                "a hello with {} rooms is {frame_len} bytes, over the server's {}-byte frame limit",
                rooms.len(),
                self.cfg.max_frame
            ));
        }
        let mut welcomed = 0;
        while self.more(p) {
            let name = user(&self.cfg.tag, p, &format!("z{}", p.rounds));
            let frame = huge_hello(&name, &room, &rooms);
            self.on(p);
            let a = self.net.connect(&frame)?;
            self.net.count_sent("hello", 1);
            let fence = self.fence(a);
            let (mut answered, mut fenced, mut closed) = (false, false, false);
            while !(closed || (fenced && answered)) {
                if self.timed_out(p) {
                    break;
                }
                for ev in self.pump_for(a)? {
                    match ev {
                        Ev::Welcome => {
                            answered = true;
                            welcomed += 1;
                        }
                        Ev::Error { .. } => answered = true,
                        Ev::Pong { seq } if seq == fence => fenced = true,
                        Ev::Closed => closed = true,
                        _ => {}
                    }
                }
            }
            self.off(p);
            p.rounds += 1;
            self.net.close(a);
        }
        Ok(format!(
            "per round a new connection sent one hello (room #{room}) whose resume.rooms lists \
             {} distinct names ({frame_len}-byte frame), then a fence ping; {welcomed} of {} \
             logged in",
            rooms.len(),
            p.rounds
        ))
    }
}
