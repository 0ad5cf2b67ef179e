//! Client strings made safe for the server's log.
//!
//! Anything a client chose (a name, a room, a file name, a failure reason,
//! a `cid`) may hold newlines that forge log lines, terminal escapes that
//! repaint the operator's screen, bidi overrides and invisible characters
//! that make one name read as another, or a megabyte of text. [`clean`] (or
//! the allocation-free [`Safe`]) writes such a string as one bounded line:
//!
//! - `\` becomes `\\`, so every escape below is unambiguous;
//! - `\n`, `\r`, `\t` are written as those two-character escapes;
//! - every other control character (C0, DEL, C1), every bidi control
//!   (U+061C, U+200E/F, U+202A..E, U+2066..9), every invisible or
//!   zero-width character (U+00AD, U+034F, U+115F/60, U+17B4/5, U+180B..F,
//!   U+200B..D, U+2028/9, U+2060..6F, U+3164, U+FE00..0F, U+FEFF, U+FFA0,
//!   the tags and variation selectors U+E0000..E0FFF), every private-use
//!   character and every noncharacter is written as `\u{…}` (its hex code);
//! - past [`MAX_CHARS`] characters of input the rest is cut off and
//!   replaced by `…(+N chars)`.

use std::fmt::{self, Write};

/// Characters of a client string written to the log at most.
pub const MAX_CHARS: usize = 200;

/// Whether `c` is shown as `\u{...}` rather than as itself.
fn hidden(c: char) -> bool {
    let u = c as u32;
    c.is_control()
        || matches!(
            u,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F
                | 0x1160
                | 0x17B4
                | 0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFFB
                | 0xE000..=0xF8FF
                | 0xE0000..=0xE0FFF
                | 0xF0000..=0x10FFFF
        )
        || (u & 0xFFFE) == 0xFFFE
}

/// A client string, displayed escaped and truncated for the log (see the
/// module docs). Costs nothing unless the log line is written.
#[derive(Clone, Copy)]
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_CHARS) {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if hidden(c) => write!(f, "\\u{{{:04x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…(+{rest} chars)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// `s` escaped and truncated for the log, as a `String`.
pub fn clean(s: &str) -> String {
    Safe(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(clean("alice"), "alice");
        assert_eq!(clean("naïve café ✓"), "naïve café ✓");
    }

    #[test]
    fn line_breaks_escapes_and_controls_are_escaped() {
        let forged =
            "oops\n[2026-01-01T00:00:00Z INFO] conn 3: root logged in\r\x1b[2J\t\u{7f}\u{85}";
        let out = clean(forged);
        assert!(!out.chars().any(|c| c.is_control()), "{out}");
        assert_eq!(
            out,
            "oops\\n[2026-01-01T00:00:00Z INFO] conn 3: root logged in\\r\\u{001b}[2J\\t\\u{007f}\\u{0085}"
        );
        assert_eq!(
            clean("a\\nb"),
            "a\\\\nb",
            "a literal backslash stays distinct"
        );
    }

    #[test]
    fn bidi_and_invisible_characters_are_shown() {
        let out = clean("abc\u{202e}txt.exe\u{200b}\u{2066}x\u{feff}\u{2028}\u{e0041}");
        assert_eq!(
            out,
            "abc\\u{202e}txt.exe\\u{200b}\\u{2066}x\\u{feff}\\u{2028}\\u{e0041}"
        );
    }

    #[test]
    fn long_strings_are_cut_with_a_count() {
        let long = "x".repeat(1_000_000);
        let out = clean(&long);
        assert_eq!(out, format!("{}…(+999800 chars)", "x".repeat(MAX_CHARS)));
        assert_eq!(clean(&"y".repeat(MAX_CHARS)), "y".repeat(MAX_CHARS));
        assert_eq!(format!("{:?}", Safe("a\nb")), "\"a\\nb\"");
    }
}
