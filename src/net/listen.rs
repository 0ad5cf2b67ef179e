//! The listening socket, made with `socket2` so its accept backlog is set
//! explicitly: `std::net::TcpListener::bind` and `mio::net::TcpListener::bind`
//! both call `listen(128)`, and a burst of logins beyond that overflows the
//! accept queue (Linux then drops the SYNs, and those clients wait out a 1 s
//! SYN retransmit). On Linux it also carries TCP_NODELAY, which accepted
//! sockets inherit, so an accept needs no `setsockopt` of its own.

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// The listen backlog: how many handshaken connections the kernel queues for
/// `accept` (Linux holds one more). The kernel silently caps it at
/// `/proc/sys/net/core/somaxconn` (4096 by default since Linux 5.4; 128
/// before), so on an older or tuned kernel the effective backlog may be less.
pub const LISTEN_BACKLOG: i32 = 1024;

/// A non-blocking listener on `addr`: SO_REUSEADDR (as mio sets it, so a
/// restart does not wait out TIME_WAIT), with `reuse_port` SO_REUSEPORT too
/// (several nodes of a cluster on one machine share the port; the kernel
/// spreads new connections over them), TCP_NODELAY (frames go out as they
/// are written; Linux's accepted sockets inherit it), bind,
/// `listen(LISTEN_BACKLOG)`.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept path skips `set_nodelay` on Linux because of this.
    #[cfg(target_os = "linux")]
    #[test]
    fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let l = listen("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let addr = l.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (stream, _) = loop {
            match l.accept() {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no connection");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert!(stream.nodelay().unwrap());
    }
}
