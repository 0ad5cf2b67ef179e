//! The two front ends, run on the main thread.
//!
//! *Terminal* (stdin and stdout are terminals): a rustyline prompt showing the
//! current room (`#general> `), with history and tab completion of commands,
//! user and room names. Incoming events print above the prompt. Edits of the
//! line double as a keystroke hook (the helper's `Hinter::hint`) that sends
//! typing start, at most every 3 s while the line holds chat text, and stop
//! when it is emptied or submitted.
//!
//! *Scripted* (otherwise): stdin lines run in order, events print one per line
//! (no prompt, no colours), `/sleep SECS` pauses and `/wait TEXT [SECS]` blocks
//! until a printed line contains TEXT, `/wait-from` and `/wait-event` until a
//! matching event (see `wait`; exit status 2 on timeout). At the end of input
//! (or `/quit`) the client waits (bounded, reconnecting if need be) for every
//! sent message to be acknowledged and for the transfers it started or
//! accepted to end (offers it never accepted do not count), logs out and
//! exits 0.
//!
//! A lost connection does not stop either front end: the network thread
//! reconnects by itself, and what is typed meanwhile is sent after it.
//!
//! In both, nothing runs before `welcome`, and every submitted line (or script
//! command) first marks the messages displayed so far as read; see
//! [`command::READ_RULE`].

use super::clock;
use super::command::{self, Command, CommandError};
use super::event::Event;
use super::net::{self, NetConfig, NetHandle, NetStatus, LOGIN_TIMEOUT};
use super::output::{Sink, TerminalSink, Transcript};
use super::reconnect;
use super::render::{Renderer, Style};
use super::state::ClientState;
use super::{ClientError, Options, Shared};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor, Helper, Highlighter, Validator};
use std::io::{self, BufRead, IsTerminal};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the reply to `/join`, `/create` or `/leave` before
/// going on, so the next line goes to the right room.
const ROOM_REPLY_WAIT: Duration = Duration::from_secs(5);
/// At the end of a script, how long to wait for outstanding acks (long
/// enough for a reconnect or two).
const ACK_WAIT: Duration = Duration::from_secs(20);
/// How long to wait for the server to close after `logout`.
const LOGOUT_WAIT: Duration = Duration::from_secs(3);

/// Pick the front end and run it.
pub fn run(opts: Options) -> Result<i32, ClientError> {
    let offset = clock::local_offset_secs();
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        run_terminal(&opts, offset)
    } else {
        run_scripted(&opts, offset)
    }
}

/// What both front ends share once logged in.
struct Session {
    shared: Arc<Shared>,
    net: NetHandle,
    status: Receiver<NetStatus>,
    sink: Arc<dyn Sink>,
}

impl Session {
    /// Connect, log in, and return once `welcome` has arrived.
    fn start(opts: &Options, sink: Arc<dyn Sink>) -> Result<Session, ClientError> {
        let tls = match opts.tls {
            true => {
                Some(super::tls::setup(&opts.host, opts.ca.as_deref()).map_err(ClientError::Tls)?)
            }
            false => None,
        };
        let mut state = ClientState::new(&opts.name, &opts.addr());
        state.set_password(opts.password.clone());
        // Client ids unique across runs: the server drops a repeated one.
        state.set_cid_prefix(&reconnect::cid_prefix(reconnect::seed()));
        let shared = Arc::new(Shared::new(state));
        shared
            .files
            .configure(opts.download_dir.clone(), opts.auto_accept);
        let cfg = NetConfig {
            host: opts.host.clone(),
            port: opts.port,
            room: opts.room.clone(),
            reconnect: opts.reconnect,
            reconnect_base: reconnect::base_from_env(),
            tls,
        };
        let (net, status) = net::spawn(cfg, shared.clone(), sink.clone())?;
        // Connecting is bounded by its own timeout (5 s per address) plus the login timeout.
        match status.recv_timeout(LOGIN_TIMEOUT + Duration::from_secs(30)) {
            Ok(NetStatus::LoggedIn) => Ok(Session {
                shared,
                net,
                status,
                sink,
            }),
            Ok(NetStatus::Ended(Some(e))) => Err(e),
            Ok(NetStatus::Ended(None)) | Err(_) => Err(ClientError::Login {
                message: "the server did not accept the login".into(),
            }),
        }
    }

    /// A line was submitted or a script command is about to run: everything
    /// displayed so far counts as read.
    fn mark_read(&self) {
        let frames = self.shared.lock().take_read();
        self.net.send(frames);
    }

    fn hint(&self, e: &CommandError) {
        self.sink.emit(&[Event::Hint {
            text: e.to_string(),
        }]);
    }

    /// Run a command that the state machine handles.
    fn execute(&self, cmd: Command) {
        if let Command::File(fc) = cmd {
            super::transfer::execute(&self.shared, &self.net, &self.sink, fc);
            return;
        }
        if let Command::Passwd(None) = cmd {
            match ask_new_password() {
                Ok(Some(new)) => self.execute(Command::Passwd(Some(new))),
                Ok(None) => {}
                Err(e) => self.sink.emit(&[Event::local_error(&e)]),
            }
            return;
        }
        if let Command::Reconnect = cmd {
            let text = if self.shared.lock().logged_in() {
                "connected already".to_string()
            } else {
                self.net.reconnect_now();
                "reconnecting now...".to_string()
            };
            self.sink.emit(&[Event::Info { text }]);
            return;
        }
        let room_op = matches!(
            cmd,
            Command::Join(_) | Command::Create(_) | Command::Leave(_)
        );
        let out = self.shared.lock().command(cmd, Instant::now());
        let sent = !out.frames.is_empty();
        self.net.send(out.frames);
        if !out.events.is_empty() {
            self.sink.emit(&out.events);
        }
        // (While disconnected the request waits for the next login.)
        if room_op && sent && self.shared.lock().logged_in() {
            self.shared
                .wait_until(ROOM_REPLY_WAIT, |s| s.room_ops() == 0);
        }
    }

    /// Say goodbye and wait (bounded) for the server to close.
    fn logout(&self) {
        self.net.send([crate::protocol::ClientMsg::Logout]);
        let deadline = Instant::now() + LOGOUT_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.status.recv_timeout(left) {
                Ok(NetStatus::Ended(_)) | Err(_) => return,
                Ok(NetStatus::LoggedIn) => {}
            }
        }
    }
}

/// rustyline helper: completion, and the typing hook.
#[derive(Helper, Highlighter, Validator)]
struct ChatHelper {
    shared: Arc<Shared>,
    net: NetHandle,
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

    /// Called on every edit: used to send typing start/stop, never shows a hint.
    fn hint(&self, line: &str, _pos: usize, _: &Context<'_>) -> Option<String> {
        let frames = self.shared.lock().edited(line, Instant::now());
        self.net.send(frames);
        None
    }
}

fn colours_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `/passwd` in a terminal: the new password twice, without echo.
fn ask_new_password() -> Result<Option<String>, String> {
    if !io::stdin().is_terminal() {
        return Err("usage in scripts: /passwd NEW".into());
    }
    let ask =
        |p: &str| rpassword::prompt_password(p).map_err(|e| format!("cannot read a password: {e}"));
    let new = ask("new password: ")?;
    if new.is_empty() {
        return Ok(None);
    }
    if ask("new password again: ")? != new {
        return Err("the two passwords differ; nothing changed".into());
    }
    Ok(Some(new))
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

fn run_terminal(opts: &Options, offset: i64) -> Result<i32, ClientError> {
    let term_err = |e: ReadlineError| ClientError::Local(format!("terminal: {e}"));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .and_then(|c| c.history_ignore_dups(true))
        .map_err(term_err)?
        .build();
    let mut rl: Editor<ChatHelper, DefaultHistory> =
        Editor::with_config(config).map_err(term_err)?;
    let printer = rl.create_external_printer().map_err(term_err)?;
    let style = Style {
        color: !opts.json && colours_wanted(),
        grouped: !opts.json,
        json: opts.json,
    };
    let sink = Arc::new(TerminalSink::new(
        Renderer::new(style, offset, clock::now_ms()),
        printer,
    ));
    let session = start_asking(opts, sink.clone())?;
    rl.set_helper(Some(ChatHelper {
        shared: session.shared.clone(),
        net: session.net.clone(),
    }));

    let result = loop {
        let prompt = match session.shared.lock().current() {
            Some(r) => format!("#{}> ", super::text::clean(r)),
            None => "> ".to_string(),
        };
        let line = match rl.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break Ok(0),
            Err(e) => break Err(term_err(e)),
        };
        sink.break_group();
        let parsed = line.parse::<Command>();
        let stop = session.shared.lock().submitted(parsed.as_ref().ok());
        session.net.send(stop);
        session.mark_read();
        match parsed {
            Err(CommandError::Empty) => {}
            Err(e) => session.hint(&e),
            Ok(cmd) => {
                let _ = rl.add_history_entry(line.as_str());
                match cmd {
                    Command::Quit => break Ok(0),
                    Command::Sleep(d) => thread::sleep(d),
                    Command::Wait { .. } => session.hint(&CommandError::Invalid(
                        "/wait is for scripts (stdin not a terminal)".into(),
                    )),
                    cmd => session.execute(cmd),
                }
            }
        }
    };
    session.logout();
    result
}

/// Lines from stdin (`None` at the end), read on their own thread so that a
/// lost connection is noticed while the script is idle.
fn stdin_lines() -> Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("chat-stdin".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match input.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(None);
        });
    if spawned.is_err() {
        eprintln!("error: cannot start the input thread");
    }
    rx
}

fn run_scripted(opts: &Options, offset: i64) -> Result<i32, ClientError> {
    let style = Style {
        color: false,
        grouped: false,
        json: opts.json,
    };
    let renderer = Renderer::new(style, offset, clock::now_ms());
    let transcript = Arc::new(
        Transcript::new(renderer, Box::new(io::stdout())).wrapping(io::stdout().is_terminal()),
    );
    let session = Session::start(opts, transcript.clone())?;
    let lines = stdin_lines();
    let result = loop {
        let line = match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(line)) => line,
            Ok(None) | Err(RecvTimeoutError::Disconnected) => break Ok(()),
            Err(RecvTimeoutError::Timeout) => match transcript.closed() {
                Some(e) => break Err(e),
                None => continue,
            },
        };
        if let Some(e) = transcript.closed() {
            break Err(e);
        }
        let parsed = line.parse::<Command>();
        if parsed == Err(CommandError::Empty) {
            continue;
        }
        session.mark_read();
        let step = match parsed {
            Err(e) => {
                session.hint(&e);
                Ok(())
            }
            Ok(Command::Quit) => break Ok(()),
            Ok(Command::Sleep(d)) => transcript.sleep(d),
            Ok(Command::Wait { what, timeout }) => transcript.wait_for(&what, timeout),
            Ok(cmd) => {
                session.execute(cmd);
                Ok(())
            }
        };
        if let Err(e) = step {
            break Err(e);
        }
    };
    match result {
        Ok(()) => {
            let settled = |s: &ClientState| s.pending() == 0 || transcript.closed().is_some();
            if !session.shared.wait_until(ACK_WAIT, settled) {
                if let Some(e) = transcript.closed() {
                    return Err(e);
                }
                let n = session.shared.lock().pending();
                eprintln!(
                    "warning: {n} message(s) not acknowledged by the server within {}s",
                    ACK_WAIT.as_secs()
                );
            }
            // Scripts end only once the transfers this client started or
            // accepted have ended (an unanswered offer to it does not count).
            let ended =
                |_: &ClientState| session.shared.files.busy() == 0 || transcript.closed().is_some();
            while !session.shared.wait_until(Duration::from_secs(60), ended) {}
            if let Some(e) = transcript.closed() {
                return Err(e);
            }
            session.logout();
            Ok(0)
        }
        Err(e @ ClientError::WaitTimeout { .. }) => {
            session.logout();
            Err(e)
        }
        Err(e) => Err(e),
    }
}
