//! The file-name rule, shared by the server (offers and the shared store) and
//! the client (every name it receives, before it touches the disk).
//!
//! A file name is one path component that every common file system (ext4,
//! APFS, NTFS, FAT) can hold under that very name, and that reads the same
//! on every screen. docs/PROTOCOL.md ("Files") states the rule for users;
//! [`check`] is its only implementation. Refused:
//!
//! - empty, or longer than [`MAX_NAME_BYTES`] bytes of UTF-8, so that the
//!   receiver's temporary `NAME.part` ([`PART_SUFFIX`]) fits the 255-byte
//!   limit of common file systems;
//! - control characters (U+0000-U+001F, U+007F-U+009F);
//! - `/` and `\` (path separators), and `: * ? < > | "` (refused by Windows);
//! - names made only of dots, and `..` anywhere;
//! - names made only of whitespace and invisible characters (zero-width
//!   spaces and joiners, bidi controls, fillers: [`is_invisible`]);
//! - bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) and
//!   line or paragraph separators (U+2028, U+2029) anywhere: they reorder or
//!   break the text a name is shown in (`photo\u{202e}gpj.exe`);
//! - a leading `.` (hidden files), `-` (read as an option) or whitespace, and
//!   a trailing dot or whitespace (Windows drops them);
//! - the Windows device names `CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`,
//!   `LPT1`-`LPT9` (also with a superscript digit), `CONIN$` and `CONOUT$`, in
//!   any case, alone or before an extension (`con.txt`, `Com1.tar.gz`).
//!
//! Nothing is silently rewritten: a bad name is refused with a [`NameError`]
//! whose `Display` is a sentence saying why, showing the name with every
//! invisible or control character escaped (`\u{202e}`).

use std::fmt;

/// The file-system limit on one path component, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// What the receiving client appends while a file arrives (`photo.jpg.part`).
pub const PART_SUFFIX: &str = ".part";
/// Longest accepted file name, in bytes: its `.part` sibling must fit too.
pub const MAX_NAME_BYTES: usize = MAX_COMPONENT - PART_SUFFIX.len();
/// Characters Windows refuses in a name (besides controls and separators).
pub const FORBIDDEN: &[char] = &[':', '*', '?', '<', '>', '|', '"'];

/// Why a file name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong { name: String, bytes: usize },
    Control { name: String, c: char },
    Separator { name: String },
    Forbidden { name: String, c: char },
    OnlyDots { name: String },
    DotDot { name: String },
    Bidi { name: String, c: char },
    Blank { name: String },
    Leading { name: String, c: char },
    Trailing { name: String, c: char },
    Reserved { name: String, device: String },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("file name must not be empty"),
            NameError::TooLong { name, bytes } => write!(
                f,
                "file name \"{}...\" is too long ({bytes} bytes, at most {MAX_NAME_BYTES} so that \
                 NAME{PART_SUFFIX} fits in {MAX_COMPONENT})",
                shown(name)
            ),
            NameError::Control { name, c } => write!(
                f,
                "file name \"{}\" contains the control character {}",
                shown(name),
                escaped(*c)
            ),
            NameError::Separator { name } => write!(
                f,
                "file name \"{}\" contains a path separator; give a plain name without directories",
                shown(name)
            ),
            NameError::Forbidden { name, c } => write!(
                f,
                "file name \"{}\" contains '{c}', which Windows refuses (no : * ? < > | \")",
                shown(name)
            ),
            NameError::OnlyDots { name } => {
                write!(
                    f,
                    "file name \"{}\" is only dots; give a real name",
                    shown(name)
                )
            }
            NameError::DotDot { name } => write!(
                f,
                "file name \"{}\" contains \"..\"; give a plain name without directories",
                shown(name)
            ),
            NameError::Bidi { name, c } => write!(
                f,
                "file name \"{}\" contains {}, which reorders or breaks the text it is shown in",
                shown(name),
                escaped(*c)
            ),
            NameError::Blank { name } => {
                write!(f, "file name \"{}\" has nothing visible in it", shown(name))
            }
            NameError::Leading { name, c } => write!(
                f,
                "file name \"{}\" must not start with '{}'",
                shown(name),
                printable(*c)
            ),
            NameError::Trailing { name, c } => write!(
                f,
                "file name \"{}\" must not end with '{}' (Windows drops it)",
                shown(name),
                printable(*c)
            ),
            NameError::Reserved { name, device } => write!(
                f,
                "file name \"{}\" is the Windows device name {device}; rename the file",
                shown(name)
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Check a file name against the rule (see the module documentation).
pub fn check(name: &str) -> Result<(), NameError> {
    let owned = || name.to_string();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            name: name.chars().take(60).collect(),
            bytes: name.len(),
        });
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(NameError::Control { name: owned(), c });
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator { name: owned() });
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(NameError::Forbidden { name: owned(), c });
    }
    if name.chars().all(|c| c == '.') {
        return Err(NameError::OnlyDots { name: owned() });
    }
    if name.contains("..") {
        return Err(NameError::DotDot { name: owned() });
    }
    if let Some(c) = name.chars().find(|&c| is_bidi(c) || is_line_break(c)) {
        return Err(NameError::Bidi { name: owned(), c });
    }
    if name.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(NameError::Blank { name: owned() });
    }
    let first = name.chars().next().unwrap_or(' ');
    if first == '.' || first == '-' || first.is_whitespace() {
        return Err(NameError::Leading {
            name: owned(),
            c: first,
        });
    }
    let last = name.chars().next_back().unwrap_or(' ');
    if last == '.' || last.is_whitespace() {
        return Err(NameError::Trailing {
            name: owned(),
            c: last,
        });
    }
    if let Some(device) = reserved_device(name) {
        return Err(NameError::Reserved {
            name: owned(),
            device,
        });
    }
    Ok(())
}

/// The Windows device a name stands for, if any: the part before the first
/// dot, trailing spaces dropped, compared without case.
fn reserved_device(name: &str) -> Option<String> {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_uppercase();
    let plain = matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    );
    let numbered = upper.len() >= 4
        && (upper.starts_with("COM") || upper.starts_with("LPT"))
        && matches!(
            &upper[3..],
            "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
        );
    (plain || numbered).then_some(upper)
}

/// Bidi controls: embeddings, overrides, isolates and the directional marks.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Line and paragraph separators (not control characters, yet line breaks).
pub fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{0085}')
}

/// Characters that show nothing: Unicode's default-ignorable code points
/// (zero-width spaces and joiners, bidi controls, soft hyphen, variation
/// selectors, tags, ...), the Hangul fillers and the blank braille pattern.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
        || is_line_break(c)
}

/// A character shown as an escape, `\u{202e}`.
pub fn escaped(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

/// What a name looks like in a message: controls, bidi, invisible and line
/// breaking characters escaped, and at most 60 characters (`...` marks a cut).
pub fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 60 {
            out.push_str("...");
            break;
        }
        out.push_str(&printable(c));
    }
    out
}

fn printable(c: char) -> String {
    if c.is_control() || is_invisible(c) {
        escaped(c)
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        let longest = format!("{}.bin", "a".repeat(MAX_NAME_BYTES - 4));
        for n in [
            "report.pdf",
            "a",
            "Zdjęcie 1.jpg",
            "x-y_z.tar.gz",
            "日本.txt",
            "é.txt",
            "console.log",
            "COM10",
            "LPT0.txt",
            "con-notes.txt",
            "auxiliary",
            "a b",
            "emoji ❤\u{fe0f}.png",
            longest.as_str(),
        ] {
            assert_eq!(check(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn hostile_names() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("../etc/passwd", "separator"),
            ("../x/rel.sh", "separator"),
            ("/etc/passwd", "separator"),
            ("a\\b", "separator"),
            ("C:x", "Windows refuses"),
            ("a*?<>|\"b", "Windows refuses"),
            ("what?", "'?'"),
            (".", "only dots"),
            ("..", "\"..\""),
            ("...", "only dots"),
            ("a..b", "\"..\""),
            ("nul\0x", "control"),
            ("bell\x07", "control"),
            ("esc\x1b[2J", "control"),
            ("c1\u{9b}x", "control"),
            ("\u{200b}", "nothing visible"),
            ("\u{200b}\u{200c}\u{feff}", "nothing visible"),
            ("\u{3164}", "nothing visible"),
            ("\u{2800}\u{2800}", "nothing visible"),
            ("   ", "nothing visible"),
            ("\u{a0}\u{2003}", "nothing visible"),
            ("photo\u{202e}gpj.exe", "\\u{202e}"),
            ("a\u{2066}b", "reorders"),
            ("line\u{2028}break", "\\u{2028}"),
            (".hidden", "start with '.'"),
            ("-rf", "start with '-'"),
            (" lead", "start with ' '"),
            ("trailing.", "end with '.'"),
            ("trailing ", "end with ' '"),
            ("CON", "device name CON"),
            ("con", "device name CON"),
            ("Con.txt", "device name CON"),
            ("nul.tar.gz", "device name NUL"),
            ("aux", "AUX"),
            ("prn.doc", "PRN"),
            ("COM1", "COM1"),
            ("com9.log", "COM9"),
            ("lpt5", "LPT5"),
            ("LPT¹.txt", "LPT¹"),
            ("CON .txt", "CON"),
            ("conin$", "CONIN$"),
            (&long, "too long"),
        ];
        for (n, want) in cases {
            let e = check(n).unwrap_err().to_string();
            assert!(e.contains(want), "{n:?}: {e}");
            // The sentence never carries the raw character it complains about.
            assert!(
                !e.chars()
                    .any(|c| c.is_control() || is_invisible(c) || is_bidi(c)),
                "{n:?}: {e:?}"
            );
        }
    }

    #[test]
    fn the_part_sibling_fits() {
        let name = "é".repeat(MAX_NAME_BYTES / 2);
        assert_eq!(check(&name), Ok(()));
        assert!(name.len() + PART_SUFFIX.len() <= MAX_COMPONENT);
        let over = format!("{name}xx");
        assert!(over.len() + PART_SUFFIX.len() > MAX_COMPONENT);
        assert!(check(&over).unwrap_err().to_string().contains("too long"));
    }

    #[test]
    fn names_are_shown_escaped_and_cut() {
        assert_eq!(shown("a\u{202e}b\x1b"), "a\\u{202e}b\\u{1b}");
        assert_eq!(shown(&"x".repeat(70)), format!("{}...", "x".repeat(60)));
    }
}
