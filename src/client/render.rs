//! [`Event`] to display lines, pure (no clock, no terminal queries).
//!
//! Three layouts. *Compact* (interactive terminal, irssi style): one line per
//! message, `12:01 #general <alice> hello` (`@bob` for a private chat), a
//! line naming you highlighted, and a time before joins, leaves and notices;
//! continuation rows hang under the text (see `compact`). *Grouped*:
//! consecutive messages from one sender in one conversation share a header
//! line (`[12:01] alice @ #general:`) followed by indented text. *Flat*
//! (scripts, pipes): exactly one
//! line per event, and every message line names both sender and conversation
//! (`[12:01] #general <alice> hello`) so a script can `/wait` for it. Times
//! are local `HH:MM`; a `--- Saturday 21 November 2026 ---` line marks a change
//! of local date. ANSI colours only when asked for. Every text from the
//! network goes through [`clean`] (controls, bidi and invisible characters
//! shown as escapes), so nobody's text can drive the terminal or reorder a
//! line; in the grouped layout each line of a message is indented, and the
//! terminal front end wraps long lines with indented continuations
//! (`text::wrap`), so others' text never starts a row where the client's own
//! lines start. With `--json` each event is one JSON object per line instead
//! (the same characters escaped as `\u` and four hex digits).
//!
//! This file lays out messages (groups, date separators, replay markers);
//! the other one-line events are in `lines`, transfers in `transfer::view`.

mod compact;
mod lines;

pub use compact::place;

use super::clock;
use super::event::{Conv, Event};
use super::text::{clean, json_line};
use crate::protocol::Replay;

/// How to lay out lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// Group consecutive messages under one header.
    pub grouped: bool,
    /// One line per message, irssi style (`12:01 #general <alice> hello`),
    /// and a time on joins, leaves and notices (interactive terminal).
    pub compact: bool,
    /// One JSON object per event instead of text.
    pub json: bool,
}

/// Turns events into lines; remembers just enough for grouping and dates.
#[derive(Debug)]
pub struct Renderer {
    style: Style,
    /// Local time.
    zone: clock::Zone,
    /// Local day of the last date shown (or of start-up).
    last_day: i64,
    /// Sender and conversation of the message group being continued.
    group: Option<(String, Conv)>,
    /// Your name, to highlight lines that mention you (compact layout).
    me: String,
}

const NAME_COLOURS: [&str; 10] = ["32", "33", "34", "35", "36", "92", "93", "94", "95", "96"];

impl Renderer {
    /// `now_ms` fixes "today", so no separator precedes today's first message.
    pub fn new(style: Style, zone: impl Into<clock::Zone>, now_ms: u64) -> Renderer {
        let zone = zone.into();
        Renderer {
            style,
            last_day: clock::local_day(now_ms, zone.offset_at(now_ms)),
            zone,
            group: None,
            me: String::new(),
        }
    }

    /// The compact (one line per message) layout is on.
    pub fn compact(&self) -> bool {
        self.style.compact && !self.style.json
    }

    /// Lines naming `me` are highlighted (compact layout).
    pub fn set_me(&mut self, me: &str) {
        self.me = me.to_string();
    }

    /// Something else appeared on screen (the user's own input line): the
    /// next message gets a fresh header.
    pub fn break_group(&mut self) {
        self.group = None;
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn name(&self, n: &str) -> String {
        let h = n
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.paint(
            &format!("1;{}", NAME_COLOURS[h % NAME_COLOURS.len()]),
            &clean(n),
        )
    }

    /// The lines for one event (usually one).
    pub fn render(&mut self, ev: &Event) -> Vec<String> {
        if self.style.json {
            let line = serde_json::to_string(ev).unwrap_or_else(|e| {
                format!(r#"{{"event":"error","message":"cannot encode event: {e}"}}"#)
            });
            return vec![json_line(&line)];
        }
        let now = self.zone.offset_at(clock::now_ms());
        if let Some(lines) = super::transfer::view::lines(ev, now) {
            self.group = None;
            return lines.iter().map(|l| clean(l)).collect();
        }
        if let Event::SearchResults { text, hits, more } = ev {
            self.group = None;
            return self.search_lines(text, hits, *more);
        }
        let Event::Message {
            ts,
            from,
            conv,
            text,
            replay,
            ..
        } = ev
        else {
            self.group = None;
            let line = self.line(ev);
            let timed = matches!(
                ev,
                Event::Joined { .. }
                    | Event::Topic { .. }
                    | Event::Left { .. }
                    | Event::Notice { .. }
                    | Event::Connected { .. }
                    | Event::ConnectionLost { .. }
                    | Event::Retrying { .. }
                    | Event::Synced { .. }
                    | Event::Bye { .. }
                    | Event::CallIncoming { .. }
                    | Event::CallEnded { .. }
            );
            if self.style.compact && timed {
                return vec![format!("{}{line}", self.stamp())];
            }
            return vec![line];
        };
        let mut out = Vec::new();
        let offset = self.zone.offset_at(*ts);
        let day = clock::local_day(*ts, offset);
        if day != self.last_day {
            self.last_day = day;
            self.group = None;
            out.push(self.paint("2", &format!("--- {} ---", clock::day_name(day))));
        }
        let time = format!("[{}]", clock::hhmm(*ts, offset));
        // Catch-up and /history messages look like live ones, plus a marker.
        let marker = match replay {
            None => String::new(),
            Some(Replay::Missed) => format!(" {}", self.paint("2", "(missed)")),
            Some(Replay::History) => format!(" {}", self.paint("2", "(history)")),
        };
        if self.style.compact {
            let hhmm = self.paint("2", &clock::hhmm(*ts, offset));
            let place = self.paint("2", &clean(&place(conv)));
            let nick = format!("<{}>", self.name(from));
            let mention = self.mentions_me(from, text);
            let hang = " ".repeat(self.hang(ev).unwrap_or(4));
            // `/me waves` is an action: `* alice waves`.
            let (nick, text) = match text.strip_prefix("/me ") {
                Some(action) => (format!("* {}", self.name(from)), action),
                None => (nick, text.as_str()),
            };
            for (i, l) in text.split('\n').enumerate() {
                let l = clean(l);
                let l = if mention { self.paint("1;7", &l) } else { l };
                out.push(match i {
                    0 => format!("{hhmm} {place} {nick} {l}"),
                    _ => format!("{hang}{l}"),
                });
            }
            if let Some(last) = out.last_mut() {
                last.push_str(&marker);
            }
        } else if self.style.grouped {
            let key = (from.clone(), conv.clone());
            if self.group.as_ref() != Some(&key) {
                let place = match conv {
                    Conv::Room(r) => format!("@ #{}", clean(r)),
                    Conv::Peer(_) => "(private)".to_string(),
                };
                out.push(format!(
                    "{} {} {place}:",
                    self.paint("2", &time),
                    self.name(from)
                ));
                self.group = Some(key);
            }
            out.extend(text.split('\n').map(|l| format!("    {}", clean(l))));
            if let Some(last) = out.last_mut() {
                last.push_str(&marker);
            }
        } else {
            let text = clean(&text.replace('\n', "\\n"));
            let conv = clean(&conv.to_string());
            out.push(format!(
                "{time} {conv} <{}> {text}{marker}",
                self.name(from)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::event::DeliveryState;
    use crate::protocol::{CallEnd, ErrorCode, Media, NoticeKind, RoomInfo};

    // 2026-11-21T12:01:00Z, a Saturday.
    const NOON: u64 = 1_795_262_460_000;
    const DAY_MS: u64 = 86_400_000;
    const FLAT: Style = Style {
        color: false,
        grouped: false,
        compact: false,
        json: false,
    };
    const GROUPED: Style = Style {
        color: false,
        grouped: true,
        compact: false,
        json: false,
    };

    fn msg(id: u64, ts: u64, from: &str, room: &str, text: &str) -> Event {
        Event::Message {
            id,
            ts,
            from: from.into(),
            conv: Conv::Room(room.into()),
            text: text.into(),
            replay: None,
        }
    }

    fn one(r: &mut Renderer, e: Event) -> String {
        let mut v = r.render(&e);
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    #[test]
    fn compact_lines_are_irssi_style_and_mentions_are_found() {
        let style = Style {
            color: false,
            grouped: false,
            compact: true,
            json: false,
        };
        let mut r = Renderer::new(style, 0, NOON);
        r.set_me("alice");
        let m = msg(1, NOON, "bob", "dev", "hi Alice, build is red");
        assert_eq!(
            one(&mut r, m.clone()),
            "12:01 #dev <bob> hi Alice, build is red"
        );
        assert_eq!(r.hang(&m), Some(17));
        assert!(r.mentions_me("bob", "hi Alice, build is red"));
        assert!(!r.mentions_me("bob", "malice aforethought"));
        assert!(!r.mentions_me("alice", "alice talks about herself"));
        let dm = Event::Message {
            id: 2,
            ts: NOON,
            from: "carol".into(),
            conv: Conv::Peer("carol".into()),
            text: "two\nlines".into(),
            replay: None,
        };
        assert_eq!(
            r.render(&dm),
            vec!["12:01 @carol <carol> two", "                     lines"]
        );
        let me = msg(3, NOON, "bob", "dev", "/me waves");
        assert_eq!(one(&mut r, me), "12:01 #dev * bob waves");
    }

    #[test]
    fn flat_lines_name_sender_and_conversation() {
        let mut r = Renderer::new(FLAT, 0, NOON);
        assert_eq!(
            one(&mut r, msg(1, NOON, "alice", "general", "hello")),
            "[12:01] #general <alice> hello"
        );
        assert_eq!(
            one(&mut r, msg(2, NOON, "alice", "general", "a\nb\x1b[2J")),
            "[12:01] #general <alice> a\\nb\\u{1b}[2J"
        );
        let dm = Event::Message {
            id: 3,
            ts: NOON,
            from: "bob".into(),
            conv: Conv::Peer("bob".into()),
            text: "psst".into(),
            replay: None,
        };
        assert_eq!(one(&mut r, dm), "[12:01] private <bob> psst");
    }

    #[test]
    fn grouping_and_day_separator() {
        let mut r = Renderer::new(GROUPED, 3600, NOON);
        assert_eq!(
            r.render(&msg(1, NOON, "alice", "general", "hi")),
            vec!["[13:01] alice @ #general:", "    hi"]
        );
        assert_eq!(
            r.render(&msg(2, NOON, "alice", "general", "there\nfriend")),
            vec!["    there", "    friend"]
        );
        // Another sender, then back: new headers.
        assert_eq!(
            r.render(&msg(3, NOON, "bob", "general", "yo"))[0],
            "[13:01] bob @ #general:"
        );
        assert_eq!(r.render(&msg(4, NOON, "alice", "general", "x")).len(), 2);
        // Any other line, or the user's own input, breaks the group.
        r.render(&Event::Info { text: "i".into() });
        assert_eq!(r.render(&msg(5, NOON, "alice", "general", "y")).len(), 2);
        r.break_group();
        assert_eq!(r.render(&msg(6, NOON, "alice", "general", "z")).len(), 2);
        assert_eq!(r.render(&msg(7, NOON, "alice", "general", "same")).len(), 1);
        // Next day (local): separator, then a fresh header.
        assert_eq!(
            r.render(&msg(8, NOON + DAY_MS, "alice", "general", "later")),
            vec![
                "--- Sunday 22 November 2026 ---",
                "[13:01] alice @ #general:",
                "    later"
            ]
        );
    }

    #[test]
    fn delivery_states() {
        let mut r = Renderer::new(FLAT, 0, NOON);
        let d = |conv: Conv, ids: Vec<u64>, state, recipients, delivered, read| Event::Delivery {
            conv,
            ids,
            state,
            recipients,
            delivered,
            read,
        };
        let room = || Conv::Room("general".into());
        let bob = || Conv::Peer("bob".into());
        assert_eq!(
            one(&mut r, d(room(), vec![12], DeliveryState::Sent, 3, 0, 0)),
            "✓ #12 sent to #general"
        );
        assert_eq!(
            one(
                &mut r,
                d(room(), vec![12, 14], DeliveryState::Delivered, 3, 2, 0)
            ),
            "✓✓ #12, #14 delivered to 2 of 3 in #general"
        );
        assert_eq!(
            one(&mut r, d(room(), vec![12], DeliveryState::Read, 3, 3, 2)),
            "✓✓ #12 read by 2 of 3 in #general"
        );
        assert_eq!(
            one(&mut r, d(room(), vec![1], DeliveryState::Sent, 0, 0, 0)),
            "✓ #1 sent to #general (nobody else is there)"
        );
        assert_eq!(
            one(&mut r, d(bob(), vec![12], DeliveryState::Sent, 1, 0, 0)),
            "✓ #12 sent to bob"
        );
        assert_eq!(
            one(
                &mut r,
                d(bob(), vec![12], DeliveryState::Delivered, 1, 1, 0)
            ),
            "✓✓ #12 delivered to bob"
        );
        assert_eq!(
            one(&mut r, d(bob(), vec![12], DeliveryState::Read, 1, 1, 1)),
            "✓✓ #12 read by bob"
        );
    }

    #[test]
    fn notices_typing_calls_errors() {
        let mut r = Renderer::new(FLAT, 0, NOON);
        let notice = Event::Notice {
            kind: NoticeKind::Join,
            user: "bob".into(),
            room: Some("general".into()),
            status: None,
            text: "bob joined #general".into(),
        };
        assert_eq!(one(&mut r, notice), "* bob joined #general");
        let t = |active| Event::Typing {
            from: "alice".into(),
            conv: Conv::Room("general".into()),
            active,
            expired: false,
        };
        assert_eq!(one(&mut r, t(true)), "alice is typing... (#general)");
        assert_eq!(one(&mut r, t(false)), "alice stopped typing (#general)");
        assert_eq!(
            one(
                &mut r,
                Event::CallIncoming {
                    call: 1,
                    from: "alice".into(),
                    media: Media::Voice
                }
            ),
            "☎ alice is calling you (voice) — /accept-call or /decline-call"
        );
        assert_eq!(
            one(
                &mut r,
                Event::CallEnded {
                    call: 1,
                    peer: "bob".into(),
                    reason: CallEnd::Declined,
                    by: Some("bob".into())
                }
            ),
            "☎ call with bob ended: declined by bob"
        );
        assert_eq!(
            one(
                &mut r,
                Event::Error {
                    code: Some(ErrorCode::UnknownUser),
                    message: "no user \"zed\" is online".into()
                }
            ),
            "error: no user \"zed\" is online"
        );
        assert_eq!(
            one(
                &mut r,
                Event::Joined {
                    room: "general".into(),
                    members: vec!["alice".into(), "bob".into()],
                    created: false
                }
            ),
            "* you joined #general (members: alice, bob)"
        );
        assert_eq!(
            one(
                &mut r,
                Event::Joined {
                    room: "rust".into(),
                    members: vec!["alice".into()],
                    created: true
                }
            ),
            "* you joined #rust (members: alice) [new room]"
        );
        assert_eq!(
            one(
                &mut r,
                Event::RoomList {
                    rooms: vec![RoomInfo {
                        name: "general".into(),
                        members: 2
                    }]
                }
            ),
            "* rooms: #general (2 members)"
        );
        assert_eq!(
            one(
                &mut r,
                Event::Connected {
                    addr: "127.0.0.1:5555".into(),
                    name: "bob".into(),
                    server: "x".into()
                }
            ),
            "connected to 127.0.0.1:5555 as bob"
        );
    }

    #[test]
    fn reconnect_catch_up_and_history_lines() {
        let mut r = Renderer::new(FLAT, 0, NOON);
        let replayed = |replay| Event::Message {
            id: 9,
            ts: NOON,
            from: "bob".into(),
            conv: Conv::Room("general".into()),
            text: "while you were out".into(),
            replay: Some(replay),
        };
        assert_eq!(
            one(&mut r, replayed(Replay::Missed)),
            "[12:01] #general <bob> while you were out (missed)"
        );
        assert_eq!(
            one(&mut r, replayed(Replay::History)),
            "[12:01] #general <bob> while you were out (history)"
        );
        let mut g = Renderer::new(GROUPED, 0, NOON);
        assert_eq!(
            g.render(&replayed(Replay::Missed)),
            vec!["[12:01] bob @ #general:", "    while you were out (missed)"]
        );
        // Connection lost and reconnected lines: see render/lines.rs.
        let end = |conv, count, more| Event::HistoryEnd { conv, count, more };
        let general = || Conv::Room("general".into());
        assert_eq!(
            one(&mut r, end(general(), 20, true)),
            "-- 20 older message(s) of #general; /history for more"
        );
        assert_eq!(
            one(&mut r, end(general(), 0, false)),
            "-- start of #general"
        );
        assert_eq!(
            one(&mut r, end(Conv::Peer("bob".into()), 2, false)),
            "-- 2 older message(s) of your conversation with bob; nothing older"
        );
    }

    #[test]
    fn colour_and_json() {
        let mut r = Renderer::new(
            Style {
                color: true,
                grouped: false,
                compact: false,
                json: false,
            },
            0,
            NOON,
        );
        let line = one(
            &mut r,
            Event::Error {
                code: None,
                message: "x".into(),
            },
        );
        assert_eq!(line, "\x1b[31merror: x\x1b[0m");
        let mut r = Renderer::new(
            Style {
                color: false,
                grouped: true,
                compact: false,
                json: true,
            },
            0,
            NOON,
        );
        assert_eq!(
            one(&mut r, Event::Left { room: "x".into() }),
            r#"{"event":"left","room":"x"}"#
        );
    }

    /// Nothing another user or the server writes starts a line the way the
    /// client's own lines do, and no hidden character reaches the terminal.
    #[test]
    fn others_text_cannot_forge_lines_or_hide_characters() {
        let hostile = "ok\n[12:01] carol @ #general:\n* carol joined #general\r\u{2028}x\u{202e}y\u{200b}\x1b[2J";
        let hidden = |l: &str| l.chars().any(crate::client::text::hidden);
        let mut g = Renderer::new(GROUPED, 0, NOON);
        let lines = g.render(&msg(1, NOON, "mallory", "general", hostile));
        assert_eq!(lines[0], "[12:01] mallory @ #general:");
        for l in &lines[1..] {
            assert!(l.starts_with("    "), "{lines:?}");
            assert!(!hidden(l), "{l:?}");
        }
        assert!(
            lines[3].contains("\\u{d}\\u{2028}x\\u{202e}y\\u{200b}\\u{1b}[2J"),
            "{lines:?}"
        );
        let mut f = Renderer::new(FLAT, 0, NOON);
        let line = one(&mut f, msg(2, NOON, "mallory", "general", hostile));
        assert!(
            line.starts_with("[12:01] #general <mallory> ok\\n[12:01]"),
            "{line}"
        );
        assert!(!hidden(&line), "{line:?}");
        // Names, rooms, file names, reasons and the server's own texts alike.
        let bidi = "a\u{202e}b";
        let events = [
            Event::Error {
                code: Some(ErrorCode::Invalid),
                message: format!("\x1b]0;pwned\x07{bidi}"),
            },
            Event::Bye {
                reason: bidi.into(),
            },
            Event::Notice {
                kind: NoticeKind::Join,
                user: bidi.into(),
                room: Some(bidi.into()),
                status: None,
                text: format!("{bidi} joined"),
            },
            Event::Joined {
                room: bidi.into(),
                members: vec![bidi.into()],
                created: false,
            },
            Event::Typing {
                from: bidi.into(),
                conv: Conv::Room(bidi.into()),
                active: true,
                expired: false,
            },
            Event::Transfer(crate::client::transfer::view::TransferEvent {
                id: 1,
                state: crate::protocol::files::TransferState::Failed,
                direction: crate::client::transfer::view::Direction::Receive,
                peer: Some(bidi.into()),
                name: bidi.into(),
                size: 1,
                done: 0,
                by: None,
                reason: Some(format!("{bidi}\n* fake")),
                path: None,
            }),
        ];
        for e in &events {
            for l in f.render(e) {
                assert!(!hidden(&l), "{e:?}: {l:?}");
                assert!(l.contains("a\\u{202e}b"), "{e:?}: {l:?}");
            }
        }
        let mut j = Renderer::new(
            Style {
                color: false,
                grouped: false,
                compact: false,
                json: true,
            },
            0,
            NOON,
        );
        let line = one(&mut j, msg(3, NOON, "mallory", "general", hostile));
        assert!(!hidden(&line), "{line:?}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["text"], hostile);
    }
}
