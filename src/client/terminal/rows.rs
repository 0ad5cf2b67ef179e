//! The rows of the prompt and input line, laid out as rustyline lays them
//! out, so that resizing the window cannot erase messages or leave a stale
//! prompt (pure).
//!
//! A terminal that re-wraps its contents on resize (tmux, most modern ones)
//! joins rows the terminal itself wrapped when widening and splits rows when
//! narrowing, while rustyline clears the rows it believes it drew. So:
//! - [`hard_rows`]: the input line is written with explicit line breaks where
//!   rustyline expects it to wrap; those rows are never joined, so widening
//!   never makes rustyline clear rows above the prompt (messages).
//! - [`Drawn::extra_rows`]: after narrowing, how many more rows the old prompt
//!   takes than rustyline thinks; the next redraw first moves up that many
//!   and clears below, so no stale copy of the prompt stays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use unicode_width::UnicodeWidthChar;

/// What the prompt looks like on screen, as the prompt's helper saw it.
///
/// One case is left: a line printed in the moment between the terminal
/// re-wrapping its rows and the client hearing of the new size (tmux
/// re-wraps first) can still leave one stale row above it.
#[derive(Debug, Default)]
pub struct Screen {
    /// Columns of the prompt of the current `readline`.
    prompt_cols: AtomicUsize,
    /// What the last redraw drew.
    drawn: Mutex<Option<Drawn>>,
    /// Rows the terminal added to the prompt by re-wrapping it after the
    /// window narrowed, not cleared yet.
    extra_rows: AtomicUsize,
    /// Width of the status row above the input row, if the prompt has one.
    status: Mutex<Option<usize>>,
}

impl Screen {
    fn drawn(&self) -> MutexGuard<'_, Option<Drawn>> {
        self.drawn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new prompt of `cols` columns on its last row, nothing typed yet;
    /// `status`: it has a status row above (of unknown width yet).
    pub fn new_prompt(&self, cols: usize, status: bool) {
        self.prompt_cols.store(cols, Ordering::Relaxed);
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status.then_some(0);
        *self.drawn() = None;
    }

    /// The status row drawn now is `cols` wide.
    pub fn status_drawn(&self, cols: usize) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_some() {
            *s = Some(cols);
        }
    }

    fn status_cols(&self) -> Option<usize> {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The window is `cols` wide now: if it narrowed since the last redraw,
    /// note the rows the terminal added to the prompt.
    fn resized(&self, cols: usize) {
        let mut drawn = self.drawn();
        if let Some(d) = drawn.as_mut().filter(|d| d.cols != cols) {
            self.extra_rows
                .fetch_max(d.extra_rows(cols), Ordering::Relaxed);
            *d = Drawn::new(None, 0, "", 0, cols);
        }
    }

    /// `line` is on screen after the prompt, with the cursor at `pos`, in a
    /// window `cols` wide; returns the prompt's columns.
    pub fn drawn_line(&self, line: &str, pos: usize, cols: usize) -> usize {
        self.resized(cols);
        let start = self.prompt_cols.load(Ordering::Relaxed);
        let status = self.status_cols();
        *self.drawn() = Some(Drawn::new(status, start, line, pos, cols));
        start
    }

    /// What to write before redrawing the prompt in a window `cols` wide: up over the rows the terminal added, clearing them.
    pub fn clear_extra(&self, cols: usize) -> String {
        self.resized(cols);
        match self.extra_rows.swap(0, Ordering::Relaxed) {
            0 => String::new(),
            n => format!("\x1b[{n}A\r\x1b[J"),
        }
    }
}

/// Columns a character of the input line takes (control characters none).
fn char_cols(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// `text`, written from column `start` of a `cols`-wide terminal, with
/// `\r\n` inserted wherever the next character no longer fits on the row
/// (as rustyline's layout wraps: a character that would pass the last
/// column goes to the next row).
pub fn hard_rows(text: &str, start: usize, cols: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut col = start;
    for c in text.chars() {
        let w = char_cols(c);
        if cols > 0 && col + w > cols {
            out.push_str("\r\n");
            col = 0;
        }
        col += w;
        out.push(c);
    }
    out
}

/// What the last redraw put on screen: enough to know where the terminal's
/// re-wrapping moved the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    /// Terminal width then.
    pub cols: usize,
    /// Width of each row drawn (prompt and line, hard rows).
    pub rows: Vec<usize>,
    /// Cursor: row and column in those rows.
    pub cursor: (usize, usize),
}

impl Drawn {
    /// The rows and cursor of `prompt_cols` of prompt then `line` (cursor
    /// at byte `pos`) drawn in `cols` columns.
    /// `status`: the width of a status row above the prompt's last row.
    pub fn new(
        status: Option<usize>,
        prompt_cols: usize,
        line: &str,
        pos: usize,
        cols: usize,
    ) -> Drawn {
        let mut rows: Vec<usize> = status.into_iter().collect();
        let mut col = prompt_cols;
        let mut cursor = (rows.len(), prompt_cols);
        for (i, c) in line.char_indices() {
            if i == pos {
                cursor = (rows.len(), col);
            }
            let w = char_cols(c);
            if cols > 0 && col + w > cols {
                rows.push(col);
                col = 0;
                if i == pos {
                    cursor = (rows.len(), 0);
                }
            }
            col += w;
        }
        if pos >= line.len() {
            cursor = (rows.len(), col);
        }
        rows.push(col);
        Drawn { cols, rows, cursor }
    }

    /// Rows the cursor moved down when the terminal re-wrapped these rows to
    /// `cols` columns (each row longer than `cols` becomes several).
    pub fn extra_rows(&self, cols: usize) -> usize {
        if cols == 0 || cols >= self.cols {
            return 0; // hard rows are never joined; nothing grew
        }
        let (row, col) = self.cursor;
        let above: usize = self.rows[..row.min(self.rows.len())]
            .iter()
            .map(|&w| w.div_ceil(cols).max(1))
            .sum();
        let real = above + col / cols;
        real.saturating_sub(row)
    }
}

/// Rows that `prompt_cols` of prompt then `line` take once submitted in a
/// window `cols` wide (a last row filled to the edge pushes the cursor to
/// one more).
pub fn rows_of(status: bool, prompt_cols: usize, line: &str, cols: usize) -> usize {
    let d = Drawn::new(status.then_some(0), prompt_cols, line, line.len(), cols);
    let full = d.rows.last().is_some_and(|&w| w >= cols && cols > 0);
    d.rows.len() + usize::from(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_where_the_row_is_full() {
        assert_eq!(hard_rows("abcdef", 2, 4), "ab\r\ncdef");
        assert_eq!(hard_rows("abcdefgh", 0, 4), "abcd\r\nefgh");
        assert_eq!(hard_rows("ab", 0, 4), "ab");
        // A wide character that does not fit goes to the next row whole.
        assert_eq!(hard_rows("ab\u{4e2d}", 1, 4), "ab\r\n\u{4e2d}");
    }

    #[test]
    fn rows_and_cursor() {
        let d = Drawn::new(None, 10, &"x".repeat(100), 100, 60);
        assert_eq!(d.rows, vec![60, 50]);
        assert_eq!(d.cursor, (1, 50));
        let d = Drawn::new(None, 10, "abc", 1, 60);
        assert_eq!((d.rows.clone(), d.cursor), (vec![13], (0, 11)));
    }

    #[test]
    fn narrowing_moves_the_cursor_down_by_the_extra_rows() {
        // 110 columns on one row of 120, narrowed to 60: two rows, cursor on the second.
        let d = Drawn::new(None, 10, &"x".repeat(100), 100, 120);
        assert_eq!(d.extra_rows(60), 1);
        // Rows of 60 and 50 narrowed to 40: 2 + 2 rows, the cursor (column 50) on the fourth.
        let d = Drawn::new(None, 10, &"x".repeat(100), 100, 60);
        assert_eq!(d.extra_rows(40), 2);
        // Widening, or a short line: nothing.
        assert_eq!(d.extra_rows(120), 0);
        assert_eq!(Drawn::new(None, 10, "hi", 2, 120).extra_rows(60), 0);
        // A status row of 90 above a short line, narrowed to 60: one more row.
        let d = Drawn::new(Some(90), 6, "hi", 2, 100);
        assert_eq!((d.rows.clone(), d.cursor), (vec![90, 8], (1, 8)));
        assert_eq!(d.extra_rows(60), 1);
    }
}
