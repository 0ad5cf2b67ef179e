//! An append-only, checksummed record log.
//!
//! Each record is one line: eight hex digits of CRC-32 over the JSON, a space,
//! the JSON, a newline. Appends collect in memory and reach the file at
//! [`Journal::sync`], which writes them and calls `fdatasync` once: the server
//! calls it once per event-loop turn, before it sends the acknowledgements of
//! that turn, so an acknowledged message is on disk. At open, the file is
//! scanned; the first line that is truncated, fails its checksum or does not
//! parse ends the good prefix, and everything from there on is cut off and
//! reported, never silently kept.

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

/// Appended bytes handed to a writer thread (see [`Journal::take_batch`]).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Increases by one per batch.
    pub seq: u64,
    pub bytes: std::sync::Arc<[u8]>,
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

/// A log of `R` records.
///
/// Appends collect in `pending`. Either [`Journal::sync`] writes and syncs
/// them on the calling thread, or [`Journal::take_batch`] hands them to a
/// writer thread (group commit: the event loop goes on while the disk
/// works) and [`Journal::batch_done`] records that the writer made them
/// durable. Batches in flight stay readable from memory.
pub struct Journal<R> {
    file: File,
    /// Bytes on disk and synced.
    written: u64,
    /// Batches handed to a writer and not yet confirmed, oldest first.
    inflight: std::collections::VecDeque<Batch>,
    inflight_len: u64,
    next_seq: u64,
    /// Encoded records not yet written.
    pending: Vec<u8>,
    _r: PhantomData<R>,
}

impl<R: Serialize + DeserializeOwned> Journal<R> {
    /// Open (creating) the log, replaying every good record into `each` with its
    /// offset. A damaged tail is cut off and described in the result.
    pub fn open(
        path: &Path,
        mut each: impl FnMut(Span, R),
    ) -> io::Result<(Journal<R>, Option<Damage>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
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
                inflight: Default::default(),
                inflight_len: 0,
                next_seq: 1,
                pending: Vec::new(),
                _r: PhantomData,
            },
            damage,
        ))
    }

    /// Queue a record; returns where it lives. It reaches the disk at `sync`.
    pub fn append(&mut self, rec: &R) -> Span {
        self.append_any(rec)
    }

    /// Queue anything that serializes as an `R` would (a borrowed view of a
    /// record, say, to skip cloning it just to write it).
    pub fn append_any<T: Serialize + ?Sized>(&mut self, rec: &T) -> Span {
        let start = self.pending.len();
        let off = self.written + self.inflight_len + start as u64;
        // Serialize in place after room for the checksum, then fill it in.
        self.pending.extend_from_slice(b"00000000 ");
        let json_at = self.pending.len();
        serde_json::to_writer(&mut self.pending, rec).expect("serializable record");
        let crc = format!("{:08x}", crc32(&self.pending[json_at..]));
        self.pending[start..start + 8].copy_from_slice(crc.as_bytes());
        self.pending.push(b'\n');
        Span {
            off,
            len: (self.pending.len() - start) as u32,
        }
    }

    /// Whether appends are waiting for `sync`.
    pub fn dirty(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A handle on the file for a writer thread (appends go to its end).
    pub fn writer(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Hand the pending records over for writing elsewhere, if there are any.
    /// The writer must write batches in `seq` order, then call `batch_done`.
    pub fn take_batch(&mut self) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let bytes: std::sync::Arc<[u8]> = std::sync::Arc::from(&self.pending[..]);
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = Vec::new();
        }
        let b = Batch {
            seq: self.next_seq,
            bytes,
        };
        self.next_seq += 1;
        self.inflight_len += b.bytes.len() as u64;
        self.inflight.push_back(b.clone());
        Some(b)
    }

    /// The writer made every batch up to `seq` durable.
    pub fn batch_done(&mut self, seq: u64) {
        while self.inflight.front().is_some_and(|b| b.seq <= seq) {
            if let Some(b) = self.inflight.pop_front() {
                self.written += b.bytes.len() as u64;
                self.inflight_len -= b.bytes.len() as u64;
            }
        }
    }

    /// Write pending records and make them durable (one fdatasync), on this
    /// thread. Only for a journal with no batches in flight.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        debug_assert!(self.inflight.is_empty(), "sync with batches in flight");
        self.file.write_all(&self.pending)?;
        self.file.sync_data()?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = Vec::new();
        }
        Ok(())
    }

    /// Read the record at `span` (from a previous `append` or `open`).
    pub fn read_at(&self, span: Span) -> io::Result<R> {
        let len = span.len as usize;
        let missing = || io::Error::new(io::ErrorKind::InvalidInput, "no such record");
        let line = if span.off >= self.written {
            // In a batch in flight, or still pending.
            let mut base = self.written;
            let mut found = None;
            for b in &self.inflight {
                let end = base + b.bytes.len() as u64;
                if span.off < end {
                    let start = (span.off - base) as usize;
                    found = Some(
                        b.bytes
                            .get(start..start + len)
                            .ok_or_else(missing)?
                            .to_vec(),
                    );
                    break;
                }
                base = end;
            }
            match found {
                Some(line) => line,
                None => {
                    let start = (span.off - base) as usize;
                    self.pending
                        .get(start..start + len)
                        .ok_or_else(missing)?
                        .to_vec()
                }
            }
        } else {
            let mut buf = vec![0; len];
            self.file.read_exact_at(&mut buf, span.off)?;
            buf
        };
        decode_line(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
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

    #[test]
    fn append_sync_reopen_and_read_at() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let (mut j, dmg) = Journal::<Rec>::open(&p, |_, _| {}).unwrap();
        assert!(dmg.is_none());
        let offs: Vec<Span> = (0..5).map(|i| j.append(&rec(i))).collect();
        assert_eq!(j.read_at(offs[3]).unwrap(), rec(3), "readable before sync");
        j.sync().unwrap();
        assert_eq!(j.read_at(offs[4]).unwrap(), rec(4));
        drop(j);
        let mut seen = vec![];
        let (_, dmg) = Journal::<Rec>::open(&p, |off, r| seen.push((off, r))).unwrap();
        assert!(dmg.is_none());
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[2], (offs[2], rec(2)));
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
    fn batches_written_elsewhere_stay_readable_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let (mut j, _) = Journal::<Rec>::open(&p, |_, _| {}).unwrap();
        let mut w = j.writer().unwrap();
        let a = j.append(&rec(1));
        let b1 = j.take_batch().unwrap();
        let b = j.append(&rec(2));
        let b2 = j.take_batch().unwrap();
        let c = j.append(&rec(3));
        assert!(j.take_batch().is_some());
        // All three readable: two in flight, one in a third batch.
        for (span, n) in [(a, 1), (b, 2), (c, 3)] {
            assert_eq!(j.read_at(span).unwrap(), rec(n));
        }
        w.write_all(&b1.bytes).unwrap();
        w.write_all(&b2.bytes).unwrap();
        w.sync_data().unwrap();
        j.batch_done(b2.seq);
        assert_eq!(j.read_at(a).unwrap(), rec(1), "now from the file");
        assert_eq!(j.read_at(c).unwrap(), rec(3), "still in flight");
        drop(j);
        let mut n = 0;
        let (_, dmg) = Journal::<Rec>::open(&p, |_, _| n += 1).unwrap();
        assert_eq!((n, dmg), (2, None), "the third batch was never written");
    }

    #[test]
    fn truncated_and_corrupt_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let (mut j, _) = Journal::<Rec>::open(&p, |_, _| {}).unwrap();
        for i in 0..3 {
            j.append(&rec(i));
        }
        j.sync().unwrap();
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
