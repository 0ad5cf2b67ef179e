//! On a TLS port the page and the WebSocket travel inside TLS (https://,
//! wss://), on the same port as native TLS clients: through a local TLS
//! tunnel, the page is served and a browser-style WebSocket client chats
//! with a native client.

mod common;
mod security_common;
mod web_common;

use chat::protocol::{ClientMsg, NoticeKind, ServerMsg};
use common::*;
use security_common::*;
use web_common::*;

#[test]
fn the_page_and_the_websocket_work_inside_tls() {
    let certs = Certs::new();
    let args = certs.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let tunnel = TlsProxy::start(server.addr(), certs.client_config());
    let page = get(tunnel.addr(), "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    // A plaintext browser on the TLS port gets no page.
    let plain = get(server.addr(), "/");
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    let mut native = Client::login(tunnel.addr(), "native");
    let mut web = Ws::login(tunnel.addr(), "web");
    native.expect_notice(NoticeKind::Join, "web", None);
    web.send(&ClientMsg::RoomMsg {
        room: "general".into(),
        text: "over wss".into(),
        cid: Some("t".into()),
    });
    web.recv_until("ack", |m| matches!(m, ServerMsg::Ack { .. }));
    assert_eq!(native.expect_message().text, "over wss");
}
