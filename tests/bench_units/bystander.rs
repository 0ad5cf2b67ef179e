//! Issue 9's bystander on known data: ratios against the idle baseline, the
//! ping book, the loads' frames and names, and its report section.

use chat::bench::bystander::{
    fmt_ratio, huge_hello, parse_size, pong_seq, ratio, room_names, BystanderResult, Load,
    PingBook, Tally, SERVER_MAX_FRAME, TARGET_P99_RATIO,
};
use chat::bench::report::{self, Results};
use chat::protocol::{encode, parse_body, ClientMsg, ServerMsg};

#[test]
fn ratios_against_the_idle_baseline() {
    assert_eq!(ratio(240.0, 120.0), Some(2.0));
    assert_eq!(ratio(60.0, 120.0), Some(0.5));
    assert_eq!(ratio(0.0, 120.0), Some(0.0));
    assert_eq!(ratio(100.0, 0.0), None);
    assert_eq!(ratio(100.0, -1.0), None);
    assert_eq!(ratio(f64::NAN, 1.0), None);
    assert_eq!(ratio(1.0, f64::INFINITY), None);
    assert_eq!(fmt_ratio(Some(1.934)), "1.93×");
    assert_eq!(fmt_ratio(None), "–");
    assert_eq!(TARGET_P99_RATIO, 2.0);
}

fn phase(load: &str, p99: f64, idle_p99: f64) -> BystanderResult {
    BystanderResult {
        scenario: "bystander".into(),
        run: "y1x0".into(),
        load: load.into(),
        label: format!("{load} label"),
        interval_ms: 2.0,
        pings: 500,
        samples: 500,
        p50_us: p99 / 2.0,
        p99_us: p99,
        max_us: p99 * 3.0,
        idle_p50_us: idle_p99 / 2.0,
        idle_p99_us: idle_p99,
        idle_max_us: idle_p99 * 3.0,
        load_s: 1.0,
        rounds: 1,
        ..Default::default()
    }
}

#[test]
fn the_target_is_p99_at_most_twice_idle() {
    assert_eq!(phase("idle", 100.0, 100.0).meets_target(), None);
    let at = phase("receipts", 200.0, 100.0);
    assert_eq!(at.p99_ratio(), Some(2.0));
    assert_eq!(at.p50_ratio(), Some(2.0));
    assert_eq!(at.max_ratio(), Some(2.0));
    assert_eq!(at.meets_target(), Some(true));
    assert_eq!(phase("receipts", 201.0, 100.0).meets_target(), Some(false));
    assert_eq!(phase("history", 50.0, 100.0).meets_target(), Some(true));
    let mut slow = phase("hello", 100.0, 100.0);
    slow.timed_out = true;
    assert_eq!(slow.meets_target(), Some(false));
    let mut lost = phase("hello", 100.0, 100.0);
    lost.unanswered = 1;
    assert_eq!(lost.meets_target(), Some(false));
    let mut failed = phase("resumes", 100.0, 100.0);
    failed.failed = Some("upload: quota_exceeded".into());
    assert_eq!(failed.meets_target(), None);
    let mut empty = phase("resumes", 0.0, 100.0);
    empty.samples = 0;
    empty.pings = 0;
    assert_eq!(empty.meets_target(), None);
    assert_eq!(phase("receipts", 200.0, 0.0).meets_target(), None);
}

#[test]
fn ping_book_credits_each_pong_to_the_phase_its_ping_was_sent_in() {
    let mut b = PingBook::default();
    assert_eq!(b.resolved(), 0);
    assert_eq!(b.send(1_000, 1), 0);
    assert_eq!(b.send(2_000, 1), 1);
    assert_eq!(b.send(3_000, 2), 2);
    assert_eq!(b.send(4_000, 0), 3);
    assert_eq!(b.in_flight(), 4);
    assert_eq!(b.resolved(), 0);
    assert_eq!(b.answer(0, 1_500), Some((1, 500)));
    assert_eq!(b.resolved(), 1);
    // A pong for seq 2: seq 1 was passed over (lost).
    assert_eq!(b.answer(2, 10_000), Some((2, 7_000)));
    assert_eq!(b.lost, 1);
    assert_eq!(b.resolved(), 3);
    // Unknown or repeated sequence numbers change nothing.
    assert_eq!(b.answer(1, 11_000), None);
    assert_eq!(b.answer(99, 11_000), None);
    assert_eq!(b.in_flight(), 1);
    assert_eq!(
        b.answer(3, 3_000),
        Some((0, 0)),
        "clock skew saturates at 0"
    );
    assert_eq!(b.resolved(), 4);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn pongs_are_recognised_and_nothing_else() {
    let body = |m: &ServerMsg| encode(m)[4..].to_vec();
    assert_eq!(pong_seq(&body(&ServerMsg::Pong { seq: Some(7) })), Some(7));
    assert_eq!(
        pong_seq(&body(&ServerMsg::Pong { seq: Some(1 << 40) })),
        Some(1 << 40)
    );
    assert_eq!(pong_seq(&body(&ServerMsg::Pong { seq: None })), None);
    assert_eq!(pong_seq(br#"{"seq":5,"type":"pong"}"#), Some(5));
    assert_eq!(pong_seq(br#"{"type":"pong","seq":5,"extra":1}"#), Some(5));
    assert_eq!(pong_seq(br#"{"type":"ping","seq":5}"#), None);
    assert_eq!(pong_seq(br#"{"type":"pong","seq":}"#), None);
    let msg = ServerMsg::Message {
        id: 1,
        ts: 2,
        from: "a".into(),
        room: Some("r".into()),
        to: None,
        text: "\"pong\"".into(),
        replay: None,
    };
    assert_eq!(pong_seq(&body(&msg)), None);
}

fn valid_room(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    (1..=32).contains(&s.len())
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(ok_char)
}

#[test]
fn resume_room_names_are_distinct_valid_and_short() {
    let names = room_names(110_000);
    assert_eq!(names.len(), 110_000);
    assert_eq!(&names[..3], &["r0", "r1", "r2"]);
    assert_eq!(names[10], "ra");
    assert_eq!(names[35], "rz");
    assert_eq!(names[36], "r10");
    let set: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(set.len(), names.len(), "duplicates");
    assert!(names.iter().all(|n| valid_room(n)));
    assert!(names.iter().all(|n| n.len() <= 5));
    assert!(room_names(0).is_empty());
}

#[test]
fn the_huge_hello_is_the_largest_legal_frame_with_type_last() {
    let rooms = room_names(110_000);
    let (frame, used) = huge_hello("y123x4-z0", "hhy123x4", &rooms, SERVER_MAX_FRAME);
    let body = &frame[4..];
    assert_eq!(
        u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
        body.len()
    );
    assert!(body.len() <= SERVER_MAX_FRAME, "{} bytes", body.len());
    assert!(
        body.len() > SERVER_MAX_FRAME - 16,
        "as large as the limit allows"
    );
    assert!(used > 10_000 && used < rooms.len(), "{used} rooms");
    assert!(body.ends_with(br#""type":"hello"}"#), "type last");
    // The server's decoder refuses it, having looked at no more than
    // 1,024 names.
    let err = parse_body::<ClientMsg>(body).unwrap_err().to_string();
    assert!(err.contains("more than 1024 rooms"), "{err}");
    // A few rooms: a hello the server accepts.
    let (small, n) = huge_hello("a", "b", &rooms[..3], SERVER_MAX_FRAME);
    assert_eq!(n, 3);
    match parse_body::<ClientMsg>(&small[4..]).unwrap() {
        ClientMsg::Hello { name, resume, .. } => {
            assert_eq!(name, "a");
            assert_eq!(resume.unwrap().rooms, rooms[..3]);
        }
        other => panic!("not a hello: {other:?}"),
    }
}

#[test]
fn sizes_take_binary_suffixes() {
    assert_eq!(parse_size("500M"), Ok(500 << 20));
    assert_eq!(parse_size("64k"), Ok(64 << 10));
    assert_eq!(parse_size("2G"), Ok(2 << 30));
    assert_eq!(parse_size(" 1048576 "), Ok(1_048_576));
    assert!(parse_size("5X").is_err());
    assert!(parse_size("M").is_err());
    assert!(parse_size("").is_err());
    assert!(parse_size("99999999999T").is_err(), "overflow");
}

#[test]
fn load_lists() {
    assert_eq!(Load::parse_list("all").unwrap(), Load::ALL.to_vec());
    assert_eq!(
        Load::parse_list("hello, receipts,hello").unwrap(),
        vec![Load::Hello, Load::Receipts]
    );
    assert_eq!(
        Load::parse_list("receipts4,all").unwrap()[..2],
        [Load::Receipts4, Load::Receipts]
    );
    assert!(Load::parse_list("nope").is_err());
    assert!(Load::parse_list(" , ").is_err());
    for l in Load::ALL {
        assert_eq!(Load::parse_list(l.key()).unwrap(), vec![l]);
    }
}

#[test]
fn tally_counts_and_summarises() {
    let mut t = Tally::default();
    assert_eq!(t.summary(), "sent nothing; got nothing; no errors");
    t.add_sent("receipt", 2000);
    t.add_sent("ping", 1);
    t.add_received("pong");
    t.add_received("error");
    t.add_received("error");
    t.add_error("too_many_rooms", "you are in 50 rooms");
    t.add_error("too_many_rooms", "second");
    t.closed = 1;
    assert_eq!(t.errors["too_many_rooms"], 2);
    assert_eq!(
        t.summary(),
        "sent 1 ping, 2000 receipt; got 2 error, 1 pong; errors: 2 too_many_rooms \
         (first: too_many_rooms: you are in 50 rooms); 1 connection(s) closed by the server"
    );
    let mut long = Tally::default();
    long.add_error("invalid", &"x".repeat(500));
    assert!(long.first_error.unwrap().chars().count() < 140);
}

#[test]
fn report_section_shows_ratios_verdicts_and_what_the_attacker_got() {
    let idle = phase("idle", 100.0, 100.0);
    let mut fine = phase("receipts", 150.0, 100.0);
    fine.label = "receipts flood, 1 reader".into();
    fine.attacker.add_sent("receipt", 2000);
    fine.note = "2000 receipts.".into();
    let mut bad = phase("resumes", 8000.0, 100.0);
    bad.label = "10 bogus download resumes".into();
    bad.timed_out = true;
    let mut broken = phase("hello", 0.0, 100.0);
    broken.label = "hello with 110000 resume rooms".into();
    broken.failed = Some("setup failed".into());
    let lines: Vec<String> = [&idle, &fine, &bad, &broken]
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let res = Results::parse(&lines.join("\n"));
    assert_eq!(res.bystander.len(), 4);
    assert!(res.unknown.is_empty());
    let md = report::render(&res, &[]);
    assert!(
        md.contains("## 6. A bystander beside loads of legal frames"),
        "{md}"
    );
    assert!(
        md.contains("| 1 | idle label | 500 (0) | 1.00 s (1) | 50 µs | 100 µs | 300 µs | 1.00× | 1.00× | 1.00× | – | baseline |"),
        "{md}"
    );
    assert!(
        md.contains("| 1 | receipts flood, 1 reader | 500 (0) | 1.00 s (1) | 75 µs | 150 µs | 450 µs | 1.50× | 1.50× | 1.50× | – | **met** |"),
        "{md}"
    );
    assert!(
        md.contains("| bystander p99 during receipts flood, 1 reader at most 2× idle | 150 µs vs 100 µs (1.50×) | **met** |"),
        "{md}"
    );
    assert!(md.contains("1.00 s (1), **timed out** |"), "{md}");
    assert!(
        md.contains("| bystander p99 during 10 bogus download resumes at most 2× idle | timed out; 8.00 ms vs 100 µs (80.00×) | **missed** |"),
        "{md}"
    );
    assert!(
        md.contains("not measured (setup failed) | not measured |"),
        "{md}"
    );
    assert!(
        md.contains("- run 1, **receipts flood, 1 reader**: 2000 receipts. Attacker: sent 2000 receipt; got nothing; no errors."),
        "{md}"
    );
    // Without bystander lines the section says so.
    let none = report::render(&Results::parse(""), &[]);
    assert!(none.contains("A bystander beside loads of legal frames (issue 9)\n\nNot run."));
}
