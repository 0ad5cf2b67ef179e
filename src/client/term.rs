//! The terminal's width, asked of the kernel each time lines are printed (a
//! resized window is followed at once; the call costs a system call, not a
//! process), through the `terminal_size` crate. Falls back to `$COLUMNS`,
//! then 80.

/// Width of the terminal on stdout in columns, if stdout is one.
pub fn stdout_columns() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout())
        .map(|(terminal_size::Width(w), _)| usize::from(w))
        .filter(|&w| w > 0)
}

/// Columns to lay lines out in: the terminal's, else `$COLUMNS`, else 80.
pub fn columns() -> usize {
    stdout_columns()
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(80)
}
