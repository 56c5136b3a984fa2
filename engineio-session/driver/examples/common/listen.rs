//! The examples' listening socket: `SO_REUSEADDR` and a listen queue of 4,096 (the kernel
//! caps it at `net.core.somaxconn`), where `std` asks for 128 (smol) and Tokio for 1,024.
//! A burst of new connections beyond the queue waits for the client's SYN retry, a second or
//! more (the load tool's ramps showed it as the handshake's p99).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

/// How many connections the kernel holds for `accept`.
const BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr`, for the runtime to adopt.
pub fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match listen_on(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{addr}: no address"))))
}

fn listen_on(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
