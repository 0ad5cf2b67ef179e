//! A fault-injecting TCP proxy between real chat-clients and the server cuts
//! connections at random points (often mid-frame) while two clients exchange
//! a few hundred numbered messages. Each must arrive exactly once and in
//! order per sender: the clients reconnect by themselves, resend what was not
//! acknowledged (the server drops repeats by client id) and catch up on what
//! they missed.

mod common;

use common::{ChatClient, Server};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// xorshift64*: deterministic cut points for a given seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Bytes to let through before the next cut, and cuts left.
struct Cutter {
    rng: Rng,
    until_cut: u64,
    cuts_left: usize,
    min: u64,
    span: u64,
}

impl Cutter {
    /// Of `n` bytes about to pass, how many go through before a cut (None: all, no cut).
    fn take(&mut self, n: u64) -> Option<u64> {
        if self.cuts_left == 0 {
            return None;
        }
        if n < self.until_cut {
            self.until_cut -= n;
            return None;
        }
        let pass = self.until_cut;
        self.cuts_left -= 1;
        self.until_cut = self.min + self.rng.below(self.span);
        Some(pass)
    }
}

struct Proxy {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: SocketAddr, seed: u64, max_cuts: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cutter = Arc::new(Mutex::new(Cutter {
            rng: Rng(seed | 1),
            until_cut: 300,
            cuts_left: max_cuts,
            min: 200,
            span: 6_000,
        }));
        let (a, c, s) = (armed.clone(), cuts.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    let (a, c, cutter) = (a.clone(), c.clone(), cutter.clone());
                    let pair = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    thread::spawn(move || pump(from, to, pair, &a, &c, &cutter));
                }
            }
        });
        Proxy {
            addr,
            armed,
            cuts,
            stop,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

/// Copy `from` -> `to` in small pieces; when the cutter says so, pass only a
/// prefix of a piece and tear both connections of the pair down.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    pair: (TcpStream, TcpStream),
    armed: &AtomicBool,
    cuts: &AtomicUsize,
    cutter: &Mutex<Cutter>,
) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let cut = if armed.load(Ordering::SeqCst) {
            cutter.lock().unwrap().take(n as u64)
        } else {
            None
        };
        match cut {
            None => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Some(pass) => {
                let _ = to.write_all(&buf[..pass as usize]);
                cuts.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
    }
    let _ = pair.0.shutdown(Shutdown::Both);
    let _ = pair.1.shutdown(Shutdown::Both);
}

/// The numbers of `sender`'s messages in `lines`, in the order shown.
fn numbers_from(lines: &[String], sender: &str, prefix: &str) -> Vec<u32> {
    let tag = format!("<{sender}> {prefix}-");
    lines
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find(&tag)? + tag.len()..];
            rest.get(..3)?.parse().ok()
        })
        .collect()
}

fn spawn_client(proxy: SocketAddr, name: &str) -> ChatClient {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-client"));
    cmd.args(common::client_args(proxy, name))
        .env("CHAT_RECONNECT_BASE_MS", "50")
        .env("NO_COLOR", "1");
    ChatClient::spawn_command(cmd, name)
}

#[test]
fn numbered_messages_arrive_exactly_once_and_in_order_through_random_cuts() {
    const N: u32 = 300;
    let server = Server::start(&[]);
    // CHAT_PROXY_SEED replays another pattern of cuts.
    let seed = std::env::var("CHAT_PROXY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd);
    let proxy = Proxy::start(server.addr(), seed, 25);
    let long = Duration::from_secs(60);

    let mut alice = spawn_client(proxy.addr, "alice");
    alice.wait_line("connected", long);
    let mut bob = spawn_client(proxy.addr, "bob");
    bob.wait_line("connected", long);
    alice.wait_line("bob joined", long);

    proxy.armed.store(true, Ordering::SeqCst);
    let (a_lines, b_lines): (Vec<String>, Vec<String>) = (1..=N)
        .map(|i| (format!("a-{i:03}"), format!("b-{i:03}")))
        .unzip();
    // Feed both scripts at once, a few lines at a time, so traffic interleaves.
    for (a, b) in a_lines.chunks(10).zip(b_lines.chunks(10)) {
        for l in a {
            alice.send_line(l);
        }
        for l in b {
            bob.send_line(l);
        }
    }
    bob.wait_line(&format!("<alice> a-{N:03}"), long);
    alice.wait_line(&format!("<bob> b-{N:03}"), long);
    alice.close_stdin();
    bob.close_stdin();
    assert!(
        alice.wait_exit(long).success(),
        "alice exits 0 once all is acked"
    );
    assert!(
        bob.wait_exit(long).success(),
        "bob exits 0 once all is acked"
    );

    let cuts = proxy.cuts.load(Ordering::SeqCst);
    eprintln!("seed {seed}: {cuts} cuts");
    assert!(
        cuts >= 5,
        "the proxy cut connections {cuts} times; expected many"
    );
    let want: Vec<u32> = (1..=N).collect();
    let at_bob = numbers_from(&bob.lines(), "alice", "a");
    let at_alice = numbers_from(&alice.lines(), "bob", "b");
    assert_eq!(
        at_bob, want,
        "bob saw alice's messages once each, in order ({cuts} cuts)"
    );
    assert_eq!(
        at_alice, want,
        "alice saw bob's messages once each, in order ({cuts} cuts)"
    );
}
