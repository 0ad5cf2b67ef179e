//! `chat-bench`: the load generator and report writer behind `make bench`.
//!
//! Each subcommand runs one scenario against a server that is already
//! running (scripts/bench.sh starts them), prints a line for people on
//! stdout and appends one JSON object to `--json FILE`; `report` turns those
//! lines into bench/RESULTS.md.

use chat::bench::bystander::{self, BystanderConfig, Load};
use chat::bench::fanout::{self, FanoutConfig, Target};
use chat::bench::report::{self, Results};
use chat::bench::{idle, relay, rtt, transfer};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: chat-bench COMMAND [OPTIONS]

Commands (each appends one JSON line to --json FILE if given):
  fanout    S members in one room, P publishing (scenarios 1, 2)
              --target chat|redis --addr HOST:PORT[,HOST:PORT...] [--pid PID[,PID...]]
              (several addresses: cluster nodes, connections spread round-robin;
               several pids: each process's CPU and RSS reported, and summed)
              [--redis-pid PID] [--redis-addr HOST:PORT] (chat with --cluster:
               the backplane Redis's CPU and its commands per message)
              --members S --publishers P [--window W] [--size BYTES]
              [--messages N (per publisher) | --duration SECS] [--warmup SECS]
              [--no-receipts (chat: members only read; by default each sends a
                              cumulative delivered receipt per read batch, at
                              most one per 200 ms, as chat-client does)]
  idle      C idle logged-in connections (scenario 3)
              --target chat|redis --addr HOST:PORT [--pid PID] --count C [--room-size N]
              [--max-connecting N (logins in flight, default 500)]
              [--hold SECS (idle before measuring, default 0.5)]
  relay     a plain byte relay inside chat-bench (scenario 4 baseline)
              --bytes N
  transfer  file transfers relayed by chat-server (scenario 4)
              --addr HOST:PORT [--pid PID] --bytes N [--transfers N]
              [--json-chunks (base64 file_chunk frames, not binary ones)]
  latency   chat round trips idle, then beside large transfers (scenario 5)
              --addr HOST:PORT [--pid PID] [--transfers N] [--samples N] [--interval-ms MS]
              [--relay-load N: instead of transfers, N plain relays in this
              process that do not touch the server (a diagnostic)]
              [--json-chunks]
  rtt       chat round-trip latency alone
              --addr HOST:PORT [--samples N] [--interval-ms MS] [--label TEXT]
  bystander a bystander's ping round trips, idle then during each load of
            legal frames from other clients, on one server (issue 9); one
            JSON line per phase
              --addr HOST:PORT [--pid PID]
              [--loads LIST (receipts,receipts4,resumes,hello,neighbour,history
                             or all, the default; run in that order)]
              [--ping-ms MS (between pings, open loop; default 2)]
              [--idle-secs S (idle baseline, default 3)]
              [--min-load-secs S (fixed-work loads repeat until, default 2)]
              [--load-secs S (neighbour, history; default 3)]
              [--phase-timeout S (a load unfinished by then is abandoned; 60)]
              [--room-messages N (receipts, history; default 2000)]
              [--file-size BYTES (resumes; suffix K/M/G; default 500M)]
              [--resumes N (downloads per round, default 10)]
              [--resume-rooms N (rooms in the huge hello, default 110000)]
              [--neighbours N (default 8)] [--history-window N (default 8)]
              [--size BYTES (message text, default 100)]
  history-startup
            fill a new data directory with N messages (10 rooms), start the
            server on it, measure start-up time and RSS, /history pages from
            disk and /search (a rare and a common word) (issue 11)
              --server PATH --data-dir DIR --messages N [--samples N (default 50)]
  history-write
            P clients keep W messages each in flight for SECS on a new
            server: messages committed a second, transactions a second,
            bytes a message on disk (issue 11)
              --server PATH --data-dir DIR [--publishers P] [--window W] [--duration SECS]
  report    write the Markdown report from the JSON lines
              --in FILE --out FILE [--meta KEY=VALUE]...
  free-port print a free TCP port on 127.0.0.1

Common: --json FILE   append the result as one JSON line
        --variant TEXT (fanout, latency, bystander) mark a diagnostic run, e.g. \"history on tmpfs\"
        --websocket (fanout, chat) every member connects over the WebSocket at /ws, as a browser
        -h, --help    this help
";

struct Args {
    cmd: String,
    target: Target,
    addr: Option<SocketAddr>,
    addrs: Vec<SocketAddr>,
    pid: Option<u32>,
    pids: Vec<u32>,
    redis_pid: Option<u32>,
    redis_addr: Option<SocketAddr>,
    members: usize,
    publishers: usize,
    window: usize,
    size: usize,
    messages: Option<u64>,
    duration: f64,
    warmup: f64,
    count: usize,
    room_size: usize,
    max_connecting: usize,
    hold: f64,
    bytes: u64,
    transfers: usize,
    samples: u64,
    interval_ms: f64,
    label: String,
    variant: Option<String>,
    websocket: bool,
    json_chunks: bool,
    relay_load: usize,
    no_receipts: bool,
    json: Option<String>,
    input: Option<String>,
    output: Option<String>,
    meta: Vec<(String, String)>,
    loads: Vec<Load>,
    ping_ms: f64,
    idle_secs: f64,
    min_load_secs: f64,
    load_secs: f64,
    phase_timeout: f64,
    room_messages: usize,
    file_size: u64,
    resumes: usize,
    resume_rooms: usize,
    neighbours: usize,
    history_window: usize,
    server: Option<String>,
    data_dir: Option<String>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        cmd: String::new(),
        target: Target::Chat,
        addr: None,
        addrs: Vec::new(),
        pid: None,
        pids: Vec::new(),
        redis_pid: None,
        redis_addr: None,
        members: 100,
        publishers: 10,
        window: 32,
        size: 100,
        messages: None,
        duration: 5.0,
        warmup: 1.0,
        count: 1000,
        room_size: 100,
        max_connecting: chat::bench::idle::MAX_CONNECTING,
        hold: 0.5,
        bytes: 2 << 30,
        transfers: 1,
        samples: 2000,
        interval_ms: 1.0,
        label: "idle".into(),
        variant: None,
        websocket: false,
        json_chunks: false,
        relay_load: 0,
        no_receipts: false,
        json: None,
        input: None,
        output: None,
        meta: Vec::new(),
        loads: Load::ALL.to_vec(),
        ping_ms: 2.0,
        idle_secs: 3.0,
        min_load_secs: 2.0,
        load_secs: 3.0,
        phase_timeout: 60.0,
        room_messages: 2000,
        file_size: 500 << 20,
        resumes: 10,
        server: None,
        data_dir: None,
        resume_rooms: 110_000,
        neighbours: 8,
        history_window: 8,
    };
    let custom = |e: String| lexopt::Error::Custom(e.into());
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if a.cmd.is_empty() => a.cmd = v.string()?,
            Long("target") => {
                a.target = p
                    .value()?
                    .string()?
                    .parse()
                    .map_err(|e: String| lexopt::Error::Custom(e.into()))?
            }
            Long("addr") => {
                a.addrs = fanout::parse_addrs(&p.value()?.string()?).map_err(custom)?;
                a.addr = a.addrs.first().copied();
            }
            Long("pid") => {
                a.pids = fanout::parse_pids(&p.value()?.string()?).map_err(custom)?;
                a.pid = a.pids.first().copied();
            }
            Long("redis-pid") => a.redis_pid = Some(p.value()?.parse()?),
            Long("redis-addr") => {
                let s = p.value()?.string()?;
                a.redis_addr = Some(
                    s.to_socket_addrs()
                        .ok()
                        .and_then(|mut i| i.next())
                        .ok_or_else(|| custom(format!("bad address {s}")))?,
                );
            }
            Short('S') | Long("members") => a.members = p.value()?.parse()?,
            Short('P') | Long("publishers") => a.publishers = p.value()?.parse()?,
            Short('W') | Long("window") => a.window = p.value()?.parse()?,
            Long("size") => a.size = p.value()?.parse()?,
            Long("messages") => a.messages = Some(p.value()?.parse()?),
            Long("duration") => a.duration = p.value()?.parse()?,
            Long("warmup") => a.warmup = p.value()?.parse()?,
            Short('C') | Long("count") => a.count = p.value()?.parse()?,
            Long("room-size") => a.room_size = p.value()?.parse()?,
            Long("max-connecting") => a.max_connecting = p.value()?.parse()?,
            Long("hold") => a.hold = p.value()?.parse()?,
            Long("bytes") => a.bytes = p.value()?.parse()?,
            Long("transfers") => a.transfers = p.value()?.parse()?,
            Long("samples") => a.samples = p.value()?.parse()?,
            Long("interval-ms") => a.interval_ms = p.value()?.parse()?,
            Long("label") => a.label = p.value()?.string()?,
            Long("variant") => a.variant = Some(p.value()?.string()?),
            Long("websocket") => a.websocket = true,
            Long("json-chunks") => a.json_chunks = true,
            Long("relay-load") => a.relay_load = p.value()?.parse()?,
            Long("no-receipts") => a.no_receipts = true,
            Long("json") => a.json = Some(p.value()?.string()?),
            Long("in") => a.input = Some(p.value()?.string()?),
            Long("out") => a.output = Some(p.value()?.string()?),
            Long("meta") => {
                let kv = p.value()?.string()?;
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    lexopt::Error::Custom(format!("--meta wants KEY=VALUE, got {kv}").into())
                })?;
                a.meta.push((k.to_string(), v.to_string()));
            }
            Long("loads") => a.loads = Load::parse_list(&p.value()?.string()?).map_err(custom)?,
            Long("ping-ms") => a.ping_ms = p.value()?.parse()?,
            Long("idle-secs") => a.idle_secs = p.value()?.parse()?,
            Long("min-load-secs") => a.min_load_secs = p.value()?.parse()?,
            Long("load-secs") => a.load_secs = p.value()?.parse()?,
            Long("phase-timeout") => a.phase_timeout = p.value()?.parse()?,
            Long("room-messages") => a.room_messages = p.value()?.parse()?,
            Long("file-size") => {
                a.file_size = bystander::parse_size(&p.value()?.string()?).map_err(custom)?
            }
            Long("resumes") => a.resumes = p.value()?.parse()?,
            Long("server") => a.server = Some(p.value()?.string()?),
            Long("data-dir") => a.data_dir = Some(p.value()?.string()?),
            Long("resume-rooms") => a.resume_rooms = p.value()?.parse()?,
            Long("neighbours") => a.neighbours = p.value()?.parse()?,
            Long("history-window") => a.history_window = p.value()?.parse()?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn emit<T: serde::Serialize>(
    json: &Option<String>,
    summary: &str,
    value: &T,
) -> Result<(), String> {
    println!("{summary}");
    if let Some(path) = json {
        let line = serde_json::to_string(value).map_err(|e| e.to_string())?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn need_addr(a: &Args) -> Result<SocketAddr, String> {
    if a.addrs.len() > 1 || a.pids.len() > 1 {
        return Err(format!(
            "{} takes one address and one pid (several are for fanout)",
            a.cmd
        ));
    }
    a.addr
        .ok_or_else(|| format!("{} needs --addr HOST:PORT", a.cmd))
}

fn run(a: Args) -> Result<(), String> {
    match a.cmd.as_str() {
        "fanout" => {
            let addr = a
                .addr
                .ok_or("fanout needs --addr HOST:PORT[,HOST:PORT...]")?;
            let mut cfg = FanoutConfig::new(a.target, addr, a.members, a.publishers);
            if a.addrs.len() > 1 {
                cfg.addrs = a.addrs.clone();
            }
            cfg.server_pids = a.pids.clone();
            cfg.redis_pid = a.redis_pid;
            cfg.redis_addr = a.redis_addr;
            cfg.window = a.window;
            cfg.size = a.size;
            cfg.messages = a.messages;
            cfg.duration = secs(a.duration);
            cfg.warmup = secs(a.warmup);
            cfg.max_connecting = a.max_connecting;
            cfg.server_pid = a.pid;
            cfg.websocket = a.websocket;
            cfg.receipts = !a.no_receipts;
            let mut r = fanout::run(&cfg)?;
            r.variant = a.variant.clone();
            emit(&a.json, &r.summary(), &r)?;
            if r.lost > 0 || r.order_errors > 0 {
                return Err(format!(
                    "the run is not sound: {} lost, {} out of order",
                    r.lost, r.order_errors
                ));
            }
            Ok(())
        }
        "idle" => {
            let mut cfg = idle::IdleConfig::new(a.target, need_addr(&a)?, a.count);
            cfg.room_size = a.room_size;
            cfg.max_connecting = a.max_connecting;
            cfg.hold = secs(a.hold);
            cfg.server_pid = a.pid;
            let r = idle::run(&cfg)?;
            emit(&a.json, &r.summary(), &r)
        }
        "relay" => {
            let r = relay::run(a.bytes, Duration::from_secs(600))?;
            let s = format!(
                "plain relay: {} bytes in {:.2} s = {:.0} MB/s",
                r.bytes, r.seconds, r.mb_per_s
            );
            emit(&a.json, &s, &r)
        }
        "transfer" => {
            let mut cfg = transfer::TransferConfig::new(need_addr(&a)?, a.bytes, a.transfers);
            cfg.server_pid = a.pid;
            cfg.binary = !a.json_chunks;
            let r = transfer::run(&cfg, None, None)?;
            let s = format!(
                "transfer: {} x {} bytes through the server in {:.2} s = {:.0} MB/s; server RSS {} before, {} peak",
                r.transfers,
                a.bytes,
                r.seconds,
                r.mb_per_s,
                r.server_rss_before.map_or("?".into(), |b| report::bytes(b as f64)),
                r.server_peak_rss.map_or("?".into(), |b| report::bytes(b as f64)),
            );
            emit(&a.json, &s, &r)
        }
        "latency" => {
            let addr = need_addr(&a)?;
            let mut tcfg = transfer::TransferConfig::new(addr, transfer::LOAD_BYTES, a.transfers);
            tcfg.server_pid = a.pid;
            tcfg.binary = !a.json_chunks;
            let mut rcfg = rtt::RttConfig::new(addr, a.samples);
            rcfg.interval = Duration::from_secs_f64(a.interval_ms.max(0.0) / 1e3);
            if a.relay_load > 0 {
                let (mut idle, mut loaded) = relay::latency_beside_relays(a.relay_load, &rcfg)?;
                idle.variant = a.variant.clone();
                loaded.variant = a.variant.clone();
                emit(&a.json, &idle.summary(), &idle)?;
                return emit(&a.json, &loaded.summary(), &loaded);
            }
            let (mut idle, mut loaded, load) = transfer::latency_under_transfer(&tcfg, &rcfg)?;
            idle.variant = a.variant.clone();
            loaded.variant = a.variant.clone();
            emit(&a.json, &idle.summary(), &idle)?;
            emit(&a.json, &loaded.summary(), &loaded)?;
            let s = format!(
                "background load: {} transfers moved {} bytes in {:.2} s = {:.0} MB/s",
                load.transfers, load.bytes, load.seconds, load.mb_per_s
            );
            emit(&a.json, &s, &load)
        }
        "rtt" => {
            let mut cfg = rtt::RttConfig::new(need_addr(&a)?, a.samples);
            cfg.interval = Duration::from_secs_f64(a.interval_ms.max(0.0) / 1e3);
            cfg.label = a.label.clone();
            let r = rtt::run(&cfg)?;
            emit(&a.json, &r.summary(), &r)
        }
        "bystander" => {
            let mut cfg = BystanderConfig::new(need_addr(&a)?);
            cfg.server_pid = a.pid;
            cfg.loads = a.loads.clone();
            cfg.ping_interval = Duration::from_secs_f64(a.ping_ms.max(0.05) / 1e3);
            cfg.idle = secs(a.idle_secs);
            cfg.min_load = secs(a.min_load_secs);
            cfg.load_time = secs(a.load_secs);
            cfg.phase_timeout = secs(a.phase_timeout);
            cfg.room_messages = a.room_messages;
            cfg.msg_size = a.size;
            cfg.file_size = a.file_size;
            cfg.resumes = a.resumes;
            cfg.resume_rooms = a.resume_rooms;
            cfg.neighbours = a.neighbours;
            cfg.history_window = a.history_window;
            cfg.variant = a.variant.clone();
            let mut unmeasured = Vec::new();
            bystander::run(&cfg, |r| {
                if let Some(why) = &r.failed {
                    unmeasured.push(format!("{}: {why}", r.load));
                }
                emit(&a.json, &r.summary(), r)
            })?;
            if !unmeasured.is_empty() {
                return Err(format!("not measured: {}", unmeasured.join("; ")));
            }
            Ok(())
        }
        "history-startup" => {
            let (server, dir) = server_and_dir(&a)?;
            let samples = if a.samples == 2000 {
                50
            } else {
                a.samples as usize
            };
            let messages = a.messages.ok_or("history-startup needs --messages N")?;
            let r = chat::bench::history_run::startup(&server, &dir, messages, samples)?;
            let s = format!(
                "history: {} messages ({}) filled in {:.1} s; start-up {:.0} ms, RSS {}; /history p50 {:.2} ms max {:.2}; search rare p50 {:.2} ms max {:.2}, common p50 {:.2} ms max {:.2}",
                r.messages,
                report::bytes(r.db_bytes as f64),
                r.fill_seconds,
                r.startup_ms,
                report::bytes(r.rss_bytes as f64),
                r.history_p50_ms,
                r.history_max_ms,
                r.search_rare_p50_ms,
                r.search_rare_max_ms,
                r.search_common_p50_ms,
                r.search_common_max_ms
            );
            emit(&a.json, &s, &r)
        }
        "history-write" => {
            let (server, dir) = server_and_dir(&a)?;
            let r = chat::bench::history_run::write_rate(
                &server,
                &dir,
                a.publishers,
                a.window,
                a.duration,
            )?;
            let s = format!(
                "history writes: {} publishers x {} in flight: {:.0} messages/s committed, {} transactions/s ({} messages each), {:.0} bytes/message on disk, server CPU {:.2} s in {:.1} s",
                r.publishers,
                r.window,
                r.messages_per_s,
                r.transactions_per_s.map_or("?".into(), |t| format!("{t:.0}")),
                r.messages_per_transaction.map_or("?".into(), |t| format!("{t:.1}")),
                r.bytes_per_message,
                r.server_cpu_s,
                r.seconds
            );
            emit(&a.json, &s, &r)
        }
        "report" => {
            let input = a.input.as_deref().ok_or("report needs --in FILE")?;
            let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
            let md = report::render(&Results::parse(&text), &a.meta);
            match a.output.as_deref() {
                Some(out) => std::fs::write(out, md).map_err(|e| format!("{out}: {e}")),
                None => {
                    print!("{md}");
                    Ok(())
                }
            }
        }
        "free-port" => {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
            Ok(())
        }
        "" => Err("no command given".into()),
        other => Err(format!("unknown command {other:?}")),
    }
}

/// `--server` and `--data-dir`, both required by the history scenarios.
fn server_and_dir(a: &Args) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let server = a
        .server
        .as_deref()
        .ok_or("this command needs --server PATH")?;
    let dir = a
        .data_dir
        .as_deref()
        .ok_or("this command needs --data-dir DIR")?;
    Ok((server.into(), dir.into()))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chat-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
