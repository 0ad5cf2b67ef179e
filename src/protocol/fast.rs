//! Fast paths for the frames that come by the thousand: room and private
//! messages, receipts, pings, and file chunks; and for `hello`, whose resume
//! list is the largest thing a client may send.
//!
//! serde decodes an internally tagged enum by first buffering the whole
//! object into an intermediate tree, then decoding that again; for the
//! hottest frames we parse straight into the variant's fields instead. A
//! file chunk's base64 `data` is borrowed from the frame, never copied: the
//! server forwards the frame's bytes as they are. Any frame a fast path does
//! not accept exactly goes through the general decoder, which also produces
//! the error messages, so behaviour is the same either way.

use super::lengths::{bounded_rooms, TOO_MANY_RESUME_ROOMS};
use super::message::{ClientMsg, ReceiptKind, Resume, Status};
use super::Secret;
use serde::Deserialize;

const ROOM_MSG: &[u8] = br#"{"type":"room_msg","#;
const PRIVATE_MSG: &[u8] = br#"{"type":"private_msg","#;
const FILE_CHUNK: &[u8] = br#"{"type":"file_chunk","#;
const RECEIPT: &[u8] = br#"{"type":"receipt","#;
const PING: &[u8] = br#"{"type":"ping""#;
const HELLO: &[u8] = br#"{"type":"hello","#;
/// Bodies longer than this whose `type` is not first have it read before
/// decoding; smaller ones go to serde, whose buffering a body this small
/// bounds.
const PROBE_FROM: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    #[serde(rename = "type")]
    _type: Tag,
    version: u32,
    name: String,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    resume: Option<FastResume>,
    #[serde(default)]
    password: Option<Secret>,
}

/// `Resume` decoded straight (same fields, same bound on `rooms`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastResume {
    #[serde(default)]
    session: Option<String>,
    #[serde(default, deserialize_with = "bounded_rooms")]
    rooms: Vec<String>,
    #[serde(default)]
    since: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Receipt {
    #[serde(rename = "type")]
    _type: Tag,
    kind: ReceiptKind,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    peer: Option<String>,
    up_to: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ping {
    #[serde(rename = "type")]
    _type: Tag,
    #[serde(default)]
    seq: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomMsg {
    #[serde(rename = "type")]
    _type: Tag,
    room: String,
    text: String,
    #[serde(default)]
    cid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateMsg {
    #[serde(rename = "type")]
    _type: Tag,
    to: String,
    text: String,
    #[serde(default)]
    cid: Option<String>,
}

/// A file chunk whose payload stays in the frame.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkRef<'a> {
    #[serde(rename = "type")]
    _type: Tag,
    pub id: u64,
    pub offset: u64,
    #[serde(borrow)]
    pub data: &'a str,
}

/// The `"type"` value, already checked by the prefix match.
#[derive(Debug)]
struct Tag;

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Tag, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Tag)
    }
}

/// A room or private message, a receipt or a ping, if `body` is one with
/// `type` first.
pub fn message(body: &[u8]) -> Option<ClientMsg> {
    if let Some(m) = as_written(body, ROOM_MSG, br#""room":"#) {
        return Some(ClientMsg::RoomMsg {
            room: m.0.to_owned(),
            text: m.1.to_owned(),
            cid: m.2.map(str::to_owned),
        });
    }
    if let Some(m) = as_written(body, PRIVATE_MSG, br#""to":"#) {
        return Some(ClientMsg::PrivateMsg {
            to: m.0.to_owned(),
            text: m.1.to_owned(),
            cid: m.2.map(str::to_owned),
        });
    }
    if body.starts_with(ROOM_MSG) {
        let m: RoomMsg = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::RoomMsg {
            room: m.room,
            text: m.text,
            cid: m.cid,
        })
    } else if body.starts_with(PRIVATE_MSG) {
        let m: PrivateMsg = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::PrivateMsg {
            to: m.to,
            text: m.text,
            cid: m.cid,
        })
    } else if body.starts_with(RECEIPT) {
        let r: Receipt = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::Receipt {
            kind: r.kind,
            room: r.room,
            peer: r.peer,
            up_to: r.up_to,
        })
    } else if body.starts_with(PING) {
        let p: Ping = serde_json::from_slice(body).ok()?;
        Some(ClientMsg::Ping { seq: p.seq })
    } else {
        None
    }
}

/// A `hello` with `type` first (or anywhere, in a large body), decoded
/// without serde's buffering of tagged enums (which would copy a whole
/// oversized resume list before anything could refuse it): `Some(Ok)`, or
/// `Some(Err)` when the resume lists too many rooms; `None` leaves it to
/// the general decoder.
pub fn hello(body: &[u8]) -> Option<Result<ClientMsg, String>> {
    // A large hello with `type` elsewhere than first is found by reading
    // its type alone (one pass that builds nothing), not left to serde's
    // buffering.
    let hello = body.starts_with(HELLO)
        || (body.len() > PROBE_FROM
            && !body.starts_with(br#"{"type":"#)
            && super::kinds::readable_kind(body) == Some("hello"));
    if !hello {
        return None;
    }
    match serde_json::from_slice::<Hello>(body) {
        Ok(h) => Some(Ok(ClientMsg::Hello {
            version: h.version,
            name: h.name,
            room: h.room,
            status: h.status,
            resume: h.resume.map(|r| Resume {
                session: r.session,
                rooms: r.rooms,
                since: r.since,
            }),
            password: h.password,
        })),
        Err(e) if e.to_string().contains(TOO_MANY_RESUME_ROOMS) => Some(Err(e.to_string())),
        Err(_) => None,
    }
}

/// A file chunk with its `data` borrowed from `body`, if `body` is one.
pub fn chunk(body: &[u8]) -> Option<ChunkRef<'_>> {
    if !body.starts_with(FILE_CHUNK) {
        return None;
    }
    chunk_as_written(body).or_else(|| serde_json::from_slice(body).ok())
}

/// A chunk exactly as clients write it, `{"type":"file_chunk","id":N,
/// "offset":N,"data":"BASE64"}`, read by hand: one pass checks the payload
/// is base64 characters, which also makes it a JSON string without escapes
/// and valid UTF-8. serde's escape scan and UTF-8 check of the same bytes
/// were a fifth of the server's CPU while it relayed a file. Any other
/// shape (fields in another order, spaces, escapes) is left to serde.
fn chunk_as_written(body: &[u8]) -> Option<ChunkRef<'_>> {
    let rest = body.strip_prefix(FILE_CHUNK)?;
    let rest = rest.strip_prefix(br#""id":"#)?;
    let (id, rest) = json_u64(rest)?;
    let rest = rest.strip_prefix(br#","offset":"#)?;
    let (offset, rest) = json_u64(rest)?;
    let rest = rest.strip_prefix(br#","data":""#)?;
    let data = rest.strip_suffix(br#""}"#)?;
    let base64 = data.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/') | (b == b'='))
    });
    if !base64 {
        return None;
    }
    // SAFETY: every byte of `data` was just checked to be one of the ASCII
    // base64 characters, and ASCII is valid UTF-8. (`from_utf8` read the
    // same bytes again: 5-6 % of the server's perf samples in a relay.)
    let data = unsafe { std::str::from_utf8_unchecked(data) };
    Some(ChunkRef {
        _type: Tag,
        id,
        offset,
        data,
    })
}

/// A room or private message exactly as clients write it:
/// `PREFIX` `FIRST"..."` `,"text":"..."` then optionally `,"cid":"..."`,
/// then `}`, every string without escapes or control characters. Read by
/// hand: serde spent more on its per-field machinery for these three short
/// strings than on the strings. Any other shape (another order, spaces,
/// escapes, `null`, more fields) is left to serde, which also says what is
/// wrong with a bad one. Returns (first, text, cid).
fn as_written<'a>(
    body: &'a [u8],
    prefix: &[u8],
    first: &[u8],
) -> Option<(&'a str, &'a str, Option<&'a str>)> {
    let rest = body.strip_prefix(prefix)?.strip_prefix(first)?;
    let (one, rest) = plain_string(rest)?;
    let (text, rest) = plain_string(rest.strip_prefix(br#","text":"#)?)?;
    let (cid, rest) = match rest.strip_prefix(br#","cid":"#) {
        Some(r) => {
            let (cid, r) = plain_string(r)?;
            (Some(cid), r)
        }
        None => (None, rest),
    };
    (rest == b"}").then_some((one, text, cid))
}

/// A JSON string at the start of `b` holding no escape and no control
/// character (those are serde's to read or refuse), and what follows it.
fn plain_string(b: &[u8]) -> Option<(&str, &[u8])> {
    let b = b.strip_prefix(b"\"")?;
    let end = stop_at(b)?;
    if b[end] != b'"' {
        return None;
    }
    Some((std::str::from_utf8(&b[..end]).ok()?, &b[end + 1..]))
}

/// Whether `c` ends a plain JSON string's content: `"`, `\` or a control
/// character.
fn stops(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// The index of the first byte of `b` that [`stops`] a plain string,
/// looked for eight bytes at a time (the classic "has a zero byte" test on
/// a word: exact as a yes or no), then found within the word that has one.
/// A byte-at-a-time scan was 9 instructions a byte in callgrind.
fn stop_at(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let x = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let hit = zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')))
            // Some byte below 0x20 (exact for bounds up to 0x80).
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hit != 0 {
            if let Some(i) = w.iter().position(|&c| stops(c)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| stops(c))
        .map(|i| at + i)
}

/// A JSON unsigned integer at the start of `b` (no leading zeros, no sign,
/// fraction or exponent; it fits a u64), and what follows it.
fn json_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && b[0] == b'0') {
        return None;
    }
    let (num, rest) = b.split_at(digits);
    if matches!(rest.first(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in num {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((n, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::parse_body;

    #[test]
    fn fast_and_general_paths_agree() {
        let cases: [&[u8]; 16] = [
            br#"{"type":"receipt","kind":"delivered","room":"general","up_to":42}"#,
            br#"{"type":"receipt","up_to":7,"kind":"read","peer":"bob"}"#,
            br#"{"type":"receipt","kind":"seen","room":"general","up_to":42}"#,
            br#"{"type":"receipt","kind":"read","room":"general"}"#,
            br#"{"type":"receipt","kind":"read","room":"g","up_to":1,"x":0}"#,
            br#"{"type":"ping","seq":5}"#,
            br#"{"type":"ping"}"#,
            br#"{"type":"ping","seq":-1}"#,
            br#"{"type":"ping","seq":1,"extra":true}"#,
            br#"{"type":"pingx","seq":1}"#,
            br#"{"type":"room_msg","room":"general","text":"hi \"there\"\n","cid":"c1"}"#,
            br#"{"type":"room_msg","room":"general","text":"no cid"}"#,
            br#"{"type":"private_msg","to":"bob","text":"psst","cid":"c2"}"#,
            br#"{"type":"room_msg","room":"general","text":"x","extra":1}"#,
            br#"{"type":"room_msg","room":"general"}"#,
            br#"{"type":"private_msg","to":"bob","text":"\u00e9"}"#,
        ];
        for body in cases {
            let general = parse_body::<ClientMsg>(body).ok();
            assert_eq!(message(body), general, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn messages_read_by_hand_are_what_serde_reads() {
        let cases: [&[u8]; 23] = [
            br#"{"type":"room_msg","room":"general","text":"hi there","cid":"c1"}"#,
            br#"{"type":"room_msg","room":"general","text":"no cid"}"#,
            br#"{"type":"room_msg","room":"","text":""}"#,
            br#"{"type":"private_msg","to":"bob","text":"psst","cid":"c2"}"#,
            br#"{"type":"private_msg","to":"bob","text":"psst"}"#,
            "{\"type\":\"room_msg\",\"room\":\"g\",\"text\":\"h\u{e9}llo \u{1F600}\"}".as_bytes(),
            br#"{"type":"room_msg","room":"g","text":"a \"quote\""}"#,
            br#"{"type":"room_msg","room":"g","text":"back\\slash"}"#,
            br#"{"type":"room_msg","room":"g","text":"\u0041"}"#,
            b"{\"type\":\"room_msg\",\"room\":\"g\",\"text\":\"tab\there\"}",
            b"{\"type\":\"room_msg\",\"room\":\"g\",\"text\":\"bad \xff utf8\"}",
            br#"{"type":"room_msg","room":"g","text":"x","cid":null}"#,
            br#"{"type":"room_msg","text":"x","room":"g"}"#,
            br#"{"type":"room_msg", "room":"g","text":"x"}"#,
            br#"{"type":"room_msg","room":"g","text":"x","extra":1}"#,
            br#"{"type":"room_msg","room":"g","text":"x","room":"h"}"#,
            br#"{"type":"room_msg","room":"g","text":"x","cid":"c","cid":"d"}"#,
            br#"{"type":"room_msg","room":"g","text":"x"} "#,
            br#"{"type":"room_msg","room":"g","text":"x"}}"#,
            br#"{"type":"room_msg","room":"g","text":"x"#,
            br#"{"type":"room_msg","room":7,"text":"x"}"#,
            br#"{"type":"private_msg","room":"g","text":"x"}"#,
            // An escaped quote would end the text early for a reader that
            // did not stop at backslashes, leaving a well-shaped `cid`.
            br#"{"type":"room_msg","room":"g","text":"x\","cid":"y"}"#,
        ];
        for body in cases {
            let general = parse_body::<ClientMsg>(body).ok();
            assert_eq!(message(body), general, "{}", String::from_utf8_lossy(body));
        }
        // The hand reader takes the shapes clients write, and only those.
        for (i, body) in cases.iter().enumerate() {
            let by_hand = as_written(body, ROOM_MSG, br#""room":"#)
                .or_else(|| as_written(body, PRIVATE_MSG, br#""to":"#));
            assert_eq!(
                by_hand.is_some(),
                i < 6,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        // Every byte value at every place of every length up to 24, on two
        // fillers (ASCII and the bytes of UTF-8 sequences).
        for filler in [b'a', 0xc3] {
            for len in 0..24 {
                for at in 0..len {
                    for c in 0..=255u8 {
                        let mut b = vec![filler; len];
                        b[at] = c;
                        let want = b.iter().position(|&c| stops(c));
                        assert_eq!(stop_at(&b), want, "{b:?}");
                    }
                }
            }
        }
        assert_eq!(stop_at(b""), None);
        assert_eq!(stop_at(b"0123456789abcdef\\x\""), Some(16));
    }

    #[test]
    fn hello_fast_and_general_paths_agree() {
        let long: Vec<String> = (0..=1024).map(|i| format!("\"r{i}\"")).collect();
        let oversized = format!(
            r#"{{"type":"hello","version":1,"name":"a","resume":{{"rooms":[{}]}}}}"#,
            long.join(",")
        );
        // `type` last, as an attacker writes it to make serde buffer all.
        let type_last = format!(
            r#"{{"version":1,"name":"a","resume":{{"rooms":[{}]}},"type":"hello"}}"#,
            long.join(",")
        );
        let cases: [&[u8]; 8] = [
            br#"{"type":"hello","version":1,"name":"alice"}"#,
            br#"{"type":"hello","version":1,"name":"alice","room":"lab","status":"away","password":"pw"}"#,
            br#"{"type":"hello","version":1,"name":"a","resume":{"session":"t","rooms":["x","y"],"since":4}}"#,
            br#"{"type":"hello","version":1,"name":"a","resume":{"rooms":["x"],"other":1}}"#,
            br#"{"type":"hello","version":1,"name":"a","extra":1}"#,
            br#"{"type":"hello","name":"a"}"#,
            oversized.as_bytes(),
            type_last.as_bytes(),
        ];
        for body in cases {
            let general = parse_body::<ClientMsg>(body).map_err(|e| e.to_string());
            match hello(body) {
                Some(Ok(m)) => assert_eq!(Ok(m), general, "{}", String::from_utf8_lossy(body)),
                Some(Err(e)) => {
                    assert!(e.contains("more than 1024 rooms"), "{e}");
                    assert!(general.unwrap_err().contains("more than 1024 rooms"));
                }
                None => assert!(general.is_err(), "{}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(hello(oversized.as_bytes()), Some(Err(_))));
        // Found by its type, refused by the bounded decoder.
        assert!(matches!(hello(type_last.as_bytes()), Some(Err(_))));
        let short_type_last = br#"{"version":1,"name":"a","type":"hello"}"#;
        assert_eq!(hello(short_type_last), None, "short bodies go to serde");
    }

    #[test]
    fn chunks_read_by_hand_are_what_serde_reads() {
        let cases: [&[u8]; 16] = [
            br#"{"type":"file_chunk","id":7,"offset":65536,"data":"aGVsbG8="}"#,
            br#"{"type":"file_chunk","id":0,"offset":0,"data":""}"#,
            br#"{"type":"file_chunk","id":18446744073709551615,"offset":1,"data":"+/=="}"#,
            br#"{"type":"file_chunk","id":18446744073709551616,"offset":1,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":07,"offset":1,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":7.0,"offset":1,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":7e1,"offset":1,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":-7,"offset":1,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":7,"offset":1,"data":"A\u0041"}"#,
            br#"{"type":"file_chunk","id":7,"offset":1,"data":"A"B"}"#,
            "{\"type\":\"file_chunk\",\"id\":7,\"offset\":1,\"data\":\"h\u{e9}llo\"}".as_bytes(),
            br#"{"type":"file_chunk","offset":1,"id":7,"data":"AA=="}"#,
            br#"{"type":"file_chunk","id":7,"offset":1,"data":"AA==","x":1}"#,
            br#"{"type":"file_chunk", "id":7,"offset":1,"data":"AA=="}"#,
            b"{\"type\":\"file_chunk\",\"id\":7,\"offset\":1,\"data\":\"A\xffA\"}",
            b"{\"type\":\"file_chunk\",\"id\":7,\"offset\":1,\"data\":\"A\xc3\xa9A\"}",
        ];
        for body in cases {
            let by_hand = chunk_as_written(body).map(|c| (c.id, c.offset, c.data));
            let serde = serde_json::from_slice::<ChunkRef>(body)
                .ok()
                .map(|c| (c.id, c.offset, c.data));
            if let Some(h) = by_hand {
                assert_eq!(Some(h), serde, "{}", String::from_utf8_lossy(body));
            }
            // Whatever the hand reader leaves, serde still decides.
            assert_eq!(
                chunk(body).map(|c| (c.id, c.offset, c.data)),
                by_hand.or(serde),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(chunk_as_written(cases[0]).is_some());
        // Bytes that are not base64 characters, valid UTF-8 or not, never
        // reach the unchecked conversion.
        assert!(chunk_as_written(cases[14]).is_none() && chunk(cases[14]).is_none());
        assert!(chunk_as_written(cases[15]).is_none());
        assert!(
            chunk_as_written(cases[11]).is_none(),
            "another order is serde's"
        );
    }

    #[test]
    fn chunks_borrow_their_payload() {
        let body = br#"{"type":"file_chunk","id":7,"offset":65536,"data":"aGVsbG8="}"#;
        let c = chunk(body).unwrap();
        assert_eq!((c.id, c.offset, c.data), (7, 65536, "aGVsbG8="));
        let start = body.as_ptr() as usize;
        let p = c.data.as_ptr() as usize;
        assert!(p > start && p < start + body.len(), "borrowed, not copied");
        assert!(chunk(br#"{"type":"file_chunk","id":7}"#).is_none());
    }
}
