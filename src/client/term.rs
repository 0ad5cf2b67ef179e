//! The terminal's width, asked of the kernel each time lines are printed (a
//! resized window is followed at once; the call costs a system call, not a
//! process). Falls back to `$COLUMNS`, then 80.

/// Width of the terminal on stdout in columns, if stdout is one.
pub fn stdout_columns() -> Option<usize> {
    winsize_cols(1)
}

/// Columns to lay lines out in: the terminal's, else `$COLUMNS`, else 80.
pub fn columns() -> usize {
    stdout_columns()
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(80)
}

#[cfg(unix)]
fn winsize_cols(fd: i32) -> Option<usize> {
    #[repr(C)]
    struct Winsize {
        rows: u16,
        cols: u16,
        xpixel: u16,
        ypixel: u16,
    }
    extern "C" {
        fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    }
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(any(
            target_arch = "mips",
            target_arch = "mips64",
            target_arch = "powerpc",
            target_arch = "powerpc64",
            target_arch = "sparc64"
        ))
    ))]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    #[cfg(not(all(
        any(target_os = "linux", target_os = "android"),
        not(any(
            target_arch = "mips",
            target_arch = "mips64",
            target_arch = "powerpc",
            target_arch = "powerpc64",
            target_arch = "sparc64"
        ))
    )))]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x4008_7468;
    let mut ws = Winsize {
        rows: 0,
        cols: 0,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` (four unsigned shorts,
    // laid out as `Winsize`) through the pointer, which points at a live,
    // writable value of that type; on a descriptor that is not a terminal the
    // call fails with ENOTTY and writes nothing.
    let rc = unsafe { ioctl(fd, TIOCGWINSZ, &mut ws as *mut Winsize) };
    (rc == 0 && ws.cols > 0).then_some(usize::from(ws.cols))
}

#[cfg(not(unix))]
fn winsize_cols(_fd: i32) -> Option<usize> {
    None
}
