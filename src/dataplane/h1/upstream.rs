//! Kept-alive connections to targets, one set per worker thread: the
//! fast path takes one for a request and gives it back when the response
//! has ended cleanly. Only its own worker touches a set, so its lock is
//! never contended; a connection is checked for a close by the target
//! (without blocking) before it is used again.

use crate::spec::units::{TargetAddr, TargetHost};
use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long connecting to a target may take before the request fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle upstream connection is kept for reuse (either path).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The most idle connections a worker keeps per target.
pub const MAX_IDLE_PER_TARGET: usize = 512;

/// One worker's idle connections, by target.
#[derive(Debug, Default)]
pub struct UpstreamConns {
    idle: Mutex<HashMap<TargetAddr, Vec<Idle>>>,
}

#[derive(Debug)]
struct Idle {
    stream: TcpStream,
    since: Instant,
}

impl UpstreamConns {
    /// The most recently used idle connection to `target` that is still
    /// open at `now`, if any.
    pub fn take(&self, target: &TargetAddr, now: Instant) -> Option<TcpStream> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.get_mut(target)?;
        while let Some(conn) = list.pop() {
            if now.duration_since(conn.since) > IDLE_TIMEOUT {
                // The rest are older still.
                list.clear();
                return None;
            }
            if still_open(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    }

    /// Keeps `stream` for the next request to `target`.
    pub fn give_back(&self, target: &TargetAddr, stream: TcpStream) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.entry(target.clone()).or_default();
        let now = Instant::now();
        // The oldest sit at the front: drop those past their time.
        let expired = list
            .iter()
            .take_while(|c| now.duration_since(c.since) > IDLE_TIMEOUT)
            .count();
        list.drain(..expired);
        if list.len() < MAX_IDLE_PER_TARGET {
            list.push(Idle { stream, since: now });
        }
    }
}

/// Whether a kept connection can carry a request: the target has neither
/// closed it nor sent anything unasked.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// A new connection to `target`, within `timeout`.
pub async fn connect(target: &TargetAddr, timeout: Duration) -> io::Result<TcpStream> {
    let connecting = async {
        match &target.host {
            TargetHost::Ip(ip) => TcpStream::connect((*ip, target.port)).await,
            TargetHost::Dns(name) => TcpStream::connect((name.as_str(), target.port)).await,
        }
    };
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
