//! Byte counts as people type them in options (`512`, `64K`, `500M`, `2G`)
//! and as people read them (`1.2 MiB`).

/// A byte count for people: `512 B`, `1.2 MiB` (powers of 1024, one decimal).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `512`, `64K`, `500M`, `2G`: a byte count with an optional K, M, G or T
/// suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "cannot parse {text:?} as a byte count: unknown suffix {c:?}"
                    ))
                }
            };
            (&t[..t.len() - 1], m)
        }
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("cannot parse {text:?} as a byte count (e.g. 1048576, 512K, 2G)"))
}
