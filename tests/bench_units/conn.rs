//! The load generator's client connection ([`Conn`]) against a local
//! socket: reads that come with the peer's close, and a partial frame kept
//! across reads.

use chat::bench::net::{Conn, ReadEnd};
use chat::bench::wire;
use chat::protocol::{encode, ServerMsg};
use mio::{Events, Interest, Poll, Token};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A [`Conn`] to a local peer, registered for readability, and the
/// peer's end.
fn conn_and_peer() -> (Conn, Poll, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = Conn::connect(listener.local_addr().unwrap()).unwrap();
    let poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut c.stream, Token(0), Interest::READABLE)
        .unwrap();
    let (peer, _) = listener.accept().unwrap();
    (c, poll, peer)
}

/// Wait, without reading, until readiness reports the peer's close: by
/// then whatever the peer sent before closing is in the socket too.
fn wait_for_close(poll: &mut Poll, events: &mut Events) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        poll.poll(events, Some(Duration::from_secs(1))).unwrap();
        if events.iter().any(|e| e.is_read_closed()) {
            return;
        }
        assert!(Instant::now() < deadline, "no readiness reported the close");
    }
}

/// Frames out of `data` into `bodies`; the bytes they took.
fn take_frames(bodies: &mut Vec<Vec<u8>>, data: &[u8]) -> usize {
    let mut off = 0;
    while let Some((body, used)) = wire::split_frame(&data[off..], 1000).unwrap() {
        bodies.push(body.to_vec());
        off += used;
    }
    off
}

/// A peer that writes its last bytes and closes at once: the data and
/// the FIN are both waiting when the (edge-triggered) readiness is
/// handled, and no later event comes, so that one read must hand over
/// the data and report the close. (A read that stopped at the short
/// read of the data left the close unseen until some deadline.)
#[test]
fn conn_read_sees_the_close_that_came_with_the_data() {
    let (mut c, mut poll, mut peer) = conn_and_peer();
    let mut sent = encode(&ServerMsg::Pong { seq: Some(7) });
    sent.extend_from_slice(b"and a partial fr");
    peer.write_all(&sent).unwrap();
    drop(peer);
    let mut events = Events::with_capacity(8);
    wait_for_close(&mut poll, &mut events);

    let (mut scratch, epoch) = (Vec::new(), Instant::now());
    let mut got = Vec::new();
    let end = c
        .read(&mut scratch, epoch, |data, _| {
            got.extend_from_slice(data);
            data.len()
        })
        .unwrap();
    assert_eq!(got, sent);
    assert_eq!(end, ReadEnd::Eof, "the close came with the data");
    assert!(c.is_eof());
    // Nothing new happens on the socket, so no new readiness would come.
    poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
    assert!(events.is_empty());
    // The close stays recorded.
    let again = c
        .read(&mut scratch, epoch, |_, _| panic!("bytes after the close"))
        .unwrap();
    assert_eq!(again, ReadEnd::Eof);
}

/// The same with a frame cut in two by the peer's writes: the half the
/// callback leaves is handed over again with the rest, and the close
/// that came with the rest still shows, after the data.
#[test]
fn conn_read_keeps_a_partial_frame_and_sees_the_close() {
    let (mut c, mut poll, mut peer) = conn_and_peer();
    let first = encode(&ServerMsg::Pong { seq: Some(1) });
    let second = encode(&ServerMsg::Pong { seq: Some(2) });
    let cut = second.len() / 2;
    peer.write_all(&[&first[..], &second[..cut]].concat())
        .unwrap();
    let mut events = Events::with_capacity(8);
    let (mut scratch, epoch) = (Vec::new(), Instant::now());
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    // Read the first frame and the half before the rest is sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let end = c
            .read(&mut scratch, epoch, |d, _| take_frames(&mut bodies, d))
            .unwrap();
        assert_eq!(end, ReadEnd::Drained);
        if !bodies.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the first frame never came");
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
    }
    assert_eq!(bodies, vec![first[4..].to_vec()]);
    peer.write_all(&second[cut..]).unwrap();
    drop(peer);
    wait_for_close(&mut poll, &mut events);
    let end = c
        .read(&mut scratch, epoch, |d, _| take_frames(&mut bodies, d))
        .unwrap();
    assert_eq!(end, ReadEnd::Eof);
    assert_eq!(bodies, vec![first[4..].to_vec(), second[4..].to_vec()]);
}
