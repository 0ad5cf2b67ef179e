//! A password on the wire: a plain string in JSON, but never shown by
//! `Debug` (so a frame logged with `{:?}` cannot leak it).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A password as sent in `hello` and `change_password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_json_carries_it() {
        let s = Secret::new("hunter22");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter22\"");
        let back: Secret = serde_json::from_str("\"hunter22\"").unwrap();
        assert_eq!(back.expose(), "hunter22");
    }
}
