//! File names the server accepts for offers and the shared store.
//!
//! A name is one path component that is safe on any disk: 1 to 255 bytes of
//! UTF-8, no `/` or `\`, no NUL or other control characters, not `.` or `..`,
//! not starting with `.` (hidden files; the store keeps its own files there)
//! or `-`, and no trailing space or dot. Nothing is silently rewritten: a bad
//! name is refused with a sentence saying why.

/// Longest accepted file name, in bytes (the usual file-system limit).
pub const MAX_FILE_NAME: usize = 255;

/// Check a file name; the error is a sentence for the user.
pub fn check(name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(60).collect::<String>();
    let shown = shown.escape_debug();
    if name.is_empty() {
        return Err("file name must not be empty".into());
    }
    if name.len() > MAX_FILE_NAME {
        return Err(format!(
            "file name \"{shown}...\" is too long ({} bytes, at most {MAX_FILE_NAME})",
            name.len()
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(format!(
            "file name \"{shown}\" contains a path separator; give a plain name without directories"
        ));
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err(format!(
            "file name \"{shown}\" contains \"..\"; give a plain name without directories"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "file name \"{shown}\" contains the control character {:?}",
            c
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(format!(
            "file name \"{shown}\" must not start with '.' or '-'"
        ));
    }
    if name.ends_with(' ') || name.ends_with('.') || name.starts_with(' ') {
        return Err(format!(
            "file name \"{shown}\" must not start or end with a space, or end with '.'"
        ));
    }
    Ok(())
}

/// Check a lower-case hex SHA-256.
pub fn check_sha256(s: &str) -> Result<(), String> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err("sha256 must be 64 lower-case hex digits".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for n in [
            "report.pdf",
            "a",
            "Zdjęcie 1.jpg",
            "x-y_z.tar.gz",
            "日本.txt",
        ] {
            assert_eq!(check(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn hostile_names() {
        let long = "a".repeat(256);
        let cases: [(&str, &str); 11] = [
            ("", "empty"),
            ("../etc/passwd", "separator"),
            ("/etc/passwd", "separator"),
            ("a\\b", "separator"),
            ("..", "\"..\""),
            ("a..b", "\"..\""),
            ("nul\0x", "control"),
            ("bell\x07", "control"),
            (".hidden", "start with '.'"),
            ("trailing.", "end with"),
            (&long, "too long"),
        ];
        for (n, want) in cases {
            let e = check(n).unwrap_err();
            assert!(e.contains(want), "{n:?}: {e}");
        }
    }

    #[test]
    fn sha() {
        assert!(check_sha256(&"a".repeat(64)).is_ok());
        assert!(check_sha256(&"A".repeat(64)).is_err());
        assert!(check_sha256("abc").is_err());
    }
}
