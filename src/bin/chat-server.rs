//! `chat-server`: parse the command line, bind, print `listening on HOST:PORT`, run.

use chat::net::{Server, ServerConfig};
use lexopt::ValueExt;
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
  --grace SECS           how long a dropped user's name is kept for their
                         reconnect (default 30)
  --max-file-size BYTES  largest file that may be sent or uploaded
                         (default 1099511627776; suffixes K, M, G, T allowed)
  --store-quota BYTES    most bytes the shared file store under DATA_DIR/files
                         may hold (default 10G)
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
            Long("grace") => cfg.core.grace_ms = secs_to_ms(p.value()?.parse()?),
            Long("max-file-size") => cfg.files.limits.max_file_size = bytes(&mut p)?,
            Long("store-quota") => cfg.files.store_quota = bytes(&mut p)?,
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

/// A byte count with an optional K, M, G or T suffix (powers of 1024).
fn bytes(p: &mut lexopt::Parser) -> Result<u64, lexopt::Error> {
    let text = p.value()?.string()?;
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "cannot parse \"{text}\" as a byte count: unknown suffix {c:?}"
                    )
                    .into())
                }
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            format!("cannot parse \"{text}\" as a byte count (e.g. 1048576, 512K, 2G)").into()
        })
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
