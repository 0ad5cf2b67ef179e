//! The shared store over plain HTTP: `GET /files/NAME?key=K` streams a
//! stored file to a browser's own download manager, with `Range` support so
//! it can resume. The key is the logged-in user's `welcome.files_key` (valid
//! while that user is online; it grants downloads and nothing else). The
//! bytes come from the store worker one chunk at a time, only when the
//! connection's chunk slot is free (the same pull as a `download`), so a
//! download of any size holds one chunk in memory.
//!
//! Streams are named by ids with [`HTTP_BIT`] set, so the store worker's
//! read answers (keyed by transfer id) find them without a job kind of
//! their own.

use super::store_ops::{StoreJob, StoredFile};
use super::{ConnId, Core, Effect, Output, Priority};
use crate::protocol::files::MAX_CHUNK;
use crate::store::files::StoreError;
use std::hash::{BuildHasher, Hasher};

/// Set in the ids of HTTP download streams (never in a transfer id).
pub const HTTP_BIT: u64 = 1 << 62;

/// One HTTP download in flight.
#[derive(Debug)]
pub(crate) struct HttpStream {
    conn: ConnId,
    name: String,
    /// Next byte to send, and one past the last.
    next: u64,
    end: u64,
    /// A read is with the store worker.
    reading: bool,
}

/// What to answer a download request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpGrant {
    /// Send `[start, end)` of `file` (`partial`: a `206` for a `Range`;
    /// `ranges`: a later `Range` request can be served, so say so).
    Send {
        file: StoredFile,
        start: u64,
        end: u64,
        partial: bool,
        ranges: bool,
    },
    /// Refused: an HTTP status and a sentence.
    Refuse {
        status: &'static str,
        sentence: String,
    },
    /// The range is past the file's end (`416`, with its size).
    Unsatisfiable { size: u64 },
}

/// A `Range: bytes=...` request: `(first, last)` inclusive, or a suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    From(u64, Option<u64>),
    Suffix(u64),
}

impl ByteRange {
    /// One range of a `Range` header value; `None` for anything else
    /// (several ranges, another unit, garbage), which is served whole.
    pub fn parse(v: &str) -> Option<ByteRange> {
        let spec = v.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return b.parse().ok().map(ByteRange::Suffix);
        }
        let first = a.parse().ok()?;
        let last = if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        };
        if last.is_some_and(|l| l < first) {
            return None;
        }
        Some(ByteRange::From(first, last))
    }

    /// `[start, end)` within a file of `size` bytes, or `None` if it holds
    /// none of it.
    fn within(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From(first, _) if first >= size => None,
            ByteRange::From(first, last) => Some((first, last.map_or(size, |l| (l + 1).min(size)))),
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), size)),
        }
    }
}

impl Core {
    /// The download key of a session with `token`: 128 bits from the same
    /// keyed hash as the token, never the token itself (a key in a URL may
    /// be seen in a browser's history; it opens downloads only).
    pub(crate) fn files_key(&self, token: &str) -> String {
        let mut out = String::with_capacity(32);
        for salt in [0xf11e_u64, 0x0dd5] {
            let mut h = self.token_keys.build_hasher();
            h.write(token.as_bytes());
            h.write_u64(salt);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }

    /// An HTTP connection asks for stored file `name` with download `key`.
    /// On `Send`, the stream is registered: the shell writes the response
    /// head, then the bytes come as `Priority::Chunk` frames of raw data
    /// (as the connection's chunk slot frees), then a close.
    pub fn http_file(
        &mut self,
        conn: ConnId,
        key: &str,
        name: &str,
        range: Option<ByteRange>,
        body: bool,
    ) -> HttpGrant {
        let refuse = |status, sentence: &str| HttpGrant::Refuse {
            status,
            sentence: sentence.to_string(),
        };
        if !self.file_keys.contains_key(key) {
            return refuse(
                "403 Forbidden",
                "this download link is not valid now: it works while you are logged in; log in and click the file again",
            );
        }
        let Some(file) = self
            .transfers
            .store
            .as_ref()
            .and_then(|s| s.lookup(name))
            .cloned()
        else {
            return refuse("404 Not Found", "the shared store has no file of that name");
        };
        let (start, end, partial) = match range {
            None => (0, file.size, false),
            Some(r) => match r.within(file.size) {
                Some((s, e)) => (s, e, true),
                None => return HttpGrant::Unsatisfiable { size: file.size },
            },
        };
        // Not a chat session: no login is coming, and none is needed.
        self.end_login_deadline(conn);
        if body && end > start {
            self.http_seq += 1;
            self.http_streams.insert(
                HTTP_BIT | self.http_seq,
                HttpStream {
                    conn,
                    name: file.name.clone(),
                    next: start,
                    end,
                    reading: false,
                },
            );
        } else {
            self.close(conn, "http: download answered".into());
        }
        HttpGrant::Send {
            file,
            start,
            end,
            partial,
            ranges: true,
        }
    }

    /// Connections with an HTTP stream waiting for its next read.
    pub(crate) fn http_pullable(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.http_streams
            .values()
            .filter(|s| !s.reading && s.next < s.end)
            .map(|s| s.conn)
    }

    /// Queue the next read of `conn`'s HTTP stream; false if it has none.
    pub(crate) fn http_pull(&mut self, conn: ConnId) -> bool {
        let Some((&id, s)) = self
            .http_streams
            .iter_mut()
            .find(|(_, s)| s.conn == conn && !s.reading && s.next < s.end)
        else {
            return false;
        };
        s.reading = true;
        let len = (s.end - s.next).min(MAX_CHUNK as u64) as usize;
        let job = StoreJob::Read {
            transfer: id,
            name: s.name.clone(),
            offset: s.next,
            len,
        };
        self.effects.push_back(Effect::Store(job));
        true
    }

    /// A read for HTTP stream `id` came back.
    pub(crate) fn http_read(&mut self, id: u64, offset: u64, result: Result<Vec<u8>, StoreError>) {
        let Some(s) = self.http_streams.get_mut(&id) else {
            return; // the browser went away
        };
        s.reading = false;
        let conn = s.conn;
        let data = match result {
            Ok(d) if !d.is_empty() && offset == s.next => d,
            Ok(_) | Err(_) => {
                // The file changed or went; the browser sees a short body
                // and knows the download failed.
                log::warn!(
                    "conn {conn}: HTTP download of {} cut short",
                    super::logsafe::Safe(&s.name)
                );
                self.http_streams.remove(&id);
                return self.close(conn, "http: download failed".into());
            }
        };
        s.next += data.len() as u64;
        let done = s.next >= s.end;
        self.emit(conn, Output::Frame(data.into(), Priority::Chunk(id)), None);
        if done {
            self.http_streams.remove(&id);
            self.close(conn, "http: download sent".into());
        }
    }

    /// `conn` went away: its streams end.
    pub(crate) fn http_gone(&mut self, conn: ConnId) {
        if !self.http_streams.is_empty() {
            self.http_streams.retain(|_, s| s.conn != conn);
        }
        self.sinks_gone(Some(conn), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_a_browser_sends_them() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange::From(0, Some(99)))
        );
        assert_eq!(
            ByteRange::parse("bytes=100-"),
            Some(ByteRange::From(100, None))
        );
        assert_eq!(ByteRange::parse("bytes=-500"), Some(ByteRange::Suffix(500)));
        assert_eq!(ByteRange::parse("bytes=5-1"), None);
        assert_eq!(ByteRange::parse("bytes=0-1,5-6"), None);
        assert_eq!(ByteRange::parse("items=0-1"), None);
        assert_eq!(ByteRange::From(0, Some(99)).within(50), Some((0, 50)));
        assert_eq!(ByteRange::From(50, None).within(50), None);
        assert_eq!(ByteRange::Suffix(10).within(4), Some((0, 4)));
        assert_eq!(ByteRange::Suffix(0).within(4), None);
    }
}
