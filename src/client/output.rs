//! Where rendered lines go: a [`Sink`].
//!
//! [`TerminalSink`] hands lines to a printer thread that owns rustyline's
//! `ExternalPrinter`, so they appear above the live prompt without tearing the
//! typed line, and nobody who emits ever blocks on the terminal. On a fatal
//! connection error it restores the terminal mode and exits, since the main
//! thread is stuck inside `readline`.
//!
//! [`Transcript`] (scripts and pipes) writes each line to stdout, flushed, and
//! keeps it so `/wait TEXT` can scan what was printed, expect-style: each wait
//! looks at the lines after the one that satisfied the previous wait.

use super::event::Event;
use super::render::Renderer;
use super::ClientError;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Lines kept for `/wait` at most (the oldest are dropped beyond this).
const MAX_TRANSCRIPT: usize = 100_000;

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

/// Output above a rustyline prompt.
pub struct TerminalSink {
    renderer: Mutex<Renderer>,
    lines: Mutex<Sender<String>>,
    /// `stty -g` of the terminal before rustyline touched it.
    saved_tty: Option<String>,
    /// The last line printed is a transfer progress line (redrawn in place).
    progress_shown: Mutex<bool>,
}

impl TerminalSink {
    /// Start the printer thread that owns `printer`.
    pub fn new<P>(renderer: Renderer, mut printer: P) -> TerminalSink
    where
        P: rustyline::ExternalPrinter + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<String>();
        let spawned = thread::Builder::new()
            .name("chat-print".into())
            .spawn(move || {
                for text in rx {
                    if printer.print(format!("{text}\n")).is_err() {
                        println!("{text}");
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("error: cannot start the output thread: {e}");
        }
        TerminalSink {
            renderer: Mutex::new(renderer),
            lines: Mutex::new(tx),
            saved_tty: stty(&["-g"]),
            progress_shown: Mutex::new(false),
        }
    }

    /// The user's own input line is on screen: start a new message group.
    pub fn break_group(&self) {
        lock(&self.renderer).break_group();
    }
}

/// Run `stty ARGS` on the terminal (our stdin); its output if it succeeded.
fn stty(args: &[&str]) -> Option<String> {
    let out = Command::new("stty")
        .args(args)
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Sink for TerminalSink {
    fn emit(&self, events: &[Event]) {
        let mut lines = Vec::new();
        {
            let mut r = lock(&self.renderer);
            for ev in events {
                lines.extend(r.render(ev));
            }
        }
        if !lines.is_empty() {
            // A progress line replaces the one just above the prompt (the
            // status line updates in place); anything else is printed below it.
            let progress = matches!(events, [Event::Progress { .. }]);
            let mut shown = lock(&self.progress_shown);
            let mut text = lines.join("\n");
            if progress && *shown {
                text = format!("\x1b[1A\x1b[2K{text}");
            }
            *shown = progress;
            // Fails only if the printer thread is gone; then there is nowhere to print.
            let _ = lock(&self.lines).send(text);
        }
    }

    fn fatal(&self, err: &ClientError) {
        if let Some(saved) = &self.saved_tty {
            stty(&[saved]);
        }
        // Also turn off bracketed paste, which rustyline enabled for the prompt.
        eprintln!("\x1b[?2004l\r\n{}", err.report());
        std::process::exit(err.exit_code());
    }
}

struct Inner {
    renderer: Renderer,
    out: Box<dyn Write + Send>,
    /// Printed lines not yet passed over by a `/wait`.
    lines: Vec<String>,
    closed: Option<ClientError>,
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
                lines: Vec::new(),
                closed: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// The fatal error, once the connection has failed.
    pub fn closed(&self) -> Option<ClientError> {
        lock(&self.inner).closed.clone()
    }

    /// Wait until a line containing `text` has been printed (after the line
    /// that satisfied the previous wait). Errors: timeout, or the connection failed.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner);
        let mut scanned = 0;
        loop {
            // (Old lines may have been dropped meanwhile; never index past the end.)
            scanned = scanned.min(g.lines.len());
            if let Some(i) = g.lines[scanned..].iter().position(|l| l.contains(text)) {
                g.lines.drain(..=scanned + i);
                return Ok(());
            }
            scanned = g.lines.len();
            if let Some(e) = &g.closed {
                return Err(e.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::WaitTimeout {
                    text: text.to_string(),
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
            for ev in events {
                for line in inner.renderer.render(ev) {
                    // A closed stdout must not stop the client; the line still counts for /wait.
                    let _ = writeln!(inner.out, "{line}");
                    inner.lines.push(line);
                }
            }
            let _ = inner.out.flush();
            if inner.lines.len() > MAX_TRANSCRIPT {
                let excess = inner.lines.len() - MAX_TRANSCRIPT;
                inner.lines.drain(..excess);
            }
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

    fn transcript() -> Arc<Transcript> {
        let style = Style {
            color: false,
            grouped: false,
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

    #[test]
    fn waits_scan_forward_like_expect() {
        let t = transcript();
        info(&t, "one");
        info(&t, "two");
        info(&t, "one again");
        // Output printed before the wait counts.
        assert!(t.wait_for("two", Duration::ZERO).is_ok());
        // The next wait starts after the matched line.
        assert!(t.wait_for("one", Duration::ZERO).is_ok());
        let e = t.wait_for("one", Duration::from_millis(20)).unwrap_err();
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
        assert!(t.wait_for("late", Duration::from_secs(5)).is_ok());
        let e = t.wait_for("never", Duration::from_secs(5)).unwrap_err();
        assert_eq!(e, ClientError::Lost { detail: None });
        assert!(t.sleep(Duration::from_secs(5)).is_err());
        h.join().unwrap();
    }
}
