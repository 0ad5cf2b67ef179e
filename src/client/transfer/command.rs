//! The file commands, parsed: `/send bob ~/photo.jpg` and friends.

use crate::client::command::CommandError;
use std::path::PathBuf;

/// One file command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCommand {
    /// Offer the file at `path` to user `to`.
    Send {
        to: String,
        path: PathBuf,
    },
    /// Accept an offer, into `path` (a file, or a directory) or the download directory.
    Accept {
        id: u64,
        path: Option<PathBuf>,
    },
    Reject(u64),
    Pause(u64),
    /// Continue a paused or interrupted transfer; `path` tells a restarted
    /// sender where its file is.
    Resume {
        id: u64,
        path: Option<PathBuf>,
    },
    Cancel(u64),
    /// List every transfer of this session.
    Transfers,
    /// Put a file into the shared store.
    Upload(PathBuf),
    /// List the shared store.
    Files,
    /// Fetch a file of the store.
    Download {
        name: String,
        path: Option<PathBuf>,
    },
}

/// `(name, usage, about, example)` of each file command, for `/help`.
pub const SPECS: &[(&str, &str, &str, &str)] = &[
    (
        "/send",
        "/send NAME PATH",
        "offer a file to someone",
        "/send bob ~/photo.jpg",
    ),
    (
        "/accept",
        "/accept ID [PATH]",
        "accept a file offer (default: into --download-dir)",
        "/accept 3",
    ),
    ("/reject", "/reject ID", "decline a file offer", "/reject 3"),
    (
        "/pause",
        "/pause ID",
        "pause a transfer (either side)",
        "/pause 3",
    ),
    (
        "/resume",
        "/resume ID [PATH]",
        "resume a paused or interrupted transfer",
        "/resume 3",
    ),
    (
        "/cancel",
        "/cancel ID",
        "cancel a transfer (either side)",
        "/cancel 3",
    ),
    (
        "/transfers",
        "/transfers",
        "list transfers with progress, rate and ETA",
        "/transfers",
    ),
    (
        "/upload",
        "/upload PATH",
        "put a file into the shared store",
        "/upload notes.pdf",
    ),
    ("/files", "/files", "list the shared store", "/files"),
    (
        "/download",
        "/download NAME [PATH]",
        "fetch a file from the shared store",
        "/download notes.pdf",
    ),
];

fn usage(name: &str) -> CommandError {
    let u = SPECS.iter().find(|s| s.0 == name).map_or("/help", |s| s.1);
    CommandError::Usage(u)
}

/// Expand a leading `~/` to `$HOME`.
fn path_arg(s: &str) -> PathBuf {
    let s = s.trim();
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(s),
    }
}

fn id_arg(name: &str, s: &str) -> Result<u64, CommandError> {
    s.trim_start_matches('#').parse::<u64>().map_err(|_| {
        CommandError::Invalid(format!(
            "\"{s}\" is not a transfer id; /transfers lists them ({})",
            SPECS.iter().find(|x| x.0 == name).map_or("", |x| x.1)
        ))
    })
}

/// Parse `name` (lower-cased, with `/`) and its argument text, if it is a
/// file command. Paths are the rest of the line, so they may hold spaces.
pub fn parse(name: &str, rest: &str) -> Option<Result<FileCommand, CommandError>> {
    let rest = rest.trim();
    let (first, tail) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let opt_path = |t: &str| (!t.is_empty()).then(|| path_arg(t));
    let r = match name {
        "/send" if !first.is_empty() && !tail.is_empty() => Ok(FileCommand::Send {
            to: first.to_string(),
            path: path_arg(tail),
        }),
        "/accept" | "/resume" if !first.is_empty() => id_arg(name, first).map(|id| {
            if name == "/accept" {
                FileCommand::Accept {
                    id,
                    path: opt_path(tail),
                }
            } else {
                FileCommand::Resume {
                    id,
                    path: opt_path(tail),
                }
            }
        }),
        "/reject" | "/pause" | "/cancel" if !first.is_empty() && tail.is_empty() => {
            id_arg(name, first).map(|id| match name {
                "/reject" => FileCommand::Reject(id),
                "/pause" => FileCommand::Pause(id),
                _ => FileCommand::Cancel(id),
            })
        }
        "/transfers" if rest.is_empty() => Ok(FileCommand::Transfers),
        "/files" if rest.is_empty() => Ok(FileCommand::Files),
        "/upload" if !rest.is_empty() => Ok(FileCommand::Upload(path_arg(rest))),
        "/download" if !first.is_empty() => Ok(FileCommand::Download {
            name: first.to_string(),
            path: opt_path(tail),
        }),
        "/send" | "/accept" | "/resume" | "/reject" | "/pause" | "/cancel" | "/transfers"
        | "/files" | "/upload" | "/download" => Err(usage(name)),
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Option<Result<FileCommand, CommandError>> {
        let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
        parse(name, rest)
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            p("/send bob my file.txt"),
            Some(Ok(FileCommand::Send {
                to: "bob".into(),
                path: "my file.txt".into()
            }))
        );
        assert_eq!(
            p("/accept 3"),
            Some(Ok(FileCommand::Accept { id: 3, path: None }))
        );
        assert_eq!(
            p("/accept #3 /tmp/x"),
            Some(Ok(FileCommand::Accept {
                id: 3,
                path: Some("/tmp/x".into())
            }))
        );
        assert_eq!(p("/reject 4"), Some(Ok(FileCommand::Reject(4))));
        assert_eq!(p("/pause 4"), Some(Ok(FileCommand::Pause(4))));
        assert_eq!(p("/cancel 4"), Some(Ok(FileCommand::Cancel(4))));
        assert_eq!(
            p("/resume 4"),
            Some(Ok(FileCommand::Resume { id: 4, path: None }))
        );
        assert_eq!(p("/transfers"), Some(Ok(FileCommand::Transfers)));
        assert_eq!(p("/files"), Some(Ok(FileCommand::Files)));
        assert_eq!(
            p("/upload a b"),
            Some(Ok(FileCommand::Upload("a b".into())))
        );
        assert_eq!(
            p("/download notes.pdf out/"),
            Some(Ok(FileCommand::Download {
                name: "notes.pdf".into(),
                path: Some("out/".into())
            }))
        );
        assert_eq!(p("/join x"), None);
    }

    #[test]
    fn bad_arguments_give_usage() {
        let e = |l: &str| p(l).unwrap().unwrap_err().to_string();
        assert_eq!(e("/send bob"), "usage: /send NAME PATH");
        assert_eq!(e("/accept"), "usage: /accept ID [PATH]");
        assert_eq!(e("/pause 1 2"), "usage: /pause ID");
        assert!(e("/cancel x").contains("not a transfer id"));
        assert_eq!(e("/files x"), "usage: /files");
    }
}
