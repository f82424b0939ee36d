//! Socket options lbops sets that `socket2` does not wrap: each is one
//! `setsockopt`/`getsockopt` call, kept here so that the lbops crate
//! itself stays `#![forbid(unsafe_code)]`. Linux only, like lbops'
//! data plane.

#![deny(unsafe_op_in_unsafe_fn)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Sets `TCP_DEFER_ACCEPT` on a listening TCP socket: the kernel hands a
/// new connection to `accept` only once the client has sent data, or,
/// if it sends none, once `seconds` have passed and it acknowledged a
/// repeated SYN-ACK (`tcp(7)`). 0 turns it off.
pub fn set_tcp_defer_accept(socket: &impl AsFd, seconds: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is borrowed for the call, so it stays open;
    // the option value is a c_int that lives across the call, and its
    // size is the length passed with it.
    let result = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&value).cast(),
            c_int_len(),
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `TCP_DEFER_ACCEPT` of a listening TCP socket, in seconds as the
/// kernel rounds it (to its SYN-ACK retransmission schedule); 0 when off.
pub fn tcp_defer_accept(socket: &impl AsFd) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut len = c_int_len();
    // SAFETY: as above; the kernel writes at most `len` bytes into
    // `value`, a c_int that lives across the call, and the new length
    // into `len`.
    let result = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(value).map_err(|_| io::Error::other("negative TCP_DEFER_ACCEPT"))
}

fn c_int_len() -> libc::socklen_t {
    // 4: fits any socklen_t.
    std::mem::size_of::<libc::c_int>() as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defer_accept_is_set_read_back_and_turned_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(tcp_defer_accept(&listener).unwrap(), 0);
        set_tcp_defer_accept(&listener, 1).unwrap();
        assert_eq!(tcp_defer_accept(&listener).unwrap(), 1);
        set_tcp_defer_accept(&listener, 0).unwrap();
        assert_eq!(tcp_defer_accept(&listener).unwrap(), 0);
    }

    #[test]
    fn a_socket_that_is_not_tcp_is_refused() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(set_tcp_defer_accept(&socket, 1).is_err());
    }
}
