//! The terminal chat client: `chat-client --name NAME [--host H[:P][,...]]
//! [--port P] [--room R] [--json]`.
//!
//! A network thread owns the socket and a sans-I/O [`state::ClientState`];
//! the main thread runs a front end: an interactive rustyline prompt when
//! stdin and stdout are terminals, otherwise a script reader that executes
//! one command per line (with `/sleep` and `/wait`) and prints one line per
//! event. Both share the state behind a mutex ([`Shared`]) and send frames to
//! the network thread over a channel.
//!
//! # Layout
//! - [`command`]: `"/join x"` -> [`command::Command`] (pure `FromStr`), `/help` text, tab completion.
//! - [`state`]: client state machine: rooms, pending sends, typing, calls; frames in, events out.
//! - [`receipts`]: own messages' sent/delivered/read counts, and which receipts to send.
//! - [`config`]: the settings file (`$XDG_CONFIG_HOME/chat/config.toml`).
//! - [`event`]: [`event::Event`], what is shown (and the `--json` schema).
//! - [`render`]: event -> display lines (grouping, local time, colours), pure.
//! - [`clock`]: local time (the system time zone through `jiff`) and calendar arithmetic.
//! - [`net`]: network thread: its own mio `Poll` + `Waker`, incremental decode, write queue,
//!   and the reconnect loop around each connection.
//! - [`reconnect`]: backoff schedule with jitter (pure), per-process client id prefix.
//! - [`servers`]: the `--host` address list and the order addresses are tried in (pure).
//! - [`output`]: where lines go: above the live prompt, or to stdout plus a transcript for `/wait`.
//! - [`tls`]: the connection: plain TCP or rustls over the same mio socket; `--ca`, system roots.
//! - [`text`]: others' text made safe to show (hidden characters escaped) and wrapped, pure.
//! - [`term`]: the terminal's width.
//! - [`terminal`]: the terminal front end: the prompt, its keys, password masking.
//! - [`tty`]: terminal modes (quiet between prompts, restored on exit) without `stty`.
//! - [`transfer`]: file transfers: the table both threads share, file I/O in chunks.
//! - [`ui`]: picking the front end, the scripted one, and login/logout sequencing.
//! - [`wait`]: what a script's `/wait`, `/wait-from` and `/wait-event` wait for, pure.

pub mod clock;
pub mod command;
pub mod config;
pub mod event;
pub mod net;
pub mod output;
pub mod receipts;
pub mod reconnect;
pub mod render;
pub mod servers;
pub mod state;
pub mod term;
pub mod terminal;
pub mod text;
pub mod tls;
pub mod transfer;
pub mod tty;
pub mod ui;
pub mod wait;

use state::ClientState;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    /// Server addresses, comma-separated: `HOST`, `HOST:PORT`, `[IPv6]:PORT`
    /// (see [`servers::parse`]).
    pub host: String,
    /// The port of an address that names none.
    pub port: u16,
    /// Room to join at login, without `#`.
    pub room: String,
    /// Print events as JSON objects, one per line.
    pub json: bool,
    /// Where received files go.
    pub download_dir: std::path::PathBuf,
    /// Accept every file offer without asking.
    pub auto_accept: bool,
    /// Reconnect after a lost connection (`--no-reconnect`: exit 1 instead).
    pub reconnect: bool,
    /// Connect with TLS.
    pub tls: bool,
    /// Trust the certificates in this PEM file (else the system's roots).
    pub ca: Option<std::path::PathBuf>,
    /// The name's password (from the prompt, `--password-file` or `CHAT_PASSWORD`).
    pub password: Option<crate::protocol::Secret>,
    /// Ring the terminal bell for mentions, private messages, calls and offers.
    pub bell: bool,
    /// Colours in a terminal (also off with `NO_COLOR`).
    pub colours: bool,
}

impl Options {
    /// Defaults: 127.0.0.1, port 5555, room `general`, text output.
    pub fn new(name: &str) -> Options {
        Options {
            name: name.to_string(),
            host: "127.0.0.1".to_string(),
            port: 5555,
            room: "general".to_string(),
            json: false,
            download_dir: std::path::PathBuf::from("downloads"),
            auto_accept: false,
            reconnect: true,
            tls: false,
            ca: None,
            password: None,
            bell: true,
            colours: true,
        }
    }

    /// The server addresses, those without a port on [`Options::port`]; or
    /// a sentence saying what is wrong with them.
    pub fn servers(&self) -> Result<Vec<servers::ServerAddr>, String> {
        servers::parse(&self.host, self.port)
    }
}

/// Why the client stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No TCP connection to the server.
    CannotReach { addr: String, reason: String },
    /// Login refused: the name is in use.
    NameTaken { name: String },
    /// Login refused or unanswered for another reason.
    Login { message: String },
    /// The connection dropped after login.
    Lost { detail: Option<String> },
    /// Reconnecting, the name was refused: someone else took it meanwhile.
    NameLost { name: String, message: String },
    /// Another connection took this session over (`bye` with `taken_over`):
    /// reconnecting would take it back, and the other would do the same.
    TakenOver { message: String },
    /// A script's `/wait` timed out; `what` says what it waited for.
    WaitTimeout { what: String, secs: String },
    /// The terminal or a local resource failed.
    Local(String),
    /// TLS could not be set up or failed (untrusted certificate, no TLS on the port).
    Tls(String),
    /// The name is registered and the login had no password.
    AuthRequired(String),
}

impl ClientError {
    /// Process exit status: 2 for a script timeout, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::WaitTimeout { .. } => 2,
            _ => 1,
        }
    }

    /// The one line to print on stderr. Texts from the server in it (a
    /// refused login's message, say) are neutralised like chat text.
    pub fn report(&self) -> String {
        let line = match self {
            ClientError::Lost { .. } => self.to_string(),
            _ => format!("error: {self}"),
        };
        text::clean(&line)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::CannotReach { addr, reason } => write!(
                f,
                "cannot reach the chat server at {addr} ({reason}); is it running? start it with make run-server"
            ),
            ClientError::NameTaken { name } => {
                write!(f, "name \"{name}\" is already taken; pick another with --name")
            }
            ClientError::Login { message } => write!(f, "login refused: {message}"),
            ClientError::Lost { detail: None } => write!(f, "connection to the server lost"),
            ClientError::Lost { detail: Some(d) } => write!(f, "connection to the server lost ({d})"),
            ClientError::NameLost { name, message } => write!(
                f,
                "cannot log in again as \"{name}\" after the lost connection ({message}); start again with another --name"
            ),
            ClientError::TakenOver { message } => write!(
                f,
                "{message}; this client stopped rather than take the session back (the other would take it again); start it again to take it back"
            ),
            ClientError::WaitTimeout { what, secs } => {
                write!(f, "timed out after {secs}s waiting for {what}")
            }
            ClientError::Local(m) => f.write_str(m),
            ClientError::Tls(m) => f.write_str(m),
            ClientError::AuthRequired(m) => write!(f, "login refused: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The state both threads see, and a condition variable signalled whenever
/// the network thread has processed a batch (for "wait until acked" and
/// "wait until the join is answered").
#[derive(Debug)]
pub struct Shared {
    state: Mutex<ClientState>,
    changed: Condvar,
    /// File transfers (their own lock: chunks do not wait for the chat state).
    pub files: transfer::Files,
}

impl Shared {
    pub fn new(state: ClientState) -> Shared {
        Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            files: transfer::Files::default(),
        }
    }

    /// Lock the state (a panic elsewhere does not make it unusable).
    pub fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake threads blocked in [`Shared::wait_until`].
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Block until `cond` holds or `timeout` passes; returns whether it holds.
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&ClientState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if cond(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Bounded waits, so a missed notification only costs a little time.
            let step = (deadline - now).min(Duration::from_millis(100));
            g = match self.changed.wait_timeout(g, step) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Run the client until the user quits, the script ends or the connection
/// fails. Returns the process exit status for a normal end.
pub fn run(opts: Options) -> Result<i32, ClientError> {
    install_panic_hook();
    ui::run(opts)
}

/// Exit status after a panic in any thread of the client.
pub const PANIC_EXIT: i32 = 101;

/// Make a panic in any thread of the client end the process: the usual
/// panic message, the terminal restored, one line saying the client stopped,
/// and exit status [`PANIC_EXIT`]. Without it a panicking network thread
/// would leave a client that looks alive but hears nothing.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The terminal first, so the message is readable (not in raw mode).
            output::restore_terminal();
            default(info);
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            eprintln!(
                "error: chat-client stopped: internal error in its {name} thread (a bug; please report it)"
            );
            std::process::exit(PANIC_EXIT);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines() {
        let e = ClientError::CannotReach {
            addr: "127.0.0.1:5555".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            e.report(),
            "error: cannot reach the chat server at 127.0.0.1:5555 (connection refused); is it running? start it with make run-server"
        );
        let e = ClientError::NameTaken { name: "bob".into() };
        assert_eq!(
            e.report(),
            "error: name \"bob\" is already taken; pick another with --name"
        );
        assert_eq!(
            ClientError::Lost { detail: None }.report(),
            "connection to the server lost"
        );
        let e = ClientError::WaitTimeout {
            what: "\"x\"".into(),
            secs: "10".into(),
        };
        assert_eq!(
            (e.report().as_str(), e.exit_code()),
            ("error: timed out after 10s waiting for \"x\"", 2)
        );
        assert_eq!(ClientError::Lost { detail: None }.exit_code(), 1);
        // A hostile server's refusal cannot drive the terminal.
        let e = ClientError::Login {
            message: "\x1b]0;pwned\x07\x1b[2J\u{202e}x".into(),
        };
        assert_eq!(
            e.report(),
            "error: login refused: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}x"
        );
        let e = ClientError::NameLost {
            name: "bob".into(),
            message: "taken".into(),
        };
        assert_eq!(
            (e.report().as_str(), e.exit_code()),
            ("error: cannot log in again as \"bob\" after the lost connection (taken); start again with another --name", 1)
        );
    }
}
