//! Framing and robustness: size limits, malformed frames, partial frames, abrupt disconnects,
//! slow consumers and bursts (docs/PROTOCOL.md "Errors and robustness").

mod common;

use chat::protocol::{encode, ClientMsg, ErrorCode, NoticeKind, ServerMsg};
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn oversized_frame_gets_frame_too_large_then_close() {
    let server = Server::start(&["--max-frame", "1024"]);
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut alice = Client::login(server.addr(), "alice");
    watcher.expect_notice(NoticeKind::Join, "alice", None);

    let mut bytes = 2000u32.to_be_bytes().to_vec();
    bytes.extend(std::iter::repeat_n(b' ', 2000));
    // The server may close before reading it all; a failed write is fine.
    let _ = alice.try_send_raw(&bytes);
    let frames = alice.expect_closed();
    assert!(
        frames.iter().any(|m| matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::FrameTooLarge,
                ..
            }
        )),
        "expected error frame_too_large before the close, got {frames:?}"
    );
    watcher.expect_notice(NoticeKind::Leave, "alice", None);
    watcher.ping(1);
}

#[test]
fn frame_of_exactly_max_frame_bytes_is_accepted() {
    let server = Server::start(&["--max-frame", "1024"]);
    let mut c = Client::connect(server.addr());
    let mut body = br#"{"type":"ping","seq":5}"#.to_vec();
    body.resize(1024, b' ');
    c.send_body(&body);
    c.expect_pong(5);
    body.push(b' ');
    let _ = c.try_send_raw(&frame_body(&body));
    c.expect_error(ErrorCode::FrameTooLarge);
    c.expect_closed();
}

#[test]
fn malformed_frames_get_bad_frame_and_the_connection_keeps_working() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    let bodies: [&[u8]; 9] = [
        b"\xff\xfe\xfd",                                   // not UTF-8
        b"{not json",                                      // not JSON
        b"",                                               // empty body
        b"[1,2]",                                          // not an object
        b"{\"x\":1}",                                      // no type
        b"{\"type\":\"fly\"}",                             // unknown type
        b"{\"type\":\"room_msg\",\"room\":\"general\"}",   // missing field
        b"{\"type\":\"ping\",\"seq\":\"one\"}",            // wrong field type
        b"{\"type\":\"join\",\"room\":\"x\",\"extra\":1}", // unknown field
    ];
    for (i, body) in bodies.iter().enumerate() {
        alice.send_body(body);
        let (message, _) = alice.expect_error(ErrorCode::BadFrame);
        assert!(
            !message.is_empty(),
            "bad_frame for body {i} explains itself"
        );
        alice.ping(i as u64);
    }
    let (id, _) = alice.say("general", "still here");
    assert_eq!(bob.expect_message().id, id);
}

#[test]
fn bad_frame_before_login_is_not_fatal() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    c.send_body(b"{not json");
    c.expect_error(ErrorCode::BadFrame);
    c.send(&hello("alice", None, None));
    assert!(matches!(c.recv_what("welcome"), ServerMsg::Welcome { .. }));
}

#[test]
fn frames_split_across_writes_and_batched_in_one_write() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    // One byte per write.
    for b in encode(&ClientMsg::Ping { seq: Some(1) }) {
        c.send_raw(&[b]);
    }
    c.expect_pong(1);
    // Three frames in one write, answered in order.
    c.send_batch(&[
        ClientMsg::Ping { seq: Some(2) },
        ClientMsg::Ping { seq: Some(3) },
        ClientMsg::Ping { seq: Some(4) },
    ]);
    c.expect_pong(2);
    c.expect_pong(3);
    c.expect_pong(4);
    // A frame and a half, then the rest.
    let mut bytes = encode(&ClientMsg::Ping { seq: Some(5) });
    let second = encode(&ClientMsg::Ping { seq: Some(6) });
    bytes.extend_from_slice(&second[..3]);
    c.send_raw(&bytes);
    // Pong 5 proves the server read that write, the half frame included; the rest goes in a
    // later write, and pong 6 must be the very next frame (nothing answered the half frame).
    c.expect_pong(5);
    c.send_raw(&second[3..]);
    c.expect_pong(6);
    c.expect_quiet();
}

#[test]
fn truncated_frame_then_disconnect_does_not_disturb_others() {
    let server = Server::start(&[]);
    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);

    let mut half = 100u32.to_be_bytes().to_vec();
    half.extend_from_slice(br#"{"type":"room_msg","#);
    bob.send_raw(&half);
    bob.disconnect();
    match alice.expect_notice(NoticeKind::Leave, "bob", Some("general")) {
        ServerMsg::Notice { text, .. } => assert_eq!(text, "bob left #general (disconnected)"),
        _ => unreachable!(),
    }
    alice.ping(1);

    // An anonymous connection that dies mid-header is harmless too.
    let mut anon = Client::connect(server.addr());
    anon.send_raw(&[0, 0]);
    anon.disconnect();

    let mut carol = Client::login(server.addr(), "carol");
    alice.expect_notice(NoticeKind::Join, "carol", None);
    let (id, recipients) = alice.say("general", "after the truncation");
    assert_eq!(recipients, 1);
    assert_eq!(carol.expect_message().id, id);
}

/// A client that never reads is disconnected once its outbound queue passes --max-outbound,
/// while the others keep chatting.
#[test]
fn a_client_that_never_reads_is_disconnected_and_others_keep_chatting() {
    const MAX: usize = 3000;
    const BATCH: usize = 25;
    // The message rate limit off: this is about the outbound side.
    let server = Server::start(&["--max-outbound", "65536", "--msg-rate", "0"]);
    let mut slow = Client::login(server.addr(), "slow");
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut flooder = Client::login(server.addr(), "flooder");
    watcher.expect_notice(NoticeKind::Join, "flooder", None);

    let slow_gone = Arc::new(AtomicBool::new(false));
    let text = "x".repeat(3000);

    // Writer: up to MAX messages of 3000 chars, stopping early once the slow client is gone,
    // then an END marker.
    let mut w = flooder.writer();
    let gone = Arc::clone(&slow_gone);
    let acked = Arc::new(AtomicUsize::new(0));
    let acks_seen = Arc::clone(&acked);
    let writer = thread::spawn(move || {
        let frame = encode(&ClientMsg::RoomMsg {
            room: "general".into(),
            text,
            cid: None,
        });
        let batch: Vec<u8> = frame.repeat(BATCH);
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while sent < MAX && !gone.load(Ordering::SeqCst) {
            // The next batch once the last is acknowledged: no group
            // commit releases more than a batch (75 KB) at once. Unpaced, a
            // commit held up by a busy machine released megabytes at once,
            // and the watcher, reading but sharing 2 cores with everything,
            // was cut off as a slow consumer 2 times in 15 beside two busy
            // loops.
            if acks_seen.load(Ordering::SeqCst) < sent {
                assert!(Instant::now() < deadline, "acks stopped at {sent} sent");
                thread::sleep(Duration::from_micros(200));
                continue;
            }
            w.write_all(&batch).expect("flood write");
            sent += BATCH;
        }
        w.write_all(&encode(&ClientMsg::RoomMsg {
            room: "general".into(),
            text: "END".into(),
            cid: Some("end".into()),
        }))
        .expect("write END");
        sent
    });

    // Watcher: counts the flood, notes the slow client's leave notice, stops at END.
    let gone = Arc::clone(&slow_gone);
    let reader = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut count, mut saw_end, mut leave_text) = (0usize, false, None);
        while !(saw_end && leave_text.is_some()) {
            match watcher.read_frame(deadline) {
                Recv::Frame(ServerMsg::Message { from, text, .. }) if from == "flooder" => {
                    if text == "END" {
                        saw_end = true;
                    } else {
                        assert_eq!(text.len(), 3000);
                        count += 1;
                    }
                }
                Recv::Frame(ServerMsg::Notice {
                    event: NoticeKind::Leave,
                    user,
                    text,
                    ..
                }) if user == "slow" => {
                    gone.store(true, Ordering::SeqCst);
                    leave_text = Some(text);
                }
                Recv::Frame(other) => {
                    return Err(format!("watcher got unexpected {other:?}"));
                }
                Recv::Closed(kind) => {
                    gone.store(true, Ordering::SeqCst); // stop the flood
                    return Err(format!(
                        "the watcher, which reads everything, was disconnected by the server \
                         ({kind:?}) after {count} flood messages; slow's leave notice seen: \
                         {leave_text:?}"
                    ));
                }
                Recv::Timeout => {
                    return Err(format!(
                        "watcher timed out: {count} flood messages, END seen: {saw_end}, \
                         slow's leave notice: {leave_text:?}"
                    ));
                }
            }
        }
        Ok((watcher, count, leave_text.unwrap()))
    });

    // The flooder reads its acks so that it is not a slow consumer itself.
    let mut acks = 0usize;
    flooder.recv_until_within(Duration::from_secs(60), "ack for END", |m| match m {
        ServerMsg::Ack { cid: Some(c), .. } if c == "end" => true,
        ServerMsg::Ack { .. } => {
            acks += 1;
            acked.store(acks, Ordering::SeqCst);
            false
        }
        _ => false,
    });
    let (mut watcher, count, leave_text) = match reader.join().expect("watcher thread") {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let sent = writer.join().expect("writer thread");
    assert!(slow_gone.load(Ordering::SeqCst));
    assert_eq!(acks, sent, "every flood message was acked");
    assert_eq!(count, sent, "the watcher got every flood message");
    assert!(
        leave_text.starts_with("slow left #general"),
        "leave notice text: {leave_text:?}"
    );

    // The slow client's socket is closed by the server once drained.
    slow.drain_until_closed(Duration::from_secs(20));

    // Everyone else is fine.
    watcher.ping(1);
    flooder.ping(2);
    let (id, recipients) = flooder.say("general", "after the flood");
    assert_eq!(recipients, 1, "only the watcher is left");
    assert_eq!(watcher.expect_message().id, id);
}

/// The same, one message at a time: the flooder waits for each ack and the watcher reads each
/// message before the next is sent, so no single event-loop turn queues much for anyone. Only
/// the client that never reads may be disconnected, and when it reads again its last frame is a
/// `bye` saying why.
#[test]
fn a_client_that_never_reads_is_disconnected_in_lock_step_traffic() {
    let server = Server::start(&["--max-outbound", "65536", "--msg-rate", "0"]);
    let mut slow = Client::login(server.addr(), "slow");
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut flooder = Client::login(server.addr(), "flooder");
    watcher.expect_notice(NoticeKind::Join, "flooder", None);

    let text = "x".repeat(3000);
    let mut leave_text = None;
    let mut sent = 0;
    while leave_text.is_none() {
        assert!(
            sent < 5000,
            "the client that never reads was not disconnected after {sent} messages of 3000 chars"
        );
        let (id, _) = flooder.say("general", &text);
        sent += 1;
        loop {
            match watcher.recv_what("the flood message (or slow's leave notice)") {
                ServerMsg::Message { id: m, .. } if m == id => break,
                ServerMsg::Notice {
                    event: NoticeKind::Leave,
                    user,
                    text,
                    ..
                } if user == "slow" => leave_text = Some(text),
                other => panic!("watcher got unexpected {other:?}"),
            }
        }
    }
    let leave_text = leave_text.unwrap();
    assert!(
        leave_text.starts_with("slow left #general"),
        "leave notice text: {leave_text:?}"
    );
    // What it reads now is whole frames (the one being written when it was
    // cut is finished, the rest dropped), and the last says why.
    let frames = slow.expect_closed_within(Duration::from_secs(20));
    match frames.last() {
        Some(ServerMsg::Bye { code, reason }) => {
            assert_eq!(*code, chat::protocol::ByeCode::SlowConsumer);
            assert!(reason.contains("not reading"), "{reason}");
        }
        other => panic!("the last frame was {other:?}, not bye"),
    }
    assert!(
        frames.len() < sent,
        "{} frames reached the slow client of {sent} sent: its queue was not dropped",
        frames.len()
    );
    watcher.ping(1);
    flooder.ping(2);
    let (id, recipients) = flooder.say("general", "after the flood");
    assert_eq!(recipients, 1, "only the watcher is left");
    assert_eq!(watcher.expect_message().id, id);
}

/// A client pushing a large burst does not delay another client's ping/pong.
#[test]
fn a_burst_from_one_client_never_blocks_another_clients_ping() {
    const COUNT: usize = 2000;
    // The message rate limit off: the read budget alone keeps this fair
    // (tests/security_limits.rs has the same with the limit on).
    let server = Server::start(&["--msg-rate", "0"]);
    let mut burster = Client::login_to(server.addr(), "burster", "flood");
    let mut other = Client::login(server.addr(), "other");

    let mut w = burster.writer();
    let writer = thread::spawn(move || {
        let frame = encode(&ClientMsg::RoomMsg {
            room: "flood".into(),
            text: "y".repeat(2000),
            cid: None,
        });
        for _ in 0..COUNT / 100 {
            w.write_all(&frame.repeat(100)).expect("burst write");
        }
        w.write_all(&encode(&ClientMsg::RoomMsg {
            room: "flood".into(),
            text: "END".into(),
            cid: Some("end".into()),
        }))
        .expect("write END");
    });
    let acker = thread::spawn(move || {
        let mut acks = 0;
        burster.recv_until_within(Duration::from_secs(60), "ack for END", |m| match m {
            ServerMsg::Ack { cid: Some(c), .. } if c == "end" => true,
            ServerMsg::Ack { .. } => {
                acks += 1;
                false
            }
            other => panic!("burster got unexpected {other:?}"),
        });
        acks
    });

    for seq in 0..20 {
        other.send(&ClientMsg::Ping { seq: Some(seq) });
        match other.recv_within(
            Duration::from_secs(2),
            &format!("pong {seq} during the burst"),
        ) {
            ServerMsg::Pong { seq: Some(s) } => assert_eq!(s, seq),
            m => panic!("expected pong, got {m:?}"),
        }
    }
    writer.join().expect("writer");
    assert_eq!(acker.join().expect("acker"), COUNT);
    other.expect_quiet();
}

#[test]
fn a_frame_that_stalls_half_way_is_closed_after_the_frame_timeout() {
    let server = Server::start(&["--frame-timeout", "1"]);
    let mut staller = Client::login(server.addr(), "staller");
    let mut busy = Client::login(server.addr(), "busy");
    staller.expect_notice(NoticeKind::Join, "busy", Some("general"));
    // A header announcing 100 bytes, then only 10 of them.
    let mut partial = (100u32).to_be_bytes().to_vec();
    partial.extend_from_slice(b"{\"type\":\"p");
    staller.send_raw(&partial);
    // Meanwhile a client that keeps its frames whole, even with a partial frame at the end of
    // almost every write, is never cut off. It keeps at it until a second staller, whose half
    // frame comes after busy's first one, is closed too: by then the server's clock has passed
    // the frame timeout counted from busy's first partial frame (no sleeping, no fixed span).
    let mut late = Client::login(server.addr(), "late-staller");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut early_frames, mut late_frames) = (Vec::new(), Vec::new());
    let (mut early_closed, mut late_closed) = (false, false);
    let mut seq = 0;
    while !(early_closed && late_closed) {
        assert!(
            Instant::now() < deadline,
            "the stallers were not closed within 10 s (first closed: {early_closed}, second: \
             {late_closed})"
        );
        seq += 1;
        let mut bytes = chat::protocol::encode(&ClientMsg::Ping { seq: Some(seq) });
        let half = bytes.split_off(bytes.len() / 2);
        busy.send_raw(&bytes);
        busy.send_raw(&half);
        busy.recv_until(|m| matches!(m, ServerMsg::Pong { seq: Some(s) } if *s == seq));
        if seq == 1 {
            late.send_raw(&partial);
        }
        // Collect what the stallers got so far, without waiting for it.
        for (c, frames, closed) in [
            (&mut staller, &mut early_frames, &mut early_closed),
            (&mut late, &mut late_frames, &mut late_closed),
        ] {
            while !*closed {
                match c.read_frame(Instant::now() + Duration::from_millis(1)) {
                    Recv::Frame(m) => frames.push(m),
                    Recv::Closed(_) => *closed = true,
                    Recv::Timeout => break,
                }
            }
        }
    }
    for frames in [&early_frames, &late_frames] {
        assert!(
            frames.iter().any(|m| matches!(m,
                ServerMsg::Error { code: ErrorCode::BadFrame, message, .. } if message.contains("without completing"))),
            "{frames:?}"
        );
    }
    busy.ping(seq + 1);
}

#[test]
fn every_frame_sent_before_a_close_is_handled_though_frames_are_decoded_a_few_per_turn() {
    // One write of 1000 frames, then the write side closed: the server
    // decodes 64 frames of a connection per turn, and must still answer
    // every one of them before it drops the connection.
    const COUNT: u64 = 1000;
    let server = Server::start(&["--msg-rate", "0"]);
    let mut c = Client::login(server.addr(), "closer");
    let mut bytes = Vec::new();
    for seq in 0..COUNT {
        bytes.extend_from_slice(&encode(&ClientMsg::Ping { seq: Some(seq) }));
    }
    c.send_raw(&bytes);
    c.shutdown_write();
    let mut next = 0;
    c.recv_until_within(Duration::from_secs(30), "the last pong", |m| match m {
        ServerMsg::Pong { seq: Some(s) } => {
            assert_eq!(*s, next, "pongs in order");
            next += 1;
            next == COUNT
        }
        other => panic!("unexpected {other:?}"),
    });
}

#[test]
fn a_message_sent_just_before_a_half_close_is_still_acknowledged() {
    // The ack waits for the message's batch to be durable; the peer's FIN
    // (arriving with the message) must not drop it.
    let server = Server::start(&[]);
    let mut bob = Client::login(server.addr(), "bob");
    let mut alice = Client::login(server.addr(), "alice");
    bob.sync();
    alice.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "last words".into(),
        cid: Some("last".into()),
    });
    alice.shutdown_write();
    alice.recv_until_within(
        Duration::from_secs(10),
        "the ack for the last message",
        |m| matches!(m, ServerMsg::Ack { cid: Some(c), .. } if c == "last"),
    );
    let m = bob.expect_message();
    assert_eq!(m.text, "last words");
}

#[test]
fn frames_and_the_close_in_one_write_are_answered_then_the_connection_closes() {
    // The server stops reading at a short read (the socket is empty), so a
    // close that came with the data raises no new event: it must still see
    // it, answer what came before it and close, never hang half-open.
    let server = Server::start(&[]);
    for i in 0..20 {
        let mut c = Client::connect(server.addr());
        let name = format!("closer{i}");
        let mut bytes = encode(&hello(&name, None, None));
        bytes.extend(encode(&ClientMsg::Ping { seq: Some(i) }));
        c.send_raw(&bytes);
        c.shutdown_write();
        c.recv_until_within(
            Duration::from_secs(10),
            "the pong",
            |m| matches!(m, ServerMsg::Pong { seq: Some(s) } if *s == i),
        );
        c.expect_closed_within(Duration::from_secs(10));
    }
}

#[test]
fn an_oversized_resume_list_is_refused_while_decoding_and_the_connection_stays_usable() {
    let server = Server::start(&[]);
    let mut c = Client::connect(server.addr());
    let rooms: Vec<String> = (0..2000).map(|i| format!("\"r{i}\"")).collect();
    let body = format!(
        r#"{{"type":"hello","version":1,"name":"mallory","resume":{{"rooms":[{}]}}}}"#,
        rooms.join(",")
    );
    c.send_body(body.as_bytes());
    let (message, _) = c.expect_error(ErrorCode::BadFrame);
    assert!(message.contains("more than 1024 rooms"), "{message}");
    // Within the decoder's bound but past the per-user cap: refused by rule.
    let rooms: Vec<String> = (0..51).map(|i| format!("\"r{i}\"")).collect();
    let body = format!(
        r#"{{"type":"hello","version":1,"name":"mallory","resume":{{"rooms":[{}]}}}}"#,
        rooms.join(",")
    );
    c.send_body(body.as_bytes());
    let (message, _) = c.expect_error(ErrorCode::Invalid);
    assert!(message.contains("at most 50"), "{message}");
    c.send(&hello("mallory", None, None));
    assert!(matches!(c.recv(), ServerMsg::Welcome { .. }));
}
