//! Where rendered lines go: a [`Sink`].
//!
//! [`TerminalSink`] (in `output/terminal.rs`) prints above the live prompt.
//!
//! [`Transcript`] (scripts and pipes) writes each line to stdout, flushed
//! (wrapped the same way only when stdout is a terminal), and keeps it with
//! the event that printed it, so that `/wait TEXT` can scan the lines and
//! `/wait-from` / `/wait-event` the events, expect-style: each wait looks at
//! what was printed after whatever satisfied the previous wait. What it keeps
//! is bounded (lines and bytes); the oldest is dropped first.

use super::event::Event;
use super::render::Renderer;
use super::text::wrap;

mod terminal;
use super::wait::WaitFor;
use super::ClientError;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
pub use terminal::TerminalSink;

/// Lines kept for `/wait` at most (the oldest are dropped beyond this).
const MAX_TRANSCRIPT: usize = 100_000;
/// Bytes of lines and events kept for `/wait` at most (roughly counted).
const MAX_TRANSCRIPT_BYTES: usize = 64 << 20;

/// Put the terminal back as it was before the prompt (raw mode off,
/// bracketed paste off); nothing when the front end is not a terminal.
pub fn restore_terminal() {
    super::tty::restore();
}

/// Columns to wrap to on the terminal (one less than its width, so a full
/// row never leaves the cursor waiting to wrap).
pub(crate) fn wrap_width() -> usize {
    super::term::columns().saturating_sub(1)
}

/// Receives events from both threads.
pub trait Sink: Send + Sync {
    /// Show these events, in order.
    fn emit(&self, events: &[Event]);
    /// The connection failed after login; the front end must stop.
    fn fatal(&self, err: &ClientError);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One printed line, and the event it ends (the last line an event printed
/// carries it; an event that printed nothing has an empty line).
struct Entry {
    line: String,
    event: Option<Event>,
}

impl Entry {
    /// Roughly the bytes it holds.
    fn bytes(&self) -> usize {
        let event = match &self.event {
            Some(Event::Message { text, from, .. }) => text.len() + from.len(),
            Some(_) => self.line.len(),
            None => 0,
        };
        64 + self.line.len() + event
    }
}

struct Inner {
    renderer: Renderer,
    out: Box<dyn Write + Send>,
    /// Wrap what is written to `out` (it is a terminal).
    wrap: bool,
    /// Printed entries not yet passed over by a wait.
    entries: VecDeque<Entry>,
    /// Number of entries ever removed from the front (dropped or passed over).
    first: u64,
    bytes: usize,
    closed: Option<ClientError>,
}

impl Inner {
    fn push(&mut self, entry: Entry) {
        self.bytes += entry.bytes();
        self.entries.push_back(entry);
        while self.entries.len() > MAX_TRANSCRIPT || self.bytes > MAX_TRANSCRIPT_BYTES {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.bytes();
            self.first += 1;
        }
    }

    /// Pass over everything up to and including entry `i` (an index into `entries`).
    fn consume_through(&mut self, i: usize) {
        for old in self.entries.drain(..=i) {
            self.bytes -= old.bytes();
        }
        self.first += i as u64 + 1;
    }
}

/// Plain output for scripts, with the memory `/wait` needs.
pub struct Transcript {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl Transcript {
    pub fn new(renderer: Renderer, out: Box<dyn Write + Send>) -> Transcript {
        Transcript {
            inner: Mutex::new(Inner {
                renderer,
                out,
                wrap: false,
                entries: VecDeque::new(),
                first: 0,
                bytes: 0,
                closed: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// Wrap lines to the terminal's width as they are written (for a stdout
    /// that is a terminal); what `/wait` sees is unchanged.
    pub fn wrapping(self, on: bool) -> Transcript {
        lock(&self.inner).wrap = on;
        self
    }

    /// The fatal error, once the connection has failed.
    pub fn closed(&self) -> Option<ClientError> {
        lock(&self.inner).closed.clone()
    }

    /// Wait until `what` has been printed (after what satisfied the previous
    /// wait). Errors: timeout, or the connection failed.
    pub fn wait_for(&self, what: &WaitFor, timeout: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner);
        // Absolute index of the first entry not looked at yet.
        let mut next = g.first;
        loop {
            let start = usize::try_from(next.saturating_sub(g.first)).unwrap_or(usize::MAX);
            let found = g
                .entries
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, e)| what.matches(&e.line, e.event.as_ref()))
                .map(|(i, _)| i);
            if let Some(i) = found {
                g.consume_through(i);
                return Ok(());
            }
            next = g.first + g.entries.len() as u64;
            if let Some(e) = &g.closed {
                return Err(e.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::WaitTimeout {
                    what: what.to_string(),
                    secs: timeout.as_secs_f64().to_string(),
                });
            }
            g = match self.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Sleep, returning early with the error if the connection fails.
    pub fn sleep(&self, d: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + d;
        let mut g = lock(&self.inner);
        loop {
            if let Some(e) = &g.closed {
                return Err(e.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            g = match self.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl Sink for Transcript {
    fn emit(&self, events: &[Event]) {
        {
            let mut g = lock(&self.inner);
            let inner = &mut *g;
            let width = inner.wrap.then(wrap_width);
            for ev in events {
                let mut lines = inner.renderer.render(ev);
                if lines.is_empty() {
                    lines.push(String::new());
                }
                let last = lines.len() - 1;
                for (i, line) in lines.into_iter().enumerate() {
                    // A closed stdout must not stop the client; the line still counts for /wait.
                    match width {
                        Some(w) => {
                            for row in wrap(&line, w) {
                                let _ = writeln!(inner.out, "{row}");
                            }
                        }
                        None => {
                            let _ = writeln!(inner.out, "{line}");
                        }
                    }
                    let event = (i == last).then(|| ev.clone());
                    inner.push(Entry { line, event });
                }
            }
            let _ = inner.out.flush();
        }
        self.cv.notify_all();
    }

    fn fatal(&self, err: &ClientError) {
        lock(&self.inner).closed = Some(err.clone());
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::render::Style;
    use std::sync::Arc;
    use std::thread;

    fn transcript() -> Arc<Transcript> {
        let style = Style {
            color: false,
            grouped: false,
            compact: false,
            json: false,
        };
        Arc::new(Transcript::new(
            Renderer::new(style, 0, 0),
            Box::new(std::io::sink()),
        ))
    }

    fn info(t: &Transcript, s: &str) {
        t.emit(&[Event::Info { text: s.into() }]);
    }

    fn line(s: &str) -> WaitFor {
        WaitFor::Line(s.into())
    }

    fn said(t: &Transcript, from: &str, text: &str) {
        t.emit(&[Event::Message {
            id: 1,
            ts: 0,
            from: from.into(),
            conv: crate::client::event::Conv::Room("general".into()),
            text: text.into(),
            replay: None,
        }]);
    }

    #[test]
    fn structured_waits_match_events_and_share_the_cursor() {
        let t = transcript();
        said(&t, "mallory", "hey <admin> approve");
        let from_admin = |text: &str| WaitFor::Message {
            from: "admin".into(),
            room: None,
            text: text.into(),
        };
        // The printed line contains the text, the event is not from admin.
        let e = t
            .wait_for(&from_admin("approve"), Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "timed out after 0.02s waiting for a message from admin containing \"approve\""
        );
        said(&t, "admin", "approve");
        info(&t, "after");
        assert!(t.wait_for(&from_admin("approve"), Duration::ZERO).is_ok());
        // Passed over: the next wait starts after admin's message.
        assert!(t.wait_for(&from_admin(""), Duration::ZERO).is_err());
        assert!(t.wait_for(&line("after"), Duration::ZERO).is_ok());
        assert!(t.wait_for(&line("mallory"), Duration::ZERO).is_err());
    }

    #[test]
    fn waits_scan_forward_like_expect() {
        let t = transcript();
        info(&t, "one");
        info(&t, "two");
        info(&t, "one again");
        // Output printed before the wait counts.
        assert!(t.wait_for(&line("two"), Duration::ZERO).is_ok());
        // The next wait starts after the matched line.
        assert!(t.wait_for(&line("one"), Duration::ZERO).is_ok());
        let e = t
            .wait_for(&line("one"), Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(e.to_string(), "timed out after 0.02s waiting for \"one\"");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn wait_wakes_on_new_lines_and_on_failure() {
        let t = transcript();
        let t2 = t.clone();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            info(&t2, "late line");
            thread::sleep(Duration::from_millis(30));
            t2.fatal(&ClientError::Lost { detail: None });
        });
        assert!(t.wait_for(&line("late"), Duration::from_secs(5)).is_ok());
        let e = t
            .wait_for(&line("never"), Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(e, ClientError::Lost { detail: None });
        assert!(t.sleep(Duration::from_secs(5)).is_err());
        h.join().unwrap();
    }
}
