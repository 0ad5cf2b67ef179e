//! End to end through real `chat-client` processes: private messages, typing indicators and
//! receipts (sent -> delivered -> read) as the client prints them.

mod common;

use common::{chat_login, ChatClient, Server};

/// The message id in a delivery line such as `✓ #18 sent to #demo2` (`18`).
fn msg_id(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix('#')?.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no #id in {line:?}"))
}

#[test]
fn private_messages_reach_only_the_recipient() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");

    alice.send_line("/msg bob psst, the password is swordfish");
    bob.wait("private <alice> psst, the password is swordfish");
    alice.wait("sent to bob");
    bob.send_line("/msg alice got it");
    alice.wait("private <bob> got it");

    // Something carol does get, sent after the DM: nothing private may precede it.
    alice.send_line("public announcement");
    carol.wait("#general <alice> public announcement");
    carol.assert_absent_before("swordfish", "public announcement");
    carol.assert_absent_before("private", "public announcement");
    carol.assert_absent_before_sync("swordfish");
    carol.assert_absent_before_sync("got it");

    // An unknown recipient is an error line, and the client carries on.
    alice.send_line("/msg zed are you there?");
    alice.wait("error: no user named \"zed\"");
    alice.send_line("/msg bob still here");
    bob.wait("private <alice> still here");
    assert!(alice.finish().success(), "{}", alice.transcript());
}

#[test]
fn typing_on_and_off_is_shown_to_the_others() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    alice.send_line("/typing on");
    bob.wait("alice is typing... (#general)");
    alice.send_line("/typing off");
    bob.wait("alice stopped typing (#general)");

    // Sending a message ends typing too; the message line stands for it.
    alice.send_line("/typing on");
    bob.wait("alice is typing... (#general)");
    alice.send_line("done typing");
    bob.wait("#general <alice> done typing");
    // The typist never sees their own indicator (bob saw the last of it, so anything for
    // alice would come before the answer to her next request).
    alice.assert_absent_before_sync("typing");
}

#[test]
fn typing_expires_on_the_server_without_a_stop() {
    let server = Server::start(&["--typing-timeout", "1"]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    // bob prints JSON, which says whether the stop came from the server (`expired:false`) or
    // from the client's own (longer, 6 s) expiry.
    let mut bob = ChatClient::spawn(addr, "bob", &["--json"]);
    bob.wait(r#""event":"joined""#);
    alice.wait("* bob joined #general");
    // carol shows the plain text lines.
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");

    alice.send_line("/typing on");
    carol.wait("alice is typing... (#general)");
    let on = bob.wait(r#""event":"typing""#);
    assert!(on.contains(r#""active":true"#), "{on}");
    // alice stays connected and silent: only the server's timeout can end it.
    let off = bob.wait(r#""event":"typing""#);
    assert!(off.contains(r#""active":false"#), "{off}");
    assert!(
        off.contains(r#""expired":false"#),
        "stop should come from the server: {off}"
    );
    assert!(off.contains(r#""from":"alice""#) && off.contains(r#""room":"general""#));
    carol.wait("alice stopped typing (#general)");
    // Still connected: alice can go on.
    alice.send_line("still here");
    bob.wait("still here");
}

#[test]
fn room_message_is_read_by_everyone_after_their_next_command() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");

    alice.send_line("please read this");
    let sent = alice.wait("sent to #general");
    let id = msg_id(&sent);
    assert!(sent.starts_with("✓ #"), "{sent}");
    bob.wait("#general <alice> please read this");
    carol.wait("#general <alice> please read this");
    // Both clients report delivery on receipt, on their own.
    let delivered = alice.wait("delivered to 2 of 2 in #general");
    assert_eq!(msg_id(&delivered), id, "{delivered}");
    // Displayed is not read yet: nobody has run another command. (Both clients' delivered
    // receipts have been processed; alice's barrier marks nothing of bob's or carol's read.)
    alice.assert_absent_before_sync("read by");

    bob.send_line("/rooms");
    bob.wait("* rooms:");
    let one = alice.wait("read by 1 of 2 in #general");
    assert_eq!(msg_id(&one), id, "{one}");
    carol.send_line("/users");
    carol.wait("* users online:");
    let both = alice.wait("read by 2 of 2 in #general");
    assert_eq!(msg_id(&both), id, "{both}");
    assert!(both.starts_with("✓✓ #"), "{both}");
}

#[test]
fn private_message_goes_sent_delivered_read() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    alice.send_line("/msg bob did you get this?");
    // In this order, each state once (`wait` scans forward only).
    let sent = alice.wait("sent to bob");
    let id = msg_id(&sent);
    assert_eq!(sent, format!("✓ #{id} sent to bob"));
    bob.wait("private <alice> did you get this?");
    let delivered = alice.wait("delivered to bob");
    assert_eq!(delivered, format!("✓✓ #{id} delivered to bob"));
    alice.assert_absent_before_sync("read by bob");
    // bob's next command marks it read.
    bob.send_line("/rooms");
    bob.wait("* rooms:");
    let read = alice.wait("read by bob");
    assert_eq!(read, format!("✓✓ #{id} read by bob"));

    // And the other way round: alice's next command marks bob's reply read.
    bob.send_line("/msg alice yes");
    alice.wait("private <bob> yes");
    bob.wait("delivered to alice");
    alice.send_line("/rooms");
    let back = bob.wait("read by alice");
    assert!(back.starts_with("✓✓ #"), "{back}");
}

#[test]
fn a_delivered_receipt_held_by_its_pause_goes_when_the_pause_ends() {
    // chat-client acknowledges at most once per 200 ms: bob's client
    // acknowledges the first message at once, the second (arriving within
    // the pause) when the pause ends, with no other frame to wake it.
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    alice.send_line("/msg bob one");
    let first = msg_id(&alice.wait("sent to bob"));
    bob.wait("private <alice> one");
    let delivered = alice.wait("delivered to bob");
    assert_eq!(msg_id(&delivered), first, "{delivered}");
    alice.send_line("/msg bob two");
    let second = msg_id(&alice.wait("sent to bob"));
    bob.wait("private <alice> two");
    let delivered = alice.wait("delivered to bob");
    assert_eq!(msg_id(&delivered), second, "{delivered}");
}
