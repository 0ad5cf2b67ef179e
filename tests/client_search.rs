//! `/search` end to end through real `chat-client` processes: hits newest
//! first in the rooms and chats the user may read, paging back with the
//! same search, a scope, and refusals said in a sentence.

mod common;

use common::{chat_login, Server};

#[test]
fn search_finds_what_you_may_read_and_pages_back() {
    let server = Server::start(&["--msg-rate", "0"]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");
    alice.send_line("/create ops");
    alice.wait("you joined #ops");
    alice.send_line("the deploy is secret");
    alice.wait("sent to #ops");
    alice.send_line("/switch general");
    for i in 1..=25 {
        alice.send_line(&format!("deploy number {i}"));
        alice.wait(&format!("#{} sent to #general", i + 1));
    }
    // bob is not in #ops: he finds only #general's, newest first, 20 at a time.
    bob.send_line("/search deploy");
    bob.wait("-- search \"deploy\": 20 hit(s), newest first");
    bob.wait("<alice> deploy number 25");
    bob.wait("-- older hits: /search again");
    bob.send_line("/search deploy");
    bob.wait("-- search \"deploy\": 5 hit(s), newest first");
    bob.wait("<alice> deploy number 1");
    assert!(
        !bob.lines().iter().any(|l| l.contains("secret")),
        "{}",
        bob.transcript()
    );
    bob.send_line("/search deploy #ops");
    bob.wait("error: you are not in #ops; join it to search it");
    // alice, in both rooms, finds #ops's too; a scope narrows it.
    alice.send_line("/search deploy secret");
    alice.wait("-- search \"deploy secret\": 1 hit(s), newest first");
    alice.wait("#ops <alice> the deploy is secret");
    alice.send_line("/search number 7 #general");
    alice.wait("<alice> deploy number 7");
    alice.send_line("/search");
    alice.wait("usage: /search TEXT [#ROOM|@NAME]");
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
}
