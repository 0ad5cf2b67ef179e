//! TLS against the real server, with a certificate made for the test: chat
//! and a file transfer through a rustls client, and the wrong protocol on a
//! port (plaintext to TLS and TLS to plaintext) answered with a clear error
//! rather than a hang.

mod common;
mod security_common;
mod transfer_common;

use chat::protocol::files::TransferState as S;
use chat::protocol::{decode_frame, ClientMsg, ErrorCode, NoticeKind, ServerMsg};
use common::*;
use security_common::*;
use std::io::{Read, Write};
use std::time::Duration;
use transfer_common::*;

fn tls_server(certs: &Certs) -> Server {
    let args = certs.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args)
}

#[test]
fn chat_and_a_file_transfer_over_tls() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let proxy = TlsProxy::start(server.addr(), certs.client_config());
    let mut alice = Client::login(proxy.addr(), "alice");
    let mut bob = Client::login(proxy.addr(), "bob");
    alice.expect_notice(NoticeKind::Join, "bob", None);
    let (id, recipients) = alice.say("general", "over TLS");
    assert_eq!(recipients, 1);
    let m = bob.expect_message();
    assert_eq!((m.id, m.text.as_str()), (id, "over TLS"));
    bob.dm("alice", "private, and encrypted");
    assert_eq!(alice.expect_message().text, "private, and encrypted");

    // 1 MiB and a bit, in 64 KiB chunks under a 256 KiB window.
    let file = data(1024 * 1024 + 4321, 7);
    let tid = offer(&mut alice, &mut bob, "bob", "secret.bin", &file);
    bob.send(&ClientMsg::FileAccept {
        id: tid,
        offset: 0,
        prefix_sha256: None,
    });
    bob.send(&ClientMsg::FileCredit {
        id: tid,
        bytes: 256 * 1024,
    });
    expect_state(&mut alice, S::InProgress);
    expect_state(&mut bob, S::InProgress);
    let got = relay(&mut alice, &mut bob, tid, &file, 0, None);
    assert_eq!(sha(&got), sha(&file), "every byte arrived intact");
    bob.send(&ClientMsg::FileDone { id: tid });
    expect_state(&mut alice, S::Completed);
    expect_state(&mut bob, S::Completed);
    // Chat still flows afterwards.
    alice.ping(9);
    bob.say("general", "got it");
    assert_eq!(alice.expect_message().text, "got it");
}

#[test]
fn nothing_readable_goes_over_the_wire() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let Handshake::Done(mut tls, mut tcp) = handshake(server.addr(), certs.client_config()) else {
        panic!("handshake failed");
    };
    // Write a hello with a recognisable name through the session by hand and
    // check the ciphertext on the wire does not contain it.
    let hello = chat::protocol::encode(&hello("plaintextname", None, None));
    tls.writer().write_all(&hello).unwrap();
    let mut wire = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut wire).unwrap();
    }
    assert!(!wire
        .windows(b"plaintextname".len())
        .any(|w| w == b"plaintextname"));
    tcp.write_all(&wire).unwrap();
    // The server answers welcome, encrypted.
    let mut plain = Vec::new();
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        assert!(std::time::Instant::now() < deadline, "no welcome over TLS");
        let mut buf = [0u8; 4096];
        match tcp.read(&mut buf) {
            Ok(0) => panic!("closed"),
            Ok(n) => {
                assert!(!buf[..n].windows(7).any(|w| w == b"welcome"));
                tls.read_tls(&mut &buf[..n]).unwrap();
                tls.process_new_packets().unwrap();
                let mut p = [0u8; 4096];
                while let Ok(k) = tls.reader().read(&mut p) {
                    if k == 0 {
                        break;
                    }
                    plain.extend_from_slice(&p[..k]);
                }
                if let Ok(Some(d)) = decode_frame::<ServerMsg>(&plain, 1 << 20) {
                    assert!(matches!(d.frame, Ok(ServerMsg::Welcome { .. })));
                    break;
                }
            }
            Err(_) => {}
        }
    }
}

#[test]
fn a_plaintext_client_on_the_tls_port_gets_a_plaintext_error() {
    let certs = Certs::new();
    let server = tls_server(&certs);
    let mut c = Client::connect(server.addr());
    c.name = "plain".into();
    c.send(&hello("alice", None, None));
    let frames = c.expect_closed();
    match frames.as_slice() {
        [ServerMsg::Error { code, message, .. }] => {
            assert_eq!(*code, ErrorCode::TlsRequired);
            assert!(message.contains("--tls"), "{message}");
        }
        other => panic!("expected tls_required then a close, got {other:?}"),
    }
    assert!(
        server.log().contains("plaintext client on the TLS port"),
        "the server says why in its log"
    );
    // TLS clients are unaffected.
    let proxy = TlsProxy::start(server.addr(), certs.client_config());
    Client::login(proxy.addr(), "alice").ping(1);
}

#[test]
fn a_tls_client_on_a_plaintext_port_gets_a_clear_error() {
    let certs = Certs::new();
    let server = Server::start(&[]);
    match handshake(server.addr(), certs.client_config()) {
        Handshake::Done(..) => panic!("a plaintext server completed a TLS handshake"),
        Handshake::Failed { raw, error } => {
            // What came back is a plaintext frame saying so, then the close.
            let d = decode_frame::<ServerMsg>(&raw, 1 << 20)
                .unwrap_or_else(|e| panic!("not a frame ({e}); rustls said {error}"))
                .unwrap_or_else(|| panic!("partial frame {raw:?}; rustls said {error}"));
            match d.frame.unwrap() {
                ServerMsg::Error { code, message, .. } => {
                    assert_eq!(code, ErrorCode::TlsNotSupported);
                    assert!(message.contains("without --tls"), "{message}");
                }
                other => panic!("expected tls_not_supported, got {other:?}"),
            }
        }
    }
    assert!(server.log().contains("TLS handshake on a plaintext port"));
    // Plain clients are unaffected.
    Client::login(server.addr(), "alice").ping(1);
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_the_handshake() {
    let certs = Certs::new();
    let other = Certs::new();
    let server = tls_server(&certs);
    match handshake(server.addr(), other.client_config()) {
        Handshake::Done(..) => panic!("handshake with an untrusted certificate succeeded"),
        Handshake::Failed { error, .. } => {
            assert!(error.to_lowercase().contains("certificate"), "{error}")
        }
    }
    // The server carries on.
    let proxy = TlsProxy::start(server.addr(), certs.client_config());
    let mut a = Client::login(proxy.addr(), "alice");
    a.ping(1);
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn a_tls_server_refuses_bad_files_with_a_clear_message() {
    let certs = Certs::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--port", "0", "--tls-cert"])
        .arg(&certs.key) // a key where the certificate should be
        .arg("--tls-key")
        .arg(&certs.key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no PEM certificate"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--port", "0", "--tls-cert"])
        .arg(&certs.cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert and --tls-key go together"),
        "{err}"
    );
}
