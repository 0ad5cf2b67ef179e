//! The bench's own parts on known data: percentiles, the latency histogram,
//! the Redis adapter's RESP codec on canned bytes, the chat frames the load
//! generator builds and recognises, a client connection's reads against a
//! local socket, /proc parsing; the report, issue 9's bystander and the
//! cluster's parts (address and pid lists, `INFO commandstats`, the report's
//! cluster section) in bench_units/.

use chat::bench::resp::{self, Reply};
use chat::bench::stats::{percentile, Histogram};
use chat::bench::wire::{self, ChatIn, Stamp, Template};
use chat::protocol::{encode, parse_body, ClientMsg, NoticeKind, ServerMsg};

// ---- percentiles ----

#[test]
fn percentile_nearest_rank_on_known_data() {
    let data: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&data, 0.0), Some(1));
    assert_eq!(percentile(&data, 1.0), Some(1));
    assert_eq!(percentile(&data, 50.0), Some(50));
    assert_eq!(percentile(&data, 50.5), Some(51));
    assert_eq!(percentile(&data, 99.0), Some(99));
    assert_eq!(percentile(&data, 99.9), Some(100));
    assert_eq!(percentile(&data, 100.0), Some(100));
    assert_eq!(percentile(&data, 250.0), Some(100));
    let thousand: Vec<u64> = (1..=1000).collect();
    assert_eq!(percentile(&thousand, 99.9), Some(999));
    assert_eq!(percentile(&thousand, 99.0), Some(990));
    assert_eq!(percentile(&[7], 50.0), Some(7));
    assert_eq!(percentile(&[], 50.0), None);
    // Ten samples: p50 is the 5th, p99 the 10th.
    let ten = [3, 5, 8, 10, 12, 13, 20, 21, 40, 1000];
    assert_eq!(percentile(&ten, 50.0), Some(12));
    assert_eq!(percentile(&ten, 90.0), Some(40));
    assert_eq!(percentile(&ten, 99.0), Some(1000));
}

#[test]
fn histogram_is_exact_for_small_values() {
    let mut h = Histogram::new();
    for v in 1..=100u64 {
        h.record(v);
    }
    assert_eq!(h.count(), 100);
    assert_eq!(h.percentile(50.0), Some(50));
    assert_eq!(h.percentile(99.0), Some(99));
    assert_eq!(h.percentile(100.0), Some(100));
    assert_eq!(h.min(), Some(1));
    assert_eq!(h.max(), Some(100));
    assert_eq!(h.mean(), Some(50.5));
    assert_eq!(Histogram::new().percentile(50.0), None);
}

#[test]
fn histogram_tracks_exact_percentiles_within_one_percent() {
    // A skewed latency-like distribution from 1 us to ~50 ms, in ns.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut data = Vec::new();
    let mut h = Histogram::new();
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x % 1_000_000) as f64 / 1_000_000.0;
        let v = (1_000.0 * (1.0 / (1.0 - u * 0.99998)).powf(1.1)) as u64;
        data.push(v);
        h.record(v);
    }
    data.sort_unstable();
    for p in [0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0] {
        let exact = percentile(&data, p).unwrap() as f64;
        let approx = h.percentile(p).unwrap() as f64;
        assert!(
            approx >= exact && approx <= exact * 1.008 + 1.0,
            "p{p}: histogram {approx} vs exact {exact}"
        );
    }
    assert_eq!(h.max(), data.last().copied());

    let mut a = Histogram::new();
    let mut b = Histogram::new();
    for (i, &v) in data.iter().enumerate() {
        if i % 2 == 0 {
            a.record(v)
        } else {
            b.record(v)
        }
    }
    a.merge(&b);
    assert_eq!(a.count(), h.count());
    assert_eq!(a.percentile(99.0), h.percentile(99.0));
}

// ---- RESP ----

fn parse_all(mut buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (r, n) = resp::parse(buf).unwrap().expect("complete reply");
        out.push(format!("{r:?}"));
        buf = &buf[n..];
    }
    out
}

#[test]
fn resp_pubsub_replies() {
    let subscribe = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n";
    let (r, n) = resp::parse(subscribe).unwrap().unwrap();
    assert_eq!(n, subscribe.len());
    assert_eq!(
        r,
        Reply::Subscribed {
            kind: b"subscribe",
            channel: b"bench",
            count: 1
        }
    );
    let message = b"*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$12\r\nhello\r\nworld\r\n";
    let (r, n) = resp::parse(message).unwrap().unwrap();
    assert_eq!(n, message.len());
    assert_eq!(
        r,
        Reply::Message {
            channel: b"bench",
            payload: b"hello\r\nworld"
        }
    );
    let pmessage = b"*4\r\n$8\r\npmessage\r\n$2\r\nb*\r\n$5\r\nbench\r\n$2\r\nhi\r\n";
    assert_eq!(
        resp::parse(pmessage).unwrap().unwrap().0,
        Reply::Message {
            channel: b"bench",
            payload: b"hi"
        }
    );
}

#[test]
fn resp_fast_path_agrees_with_the_parser() {
    let prefix = resp::message_prefix(b"bench", 3);
    assert_eq!(
        prefix,
        b"*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$3\r\n".to_vec()
    );
    let msg = b"*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$3\r\nabc\r\n:1\r\n";
    let (payload, used) = resp::fast_message(msg, &prefix, 3).unwrap();
    assert_eq!((payload, used), (&b"abc"[..], msg.len() - 4));
    assert_eq!(
        resp::parse(msg).unwrap().unwrap(),
        (
            Reply::Message {
                channel: b"bench",
                payload: b"abc"
            },
            used
        )
    );
    // Incomplete, another channel, another size, or a broken terminator:
    // not taken by the fast path.
    assert!(resp::fast_message(&msg[..used - 1], &prefix, 3).is_none());
    assert!(resp::fast_message(msg, &resp::message_prefix(b"bench2", 3), 3).is_none());
    assert!(resp::fast_message(msg, &resp::message_prefix(b"bench", 4), 4).is_none());
    let mut broken = msg.to_vec();
    broken[used - 2] = b'x';
    assert!(resp::fast_message(&broken, &prefix, 3).is_none());
}

#[test]
fn resp_scalars_and_other_arrays() {
    let all = b":100\r\n:-3\r\n+OK\r\n-ERR unknown command\r\n$-1\r\n$0\r\n\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$1\r\nx\r\n*0\r\n";
    assert_eq!(
        parse_all(all),
        vec![
            "Integer(100)",
            "Integer(-3)",
            &format!("{:?}", Reply::Simple(b"OK")),
            &format!("{:?}", Reply::Error(b"ERR unknown command")),
            "Bulk(None)",
            &format!("{:?}", Reply::Bulk(Some(b""))),
            "Array(None)",
            "Array(Some(2))",
            "Array(Some(0))",
        ]
    );
}

#[test]
fn resp_incomplete_at_every_cut() {
    let stream: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$3\r\nabc\r\n:7\r\n";
    let first = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n".len();
    for cut in 0..first {
        assert_eq!(resp::parse(&stream[..cut]).unwrap(), None, "cut at {cut}");
    }
    assert_eq!(parse_all(stream).len(), 3);
}

#[test]
fn resp_rejects_garbage() {
    assert!(resp::parse(b"?what\r\n").is_err());
    assert!(resp::parse(b":12x\r\n").is_err());
    assert!(resp::parse(b"$3\r\nabcd\r\n").is_err());
    let e = resp::parse(b"*1\r\n!oops\r\n").unwrap_err();
    assert!(e.to_string().contains("bad RESP"), "{e}");
}

#[test]
fn resp_commands() {
    assert_eq!(
        resp::command(&[b"SUBSCRIBE", b"bench"]),
        b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nbench\r\n".to_vec()
    );
    let t = Template::publish("bench", 42);
    let stamp = Stamp {
        ts_ns: 123,
        publisher: 4,
        seq: 5,
    };
    let mut out = Vec::new();
    t.push(&mut out, stamp);
    let mut payload = vec![0u8; 42];
    wire::write_stamp(&mut payload, stamp);
    assert_eq!(out, resp::command(&[b"PUBLISH", b"bench", &payload]));
}

// ---- chat frames ----

#[test]
fn stamps_round_trip() {
    let s = Stamp {
        ts_ns: 9_999_999_999_999_999,
        publisher: 99_999_999,
        seq: 1_234_567_890_123_456,
    };
    let mut p = vec![0u8; 100];
    wire::write_stamp(&mut p, s);
    assert_eq!(&p[..42], b"9999999999999999.99999999.1234567890123456");
    assert_eq!(wire::read_stamp(&p), Some(s));
    assert!(p[42..].iter().all(|&b| b == b'x'));
    for (ts_ns, publisher, seq) in [(0, 0, 0), (1, 2, 3), (12_345_678_901, 7, 100_000_000)] {
        let s = Stamp {
            ts_ns,
            publisher,
            seq,
        };
        wire::write_stamp(&mut p, s);
        assert_eq!(wire::read_stamp(&p), Some(s));
    }
    assert_eq!(wire::read_stamp(&p[..41]), None);
    // Any non-digit where a digit belongs.
    for i in (0..42).filter(|&i| i != 16 && i != 25) {
        for bad in [b'/', b':', b'x', b' ', 0x80, 0xff] {
            let mut q = p.clone();
            q[i] = bad;
            assert_eq!(wire::read_stamp(&q), None, "byte {i} = {bad:#x}");
        }
    }
    assert_eq!(
        wire::read_stamp(b"not a stamp at all, but forty-two bytes..."),
        None
    );
}

#[test]
fn templates_match_the_library_encoder() {
    let stamp = Stamp {
        ts_ns: 42,
        publisher: 1,
        seq: 2,
    };
    let mut payload = vec![0u8; 100];
    wire::write_stamp(&mut payload, stamp);
    let text = String::from_utf8(payload).unwrap();

    let mut out = Vec::new();
    Template::room_msg("bench-room", 100).push(&mut out, stamp);
    let want = encode(&ClientMsg::RoomMsg {
        room: "bench-room".into(),
        text: text.clone(),
        cid: None,
    });
    assert_eq!(out, want);

    let mut out = Vec::new();
    Template::private_msg("bob", 100).push(&mut out, stamp);
    let want = encode(&ClientMsg::PrivateMsg {
        to: "bob".into(),
        text,
        cid: None,
    });
    assert_eq!(out, want);
}

#[test]
fn hello_is_a_valid_client_frame() {
    let f = wire::hello("m-1", "room-1");
    let (body, used) = wire::split_frame(&f, 1 << 20).unwrap().unwrap();
    assert_eq!(used, f.len());
    match parse_body::<ClientMsg>(body).unwrap() {
        ClientMsg::Hello {
            version,
            name,
            room,
            ..
        } => {
            assert_eq!(version, chat::protocol::PROTOCOL_VERSION);
            assert_eq!(name, "m-1");
            assert_eq!(room.as_deref(), Some("room-1"));
        }
        other => panic!("not a hello: {other:?}"),
    }
}

fn body_of(msg: &ServerMsg) -> Vec<u8> {
    encode(msg)[4..].to_vec()
}

#[test]
fn classify_server_frames() {
    let mut payload = vec![0u8; 100];
    wire::write_stamp(
        &mut payload,
        Stamp {
            ts_ns: 9,
            publisher: 0,
            seq: 0,
        },
    );
    let text = String::from_utf8(payload.clone()).unwrap();
    let room_message = body_of(&ServerMsg::Message {
        id: 42,
        ts: 1_700_000_000_000,
        from: "alice".into(),
        room: Some("general".into()),
        to: None,
        text: text.clone(),
        replay: None,
    });
    match wire::classify(&room_message, 100) {
        ChatIn::Message { id: 42, text } => assert_eq!(text, &payload[..]),
        other => panic!("{other:?}"),
    }
    let dm = body_of(&ServerMsg::Message {
        id: 43,
        ts: 1,
        from: "alice".into(),
        room: None,
        to: Some("bob".into()),
        text: text.clone(),
        replay: None,
    });
    assert!(
        matches!(wire::classify(&dm, 100), ChatIn::Message { id: 43, text } if text == &payload[..])
    );
    // The largest id a message can have (below 2^53) and 0.
    for id in [0, (1 << 53) - 1] {
        let m = body_of(&ServerMsg::Message {
            id,
            ts: 1,
            from: "alice".into(),
            room: Some("general".into()),
            to: None,
            text: text.clone(),
            replay: None,
        });
        assert!(matches!(wire::classify(&m, 100), ChatIn::Message { id: i, .. } if i == id));
    }
    // A message whose id is not where the fast path expects it still
    // yields its id and text through the slow path.
    let moved = String::from_utf8(room_message.clone()).unwrap().replace(
        r#""id":42,"ts":1700000000000,"#,
        r#""ts":1700000000000,"id":42,"#,
    );
    assert_ne!(moved.as_bytes(), &room_message[..]);
    match wire::classify(moved.as_bytes(), 100) {
        ChatIn::Other(ServerMsg::Message {
            id: 42, text: t, ..
        }) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
    // Another text size takes the slow path and still yields the text.
    match wire::classify(&room_message, 50) {
        ChatIn::Other(ServerMsg::Message { text: t, .. }) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
    for cid in [None, Some("c1".to_string())] {
        let ack = body_of(&ServerMsg::Ack {
            cid,
            id: 7,
            ts: 1_700_000_000_000,
            recipients: 999,
            duplicate: false,
        });
        assert!(
            matches!(wire::classify(&ack, 100), ChatIn::Ack { recipients: 999 }),
            "{}",
            String::from_utf8_lossy(&ack)
        );
    }
    let join = body_of(&ServerMsg::Notice {
        event: NoticeKind::Join,
        user: "bob".into(),
        room: Some("general".into()),
        status: None,
        text: "bob joined #general".into(),
    });
    assert!(matches!(wire::classify(&join, 100), ChatIn::JoinNotice));
    let leave = body_of(&ServerMsg::Notice {
        event: NoticeKind::Leave,
        user: "bob".into(),
        room: Some("general".into()),
        status: None,
        text: "bob left #general".into(),
    });
    assert!(matches!(
        wire::classify(&leave, 100),
        ChatIn::Other(ServerMsg::Notice { .. })
    ));
    let receipts = body_of(&ServerMsg::Receipts {
        room: Some("general".into()),
        peer: None,
        markers: vec![chat::protocol::Marker {
            user: "bob".into(),
            delivered: 42,
            read: 0,
        }],
    });
    assert!(matches!(wire::classify(&receipts, 100), ChatIn::Receipts));
    assert!(matches!(wire::classify(b"{nope", 100), ChatIn::Bad(_)));
}

#[test]
fn delivered_receipts_match_the_library_encoder() {
    for up_to in [0, 1, 9, 10, 42, 1_000_000, (1 << 53) - 1] {
        let mut out = Vec::new();
        wire::DeliveredReceipt::new("bench-room", false).push(&mut out, up_to);
        let want = encode(&ClientMsg::Receipt {
            kind: chat::protocol::ReceiptKind::Delivered,
            room: Some("bench-room".into()),
            peer: None,
            up_to,
        });
        assert_eq!(out, want, "up_to {up_to}");
        // Over WebSocket: the same body after a client frame header.
        let mut ws = Vec::new();
        wire::DeliveredReceipt::new("bench-room", true).push(&mut ws, up_to);
        assert_eq!(ws, wire::ws_frame(&want), "up_to {up_to}");
    }
    // Appended, not overwritten: two receipts in one write.
    let rc = wire::DeliveredReceipt::new("r", false);
    let mut out = Vec::new();
    rc.push(&mut out, 5);
    rc.push(&mut out, 7);
    let (b1, n) = wire::split_frame(&out, 1000).unwrap().unwrap();
    assert_eq!(
        b1,
        br#"{"type":"receipt","kind":"delivered","room":"r","up_to":5}"#
    );
    let (b2, _) = wire::split_frame(&out[n..], 1000).unwrap().unwrap();
    assert_eq!(
        b2,
        br#"{"type":"receipt","kind":"delivered","room":"r","up_to":7}"#
    );
}

#[test]
fn split_frames() {
    let mut stream = encode(&ServerMsg::Pong { seq: Some(1) });
    stream.extend(encode(&ServerMsg::Pong { seq: Some(2) }));
    let (b, n) = wire::split_frame(&stream, 1000).unwrap().unwrap();
    assert_eq!(b, br#"{"type":"pong","seq":1}"#);
    let (b2, _) = wire::split_frame(&stream[n..], 1000).unwrap().unwrap();
    assert_eq!(b2, br#"{"type":"pong","seq":2}"#);
    for cut in 0..n {
        assert!(wire::split_frame(&stream[..cut], 1000).unwrap().is_none());
    }
    assert!(wire::split_frame(&stream, 10).is_err());
}

// ---- client connections ----

#[path = "bench_units/conn.rs"]
mod conn_units;

// ---- file transfer frames ----

#[test]
fn chunk_frames_match_the_library_and_parse_back() {
    use chat::bench::transfer::{parse_chunk, push_chunk};
    let mut out = Vec::new();
    push_chunk(&mut out, 7, 65536, "aGVsbG8=");
    let want = encode(&ClientMsg::FileChunk {
        id: 7,
        offset: 65536,
        data: "aGVsbG8=".into(),
    });
    assert_eq!(out, want);
    let relayed = encode(&ServerMsg::FileChunk {
        id: 12,
        offset: 3,
        data: "QUJD".into(),
    });
    assert_eq!(parse_chunk(&relayed[4..]), Some((12, 3, &b"QUJD"[..])));
    assert_eq!(
        parse_chunk(br#"{"type":"file_credit","id":1,"bytes":2}"#),
        None
    );
}

#[test]
fn synthetic_file_checksum() {
    use chat::bench::transfer::{block, sha256_of, CHUNK};
    use sha2::{Digest, Sha256};
    let b = block();
    assert_eq!(b.len(), CHUNK);
    let size = 2 * CHUNK as u64 + 100;
    let mut whole = b.clone();
    whole.extend_from_slice(&b);
    whole.extend_from_slice(&b[..100]);
    let want: String = Sha256::digest(&whole)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    assert_eq!(sha256_of(&b, size), want);
}

// ---- report (tests/bench_units/report.rs) ----

#[path = "bench_units/report.rs"]
mod report_units;

// ---- bystander, issue 9 (tests/bench_units/bystander.rs) ----

#[path = "bench_units/bystander.rs"]
mod bystander_units;

// ---- cluster: address lists, commandstats, section 8 (tests/bench_units/cluster.rs) ----

#[path = "bench_units/cluster.rs"]
mod cluster_units;
