//! An append-only, checksummed record log.
//!
//! Each record is one line: eight hex digits of CRC-32 over the JSON, a space,
//! the JSON, a newline ([`encode_line`]). The core encodes records; the
//! history worker owns the file and appends whole batches with
//! [`Journal::append`], which writes them and calls `fdatasync` once, and on
//! any failure cuts the file back to where the batch began, so a failed
//! batch leaves nothing behind. At open, the file is scanned; the first line
//! that is truncated, fails its checksum or does not parse ends the good
//! prefix, and everything from there on is cut off and reported, never
//! silently kept.

use serde::{de::DeserializeOwned, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// CRC-32 (IEEE 802.3, reflected), slicing-by-8: eight table look-ups per
/// eight bytes instead of one per byte.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLES: std::sync::OnceLock<[[u32; 256]; 8]> = std::sync::OnceLock::new();
    let t = TABLES.get_or_init(|| {
        let mut t = [[0u32; 256]; 8];
        for (i, slot) in t[0].iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        for i in 0..256 {
            for k in 1..8 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        t
    });
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Append `rec` to `buf` as one log line: checksum, space, JSON, newline.
pub fn encode_line<T: Serialize + ?Sized>(buf: &mut Vec<u8>, rec: &T) {
    let start = buf.len();
    buf.extend_from_slice(b"00000000 ");
    let json_at = buf.len();
    serde_json::to_writer(&mut *buf, rec).expect("serializable record");
    let crc = format!("{:08x}", crc32(&buf[json_at..]));
    buf[start..start + 8].copy_from_slice(crc.as_bytes());
    buf.push(b'\n');
}

/// Where a record lives in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub off: u64,
    pub len: u32,
}

/// What opening found at the end of the file, if anything was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the first bad byte: the file was cut to this length.
    pub at: u64,
    /// Bytes removed.
    pub cut: u64,
    /// Why the line was rejected.
    pub why: String,
}

/// A log of `R` records, open for appending and reading.
pub struct Journal<R> {
    file: File,
    /// Bytes on disk and synced.
    written: u64,
    _r: PhantomData<R>,
}

impl<R: Serialize + DeserializeOwned> Journal<R> {
    /// Open (creating) the log, replaying every good record into `each` with its
    /// offset. A damaged tail is cut off and described in the result.
    pub fn open(
        path: &Path,
        mut each: impl FnMut(Span, R),
    ) -> io::Result<(Journal<R>, Option<Damage>)> {
        // 0600: the log holds private messages (a wider one is tightened).
        let mut file = super::perms::open(
            OpenOptions::new().read(true).append(true).create(true),
            path,
        )?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::with_capacity(256 * 1024, &mut file);
        let mut off = 0u64;
        let mut line = Vec::new();
        let mut damage = None;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            match decode_line::<R>(&line) {
                Ok(rec) => {
                    each(Span { off, len: n as u32 }, rec);
                    off += n as u64;
                }
                Err(why) => {
                    damage = Some(Damage {
                        at: off,
                        cut: len - off,
                        why,
                    });
                    break;
                }
            }
        }
        drop(reader);
        if damage.is_some() {
            file.set_len(off)?;
            file.sync_all()?;
        }
        Ok((
            Journal {
                file,
                written: off,
                _r: PhantomData,
            },
            damage,
        ))
    }

    /// Queue a record; returns where it lives. It reaches the disk at `sync`.
    /// Bytes in the log (all of them synced).
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Write encoded lines and make them durable; the span of the first
    /// byte on success. On failure the file is cut back to where it was, so
    /// none of `lines` stays in the log (if even that fails, the error says
    /// so: a restart may then find part of the batch, or a damaged tail
    /// that the next open cuts off).
    pub fn append(&mut self, lines: &[u8]) -> io::Result<u64> {
        let at = self.written;
        let res = self
            .file
            .write_all(lines)
            .and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.written += lines.len() as u64;
                Ok(at)
            }
            Err(e) => {
                if let Err(cut) = self.file.set_len(at).and_then(|()| self.file.sync_data()) {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{e}; cutting the partial batch off failed too: {cut}"),
                    ));
                }
                Err(e)
            }
        }
    }

    /// Read back the record at `span`.
    pub fn read_at(&self, span: Span) -> io::Result<R> {
        let mut buf = vec![0; span.len as usize];
        self.file.read_exact_at(&mut buf, span.off)?;
        decode_line(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Decode one line (with its newline) written by [`encode_line`].
pub fn decode<R: DeserializeOwned>(line: &[u8]) -> Result<R, String> {
    decode_line(line)
}

fn decode_line<R: DeserializeOwned>(line: &[u8]) -> Result<R, String> {
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err("truncated record (no end of line)".into());
    };
    if body.len() < 9 || body[8] != b' ' {
        return Err("record has no checksum".into());
    }
    let want = std::str::from_utf8(&body[..8])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("record checksum is not hex")?;
    let json = &body[9..];
    if crc32(json) != want {
        return Err("record checksum mismatch".into());
    }
    serde_json::from_slice(json).map_err(|e| format!("record does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        n: u32,
        s: String,
    }

    fn rec(n: u32) -> Rec {
        Rec {
            n,
            s: format!("record {n}"),
        }
    }

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn lines(recs: impl IntoIterator<Item = u32>) -> (Vec<u8>, Vec<(u64, u32)>) {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for i in recs {
            let at = buf.len();
            encode_line(&mut buf, &rec(i));
            spans.push((at as u64, (buf.len() - at) as u32));
        }
        (buf, spans)
    }

    #[test]
    fn append_reopen_and_read_at() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let (mut j, dmg) = Journal::<Rec>::open(&p, |_, _| {}).unwrap();
        assert!(dmg.is_none());
        let (first, _) = lines(0..2);
        assert_eq!(j.append(&first).unwrap(), 0);
        let (second, spans) = lines(2..5);
        let base = j.append(&second).unwrap();
        assert_eq!(base, first.len() as u64);
        let (off, len) = spans[1];
        let span = Span {
            off: base + off,
            len,
        };
        assert_eq!(j.read_at(span).unwrap(), rec(3));
        drop(j);
        let mut seen = vec![];
        let (j, dmg) = Journal::<Rec>::open(&p, |off, r| seen.push((off, r))).unwrap();
        assert!(dmg.is_none());
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[3], (span, rec(3)));
        assert_eq!(j.len(), (first.len() + second.len()) as u64);
    }

    #[test]
    fn crc_slicing_matches_bytewise() {
        fn bytewise(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in data {
                crc ^= b as u32;
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        0xEDB8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 999, 1000] {
            assert_eq!(crc32(&data[..n]), bytewise(&data[..n]), "{n} bytes");
        }
    }

    #[test]
    fn truncated_and_corrupt_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let (mut j, _) = Journal::<Rec>::open(&p, |_, _| {}).unwrap();
        j.append(&lines(0..3).0).unwrap();
        drop(j);
        let good = std::fs::metadata(&p).unwrap().len();
        // A half-written record.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"0badc0de {\"n\":9,\"s\":\"half").unwrap();
        drop(f);
        let mut n = 0;
        let (_, dmg) = Journal::<Rec>::open(&p, |_, _| n += 1).unwrap();
        let dmg = dmg.expect("damage reported");
        assert_eq!((n, dmg.at), (3, good));
        assert!(dmg.why.contains("truncated"));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), good);
        // A flipped byte in the last record.
        let mut bytes = std::fs::read(&p).unwrap();
        let k = bytes.len() - 4;
        bytes[k] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let mut n = 0;
        let (_, dmg) = Journal::<Rec>::open(&p, |_, _| n += 1).unwrap();
        assert_eq!(n, 2);
        assert!(dmg.unwrap().why.contains("checksum"));
    }
}
