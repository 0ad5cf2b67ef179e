//! A burst past `--max-outbound` does not cut off a client that reads: the
//! verdict is whether its socket takes bytes (docs/PROTOCOL.md
//! "Disconnects and slow consumers"). The clients that never read are in
//! protocol_robustness.rs.

mod common;

use chat::protocol::{encode, ByeCode, ClientMsg, NoticeKind, ServerMsg};
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The limit under test (twice it is the hard cap), and a burst of
/// messages of 3,000 characters whose copies for one member are past it
/// even after the socket buffers on both sides (up to the 4 MiB of Linux's
/// default `tcp_wmem` on the server's side) took what they could.
const LIMIT: usize = 8 << 20;
const TEXT: usize = 3_000;
const BURST: usize = 5_000;

/// A server with the limit, a member named `name` and the flooder, who
/// has seen it join.
fn room_of_two(name: &str) -> (Server, Client, Client) {
    let server = Server::start(&["--max-outbound", &LIMIT.to_string(), "--msg-rate", "0"]);
    let member = Client::login(server.addr(), name);
    let mut flooder = Client::login(server.addr(), "flooder");
    flooder.ping(1);
    (server, member, flooder)
}

/// The burst, written at once; back when every message is acknowledged
/// (the members' copies were released in the same turns as the acks).
fn flood(flooder: &mut Client) {
    let frame = encode(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "x".repeat(TEXT),
        cid: None,
    });
    flooder
        .writer()
        .write_all(&frame.repeat(BURST))
        .expect("burst write");
    for _ in 0..BURST {
        flooder.expect_ack(None);
    }
}

#[test]
fn a_reader_that_reads_slowly_during_a_burst_past_the_limit_keeps_its_connection() {
    let (_server, mut reader, mut flooder) = room_of_two("reader");
    reader.expect_notice(NoticeKind::Join, "flooder", None);

    // The reader takes a message every 20 ms while the burst is sent,
    // stored and queued for it (its queue passes the limit: the server
    // used to cut it off there), then everything.
    let acked = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&acked);
    let reading = thread::spawn(move || {
        for i in 0..BURST {
            if !done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            match reader.recv_what("a message of the burst") {
                ServerMsg::Message { from, text, .. } if from == "flooder" => {
                    assert_eq!(text.len(), TEXT, "message {i}")
                }
                other => panic!("message {i} of {BURST}: the reader got {other:?}"),
            }
        }
        // Still connected: a round trip after the burst.
        reader.ping(1);
    });
    flood(&mut flooder);
    acked.store(true, Ordering::SeqCst);
    reading
        .join()
        .expect("the reader got every message and a pong");
}

#[test]
fn a_client_that_stops_reading_past_the_limit_is_disconnected_without_more_traffic() {
    let (_server, mut stuck, mut flooder) = room_of_two("stuck");
    stuck.expect_notice(NoticeKind::Join, "flooder", None);

    // Its queue ends past the limit and under twice it; then nothing more
    // is sent to it. Its socket takes nothing for 2 s: it is cut off.
    flood(&mut flooder);
    flooder.expect_notice(NoticeKind::Leave, "stuck", None);
    // What it reads now ends with the reason.
    let frames = stuck.expect_closed_within(Duration::from_secs(30));
    assert!(
        matches!(
            frames.last(),
            Some(ServerMsg::Bye {
                code: ByeCode::SlowConsumer,
                ..
            })
        ),
        "the last frame was not bye{{slow_consumer}}: {:?}",
        frames.last()
    );
}
