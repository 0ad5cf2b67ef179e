//! The bench against live servers on tiny settings: it counts exactly what it
//! claims. Runs against the real `chat-server`, a minimal in-test RESP
//! pub/sub server (so the Redis adapter is checked without Redis), and the
//! real `redis-server` when one is installed.

use chat::bench::fanout::{self, FanoutConfig, Target};
use chat::bench::{idle, relay, rtt, transfer};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A `chat-server` on a free loopback port, killed on drop.
struct ChatServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl ChatServer {
    fn start() -> ChatServer {
        let dir = tempfile::tempdir().unwrap();
        let exe = env!("CARGO_BIN_EXE_chat-server");
        // One loopback address stands for every user: abuse limits off where
        // the server has them (as scripts/bench.sh does).
        let help = Command::new(exe).arg("--help").output().unwrap().stdout;
        let mut limits: Vec<&str> = Vec::new();
        if String::from_utf8_lossy(&help).contains("--msg-rate") {
            limits.extend(["--max-connections-per-ip", "0", "--msg-rate", "0"]);
        }
        let mut child = Command::new(exe)
            .args(["--port", "0", "--log-level", "warn"])
            .args(&limits)
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("chat-server printed no `listening on` line");
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        ChatServer {
            child,
            addr,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn counted(target: Target, addr: SocketAddr, s: usize, p: usize, w: usize, n: u64) -> FanoutConfig {
    let mut cfg = FanoutConfig::new(target, addr, s, p);
    cfg.window = w;
    cfg.messages = Some(n);
    cfg.drain_timeout = Duration::from_secs(20);
    cfg.setup_timeout = Duration::from_secs(20);
    cfg
}

#[test]
fn chat_fanout_counts_exactly() {
    let srv = ChatServer::start();
    for (s, p, w, n) in [(3, 2, 8, 50), (5, 5, 4, 40), (2, 1, 1, 30), (12, 3, 64, 20)] {
        let mut cfg = counted(Target::Chat, srv.addr, s, p, w, n);
        cfg.server_pid = Some(srv.pid());
        let r = fanout::run(&cfg).unwrap();
        let published = n * p as u64;
        // Chat: a message reaches every member but its sender.
        let delivered = published * (s as u64 - 1);
        let what = format!("S={s} P={p} W={w} N={n}: {r:?}");
        assert_eq!(r.total_published, published, "{what}");
        assert_eq!(r.published, published, "{what}");
        assert_eq!(r.total_delivered, delivered, "{what}");
        assert_eq!(r.delivered, delivered, "{what}");
        assert_eq!(r.expected_delivered, delivered, "{what}");
        assert_eq!(r.latency_samples, delivered, "{what}");
        assert_eq!(
            (r.lost, r.order_errors, r.server_errors),
            (0, 0, 0),
            "{what}"
        );
        assert!(
            r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us,
            "{what}"
        );
        assert!(
            r.server_cpu_s.is_some() && r.server_peak_rss.unwrap() > 0,
            "{what}"
        );
        assert!(r.interval_s > 0.0 && r.delivered_per_s > 0.0, "{what}");
    }
}

/// The same counts with every member a browser on the WebSocket.
#[test]
fn chat_fanout_over_websocket_counts_exactly() {
    let srv = ChatServer::start();
    for (s, p, w, n) in [(3, 2, 8, 50), (12, 3, 64, 20)] {
        let mut cfg = counted(Target::Chat, srv.addr, s, p, w, n);
        cfg.websocket = true;
        let r = fanout::run(&cfg).unwrap();
        let delivered = n * p as u64 * (s as u64 - 1);
        let what = format!("S={s} P={p} W={w} N={n} over WebSocket: {r:?}");
        // Receipts go over the WebSocket too, and the server takes them.
        assert!(r.receipts && r.total_receipts_sent > 0, "{what}");
        expect_markers(srv.addr, &cfg.tag, s, &what);
        assert_eq!(r.total_delivered, delivered, "{what}");
        assert_eq!(r.latency_samples, delivered, "{what}");
        assert_eq!(
            (r.lost, r.order_errors, r.server_errors),
            (0, 0, 0),
            "{what}"
        );
    }
}

/// The server's view of a room after a fan-out: every message in it (id,
/// author) and every member's markers (user -> delivered), from a fresh
/// client's catch-up (`resume.since: 0`), which ends with a `receipts`
/// snapshot. A `ping` after `synced` fences the snapshot: none means no
/// markers at all.
fn room_markers(
    addr: SocketAddr,
    room: &str,
    me: &str,
) -> (Vec<(u64, String)>, HashMap<String, u64>) {
    use chat::bench::wire;
    use chat::protocol::{parse_body, ServerMsg};
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let hello = serde_json::json!({
        "type": "hello", "version": chat::protocol::PROTOCOL_VERSION, "name": me,
        "room": room, "resume": {"rooms": [room], "since": 0},
    })
    .to_string();
    let frame = |body: &str| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body.as_bytes());
        f
    };
    sock.write_all(&frame(&hello)).unwrap();
    let (mut msgs, mut markers) = (Vec::new(), HashMap::new());
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while let Some((body, used)) = wire::split_frame(&buf, 1 << 24).unwrap() {
            let msg: ServerMsg = parse_body(body).unwrap();
            buf.drain(..used);
            match msg {
                ServerMsg::Message { id, from, .. } => msgs.push((id, from)),
                ServerMsg::Synced { .. } => sock
                    .write_all(&frame(r#"{"type":"ping","seq":7}"#))
                    .unwrap(),
                ServerMsg::Receipts { markers: m, .. } => {
                    for mk in m {
                        markers.insert(mk.user, mk.delivered);
                    }
                }
                ServerMsg::Pong { .. } => return (msgs, markers),
                ServerMsg::Error { message, .. } => panic!("checker {me}: {message}"),
                _ => {}
            }
        }
        let n = sock.read(&mut chunk).expect("checker read");
        assert!(n > 0, "the server closed the checker's connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Chat members acknowledge what they read as chat-client does, and the
/// server agrees: afterwards every member's delivered marker is the newest
/// message of the room it received (all but its own), and the authors were
/// told. Without receipts the server holds no markers for the room.
#[test]
fn chat_fanout_members_send_delivered_receipts() {
    let srv = ChatServer::start();
    for receipts in [true, false] {
        let (s, p, n) = (5usize, 2usize, 30u64);
        let mut cfg = counted(Target::Chat, srv.addr, s, p, 4, n);
        cfg.receipts = receipts;
        let r = fanout::run(&cfg).unwrap();
        let what = format!("receipts {receipts}: {r:?}");
        assert_eq!(r.total_delivered, n * p as u64 * (s as u64 - 1), "{what}");
        assert_eq!(
            (r.lost, r.order_errors, r.server_errors),
            (0, 0, 0),
            "{what}"
        );
        assert_eq!(r.receipts, receipts, "{what}");
        if !receipts {
            assert_eq!(
                (r.total_receipts_sent, r.receipt_frames_received),
                (0, 0),
                "{what}"
            );
            let (msgs, markers) = room_markers(srv.addr, &cfg.tag, &format!("{}-chk", cfg.tag));
            assert_eq!(msgs.len() as u64, n * p as u64, "{what}");
            assert!(markers.is_empty(), "{what}: {markers:?}");
            continue;
        }
        // At least one receipt per member (each read something), at most
        // one per delivered message.
        assert!(
            r.total_receipts_sent >= s as u64 && r.total_receipts_sent <= r.total_delivered,
            "{what}"
        );
        assert_eq!(r.receipts_sent, r.total_receipts_sent, "{what}");
        assert!(r.receipts_per_s > 0.0, "{what}");
        // (`receipt_frames_received` may be 0 in a run this short: the
        // server's answers to the last receipts can come after it ended.)
        let (msgs, _) = room_markers(srv.addr, &cfg.tag, &format!("{}-count", cfg.tag));
        assert_eq!(msgs.len() as u64, n * p as u64, "{what}");
        expect_markers(srv.addr, &cfg.tag, s, &what);
    }
}

/// The server holds each of the `s` members' delivered marker at the newest
/// message of the room it received (all but its own). The bench wrote its
/// last receipts before it closed its connections, but the server may take
/// the checker's hello first: look again until they are all in (or give up).
fn expect_markers(addr: SocketAddr, room: &str, s: usize, what: &str) {
    let mut tries = 0;
    loop {
        let (msgs, markers) = room_markers(addr, room, &format!("{room}-chk{tries}"));
        let want: HashMap<String, u64> = (0..s)
            .map(|i| {
                let name = format!("{room}-{i}");
                let newest = msgs
                    .iter()
                    .filter(|(_, f)| *f != name)
                    .map(|(id, _)| *id)
                    .max();
                (name, newest.unwrap())
            })
            .collect();
        if markers == want {
            return;
        }
        tries += 1;
        assert!(
            tries < 50,
            "{what}: server markers {markers:?}, expected {want:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn chat_fanout_timed_run_accounts_for_everything() {
    let srv = ChatServer::start();
    let mut cfg = FanoutConfig::new(Target::Chat, srv.addr, 4, 2);
    cfg.window = 4;
    cfg.warmup = Duration::from_millis(100);
    cfg.duration = Duration::from_millis(300);
    let r = fanout::run(&cfg).unwrap();
    assert_eq!(r.mode, "timed");
    assert!((r.interval_s - 0.3).abs() < 1e-6, "{r:?}");
    assert!(r.total_published > 0);
    assert_eq!(r.total_delivered, r.total_published * 3, "{r:?}");
    assert_eq!(r.expected_delivered, r.total_delivered, "{r:?}");
    assert!(r.published <= r.total_published && r.delivered <= r.total_delivered);
    assert!(r.latency_samples <= r.total_delivered);
    assert_eq!((r.lost, r.order_errors), (0, 0));
}

#[test]
fn chat_fanout_refuses_impossible_settings() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(fanout::run(&counted(Target::Chat, addr, 1, 1, 1, 1)).is_err());
    assert!(fanout::run(&counted(Target::Chat, addr, 3, 4, 1, 1)).is_err());
}

/// A minimal RESP2 pub/sub server: SUBSCRIBE and PUBLISH on any channel,
/// one thread per connection.
fn fake_redis() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    type Subs = Arc<Mutex<HashMap<Vec<u8>, Vec<Arc<Mutex<TcpStream>>>>>>;
    let subs: Subs = Arc::default();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let subs = subs.clone();
            thread::spawn(move || {
                let writer = Arc::new(Mutex::new(conn.try_clone().unwrap()));
                let mut r = BufReader::new(conn);
                let read_line = |r: &mut BufReader<TcpStream>| -> Option<String> {
                    let mut l = String::new();
                    r.read_line(&mut l).ok().filter(|&n| n > 0)?;
                    Some(l.trim_end().to_string())
                };
                loop {
                    let Some(h) = read_line(&mut r) else { return };
                    let n: usize = h.strip_prefix('*').unwrap().parse().unwrap();
                    let mut args = Vec::new();
                    for _ in 0..n {
                        let l = read_line(&mut r).unwrap();
                        let len: usize = l.strip_prefix('$').unwrap().parse().unwrap();
                        let mut b = vec![0u8; len + 2];
                        r.read_exact(&mut b).unwrap();
                        b.truncate(len);
                        args.push(b);
                    }
                    let bulk = |b: &[u8]| {
                        let mut v = format!("${}\r\n", b.len()).into_bytes();
                        v.extend_from_slice(b);
                        v.extend_from_slice(b"\r\n");
                        v
                    };
                    match args[0].to_ascii_uppercase().as_slice() {
                        b"SUBSCRIBE" => {
                            let mut m = subs.lock().unwrap();
                            let list = m.entry(args[1].clone()).or_default();
                            list.push(writer.clone());
                            let mut reply = b"*3\r\n".to_vec();
                            reply.extend(bulk(b"subscribe"));
                            reply.extend(bulk(&args[1]));
                            reply.extend(b":1\r\n");
                            writer.lock().unwrap().write_all(&reply).unwrap();
                        }
                        b"PUBLISH" => {
                            let m = subs.lock().unwrap();
                            let list = m.get(&args[1]).cloned().unwrap_or_default();
                            let mut msg = b"*3\r\n".to_vec();
                            msg.extend(bulk(b"message"));
                            msg.extend(bulk(&args[1]));
                            msg.extend(bulk(&args[2]));
                            for s in &list {
                                s.lock().unwrap().write_all(&msg).unwrap();
                            }
                            let reply = format!(":{}\r\n", list.len());
                            writer.lock().unwrap().write_all(reply.as_bytes()).unwrap();
                        }
                        _ => {
                            writer
                                .lock()
                                .unwrap()
                                .write_all(b"-ERR unknown command\r\n")
                                .unwrap();
                        }
                    }
                }
            });
        }
    });
    addr
}

fn check_redis_counts(addr: SocketAddr, s: usize, p: usize, w: usize, n: u64) {
    let r = fanout::run(&counted(Target::Redis, addr, s, p, w, n)).unwrap();
    let published = n * p as u64;
    // Redis: a message reaches every subscriber.
    let delivered = published * s as u64;
    let what = format!("S={s} P={p} W={w} N={n}: {r:?}");
    assert_eq!(r.total_published, published, "{what}");
    assert_eq!(r.total_delivered, delivered, "{what}");
    assert_eq!(r.expected_delivered, delivered, "{what}");
    assert_eq!(r.latency_samples, delivered, "{what}");
    assert_eq!(
        (r.lost, r.order_errors, r.server_errors),
        (0, 0, 0),
        "{what}"
    );
}

#[test]
fn redis_adapter_counts_exactly_against_a_fake_server() {
    let addr = fake_redis();
    check_redis_counts(addr, 3, 2, 8, 50);
    check_redis_counts(addr, 1, 3, 2, 20);
}

#[test]
fn redis_adapter_against_real_redis_when_installed() {
    let Ok(out) = Command::new("redis-server").arg("--version").output() else {
        eprintln!("redis-server not installed: skipped (the fake-server test covers the adapter)");
        return;
    };
    assert!(out.status.success());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            up = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let result = std::panic::catch_unwind(|| {
        assert!(up, "redis-server did not start on {addr}");
        check_redis_counts(addr, 4, 2, 8, 25);
        let mut cfg = idle::IdleConfig::new(Target::Redis, addr, 25);
        cfg.room_size = 10;
        cfg.hold = Duration::from_millis(10);
        let r = idle::run(&cfg).unwrap();
        assert_eq!((r.count, r.server_errors), (25, 0));
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn idle_connections_log_in_and_settle() {
    let srv = ChatServer::start();
    let mut cfg = idle::IdleConfig::new(Target::Chat, srv.addr, 30);
    cfg.room_size = 7;
    cfg.max_connecting = 4;
    cfg.hold = Duration::from_millis(10);
    cfg.server_pid = Some(srv.pid());
    let r = idle::run(&cfg).unwrap();
    assert_eq!(r.count, 30);
    // Rooms of 7, 7, 7, 7 and 2: each member hears of everyone after it.
    assert_eq!(r.notices, 4 * 21 + 1);
    assert_eq!(r.server_errors, 0);
    assert!(r.login_s > 0.0);
    assert!(r.server_rss_before.is_some() && r.server_rss_after.is_some());
    assert!(r.rss_per_conn.is_some());

    let fake = fake_redis();
    let mut cfg = idle::IdleConfig::new(Target::Redis, fake, 12);
    cfg.room_size = 5;
    cfg.hold = Duration::from_millis(10);
    let r = idle::run(&cfg).unwrap();
    assert_eq!((r.count, r.notices, r.server_errors), (12, 0, 0));
    assert!(r.rss_per_conn.is_none());
}

#[test]
fn round_trips_are_counted() {
    let srv = ChatServer::start();
    let mut cfg = rtt::RttConfig::new(srv.addr, 25);
    cfg.interval = Duration::ZERO;
    let r = rtt::run(&cfg).unwrap();
    assert_eq!(r.samples, 25);
    assert!(r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us);
}

#[test]
fn plain_relay_moves_every_byte() {
    let bytes = 8 * 1024 * 1024 + 12345;
    let r = relay::run(bytes, Duration::from_secs(60)).unwrap();
    assert_eq!(r.bytes, bytes);
    assert!(r.mb_per_s > 0.0);
}

#[test]
fn relayed_transfers_move_every_byte() {
    let srv = ChatServer::start();
    // Two transfers at once; a partial last chunk; a window smaller than a
    // file, so credit has to come back for them to finish.
    let size = 20 * transfer::CHUNK as u64 + 1234;
    let mut cfg = transfer::TransferConfig::new(srv.addr, size, 2);
    cfg.window = 4 * transfer::CHUNK as u64;
    cfg.server_pid = Some(srv.pid());
    cfg.timeout = Duration::from_secs(60);
    let r = transfer::run(&cfg, None, None).unwrap();
    assert!(r.available && r.completed, "{r:?}");
    assert_eq!(r.transfers, 2);
    assert_eq!(r.bytes, 2 * size);
    assert!(r.mb_per_s > 0.0);
    assert!(r.server_rss_before.is_some() && r.server_peak_rss.is_some());
}

#[test]
fn latency_beside_transfers_reports_both_figures() {
    let srv = ChatServer::start();
    let mut tcfg = transfer::TransferConfig::new(srv.addr, 0, 2);
    tcfg.timeout = Duration::from_secs(60);
    let mut rcfg = rtt::RttConfig::new(srv.addr, 20);
    rcfg.interval = Duration::from_millis(1);
    let (idle, loaded, load) = transfer::latency_under_transfer(&tcfg, &rcfg).unwrap();
    assert_eq!((idle.label.as_str(), idle.samples), ("idle", 20));
    assert_eq!((loaded.label.as_str(), loaded.samples), ("2 transfers", 20));
    assert_eq!(load.transfers, 2);
    assert!(!load.completed && load.bytes > 0, "{load:?}");
}

#[test]
fn latency_beside_plain_relays_reports_both_figures_and_stops_the_relays() {
    let srv = ChatServer::start();
    let mut rcfg = rtt::RttConfig::new(srv.addr, 20);
    rcfg.interval = Duration::from_millis(1);
    // Returns only once the relays have stopped and each has checked that
    // its receiver got every byte its sender wrote.
    let (idle, loaded) = relay::latency_beside_relays(2, &rcfg).unwrap();
    assert_eq!((idle.label.as_str(), idle.samples), ("idle", 20));
    assert_eq!(
        (loaded.label.as_str(), loaded.samples),
        ("2 plain relays", 20)
    );
}

#[test]
fn the_binary_writes_json_lines_and_a_report() {
    let srv = ChatServer::start();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.jsonl");
    let md = dir.path().join("RESULTS.md");
    let bench = env!("CARGO_BIN_EXE_chat-bench");
    let run = |args: &[&str]| {
        let out = Command::new(bench).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "chat-bench {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let addr = srv.addr.to_string();
    let pid = srv.pid().to_string();
    let j = json.to_str().unwrap();
    let line = run(&[
        "fanout",
        "--target",
        "chat",
        "--addr",
        &addr,
        "--pid",
        &pid,
        "-S",
        "3",
        "-P",
        "2",
        "--messages",
        "10",
        "--json",
        j,
    ]);
    assert!(line.contains("fanout chat S=3 P=2"), "{line}");
    assert!(line.contains("delivered receipts sent"), "{line}");
    let line = run(&[
        "fanout",
        "--target",
        "chat",
        "--addr",
        &addr,
        "-S",
        "3",
        "-P",
        "2",
        "--messages",
        "10",
        "--no-receipts",
        "--variant",
        "without receipts",
        "--json",
        j,
    ]);
    assert!(
        line.contains("(without receipts)") && line.contains("no receipts,"),
        "{line}"
    );
    run(&[
        "transfer", "--addr", &addr, "--pid", &pid, "--bytes", "100000", "--json", j,
    ]);
    run(&[
        "transfer",
        "--addr",
        &addr,
        "--bytes",
        "100000",
        "--json-chunks",
        "--json",
        j,
    ]);
    run(&["rtt", "--addr", &addr, "--samples", "5", "--json", j]);
    run(&[
        "report",
        "--in",
        j,
        "--out",
        md.to_str().unwrap(),
        "--meta",
        "command=test",
    ]);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("| command | test |"), "{text}");
    assert!(text.contains("| 3 | 2 | 32 | chat |"), "{text}");
    assert!(
        text.contains("| 3 | 2 | 32 | chat, without receipts |"),
        "{text}"
    );
    assert!(text.contains("as chat-client does"), "{text}");
    assert!(
        text.contains("Relayed through chat-server (binary chunk frames): 97.66 KiB"),
        "{text}"
    );
    assert!(
        text.contains("the same with base64 `file_chunk` JSON frames (`--json-chunks`"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&json).unwrap().lines().count(), 5);
    let port = run(&["free-port"]);
    assert!(port.trim().parse::<u16>().unwrap() > 0);
}
