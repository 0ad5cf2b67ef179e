//! A browser gets the native limits, no more and no less (real server): its
//! frames past the message rate are held back with a `slow_down` warning
//! and none is lost, and a browser that stops reading is cut as a slow
//! consumer while everyone else keeps chatting.

mod common;
mod web_common;

use chat::protocol::{ClientMsg, ErrorCode, NoticeKind, ServerMsg};
use common::*;
use std::collections::HashSet;
use web_common::*;

#[test]
fn past_the_rate_a_browser_is_held_back_with_a_warning_and_loses_nothing() {
    let server = Server::start(&["--msg-rate", "5", "--msg-burst", "5"]);
    let mut bystander = Client::login(server.addr(), "bystander");
    let mut web = Ws::login(server.addr(), "fast");
    for i in 0..20 {
        web.send(&ClientMsg::RoomMsg {
            room: "general".into(),
            text: format!("m{i}"),
            cid: Some(format!("c{i}")),
        });
    }
    let mut acked = HashSet::new();
    let mut warned = false;
    while acked.len() < 20 {
        match web.recv_until("acks", |_| true) {
            ServerMsg::Ack { cid: Some(c), .. } => {
                acked.insert(c);
            }
            ServerMsg::Error {
                code: ErrorCode::SlowDown,
                message,
                ..
            } => {
                assert!(message.contains("none are lost"), "{message}");
                warned = true;
            }
            _ => {}
        }
    }
    assert!(warned, "no slow_down warning");
    // The bystander got all twenty, in order, and is served meanwhile.
    for i in 0..20 {
        assert_eq!(bystander.expect_message().text, format!("m{i}"));
    }
    bystander.ping(1);
}

#[test]
fn a_browser_that_stops_reading_is_cut_and_the_others_keep_chatting() {
    let server = Server::start(&["--max-outbound", "65536", "--msg-rate", "0"]);
    let _silent = Ws::login(server.addr(), "silent");
    let mut watcher = Client::login(server.addr(), "watcher");
    let mut flooder = Client::login(server.addr(), "flooder");
    watcher.expect_notice(NoticeKind::Join, "flooder", None);
    let text = "x".repeat(3000);
    let mut sent = 0;
    loop {
        assert!(sent < 5000, "the browser that never reads was not cut");
        let (id, _) = flooder.say("general", &text);
        sent += 1;
        let mut cut = false;
        loop {
            match watcher.recv_what("the flood, or silent's leave") {
                ServerMsg::Message { id: m, .. } if m == id => break,
                ServerMsg::Notice {
                    event: NoticeKind::Leave,
                    user,
                    ..
                } if user == "silent" => cut = true,
                other => panic!("{other:?}"),
            }
        }
        if cut {
            break;
        }
    }
    let (id, recipients) = flooder.say("general", "after the cut");
    assert_eq!(recipients, 1);
    assert_eq!(watcher.expect_message().id, id);
}
