//! File names the server accepts for offers and the shared store: the rule
//! shared with the client, [`crate::protocol::filename`] (documented in
//! docs/PROTOCOL.md, "Files"). Nothing is silently rewritten: a bad name is
//! refused with a sentence saying why.

/// Check a file name; the error is a sentence for the user.
pub fn check(name: &str) -> Result<(), String> {
    crate::protocol::filename::check(name).map_err(|e| e.to_string())
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
    fn the_shared_rule_decides() {
        assert_eq!(check("report.pdf"), Ok(()));
        for (n, want) in [
            ("../etc/passwd", "separator"),
            ("..", "\"..\""),
            ("CON.txt", "device name"),
            ("a:b", "Windows refuses"),
            (".hidden", "start with '.'"),
        ] {
            let e = check(n).unwrap_err();
            assert!(e.contains(want), "{n:?}: {e}");
        }
        let max = crate::protocol::filename::MAX_NAME_BYTES;
        assert!(check(&"a".repeat(max)).is_ok());
        assert!(check(&"a".repeat(max + 1))
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn sha() {
        assert!(check_sha256(&"a".repeat(64)).is_ok());
        assert!(check_sha256(&"A".repeat(64)).is_err());
        assert!(check_sha256("abc").is_err());
    }
}
