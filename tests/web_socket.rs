//! The browser side of the chat port against the real server: the page and
//! its assets over HTTP with strict headers, the WebSocket speaking the
//! protocol with native clients in the same room, the `Origin` check, file
//! chunks as binary messages both ways, and hostile HTTP and WebSocket
//! input (oversized heads and messages, unmasked frames, bad methods).

mod common;
mod transfer_common;
mod web_common;

use base64::Engine;
use chat::protocol::files::TransferState;
use chat::protocol::{ClientMsg, ErrorCode, NoticeKind, ServerMsg};
use common::*;
use transfer_common::*;
use web_common::*;

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines()
        .find_map(|l| {
            l.split_once(": ")
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        })
        .map(|(_, v)| v)
}

#[test]
fn the_page_and_its_assets_are_served_with_strict_headers() {
    let server = Server::start(&[]);
    let page = get(server.addr(), "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert_eq!(
        header(&page, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&page, "Cache-Control"), Some("no-cache"));
    assert_eq!(header(&page, "X-Content-Type-Options"), Some("nosniff"));
    let csp = header(&page, "Content-Security-Policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'self'"),
        "{csp}"
    );
    let body = page.split("\r\n\r\n").nth(1).unwrap();
    assert!(!body.contains("{{"), "{body}");
    // Every script and stylesheet, by the hashed name the page gives it, cached for good;
    // the plain names are not served.
    let named: Vec<&str> = body
        .split('"')
        .filter(|s| s.starts_with('/') && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    for first_and_last in ["/util.", "/app."] {
        assert!(
            named
                .iter()
                .any(|s| s.starts_with(first_and_last) && s.ends_with(".js")),
            "the page names no {first_and_last}HASH.js: {named:?}"
        );
    }
    for path in &named {
        let (stem, rest) = path[1..].split_once('.').unwrap();
        let (hash, ext) = rest.split_once('.').unwrap();
        assert_eq!(hash.len(), 16, "{path}");
        let asset = get(server.addr(), path);
        assert!(asset.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {asset}");
        let want = if ext == "js" {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&asset, "Content-Type"), Some(want), "{path}");
        assert_eq!(
            header(&asset, "Cache-Control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        let plain = format!("/{stem}.{ext}");
        assert!(
            get(server.addr(), &plain).starts_with("HTTP/1.1 404"),
            "{plain}"
        );
    }
    assert!(get(server.addr(), "/../../etc/passwd").starts_with("HTTP/1.1 404"));
    let post = http(
        server.addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let head = http(server.addr(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
    // A native client on the same port is unaffected.
    let mut c = Client::login(server.addr(), "native");
    c.ping(1);
}

#[test]
fn a_browser_and_a_native_client_chat_in_one_room() {
    let server = Server::start(&[]);
    let mut native = Client::login(server.addr(), "native");
    let mut web = Ws::login(server.addr(), "web");
    native.expect_notice(NoticeKind::Join, "web", None);
    web.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "from the browser ✓".into(),
        cid: Some("w1".into()),
    });
    let ack = web.recv_until("ack", |m| matches!(m, ServerMsg::Ack { .. }));
    let m = native.expect_message();
    assert_eq!(m.text, "from the browser ✓");
    assert!(matches!(ack, ServerMsg::Ack { id, recipients: 1, .. } if id == m.id));
    let (id, _) = native.say("general", "from the terminal");
    let got = web.recv_until("message", |m| matches!(m, ServerMsg::Message { .. }));
    assert!(
        matches!(got, ServerMsg::Message { id: i, ref text, .. } if i == id && text == "from the terminal")
    );
    // Errors answer frames as on a native connection.
    web.send_text(r#"{"type":"leave","room":"nowhere"}"#);
    let e = web.recv_until("error", |m| matches!(m, ServerMsg::Error { .. }));
    assert!(
        matches!(
            e,
            ServerMsg::Error {
                code: ErrorCode::UnknownRoom,
                ..
            }
        ),
        "{e:?}"
    );
    web.send_text("not json");
    let e = web.recv_until("bad_frame", |m| matches!(m, ServerMsg::Error { .. }));
    assert!(
        matches!(
            e,
            ServerMsg::Error {
                code: ErrorCode::BadFrame,
                ..
            }
        ),
        "{e:?}"
    );
    web.sync(5);
    // A logout ends with bye and a close frame.
    web.send(&ClientMsg::Logout {});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    assert!(matches!(
        web.read(deadline),
        WsRecv::Frame(ServerMsg::Bye { .. })
    ));
    match web.read(deadline) {
        WsRecv::Closed(how) => assert!(how.starts_with("close frame"), "{how}"),
        other => panic!("expected a close frame after bye, got {other:?}"),
    }
    native.expect_notice(NoticeKind::Leave, "web", None);
}

#[test]
fn only_the_pages_own_origin_or_a_listed_one_may_open_the_socket() {
    let server = Server::start(&["--http-origin", "https://chat.example.org"]);
    let addr = server.addr();
    let refused = Ws::try_open(addr, Some("http://evil.example"))
        .err()
        .expect("refused");
    assert!(refused.starts_with("403"), "{refused}");
    assert!(
        refused.contains("--http-origin http://evil.example"),
        "{refused}"
    );
    assert!(Ws::try_open(addr, Some("null")).is_err());
    Ws::try_open(addr, Some(&format!("http://{addr}"))).expect("same origin");
    Ws::try_open(addr, Some("https://chat.example.org")).expect("listed origin");
    Ws::try_open(addr, None).expect("no Origin: not a browser");
    let plain = get(addr, "/ws");
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
}

#[test]
fn file_chunks_cross_as_binary_messages_both_ways() {
    let server = Server::start(&[]);
    let mut native = Client::login(server.addr(), "native");
    let mut web = Ws::login(server.addr(), "web");
    let bytes = data(200_000, 9);
    // Browser to terminal: binary messages in, native chunks out.
    web.send(&ClientMsg::FileOffer {
        to: "native".into(),
        name: "up.bin".into(),
        size: bytes.len() as u64,
        sha256: sha(&bytes),
        cid: Some("f".into()),
    });
    let s = expect_state(&mut native, TransferState::Pending);
    native.send(&ClientMsg::FileAccept {
        id: s.id,
        offset: 0,
        prefix_sha256: None,
    });
    native.send(&ClientMsg::FileCredit {
        id: s.id,
        bytes: 1 << 20,
    });
    web.recv_until("credit", |m| matches!(m, ServerMsg::FileCredit { .. }));
    for (i, c) in bytes.chunks(CHUNK).enumerate() {
        web.send_chunk(s.id, (i * CHUNK) as u64, c);
    }
    let mut got = Vec::new();
    while got.len() < bytes.len() {
        if let ServerMsg::FileChunk { offset, data, .. } = native.recv_what("a chunk") {
            assert_eq!(offset as usize, got.len());
            got.extend(B64.decode(data).unwrap());
        }
    }
    assert_eq!(sha(&got), sha(&bytes));
    native.send(&ClientMsg::FileDone { id: s.id });
    web.recv_until("completed", |m| {
        as_state(m).is_some_and(|s| s.state == TransferState::Completed)
    });
    // Terminal to browser: native chunks in, binary messages out.
    let id = {
        native.send(&ClientMsg::FileOffer {
            to: "web".into(),
            name: "down.bin".into(),
            size: bytes.len() as u64,
            sha256: sha(&bytes),
            cid: None,
        });
        let st = web.recv_until("offer", |m| {
            as_state(m).is_some_and(|s| s.state == TransferState::Pending)
        });
        as_state(&st).unwrap().id
    };
    web.send(&ClientMsg::FileAccept {
        id,
        offset: 0,
        prefix_sha256: None,
    });
    web.send(&ClientMsg::FileCredit { id, bytes: 1 << 20 });
    expect_credit(&mut native, id);
    for (i, c) in bytes.chunks(CHUNK).enumerate() {
        native.send(&chunk(id, (i * CHUNK) as u64, c));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < bytes.len() {
        match web.read(deadline) {
            WsRecv::Chunk(i, off, d) => {
                assert_eq!((i, off as usize), (id, got.len()));
                got.extend(d);
            }
            WsRecv::Frame(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sha(&got), sha(&bytes));
}

#[test]
fn hostile_http_and_websocket_input_gets_an_answer_and_a_close() {
    let server = Server::start(&["--max-frame", "4096"]);
    let addr = server.addr();
    // A head past 8 KiB.
    let mut big = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10_000));
    big.extend(b"\r\n\r\n");
    let r = http(addr, &big);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    // Not HTTP after all.
    let r = http(addr, b"GET\x00\x01 garbage\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // A message over --max-frame closes the socket; nobody else notices.
    let mut watcher = Client::login(addr, "watcher");
    let mut web = Ws::login(addr, "big");
    web.ws
        .send(tungstenite::Message::text("x".repeat(5000)))
        .expect("send");
    web.expect_closed();
    watcher.expect_notice(NoticeKind::Leave, "big", None);
    // A binary message too short to be a chunk.
    let mut web = Ws::login(addr, "short");
    web.ws
        .send(tungstenite::Message::binary(vec![1, 2, 3]))
        .expect("send");
    web.expect_closed();
    watcher.ping(9);
}

/// Many frames in one write: the server decodes 32 a turn and the WebSocket
/// reads in 4 KiB chunks that end inside frames; nothing may wait for more
/// input to arrive (the pong after the burst comes, every ack before it).
#[test]
fn a_burst_of_frames_in_one_write_is_answered_without_waiting_for_more_input() {
    let server = Server::start(&["--msg-rate", "0"]);
    let mut web = Ws::login(server.addr(), "burst");
    for i in 0..300 {
        let text = format!(
            r#"{{"type":"room_msg","room":"general","text":"{i} {}","cid":"b{i}"}}"#,
            "x".repeat(i % 97)
        );
        web.ws.write(tungstenite::Message::text(text)).unwrap();
    }
    web.ws
        .write(tungstenite::Message::text(r#"{"type":"ping","seq":4242}"#))
        .unwrap();
    web.ws.flush().unwrap();
    let mut acks = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match web.read(deadline) {
            WsRecv::Frame(ServerMsg::Ack { .. }) => acks += 1,
            WsRecv::Frame(ServerMsg::Pong { seq: Some(4242) }) => break,
            WsRecv::Frame(_) => {}
            other => panic!("after {acks} acks: {other:?}"),
        }
    }
    assert_eq!(acks, 300);
}
