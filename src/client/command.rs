//! What the user types, parsed: `"/join rust"` becomes [`Command::Join`].
//!
//! Parsing is pure ([`std::str::FromStr`]) and knows nothing about state or the
//! network; a bad line yields a [`CommandError`] whose `Display` is the one-line
//! hint to show. Lines not starting with `/` are text for the current room
//! (`//x` sends the text `/x`). Room arguments accept an optional leading `#`.
//! The same table of commands drives `/help` and tab completion ([`complete`]).

mod complete;
pub use complete::complete;

use crate::protocol::{Media, Status};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Default `/wait` timeout.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Longest accepted `/sleep` or `/wait` timeout, in seconds (one day).
const MAX_SECS: f64 = 86_400.0;

/// Messages one `/history` asks for unless told otherwise.
pub const HISTORY_DEFAULT: u32 = 20;
/// Most messages one `/history` may ask for (the server's limit).
pub const HISTORY_MAX: u32 = 500;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Quit,
    Users,
    Rooms,
    Join(String),
    Create(String),
    /// Leave the named room, or the current one.
    Leave(Option<String>),
    Msg {
        to: String,
        text: String,
    },
    /// `/msg #ROOM TEXT`: say TEXT in a joined room without switching to it.
    SayIn {
        room: String,
        text: String,
    },
    /// `/query NAME`: plain text goes to NAME privately; `/query` alone ends it.
    Query(Option<String>),
    /// `/win N`: make the Nth joined room (in `/help`'s order: by name) current.
    Win(usize),
    /// `/next`: to the next conversation with unseen messages.
    Next,
    /// `/me ACTION`: an action line (`* alice waves`) to the current target.
    Me(String),
    /// `/names [ROOM]`: who is in a joined room (default: the current one).
    Names(Option<String>),
    /// `/whois NAME`: their status and rooms.
    Whois(String),
    Status(Status),
    /// `/away MESSAGE` (away, answering private messages with it) or
    /// `/away` alone (back: online).
    Away(Option<String>),
    /// `/topic TEXT` sets the current room's topic; `/topic` shows it.
    Topic(Option<String>),
    Call {
        to: String,
        media: Media,
    },
    AcceptCall,
    DeclineCall,
    Hangup,
    /// `/receipts [N]`: the states of your last N messages (terminal).
    Receipts(usize),
    /// `/clear`: clear the screen (terminal).
    Clear,
    /// Send typing start (`true`) or stop for the current room.
    Typing(bool),
    /// Make an already joined room the current one.
    Switch(String),
    Sleep(Duration),
    /// Scripts: block until `what` is printed (`/wait`, `/wait-from`, `/wait-event`).
    Wait {
        what: super::wait::WaitFor,
        timeout: Duration,
    },
    /// Plain text for the current room.
    Say(String),
    /// A file-transfer command (`/send`, `/accept`, ...; see `client::transfer`).
    File(super::transfer::FileCommand),
    /// Try to reconnect now instead of waiting for the next retry.
    Reconnect,
    /// Set a new password (`None`: ask for it without echo).
    Passwd(Option<String>),
    /// Stored messages holding every word of `text`, in `scope` (default:
    /// every room you are in and your private chats).
    Search {
        text: String,
        scope: Option<super::event::Conv>,
    },
    /// Older messages of a room or private conversation (default: the current room).
    History {
        target: Option<super::event::Conv>,
        limit: u32,
    },
}

/// Why a line is not a valid command; `Display` is the hint for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Nothing but whitespace.
    Empty,
    /// `/foo` is not a command.
    Unknown(String),
    /// Wrong arguments: the usage line of the command.
    Usage(&'static str),
    /// An argument with a specific complaint.
    Invalid(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => write!(f, "empty line"),
            CommandError::Unknown(c) => {
                write!(f, "unknown command {c}; type /help for the list")
            }
            CommandError::Usage(u) => write!(f, "usage: {u}"),
            CommandError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CommandError {}

/// One row of the command table: name, usage, what it does, an example.
pub struct Spec {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    pub example: &'static str,
}

/// Every command, in `/help` order.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    Spec { name: "/help", usage: "/help", about: "show this list", example: "/help" },
    Spec { name: "/quit", usage: "/quit", about: "log out and exit", example: "/quit" },
    Spec { name: "/users", usage: "/users", about: "list who is online", example: "/users" },
    Spec { name: "/rooms", usage: "/rooms", about: "list rooms", example: "/rooms" },
    Spec { name: "/join", usage: "/join ROOM", about: "join (or create) a room and talk there", example: "/join #rust" },
    Spec { name: "/create", usage: "/create ROOM", about: "create a new room and join it", example: "/create games" },
    Spec { name: "/leave", usage: "/leave [ROOM]", about: "leave a room (default: the current one)", example: "/leave #rust" },
    Spec { name: "/switch", usage: "/switch ROOM", about: "talk in another room you have joined", example: "/switch general" },
    Spec { name: "/msg", usage: "/msg NAME|#ROOM TEXT", about: "a private message, or a line in another joined room (the current target stays)", example: "/msg bob see you at 5" },
    Spec { name: "/query", usage: "/query [NAME]", about: "talk privately with NAME: plain lines go to them until /query alone, /switch or /join", example: "/query bob" },
    Spec { name: "/next", usage: "/next", about: "go to the next room or private chat with unseen messages", example: "/next" },
    Spec { name: "/me", usage: "/me ACTION", about: "an action line to the current target (* alice waves)", example: "/me waves" },
    Spec { name: "/names", usage: "/names [ROOM]", about: "who is in a room you joined (default: the current one)", example: "/names #dev" },
    Spec { name: "/whois", usage: "/whois NAME", about: "someone's status and rooms", example: "/whois bob" },
    Spec { name: "/win", usage: "/win N", about: "make your Nth joined room (by name) current", example: "/win 2" },
    Spec { name: "/status", usage: "/status online|busy|away", about: "set your presence", example: "/status away" },
    Spec { name: "/away", usage: "/away [MESSAGE]", about: "away, answering private messages once per sender with MESSAGE; /away alone: back", example: "/away at lunch until 2" },
    Spec { name: "/topic", usage: "/topic [TEXT]", about: "show the current room's topic, or set it (kept across restarts)", example: "/topic release on friday" },
    Spec { name: "/call", usage: "/call NAME [voice|video]", about: "ring someone", example: "/call bob video" },
    Spec { name: "/accept-call", usage: "/accept-call", about: "answer the call ringing now", example: "/accept-call" },
    Spec { name: "/decline-call", usage: "/decline-call", about: "decline the call ringing now", example: "/decline-call" },
    Spec { name: "/hangup", usage: "/hangup", about: "end your current call", example: "/hangup" },
    Spec { name: "/search", usage: "/search TEXT [#ROOM|@NAME]", about: "find stored messages with every word of TEXT in your rooms and chats (or one), newest first; again for older hits", example: "/search deploy friday #dev" },
    Spec { name: "/history", usage: "/history [@NAME|#ROOM] [N]", about: "show N (default 20) older messages of the current room or a chat; again for earlier ones", example: "/history 50" },
    Spec { name: "/passwd", usage: "/passwd [NEW]", about: "set a new password for your name (registers it if it has none); a terminal asks without echo", example: "/passwd" },
    Spec { name: "/receipts", usage: "/receipts [N]", about: "the delivery and read state of your last N (default 5) messages (a terminal keeps receipts off the screen)", example: "/receipts 3" },
    Spec { name: "/clear", usage: "/clear", about: "clear the screen (a terminal)", example: "/clear" },
    Spec { name: "/reconnect", usage: "/reconnect", about: "after a lost connection: try to reconnect now", example: "/reconnect" },
    Spec { name: "/typing", usage: "/typing [on|off]", about: "send typing start/stop for the current room (scripts)", example: "/typing on" },
    Spec { name: "/sleep", usage: "/sleep SECS", about: "pause (fractions allowed)", example: "/sleep 0.5" },
    Spec { name: "/wait", usage: "/wait TEXT [SECS]", about: "scripts: wait for an output line containing TEXT (default 10 s; anyone's message can contain it)", example: "/wait bob joined 5" },
    Spec { name: "/wait-from", usage: super::wait::WAIT_FROM_USAGE, about: "scripts: wait for a message sent by NAME (in ROOM) containing TEXT; others' text cannot satisfy it", example: "/wait-from admin approve 30" },
    Spec { name: "/wait-event", usage: super::wait::WAIT_EVENT_USAGE, about: "scripts: wait for that event (join bob #ROOM, offer bob, transfer 3 completed, ...)", example: "/wait-event offer bob" },
];

/// The read-receipt rule, shown by `/help` (and copied to the README).
pub const READ_RULE: &str =
    "Receipts: a message counts as delivered as soon as your client receives it. \
It counts as read when you submit your next input line after it was displayed (interactive), \
or when a script executes its next command after it was printed (scripted); the client then \
sends one read receipt per conversation, up to the newest message displayed.";

/// The `/help` text, one entry per line.
pub fn help_lines() -> Vec<String> {
    let mut out = vec![
        "commands (text not starting with / goes to the current room; //x sends /x):".to_string(),
    ];
    for s in COMMANDS {
        out.push(format!("  {:<26} {}; e.g. {}", s.usage, s.about, s.example));
    }
    out.push("files:".to_string());
    for (_, usage, about, example) in super::transfer::command::SPECS {
        out.push(format!("  {usage:<26} {about}; e.g. {example}"));
    }
    out.push(String::new());
    out.push(READ_RULE.to_string());
    out
}

fn usage_of(name: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|s| s.name == name)
        .map_or("/help", |s| s.usage)
}

/// A room argument: optional leading `#` stripped, must be non-empty.
fn room_arg(arg: &str) -> Option<String> {
    let r = arg.strip_prefix('#').unwrap_or(arg);
    (!r.is_empty()).then(|| r.to_string())
}

pub(crate) fn secs_arg(s: &str) -> Option<Duration> {
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() || !(0.0..=MAX_SECS).contains(&v) {
        return None;
    }
    Duration::try_from_secs_f64(v).ok()
}

/// Split off the first whitespace-separated word; the rest has leading space trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

impl FromStr for Command {
    type Err = CommandError;

    fn from_str(line: &str) -> Result<Self, CommandError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Err(CommandError::Empty);
        }
        if let Some(rest) = line.strip_prefix("//") {
            return Ok(Command::Say(format!("/{rest}")));
        }
        if !line.starts_with('/') {
            return Ok(Command::Say(line.to_string()));
        }
        let (word, rest) = split_word(line);
        let name = word.to_ascii_lowercase();
        let args: Vec<&str> = rest.split_whitespace().collect();
        let usage = || CommandError::Usage(usage_of(&name));
        let no_args = |c: Command| if args.is_empty() { Ok(c) } else { Err(usage()) };
        match name.as_str() {
            "/help" => Ok(Command::Help),
            "/quit" => no_args(Command::Quit),
            "/users" => no_args(Command::Users),
            "/rooms" => no_args(Command::Rooms),
            "/accept-call" => no_args(Command::AcceptCall),
            "/decline-call" => no_args(Command::DeclineCall),
            "/hangup" => no_args(Command::Hangup),
            "/reconnect" => no_args(Command::Reconnect),
            "/clear" => no_args(Command::Clear),
            "/receipts" => match args.as_slice() {
                [] => Ok(Command::Receipts(5)),
                [n] => match n.parse::<usize>() {
                    Ok(n) if (1..=200).contains(&n) => Ok(Command::Receipts(n)),
                    _ => Err(usage()),
                },
                _ => Err(usage()),
            },
            "/passwd" => match args.as_slice() {
                [] => Ok(Command::Passwd(None)),
                [new] => Ok(Command::Passwd(Some(new.to_string()))),
                _ => Err(usage()),
            },
            "/search" => {
                use super::event::Conv;
                let (scope, words) = match args.split_last() {
                    Some((last, rest)) if !rest.is_empty() && last.starts_with('#') => {
                        (Some(Conv::Room(room_arg(last).ok_or_else(usage)?)), rest)
                    }
                    Some((last, rest))
                        if !rest.is_empty() && last.len() > 1 && last.starts_with('@') =>
                    {
                        (Some(Conv::Peer(last[1..].to_string())), rest)
                    }
                    _ => (None, args.as_slice()),
                };
                if words.is_empty() {
                    return Err(usage());
                }
                Ok(Command::Search {
                    text: words.join(" "),
                    scope,
                })
            }
            "/history" => {
                use super::event::Conv;
                let limit = |s: &str| {
                    s.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=HISTORY_MAX).contains(n))
                };
                let target = |s: &str| match (s.strip_prefix('@'), room_arg(s)) {
                    (Some(p), _) if !p.is_empty() => Some(Conv::Peer(p.to_string())),
                    (None, Some(r)) if s.starts_with('#') => Some(Conv::Room(r)),
                    _ => None,
                };
                let (target, limit) = match args.as_slice() {
                    [] => (None, Some(HISTORY_DEFAULT)),
                    [a] => match target(a) {
                        Some(t) => (Some(t), Some(HISTORY_DEFAULT)),
                        None => (None, limit(a)),
                    },
                    [t, n] => (Some(target(t).ok_or_else(usage)?), limit(n)),
                    _ => return Err(usage()),
                };
                let limit = limit.ok_or_else(|| {
                    CommandError::Invalid(format!(
                        "usage: {}; N is 1 to {HISTORY_MAX}",
                        usage_of("/history")
                    ))
                })?;
                Ok(Command::History { target, limit })
            }
            "/join" | "/create" | "/switch" => match args.as_slice() {
                [r] => {
                    let r = room_arg(r).ok_or_else(usage)?;
                    Ok(match name.as_str() {
                        "/join" => Command::Join(r),
                        "/create" => Command::Create(r),
                        _ => Command::Switch(r),
                    })
                }
                _ => Err(usage()),
            },
            "/leave" => match args.as_slice() {
                [] => Ok(Command::Leave(None)),
                [r] => Ok(Command::Leave(Some(room_arg(r).ok_or_else(usage)?))),
                _ => Err(usage()),
            },
            "/msg" => {
                let (to, text) = split_word(rest);
                if to.is_empty() || text.trim().is_empty() {
                    return Err(usage());
                }
                if to.starts_with('#') {
                    let room = room_arg(to).ok_or_else(usage)?;
                    return Ok(Command::SayIn {
                        room,
                        text: text.to_string(),
                    });
                }
                Ok(Command::Msg {
                    to: to.to_string(),
                    text: text.to_string(),
                })
            }
            "/query" => match args.as_slice() {
                [] => Ok(Command::Query(None)),
                [n] if !n.starts_with('#') => Ok(Command::Query(Some(
                    n.strip_prefix('@').unwrap_or(n).to_string(),
                ))),
                _ => Err(usage()),
            },
            "/next" => no_args(Command::Next),
            "/me" if !rest.trim().is_empty() => Ok(Command::Me(rest.trim().to_string())),
            "/me" => Err(usage()),
            "/names" => match args.as_slice() {
                [] => Ok(Command::Names(None)),
                [r] => Ok(Command::Names(Some(room_arg(r).ok_or_else(usage)?))),
                _ => Err(usage()),
            },
            "/whois" => match args.as_slice() {
                [n] => Ok(Command::Whois(n.strip_prefix('@').unwrap_or(n).to_string())),
                _ => Err(usage()),
            },
            "/win" => match args.as_slice() {
                [n] => n
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .map(Command::Win)
                    .ok_or_else(usage),
                _ => Err(usage()),
            },
            "/away" => Ok(Command::Away(
                Some(args.join(" ")).filter(|m| !m.trim().is_empty()),
            )),
            "/topic" => Ok(Command::Topic(
                Some(args.join(" ")).filter(|m| !m.trim().is_empty()),
            )),
            "/status" => match args.as_slice() {
                [s] => s
                    .parse()
                    .map(Command::Status)
                    .map_err(CommandError::Invalid),
                _ => Err(usage()),
            },
            "/call" => {
                let media = match args.get(1).copied() {
                    None | Some("voice") => Media::Voice,
                    Some("video") => Media::Video,
                    Some(_) => return Err(usage()),
                };
                match args.as_slice() {
                    [to] | [to, _] => Ok(Command::Call {
                        to: to.to_string(),
                        media,
                    }),
                    _ => Err(usage()),
                }
            }
            "/typing" => match args.as_slice() {
                [] | ["on"] => Ok(Command::Typing(true)),
                ["off"] => Ok(Command::Typing(false)),
                _ => Err(usage()),
            },
            "/sleep" => match args.as_slice() {
                [s] => secs_arg(s).map(Command::Sleep).ok_or_else(usage),
                _ => Err(usage()),
            },
            "/wait" => {
                let rest = rest.trim_end();
                // The last token is a timeout if it is a number and something precedes it.
                let (text, timeout) = match rest.rsplit_once(char::is_whitespace) {
                    Some((t, last)) if !t.trim().is_empty() => match secs_arg(last) {
                        Some(d) => (t.trim_end(), d),
                        None if last.parse::<f64>().is_ok() => return Err(usage()),
                        None => (rest, DEFAULT_WAIT),
                    },
                    _ => (rest, DEFAULT_WAIT),
                };
                if text.is_empty() {
                    return Err(usage());
                }
                Ok(Command::Wait {
                    what: super::wait::WaitFor::Line(text.to_string()),
                    timeout,
                })
            }
            "/wait-from" => {
                super::wait::parse_from(rest).map(|(what, timeout)| Command::Wait { what, timeout })
            }
            "/wait-event" => super::wait::parse_event(rest)
                .map(|(what, timeout)| Command::Wait { what, timeout }),
            n => match super::transfer::command::parse(n, rest) {
                Some(r) => r.map(Command::File),
                None => Err(CommandError::Unknown(word.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, CommandError> {
        s.parse()
    }

    #[test]
    fn plain_text_and_escapes() {
        assert_eq!(p("hello bob"), Ok(Command::Say("hello bob".into())));
        assert_eq!(p("//shrug\n"), Ok(Command::Say("/shrug".into())));
        assert_eq!(p("  spaced "), Ok(Command::Say("  spaced ".into())));
        assert_eq!(p("   "), Err(CommandError::Empty));
    }

    #[test]
    fn simple_commands() {
        assert_eq!(p("/help"), Ok(Command::Help));
        assert_eq!(p("/QUIT"), Ok(Command::Quit));
        assert_eq!(p("/users"), Ok(Command::Users));
        assert_eq!(p("/rooms"), Ok(Command::Rooms));
        assert_eq!(p("/accept-call"), Ok(Command::AcceptCall));
        assert_eq!(p("/decline-call"), Ok(Command::DeclineCall));
        assert_eq!(p("/hangup"), Ok(Command::Hangup));
        assert_eq!(
            p("/msg #dev build is red"),
            Ok(Command::SayIn {
                room: "dev".into(),
                text: "build is red".into()
            })
        );
        assert_eq!(p("/query @bob"), Ok(Command::Query(Some("bob".into()))));
        assert_eq!(p("/query"), Ok(Command::Query(None)));
        assert_eq!(p("/win 2"), Ok(Command::Win(2)));
        assert!(p("/win 0").is_err());
        assert_eq!(p("/users x").unwrap_err().to_string(), "usage: /users");
    }

    #[test]
    fn rooms() {
        assert_eq!(p("/join #rust"), Ok(Command::Join("rust".into())));
        assert_eq!(p("/join rust"), Ok(Command::Join("rust".into())));
        assert_eq!(p("/create games"), Ok(Command::Create("games".into())));
        assert_eq!(p("/switch #general"), Ok(Command::Switch("general".into())));
        assert_eq!(p("/leave"), Ok(Command::Leave(None)));
        assert_eq!(p("/leave #x"), Ok(Command::Leave(Some("x".into()))));
        assert_eq!(p("/join").unwrap_err().to_string(), "usage: /join ROOM");
        assert_eq!(p("/join #").unwrap_err().to_string(), "usage: /join ROOM");
        assert_eq!(p("/join a b").unwrap_err().to_string(), "usage: /join ROOM");
    }

    #[test]
    fn messages_and_status() {
        assert_eq!(
            p("/msg bob  see  you "),
            Ok(Command::Msg {
                to: "bob".into(),
                text: "see  you ".into()
            })
        );
        assert_eq!(
            p("/msg bob").unwrap_err().to_string(),
            "usage: /msg NAME|#ROOM TEXT"
        );
        assert_eq!(p("/status away"), Ok(Command::Status(Status::Away)));
        assert!(p("/status asleep")
            .unwrap_err()
            .to_string()
            .contains("online, busy or away"));
        assert_eq!(p("/typing"), Ok(Command::Typing(true)));
        assert_eq!(p("/typing off"), Ok(Command::Typing(false)));
        assert!(p("/typing maybe").is_err());
    }

    #[test]
    fn calls() {
        assert_eq!(
            p("/call bob"),
            Ok(Command::Call {
                to: "bob".into(),
                media: Media::Voice
            })
        );
        assert_eq!(
            p("/call bob video"),
            Ok(Command::Call {
                to: "bob".into(),
                media: Media::Video
            })
        );
        assert_eq!(
            p("/call bob fax").unwrap_err().to_string(),
            "usage: /call NAME [voice|video]"
        );
        assert!(p("/call").is_err());
    }

    #[test]
    fn script_helpers() {
        assert_eq!(
            p("/sleep 0.25"),
            Ok(Command::Sleep(Duration::from_millis(250)))
        );
        assert!(p("/sleep -1").is_err());
        assert!(p("/sleep soon").is_err());
        use crate::client::wait::WaitFor;
        assert_eq!(
            p("/wait <bob> hi alice"),
            Ok(Command::Wait {
                what: WaitFor::Line("<bob> hi alice".into()),
                timeout: DEFAULT_WAIT
            })
        );
        assert_eq!(
            p("/wait bob joined 2.5"),
            Ok(Command::Wait {
                what: WaitFor::Line("bob joined".into()),
                timeout: Duration::from_millis(2500)
            })
        );
        // A lone number is the text, not a timeout.
        assert_eq!(
            p("/wait 42"),
            Ok(Command::Wait {
                what: WaitFor::Line("42".into()),
                timeout: DEFAULT_WAIT
            })
        );
        assert_eq!(
            p("/wait-from admin approve 3"),
            Ok(Command::Wait {
                what: WaitFor::Message {
                    from: "admin".into(),
                    room: None,
                    text: "approve".into()
                },
                timeout: Duration::from_secs(3)
            })
        );
        assert!(p("/wait-event offer bob").is_ok());
        assert_eq!(
            p("/wait-from").unwrap_err().to_string(),
            "usage: /wait-from NAME [#ROOM] [TEXT] [SECS]"
        );
        assert_eq!(
            p("/wait").unwrap_err().to_string(),
            "usage: /wait TEXT [SECS]"
        );
    }

    #[test]
    fn history_and_reconnect() {
        use crate::client::event::Conv;
        let h = |target, limit| Ok(Command::History { target, limit });
        assert_eq!(p("/history"), h(None, 20));
        assert_eq!(p("/history 50"), h(None, 50));
        assert_eq!(p("/history @bob"), h(Some(Conv::Peer("bob".into())), 20));
        assert_eq!(p("/history @bob 5"), h(Some(Conv::Peer("bob".into())), 5));
        assert_eq!(p("/history #lab 3"), h(Some(Conv::Room("lab".into())), 3));
        for bad in [
            "/history 0",
            "/history 501",
            "/history lots",
            "/history @bob x",
        ] {
            assert!(
                p(bad).unwrap_err().to_string().contains("1 to 500"),
                "{bad}"
            );
        }
        assert_eq!(
            p("/history bob 5").unwrap_err().to_string(),
            "usage: /history [@NAME|#ROOM] [N]"
        );
        assert!(p("/history @bob 5 6").is_err());
        assert_eq!(p("/reconnect"), Ok(Command::Reconnect));
        assert!(p("/reconnect now").is_err());
        let users = vec!["bob".to_string()];
        let rooms = vec!["lab".to_string()];
        assert_eq!(
            complete("/history @b", 11, &users, &rooms),
            (9, vec!["@bob".to_string()])
        );
        assert_eq!(
            complete("/history #l", 11, &users, &rooms),
            (9, vec!["#lab".to_string()])
        );
    }

    #[test]
    fn unknown() {
        assert_eq!(
            p("/foo bar").unwrap_err().to_string(),
            "unknown command /foo; type /help for the list"
        );
    }

    #[test]
    fn help_mentions_every_command() {
        let h = help_lines().join("\n");
        for s in COMMANDS {
            assert!(h.contains(s.usage) && h.contains(s.example), "{}", s.name);
        }
        assert!(h.contains("read"));
    }

    #[test]
    fn completion() {
        let users = vec!["alice".to_string(), "bob".to_string(), "bobby".to_string()];
        let rooms = vec!["general".to_string(), "rust".to_string()];
        let c = |l: &str| complete(l, l.len(), &users, &rooms);
        assert_eq!(c("/jo"), (0, vec!["/join".to_string()]));
        assert_eq!(c("/join r"), (6, vec!["rust".to_string()]));
        assert_eq!(c("/join #g"), (6, vec!["#general".to_string()]));
        assert_eq!(
            c("/msg bo"),
            (5, vec!["bob".to_string(), "bobby".to_string()])
        );
        assert_eq!(c("/msg bob hi al"), (12, vec!["alice".to_string()]));
        assert_eq!(
            c("/call bob v"),
            (10, vec!["voice".to_string(), "video".to_string()])
        );
        assert_eq!(c("/status a"), (8, vec!["away".to_string()]));
        assert_eq!(c("hi al"), (3, vec!["alice".to_string()]));
        assert_eq!(c("see #ru"), (4, vec!["#rust".to_string()]));
        assert_eq!(c("hi "), (3, vec![]));
        assert_eq!(c("/hangup x"), (8, vec![]));
    }
}
