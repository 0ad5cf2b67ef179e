//! A small RESP2 client codec for the Redis pub/sub adapter: commands out,
//! replies in. Parsing is incremental (`Ok(None)` means "need more bytes") and
//! allocates nothing: pub/sub pushes are recognised as [`Reply::Message`] and
//! [`Reply::Subscribed`], other arrays are skipped and reported by length.

use std::fmt;

/// One decoded reply, borrowing from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK`
    Simple(&'a [u8]),
    /// `-ERR ...`
    Error(&'a [u8]),
    /// `:42` (e.g. the receiver count answering PUBLISH).
    Integer(i64),
    /// `$5 hello`, or `$-1` (None).
    Bulk(Option<&'a [u8]>),
    /// A `message` push: `["message", channel, payload]` (or a `pmessage`,
    /// whose pattern is dropped).
    Message {
        channel: &'a [u8],
        payload: &'a [u8],
    },
    /// A `subscribe`-family confirmation: `[kind, channel, count]`.
    Subscribed {
        kind: &'a [u8],
        channel: &'a [u8],
        count: i64,
    },
    /// Any other array, or a null array (`*-1`, None); elements skipped.
    Array(Option<usize>),
}

/// The input is not RESP: the connection cannot be trusted any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError(pub String);

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad RESP: {}", self.0)
    }
}

impl std::error::Error for RespError {}

type Step<T> = Result<Option<(T, usize)>, RespError>;

/// Encode a command as a RESP array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    push_command(&mut out, args);
    out
}

/// Append a command (RESP array of bulk strings) to `out`.
pub fn push_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The bytes of `PUBLISH channel <payload>` up to the payload, and after it,
/// for a payload of `len` bytes: `head + payload + tail` is the command.
pub fn publish_template(channel: &[u8], len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut head = format!("*3\r\n$7\r\nPUBLISH\r\n${}\r\n", channel.len()).into_bytes();
    head.extend_from_slice(channel);
    head.extend_from_slice(format!("\r\n${len}\r\n").as_bytes());
    (head, b"\r\n".to_vec())
}

/// What a `message` push on `channel` carrying a `len`-byte payload starts
/// with, for [`fast_message`].
pub fn message_prefix(channel: &[u8], len: usize) -> Vec<u8> {
    let mut p = format!("*3\r\n$7\r\nmessage\r\n${}\r\n", channel.len()).into_bytes();
    p.extend_from_slice(channel);
    p.extend_from_slice(format!("\r\n${len}\r\n").as_bytes());
    p
}

/// The common case without a general parse: if `buf` starts with `prefix`
/// (from [`message_prefix`]) then `len` bytes and CRLF, the payload and the
/// bytes used. Anything else (`None`) goes to [`parse`].
#[inline]
pub fn fast_message<'a>(buf: &'a [u8], prefix: &[u8], len: usize) -> Option<(&'a [u8], usize)> {
    let end = prefix.len() + len;
    if buf.len() >= end + 2 && buf.starts_with(prefix) && &buf[end..end + 2] == b"\r\n" {
        Some((&buf[prefix.len()..end], end + 2))
    } else {
        None
    }
}

/// Find the `\r\n` ending the line that starts at `pos`; returns the line and
/// the position after the terminator.
#[inline]
fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let mut i = 0;
    while i + 1 < rest.len() {
        if rest[i] == b'\r' && rest[i + 1] == b'\n' {
            return Some((&rest[..i], pos + i + 2));
        }
        i += 1;
    }
    None
}

#[inline]
fn int(s: &[u8]) -> Result<i64, RespError> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return Err(RespError(format!(
            "bad integer {:?}",
            String::from_utf8_lossy(s)
        )));
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(RespError(format!(
                "bad integer {:?}",
                String::from_utf8_lossy(s)
            )));
        }
        v = v * 10 + (d - b'0') as i64;
    }
    Ok(if neg { -v } else { v })
}

/// A non-array element, or the length of a nested array.
#[derive(Clone, Copy)]
enum Elem<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    Bulk(Option<&'a [u8]>),
    Array(Option<usize>),
}

/// Parse one element at `pos`; nested arrays are skipped whole.
fn elem(buf: &[u8], pos: usize, depth: usize) -> Step<Elem<'_>> {
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((l, next)) = line(buf, pos + 1) else {
        return Ok(None);
    };
    match tag {
        b'+' => Ok(Some((Elem::Simple(l), next))),
        b'-' => Ok(Some((Elem::Error(l), next))),
        b':' => Ok(Some((Elem::Integer(int(l)?), next))),
        b'$' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some((Elem::Bulk(None), next)));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(RespError("bulk string not followed by CRLF".into()));
            }
            Ok(Some((Elem::Bulk(Some(&buf[next..end])), end + 2)))
        }
        b'*' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some((Elem::Array(None), next)));
            }
            if depth > 32 {
                return Err(RespError("arrays nested too deep".into()));
            }
            let mut p = next;
            for _ in 0..n {
                match elem(buf, p, depth + 1)? {
                    Some((_, q)) => p = q,
                    None => return Ok(None),
                }
            }
            Ok(Some((Elem::Array(Some(n as usize)), p)))
        }
        other => Err(RespError(format!("unexpected type byte {other:#04x}"))),
    }
}

/// Parse one reply from the front of `buf`: `Ok(None)` if incomplete, else
/// the reply and the number of bytes it used.
pub fn parse(buf: &[u8]) -> Step<Reply<'_>> {
    if buf.first() != Some(&b'*') {
        return Ok(elem(buf, 0, 0)?.map(|(e, n)| {
            let r = match e {
                Elem::Simple(s) => Reply::Simple(s),
                Elem::Error(s) => Reply::Error(s),
                Elem::Integer(i) => Reply::Integer(i),
                Elem::Bulk(b) => Reply::Bulk(b),
                Elem::Array(a) => Reply::Array(a),
            };
            (r, n)
        }));
    }
    let Some((l, mut p)) = line(buf, 1) else {
        return Ok(None);
    };
    let n = int(l)?;
    if n < 0 {
        return Ok(Some((Reply::Array(None), p)));
    }
    let n = n as usize;
    // Keep the first four elements for push recognition; skip the rest.
    let mut first: [Option<Elem<'_>>; 4] = [None; 4];
    for i in 0..n {
        match elem(buf, p, 1)? {
            Some((e, q)) => {
                if let Some(slot) = first.get_mut(i) {
                    *slot = Some(e);
                }
                p = q;
            }
            None => return Ok(None),
        }
    }
    let bulk = |i: usize| match first.get(i) {
        Some(Some(Elem::Bulk(Some(b)))) => Some(*b),
        _ => None,
    };
    let reply = match (n, bulk(0)) {
        (3, Some(b"message")) => match (bulk(1), bulk(2)) {
            (Some(channel), Some(payload)) => Reply::Message { channel, payload },
            _ => Reply::Array(Some(n)),
        },
        (4, Some(b"pmessage")) => match (bulk(2), bulk(3)) {
            (Some(channel), Some(payload)) => Reply::Message { channel, payload },
            _ => Reply::Array(Some(n)),
        },
        (3, Some(kind))
            if matches!(
                kind,
                b"subscribe" | b"unsubscribe" | b"psubscribe" | b"punsubscribe"
            ) =>
        {
            match (bulk(1), first[2]) {
                (Some(channel), Some(Elem::Integer(count))) => Reply::Subscribed {
                    kind,
                    channel,
                    count,
                },
                _ => Reply::Array(Some(n)),
            }
        }
        _ => Reply::Array(Some(n)),
    };
    Ok(Some((reply, p)))
}
