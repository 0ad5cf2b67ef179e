//! The listening socket, made with `socket2` so its accept backlog is set
//! explicitly: `std::net::TcpListener::bind` and `mio::net::TcpListener::bind`
//! both call `listen(128)`, and a burst of logins beyond that overflows the
//! accept queue (Linux then drops the SYNs, and those clients wait out a 1 s
//! SYN retransmit).

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
/// spreads new connections over them), bind, `listen(LISTEN_BACKLOG)`.
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}
