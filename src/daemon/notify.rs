//! The systemd readiness protocol (`sd_notify`), without libsystemd: one
//! datagram to the socket named by `$NOTIFY_SOCKET`. With `Type=notify`
//! systemd counts the daemon as started only once the first reconcile
//! is done (`READY=1`), shows `STATUS=` in `systemctl status`, and knows a
//! stop is under way (`STOPPING=1`). Outside systemd the variable is unset
//! and every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to the
/// service manager, if there is one. A failure is logged at debug level
/// and otherwise ignored: readiness reporting must never stop the daemon.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    if let Err(e) = notify_to(&socket.to_string_lossy(), state) {
        tracing::debug!(error = %e, state, "sd_notify failed");
    }
}

/// Reports the trusted commit as the unit's status line, only when it
/// changed: the daemon calls this after every reconcile, and each message
/// costs systemd a property change on the bus.
pub fn status(trusted: Option<crate::source::CommitId>) {
    static LAST: Mutex<Option<String>> = Mutex::new(None);
    if std::env::var_os(NOTIFY_SOCKET).is_none() {
        return;
    }
    let line = match trusted {
        Some(commit) => format!("STATUS=trusted {}", commit.short()),
        None => "STATUS=no trusted commit yet".to_owned(),
    };
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.as_deref() != Some(line.as_str()) {
        notify(&line);
        *last = Some(line);
    }
}

/// Sends `state` to the socket at `socket`: a path, or an abstract name
/// when it starts with `@`.
pub fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        datagram.send_to_addr(state.as_bytes(), &address)?;
    } else if socket.starts_with('/') {
        datagram.send_to(state.as_bytes(), socket)?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET} is neither a path nor an abstract name: {socket}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn ready_reaches_a_socket_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        assert_eq!(receive(&socket), "READY=1");
    }

    #[test]
    fn ready_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("lbops-notify-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        notify_to(&format!("@{name}"), "STOPPING=1").unwrap();
        assert_eq!(receive(&socket), "STOPPING=1");
    }

    #[test]
    fn a_relative_name_is_refused_not_sent() {
        let err = notify_to("notify.sock", "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
