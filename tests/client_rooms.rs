//! End to end through real `chat-client` processes (scripted mode, stdin piped): several
//! people chatting in rooms, room isolation, the room commands and presence.
//!
//! Every step synchronises on a printed line (`wait`, with a deadline); negative checks are
//! ordering checks (`assert_absent_before`) and barriers (`assert_absent_before_sync`: the
//! answer to a fresh `/rooms`), never "nothing printed within N ms".

mod common;

use common::{chat_login, Server};

#[test]
fn three_clients_chat_in_a_room() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");
    bob.wait("* carol joined #general");

    alice.send_line("hello everyone");
    bob.wait("#general <alice> hello everyone");
    carol.wait("#general <alice> hello everyone");
    alice.wait("sent to #general");

    bob.send_line("hi alice");
    alice.wait("#general <bob> hi alice");
    carol.wait("#general <bob> hi alice");

    carol.send_line("hey both");
    alice.wait("#general <carol> hey both");
    bob.wait("#general <carol> hey both");

    // Carol leaves by ending her script: the others see it, and she exits 0.
    assert!(carol.finish().success(), "{}", carol.transcript());
    alice.wait("* carol left #general");
    bob.wait("* carol left #general");
    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());

    // Nobody got their own message echoed back as a message line (checked once they have
    // exited, so every line they ever printed is in).
    for (c, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        let own = format!("<{name}>");
        assert!(
            !c.lines().iter().any(|l| l.contains(&own)),
            "{name} saw an echo of their own message\n{}",
            c.transcript()
        );
    }
}

#[test]
fn a_client_not_in_a_room_never_sees_its_messages() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    let mut carol = chat_login(addr, "carol", &[]);
    alice.wait("* carol joined #general");

    alice.send_line("/join #dev");
    alice.wait("* you joined #dev (members: alice) [new room]");
    bob.send_line("/join dev");
    bob.wait("* you joined #dev (members: alice, bob)");
    alice.wait("* bob joined #dev");

    // /join made #dev current: plain text goes there.
    alice.send_line("dev only: the build is red");
    bob.wait("#dev <alice> dev only: the build is red");
    bob.send_line("dev only: on it");
    alice.wait("#dev <bob> dev only: on it");

    // Back in #general, a message everyone sees.
    alice.send_line("/switch #general");
    alice.wait("* now talking in #general");
    alice.send_line("lunch at noon?");
    carol.wait("#general <alice> lunch at noon?");
    bob.wait("#general <alice> lunch at noon?");

    // The server sends in order, so carol would have printed the #dev lines before this one.
    carol.assert_absent_before("dev only", "lunch at noon?");
    carol.assert_absent_before("#dev", "lunch at noon?");
    carol.assert_absent_before_sync("dev only");
    carol.assert_absent_before_sync("#dev");
}

#[test]
fn join_create_leave_switch_rooms_users() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");

    // /create: a new room, made current.
    alice.send_line("/create ops");
    alice.wait("* you joined #ops (members: alice) [new room]");
    // /create of an existing room is an error; bob stays where he was.
    bob.send_line("/create #ops");
    bob.wait("error: room #ops already exists; use /join ops");
    bob.send_line("/join ops");
    bob.wait("* you joined #ops (members: alice, bob)");
    alice.wait("* bob joined #ops");

    // /rooms with member counts, /users with status and rooms.
    bob.send_line("/rooms");
    bob.wait("* rooms: #general (2 members), #ops (2 members)");
    bob.send_line("/users");
    bob.wait("* users online: alice (online; #general #ops), bob (online; #general #ops)");

    // /leave without an argument leaves the current room and falls back to another one.
    bob.send_line("/leave");
    bob.wait("* you left #ops");
    bob.wait("* now talking in #general");
    alice.wait("* bob left #ops");
    bob.send_line("/rooms");
    bob.wait("* rooms: #general (2 members), #ops (1 member)");

    // /switch only to a joined room.
    bob.send_line("/switch ops");
    bob.wait("error: you are not in #ops; /join ops first");
    bob.send_line("/leave #ops");
    bob.wait("error: you are not in #ops");

    // Joining a second room then switching back: text follows the current room.
    bob.send_line("/join #dev");
    bob.wait("* you joined #dev (members: bob) [new room]");
    bob.send_line("/switch general");
    bob.wait("* now talking in #general");
    bob.send_line("back in general");
    alice.wait("#general <bob> back in general");

    alice.send_line("/leave ops");
    alice.wait("* you left #ops");
    alice.send_line("/rooms");
    // #ops disappeared with its last member.
    alice.wait("* rooms: #dev (1 member), #general (2 members)");
    alice.send_line("/users");
    alice.wait("* users online: alice (online; #general), bob (online; #dev #general)");

    assert!(alice.finish().success(), "{}", alice.transcript());
    assert!(bob.finish().success(), "{}", bob.transcript());
}

#[test]
fn status_is_seen_by_room_sharers_only() {
    let server = Server::start(&[]);
    let addr = server.addr();
    let mut alice = chat_login(addr, "alice", &[]);
    let mut bob = chat_login(addr, "bob", &[]);
    alice.wait("* bob joined #general");
    // carol shares no room with alice.
    let mut carol = chat_login(addr, "carol", &["--room", "#elsewhere"]);

    // alice and bob share two rooms: still one notice each.
    alice.send_line("/join dev");
    alice.wait("* you joined #dev");
    bob.send_line("/join dev");
    alice.wait("* bob joined #dev");

    alice.send_line("/status away");
    alice.wait("* alice is now away");
    bob.wait("* alice is now away");
    bob.send_line("/users");
    bob.wait("alice (away; #dev #general)");
    // The /users answer came after every notice of that status change.
    let notices = |c: &common::ChatClient| {
        c.lines()
            .iter()
            .filter(|l| l.contains("alice is now away"))
            .count()
    };
    assert_eq!(notices(&bob), 1, "{}", bob.transcript());
    alice.send_line("/rooms");
    alice.wait("* rooms:");
    assert_eq!(notices(&alice), 1, "{}", alice.transcript());

    // A later event carol does get proves the status notice was never queued for her.
    bob.send_line("/join elsewhere");
    carol.wait("* bob joined #elsewhere");
    carol.assert_absent_before("is now away", "bob joined #elsewhere");
    carol.assert_absent_before_sync("is now away");

    // Now bob shares a room with carol: his status reaches her (and alice).
    bob.send_line("/status busy");
    bob.wait("* bob is now busy");
    carol.wait("* bob is now busy");
    alice.wait("* bob is now busy");
}
