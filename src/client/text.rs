//! Text from the network made safe to show, pure.
//!
//! Anything another user or the server wrote (messages, names, room and file
//! names, reasons, error texts) goes through [`clean`] before it reaches a
//! terminal: control characters (escape sequences, carriage returns, line
//! feeds), bidi controls (U+202E reverses what follows), zero-width and other
//! invisible characters and line separators (U+2028) are shown as visible
//! escapes (`\u{202e}`), so nobody's text can drive the terminal, reorder a
//! line or hide part of itself. [`json_line`] does the same inside a
//! `--json` line, keeping it valid JSON with the same value.
//!
//! [`wrap`] cuts a line to the terminal width itself and indents every
//! continuation, so text padded to the width can never start a screen row at
//! column 0, where the client's own lines (`[12:01] carol @ #general:`,
//! `* carol joined #general`) begin. Widths are counted conservatively
//! ([`columns`]): a character of unknown width counts as two columns, so the
//! client always breaks a line before the terminal would.

use crate::protocol::filename::{escaped, is_bidi, is_invisible, is_line_break};

/// Whether a character from the network is shown as an escape: controls,
/// bidi controls, line separators and invisible characters (the emoji and
/// text presentation selectors and the braille blank, which are ordinary
/// parts of text, excepted).
pub fn hidden(c: char) -> bool {
    if matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{2800}') {
        return false;
    }
    c.is_control() || is_bidi(c) || is_line_break(c) || is_invisible(c)
}

/// Neutralise text from the network for one display line: a tab becomes a
/// space, every [`hidden`] character its visible escape.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(' '),
            c if hidden(c) => out.push_str(&escaped(c)),
            c => out.push(c),
        }
    }
    out
}

/// A serialised JSON value with every [`hidden`] character written as a
/// `\u` + four hex digits escape (serde_json leaves DEL, C1 controls, bidi controls and
/// U+2028 raw). They can only occur inside strings, so the value is the same.
pub fn json_line(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if hidden(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Columns a character takes, never fewer than a terminal gives it: 1 for
/// the scripts known to be narrow (Latin, Greek, Cyrillic, Armenian, Hebrew,
/// general punctuation, arrows, box drawing), 0 for nothing, 2 for the rest
/// (East Asian wide characters and emoji are 2; overestimating anything else
/// only breaks a line a little early).
pub fn columns(c: char) -> usize {
    match c {
        '\u{20}'..='\u{7E}' => 1,
        '\u{A0}'..='\u{5FF}' => 1,
        '\u{1E00}'..='\u{1FFF}' => 1,
        '\u{2000}'..='\u{2027}' | '\u{202F}'..='\u{205F}' => 1,
        '\u{2070}'..='\u{20CF}' => 1,
        '\u{2190}'..='\u{21FF}' | '\u{2500}'..='\u{259F}' => 1,
        _ => 2,
    }
}

/// Our own SGR sequence (`ESC [ ... m`) starting at byte `i` of `s`: its length.
fn escape_len(s: &str, i: usize) -> Option<usize> {
    let rest = s.get(i..)?;
    let body = rest.strip_prefix("\x1b[")?;
    let end = body.find(|c: char| ('\x40'..='\x7e').contains(&c))?;
    Some(2 + end + 1)
}

/// Columns a rendered line takes (our own escape sequences take none).
pub fn width(line: &str) -> usize {
    let mut cols = 0;
    let mut i = 0;
    while i < line.len() {
        if let Some(n) = escape_len(line, i) {
            i += n;
            continue;
        }
        let Some(c) = line[i..].chars().next() else {
            break;
        };
        cols += columns(c);
        i += c.len_utf8();
    }
    cols
}

/// Narrowest width [`wrap`] lays out for (a narrower terminal wraps by itself).
pub const MIN_WIDTH: usize = 20;

/// Cut a rendered line into rows of at most `width` columns. Continuation
/// rows are indented (the line's own indentation plus two, at least four
/// spaces), and break at the last space when there is one.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    wrap_under(line, width, None)
}

/// [`wrap`], with continuation rows indented by `hang` columns when given
/// (under a message's text, past its time and nick), at least four and at
/// most half the width.
pub fn wrap_under(line: &str, width: usize, hang: Option<usize>) -> Vec<String> {
    let width = width.max(MIN_WIDTH);
    if self::width(line) <= width {
        return vec![line.to_string()];
    }
    let lead = line.chars().take_while(|&c| c == ' ').count();
    let indent = hang.unwrap_or(lead + 2).max(4).min(width / 2);
    let pad = " ".repeat(indent);
    let mut rows = Vec::new();
    let mut cur = String::new();
    let mut cols = 0;
    // Byte index in `cur` just after its last breakable space, and the columns there.
    let mut space: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < line.len() {
        if let Some(n) = escape_len(line, i) {
            cur.push_str(&line[i..i + n]);
            i += n;
            continue;
        }
        let Some(c) = line[i..].chars().next() else {
            break;
        };
        i += c.len_utf8();
        let w = columns(c);
        while cols + w > width {
            match space.take() {
                Some((at, at_cols)) if at < cur.len() => {
                    let rest = cur.split_off(at);
                    rows.push(std::mem::replace(&mut cur, format!("{pad}{rest}")));
                    cols = indent + (cols - at_cols);
                }
                _ => {
                    rows.push(std::mem::replace(&mut cur, pad.clone()));
                    cols = indent;
                }
            }
        }
        cur.push(c);
        cols += w;
        if c == ' ' && cols > indent.max(lead) {
            space = Some((cur.len(), cols));
        }
    }
    rows.push(cur);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rows_hang_under_the_text() {
        let line = "12:01 #dev <bob> the build is red again and nobody knows why yet";
        let rows = wrap_under(line, 40, Some(17));
        assert_eq!(
            rows,
            vec![
                "12:01 #dev <bob> the build is red again ",
                "                 and nobody knows why ",
                "                 yet",
            ]
        );
    }

    #[test]
    fn hidden_characters_are_shown_as_escapes() {
        assert_eq!(clean("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(
            clean("zero\u{200b}width\u{200d}"),
            "zero\\u{200b}width\\u{200d}"
        );
        assert_eq!(clean("line\u{2028}sep"), "line\\u{2028}sep");
        assert_eq!(
            clean("\x1b[2J\r\n\x07\u{9b}"),
            "\\u{1b}[2J\\u{d}\\u{a}\\u{7}\\u{9b}"
        );
        assert_eq!(clean("tab\there"), "tab here");
        assert_eq!(clean("héllo 日本 ❤\u{fe0f}"), "héllo 日本 ❤\u{fe0f}");
    }

    #[test]
    fn json_lines_stay_valid_and_equal() {
        let v = serde_json::json!({"text": "a\u{202e}b\u{2028}c\u{7f}\u{85}\u{e0041}"});
        let raw = serde_json::to_string(&v).unwrap();
        let safe = json_line(&raw);
        assert!(!safe.chars().any(hidden), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }

    #[test]
    fn wrapped_rows_fit_and_continuations_are_indented() {
        let fake = "[12:01] carol @ #general:";
        for w in [20, 37, 80, 100] {
            for pad in 0..w {
                let line = format!("    {}{fake} hi", "x".repeat(pad));
                let rows = wrap(&line, w);
                for (k, r) in rows.iter().enumerate() {
                    assert!(width(r) <= w, "{w} {pad}: {r:?}");
                    if k > 0 {
                        assert!(r.starts_with("      "), "{w} {pad}: {r:?}");
                    }
                }
                let joined: String = rows.iter().map(|r| r.trim_start()).collect();
                assert!(joined.contains("carol"), "{rows:?}");
            }
        }
        // Wide characters count double; a lone long word is cut hard.
        let rows = wrap(&format!("* {}", "日".repeat(30)), 20);
        assert!(rows.iter().all(|r| width(r) <= 20), "{rows:?}");
        assert!(rows[1..].iter().all(|r| r.starts_with("    ")), "{rows:?}");
        // Words break at spaces.
        assert_eq!(
            wrap("* alpha beta gamma delta epsilon", 20),
            ["* alpha beta gamma ", "    delta epsilon"]
        );
        // Our colours take no columns and survive the cut.
        let painted = format!("\x1b[2m* {}\x1b[0m", "y".repeat(30));
        let rows = wrap(&painted, 20);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].starts_with("\x1b[2m") && rows[1].ends_with("\x1b[0m"));
        assert_eq!(wrap("short", 80), ["short"]);
    }
}
