//! The server's log against hostile client strings, on the real server at
//! `--log-level debug`: what a client sends (an undecodable frame's text in
//! serde's error, a bad frame's type, a close reason) reaches the log
//! escaped and bounded, so no client can forge a log line, repaint the
//! operator's terminal or write a megabyte into one line.

mod common;

use common::*;

#[test]
fn undecodable_frames_reach_the_log_escaped_and_bounded() {
    let server = Server::start(&["--log-level", "debug"]);
    let mut c = Client::connect(server.addr());
    // An unknown type holding a terminal escape and a forged log line.
    c.send_raw(&frame_body(
        br#"{"type":"\u001b[2J\n12:00:00 [INFO] conn 9: admin logged in"}"#,
    ));
    // A known type with a field of the wrong kind quoting 50 KB of text.
    let long = format!(
        r#"{{"type":"ping","seq":"{}\u001b]0;pwned\u0007"}}"#,
        "x".repeat(50_000)
    );
    c.send_raw(&frame_body(long.as_bytes()));
    // A barrier: both were handled.
    c.ping(7);
    let log = server.log();
    assert!(log.contains("bad frame"), "{log}");
    assert!(!log.contains('\u{1b}'), "a raw escape in the log: {log}");
    assert!(!log.contains('\u{7}'), "a raw bell in the log: {log}");
    assert!(
        !log.lines().any(|l| l.starts_with("12:00:00 [INFO] conn 9")),
        "a forged line: {log}"
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a log line of {longest} bytes");
}
