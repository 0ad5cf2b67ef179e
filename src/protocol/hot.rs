//! Hand-written encoders for the two frames every chat message makes: the
//! `message` each recipient gets and the `ack` its sender gets. They write
//! byte for byte what serde_json writes for `ServerMsg::Message` and
//! `ServerMsg::Ack` (the tests compare the two over awkward strings), but
//! without serde's per-field calls: a room message's frames cost the loop
//! about a quarter of its instructions through serde.

use super::codec::HEADER_LEN;
use super::message::Replay;
use std::rc::Rc;

/// A `message` frame, header included, shared by every recipient.
pub fn message(
    id: u64,
    ts: u64,
    from: &str,
    room: Option<&str>,
    to: Option<&str>,
    text: &str,
    replay: Option<Replay>,
) -> Rc<[u8]> {
    let mut out = start(64 + from.len() + text.len() + room.map_or(0, str::len));
    out.extend_from_slice(br#"{"type":"message","id":"#);
    number(&mut out, id);
    out.extend_from_slice(br#","ts":"#);
    number(&mut out, ts);
    out.extend_from_slice(br#","from":"#);
    string(&mut out, from);
    if let Some(room) = room {
        out.extend_from_slice(br#","room":"#);
        string(&mut out, room);
    }
    if let Some(to) = to {
        out.extend_from_slice(br#","to":"#);
        string(&mut out, to);
    }
    out.extend_from_slice(br#","text":"#);
    string(&mut out, text);
    match replay {
        None => {}
        Some(Replay::Missed) => out.extend_from_slice(br#","replay":"missed""#),
        Some(Replay::History) => out.extend_from_slice(br#","replay":"history""#),
    }
    out.push(b'}');
    finish(out)
}

/// An `ack` frame, header included.
pub fn ack(cid: Option<&str>, id: u64, ts: u64, recipients: u32, duplicate: bool) -> Rc<[u8]> {
    let mut out = start(96 + cid.map_or(0, str::len));
    out.extend_from_slice(br#"{"type":"ack""#);
    if let Some(cid) = cid {
        out.extend_from_slice(br#","cid":"#);
        string(&mut out, cid);
    }
    out.extend_from_slice(br#","id":"#);
    number(&mut out, id);
    out.extend_from_slice(br#","ts":"#);
    number(&mut out, ts);
    out.extend_from_slice(br#","recipients":"#);
    number(&mut out, u64::from(recipients));
    if duplicate {
        out.extend_from_slice(br#","duplicate":true"#);
    }
    out.push(b'}');
    finish(out)
}

fn start(capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + capacity);
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    out
}

fn finish(mut out: Vec<u8>) -> Rc<[u8]> {
    let len = (out.len() - HEADER_LEN) as u32;
    out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Rc::from(out)
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A JSON string as serde_json writes it: copied whole when nothing in it
/// needs escaping (the usual case), else through serde_json itself.
fn string(out: &mut Vec<u8>, s: &str) {
    // No short cut: a plain fold the compiler can vectorise.
    let escape = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if escape {
        // Writing a &str into a Vec cannot fail.
        serde_json::to_writer(&mut *out, s).expect("a string serialises");
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode, ServerMsg};

    /// Strings that need every kind of escape serde_json writes, and some
    /// that need none.
    fn awkward() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            "plain",
            "quote \" here",
            "back\\slash",
            "new\nline\r\t\u{8}\u{c}",
            "\u{0}\u{1f}\u{7f}",
            "é ü 漢字 🎉",
            "\u{202e}rtl\u{200b}",
            "</script>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every code point below 0x80, one per string.
        v.extend((0u8..0x80).map(|b| format!("a{}b", b as char)));
        // Pseudo-random mixes of escapes and multi-byte characters.
        let alphabet: Vec<char> = "a\"\\\n\u{1}é漢🎉 ".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            let mut s = String::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            v.push(s);
        }
        v
    }

    #[test]
    fn message_frames_are_what_serde_writes() {
        let replays = [None, Some(Replay::Missed), Some(Replay::History)];
        for (i, s) in awkward().iter().enumerate() {
            let replay = replays[i % 3];
            let (room, to) = if i % 2 == 0 {
                (Some(s.as_str()), None)
            } else {
                (None, Some(s.as_str()))
            };
            let serde = encode(&ServerMsg::Message {
                id: i as u64,
                ts: u64::MAX - i as u64,
                from: s.clone(),
                room: room.map(str::to_string),
                to: to.map(str::to_string),
                text: s.clone(),
                replay,
            });
            let ours = message(i as u64, u64::MAX - i as u64, s, room, to, s, replay);
            assert_eq!(&ours[..], &serde[..], "{s:?}");
        }
    }

    #[test]
    fn ack_frames_are_what_serde_writes() {
        for (i, s) in awkward().iter().enumerate() {
            for duplicate in [false, true] {
                let cid = (i % 3 != 0).then(|| s.clone());
                let serde = encode(&ServerMsg::Ack {
                    cid: cid.clone(),
                    id: (1 << 53) - 1,
                    ts: i as u64,
                    recipients: u32::MAX - i as u32,
                    duplicate,
                });
                let ours = ack(
                    cid.as_deref(),
                    (1 << 53) - 1,
                    i as u64,
                    u32::MAX - i as u32,
                    duplicate,
                );
                assert_eq!(&ours[..], &serde[..], "{s:?}");
            }
        }
    }
}
