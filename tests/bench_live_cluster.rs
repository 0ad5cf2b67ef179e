//! The fan-out bench against a real cluster: two `chat-server` nodes with
//! `--cluster` on a private `redis-server`, members and publishers spread
//! round-robin between them. Every message arrives once and in order, both
//! nodes' CPU and memory are reported (and summed), and so are Redis's CPU
//! and the commands it ran per message; the `chat-bench` binary takes the
//! comma-separated `--addr` and `--pid` and the report shows the run in its
//! cluster section.

mod common;

use chat::bench::fanout::{self, FanoutConfig, Target};
use common::redis::RedisServer;
use common::Server;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// Node `id` of the cluster on `redis`, abuse limits off as scripts/bench.sh
/// has them (one loopback address stands for every member).
fn node(redis: &RedisServer, id: &str) -> Server {
    let url = redis.url();
    Server::start(&[
        "--cluster",
        &url,
        "--node-id",
        id,
        "--max-connections-per-ip",
        "0",
        "--msg-rate",
        "0",
    ])
}

fn redis_addr(redis: &RedisServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], redis.port()))
}

#[test]
fn fanout_over_two_cluster_nodes_counts_exactly() {
    let redis = RedisServer::start();
    let nodes = [node(&redis, "n1"), node(&redis, "n2")];
    let (s, p, w, n) = (6usize, 3usize, 8usize, 100u64);
    let mut cfg = FanoutConfig::new(Target::Chat, nodes[0].addr(), s, p);
    cfg.addrs = nodes.iter().map(|x| x.addr()).collect();
    cfg.server_pids = nodes.iter().map(|x| x.pid()).collect();
    cfg.redis_pid = redis.pid();
    cfg.redis_addr = Some(redis_addr(&redis));
    cfg.window = w;
    cfg.messages = Some(n);
    cfg.drain_timeout = Duration::from_secs(20);
    cfg.setup_timeout = Duration::from_secs(20);
    let r = fanout::run(&cfg).unwrap();
    let what = format!("{r:?}");
    let published = n * p as u64;
    // A message reaches every member but its sender, on either node.
    let delivered = published * (s as u64 - 1);
    assert_eq!(r.total_published, published, "{what}");
    assert_eq!(r.total_delivered, delivered, "{what}");
    assert_eq!(r.expected_delivered, delivered, "{what}");
    assert_eq!(
        (r.lost, r.order_errors, r.server_errors),
        (0, 0, 0),
        "{what}"
    );
    assert!(r.receipts && r.total_receipts_sent > 0, "{what}");
    // Both nodes measured, in the order given, and summed.
    assert_eq!((r.nodes, r.backplane), (2, true), "{what}");
    let pids: Vec<u32> = r.servers.iter().map(|x| x.pid).collect();
    assert_eq!(pids, vec![nodes[0].pid(), nodes[1].pid()], "{what}");
    assert!(
        r.servers.iter().all(|x| x.cpu_s >= 0.0 && x.rss > 0),
        "{what}"
    );
    let sum: f64 = r.servers.iter().map(|x| x.cpu_s).sum();
    assert!((r.server_cpu_s.unwrap() - sum).abs() < 1e-9, "{what}");
    assert_eq!(
        r.server_rss,
        Some(r.servers.iter().map(|x| x.rss).sum()),
        "{what}"
    );
    // Redis: every message (and receipt) went through the sequencing script,
    // whose commands are counted beside it.
    assert!(r.redis_cpu_s.is_some(), "{what}");
    let calls = |c: &str| {
        r.redis_command_counts
            .iter()
            .find(|x| x.command == c)
            .map_or(0, |x| x.calls)
    };
    for c in ["evalsha", "incr", "xadd", "publish", "hset"] {
        assert!(calls(c) >= published, "{c}: {what}");
    }
    assert_eq!(calls("info"), 0, "the bench's own INFO is left out: {what}");
    let total = r.redis_commands.unwrap();
    assert!(total >= 5 * published, "{what}");
    let per = r.redis_commands_per_msg.unwrap();
    assert!(
        (per - total as f64 / published as f64).abs() < 1e-9,
        "{what}"
    );
    assert!(r.summary().contains("server CPU per process"), "{what}");
}

#[test]
fn the_binary_takes_address_and_pid_lists() {
    let redis = RedisServer::start();
    let nodes = [node(&redis, "n1"), node(&redis, "n2")];
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.jsonl");
    let md = dir.path().join("RESULTS.md");
    let bench = env!("CARGO_BIN_EXE_chat-bench");
    let addrs = format!("{},{}", nodes[0].addr(), nodes[1].addr());
    let pids = format!("{},{}", nodes[0].pid(), nodes[1].pid());
    let out = Command::new(bench)
        .args([
            "fanout", "--target", "chat", "--addr", &addrs, "--pid", &pids,
        ])
        .args(["--redis-pid", &redis.pid().unwrap().to_string()])
        .args(["--redis-addr", &redis_addr(&redis).to_string()])
        .args(["-S", "4", "-P", "2", "--messages", "50", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 nodes, server CPU per process"),
        "{stdout}"
    );
    assert!(stdout.contains("Redis commands"), "{stdout}");
    let line = std::fs::read_to_string(&json).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["nodes"], 2, "{line}");
    assert_eq!(v["servers"].as_array().unwrap().len(), 2, "{line}");
    assert!(v["servers"][1]["cpu_s"].is_number(), "{line}");
    assert!(
        v["redis_commands_per_msg"].as_f64().unwrap() > 0.0,
        "{line}"
    );
    // Existing fields keep their names and meaning (summed over the nodes).
    assert!(v["server_cpu_s"].is_number() && v["lost"] == 0, "{line}");
    let status = Command::new(bench)
        .args(["report", "--in"])
        .arg(&json)
        .arg("--out")
        .arg(&md)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("## 8. Cluster"), "{text}");
    assert!(text.contains("| 4 | 2 | 2 nodes, `--cluster` |"), "{text}");
    // Not among the single-server fan-out rows.
    assert!(!text.contains("| 4 | 2 | 32 | chat |"), "{text}");
}
