//! What the client shows about transfers, pure: the event payloads (also the
//! `--json` schema) and their lines. Every line starts with `transfer ID:`
//! and names the file and the peer, so a script can `/wait` for it.

use crate::protocol::files::{FileInfo, TransferState};
use serde::Serialize;

/// Which way the bytes go, seen from this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Send,
    Receive,
}

/// A transfer changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferEvent {
    pub id: u64,
    pub state: TransferState,
    pub direction: Direction,
    /// The other user; absent for the shared store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub name: String,
    pub size: u64,
    /// Bytes sent or received and written so far.
    pub done: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where a received file was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One transfer in `/transfers` or a progress line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferRow {
    pub id: u64,
    pub direction: Direction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub name: String,
    pub state: TransferState,
    pub done: u64,
    pub size: u64,
    /// Bytes per second over the last interval.
    pub rate: f64,
    /// Seconds left at that rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<u64>,
}

pub use crate::size::human as size;

fn percent(done: u64, size: u64) -> u64 {
    if size == 0 {
        100
    } else {
        (done.min(size) as u128 * 100 / size as u128) as u64
    }
}

fn eta(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `photo.jpg to bob`, `photo.jpg from the store`.
fn what(name: &str, dir: Direction, peer: &Option<String>) -> String {
    let peer = peer.as_deref().unwrap_or("the store");
    match dir {
        Direction::Send => format!("{name} to {peer}"),
        Direction::Receive => format!("{name} from {peer}"),
    }
}

/// The line for a state change.
pub fn event_line(e: &TransferEvent) -> String {
    let id = e.id;
    let what = what(&e.name, e.direction, &e.peer);
    let by =
        e.by.as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
    match (e.state, e.direction) {
        (TransferState::Pending, Direction::Receive) if e.peer.is_some() => format!(
            "transfer {id}: {} offers {} ({}); /accept {id} or /reject {id}",
            e.peer.as_deref().unwrap_or_default(),
            e.name,
            size(e.size)
        ),
        (TransferState::Pending, Direction::Send) => format!(
            "transfer {id}: {what}: pending ({}), waiting for {} to accept",
            size(e.size),
            e.peer.as_deref().unwrap_or("the server")
        ),
        (TransferState::InProgress, _) if e.done > 0 => {
            format!("transfer {id}: {what}: in progress from {}", size(e.done))
        }
        (TransferState::Completed, Direction::Receive) => format!(
            "transfer {id}: {what}: completed ({}, SHA-256 verified), saved as {}",
            size(e.size),
            e.path.as_deref().unwrap_or("?")
        ),
        (TransferState::Completed, Direction::Send) => {
            format!("transfer {id}: {what}: completed ({})", size(e.size))
        }
        (TransferState::Failed, _) => format!(
            "transfer {id}: {what}: failed: {}",
            e.reason.as_deref().unwrap_or("no reason given")
        ),
        // The server's reason says what to do (a new session of the
        // other end's open name waits for this side's /resume).
        (TransferState::Interrupted, _) if e.reason.is_some() => format!(
            "transfer {id}: {what}: interrupted at {} of {}: {}",
            size(e.done),
            size(e.size),
            e.reason.as_deref().unwrap_or_default()
        ),
        (TransferState::Interrupted, _) => format!(
            "transfer {id}: {what}: interrupted at {} of {}{}; /resume {id} once both are back",
            size(e.done),
            size(e.size),
            e.by.as_deref()
                .map(|b| format!(" ({b} left)"))
                .unwrap_or_default()
        ),
        (state, _) => format!("transfer {id}: {what}: {state}{by}"),
    }
}

/// One row of progress.
pub fn row_text(r: &TransferRow) -> String {
    let mut s = format!(
        "transfer {}: {} {}% ({} of {}",
        r.id,
        what(&r.name, r.direction, &r.peer),
        percent(r.done, r.size),
        size(r.done),
        size(r.size)
    );
    if r.state == TransferState::InProgress {
        if r.rate >= 1.0 {
            s.push_str(&format!(", {}/s", size(r.rate as u64)));
        }
        if let Some(e) = r.eta {
            s.push_str(&format!(", ETA {}", eta(e)));
        }
    } else {
        s.push_str(&format!(", {}", r.state));
    }
    s.push(')');
    s
}

/// `s` cut to `w` columns, ending in `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The `/transfers` table, its columns as wide as their contents and the
/// file and peer names cut (`…`) so a row fits in `width` columns.
pub fn table(rows: &[TransferRow], width: usize) -> Vec<String> {
    if rows.is_empty() {
        return vec!["* no transfers".to_string()];
    }
    let header = [
        "id",
        "dir",
        "peer",
        "file",
        "state",
        "done/total",
        "%",
        "rate",
        "ETA",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let rate = if r.state == TransferState::InProgress {
                format!("{}/s", size(r.rate as u64))
            } else {
                "-".into()
            };
            [
                r.id.to_string(),
                match r.direction {
                    Direction::Send => "send",
                    Direction::Receive => "receive",
                }
                .to_string(),
                r.peer.clone().unwrap_or_else(|| "(store)".into()),
                r.name.clone(),
                r.state.to_string(),
                format!("{}/{}", size(r.done), size(r.size)),
                format!("{}%", percent(r.done, r.size)),
                rate,
                r.eta.map(eta).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut w: Vec<usize> = (0..9)
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Two spaces between columns; shrink the file name, then the peer.
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * (w.len() - 1);
    for (col, min) in [(3, 8), (2, 6)] {
        let over = total(&w).saturating_sub(width);
        w[col] = w[col].saturating_sub(over).max(min.min(w[col]));
    }
    let line = |row: [&str; 9]| {
        let mut out = String::new();
        for (c, cell) in row.iter().enumerate() {
            let cell = cut(cell, w[c]);
            // Numbers right-aligned, words left-aligned.
            let right = matches!(c, 0 | 5 | 6 | 7 | 8);
            if c > 0 {
                out.push_str("  ");
            }
            match right {
                true => out.push_str(&format!("{cell:>0$}", w[c])),
                false => out.push_str(&format!("{cell:<0$}", w[c])),
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(header)];
    for r in &cells {
        out.push(line([
            &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8],
        ]));
    }
    out
}

/// The lines for a transfer event; `None` for other events.
pub fn lines(ev: &crate::client::event::Event, offset: i64) -> Option<Vec<String>> {
    use crate::client::event::Event;
    Some(match ev {
        Event::Transfer(e) => vec![event_line(e)],
        Event::Progress { transfers } => {
            let rows: Vec<String> = transfers.iter().map(row_text).collect();
            vec![format!("~ {}", rows.join(" | "))]
        }
        Event::TransferList { transfers } => {
            table(transfers, crate::client::term::columns().saturating_sub(1))
        }
        Event::FileList { files: list } => files(
            list,
            offset,
            crate::client::term::columns().saturating_sub(1),
        ),
        _ => return None,
    })
}

/// The `/files` list: names and sizes in aligned columns, a long name cut
/// (`…`) so each row fits in `width` columns.
pub fn files(list: &[FileInfo], offset: i64, width: usize) -> Vec<String> {
    if list.is_empty() {
        return vec!["* the shared store is empty; /upload PATH adds a file".to_string()];
    }
    let when = |f: &FileInfo| {
        let day = crate::client::clock::local_day(f.ts, offset);
        format!(
            "uploaded by {} on {} {}",
            f.uploader,
            crate::client::clock::day_name(day),
            crate::client::clock::hhmm(f.ts, offset)
        )
    };
    let size_w = list.iter().map(|f| size(f.size).len()).max().unwrap_or(0);
    let rest_w = list
        .iter()
        .map(|f| when(f).chars().count())
        .max()
        .unwrap_or(0);
    let name_w = list
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0);
    // Two spaces of indent and two between columns.
    let room = width.saturating_sub(2 + 2 + size_w + 2 + rest_w).max(12);
    let name_w = name_w.min(room);
    let mut out = vec![format!("* shared files ({}):", list.len())];
    for f in list {
        out.push(format!(
            "  {:<name_w$}  {:>size_w$}  {}",
            cut(&f.name, name_w),
            size(f.size),
            when(f)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_lines() {
        assert_eq!(size(10), "10 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        let e = TransferEvent {
            id: 3,
            state: TransferState::Pending,
            direction: Direction::Receive,
            peer: Some("bob".into()),
            name: "a.jpg".into(),
            size: 2048,
            done: 0,
            by: None,
            reason: None,
            path: None,
        };
        assert_eq!(
            event_line(&e),
            "transfer 3: bob offers a.jpg (2.0 KiB); /accept 3 or /reject 3"
        );
        let row = TransferRow {
            id: 3,
            direction: Direction::Send,
            peer: None,
            name: "a.jpg".into(),
            state: TransferState::InProgress,
            done: 1024,
            size: 2048,
            rate: 512.0,
            eta: Some(2),
        };
        assert_eq!(
            row_text(&row),
            "transfer 3: a.jpg to the store 50% (1.0 KiB of 2.0 KiB, 512 B/s, ETA 2s)"
        );
        let t = table(std::slice::from_ref(&row), 100);
        assert_eq!(
            t,
            vec![
                "id  dir   peer     file   state             done/total    %     rate  ETA",
                " 3  send  (store)  a.jpg  in progress  1.0 KiB/2.0 KiB  50%  512 B/s   2s",
            ]
        );
        // A long name is cut so the row fits.
        let long = TransferRow {
            name: "a-very-long-file-name-that-goes-on-and-on-and-on.tar.gz".into(),
            ..row
        };
        let t = table(&[long], 80);
        assert!(t.iter().all(|l| l.chars().count() <= 80), "{t:#?}");
        assert!(t[1].contains('…'), "{t:#?}");
    }
}
