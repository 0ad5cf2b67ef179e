//! The one-line events, as text: connection, joins and leaves, delivery
//! ticks, notices, typing, room and user lists, calls, errors and hints,
//! closing and reconnecting, catch-up and history ends; and `/search` hits,
//! one indented line each. Messages (grouped or flat, with date separators)
//! and transfers are laid out by `render`.

use super::{place, Renderer};
use crate::client::clock;
use crate::client::event::{Conv, DeliveryState, Event, Hit};
use crate::client::text::clean;
use crate::protocol::{CallEnd, NoticeKind};

impl Renderer {
    /// The line for an event other than a message or a transfer.
    pub(super) fn line(&self, ev: &Event) -> String {
        let dim = |s: String| self.paint("2", &s);
        match ev {
            Event::Connected { addr, name, .. } => {
                format!("connected to {} as {}", clean(addr), self.name(name))
            }
            Event::Joined {
                room,
                members,
                created,
            } => {
                let new = if *created { " [new room]" } else { "" };
                let members: Vec<String> = members.iter().map(|m| clean(m)).collect();
                dim(format!(
                    "* you joined #{} (members: {}){new}",
                    clean(room),
                    members.join(", ")
                ))
            }
            Event::Left { room } => dim(format!("* you left #{}", clean(room))),
            Event::Switched { room } => dim(format!("* now talking in #{}", clean(room))),
            Event::Message { .. } => String::new(), // handled by `render`
            Event::Delivery {
                conv,
                ids,
                state,
                recipients,
                delivered,
                read,
            } => {
                let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                let ids = ids.join(", ");
                let (tick, code) = match state {
                    DeliveryState::Sent => ("✓", "2"),
                    DeliveryState::Delivered => ("✓✓", "32"),
                    DeliveryState::Read => ("✓✓", "36"),
                };
                let text = match (conv, state) {
                    (Conv::Peer(p), DeliveryState::Sent) => format!("{ids} sent to {}", clean(p)),
                    (Conv::Peer(p), DeliveryState::Delivered) => {
                        format!("{ids} delivered to {}", clean(p))
                    }
                    (Conv::Peer(p), DeliveryState::Read) => format!("{ids} read by {}", clean(p)),
                    (Conv::Room(r), _) if *recipients == 0 => {
                        format!("{ids} sent to #{} (nobody else is there)", clean(r))
                    }
                    (Conv::Room(r), DeliveryState::Sent) => format!("{ids} sent to #{}", clean(r)),
                    (Conv::Room(r), DeliveryState::Delivered) => {
                        format!(
                            "{ids} delivered to {delivered} of {recipients} in #{}",
                            clean(r)
                        )
                    }
                    (Conv::Room(r), DeliveryState::Read) => {
                        format!("{ids} read by {read} of {recipients} in #{}", clean(r))
                    }
                };
                format!("{} {}", self.paint(code, tick), dim(text))
            }
            Event::Notice {
                kind,
                user,
                room,
                status,
                text,
            } => {
                let text = if text.trim().is_empty() {
                    match (kind, room, status) {
                        (NoticeKind::Join, Some(r), _) => format!("{user} joined #{r}"),
                        (NoticeKind::Leave, Some(r), _) => format!("{user} left #{r}"),
                        (NoticeKind::Status, _, Some(s)) => format!("{user} is now {s}"),
                        _ => format!("{user}: {kind:?}"),
                    }
                } else {
                    text.clone()
                };
                dim(format!("* {}", clean(&text)))
            }
            Event::Typing {
                from, conv, active, ..
            } => {
                let what = if *active {
                    "is typing..."
                } else {
                    "stopped typing"
                };
                dim(format!(
                    "{} {what} ({})",
                    clean(from),
                    clean(&conv.to_string())
                ))
            }
            Event::RoomList { rooms } if rooms.is_empty() => dim("* no rooms".into()),
            Event::RoomList { rooms } => {
                let list: Vec<String> = rooms
                    .iter()
                    .map(|r| {
                        let s = if r.members == 1 { "" } else { "s" };
                        format!("#{} ({} member{s})", clean(&r.name), r.members)
                    })
                    .collect();
                format!("* rooms: {}", list.join(", "))
            }
            Event::UserList { users } => {
                let list: Vec<String> = users
                    .iter()
                    .map(|u| {
                        let rooms: Vec<String> =
                            u.rooms.iter().map(|r| format!("#{}", clean(r))).collect();
                        if rooms.is_empty() {
                            format!("{} ({})", self.name(&u.name), u.status)
                        } else {
                            format!("{} ({}; {})", self.name(&u.name), u.status, rooms.join(" "))
                        }
                    })
                    .collect();
                format!("* users online: {}", list.join(", "))
            }
            Event::CallRinging { to, media, .. } => {
                self.paint("33", &format!("☎ calling {} ({media})...", clean(to)))
            }
            Event::CallIncoming { from, media, .. } => self.paint(
                "1;33",
                &format!(
                    "☎ {} is calling you ({media}) — /accept-call or /decline-call",
                    clean(from)
                ),
            ),
            Event::CallAccepted { peer, media, .. } => self.paint(
                "33",
                &format!("☎ call with {} connected ({media})", clean(peer)),
            ),
            Event::CallEnded {
                peer, reason, by, ..
            } => {
                let by = match (reason, by) {
                    (CallEnd::Declined | CallEnd::Hangup, Some(b)) => format!(" by {}", clean(b)),
                    _ => String::new(),
                };
                self.paint(
                    "33",
                    &format!("☎ call with {} ended: {reason}{by}", clean(peer)),
                )
            }
            Event::Error { message, .. } => self.paint("31", &format!("error: {}", clean(message))),
            Event::Hint { text } => self.paint("33", &clean(text)),
            Event::Info { text } => clean(text),
            Event::Bye { reason } => dim(format!(
                "* the server is closing the connection: {}",
                clean(reason)
            )),
            Event::Retrying {
                reason,
                retry_ms,
                next,
            } => self.paint(
                "33",
                &format!("{}; {}", clean(reason), next_try(*retry_ms, next)),
            ),
            Event::ConnectionLost {
                reason,
                retry_ms,
                next,
            } => {
                let why = reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({})", clean(r)));
                let when = match (next, *retry_ms) {
                    (None, ms) => format!(
                        "reconnecting in {:.1}s (/reconnect to try now)",
                        ms as f64 / 1000.0
                    ),
                    (Some(next), 0) => format!("reconnecting to {} now", clean(next)),
                    (Some(next), ms) => format!(
                        "reconnecting to {} in {:.1}s (/reconnect to try now)",
                        clean(next),
                        ms as f64 / 1000.0
                    ),
                };
                self.paint("33", &format!("connection to the server lost{why}; {when}"))
            }
            Event::Synced {
                missed,
                reconnected: true,
                addr,
            } => {
                let to = addr
                    .as_ref()
                    .map(|a| format!(" to {}", clean(a)))
                    .unwrap_or_default();
                self.paint(
                    "33",
                    &format!("reconnected{to}; caught up on {missed} missed message(s)"),
                )
            }
            Event::Synced { missed, .. } => {
                dim(format!("* {missed} message(s) arrived while you were away"))
            }
            // Handled by `render` (several lines).
            Event::SearchResults { .. } => String::new(),
            Event::Topic {
                room, topic, by, ..
            } => match topic.is_empty() {
                true => format!("* {} cleared the topic of #{}", clean(by), clean(room)),
                false => format!(
                    "* topic of #{}: {} (set by {})",
                    clean(room),
                    clean(topic),
                    clean(by)
                ),
            },
            Event::HistoryEnd { conv, count, more } => {
                let of = match conv {
                    Conv::Room(r) => format!("#{}", clean(r)),
                    Conv::Peer(p) => format!("your conversation with {}", clean(p)),
                };
                let text = match (*count, *more) {
                    (n, true) => format!("-- {n} older message(s) of {of}; /history for more"),
                    (0, false) => format!("-- start of {of}"),
                    (n, false) => format!("-- {n} older message(s) of {of}; nothing older"),
                };
                dim(text)
            }
            // Handled by `render` (transfer::view).
            Event::Transfer(_)
            | Event::Progress { .. }
            | Event::TransferList { .. }
            | Event::FileList { .. } => String::new(),
        }
    }
}

impl Renderer {
    /// `/search` hits: a header, one indented line per hit (time, place,
    /// nick, text on one line, escaped), and how to see older ones.
    pub(super) fn search_lines(&self, text: &str, hits: &[Hit], more: bool) -> Vec<String> {
        let dim = |s: String| self.paint("2", &s);
        let mut out = vec![dim(match hits.len() {
            0 => format!("-- search \"{}\": nothing found", clean(text)),
            n => format!("-- search \"{}\": {n} hit(s), newest first", clean(text)),
        })];
        for h in hits {
            let offset = self.zone.offset_at(h.ts);
            let when = format!(
                "{} {}",
                clock::day_name(clock::local_day(h.ts, offset)),
                clock::hhmm(h.ts, offset)
            );
            out.push(format!(
                "   {} {} <{}> {}",
                dim(when),
                dim(clean(&place(&h.conv))),
                self.name(&h.from),
                clean(&h.text.replace('\n', " "))
            ));
        }
        if more {
            out.push(dim("-- older hits: /search again".into()));
        }
        out
    }
}

/// When and where the next try goes: `trying again in 1.0s` (one address),
/// `trying HOST:PORT now` or `trying HOST:PORT in 1.0s` (several).
fn next_try(retry_ms: u64, next: &Option<String>) -> String {
    let secs = retry_ms as f64 / 1000.0;
    match (next, retry_ms) {
        (None, _) => format!("trying again in {secs:.1}s"),
        (Some(n), 0) => format!("trying {} now", clean(n)),
        (Some(n), _) => format!("trying {} in {secs:.1}s", clean(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::render::Style;

    fn line(ev: Event) -> String {
        let style = Style {
            color: false,
            grouped: false,
            compact: false,
            json: false,
        };
        Renderer::new(style, 0, 0).line(&ev)
    }

    #[test]
    fn retry_lines_name_the_next_address_when_there_are_several() {
        let lost = |retry_ms, next: Option<&str>| Event::ConnectionLost {
            reason: None,
            retry_ms,
            next: next.map(String::from),
        };
        assert_eq!(
            line(lost(1500, None)),
            "connection to the server lost; reconnecting in 1.5s (/reconnect to try now)"
        );
        assert_eq!(
            line(lost(0, Some("b:2"))),
            "connection to the server lost; reconnecting to b:2 now"
        );
        assert_eq!(
            line(lost(2000, Some("[::1]:2"))),
            "connection to the server lost; reconnecting to [::1]:2 in 2.0s (/reconnect to try now)"
        );
        let retry = |retry_ms, next: Option<&str>| Event::Retrying {
            reason: "cannot reach the chat server at a:1 (connection refused)".into(),
            retry_ms,
            next: next.map(String::from),
        };
        let reason = "cannot reach the chat server at a:1 (connection refused)";
        assert_eq!(
            line(retry(1000, None)),
            format!("{reason}; trying again in 1.0s")
        );
        assert_eq!(
            line(retry(0, Some("b:2"))),
            format!("{reason}; trying b:2 now")
        );
        assert_eq!(
            line(retry(4000, Some("a:1"))),
            format!("{reason}; trying a:1 in 4.0s")
        );
        let synced = Event::Synced {
            missed: 0,
            reconnected: true,
            addr: Some("b:2".into()),
        };
        assert_eq!(
            line(synced.clone()),
            "reconnected to b:2; caught up on 0 missed message(s)"
        );
        // --json: `next` only with several addresses; `addr` on a reconnect.
        let json = |e: &Event| serde_json::to_string(e).unwrap();
        assert_eq!(
            json(&lost(1500, None)),
            r#"{"event":"connection_lost","retry_ms":1500}"#
        );
        assert_eq!(
            json(&retry(0, Some("b:2"))),
            r#"{"event":"retrying","reason":"cannot reach the chat server at a:1 (connection refused)","retry_ms":0,"next":"b:2"}"#
        );
        assert_eq!(
            json(&synced),
            r#"{"event":"synced","missed":0,"reconnected":true,"addr":"b:2"}"#
        );
    }

    #[test]
    fn a_lost_connection_says_why_and_a_hostile_reason_stays_one_plain_line() {
        let lost = |reason: &str| Event::ConnectionLost {
            reason: Some(reason.into()),
            retry_ms: 1500,
            next: None,
        };
        assert_eq!(
            line(lost("the server closed the connection")),
            "connection to the server lost (the server closed the connection); reconnecting in 1.5s (/reconnect to try now)"
        );
        let shown = line(lost("reset\n\x1b[2Jfake <alice> line"));
        assert!(
            !shown.contains('\n') && !shown.contains('\x1b'),
            "{shown:?}"
        );
        assert_eq!(
            serde_json::to_string(&lost("reset")).unwrap(),
            r#"{"event":"connection_lost","reason":"reset","retry_ms":1500}"#
        );
    }
}
