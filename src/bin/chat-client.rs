//! `chat-client`: parse arguments, run the client, map the outcome to an exit
//! status (0 ok, 1 connection or login error, 2 usage error or script `/wait`
//! timeout). Everything else lives in `chat::client`.

use chat::client::{self, Options};
use std::process::ExitCode;

const USAGE: &str = "\
usage: chat-client --name NAME [--host HOST] [--port PORT] [--room ROOM] [--json]
                   [--download-dir DIR] [--auto-accept] [--no-reconnect]

  -n, --name NAME   your user name (required)
      --host HOST   server address (default 127.0.0.1)
  -p, --port PORT   server port (default 5555)
  -r, --room ROOM   room to join at login (default general)
      --json        print events as JSON objects, one per line
      --download-dir DIR
                    where received files go (default ./downloads)
      --auto-accept accept every file offer without asking (for scripts)
      --no-reconnect
                    exit (status 1) when the connection is lost instead of
                    reconnecting with backoff (1 s doubling to 30 s; the
                    CHAT_RECONNECT_BASE_MS environment variable sets the 1 s)
  -h, --help        show this help

Interactive when stdin and stdout are terminals (type /help for commands);
otherwise reads one command per line from stdin (scripts: /sleep, /wait).";

fn parse_args() -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut name = None;
    let mut opts = Options::new("");
    while let Some(arg) = parser.next()? {
        match arg {
            Short('n') | Long("name") => name = Some(parser.value()?.string()?),
            Long("host") => opts.host = parser.value()?.string()?,
            Short('p') | Long("port") => opts.port = parser.value()?.parse()?,
            Short('r') | Long("room") => {
                let room = parser.value()?.string()?;
                opts.room = room.strip_prefix('#').unwrap_or(&room).to_string();
            }
            Long("json") => opts.json = true,
            Long("download-dir") => opts.download_dir = parser.value()?.into(),
            Long("auto-accept") => opts.auto_accept = true,
            Long("no-reconnect") => opts.reconnect = false,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    opts.name = name.ok_or("missing --name NAME")?;
    Ok(Some(opts))
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
