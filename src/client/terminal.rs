//! The terminal front end (stdin and stdout are terminals): a rustyline
//! prompt showing the current target (`#general> ` or `@bob> `) under a live
//! status row (see `status`; redrawn through the prompt's highlighter, so the
//! typed line never tears), with history and tab completion of commands,
//! user and room names. Incoming events print above the prompt; a submitted
//! line's echo is replaced by what it leaves in the scrollback (your message
//! as a message line). Edits of the line double as a keystroke hook (the helper's
//! `Hinter::hint`) that sends typing start, at most every 3 s while the line
//! holds chat text, and stop when it is emptied or submitted.
//!
//! Keys: Ctrl-C clears the line being typed; Ctrl-D on an empty line, or
//! `/quit`, leaves. Nothing typed is lost: between two prompts the terminal
//! is quiet (see `tty`) and what rustyline read ahead is kept for the next
//! prompt (its `buffer-redux` feature). A password (`/passwd`, alone or with
//! the new one on the line) is never shown and never kept in the history.

use super::command::{self, Command, CommandError};
use super::event::{Conv, Event};
use super::output::Sink;
use super::output::TerminalSink;
use super::render::{Renderer, Style};
use super::ui::Session;
use super::{clock, ClientError, Options, Shared};
use crate::client::net::NetHandle;
use rows::{hard_rows, Screen};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::{ColorMode, CompletionType, Config, Context, Editor, Helper, Validator};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// rustyline helper: completion, the typing hook, password masking.
#[derive(Helper, Validator)]
struct ChatHelper {
    shared: Arc<Shared>,
    net: NetHandle,
    /// The whole line is a password being typed: show none of it.
    masking: AtomicBool,
    /// The prompt's rows on screen (see `rows`).
    screen: Arc<Screen>,
    /// Where the newest own message's state comes from, for the status row.
    sink: Arc<TerminalSink>,
    /// The status row in reverse video.
    colour: bool,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    /// Completed words get a trailing space, so typing can go straight on.
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if self.masking.load(Ordering::Relaxed) {
            return Ok((pos, Vec::new()));
        }
        let (users, rooms) = {
            let s = self.shared.lock();
            (s.users(), s.room_names())
        };
        let (start, words) = command::complete(line, pos, &users, &rooms);
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                replacement: format!("{w} "),
                display: super::text::clean(&w),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;

    /// Called on every edit (even those rustyline draws without a full
    /// redraw): notes the layout, sends typing start/stop, never shows a hint.
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        self.note_drawn(line, pos);
        if self.masking.load(Ordering::Relaxed) {
            return None;
        }
        let frames = self.shared.lock().edited(line, Instant::now());
        self.net.send(frames);
        None
    }
}

/// Where a password starts in `line`, if the line changes the password.
fn secret_start(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("/passwd")?;
    rest.starts_with(char::is_whitespace)
        .then(|| line.len() - rest.trim_start().len())
}

/// `line` with every character from `from` on shown as `*` (as many as it
/// takes columns, so the layout is unchanged).
fn masked(line: &str, from: usize) -> String {
    let (shown, hidden) = line.split_at(from.min(line.len()));
    let cols = unicode_width::UnicodeWidthStr::width(hidden);
    format!("{shown}{}", "*".repeat(cols))
}

impl ChatHelper {
    /// `line` is on screen with the cursor at `pos`; returns the prompt's
    /// columns and the terminal's.
    fn note_drawn(&self, line: &str, pos: usize) -> (usize, usize) {
        let cols = super::term::columns();
        (self.screen.drawn_line(line, pos, cols), cols)
    }
}

impl Highlighter for ChatHelper {
    /// After the window narrowed, the old prompt's rows were split by the
    /// terminal: go up the extra rows and clear them first.
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        let cols = super::term::columns();
        let clear = self.screen.clear_extra(cols);
        // A prompt starting with a line break has the status row above it.
        let Some(last_row) = prompt.strip_prefix('\n') else {
            return match clear.is_empty() {
                true => Cow::Borrowed(prompt),
                false => Cow::Owned(format!("{clear}{prompt}")),
            };
        };
        let text = {
            let s = self.shared.lock();
            status::status(
                &s,
                self.sink.last_own().as_deref(),
                self.shared.files.busy(),
            )
        };
        let row = status::fit(&text, cols.saturating_sub(1));
        self.screen
            .status_drawn(unicode_width::UnicodeWidthStr::width(row.as_str()));
        let row = match (self.colour, row.is_empty()) {
            (true, false) => format!("\x1b[2m{row}\x1b[0m"),
            _ => row,
        };
        Cow::Owned(format!("{clear}{row}\n{last_row}"))
    }

    /// Passwords show as stars; rows are broken where rustyline expects them
    /// to wrap (the line is never coloured).
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        let shown = if self.masking.load(Ordering::Relaxed) {
            Cow::Owned(masked(line, 0))
        } else {
            match secret_start(line) {
                Some(at) => Cow::Owned(masked(line, at)),
                None => Cow::Borrowed(line),
            }
        };
        let (start, cols) = self.note_drawn(line, pos);
        if start + unicode_width::UnicodeWidthStr::width(&*shown) <= cols {
            return shown;
        }
        Cow::Owned(hard_rows(&shown, start, cols))
    }

    /// Redraw the whole line on each key while a password may be on it.
    fn highlight_char(&self, line: &str, _pos: usize, kind: CmdKind) -> bool {
        kind != CmdKind::MoveCursor
            && (self.masking.load(Ordering::Relaxed) || line.starts_with("/passwd"))
    }
}

mod rows;
mod status;

/// Read one line at `prompt` (its width noted for the layout), with the
/// status row above it if `status`.
fn read(
    rl: &mut Editor<ChatHelper, DefaultHistory>,
    prompt: &str,
    status: bool,
) -> rustyline::Result<String> {
    if let Some(h) = rl.helper() {
        let cols = unicode_width::UnicodeWidthStr::width(prompt);
        h.screen.new_prompt(cols, status);
    }
    match status {
        true => rl.readline(&format!("\n{prompt}")),
        false => rl.readline(prompt),
    }
}

fn term_err(e: ReadlineError) -> ClientError {
    ClientError::Local(format!("terminal: {e}"))
}

/// The new password, asked twice with every character shown as `*`; `None`
/// when the user gives an empty one (or presses Ctrl-C).
fn ask_new_password(rl: &mut Editor<ChatHelper, DefaultHistory>) -> Result<Option<String>, String> {
    let mask = |rl: &mut Editor<ChatHelper, DefaultHistory>, on: bool| {
        if let Some(h) = rl.helper() {
            h.masking.store(on, Ordering::Relaxed);
        }
    };
    mask(rl, true);
    let mut ask = |p: &str| match read(rl, p, false) {
        Ok(pw) => Ok(Some(pw)),
        Err(ReadlineError::Interrupted | ReadlineError::Eof) => Ok(None),
        Err(e) => Err(format!("cannot read a password: {e}")),
    };
    let result = match ask("new password: ") {
        Ok(Some(new)) if !new.is_empty() => match ask("new password again: ") {
            Ok(Some(again)) if again == new => Ok(Some(new)),
            Ok(Some(_)) => Err("the two passwords differ; nothing changed".to_string()),
            other => other.map(|_| None),
        },
        other => other.map(|_| None),
    };
    mask(rl, false);
    result
}

/// A terminal login to a registered name without a password: ask for it
/// (no echo) and try again.
fn start_asking(opts: &Options, sink: Arc<dyn Sink>) -> Result<Session, ClientError> {
    match Session::start(opts, sink.clone()) {
        Err(ClientError::AuthRequired(_)) if opts.password.is_none() => {
            let prompt = format!("password for {}: ", opts.name);
            let pw = rpassword::prompt_password(prompt)
                .map_err(|e| ClientError::Local(format!("cannot read a password: {e}")))?;
            let mut again = opts.clone();
            again.password = Some(crate::protocol::Secret(pw));
            Session::start(&again, sink)
        }
        other => other,
    }
}

fn colours_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Run the terminal front end until the user leaves.
pub fn run(opts: &Options, zone: clock::Zone) -> Result<i32, ClientError> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .and_then(|c| c.history_ignore_dups(true))
        .map_err(term_err)?
        // The highlighter only masks passwords: it must run even with NO_COLOR.
        .color_mode(ColorMode::Forced)
        .build();
    let mut rl: Editor<ChatHelper, DefaultHistory> =
        Editor::with_config(config).map_err(term_err)?;
    let printer = rl.create_external_printer().map_err(term_err)?;
    let style = Style {
        color: !opts.json && opts.colours && colours_wanted(),
        grouped: false,
        compact: !opts.json,
        json: opts.json,
    };
    let screen = Arc::new(Screen::default());
    let sink = Arc::new(TerminalSink::new(
        Renderer::new(style, zone, clock::now_ms()),
        printer,
    ));
    let session = start_asking(opts, sink.clone())?;
    sink.set_me(session.shared.lock().me());
    sink.set_bell(opts.bell);
    rl.set_helper(Some(ChatHelper {
        shared: session.shared.clone(),
        net: session.net.clone(),
        masking: AtomicBool::new(false),
        screen: screen.clone(),
        sink: sink.clone(),
        colour: style.color,
    }));
    super::tty::quiet().map_err(ClientError::Local)?;
    let result = prompt_loop(&mut rl, &session, &sink, !opts.json);
    session.logout();
    super::tty::restore();
    result
}

/// Read and run lines until `/quit`, Ctrl-D on an empty line, or a terminal error.
fn prompt_loop(
    rl: &mut Editor<ChatHelper, DefaultHistory>,
    session: &Session,
    sink: &TerminalSink,
    status: bool,
) -> Result<i32, ClientError> {
    loop {
        let prompt = match session.shared.lock().target() {
            Some(t) => format!("{}> ", super::text::clean(&super::render::place(&t))),
            None => "> ".to_string(),
        };
        let line = match read(rl, &prompt, status) {
            Ok(line) => line,
            // Ctrl-C: the line is dropped, the prompt comes back.
            Err(ReadlineError::Interrupted) => {
                let stop = session.shared.lock().edited("", Instant::now());
                session.net.send(stop);
                continue;
            }
            Err(ReadlineError::Eof) => return Ok(0),
            Err(e) => return Err(term_err(e)),
        };
        let mark = sink.mark();
        let echo_rows = rows::rows_of(
            status,
            unicode_width::UnicodeWidthStr::width(prompt.as_str()),
            &line,
            super::term::columns(),
        );
        sink.break_group();
        let parsed = line.parse::<Command>();
        // What the line leaves in the scrollback: your message as a message
        // line, else the line as typed (password masked), without the status row.
        match parsed.as_ref().ok().and_then(|c| own_message(session, c)) {
            Some(ev) => sink.own(&ev, echo_rows, mark),
            None if status => {
                let shown = match secret_start(&line) {
                    Some(at) => masked(&line, at),
                    None => line.clone(),
                };
                sink.replace_echo(format!("{prompt}{shown}"), echo_rows, mark);
            }
            None => {}
        }
        // (before any prompt: printed after one, the replacement erases it)
        sink.flush();
        let stop = session.shared.lock().submitted(parsed.as_ref().ok());
        session.net.send(stop);
        session.mark_read();
        match parsed {
            Err(CommandError::Empty) => {}
            Err(e) => session.hint(&e),
            Ok(cmd) => {
                if !matches!(cmd, Command::Passwd(_)) {
                    let _ = rl.add_history_entry(line.as_str());
                }
                match cmd {
                    Command::Quit => return Ok(0),
                    Command::Sleep(d) => thread::sleep(d),
                    Command::Wait { .. } => session.hint(&CommandError::Invalid(
                        "/wait is for scripts (stdin not a terminal)".into(),
                    )),
                    Command::Receipts(n) => {
                        let mut lines = sink.receipts(n);
                        if lines.is_empty() {
                            lines.push("* no messages of yours yet".into());
                        }
                        let events: Vec<_> =
                            lines.into_iter().map(|text| Event::Info { text }).collect();
                        sink.emit(&events);
                    }
                    Command::Clear => print!("\x1b[H\x1b[2J\x1b[3J"),
                    Command::Passwd(None) => match ask_new_password(rl) {
                        Ok(Some(new)) => session.execute(Command::Passwd(Some(new))),
                        Ok(None) => {}
                        Err(e) => session.hint(&CommandError::Invalid(e)),
                    },
                    cmd => session.execute(cmd),
                }
            }
        }
    }
}

/// Your message as it will be shown, if `cmd` sends one.
fn own_message(session: &Session, cmd: &Command) -> Option<Event> {
    let s = session.shared.lock();
    let (conv, text) = match cmd {
        Command::Say(text) => (s.target()?, text.clone()),
        Command::Me(action) => (s.target()?, format!("/me {action}")),
        Command::Msg { to, text } => (Conv::Peer(to.clone()), text.clone()),
        Command::SayIn { room, text } if s.room_names().contains(room) => {
            (Conv::Room(room.clone()), text.clone())
        }
        _ => return None,
    };
    Some(Event::Message {
        id: 0,
        ts: clock::now_ms(),
        from: s.me().to_string(),
        conv,
        text,
        replay: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_on_the_line_are_masked() {
        assert_eq!(secret_start("/passwd hunter2"), Some(8));
        assert_eq!(secret_start("/passwd   x"), Some(10));
        assert_eq!(secret_start("/passwd"), None);
        assert_eq!(secret_start("/passwdx y"), None);
        assert_eq!(secret_start("hello"), None);
        assert_eq!(masked("/passwd héllo", 8), "/passwd *****");
    }
}
