//! Wall-clock helpers for display.
//!
//! The server stamps messages in UTC milliseconds. To show local `HH:MM` and
//! day separators the client asks a [`Zone`] for the UTC offset *at each
//! stamp*: the system's time zone through `jiff` (so a daylight-saving change
//! while the client runs, or a stamp from before one, shows the right local
//! time), or a fixed offset (tests). Calendar arithmetic on the local day
//! number is plain civil-calendar code.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where local time comes from.
#[derive(Debug, Clone)]
pub enum Zone {
    /// The system's time zone (`TZ`, else `/etc/localtime`; UTC if neither).
    System(jiff::tz::TimeZone),
    /// A fixed offset in seconds east of UTC.
    Fixed(i64),
}

impl Zone {
    /// The system's time zone.
    pub fn system() -> Zone {
        Zone::System(jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC))
    }

    /// Seconds east of UTC at the UTC millisecond stamp `ts_ms`.
    pub fn offset_at(&self, ts_ms: u64) -> i64 {
        match self {
            Zone::Fixed(s) => *s,
            Zone::System(tz) => {
                let ms = i64::try_from(ts_ms).unwrap_or(i64::MAX);
                jiff::Timestamp::from_millisecond(ms)
                    .map(|t| i64::from(tz.to_offset(t).seconds()))
                    .unwrap_or(0)
            }
        }
    }
}

impl From<i64> for Zone {
    fn from(offset: i64) -> Zone {
        Zone::Fixed(offset)
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Local time of a UTC millisecond stamp, split into (day number, seconds of day).
fn local(ts_ms: u64, offset: i64) -> (i64, i64) {
    let secs = (ts_ms / 1000) as i64 + offset;
    (secs.div_euclid(86_400), secs.rem_euclid(86_400))
}

/// The local day number (days since 1970-01-01) of a UTC millisecond stamp.
pub fn local_day(ts_ms: u64, offset: i64) -> i64 {
    local(ts_ms, offset).0
}

/// Local `HH:MM` of a UTC millisecond stamp.
pub fn hhmm(ts_ms: u64, offset: i64) -> String {
    let (_, s) = local(ts_ms, offset);
    format!("{:02}:{:02}", s / 3600, (s / 60) % 60)
}

/// `Saturday 21 November 2026` for a day number.
pub fn day_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    let wd = WEEKDAYS[(day + 4).rem_euclid(7) as usize];
    let month = MONTHS[(m as usize).saturating_sub(1).min(11)];
    format!("{wd} {d} {month} {y}")
}

/// Year, month (1..=12), day (1..=31) of a day number (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21T23:59:00Z
    const SAT_2359: u64 = 1_795_305_540_000;

    #[test]
    fn zones() {
        assert_eq!(Zone::Fixed(3600).offset_at(SAT_2359), 3600);
        // Central European rules: +1 in winter, +2 in summer, at the stamp's own date.
        let paris = Zone::System(jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap());
        assert_eq!(paris.offset_at(SAT_2359), 3600);
        assert_eq!(paris.offset_at(SAT_2359 - 150 * 86_400_000), 7200);
    }

    #[test]
    fn calendar() {
        assert_eq!(day_name(0), "Thursday 1 January 1970");
        let day = local_day(SAT_2359, 0);
        assert_eq!(day_name(day), "Saturday 21 November 2026");
        assert_eq!(hhmm(SAT_2359, 0), "23:59");
        // One hour east it is already Sunday.
        assert_eq!(hhmm(SAT_2359, 3600), "00:59");
        assert_eq!(
            day_name(local_day(SAT_2359, 3600)),
            "Sunday 22 November 2026"
        );
        assert_eq!(
            day_name(local_day(951_782_400_000, 0)),
            "Tuesday 29 February 2000"
        );
    }
}
