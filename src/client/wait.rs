//! What a script waits for, and whether a printed event satisfies it; pure.
//!
//! `/wait TEXT` matches the printed line, so anyone whose words are printed
//! can satisfy it: mallory's message "hey <admin> approve" contains
//! `<admin> approve`. The structured waits match the parsed event instead,
//! which message text cannot forge:
//!
//! - `/wait-from NAME [#ROOM] [TEXT] [SECS]`: a message whose sender is
//!   exactly NAME (in ROOM if given, else in any room or in private), whose
//!   text contains TEXT (any text if none). `/history` answers do not count;
//!   messages missed while away do.
//! - `/wait-event KIND ... [SECS]`: `join NAME [#ROOM]`, `leave NAME [#ROOM]`,
//!   `status NAME [online|busy|away]`, `typing NAME`, `call NAME` (NAME calls
//!   you), `offer NAME` (NAME offers you a file), `transfer ID STATE`
//!   (transfer ID reached STATE: `in_progress`, `completed`, `failed`, ...).
//!
//! As with `/wait`, a number at the end is the timeout in seconds (default
//! 10), and each wait looks at what was printed after the previous wait's
//! match.

use super::command::CommandError;
use super::event::{Conv, Event};
use super::transfer::view::Direction;
use crate::protocol::files::TransferState;
use crate::protocol::{NoticeKind, Replay, Status};
use std::fmt;
use std::time::Duration;

/// What a script waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// A printed line containing the text (`/wait`).
    Line(String),
    /// A message from `from` (in `room`, if given) containing `text` (`/wait-from`).
    Message {
        from: String,
        room: Option<String>,
        text: String,
    },
    /// A structured event (`/wait-event`).
    Event(Pattern),
}

/// A structured event to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Join {
        user: String,
        room: Option<String>,
    },
    Leave {
        user: String,
        room: Option<String>,
    },
    Status {
        user: String,
        status: Option<Status>,
    },
    Typing {
        user: String,
    },
    Call {
        from: String,
    },
    Offer {
        from: String,
    },
    Transfer {
        id: u64,
        state: TransferState,
    },
}

impl WaitFor {
    /// Whether a printed line, or the event it printed, satisfies the wait.
    pub fn matches(&self, line: &str, event: Option<&Event>) -> bool {
        match self {
            WaitFor::Line(text) => line.contains(text.as_str()),
            WaitFor::Message { from, room, text } => matches!(
                event,
                Some(Event::Message { from: f, conv, text: t, replay, .. })
                    if f == from
                        && *replay != Some(Replay::History)
                        && room.as_ref().is_none_or(|r| *conv == Conv::Room(r.clone()))
                        && t.contains(text.as_str())
            ),
            WaitFor::Event(p) => event.is_some_and(|e| p.matches(e)),
        }
    }
}

impl Pattern {
    fn matches(&self, e: &Event) -> bool {
        let in_room = |want: &Option<String>, got: &Option<String>| {
            want.is_none() || (got.is_some() && want == got)
        };
        match (self, e) {
            (
                Pattern::Join { user, room },
                Event::Notice {
                    kind: NoticeKind::Join,
                    user: u,
                    room: r,
                    ..
                },
            )
            | (
                Pattern::Leave { user, room },
                Event::Notice {
                    kind: NoticeKind::Leave,
                    user: u,
                    room: r,
                    ..
                },
            ) => u == user && in_room(room, r),
            (
                Pattern::Status { user, status },
                Event::Notice {
                    kind: NoticeKind::Status,
                    user: u,
                    status: s,
                    ..
                },
            ) => u == user && (status.is_none() || status == s),
            (
                Pattern::Typing { user },
                Event::Typing {
                    from, active: true, ..
                },
            ) => from == user,
            (Pattern::Call { from }, Event::CallIncoming { from: f, .. }) => f == from,
            (Pattern::Offer { from }, Event::Transfer(t)) => {
                t.state == TransferState::Pending
                    && t.direction == Direction::Receive
                    && t.peer.as_deref() == Some(from.as_str())
            }
            (Pattern::Transfer { id, state }, Event::Transfer(t)) => {
                t.id == *id && t.state == *state
            }
            _ => false,
        }
    }
}

impl fmt::Display for WaitFor {
    /// What the timeout message says was awaited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFor::Line(text) => write!(f, "\"{text}\""),
            WaitFor::Message { from, room, text } => {
                write!(f, "a message from {from}")?;
                if let Some(r) = room {
                    write!(f, " in #{r}")?;
                }
                if !text.is_empty() {
                    write!(f, " containing \"{text}\"")?;
                }
                Ok(())
            }
            WaitFor::Event(p) => match p {
                Pattern::Join { user, room } | Pattern::Leave { user, room } => {
                    let what = if matches!(p, Pattern::Join { .. }) {
                        "joining"
                    } else {
                        "leaving"
                    };
                    write!(f, "{user} {what}")?;
                    match room {
                        Some(r) => write!(f, " #{r}"),
                        None => f.write_str(" a room"),
                    }
                }
                Pattern::Status { user, status } => match status {
                    Some(s) => write!(f, "{user} to be {s}"),
                    None => write!(f, "a status change of {user}"),
                },
                Pattern::Typing { user } => write!(f, "{user} typing"),
                Pattern::Call { from } => write!(f, "a call from {from}"),
                Pattern::Offer { from } => write!(f, "a file offer from {from}"),
                Pattern::Transfer { id, state } => write!(f, "transfer {id} to be {state}"),
            },
        }
    }
}

/// Split `rest` into its text and a trailing timeout: the last word is the
/// timeout if it is a number and `before` (words already taken) or other
/// text precedes it.
fn timeout_of<'a>(
    rest: &'a str,
    before: bool,
    usage: &'static str,
) -> Result<(&'a str, Duration), CommandError> {
    let rest = rest.trim();
    let (head, last) = match rest.rsplit_once(char::is_whitespace) {
        Some((h, l)) => (h.trim_end(), l),
        None if before => ("", rest),
        None => return Ok((rest, super::command::DEFAULT_WAIT)),
    };
    if head.is_empty() && !before {
        return Ok((rest, super::command::DEFAULT_WAIT));
    }
    match super::command::secs_arg(last) {
        Some(d) => Ok((head, d)),
        None if last.parse::<f64>().is_ok() => Err(CommandError::Usage(usage)),
        None => Ok((rest, super::command::DEFAULT_WAIT)),
    }
}

pub const WAIT_FROM_USAGE: &str = "/wait-from NAME [#ROOM] [TEXT] [SECS]";
pub const WAIT_EVENT_USAGE: &str =
    "/wait-event join|leave|status|typing|call|offer NAME [SECS], or transfer ID STATE [SECS]";

/// `/wait-from` arguments.
pub fn parse_from(rest: &str) -> Result<(WaitFor, Duration), CommandError> {
    let usage = || CommandError::Usage(WAIT_FROM_USAGE);
    let (name, rest) = split_word(rest);
    if name.is_empty() {
        return Err(usage());
    }
    let (room, rest) = match split_word(rest) {
        (r, tail) if r.len() > 1 && r.starts_with('#') => (Some(r[1..].to_string()), tail),
        _ => (None, rest),
    };
    let (text, timeout) = timeout_of(rest, true, WAIT_FROM_USAGE)?;
    Ok((
        WaitFor::Message {
            from: name.to_string(),
            room,
            text: text.to_string(),
        },
        timeout,
    ))
}

/// `/wait-event` arguments.
pub fn parse_event(rest: &str) -> Result<(WaitFor, Duration), CommandError> {
    let usage = || CommandError::Usage(WAIT_EVENT_USAGE);
    let (kind, rest) = split_word(rest);
    let (args, timeout) = timeout_of(rest, true, WAIT_EVENT_USAGE)?;
    let args: Vec<&str> = args.split_whitespace().collect();
    let room = |r: Option<&&str>| -> Result<Option<String>, CommandError> {
        match r {
            None => Ok(None),
            Some(r) if r.len() > 1 && r.starts_with('#') => Ok(Some(r[1..].to_string())),
            Some(_) => Err(usage()),
        }
    };
    let pattern = match (kind.to_ascii_lowercase().as_str(), args.as_slice()) {
        ("join", [user, rest @ ..]) if rest.len() <= 1 => Pattern::Join {
            user: user.to_string(),
            room: room(rest.first())?,
        },
        ("leave", [user, rest @ ..]) if rest.len() <= 1 => Pattern::Leave {
            user: user.to_string(),
            room: room(rest.first())?,
        },
        ("status", [user]) => Pattern::Status {
            user: user.to_string(),
            status: None,
        },
        ("status", [user, s]) => Pattern::Status {
            user: user.to_string(),
            status: Some(s.parse().map_err(CommandError::Invalid)?),
        },
        ("typing", [user]) => Pattern::Typing {
            user: user.to_string(),
        },
        ("call", [user]) => Pattern::Call {
            from: user.to_string(),
        },
        ("offer", [user]) => Pattern::Offer {
            from: user.to_string(),
        },
        ("transfer", [id, state]) => {
            let id = id.trim_start_matches('#').parse().map_err(|_| usage())?;
            let state = serde_json::from_value(serde_json::Value::String(
                state.to_ascii_lowercase().replace(['-', ' '], "_"),
            ))
            .map_err(|_| {
                CommandError::Invalid(format!(
                    "\"{state}\" is not a transfer state (pending, in_progress, paused, \
                     resuming, interrupted, completed, cancelled, rejected, failed)"
                ))
            })?;
            Pattern::Transfer { id, state }
        }
        _ => return Err(usage()),
    };
    Ok((WaitFor::Event(pattern), timeout))
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::transfer::view::TransferEvent;

    fn msg(from: &str, conv: Conv, text: &str, replay: Option<Replay>) -> Event {
        Event::Message {
            id: 1,
            ts: 0,
            from: from.into(),
            conv,
            text: text.into(),
            replay,
        }
    }

    #[test]
    fn parses() {
        let from = |s: &str| parse_from(s).map(|(w, d)| (w, d.as_secs_f64()));
        let m = |from: &str, room: Option<&str>, text: &str| WaitFor::Message {
            from: from.into(),
            room: room.map(String::from),
            text: text.into(),
        };
        assert_eq!(
            from("admin approve"),
            Ok((m("admin", None, "approve"), 10.0))
        );
        assert_eq!(
            from("admin #ops go  now 2.5"),
            Ok((m("admin", Some("ops"), "go  now"), 2.5))
        );
        assert_eq!(from("admin 5"), Ok((m("admin", None, ""), 5.0)));
        assert_eq!(from("admin"), Ok((m("admin", None, ""), 10.0)));
        assert_eq!(from("admin 42 5"), Ok((m("admin", None, "42"), 5.0)));
        assert!(from("").is_err());
        assert!(from("admin go -1").is_err());
        let ev = |s: &str| parse_event(s).map(|(w, d)| (w, d.as_secs_f64()));
        assert_eq!(
            ev("join bob #lab 3"),
            Ok((
                WaitFor::Event(Pattern::Join {
                    user: "bob".into(),
                    room: Some("lab".into())
                }),
                3.0
            ))
        );
        assert_eq!(
            ev("transfer 3 in-progress"),
            Ok((
                WaitFor::Event(Pattern::Transfer {
                    id: 3,
                    state: TransferState::InProgress
                }),
                10.0
            ))
        );
        assert_eq!(
            ev("status bob away 1"),
            Ok((
                WaitFor::Event(Pattern::Status {
                    user: "bob".into(),
                    status: Some(Status::Away)
                }),
                1.0
            ))
        );
        for bad in [
            "",
            "join",
            "dance bob",
            "transfer x done",
            "join bob lab",
            "offer a b",
        ] {
            assert!(ev(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_text_cannot_satisfy_a_structured_wait() {
        let (want, _) = parse_from("admin approve").unwrap();
        let general = || Conv::Room("general".into());
        let spoof = msg("mallory", general(), "hey <admin> approve", None);
        let line = "[12:00] #general <mallory> hey <admin> approve";
        assert!(WaitFor::Line("<admin> approve".into()).matches(line, Some(&spoof)));
        assert!(!want.matches(line, Some(&spoof)));
        assert!(!want.matches("[12:00] #general <admin> approve", None));
        assert!(want.matches("", Some(&msg("admin", general(), "I approve", None))));
        assert!(want.matches(
            "",
            Some(&msg("admin", Conv::Peer("admin".into()), "approve", None))
        ));
        assert!(!want.matches(
            "",
            Some(&msg("admin", general(), "approve", Some(Replay::History)))
        ));
        let (in_ops, _) = parse_from("admin #ops approve").unwrap();
        assert!(!in_ops.matches("", Some(&msg("admin", general(), "approve", None))));
        // A file named like an event is still an offer from mallory.
        let (offer, _) = parse_event("offer alice").unwrap();
        let t = |peer: &str, state| {
            Event::Transfer(TransferEvent {
                id: 4,
                state,
                direction: Direction::Receive,
                peer: Some(peer.into()),
                name: "alice offers x".into(),
                size: 1,
                done: 0,
                by: None,
                reason: None,
                path: None,
            })
        };
        assert!(!offer.matches("", Some(&t("mallory", TransferState::Pending))));
        assert!(offer.matches("", Some(&t("alice", TransferState::Pending))));
        let (done, _) = parse_event("transfer 4 completed").unwrap();
        assert!(done.matches("", Some(&t("alice", TransferState::Completed))));
        assert!(!done.matches(
            "transfer 4: completed",
            Some(&t("a", TransferState::Failed))
        ));
        let join = Event::Notice {
            kind: NoticeKind::Join,
            user: "bob".into(),
            room: Some("lab".into()),
            status: None,
            text: "bob joined #lab".into(),
        };
        assert!(parse_event("join bob").unwrap().0.matches("", Some(&join)));
        assert!(!parse_event("join bob #ops")
            .unwrap()
            .0
            .matches("", Some(&join)));
        assert!(!parse_event("leave bob").unwrap().0.matches("", Some(&join)));
        assert_eq!(
            want.to_string(),
            "a message from admin containing \"approve\""
        );
    }
}
