//! The cluster's parts of the bench on known data: `--addr` and `--pid`
//! lists, connections spread round-robin over nodes, `INFO commandstats`
//! parsed and subtracted, and the report's cluster section (rows, the
//! backplane cost per message, cluster runs kept out of section 1–2).

use chat::bench::commandstats::{self, CommandCount, Stat};
use chat::bench::fanout::{parse_addrs, parse_pids, FanoutConfig, FanoutResult, Target};
use chat::bench::report::{self, cluster_section, Results};
use std::net::SocketAddr;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn address_lists() {
    assert_eq!(
        parse_addrs("127.0.0.1:5555").unwrap(),
        vec![sa("127.0.0.1:5555")]
    );
    assert_eq!(
        parse_addrs("127.0.0.1:1, 127.0.0.1:2,[::1]:3").unwrap(),
        vec![sa("127.0.0.1:1"), sa("127.0.0.1:2"), sa("[::1]:3")]
    );
    // Order and repeats are kept: the list says where connection i goes.
    assert_eq!(parse_addrs("127.0.0.1:2,127.0.0.1:2").unwrap().len(), 2);
    assert!(parse_addrs("localhost:7").unwrap()[0].port() == 7);
    for bad in [
        "",
        ",",
        "127.0.0.1:1,",
        "127.0.0.1:1,,127.0.0.1:2",
        "127.0.0.1",
        "x:y",
    ] {
        assert!(parse_addrs(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn pid_lists() {
    assert_eq!(parse_pids("42").unwrap(), vec![42]);
    assert_eq!(parse_pids("42, 7,9").unwrap(), vec![42, 7, 9]);
    for bad in ["", "0", "-1", "1,", "a", "1;2", "99999999999"] {
        assert!(parse_pids(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn connections_go_round_robin_over_the_nodes() {
    let one = FanoutConfig::new(Target::Chat, sa("127.0.0.1:1"), 4, 2);
    assert_eq!(one.nodes(), 1);
    assert!((0..5).all(|i| one.addr_of(i) == sa("127.0.0.1:1")));
    assert!(one.pids().is_empty() && !one.backplane());

    let mut two = one.clone();
    two.addrs = vec![sa("127.0.0.1:1"), sa("127.0.0.1:2")];
    two.server_pid = Some(10);
    assert_eq!(two.nodes(), 2);
    let to: Vec<u16> = (0..5).map(|i| two.addr_of(i).port()).collect();
    assert_eq!(to, vec![1, 2, 1, 2, 1]);
    assert_eq!(two.pids(), vec![10]);
    two.server_pids = vec![10, 11];
    assert_eq!(two.pids(), vec![10, 11]);
    two.redis_addr = Some(sa("127.0.0.1:6379"));
    assert!(two.backplane());
}

/// Redis 7's `INFO commandstats` as it comes (CRLF lines).
const STATS_BEFORE: &str = "# Commandstats\r\n\
cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_evalsha:calls=100,usec=5000,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_incr:calls=100,usec=100,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_client|setname:calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
errorstat_NOSCRIPT:count=1\r\n\
\r\n";

const STATS_AFTER: &str = "# Commandstats\r\n\
cmdstat_info:calls=4,usec=120,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_evalsha:calls=400,usec=20000,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_incr:calls=400,usec=400,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_xadd:calls=300,usec=900,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_client|setname:calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_broken:usec=5\r\n\
cmdstat_PUBLISH:calls=7,usec=14\r\n";

#[test]
fn commandstats_lines() {
    let s = commandstats::parse(STATS_BEFORE);
    assert_eq!(s.len(), 4);
    assert_eq!(
        s["evalsha"],
        Stat {
            calls: 100,
            usec: 5000
        }
    );
    assert_eq!(s["client|setname"].calls, 2);
    assert!(!s.contains_key("NOSCRIPT"));
    let a = commandstats::parse(STATS_AFTER);
    assert!(!a.contains_key("broken"), "a line without calls is skipped");
    assert_eq!(a["publish"].calls, 7, "names are lower-cased");
    assert!(commandstats::parse("").is_empty());
    assert!(commandstats::parse("cmdstat_x:calls=oops").is_empty());
}

#[test]
fn commandstats_delta_leaves_out_the_reading_and_sorts() {
    let d = commandstats::delta(
        &commandstats::parse(STATS_BEFORE),
        &commandstats::parse(STATS_AFTER),
    );
    let cc = |c: &str, calls, usec| CommandCount {
        command: c.into(),
        calls,
        usec,
    };
    // info: 4 - 3, less the first reading's own INFO = 0, left out;
    // client|setname did not run; xadd and publish are new.
    assert_eq!(
        d,
        vec![
            cc("evalsha", 300, 15000),
            cc("incr", 300, 300),
            cc("xadd", 300, 900),
            cc("publish", 7, 14),
        ]
    );
    assert_eq!(commandstats::total_calls(&d), 907);
    assert_eq!(
        commandstats::breakdown(&d, 100.0, 2),
        "evalsha 3.00, incr 3.00"
    );
    assert!(commandstats::delta(&Default::default(), &Default::default()).is_empty());
}

fn fanout_line(extra: &str, delivered_per_s: f64, cpu: f64, p50: f64, p99: f64) -> String {
    format!(
        r#"{{"scenario":"fanout","target":"chat","members":100,"publishers":10,"window":32,"size":100,"mode":"timed","interval_s":4.0,"published":40000,"delivered":1,"published_per_s":10000.0,"delivered_per_s":{delivered_per_s},"latency_samples":10,"p50_us":{p50},"p99_us":{p99},"p999_us":1.0,"max_us":1.0,"mean_us":1.0,"total_published":1,"total_delivered":1,"expected_delivered":1,"lost":0,"order_errors":0,"server_errors":0,"first_error":null,"setup_s":0.2,"server_cpu_s":{cpu},"server_peak_rss":10485760,"server_rss":10000000,"bench_cpu_s":1.0,"receipts":true{extra}}}"#
    )
}

#[test]
fn report_cluster_section_and_backplane_cost() {
    let redis = r#","redis_cpu_s":0.8,"redis_commands":240000,"redis_commands_per_msg":6.0,"redis_command_counts":[{"command":"evalsha","calls":40000,"usec":1},{"command":"xadd","calls":40000,"usec":1}]"#;
    let servers2 = r#","servers":[{"pid":1,"cpu_s":1.2,"peak_rss":1,"rss":1},{"pid":2,"cpu_s":0.8,"peak_rss":1,"rss":1}]"#;
    let lines = [
        // Plain: 2.0 s over 40,000 messages = 50 µs a message.
        fanout_line("", 2e6, 2.0, 1000.0, 5000.0),
        // 1 node: (3.0 + 0.8) s = 95 µs a message; the backplane 45 µs.
        fanout_line(
            &format!(r#","nodes":1,"backplane":true{redis}"#),
            1e6,
            3.0,
            1500.0,
            9000.0,
        ),
        fanout_line(
            &format!(r#","nodes":2,"backplane":true{servers2}{redis}"#),
            8e5,
            2.0,
            2000.0,
            8000.0,
        ),
    ];
    let res = Results::parse(&lines.join("\n"));
    assert_eq!(res.fanout.len(), 3);
    assert!(res.unknown.is_empty());
    // Results from before the cluster fields read as one node.
    assert_eq!(res.fanout[0].nodes, 1);
    assert!(!cluster_section::is_cluster(&res.fanout[0]));
    assert!(cluster_section::is_cluster(&res.fanout[1]));
    let cost = cluster_section::backplane_cost_us(&res.fanout[0], &res.fanout[1]).unwrap();
    assert!((cost - 45.0).abs() < 1e-6, "{cost}");
    let md = report::render(&res, &[]);
    let at = md.find("## 8. Cluster").expect("cluster section");
    let (single, cluster) = md.split_at(at);
    // Section 1–2 keeps the plain run only.
    assert!(single.contains("| 100 | 10 | 32 | chat |"), "{single}");
    assert_eq!(
        single.matches("| 100 | 10 | 32 | chat").count(),
        1,
        "{single}"
    );
    assert!(
        cluster.contains("| 100 | 10 | 1 node, no cluster | 2.00 M/s | 1.00 ms | 5.00 ms | – | 0.50 cores | – | 50.0 µs |"),
        "{cluster}"
    );
    assert!(
        cluster.contains("| 100 | 10 | 1 node, `--cluster` | 1.00 M/s | 1.50 ms | 9.00 ms | – | 0.75 cores | 0.20 cores | 95.0 µs | 6.00 | evalsha 1.00, xadd 1.00 |"),
        "{cluster}"
    );
    assert!(
        cluster.contains("| 100 | 10 | 2 nodes, `--cluster` | 800.0 k/s | 2.00 ms | 8.00 ms | 0.30 + 0.20 | 0.50 cores |"),
        "{cluster}"
    );
    assert!(cluster.contains("= **45.0 µs**"), "{cluster}");
    assert!(
        cluster.contains("latency added p50 **+500 µs**, p99 **+4.00 ms**"),
        "{cluster}"
    );
    // One sentence per row.
    assert_eq!(
        cluster.matches("\n- **S=100, P=10, ").count(),
        4,
        "{cluster}"
    );
    assert!(
        cluster.contains("0.50× the plain server's delivered/s"),
        "{cluster}"
    );
    assert!(
        cluster.contains("0.80× the 1-node cluster's and 0.40× the plain server's delivered/s"),
        "{cluster}"
    );
}

#[test]
fn report_without_cluster_runs_says_so() {
    let res = Results::parse(&fanout_line("", 2e6, 2.0, 1000.0, 5000.0));
    let md = report::render(&res, &[]);
    assert!(md.contains("## 8. Cluster"), "{md}");
    assert!(
        md[md.find("## 8. Cluster").unwrap()..].contains("Not run."),
        "{md}"
    );
    let r = FanoutResult::default();
    assert!(cluster_section::cpu_us_per_msg(&r).is_none());
}
