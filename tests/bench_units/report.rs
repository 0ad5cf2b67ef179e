//! The report on known result lines: ratios against Redis, targets met or
//! missed, medians, diagnostic variants kept apart from the judged rows, and
//! the fan-out's receipt load.

use chat::bench::report::{self, Results};

#[test]
fn report_shows_ratios_targets_and_gaps() {
    let lines = [
        r#"{"scenario":"fanout","target":"chat","members":100,"publishers":10,"window":32,"size":100,"mode":"timed","interval_s":5.0,"published":1,"delivered":1,"published_per_s":60000.0,"delivered_per_s":6000000.0,"latency_samples":10,"p50_us":3000.0,"p99_us":9000.0,"p999_us":12000.0,"max_us":15000.0,"mean_us":3500.0,"total_published":1,"total_delivered":1,"expected_delivered":1,"lost":0,"order_errors":0,"server_errors":0,"first_error":null,"setup_s":0.2,"server_cpu_s":5.0,"server_peak_rss":10485760,"server_rss":10000000,"bench_cpu_s":3.0}"#,
        r#"{"scenario":"fanout","target":"redis","members":100,"publishers":10,"window":32,"size":100,"mode":"timed","interval_s":5.0,"published":1,"delivered":1,"published_per_s":75000.0,"delivered_per_s":7500000.0,"latency_samples":10,"p50_us":3000.0,"p99_us":7000.0,"p999_us":9000.0,"max_us":10000.0,"mean_us":3200.0,"total_published":1,"total_delivered":1,"expected_delivered":1,"lost":0,"order_errors":0,"server_errors":0,"first_error":null,"setup_s":0.2,"server_cpu_s":5.0,"server_peak_rss":20971520,"server_rss":20000000,"bench_cpu_s":3.5}"#,
        r#"{"scenario":"idle","target":"chat","count":10000,"room_size":100,"login_s":1.5,"logins_per_s":6666.0,"notices":495000,"server_errors":0,"first_error":null,"server_rss_before":2000000,"server_rss_after":22480000,"server_peak_rss":30000000,"rss_per_conn":2048.0,"bench_cpu_s":1.0}"#,
        r#"{"scenario":"idle","target":"redis","count":10000,"room_size":100,"login_s":0.5,"logins_per_s":20000.0,"notices":0,"server_errors":0,"first_error":null,"server_rss_before":2000000,"server_rss_after":102000000,"server_peak_rss":110000000,"rss_per_conn":10000.0,"bench_cpu_s":0.4}"#,
        r#"{"scenario":"relay","bytes":2147483648,"seconds":1.0,"mb_per_s":2147.5,"bench_cpu_s":1.2}"#,
        r#"{"scenario":"transfer","available":false,"reason":"no frames yet","transfers":1}"#,
        r#"{"scenario":"rtt","label":"idle","samples":2000,"p50_us":50.0,"p99_us":120.0,"p999_us":200.0,"max_us":300.0,"mean_us":60.0,"seconds":2.0}"#,
        "garbage",
    ];
    let res = Results::parse(&lines.join("\n"));
    assert_eq!(res.fanout.len(), 2);
    assert_eq!(res.unknown.len(), 1);
    let md = report::render(&res, &[("cores (nproc)".into(), "2".into())]);
    assert!(md.contains("| cores (nproc) | 2 |"), "{md}");
    assert!(
        md.contains("| 100 | 10 | 0.80× | **missed** | 1.29× | **met** |"),
        "{md}"
    );
    assert!(md.contains("6.00 M/s vs 7.50 M/s (0.80×)"), "{md}");
    assert!(
        md.contains(
            "| 10000 connections at 1.5 KiB of server memory or less each | 2.00 KiB | **missed** |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| 10000 logins at least as fast as Redis's subscribes | 1.50 s vs 0.50 s (3.00×) | **missed** |"
        ),
        "{md}"
    );
    assert!(md.contains("2.00 GiB in 1.00 s = **2148 MB/s**"), "{md}");
    assert!(md.contains("**not available yet** (no frames yet)"), "{md}");
    assert!(
        md.contains(
            "| chat p99 during 4 transfers at most 1.5× idle | not available yet | not measured |"
        ),
        "{md}"
    );
}

#[test]
fn median_run_picks_the_middle() {
    let mk = |d: f64| chat::bench::fanout::FanoutResult {
        delivered_per_s: d,
        ..Default::default()
    };
    let runs = [mk(3.0), mk(1.0), mk(2.0)];
    let refs: Vec<_> = runs.iter().collect();
    assert_eq!(report::median_run(&refs).unwrap().delivered_per_s, 2.0);
    let two = [mk(3.0), mk(1.0)];
    let refs: Vec<_> = two.iter().collect();
    assert_eq!(report::median_run(&refs).unwrap().delivered_per_s, 1.0);
    assert!(report::median_run(&[]).is_none());
}

#[test]
fn report_keeps_diagnostic_variants_apart() {
    let fan = |target: &str, variant: Option<&str>, d: f64, p99: f64| {
        serde_json::to_string(&chat::bench::fanout::FanoutResult {
            scenario: "fanout".into(),
            target: target.into(),
            variant: variant.map(str::to_string),
            members: 10,
            publishers: 10,
            window: 32,
            delivered_per_s: d,
            p99_us: p99,
            interval_s: 1.0,
            ..Default::default()
        })
        .unwrap()
    };
    let rtt = |label: &str, variant: Option<&str>, p99: f64| {
        serde_json::to_string(&chat::bench::rtt::RttResult {
            scenario: "rtt".into(),
            label: label.into(),
            variant: variant.map(str::to_string),
            samples: 10,
            p50_us: p99 / 2.0,
            p99_us: p99,
            ..Default::default()
        })
        .unwrap()
    };
    let v = Some("history on tmpfs");
    let ws = Some("over WebSocket");
    let lines = [
        fan("chat", None, 1e6, 4000.0),
        fan("redis", None, 4e6, 2000.0),
        fan("chat", v, 2e6, 1000.0),
        fan("chat", ws, 0.7e6, 4000.0),
        rtt("idle", None, 8000.0),
        rtt("4 transfers", None, 8000.0),
        rtt("idle", v, 800.0),
        rtt("4 transfers", v, 8000.0),
    ];
    let md = report::render(&Results::parse(&lines.join("\n")), &[]);
    // Judged on the plain runs only.
    assert!(
        md.contains("| 10 | 10 | 0.25× | **missed** | 2.00× | **missed** |"),
        "{md}"
    );
    assert!(
        md.contains("| 10 | 10 | 32 | chat, history on tmpfs | "),
        "{md}"
    );
    // The variant against native chat on the same shape, then against Redis.
    assert!(
        md.contains("| 10 | 10 | history on tmpfs | 2.00 M/s | 2.00× | 0.50× | 1.00 ms | 0.50× |"),
        "{md}"
    );
    // WebSocket is judged against native chat: 0.7 M/s is 0.70×, under 0.8×.
    assert!(
        md.contains("| fan-out S=10,P=10 over WebSocket: at least 0.8× native | 700.0 k/s vs 1.00 M/s (0.70×) | **missed** |"),
        "{md}"
    );
    assert!(
        !md.contains("fan-out S=10,P=10 over WebSocket: delivered/s at least Redis's"),
        "{md}"
    );
    assert!(md.contains("| chat p99 during 4 transfers at most 1.5× idle | 8.00 ms vs 8.00 ms (1.00×) | **met** |"), "{md}");
    assert!(md.contains("| chat p99 during 4 transfers at most 1.5× idle (history on tmpfs, diagnostic) | 8.00 ms vs 800 µs (10.00×) | **missed** |"), "{md}");
    assert!(
        md.contains("| 4 transfers (history on tmpfs) | 10 |"),
        "{md}"
    );
}

#[test]
fn report_shows_the_receipt_load_and_the_receipt_free_variant() {
    let fan = |target: &str, variant: Option<&str>, d: f64, receipts: Option<f64>| {
        serde_json::to_string(&chat::bench::fanout::FanoutResult {
            scenario: "fanout".into(),
            target: target.into(),
            variant: variant.map(str::to_string),
            members: 100,
            publishers: 10,
            window: 32,
            delivered_per_s: d,
            p99_us: 1000.0,
            interval_s: 1.0,
            receipts: receipts.is_some(),
            receipts_per_s: receipts.unwrap_or(0.0),
            ..Default::default()
        })
        .unwrap()
    };
    let off = Some("without receipts");
    let lines = [
        fan("chat", None, 2e6, Some(25_000.0)),
        fan("redis", None, 4e6, None),
        fan("chat", off, 3e6, None),
    ];
    let md = report::render(&Results::parse(&lines.join("\n")), &[]);
    assert!(
        md.contains("Chat members, publishers included, answer each batch"),
        "{md}"
    );
    assert!(md.contains("as chat-client does"), "{md}");
    assert!(md.contains("Redis has no equivalent"), "{md}");
    // The receipts/s column: the judged chat row, none for Redis or the
    // receipt-free variant.
    assert!(
        md.contains("| 100 | 10 | 32 | chat | 0 /s | 2.00 M/s | 25.0 k/s |"),
        "{md}"
    );
    assert!(
        md.contains("| 100 | 10 | 32 | redis | 0 /s | 4.00 M/s | – |"),
        "{md}"
    );
    assert!(
        md.contains("| 100 | 10 | 32 | chat, without receipts | 0 /s | 3.00 M/s | – |"),
        "{md}"
    );
    // Judged with receipts; the receipt-free run is a labelled diagnostic.
    assert!(
        md.contains("| 100 | 10 | 0.50× | **missed** | 1.00× | **met** |"),
        "{md}"
    );
    assert!(
        md.contains("| 100 | 10 | without receipts | 3.00 M/s | 1.50× | 0.75× | 1.00 ms | 1.00× |"),
        "{md}"
    );
    assert!(
        md.contains("- **without receipts**: members only read and send no receipts"),
        "{md}"
    );
    // Results from before receipts existed say so.
    let old = [fan("chat", None, 2e6, None), fan("redis", None, 4e6, None)];
    let md = report::render(&Results::parse(&old.join("\n")), &[]);
    assert!(md.contains("sent **no receipts**"), "{md}");
    assert!(!md.contains("publishers included, answer"), "{md}");
}
