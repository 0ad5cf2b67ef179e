//! `/away` and `/topic` end to end through real `chat-client` processes:
//! an away message answers a private message once, and a topic set in a
//! room reaches its members and whoever joins later, after a restart too.

mod common;

use common::{chat_login, Server};

#[test]
fn away_answers_a_private_message_once_and_topics_reach_the_room() {
    let mut server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");
    bob.send_line("/away at lunch until 2");
    alice.wait("bob is now away");
    alice.send_line("/msg bob are you there?");
    alice.wait("bob is away: at lunch until 2");
    alice.send_line("/msg bob hello?");
    alice.wait("sent to bob");
    bob.send_line("/away");
    alice.wait("bob is now online");
    assert_eq!(
        alice
            .lines()
            .iter()
            .filter(|l| l.contains("bob is away:"))
            .count(),
        1,
        "{}",
        alice.transcript()
    );
    alice.send_line("/topic release on friday");
    bob.wait("* topic of #general: release on friday (set by alice)");
    bob.send_line("/topic");
    bob.wait("topic of #general: release on friday (set by alice)");
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
    server.restart();
    let mut carol = chat_login(addr, "carol", &[]);
    carol.wait("* topic of #general: release on friday (set by alice)");
    assert!(carol.finish().success(), "{}", carol.transcript());
}
