//! Rules for user names, room names and message text.

/// Longest user or room name, in characters.
pub const MAX_NAME: usize = 32;

/// Check a user or room name: 1..=32 characters of ASCII letters, digits, `_`,
/// `-`, `.`, starting with a letter or digit.
pub fn name(kind: &str, s: &str) -> Result<(), String> {
    name_max(kind, s, MAX_NAME)
}

/// [`name`] with another longest length (the server's `--max-name-chars`,
/// `--max-room-chars`).
pub fn name_max(kind: &str, s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{kind} name must not be empty"));
    }
    if s.chars().count() > max {
        return Err(format!(
            "{kind} name \"{}\" is too long ({} characters, at most {max})",
            s.chars().take(40).collect::<String>(),
            s.chars().count()
        ));
    }
    let first = s.chars().next().unwrap_or('_');
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "{kind} name \"{s}\" must start with a letter or digit"
        ));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{kind} name \"{}\" contains {bad:?}; use letters, digits, '_', '-' or '.'",
            s.escape_debug()
        ));
    }
    Ok(())
}

/// The skeleton of a user name: what it looks like, for telling names
/// apart. Two names with the same skeleton are *confusable*: the server
/// lets only one of them be registered, online or held after a drop.
///
/// The skeleton is the name
/// 1. case-folded (ASCII `A-Z` to `a-z`, as IRC servers do; names are ASCII),
/// 2. with confusable characters mapped to one: `i`, `l` and `1` (and so
///    `I`, `L`) become `l`; `0` (and `O`) becomes `o`,
/// 3. with trailing `.` removed.
///
/// So `bob`, `Bob`, `BOB`, `b0b`, `BoB.` are one name, and so are `bill`,
/// `BILL`, `b1ll` and `biIl`. Names are still kept, shown and stored as
/// they were registered (or typed, for an open name); the skeleton only
/// decides who may take a name.
pub fn skeleton(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            'i' | '1' => 'l',
            '0' => 'o',
            c => c,
        })
        .collect();
    while s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

/// Check message text: not blank, at most `max` characters, no NUL.
pub fn text(s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("message text must not be empty".into());
    }
    let n = s.chars().count();
    if n > max {
        return Err(format!(
            "message is too long ({n} characters, at most {max}); split it"
        ));
    }
    if s.contains('\0') {
        return Err("message text must not contain NUL characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("user", "bob").is_ok());
        assert!(name("user", "b.o-b_2").is_ok());
        assert!(name("user", "").is_err());
        assert!(name("user", "-bob").is_err());
        assert!(name("user", "bo b").is_err());
        assert!(name("user", "../etc").is_err());
        assert!(name("user", &"x".repeat(33)).is_err());
        assert!(name("user", "héllo").is_err());
    }

    #[test]
    fn skeletons_fold_case_confusables_and_trailing_dots() {
        for n in ["bob", "Bob", "BOB", "b0b", "BOb.", "bob..", "B0B"] {
            assert_eq!(skeleton(n), "bob", "{n}");
        }
        for n in ["bill", "BILL", "b1ll", "biIl", "bi1L", "BiLL."] {
            assert_eq!(skeleton(n), "blll", "{n}");
        }
        assert_eq!(skeleton("o0O"), "ooo");
        assert_ne!(skeleton("bob"), skeleton("bobb"));
        assert_ne!(skeleton("b.ob"), skeleton("bob"), "only trailing dots go");
        assert_ne!(skeleton("bob_"), skeleton("bob-"));
        assert_eq!(skeleton("a"), "a");
    }

    #[test]
    fn texts() {
        assert!(text("hi", 10).is_ok());
        assert!(text("   ", 10).is_err());
        assert!(text(&"x".repeat(11), 10).is_err());
        assert!(text("a\0b", 10).is_err());
    }
}
