//! The live status row above the input line: who is typing in the current
//! target, the activity in other conversations (`Act: #general(3) @bob(1!)`,
//! `!` when a message names you or is private), your newest message's
//! state, transfers moving, and the connection when it is down (pure).

use crate::client::render::place;
use crate::client::state::ClientState;
use crate::client::text::clean;

/// The status row for this state; `last_own` is the newest own message's
/// state (`delivered 2/3`), `transfers` how many of yours are running.
pub fn status(s: &ClientState, last_own: Option<&str>, transfers: usize) -> String {
    let mut parts = Vec::new();
    if !s.logged_in() {
        parts.push("[disconnected: reconnecting]".to_string());
    }
    if let Some(t) = s.target() {
        let typing = s.typing_in(&t);
        match typing.len() {
            0 => {}
            1 => parts.push(format!("[{} is typing]", clean(&typing[0]))),
            n => parts.push(format!("[{n} are typing]")),
        }
    }
    let act: Vec<String> = s
        .activity()
        .iter()
        .map(|(c, (n, hot))| {
            let mark = if *hot { "!" } else { "" };
            format!("{}({n}{mark})", clean(&place(c)))
        })
        .collect();
    if !act.is_empty() {
        parts.push(format!("[Act: {}]", act.join(" ")));
    }
    if let Some(own) = last_own {
        parts.push(format!("[last: {own}]"));
    }
    if transfers > 0 {
        parts.push(format!("[{transfers} transfer(s): /transfers]"));
    }
    parts.join(" ")
}

/// `s` cut to `cols` columns.
pub fn fit(s: &str, cols: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > cols {
            break;
        }
        w += cw;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_width() {
        assert_eq!(fit("abcdef", 4), "abcd");
        assert_eq!(fit("ab", 4), "ab");
    }
}
