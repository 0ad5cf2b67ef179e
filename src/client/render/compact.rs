//! The compact layout's pieces (interactive terminal, irssi style): the
//! `#room` / `@peer` place, where a message's text starts (continuation rows
//! hang under it), the time before one-line events, and whether a line
//! mentions you.

use super::Renderer;
use crate::client::clock;
use crate::client::event::{Conv, Event};
use crate::client::text::clean;

impl Renderer {
    /// Whether `text` from `from` mentions you (a whole word, any case).
    pub fn mentions_me(&self, from: &str, text: &str) -> bool {
        let me = self.me.to_lowercase();
        !me.is_empty()
            && !from.eq_ignore_ascii_case(&self.me)
            && text
                .to_lowercase()
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .any(|w| w == me)
    }

    /// Columns before a compact message's text (its time, place and nick):
    /// where its continuation rows are indented to.
    pub fn hang(&self, ev: &Event) -> Option<usize> {
        let Event::Message { from, conv, .. } = ev else {
            return None;
        };
        if !self.style.compact || self.style.json {
            return None;
        }
        let place = crate::client::text::width(&clean(&place(conv)));
        Some(6 + place + 1 + crate::client::text::width(&clean(from)) + 3)
    }

    /// `HH:MM ` now, before the one-line events of the compact layout.
    pub(super) fn stamp(&self) -> String {
        let now = clock::now_ms();
        self.paint(
            "2",
            &format!("{} ", clock::hhmm(now, self.zone.offset_at(now))),
        )
    }
}

/// `#room`, or `@peer` for a private conversation.
pub fn place(conv: &Conv) -> String {
    match conv {
        Conv::Room(r) => format!("#{r}"),
        Conv::Peer(p) => format!("@{p}"),
    }
}
