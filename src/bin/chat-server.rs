//! `chat-server`: parse the command line, bind, print `listening on HOST:PORT`, run.

use chat::net::{Server, ServerConfig};
use lexopt::ValueExt;
use simplelog::{ColorChoice, ConfigBuilder, LevelFilter, TermLogger, TerminalMode};
use std::io::IsTerminal;
use std::io::Write;
use std::process::ExitCode;

/// jemalloc (see Cargo.toml): small allocations are the loop's most frequent work.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: blocks of 512 KiB and more come
/// from its dedicated arena for large blocks, which gives their pages back
/// to the system as soon as they are freed, instead of keeping them for
/// reuse for 10 s as its other arenas do. Among them are the tables that
/// hold something for every connection, each growth of which frees the one
/// it doubled (bench/PROFILE.md §4 has what that saves). Frames and file
/// chunks (64 KiB) stay below it. At 256 KiB, fan-out to 1,000 members took
/// 3 to 7 times the minor page faults of the default (8 MiB); at 512 KiB
/// about as many as the default.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 26] = b"oversize_threshold:524288\0";

const USAGE: &str = "\
usage: chat-server [OPTIONS]

Options:
  --host HOST            address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)
  --port PORT            TCP port (default 5555; 0 picks a free one)
  --data-dir DIR         where server state lives (default ./data)
  --log-level LEVEL      error, warn, info, debug or trace (default info)
  --max-frame BYTES      largest accepted client frame (default 131072; at
                         most 16777215)
  --max-outbound BYTES   queued bytes past which a client that reads nothing
                         for 2 s, or lets twice this wait, is disconnected
                         (default 4194304)
  --frame-timeout SECS   a frame still incomplete after this long closes the
                         connection (default 30; 0: never)
  --typing-timeout SECS  typing indicator lifetime without refresh (default 5)
  --ring-timeout SECS    unanswered calls end as missed after this (default 30)
  --grace SECS           how long a dropped user's name is kept for their
                         reconnect (default 30)
  --max-file-size BYTES  largest file that may be sent or uploaded
                         (default 1099511627776; suffixes K, M, G, T allowed)
  --store-quota BYTES    most bytes the shared file store under DATA_DIR/files
                         may hold (default 10G)

History (DATA_DIR/history.db, SQLite):
  --history-days DAYS    messages older than this are deleted (default 365;
                         0: kept forever)
  --history-max-bytes BYTES
                         the oldest messages are deleted while the database
                         holds more (default 10G; 0: no limit)
  --check-db             run SQLite's integrity check on DATA_DIR/history.db
                         and DATA_DIR/search.db (and FTS5's on the search
                         index), print what they say, exit (0: sound, 1:
                         damaged); run it with the server stopped

The browser client (http://HOST:PORT/ on the same port; WebSocket at /ws):
  --http-origin ORIGIN   another origin (https://chat.example.org) whose pages
                         may open a chat connection; repeatable (default: the
                         page's own origin only)
  --no-web               serve no page and no WebSocket

TLS (use it on any network beyond loopback; `make certs` makes a test pair):
  --tls-cert FILE        certificate chain, PEM (with --tls-key: listen with TLS)
  --tls-key FILE         private key, PEM

A cluster (several nodes acting as one server through Redis; docs/CLUSTER.md):
  --cluster URL          redis://HOST:PORT[/DB]: be a node of the cluster that
                         the Redis there coordinates
  --node-id ID           this node's id: 1 to 64 letters, digits, '.', '_', '-'
                         (default: host name and process id; a fixed id lets
                         a restarted node's earlier users leave at once)
  --reuse-port           share --port with other nodes on this machine
                         (SO_REUSEPORT: the kernel spreads connections)
  --cluster-queue N      events held while Redis is slow or away (default
                         10000); past that, frames are refused with slow_down
  --node-timeout SECS    a node silent this long is down: its users leave and
                         reconnect elsewhere (default 5; at least 0.25)
  --cluster-keep N       events Redis keeps for nodes that were down or start
                         late to copy (default 1000000: about 300 MB of Redis
                         memory with short messages; at least 1000)

Abuse limits (0 turns a limit off):
  --max-connections N    connections at once (default 16384)
  --max-connections-per-ip N
                         connections at once from one address (default 64)
  --login-timeout SECS   close connections not logged in by then (default 10)
  --msg-rate N           frames a second per connection (default 20); faster
                         input is held back, with a slow_down warning
  --msg-burst N          frames at once before the rate applies (default 40)
  --flood-timeout SECS   input held back this long without a pause is a
                         flood: disconnect (default 10)
  --max-rooms-per-user N rooms one user may be in (default 50)
  --max-rooms N          rooms that may exist at once; a room lives while
                         someone is in it (default 10000; 0: no limit)
  --max-accounts N       names that may be registered in all (default 100000;
                         0: no limit)
  --max-registrations-per-ip N
                         names one address may register an hour (default 20;
                         0: no limit)
  --max-name-chars N     longest user name (default 32)
  --max-room-chars N     longest room name (default 32)
  --max-message-chars N  longest message text (default 4000)
  -h, --help             show this help
";

/// What the command line asks for.
struct Args {
    cfg: ServerConfig,
    level: LevelFilter,
    check_db: bool,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut cfg = ServerConfig::default();
    let mut level = LevelFilter::Info;
    let mut check_db = false;
    let (mut tls_cert, mut tls_key) = (None, None);
    let (mut cluster, mut node_id, mut cluster_queue) = (None, None, 10_000);
    let mut node_timeout_ms = 5_000;
    let mut keep_events = 1_000_000;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("host") => cfg.host = p.value()?.string()?,
            Long("port") => cfg.port = p.value()?.parse()?,
            Long("data-dir") => cfg.data_dir = p.value()?.into(),
            Long("history-days") => cfg.retention.days = p.value()?.parse()?,
            Long("history-max-bytes") => cfg.retention.max_bytes = bytes(&mut p)?,
            Long("check-db") => check_db = true,
            Long("log-level") => level = p.value()?.parse()?,
            Long("max-frame") => {
                cfg.max_frame = p.value()?.parse()?;
                // Below 16 MiB a native frame's first byte is 0, which is
                // how a browser's HTTP request is told apart.
                if cfg.max_frame >= 1 << 24 {
                    return Err("--max-frame is at most 16777215 bytes".into());
                }
            }
            Long("http-origin") => cfg.web.origins.push(p.value()?.string()?),
            Long("no-web") => cfg.web.off = true,
            Long("cluster") => {
                let url = p.value()?.string()?;
                if !url.starts_with("redis://") {
                    return Err(
                        format!("--cluster takes redis://HOST:PORT[/DB], not {url:?}").into(),
                    );
                }
                cluster = Some(url);
            }
            Long("node-id") => {
                let id = p.value()?.string()?;
                chat::net::check_node_id(&id).map_err(|e| format!("--node-id: {e}"))?;
                node_id = Some(id);
            }
            Long("reuse-port") => cfg.reuse_port = true,
            Long("cluster-queue") => cluster_queue = at_least_one(&mut p)?,
            Long("cluster-keep") => {
                keep_events = p.value()?.parse()?;
                if keep_events < 1000 {
                    return Err("--cluster-keep is at least 1000 events".into());
                }
            }
            Long("node-timeout") => {
                node_timeout_ms = secs_to_ms(p.value()?.parse()?);
                if node_timeout_ms < 250 {
                    return Err("--node-timeout is at least 0.25 s".into());
                }
            }
            Long("max-outbound") => {
                cfg.max_outbound = p.value()?.parse()?;
                cfg.high_watermark = cfg.high_watermark.min(cfg.max_outbound / 2);
            }
            Long("frame-timeout") => {
                cfg.core.limits.frame_timeout_ms = secs_to_ms(p.value()?.parse()?)
            }
            Long("typing-timeout") => cfg.core.typing_timeout_ms = secs_to_ms(p.value()?.parse()?),
            Long("grace") => cfg.core.grace_ms = secs_to_ms(p.value()?.parse()?),
            Long("max-file-size") => cfg.files.limits.max_file_size = bytes(&mut p)?,
            Long("store-quota") => cfg.files.store_quota = bytes(&mut p)?,
            Long("ring-timeout") => cfg.core.ring_timeout_ms = secs_to_ms(p.value()?.parse()?),
            Long("tls-cert") => tls_cert = Some(p.value()?.into()),
            Long("tls-key") => tls_key = Some(p.value()?.into()),
            Long("max-connections") => cfg.core.limits.max_connections = p.value()?.parse()?,
            Long("max-connections-per-ip") => {
                cfg.core.limits.max_connections_per_ip = p.value()?.parse()?
            }
            Long("login-timeout") => {
                cfg.core.limits.login_timeout_ms = secs_to_ms(p.value()?.parse()?)
            }
            Long("msg-rate") => cfg.core.limits.msg_rate = p.value()?.parse()?,
            Long("msg-burst") => cfg.core.limits.msg_burst = p.value()?.parse()?,
            Long("flood-timeout") => cfg.core.limits.flood_ms = secs_to_ms(p.value()?.parse()?),
            Long("max-rooms-per-user") => {
                cfg.core.limits.max_rooms_per_user = p.value()?.parse()?
            }
            Long("max-rooms") => cfg.core.limits.max_rooms = p.value()?.parse()?,
            Long("max-accounts") => cfg.core.limits.max_accounts = p.value()?.parse()?,
            Long("max-registrations-per-ip") => {
                cfg.core.limits.max_registrations_per_ip = p.value()?.parse()?
            }
            Long("max-name-chars") => cfg.core.limits.max_name_chars = at_least_one(&mut p)?,
            Long("max-room-chars") => cfg.core.limits.max_room_chars = at_least_one(&mut p)?,
            Long("max-message-chars") => cfg.core.max_text_chars = at_least_one(&mut p)?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if let Some(url) = cluster {
        let node = node_id.unwrap_or_else(chat::net::default_node_id);
        cfg.core.server_name = format!("{} (node {node})", cfg.core.server_name);
        cfg.cluster = Some(chat::net::ClusterConfig {
            url,
            node: Some(node),
            max_queue: cluster_queue,
            node_timeout_ms,
            keep_events,
        });
    } else if node_id.is_some() {
        return Err("--node-id is for a node of a cluster: give --cluster too".into());
    }
    cfg.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(chat::net::tls::TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Args {
        cfg,
        level,
        check_db,
    })
}

/// `--check-db`: SQLite's integrity check of the history database, then
/// the search index's, printed; the exit status says whether both are sound.
fn check_db(cfg: &ServerConfig) -> ExitCode {
    let db = cfg.data_dir.join(chat::store::db::FILE);
    if !db.exists() {
        eprintln!("chat-server: {} does not exist", db.display());
        return ExitCode::FAILURE;
    }
    let history = report(
        &db,
        chat::store::db::check(&db).map_err(|e| e.to_string()),
        "restore it from a backup, or move it aside (the server then starts with an empty history)",
        "restore it from a backup, or move it aside",
    );
    let path = cfg.data_dir.join(chat::store::search_index::FILE);
    let index = match chat::store::search_index::check(&db) {
        Ok(None) => {
            println!(
                "{}: missing (the server builds it from the history at start-up)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        found => report(
            &path,
            found
                .map(Option::unwrap_or_default)
                .map_err(|e| e.to_string()),
            "delete it (no message is lost: the server rebuilds it from the history at start-up)",
            "delete it (the server rebuilds it from the history at start-up)",
        ),
    };
    if history == ExitCode::SUCCESS {
        index
    } else {
        history
    }
}

/// Print what an integrity check of `path` found (`["ok"]`: sound), with
/// what to do when it is `damaged` or could not be read at all.
fn report(
    path: &std::path::Path,
    found: Result<Vec<String>, String>,
    damaged: &str,
    unreadable: &str,
) -> ExitCode {
    match found {
        Ok(lines) if lines == ["ok"] => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Ok(lines) => {
            for l in &lines {
                println!("{}: {l}", path.display());
            }
            eprintln!("chat-server: {} is damaged; {damaged}", path.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "chat-server: cannot check {}: {e}; {unreadable}",
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// A byte count with an optional K, M, G or T suffix (powers of 1024).
fn bytes(p: &mut lexopt::Parser) -> Result<u64, lexopt::Error> {
    Ok(chat::size::parse_size(&p.value()?.string()?)?)
}

/// A count of at least 1.
fn at_least_one(p: &mut lexopt::Parser) -> Result<usize, lexopt::Error> {
    match p.value()?.parse::<usize>()? {
        0 => Err("this limit must be at least 1".into()),
        n => Ok(n),
    }
}

fn secs_to_ms(s: f64) -> u64 {
    (s.max(0.0) * 1000.0) as u64
}

fn main() -> ExitCode {
    let Args {
        cfg,
        level,
        check_db: check,
    } = match parse() {
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
    // Colour only on a terminal: simplelog's `Auto` looks at TERM and
    // NO_COLOR, not at whether stderr is a file or a pipe.
    let colour = if std::io::stderr().is_terminal() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    let _ = TermLogger::init(level, log_cfg, TerminalMode::Stderr, colour);
    if check {
        return check_db(&cfg);
    }
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
