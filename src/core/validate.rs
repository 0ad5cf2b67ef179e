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
    fn texts() {
        assert!(text("hi", 10).is_ok());
        assert!(text("   ", 10).is_err());
        assert!(text(&"x".repeat(11), 10).is_err());
        assert!(text("a\0b", 10).is_err());
    }
}
