//! Abuse limits against the real server: connection caps, the login deadline
//! (slowloris), the message rate (held back with a `slow_down` warning, then
//! a flood is disconnected), rooms per user, name and text lengths, and that
//! a flooding client does not hold up anyone else.

mod common;

use chat::protocol::{encode, ClientMsg, ErrorCode, ServerMsg};
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The next frame is `error{code}`, then the server closes the connection.
fn expect_error_then_close(c: &mut Client, code: ErrorCode) -> String {
    let frames = c.expect_closed();
    match frames.as_slice() {
        [ServerMsg::Error {
            code: got, message, ..
        }] if *got == code => message.clone(),
        other => panic!(
            "[{}] expected error {code:?} then a close, got {other:?}",
            c.name
        ),
    }
}

fn room_msg(text: &str, cid: &str) -> ClientMsg {
    ClientMsg::RoomMsg {
        room: "general".into(),
        text: text.into(),
        cid: Some(cid.into()),
    }
}

#[test]
fn the_total_connection_cap_refuses_with_an_error_and_frees_places() {
    let server = Server::start(&["--max-connections", "3"]);
    let mut a = Client::login(server.addr(), "alice");
    let mut b = Client::connect(server.addr());
    b.ping(1);
    let mut c = Client::connect(server.addr());
    c.ping(2);
    let mut d = Client::connect(server.addr());
    d.name = "fourth".into();
    let message = expect_error_then_close(&mut d, ErrorCode::TooManyConnections);
    assert!(message.contains("server is full"), "{message}");
    assert!(server.log().contains("refused"), "the refusal is logged");
    // The three are unharmed; one leaving makes room.
    a.ping(3);
    c.disconnect();
    let mut e = Client::login(server.addr(), "erin");
    e.ping(4);
    b.ping(5);
}

#[test]
fn the_per_address_cap_names_the_address() {
    let server = Server::start(&["--max-connections-per-ip", "2"]);
    let mut a = Client::login(server.addr(), "alice");
    let b = Client::login(server.addr(), "bob");
    let mut c = Client::connect(server.addr());
    c.name = "third".into();
    let message = expect_error_then_close(&mut c, ErrorCode::TooManyConnections);
    assert!(message.contains("127.0.0.1"), "{message}");
    a.ping(1);
    b.disconnect();
    let mut d = Client::login(server.addr(), "dave");
    d.ping(2);
}

#[test]
fn a_slowloris_connection_is_closed_at_the_login_deadline() {
    let server = Server::start(&["--login-timeout", "1"]);
    let start = Instant::now();
    // One sends half a frame header, one only pings, one logs in.
    let mut slow = Client::connect(server.addr());
    slow.name = "slowloris".into();
    slow.send_raw(&[0, 0]);
    let mut pinger = Client::connect(server.addr());
    pinger.name = "pinger".into();
    pinger.ping(1);
    let mut alice = Client::login(server.addr(), "alice");
    // Connected after alice, never logs in: its close shows the server's clock has passed
    // alice's own login deadline.
    let mut late = Client::connect(server.addr());
    late.name = "late".into();

    let message = expect_error_then_close(&mut slow, ErrorCode::LoginTimeout);
    let took = start.elapsed();
    assert!(message.contains("1 s"), "{message}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}; the deadline was 1 s"
    );
    let message = expect_error_then_close(&mut pinger, ErrorCode::LoginTimeout);
    assert!(message.contains("no login"), "{message}");
    // Logged in in time: still here past the deadline (a barrier after `late` was closed: no
    // error and no close before the pong).
    expect_error_then_close(&mut late, ErrorCode::LoginTimeout);
    alice.expect_quiet();
    assert!(server.log().contains("no login within 1 s"));
}

#[test]
fn past_the_rate_messages_are_held_back_with_a_warning_and_none_is_lost() {
    let server = Server::start(&["--msg-rate", "10", "--msg-burst", "5"]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(chat::protocol::NoticeKind::Join, "bob", None);
    const N: usize = 25;
    let batch: Vec<ClientMsg> = (0..N)
        .map(|i| room_msg(&format!("m{i}"), &format!("c{i}")))
        .collect();
    let start = Instant::now();
    alice.send_batch(&batch);
    let mut acks = Vec::new();
    let mut warnings = Vec::new();
    while acks.len() < N {
        match alice.recv_within(Duration::from_secs(10), "acks and a slow_down") {
            ServerMsg::Ack { cid, .. } => acks.push(cid.unwrap()),
            ServerMsg::Error {
                code: ErrorCode::SlowDown,
                message,
                ..
            } => warnings.push(message),
            other => panic!("unexpected {other:?}"),
        }
    }
    let took = start.elapsed();
    let want: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();
    assert_eq!(acks, want, "every message acked, in order");
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(
        warnings[0].contains("10 messages a second"),
        "{}",
        warnings[0]
    );
    // 5 at once, then 20 more at 10 a second.
    assert!(
        took >= Duration::from_millis(1_800),
        "25 messages at 10/s with a burst of 5 went through in {took:?}"
    );
    for i in 0..N {
        assert_eq!(bob.expect_message().text, format!("m{i}"));
    }
    // Pings are never held back.
    alice.ping(1);
}

#[test]
fn a_flood_is_warned_then_disconnected_while_others_carry_on() {
    let server = Server::start(&[
        "--msg-rate",
        "10",
        "--msg-burst",
        "5",
        "--flood-timeout",
        "1",
    ]);
    let mut flooder = Client::login(server.addr(), "flooder");
    let mut bob = Client::login(server.addr(), "bob");
    let mut w = flooder.writer();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let writer = thread::spawn(move || {
        let frame = encode(&room_msg("spam", "s"));
        let batch = frame.repeat(100);
        // Bounded: at most 2000 frames, until the server closes or we are told to stop.
        for _ in 0..20 {
            if stop2.load(Ordering::SeqCst) || w.write_all(&batch).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let frames = flooder.expect_closed_within(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    let took = start.elapsed();
    let slow: Vec<&String> = frames
        .iter()
        .filter_map(|f| match f {
            ServerMsg::Error {
                code: ErrorCode::SlowDown,
                message,
                ..
            } => Some(message),
            _ => None,
        })
        .collect();
    assert!(slow.len() >= 2, "a warning, then the reason: {slow:?}");
    assert!(slow[0].contains("none are lost"), "{}", slow[0]);
    assert!(slow.last().unwrap().contains("disconnecting"), "{slow:?}");
    assert!(took < Duration::from_secs(8), "disconnected after {took:?}");
    writer.join().unwrap();
    assert!(server.log().contains("flooding"), "the flood is logged");
    // bob saw the burst's worth and the leave, and is fine.
    bob.expect_notice(chat::protocol::NoticeKind::Leave, "flooder", None);
    bob.ping(1);
}

#[test]
fn a_flooding_client_does_not_delay_anyone_else() {
    // Default limits, with a long flood timeout so the flood lasts the whole test.
    let server = Server::start(&["--flood-timeout", "60"]);
    let mut flooder = Client::login_to(server.addr(), "flooder", "flood");
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(chat::protocol::NoticeKind::Join, "bob", None);
    let mut w = flooder.writer();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let writer = thread::spawn(move || {
        let frame = encode(&ClientMsg::RoomMsg {
            room: "flood".into(),
            text: "y".repeat(2000),
            cid: None,
        });
        let batch = frame.repeat(50);
        let mut sent = 0;
        // Bounded in count; the server holds it back, so the socket fills.
        while sent < 5_000 && !stop2.load(Ordering::SeqCst) {
            if w.write_all(&batch).is_err() {
                break;
            }
            sent += 50;
        }
        sent
    });
    // The flooder reads what comes back, so it is not a slow consumer.
    let reader = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut acks = 0;
        while let Recv::Frame(m) = flooder.read_frame(deadline) {
            if matches!(m, ServerMsg::Ack { .. }) {
                acks += 1;
            }
            if acks >= 60 {
                break;
            }
        }
        acks
    });
    let mut rtts = Vec::new();
    for seq in 0..20u64 {
        let t = Instant::now();
        alice.send(&ClientMsg::Ping { seq: Some(seq) });
        match alice.recv_until_within(Duration::from_secs(5), "pong during the flood", |m| {
            matches!(m, ServerMsg::Pong { .. })
        }) {
            ServerMsg::Pong { seq: Some(s) } => assert_eq!(s, seq),
            other => panic!("expected pong, got {other:?}"),
        }
        rtts.push(t.elapsed());
        let (id, recipients) = alice.say("general", &format!("during the flood {seq}"));
        assert_eq!(recipients, 1);
        let m = bob.expect_message();
        assert_eq!((m.id, m.text), (id, format!("during the flood {seq}")));
    }
    let acks = reader.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    let sent = writer.join().unwrap();
    rtts.sort();
    eprintln!(
        "ping round trips during a flood of {sent} frames ({acks} acked so far): median {:?}, max {:?}",
        rtts[rtts.len() / 2],
        rtts[rtts.len() - 1]
    );
    assert!(acks >= 40, "the flooder was served too, at its rate");
}

#[test]
fn rooms_per_user_and_lengths_are_capped() {
    let server = Server::start(&[
        "--max-rooms-per-user",
        "2",
        "--max-name-chars",
        "5",
        "--max-room-chars",
        "4",
        "--max-message-chars",
        "10",
    ]);
    let mut long = Client::connect(server.addr());
    long.send(&hello("abcdef", None, None));
    let (message, _) = long.expect_error(ErrorCode::Invalid);
    assert!(message.contains("at most 5"), "{message}");
    // "general" is longer than 4: log in to a short room.
    let mut alice = Client::login_to(server.addr(), "alice", "lab");
    alice.join("ops");
    alice.send(&ClientMsg::Join { room: "dev".into() });
    let (message, re) = alice.expect_error(ErrorCode::TooManyRooms);
    assert!(message.contains("2 rooms"), "{message}");
    assert_eq!(re.as_deref(), Some("join"));
    alice.send(&ClientMsg::Join {
        room: "lounge".into(),
    });
    let (message, _) = alice.expect_error(ErrorCode::Invalid);
    assert!(message.contains("at most 4"), "{message}");
    // Rejoining a room you are in is fine; leaving makes room.
    alice.join("ops");
    alice.send(&ClientMsg::Leave { room: "ops".into() });
    alice.recv_until(|m| matches!(m, ServerMsg::Left { .. }));
    alice.join("dev");
    alice.send(&ClientMsg::RoomMsg {
        room: "dev".into(),
        text: "x".repeat(11),
        cid: None,
    });
    let (message, _) = alice.expect_error(ErrorCode::Invalid);
    assert!(message.contains("at most 10"), "{message}");
    alice.say("dev", "0123456789");
}
