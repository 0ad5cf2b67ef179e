//! Tab completion of the input line: command names, then per command user
//! names, room names or keywords (pure).

use super::COMMANDS;

/// Tab completion: the byte offset where the replaced word starts and the
/// candidates for it. Completes command names, then per command user names,
/// room names (`#` kept if typed) or keywords; in plain text `#ro` completes a
/// room and any other word a user name.
pub fn complete(
    line: &str,
    pos: usize,
    users: &[String],
    rooms: &[String],
) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let prefixed = |names: &[String], prefix: &str| -> Vec<String> {
        let w = word.strip_prefix(prefix).unwrap_or(word);
        names
            .iter()
            .filter(|n| n.starts_with(w))
            .map(|n| {
                if word.starts_with(prefix) && !prefix.is_empty() {
                    format!("{prefix}{n}")
                } else {
                    n.clone()
                }
            })
            .collect()
    };
    let words = |list: &[&str]| -> Vec<String> {
        list.iter()
            .filter(|k| k.starts_with(word))
            .map(|k| k.to_string())
            .collect()
    };
    let head: Vec<&str> = before[..start].split_whitespace().collect();
    let cands = match head.first() {
        None if word.starts_with('/') && !word.starts_with("//") => COMMANDS
            .iter()
            .map(|s| s.name)
            .chain(crate::client::transfer::command::SPECS.iter().map(|s| s.0))
            .filter(|n| n.starts_with(&word.to_ascii_lowercase()))
            .map(|n| n.to_string())
            .collect(),
        Some(&cmd) if cmd.starts_with('/') && !cmd.starts_with("//") => {
            match (cmd.to_ascii_lowercase().as_str(), head.len()) {
                ("/join" | "/leave" | "/switch", 1) => prefixed(rooms, "#"),
                ("/msg" | "/call" | "/send" | "/query", 1) => prefixed(users, ""),
                ("/history", 1) if word.starts_with('#') => prefixed(rooms, "#"),
                ("/history", 1) if word.starts_with('@') => prefixed(users, "@"),
                ("/call", 2) => words(&["voice", "video"]),
                ("/status", 1) => words(&["online", "busy", "away"]),
                ("/typing", 1) => words(&["on", "off"]),
                ("/msg", _) => plain(word, users, rooms),
                _ => Vec::new(),
            }
        }
        _ => plain(word, users, rooms),
    };
    (start, cands)
}

fn plain(word: &str, users: &[String], rooms: &[String]) -> Vec<String> {
    if let Some(r) = word.strip_prefix('#') {
        rooms
            .iter()
            .filter(|n| n.starts_with(r))
            .map(|n| format!("#{n}"))
            .collect()
    } else if word.is_empty() {
        Vec::new()
    } else {
        users
            .iter()
            .filter(|n| n.starts_with(word))
            .cloned()
            .collect()
    }
}
