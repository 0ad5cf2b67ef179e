//! Every number a client sends must be below 2^53, the largest range in which
//! JavaScript (and any JSON reader that maps numbers to IEEE doubles) holds
//! every integer exactly. The server never sends a number at or past it: its
//! own ids, timestamps, sizes and offsets stay far below, and the one number
//! it echoes (`ping.seq` in `pong`) is checked here first.

use super::message::ClientMsg;

/// 2^53: the first integer a double cannot tell from its neighbour.
pub const JS_SAFE_LIMIT: u64 = 1 << 53;

/// A number field at or past [`JS_SAFE_LIMIT`]: its name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooBig {
    pub field: &'static str,
    pub value: u64,
}

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is {}, but numbers must be below 2^53 ({JS_SAFE_LIMIT}), \
             the largest a JSON reader using doubles holds exactly",
            self.field, self.value
        )
    }
}

fn check(field: &'static str, v: Option<u64>) -> Result<(), TooBig> {
    match v {
        Some(value) if value >= JS_SAFE_LIMIT => Err(TooBig { field, value }),
        _ => Ok(()),
    }
}

impl ClientMsg {
    /// The first number field at or past 2^53, if any.
    pub fn check_numbers(&self) -> Result<(), TooBig> {
        use ClientMsg as M;
        match self {
            M::Ping { seq } => check("seq", *seq),
            M::Hello { resume, .. } => check("resume.since", resume.as_ref().and_then(|r| r.since)),
            M::Receipt { up_to, .. } => check("up_to", Some(*up_to)),
            M::History { before, .. } | M::Search { before, .. } => check("before", *before),
            M::CallAccept { call } | M::CallDecline { call } | M::Hangup { call } => {
                check("call", Some(*call))
            }
            M::FileOffer { size, .. } | M::Upload { size, .. } => check("size", Some(*size)),
            M::FileAccept { id, offset, .. } | M::FileChunk { id, offset, .. } => {
                check("id", Some(*id))?;
                check("offset", Some(*offset))
            }
            M::FileCredit { id, bytes } => {
                check("id", Some(*id))?;
                check("bytes", Some(*bytes))
            }
            M::FileReject { id }
            | M::FilePause { id }
            | M::FileResume { id }
            | M::FileCancel { id }
            | M::FileDone { id }
            | M::FileFailed { id, .. } => check("id", Some(*id)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_below_two_to_the_53_pass_and_the_rest_name_their_field() {
        let ok = ClientMsg::Ping {
            seq: Some(JS_SAFE_LIMIT - 1),
        };
        assert_eq!(ok.check_numbers(), Ok(()));
        let big = ClientMsg::FileCredit {
            id: 3,
            bytes: JS_SAFE_LIMIT,
        };
        let e = big.check_numbers().unwrap_err();
        assert_eq!(e.field, "bytes");
        assert!(e.to_string().contains("below 2^53"), "{e}");
        let since = ClientMsg::Hello {
            version: 1,
            name: "a".into(),
            room: None,
            status: None,
            resume: Some(crate::protocol::Resume {
                session: None,
                rooms: vec![],
                since: Some(u64::MAX),
            }),
            password: None,
        };
        assert_eq!(since.check_numbers().unwrap_err().field, "resume.since");
    }
}
