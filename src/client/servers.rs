//! The servers a client may connect to, and the order it tries them in
//! (pure: no sockets, no clock).
//!
//! `--host` (repeatable) and the settings file's `host` take a
//! comma-separated list of addresses, each `HOST`, `HOST:PORT` or
//! `[IPv6]:PORT` (a bare IPv6 address, `::1`, works too); one without a port
//! gets `--port`. [`parse`] turns the list into [`ServerAddr`]s (at most
//! [`MAX_SERVERS`]), or a sentence saying what is wrong and how to write it.
//!
//! [`Rotation`] is the order of tries when the server runs as several nodes:
//! start with the address that last worked; a failed try, or a lost
//! connection, moves on to the next address; only once a whole round has
//! failed does the caller back off before the next try.

use std::fmt;
use std::net::Ipv6Addr;

/// The most addresses one client takes.
pub const MAX_SERVERS: usize = 16;

/// How to write an address, for error sentences.
const FORMS: &str = "write each address as HOST, HOST:PORT or [IPv6]:PORT, separated by commas";

/// One server address: a host name or IP address (IPv6 without brackets)
/// and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ServerAddr {
    /// `host:port`, or `[v6]:port` for an IPv6 address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// The addresses in `list` (comma-separated), those without a port on
/// `default_port`.
pub fn parse(list: &str, default_port: u16) -> Result<Vec<ServerAddr>, String> {
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.len() > MAX_SERVERS {
        return Err(format!(
            "{} server addresses given, but at most {MAX_SERVERS} are allowed; list fewer",
            items.len()
        ));
    }
    items
        .into_iter()
        .map(|item| parse_one(item, list, default_port))
        .collect()
}

/// One address; `list` is the whole list, for the error sentence.
fn parse_one(item: &str, list: &str, default_port: u16) -> Result<ServerAddr, String> {
    if item.is_empty() {
        return Err(match list.trim().is_empty() {
            true => format!("no server address given; {FORMS}"),
            false => format!("an empty server address in \"{list}\"; {FORMS}"),
        });
    }
    if item.chars().any(char::is_whitespace) {
        return Err(format!(
            "server address \"{item}\" contains a space; {FORMS}"
        ));
    }
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(format!(
                "server address \"{item}\" has no closing \"]\"; write an IPv6 address as [ADDRESS]:PORT"
            ));
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "\"{inside}\" in server address \"{item}\" is not an IPv6 address; brackets are only for IPv6 ([::1]:5555)"
            ));
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => {
                    return Err(format!(
                        "server address \"{item}\" has \"{after}\" after \"]\"; write it as [ADDRESS]:PORT"
                    ))
                }
            },
        };
        (inside, port)
    } else if item.matches(':').count() > 1 {
        // Several colons: a bare IPv6 address, without a port.
        if item.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "server address \"{item}\" is neither HOST:PORT nor an IPv6 address; write an IPv6 address with a port as [ADDRESS]:PORT"
            ));
        }
        (item, None)
    } else {
        match item.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (item, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "server address \"{item}\" has no host before the port; {FORMS}"
        ));
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "\"{p}\" in server address \"{item}\" is not a port; a port is a number from 1 to 65535 (HOST:PORT)"
                ))
            }
        },
    };
    Ok(ServerAddr {
        host: host.to_string(),
        port,
    })
}

/// Which address to try next: the one that last worked, then the others in
/// turn. Counts the failures since the last login to tell when a whole
/// round has failed.
#[derive(Debug, Clone)]
pub struct Rotation {
    addrs: Vec<ServerAddr>,
    at: usize,
    /// Failed tries (or lost connections) since the last login.
    failed: usize,
}

impl Rotation {
    /// `addrs` must not be empty ([`parse`] never returns an empty list).
    pub fn new(addrs: Vec<ServerAddr>) -> Rotation {
        assert!(!addrs.is_empty(), "a rotation needs an address");
        Rotation {
            addrs,
            at: 0,
            failed: 0,
        }
    }

    /// The address to try now.
    pub fn current(&self) -> &ServerAddr {
        &self.addrs[self.at]
    }

    /// More than one address (lines then say which one is tried next).
    pub fn several(&self) -> bool {
        self.addrs.len() > 1
    }

    /// The current address failed, or its connection was lost: move to the
    /// next. True when every address has now failed once more since the
    /// last login (a whole round): time to back off.
    pub fn failed(&mut self) -> bool {
        self.at = (self.at + 1) % self.addrs.len();
        self.failed += 1;
        self.failed.is_multiple_of(self.addrs.len())
    }

    /// Logged in at the current address: it is the one to start with next
    /// time, and the next failure starts a new round.
    pub fn worked(&mut self) {
        self.failed = 0;
    }

    /// The next address, for a line saying where the next try goes (only
    /// with several addresses).
    pub fn next_shown(&self) -> Option<String> {
        self.several().then(|| self.current().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16) -> ServerAddr {
        ServerAddr {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn every_form_parses_and_a_missing_port_is_the_default() {
        assert_eq!(parse("127.0.0.1", 5555), Ok(vec![addr("127.0.0.1", 5555)]));
        assert_eq!(
            parse("chat.lan:6000", 5555),
            Ok(vec![addr("chat.lan", 6000)])
        );
        assert_eq!(parse("[::1]:7000", 5555), Ok(vec![addr("::1", 7000)]));
        assert_eq!(parse("[::1]", 5555), Ok(vec![addr("::1", 5555)]));
        assert_eq!(parse("::1", 4000), Ok(vec![addr("::1", 4000)]));
        assert_eq!(
            parse("a:1, b ,[fe80::1]:3", 9),
            Ok(vec![addr("a", 1), addr("b", 9), addr("fe80::1", 3)])
        );
        let sixteen = vec!["h"; MAX_SERVERS].join(",");
        assert_eq!(parse(&sixteen, 1).map(|v| v.len()), Ok(MAX_SERVERS));
    }

    #[test]
    fn shown_as_written_with_brackets_for_ipv6() {
        assert_eq!(addr("127.0.0.1", 5555).to_string(), "127.0.0.1:5555");
        assert_eq!(addr("::1", 5555).to_string(), "[::1]:5555");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong_and_how_to_write_them() {
        let err = |list: &str| parse(list, 5555).unwrap_err();
        assert_eq!(
            err(""),
            "no server address given; write each address as HOST, HOST:PORT or [IPv6]:PORT, separated by commas"
        );
        assert_eq!(
            err("a,,b"),
            "an empty server address in \"a,,b\"; write each address as HOST, HOST:PORT or [IPv6]:PORT, separated by commas"
        );
        assert!(err("a,").starts_with("an empty server address in \"a,\""));
        assert_eq!(
            err("host:notaport"),
            "\"notaport\" in server address \"host:notaport\" is not a port; a port is a number from 1 to 65535 (HOST:PORT)"
        );
        assert_eq!(
            err("host:99999"),
            "\"99999\" in server address \"host:99999\" is not a port; a port is a number from 1 to 65535 (HOST:PORT)"
        );
        assert!(err("host:0").starts_with("\"0\" in server address \"host:0\" is not a port"));
        assert!(err("host:").starts_with("\"\" in server address \"host:\" is not a port"));
        assert!(err(":5555").contains("has no host before the port"));
        assert!(err("a b").contains("contains a space"));
        assert!(err("[::1:5555").contains("has no closing \"]\""));
        assert!(err("[chat.lan]:5555").contains("brackets are only for IPv6"));
        assert!(err("[::1]5555").contains("write it as [ADDRESS]:PORT"));
        assert!(err("a:b:c").contains("neither HOST:PORT nor an IPv6 address"));
        let seventeen = vec!["h"; MAX_SERVERS + 1].join(",");
        assert_eq!(
            parse(&seventeen, 1).unwrap_err(),
            "17 server addresses given, but at most 16 are allowed; list fewer"
        );
    }

    #[test]
    fn a_rotation_moves_on_and_backs_off_once_per_round() {
        let mut r = Rotation::new(vec![addr("a", 1), addr("b", 2), addr("c", 3)]);
        assert_eq!(r.current(), &addr("a", 1));
        // a and b fail: move on without a pause; c failing ends the round.
        assert!(!r.failed());
        assert_eq!(r.next_shown().as_deref(), Some("b:2"));
        assert!(!r.failed());
        assert!(r.failed());
        assert_eq!(r.current(), &addr("a", 1));
        // b works; losing it goes to c at once, and the round now ends at b.
        assert!(!r.failed());
        r.worked();
        assert_eq!(r.current(), &addr("b", 2));
        assert!(!r.failed());
        assert_eq!(r.current(), &addr("c", 3));
        assert!(!r.failed());
        assert!(r.failed());
        assert_eq!(r.current(), &addr("b", 2));
    }

    #[test]
    fn one_address_backs_off_after_every_failure() {
        let mut r = Rotation::new(vec![addr("a", 1)]);
        assert!(r.failed());
        assert!(r.failed());
        r.worked();
        assert!(r.failed());
        assert_eq!(r.next_shown(), None);
        assert_eq!(r.current(), &addr("a", 1));
    }
}
