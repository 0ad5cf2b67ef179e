//! The two front ends, run on the main thread.
//!
//! *Terminal* (stdin and stdout are terminals): a rustyline prompt, see
//! [`super::terminal`].
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
use super::command::{Command, CommandError};
use super::event::Event;
use super::net::{self, NetConfig, NetHandle, NetStatus, LOGIN_TIMEOUT};
use super::output::{Sink, Transcript};
use super::reconnect;
use super::render::{Renderer, Style};
use super::state::ClientState;
use super::{ClientError, Options, Shared};
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
    let zone = clock::Zone::system();
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        super::terminal::run(&opts, zone)
    } else {
        run_scripted(&opts, zone)
    }
}

/// What both front ends share once logged in.
pub(super) struct Session {
    pub(super) shared: Arc<Shared>,
    pub(super) net: NetHandle,
    status: Receiver<NetStatus>,
    sink: Arc<dyn Sink>,
}

impl Session {
    /// Connect, log in, and return once `welcome` has arrived.
    pub(super) fn start(opts: &Options, sink: Arc<dyn Sink>) -> Result<Session, ClientError> {
        let servers = opts.servers().map_err(ClientError::Local)?;
        let tls = match opts.tls {
            true => {
                // Every address's host must be a name a certificate can carry.
                for s in &servers {
                    super::tls::server_name(&s.host).map_err(ClientError::Tls)?;
                }
                Some(super::tls::setup(opts.ca.as_deref()).map_err(ClientError::Tls)?)
            }
            false => None,
        };
        let mut state = ClientState::new(&opts.name, &servers[0].to_string());
        state.set_password(opts.password.clone());
        // Client ids unique across runs: the server drops a repeated one.
        state.set_cid_prefix(&reconnect::cid_prefix(reconnect::seed()));
        let shared = Arc::new(Shared::new(state));
        shared
            .files
            .configure(opts.download_dir.clone(), opts.auto_accept);
        let cfg = NetConfig {
            servers,
            room: opts.room.clone(),
            reconnect: opts.reconnect,
            reconnect_base: reconnect::base_from_env(),
            tls,
        };
        let connecting = Duration::from_secs(30) * u32::try_from(cfg.servers.len()).unwrap_or(1);
        let (net, status) = net::spawn(cfg, shared.clone(), sink.clone())?;
        // Without --no-reconnect the first connection retries until it logs
        // in or is refused (each try is shown); with it, connecting is bounded
        // by its own timeout (5 s per resolved address, each server address
        // tried once) plus the login timeout.
        let first = match opts.reconnect {
            true => status.recv().map_err(|_| RecvTimeoutError::Disconnected),
            false => status.recv_timeout(LOGIN_TIMEOUT + connecting),
        };
        match first {
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
    pub(super) fn mark_read(&self) {
        let frames = self.shared.lock().take_read();
        self.net.send(frames);
    }

    pub(super) fn hint(&self, e: &CommandError) {
        self.sink.emit(&[Event::Hint {
            text: e.to_string(),
        }]);
    }

    /// Run a command that the state machine handles.
    pub(super) fn execute(&self, cmd: Command) {
        if let Command::File(fc) = cmd {
            super::transfer::execute(&self.shared, &self.net, &self.sink, fc);
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
    pub(super) fn logout(&self) {
        self.net.send([crate::protocol::ClientMsg::Logout {}]);
        let deadline = Instant::now() + LOGOUT_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.status.recv_timeout(left) {
                Ok(NetStatus::Ended(_)) | Err(_) => return,
                Ok(NetStatus::LoggedIn) => {}
            }
        }
    }
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

fn run_scripted(opts: &Options, zone: clock::Zone) -> Result<i32, ClientError> {
    let style = Style {
        color: false,
        grouped: false,
        compact: false,
        json: opts.json,
    };
    let renderer = Renderer::new(style, zone, clock::now_ms());
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
