//! The feed thread: every sequenced event, once, in order.
//!
//! Two connections: one subscribed to `{prefix}:events`, one for `XRANGE` on the
//! stream of the same name. On every (re)connect the thread subscribes first,
//! then raises `{prefix}:seq` to the floor and reads it (that is
//! [`Report::Up`]'s `seq`), then reads back from the stream everything from the
//! next expected number up to it, in pages: whatever was published while it was
//! away, or before it subscribed, comes from the stream, and the messages that
//! arrive on the subscription for numbers already delivered are dropped. A
//! message above the next expected number makes it read the gap back the same
//! way; numbers the stream no longer holds are reported as [`Report::Skipped`].
//!
//! The subscribed connection reads with a short timeout, to notice a stop; after a
//! quiet spell it sends `PING` (with the long timeout) to notice a dead connection.
//! This thread's connection state is the backplane's [`Report::Up`] /
//! [`Report::Down`]. The same connection also subscribes to the node's own
//! channel (`{prefix}:node:{id}:direct`), whose messages are [`Report::Direct`].

use super::{as_u64, Report, Shared, BACKOFF_MIN, IO_TIMEOUT};
use redis::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Read timeout of the subscribed connection: how soon a stop is noticed.
const SUB_POLL: Duration = Duration::from_millis(250);
/// Quiet time on the subscription after which the thread checks it with `PING`.
const PING_AFTER: Duration = Duration::from_secs(2);
/// Entries read back per `XRANGE`.
const PAGE: usize = 1000;

/// The link as last reported.
#[derive(PartialEq, Eq)]
enum Link {
    Unknown,
    Up,
    Down,
}

struct Feed {
    shared: Arc<Shared>,
    /// The next sequence number to deliver; None until the first connect when the
    /// backplane started without `from_seq`.
    next: Option<u64>,
    link: Link,
}

/// Why a session ended: stopped, or the connection failed.
enum End {
    Stopped,
    Lost(String),
}

impl From<redis::RedisError> for End {
    fn from(e: redis::RedisError) -> End {
        End::Lost(e.to_string())
    }
}

/// The thread's body.
pub(super) fn run(shared: Arc<Shared>, from_seq: Option<u64>) {
    let mut f = Feed {
        shared,
        next: from_seq.map(|s| s.saturating_add(1)),
        link: Link::Unknown,
    };
    f.run();
}

impl Feed {
    fn run(&mut self) {
        let shared = Arc::clone(&self.shared);
        loop {
            let Some(mut sub) = shared.connect(SUB_POLL, |e| self.down(e.to_string())) else {
                return;
            };
            let Some(mut range) = shared.connect(IO_TIMEOUT, |e| self.down(e.to_string())) else {
                return;
            };
            match self.session(&mut sub, &mut range) {
                End::Stopped => return,
                End::Lost(reason) => {
                    self.down(reason);
                    if !shared.sleep(BACKOFF_MIN) {
                        return;
                    }
                }
            }
        }
    }

    fn down(&mut self, reason: String) {
        if self.link != Link::Down {
            log::info!("backplane: Redis is down: {reason}");
            self.link = Link::Down;
            self.shared.report(Report::Down { reason });
        }
    }

    fn session(&mut self, sub: &mut redis::Connection, range: &mut redis::Connection) -> End {
        let channel = self.shared.cfg.key("events");
        // This node's own channel: what other nodes send it directly.
        let direct = self.shared.cfg.direct_channel(&self.shared.cfg.node);
        let mut ps = sub.as_pubsub();
        if let Err(e) = ps.subscribe(&channel).and_then(|()| ps.subscribe(&direct)) {
            return e.into();
        }
        let seq = match self.shared.raise(range) {
            Ok(s) => s,
            Err(e) => return e.into(),
        };
        self.shared.saw(seq);
        let next = *self.next.get_or_insert(seq.saturating_add(1));
        log::info!(
            "backplane: Redis is up at {} (sequence {seq}, next to deliver {next})",
            self.shared.cfg.url
        );
        self.link = Link::Up;
        self.shared.feed_started.store(true, Ordering::Release);
        if !self.shared.report(Report::Up { seq }) {
            return End::Stopped;
        }
        if let Err(end) = self.fill(range, seq) {
            return end;
        }
        let mut heard = Instant::now();
        loop {
            if self.shared.stopping() {
                return End::Stopped;
            }
            match ps.get_message() {
                Ok(msg) => {
                    heard = Instant::now();
                    if msg.get_channel_name() == direct {
                        let payload = String::from_utf8_lossy(msg.get_payload_bytes()).into_owned();
                        if !self.shared.report(Report::Direct { payload }) {
                            return End::Stopped;
                        }
                        continue;
                    }
                    if let Err(end) = self.on_message(range, msg.get_payload_bytes()) {
                        return end;
                    }
                }
                Err(e) if e.is_timeout() => {
                    if heard.elapsed() >= PING_AFTER {
                        let alive = ps
                            .set_read_timeout(Some(IO_TIMEOUT))
                            .and_then(|()| ps.ping::<Value>())
                            .and_then(|_| ps.set_read_timeout(Some(SUB_POLL)));
                        if let Err(e) = alive {
                            return e.into();
                        }
                        heard = Instant::now();
                    }
                }
                Err(e) => return e.into(),
            }
        }
    }

    /// One message from the subscription: `"<seq> <payload>"`.
    fn on_message(&mut self, range: &mut redis::Connection, raw: &[u8]) -> Result<(), End> {
        let text = String::from_utf8_lossy(raw);
        let Some((seq, payload)) = text
            .split_once(' ')
            .and_then(|(s, p)| Some((s.parse::<u64>().ok()?, p)))
        else {
            log::warn!("backplane: ignoring a malformed event message {text:?}");
            return Ok(());
        };
        let next = self.next.unwrap_or(0);
        if seq < next {
            return Ok(());
        }
        if seq > next {
            self.fill(range, seq - 1)?;
        }
        self.deliver(seq, payload.to_string())
    }

    /// Deliver everything from the next expected number up to `to` from the stream.
    fn fill(&mut self, range: &mut redis::Connection, to: u64) -> Result<(), End> {
        let key = self.shared.cfg.key("events");
        // Where the next page starts: past every entry read, delivered or not.
        let mut cursor = self.next.unwrap_or(0);
        loop {
            cursor = cursor.max(self.next.unwrap_or(0));
            if cursor > to {
                return Ok(());
            }
            let reply: Value = redis::cmd("XRANGE")
                .arg(&key)
                .arg(format!("{cursor}-0"))
                .arg(format!("{to}-0"))
                .arg("COUNT")
                .arg(PAGE)
                .query(range)?;
            let entries = match reply {
                Value::Array(entries) => entries,
                other => {
                    log::warn!("backplane: unexpected XRANGE reply {other:?}");
                    Vec::new()
                }
            };
            let full = entries.len() >= PAGE;
            let start = cursor;
            for entry in entries {
                let Some((seq, payload)) = parse_entry(entry) else {
                    continue;
                };
                cursor = cursor.max(seq.saturating_add(1));
                let next = self.next.unwrap_or(0);
                if seq < next || seq > to {
                    continue;
                }
                self.deliver(seq, payload)?;
            }
            if !full || cursor == start {
                // The last page (or one of nothing readable: give the rest up).
                let next = self.next.unwrap_or(0);
                if next <= to {
                    self.skip(next, to)?;
                }
                return Ok(());
            }
        }
    }

    /// Deliver event `seq` (at or above the next expected number), reporting what lies
    /// between as skipped.
    fn deliver(&mut self, seq: u64, payload: String) -> Result<(), End> {
        let next = self.next.unwrap_or(0);
        if seq > next {
            self.skip(next, seq - 1)?;
        }
        self.next = Some(seq + 1);
        self.shared.saw(seq);
        if self.shared.report(Report::Event { seq, payload }) {
            Ok(())
        } else {
            Err(End::Stopped)
        }
    }

    fn skip(&mut self, from: u64, to: u64) -> Result<(), End> {
        log::warn!("backplane: events {from}..={to} are not in the stream; skipped");
        self.next = Some(to + 1);
        if self.shared.report(Report::Skipped { from, to }) {
            Ok(())
        } else {
            Err(End::Stopped)
        }
    }
}

/// One `XRANGE` entry: `[id, [field, value, ...]]` with id `<seq>-0` and the payload
/// in field `p`. None (and a warning) for anything else.
fn parse_entry(entry: Value) -> Option<(u64, String)> {
    let parsed = (|| {
        let Value::Array(mut parts) = entry else {
            return None;
        };
        if parts.len() != 2 {
            return None;
        }
        let fields = parts.pop()?;
        let id = parts.pop()?;
        let id = match id {
            Value::BulkString(b) => String::from_utf8(b).ok()?,
            Value::SimpleString(s) => s,
            _ => return None,
        };
        let seq = as_u64(&Value::SimpleString(id.split('-').next()?.to_string()))?;
        let pairs: Vec<(Value, Value)> = match fields {
            Value::Array(flat) => {
                let mut it = flat.into_iter();
                let mut v = Vec::new();
                while let (Some(k), Some(x)) = (it.next(), it.next()) {
                    v.push((k, x));
                }
                v
            }
            Value::Map(m) => m,
            _ => return None,
        };
        let payload = pairs.into_iter().find_map(|(k, v)| match (k, v) {
            (Value::BulkString(k), Value::BulkString(v)) if k == b"p" => {
                Some(String::from_utf8_lossy(&v).into_owned())
            }
            _ => None,
        })?;
        Some((seq, payload))
    })();
    if parsed.is_none() {
        log::warn!("backplane: ignoring a malformed stream entry");
    }
    parsed
}
