//! `chat-server`: parse the command line, bind, print `listening on HOST:PORT`, run.

use chat::net::{Server, ServerConfig};
use simplelog::{ColorChoice, ConfigBuilder, LevelFilter, TermLogger, TerminalMode};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
usage: chat-server [OPTIONS]

Options:
  --host HOST            address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)
  --port PORT            TCP port (default 5555; 0 picks a free one)
  --data-dir DIR         where server state lives (default ./data)
  --log-level LEVEL      error, warn, info, debug or trace (default info)
  --max-frame BYTES      largest accepted frame (default 1048576)
  --max-outbound BYTES   queued bytes before a client that does not read is
                         disconnected (default 4194304)
  --typing-timeout SECS  typing indicator lifetime without refresh (default 5)
  --ring-timeout SECS    unanswered calls end as missed after this (default 30)
  -h, --help             show this help
";

fn parse() -> Result<(ServerConfig, LevelFilter), lexopt::Error> {
    use lexopt::prelude::*;
    let mut cfg = ServerConfig::default();
    let mut level = LevelFilter::Info;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("host") => cfg.host = p.value()?.string()?,
            Long("port") => cfg.port = p.value()?.parse()?,
            Long("data-dir") => cfg.data_dir = p.value()?.into(),
            Long("log-level") => level = p.value()?.parse()?,
            Long("max-frame") => cfg.max_frame = p.value()?.parse()?,
            Long("max-outbound") => {
                cfg.max_outbound = p.value()?.parse()?;
                cfg.high_watermark = cfg.high_watermark.min(cfg.max_outbound / 2);
            }
            Long("typing-timeout") => cfg.core.typing_timeout_ms = secs_to_ms(p.value()?.parse()?),
            Long("ring-timeout") => cfg.core.ring_timeout_ms = secs_to_ms(p.value()?.parse()?),
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((cfg, level))
}

fn secs_to_ms(s: f64) -> u64 {
    (s.max(0.0) * 1000.0) as u64
}

fn main() -> ExitCode {
    let (cfg, level) = match parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("chat-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let log_cfg = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .build();
    let _ = TermLogger::init(level, log_cfg, TerminalMode::Stderr, ColorChoice::Auto);
    let server = match Server::bind(cfg) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            eprintln!("chat-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", server.local_addr());
    let _ = out.flush();
    log::info!("listening on {}", server.local_addr());
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
