//! The settings file, so that `chat-client` alone connects:
//! `$XDG_CONFIG_HOME/chat/config.toml` (else `~/.config/chat/config.toml`).
//!
//! ```toml
//! name = "alice"          # default: $USER
//! host = "chat.example.org"  # or several: "node1:5555,node2:5555"
//! port = 5555
//! room = "general"
//! tls = true
//! ca = "/etc/chat/cert.pem"
//! download_dir = "~/Downloads/chat"
//! bell = false
//! colours = false
//! ```
//!
//! Every key is optional; command-line flags override the file. A missing
//! file is no error; an unreadable one, or an unknown key, is (a sentence
//! naming the file and what to fix).

use super::Options;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What the file may say.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub room: Option<String>,
    pub tls: Option<bool>,
    pub ca: Option<PathBuf>,
    pub download_dir: Option<PathBuf>,
    pub bell: Option<bool>,
    pub colours: Option<bool>,
}

/// Where the file is: `$XDG_CONFIG_HOME/chat/config.toml`, else under `$HOME/.config`.
pub fn path() -> Option<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let base = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("chat").join("config.toml"))
}

/// `~/x` with the home directory in front.
fn expand(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

impl Config {
    /// Parse the text of a settings file (`shown` names it in errors).
    pub fn parse(text: &str, shown: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| {
            let why = e.message().trim().to_string();
            format!("cannot use the settings in {shown}: {why}; fix or remove that line (keys: name, host, port, room, tls, ca, download_dir, bell, colours)")
        })?;
        if let Some(h) = &c.host {
            // The default port does not matter here, only the form.
            super::servers::parse(h, 1)
                .map_err(|e| format!("cannot use the settings in {shown}: host: {e}"))?;
        }
        Ok(c)
    }

    /// Read the file at [`path`]; no file is an empty configuration.
    pub fn load() -> Result<Config, String> {
        let Some(p) = path() else {
            return Ok(Config::default());
        };
        match std::fs::read_to_string(&p) {
            Ok(text) => Config::parse(&text, &p.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!(
                "cannot read the settings file {}: {e}; fix its permissions or remove it",
                p.display()
            )),
        }
    }

    /// Options from the file (before the command line's flags), the name
    /// defaulting to `$USER`.
    pub fn options(&self) -> Options {
        let user = std::env::var("USER").unwrap_or_default();
        let mut o = Options::new(self.name.as_deref().unwrap_or(&user));
        if let Some(h) = &self.host {
            o.host = h.clone();
        }
        if let Some(p) = self.port {
            o.port = p;
        }
        if let Some(r) = &self.room {
            o.room = r.strip_prefix('#').unwrap_or(r).to_string();
        }
        if let Some(ca) = &self.ca {
            o.ca = Some(expand(ca));
            o.tls = true;
        }
        if let Some(t) = self.tls {
            o.tls = t || o.ca.is_some();
        }
        if let Some(d) = &self.download_dir {
            o.download_dir = expand(d);
        }
        if let Some(b) = self.bell {
            o.bell = b;
        }
        if let Some(c) = self.colours {
            o.colours = c;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_options_and_unknown_keys_are_refused() {
        let c = Config::parse(
            "name = \"alice\"\nhost = \"h\"\nport = 6000\nroom = \"#dev\"\nbell = false\ncolours = false\n",
            "x.toml",
        )
        .unwrap();
        let o = c.options();
        assert_eq!(
            (o.name.as_str(), o.host.as_str(), o.port, o.room.as_str()),
            ("alice", "h", 6000, "dev")
        );
        assert!(!o.bell && !o.colours && !o.tls);
        let e = Config::parse("nmae = \"x\"\n", "/home/a/.config/chat/config.toml").unwrap_err();
        assert!(
            e.starts_with("cannot use the settings in /home/a/.config/chat/config.toml: ")
                && e.contains("nmae"),
            "{e}"
        );
        let tls = Config::parse("ca = \"/c.pem\"\n", "x").unwrap().options();
        assert!(tls.tls && tls.ca.is_some());
    }

    #[test]
    fn host_takes_a_list_of_addresses_and_a_bad_one_is_named() {
        let o = Config::parse("host = \"a:1, b\"\nport = 7\n", "x.toml")
            .unwrap()
            .options();
        let shown: Vec<String> = o.servers().unwrap().iter().map(|a| a.to_string()).collect();
        assert_eq!(shown, ["a:1", "b:7"]);
        let e = Config::parse("host = \"a,b:99999\"\n", "x.toml").unwrap_err();
        assert_eq!(
            e,
            "cannot use the settings in x.toml: host: \"99999\" in server address \"b:99999\" is not a port; a port is a number from 1 to 65535 (HOST:PORT)"
        );
    }
}
