//! Output above a rustyline prompt: [`TerminalSink`].
//!
//! Lines go to a printer thread that owns rustyline's `ExternalPrinter`, so
//! they appear above the live prompt without tearing the typed line, and
//! nobody who emits ever blocks on the terminal. On a fatal connection error
//! it restores the terminal mode and exits, since the main thread is stuck
//! inside `readline`.
//!
//! Before a line reaches the terminal it is cut to the terminal's width with
//! indented continuations (`text::wrap_under`: under a message's text), so
//! text padded to the width never starts a row at column 0.
//!
//! In the compact layout it also: rings the bell (unless turned off) for a
//! line that mentions you, a private message, an incoming call and a file
//! offer; keeps delivery and read receipts off the screen, for `/receipts`;
//! and replaces the echo of a line you sent with the message line itself,
//! before the next prompt is drawn ([`TerminalSink::flush`]).

use super::{lock, wrap_width, Sink};
use crate::client::event::{Conv, Event};
use crate::client::render::Renderer;
use crate::client::text::{wrap, wrap_under};
use crate::client::ClientError;
use crate::protocol::files::TransferState;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Receipt lines kept for `/receipts` (one per own message, the newest state).
const RECEIPTS_KEPT: usize = 200;

/// What the printer thread is asked to print.
enum Print {
    Text(String),
    /// What a submitted line leaves in the scrollback (your message line,
    /// or the line as typed), replacing the `rows` rows of its echo (status
    /// row included) if nothing was printed since `mark`.
    Own {
        text: String,
        rows: usize,
        mark: u64,
    },
    /// Redraw the prompt (its status row changed), printing nothing.
    Refresh,
    /// Say when everything queued before this is printed.
    Flush(mpsc::SyncSender<()>),
}

/// Longest [`TerminalSink::flush`] waits for the printer thread (it is only
/// ever slower if rustyline holds a line for a prompt that is not up).
const FLUSH_WAIT: Duration = Duration::from_millis(500);

/// Output above a rustyline prompt.
pub struct TerminalSink {
    renderer: Mutex<Renderer>,
    lines: Mutex<Sender<Print>>,
    /// Rows of the transfer progress line just above the prompt (redrawn in
    /// place), 0 when the last thing printed was something else.
    progress_rows: Mutex<usize>,
    /// Lines printed so far (by the printer thread).
    printed: Arc<AtomicU64>,
    /// Ring the bell for mentions, private messages, calls and offers.
    bell: AtomicBool,
    /// The newest receipt line of each own message, by id (compact layout).
    receipts: Mutex<BTreeMap<u64, String>>,
    /// The newest own message's id and state (`delivered 2/3`), for the status.
    last_own: Mutex<Option<(u64, String)>>,
}

impl TerminalSink {
    /// Start the printer thread that owns `printer`.
    pub fn new<P>(renderer: Renderer, mut printer: P) -> TerminalSink
    where
        P: rustyline::ExternalPrinter + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Print>();
        let printed = Arc::new(AtomicU64::new(0));
        let count = printed.clone();
        let spawned = thread::Builder::new()
            .name("chat-print".into())
            .spawn(move || {
                for p in rx {
                    let text = match p {
                        Print::Refresh => {
                            // Up one row and back: rustyline redraws the prompt.
                            let _ = printer.print("\x1b[1A\n".to_string());
                            continue;
                        }
                        Print::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                        Print::Text(t) => t,
                        // Nothing came between the echo and this line: up over the echo, clear.
                        Print::Own { text, rows, mark } if count.load(Ordering::SeqCst) == mark => {
                            format!("\x1b[{rows}A\r\x1b[J{text}")
                        }
                        Print::Own { text, .. } => text,
                    };
                    if printer.print(format!("{text}\n")).is_err() {
                        println!("{text}");
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        if let Err(e) = spawned {
            eprintln!("error: cannot start the output thread: {e}");
        }
        TerminalSink {
            renderer: Mutex::new(renderer),
            lines: Mutex::new(tx),
            progress_rows: Mutex::new(0),
            printed,
            bell: AtomicBool::new(true),
            receipts: Mutex::new(BTreeMap::new()),
            last_own: Mutex::new(None),
        }
    }

    /// The newest own message's state, for the status row.
    pub fn last_own(&self) -> Option<String> {
        lock(&self.last_own).as_ref().map(|(_, s)| s.clone())
    }

    /// Leave `text` in the scrollback in place of the echo of a submitted
    /// line (`rows` rows), if nothing was printed since `mark`.
    pub fn replace_echo(&self, text: String, rows: usize, mark: u64) {
        *lock(&self.progress_rows) = 0;
        let _ = lock(&self.lines).send(Print::Own { text, rows, mark });
    }

    /// Wait until what was queued so far is on the terminal, before a new
    /// prompt is drawn: the echo replacement of [`TerminalSink::own`] moves
    /// up and clears to the end of the screen, and printed after the next
    /// prompt it would erase that prompt.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if lock(&self.lines).send(Print::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(FLUSH_WAIT);
        }
    }

    /// Ring the bell or not.
    pub fn set_bell(&self, on: bool) {
        self.bell.store(on, Ordering::Relaxed);
    }

    /// Your name, for highlighting mentions.
    pub fn set_me(&self, me: &str) {
        lock(&self.renderer).set_me(me);
    }

    /// The user's own input line is on screen: start a new message group.
    pub fn break_group(&self) {
        lock(&self.renderer).break_group();
    }

    /// Lines printed so far: taken when a line is submitted, for [`TerminalSink::own`].
    pub fn mark(&self) -> u64 {
        self.printed.load(Ordering::SeqCst)
    }

    /// Show your own message as a message line in place of its echo
    /// (`rows` rows), if nothing was printed since `mark`; else below it.
    pub fn own(&self, ev: &Event, rows: usize, mark: u64) {
        let text = {
            let mut r = lock(&self.renderer);
            if !r.compact() {
                return; // the echo stands for it
            }
            let width = wrap_width();
            let hang = r.hang(ev);
            let lines = r.render(ev);
            let rows: Vec<String> = lines
                .iter()
                .flat_map(|l| wrap_under(l, width, hang))
                .collect();
            rows.join("\n")
        };
        *lock(&self.progress_rows) = 0;
        let _ = lock(&self.lines).send(Print::Own { text, rows, mark });
    }

    /// `/receipts N`: the states of your last `n` messages.
    pub fn receipts(&self, n: usize) -> Vec<String> {
        let kept = lock(&self.receipts);
        let skip = kept.len().saturating_sub(n);
        kept.values().skip(skip).cloned().collect()
    }

    /// Whether `ev` calls for the bell.
    fn rings(&self, r: &Renderer, ev: &Event) -> bool {
        match ev {
            Event::Message {
                from,
                conv,
                text,
                replay: None,
                ..
            } => matches!(conv, Conv::Peer(p) if p == from) || r.mentions_me(from, text),
            Event::CallIncoming { .. } => true,
            Event::Transfer(t) => {
                t.state == TransferState::Pending
                    && t.direction == crate::client::transfer::view::Direction::Receive
            }
            _ => false,
        }
    }
}

/// `sent`, `delivered 2/3`, `read 3/3` (rooms), or `delivered` (private).
fn short_state(
    conv: &Conv,
    state: crate::client::event::DeliveryState,
    recipients: u32,
    delivered: u32,
    read: u32,
) -> String {
    use crate::client::event::DeliveryState as D;
    match (conv, state) {
        (_, D::Sent) => "sent".into(),
        (Conv::Peer(_), D::Delivered) => "delivered".into(),
        (Conv::Peer(_), D::Read) => "read".into(),
        (Conv::Room(_), D::Delivered) => format!("delivered {delivered}/{recipients}"),
        (Conv::Room(_), D::Read) => format!("read {read}/{recipients}"),
    }
}

impl Sink for TerminalSink {
    fn emit(&self, events: &[Event]) {
        let width = wrap_width();
        let mut rows = Vec::new();
        let mut bell = false;
        let mut refresh = false;
        {
            let mut r = lock(&self.renderer);
            for ev in events {
                if let (Event::Typing { .. }, true) = (ev, r.compact()) {
                    refresh = true; // shown in the status row only
                    continue;
                }
                if let (
                    Event::Delivery {
                        ids,
                        conv,
                        state,
                        recipients,
                        delivered,
                        read,
                    },
                    true,
                ) = (ev, r.compact())
                {
                    let newest = ids.iter().max().copied().unwrap_or(0);
                    let mut last = lock(&self.last_own);
                    if last.as_ref().is_none_or(|(id, _)| newest >= *id) {
                        let short = short_state(conv, *state, *recipients, *delivered, *read);
                        *last = Some((newest, short));
                    }
                    refresh = true;
                    // Receipts change no scrollback: kept for /receipts.
                    let line = r.render(ev).join(" ");
                    let mut kept = lock(&self.receipts);
                    for id in ids {
                        kept.insert(*id, line.clone());
                    }
                    while kept.len() > RECEIPTS_KEPT {
                        kept.pop_first();
                    }
                    continue;
                }
                bell |= r.compact() && self.rings(&r, ev);
                let hang = r.hang(ev);
                for l in r.render(ev) {
                    match hang {
                        Some(_) => rows.extend(wrap_under(&l, width, hang)),
                        None => rows.extend(wrap(&l, width)),
                    }
                }
            }
        }
        if rows.is_empty() {
            if refresh {
                let _ = lock(&self.lines).send(Print::Refresh);
            }
            return;
        }
        // A progress line replaces the one just above the prompt (the
        // status line updates in place); anything else is printed below it.
        let progress = matches!(events, [Event::Progress { .. }]);
        let mut shown = lock(&self.progress_rows);
        let mut text = rows.join("\n");
        if progress && *shown > 0 {
            text = format!("\x1b[{}A\x1b[J{text}", *shown);
        }
        if bell && self.bell.load(Ordering::Relaxed) {
            text.push('\x07');
        }
        *shown = if progress { rows.len() } else { 0 };
        // Fails only if the printer thread is gone; then there is nowhere to print.
        let _ = lock(&self.lines).send(Print::Text(text));
    }

    fn fatal(&self, err: &ClientError) {
        // Raw mode and bracketed paste off, which rustyline turned on for the prompt.
        crate::client::tty::restore();
        eprintln!("\r\n{}", err.report());
        std::process::exit(err.exit_code());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::render::Style;

    /// A printer as slow as a busy machine makes rustyline's: it records
    /// what it printed, a while after being asked.
    struct Slow(Arc<Mutex<Vec<String>>>);

    impl rustyline::ExternalPrinter for Slow {
        fn print(&mut self, msg: String) -> rustyline::Result<()> {
            thread::sleep(Duration::from_millis(50));
            lock(&self.0).push(msg);
            Ok(())
        }
    }

    #[test]
    fn flush_returns_once_the_echo_replacement_is_printed() {
        let printed = Arc::new(Mutex::new(Vec::new()));
        let style = Style {
            color: false,
            grouped: false,
            compact: true,
            json: false,
        };
        let sink = TerminalSink::new(Renderer::new(style, 0, 0), Slow(printed.clone()));
        sink.replace_echo("#general> /passwd".into(), 2, sink.mark());
        sink.flush();
        // The next prompt may be drawn now: nothing queued is still to come.
        let got = lock(&printed).clone();
        assert_eq!(got, ["\x1b[2A\r\x1b[J#general> /passwd\n"]);
    }
}
