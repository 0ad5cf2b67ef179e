//! `chat-client`: parse arguments, run the client, map the outcome to an exit
//! status (0 ok, 1 connection or login error, 2 usage error or script `/wait`
//! timeout, 101 a panic in any of its threads, reported on stderr).
//! Everything else lives in `chat::client`.

use chat::client::{self, Options};
use std::process::ExitCode;

const USAGE: &str = "\
usage: chat-client [--name NAME] [--host HOST[:PORT][,...]] [--port PORT]
                   [--room ROOM] [--json] [--download-dir DIR] [--auto-accept]
                   [--no-reconnect] [--tls] [--ca FILE]
                   [--password | --password-file FILE] [--no-bell]

  -n, --name NAME   your user name (default: the settings file's, else $USER)
      --host ADDRESS[,ADDRESS...]
                    server address (default 127.0.0.1): HOST, HOST:PORT or
                    [IPv6]:PORT. Several (repeat --host, or separate them
                    with commas; at most 16), for a server run as several
                    nodes: the client starts with the first, moves to the
                    next when one cannot be reached or its connection is
                    lost, and resumes the session there; it backs off only
                    after trying them all
  -p, --port PORT   port of an address that names none (default 5555)
  -r, --room ROOM   room to join at login (default general)
      --json        print events as JSON objects, one per line
      --download-dir DIR
                    where received files go (default ./downloads)
      --auto-accept accept every file offer without asking (for scripts)
      --no-reconnect
                    exit (status 1) when the connection is lost instead of
                    reconnecting with backoff (1 s doubling to 30 s; the
                    CHAT_RECONNECT_BASE_MS environment variable sets the 1 s);
                    the first connection still tries each --host address once
      --tls         connect with TLS, trusting the system's certificates
      --ca FILE     trust the certificate(s) in this PEM file instead (a
                    self-signed server certificate, e.g. certs/cert.pem from
                    `make certs`); implies --tls
      --password    ask for the name's password (no echo) before connecting;
                    a terminal also asks when the server says the name is
                    registered
      --password-file FILE
                    read the password from the first line of FILE (scripts);
                    the CHAT_PASSWORD environment variable works too
      --no-bell     never ring the terminal bell (it rings for a line that
                    names you, a private message, a call, a file offer)
  -h, --help        show this help

Settings: $XDG_CONFIG_HOME/chat/config.toml (else ~/.config/chat/config.toml)
may set name, host (one address or a comma-separated list, as --host),
port, room, tls, ca, download_dir, bell and colours; flags override it.

Interactive when stdin and stdout are terminals (type /help for commands);
otherwise reads one command per line from stdin (scripts: /sleep, /wait, and
/wait-from NAME TEXT or /wait-event KIND NAME, which others' text cannot forge).";

fn parse_args() -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut name = None;
    // The settings file first; flags override it.
    let mut opts = client::config::Config::load()?.options();
    let mut ask = false;
    let mut password_file: Option<std::path::PathBuf> = None;
    let mut hosts: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('n') | Long("name") => name = Some(parser.value()?.string()?),
            Long("host") => hosts.push(parser.value()?.string()?),
            Short('p') | Long("port") => opts.port = parser.value()?.parse()?,
            Short('r') | Long("room") => {
                let room = parser.value()?.string()?;
                opts.room = room.strip_prefix('#').unwrap_or(&room).to_string();
            }
            Long("json") => opts.json = true,
            Long("download-dir") => opts.download_dir = parser.value()?.into(),
            Long("auto-accept") => opts.auto_accept = true,
            Long("no-reconnect") => opts.reconnect = false,
            Long("no-bell") => opts.bell = false,
            Long("tls") => opts.tls = true,
            Long("ca") => {
                opts.ca = Some(parser.value()?.into());
                opts.tls = true;
            }
            Long("password") => ask = true,
            Long("password-file") => password_file = Some(parser.value()?.into()),
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    if let Some(n) = name {
        opts.name = n;
    }
    // --host replaces the settings file's list; several add up.
    if !hosts.is_empty() {
        opts.host = hosts.join(",");
    }
    opts.servers().map_err(|e| format!("bad --host: {e}"))?;
    if opts.name.is_empty() {
        return Err(
            "missing --name NAME (or name = \"...\" in the settings file; $USER is not set)".into(),
        );
    }
    opts.password = password(ask, password_file, &opts.name)?;
    Ok(Some(opts))
}

/// The password from --password-file, CHAT_PASSWORD or (with --password) a
/// prompt without echo; never from the command line itself, where `ps`
/// would show it.
fn password(
    ask: bool,
    file: Option<std::path::PathBuf>,
    name: &str,
) -> Result<Option<chat::protocol::Secret>, lexopt::Error> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read --password-file {}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            return Err(format!("{} is empty", path.display()).into());
        }
        return Ok(Some(chat::protocol::Secret(line)));
    }
    if let Ok(pw) = std::env::var("CHAT_PASSWORD") {
        if !pw.is_empty() {
            return Ok(Some(chat::protocol::Secret(pw)));
        }
    }
    if ask {
        let pw = rpassword::prompt_password(format!("password for {name}: "))
            .map_err(|e| format!("cannot read a password: {e}"))?;
        return Ok(Some(chat::protocol::Secret(pw)));
    }
    Ok(None)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let code = match client::run(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
