//! The `hello` load: a new connection logs in with one `hello` whose
//! `resume.rooms` lists up to `resume_rooms` distinct room names, as many as
//! the server's frame limit allows, with `type` as the last field (so the
//! server cannot take a fast path that knows the type first: the worst case
//! a client can send), then sends a fence ping.

use super::frames::Ev;
use super::runner::{user, Phase, Runner};
use crate::protocol::PROTOCOL_VERSION;

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
/// with `resume.rooms` = as many of `rooms` as keep the body within
/// `max_frame` bytes, and `type` last. Returns the frame and the rooms used.
pub fn huge_hello(name: &str, room: &str, rooms: &[String], max_frame: usize) -> (Vec<u8>, usize) {
    let head = format!(
        r#"{{"version":{PROTOCOL_VERSION},"name":{},"room":{},"resume":{{"rooms":["#,
        serde_json::to_string(name).expect("a string"),
        serde_json::to_string(room).expect("a string"),
    );
    let tail = r#"]},"type":"hello"}"#;
    let mut body = head.into_bytes();
    let mut used = 0;
    for r in rooms {
        let item = serde_json::to_string(r).expect("a string");
        let sep = usize::from(used > 0);
        if body.len() + sep + item.len() + tail.len() > max_frame {
            break;
        }
        if sep == 1 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
        used += 1;
    }
    body.extend_from_slice(tail.as_bytes());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    (frame, used)
}

impl Runner<'_> {
    pub(super) fn hello(&mut self, p: &mut Phase) -> Result<String, String> {
        let rooms = room_names(self.cfg.resume_rooms);
        let room = format!("hh{}", self.cfg.tag);
        let longest = user(&self.cfg.tag, p, &format!("z{}", u32::MAX));
        let (longest_frame, listed) = huge_hello(&longest, &room, &rooms, self.cfg.max_frame);
        let frame_len = longest_frame.len() - 4;
        let mut welcomed = 0;
        while self.more(p) {
            let name = user(&self.cfg.tag, p, &format!("z{}", p.rounds));
            let (frame, _) = huge_hello(&name, &room, &rooms, self.cfg.max_frame);
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
            "per round a new connection sent one hello (room #{room}, `type` last) whose \
             resume.rooms lists {listed} distinct names (of {} asked; up to {frame_len} bytes, the \
             frame limit), then a fence ping; {welcomed} of {} logged in",
            rooms.len(),
            p.rounds
        ))
    }
}
