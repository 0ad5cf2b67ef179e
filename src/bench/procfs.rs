//! What /proc says about a process: CPU seconds (utime + stime) and memory
//! (VmRSS, VmHWM). `None` as the pid means this process.

use std::io;

/// Clock ticks per second of the utime/stime fields in /proc/PID/stat.
/// Linux fixes this user-visible unit (USER_HZ) at 100 on every mainstream
/// architecture, whatever the kernel's internal HZ.
pub const CLK_TCK: f64 = 100.0;

fn path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// `(utime, stime)` in clock ticks from the text of /proc/PID/stat.
///
/// The second field (the command name) is in parentheses and may itself hold
/// spaces or parentheses, so fields are counted from the last `)`.
pub fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // After ')': field 3 (state) is index 0, so utime (field 14) is index 11.
    let utime = f.nth(11)?.parse().ok()?;
    let stime = f.next()?.parse().ok()?;
    Some((utime, stime))
}

/// User + system CPU seconds used so far by `pid` (all its threads).
pub fn cpu_seconds(pid: Option<u32>) -> io::Result<f64> {
    let text = std::fs::read_to_string(path(pid, "stat"))?;
    let (u, s) = parse_stat_times(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat"))?;
    Ok((u + s) as f64 / CLK_TCK)
}

/// The value in kB of a `Key:   123 kB` line of /proc/PID/status.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_ascii_whitespace().next()?.parse().ok()
    })
}

fn status_kb(pid: Option<u32>, key: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(path(pid, "status"))?;
    parse_status_kb(&text, key).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no {key} in {}", path(pid, "status")),
        )
    })
}

/// Resident memory now, in bytes.
pub fn rss_bytes(pid: Option<u32>) -> io::Result<u64> {
    status_kb(pid, "VmRSS").map(|k| k * 1024)
}

/// Peak resident memory since the process started (or since
/// [`reset_peak_rss`]), in bytes.
pub fn peak_rss_bytes(pid: Option<u32>) -> io::Result<u64> {
    status_kb(pid, "VmHWM").map(|k| k * 1024)
}

/// Reset the peak RSS (VmHWM) of `pid` to its current RSS (Linux 4.0+,
/// needs permission to write /proc/PID/clear_refs).
pub fn reset_peak_rss(pid: Option<u32>) -> io::Result<()> {
    std::fs::write(path(pid, "clear_refs"), "5")
}

/// CPU and memory readings of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub cpu_s: f64,
    pub rss: u64,
    pub peak_rss: u64,
}

/// Read a [`Sample`]; missing figures (process gone, no /proc) read as 0.
pub fn sample(pid: Option<u32>) -> Sample {
    Sample {
        cpu_s: cpu_seconds(pid).unwrap_or(0.0),
        rss: rss_bytes(pid).unwrap_or(0),
        peak_rss: peak_rss_bytes(pid).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let s = "1234 (chat (x) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 99 1000 10 0";
        assert_eq!(parse_stat_times(s), Some((250, 37)));
    }

    #[test]
    fn status_lines() {
        let s = "Name:\tchat-server\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(10240));
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(8192));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn self_readings() {
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(rss_bytes(None).unwrap() > 0);
        assert!(peak_rss_bytes(None).unwrap() >= rss_bytes(None).unwrap() / 2);
    }
}
