//! What one client connection may hold, and for how long before it has
//! asked for anything.
//!
//! Two limits keep silent or slow clients from exhausting file
//! descriptors:
//!
//! - **A deadline from accept until the first complete request head**
//!   ([`ConnectionLimits::request_head_timeout`]), whatever happens before
//!   it: the TLS handshake, HTTP/1 vs h2 detection, the HTTP/1 request
//!   line and headers, the h2 preface, SETTINGS and first HEADERS. It is
//!   one deadline for the whole span, not per read, so trickling a byte at
//!   a time does not extend it (HAProxy's `timeout http-request`). After
//!   the first request the listener's `idle_timeout` governs instead.
//!   `tls` listeners get the same deadline for their handshake; `tcp`
//!   listeners none (see [`ConnectionLimits`]).
//! - **A cap on open connections per listening address**
//!   ([`ConnectionLimits::max_connections_per_listener`]): at the cap a
//!   new connection is accepted and closed at once, counted in
//!   `lbops_dataplane_connections_refused_total`, and logged at most once
//!   per [`REFUSAL_LOG_INTERVAL`]; connections already open keep working.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a new connection has, from accept, to deliver its first
/// complete request head (TLS handshake included). Ten seconds is what
/// HAProxy's documentation and Apache's `mod_reqtimeout` (`header=10-20`)
/// suggest: ample for a slow mobile client, short enough that a slowloris
/// needs thousands of connections per second to hold a thousand open.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections one listening address keeps open at most. A proxied
/// connection holds two descriptors (client and upstream); the systemd
/// units set `LimitNOFILE=65536`, so three listeners at this cap still
/// leave room for upstream pools, health checks and the admin API.
pub const MAX_CONNECTIONS_PER_LISTENER: usize = 10_000;

/// At most one "listener at its connection limit" line per listener in
/// this long; the metric counts every refusal.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long a data plane gives a client and how many it serves at once,
/// for every listener.
///
/// `tcp` listeners get the cap but no deadline: they carry protocols where
/// the server speaks first (SMTP, MySQL, PostgreSQL's SSL probe aside) or
/// where a quiet connection is normal (a pooled database connection), so
/// a deadline on the client's first bytes would cut legitimate traffic;
/// the cap bounds what silent ones can take. `tls` listeners get the
/// deadline for the handshake, which the client drives, then behave like
/// `tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// See [`REQUEST_HEAD_TIMEOUT`]; a listener whose `idle_timeout` is
    /// shorter uses that instead, since a connection that has sent
    /// nothing is idle.
    pub request_head_timeout: Duration,
    /// See [`MAX_CONNECTIONS_PER_LISTENER`].
    pub max_connections_per_listener: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            request_head_timeout: REQUEST_HEAD_TIMEOUT,
            max_connections_per_listener: MAX_CONNECTIONS_PER_LISTENER,
        }
    }
}

/// The connections of one listening address, shared by every worker's
/// socket for it: the cap is enforced here and the counters are exported
/// as metrics.
#[derive(Debug)]
pub struct ListenerConnections {
    pub address: SocketAddr,
    pub limit: usize,
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    head_timeouts: AtomicU64,
    refusal_log: RateLimit,
    /// Refusals not yet reported by a log line.
    refused_unlogged: AtomicU64,
}

/// A counted open connection; dropping it frees the place.
#[derive(Debug)]
#[must_use = "the connection counts as open only while its slot is held"]
pub(crate) struct ConnectionSlot(Arc<ListenerConnections>);

impl ListenerConnections {
    #[must_use]
    pub(crate) fn new(address: SocketAddr, limit: usize) -> Self {
        Self {
            address,
            limit,
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            head_timeouts: AtomicU64::new(0),
            refusal_log: RateLimit::new(REFUSAL_LOG_INTERVAL),
            refused_unlogged: AtomicU64::new(0),
        }
    }

    /// A place for one more connection, or `None` at the cap (counted,
    /// and logged now and then).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<ConnectionSlot> {
        // Compare-and-swap rather than add-then-undo, so the gauge never
        // shows more than the cap.
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit).then_some(open + 1)
            })
            .is_ok();
        if admitted {
            self.accepted.fetch_add(1, Ordering::Relaxed);
            return Some(ConnectionSlot(self.clone()));
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.refused_unlogged.fetch_add(1, Ordering::Relaxed);
        if self.refusal_log.due() {
            let refused = self.refused_unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(
                listener = %self.address,
                limit = self.limit,
                refused,
                "listener at its connection limit: new connections are closed at once \
                 (see lbops_dataplane_connections_refused_total); if this is real traffic, \
                 raise `lbops dataplane --max-connections-per-listener` and LimitNOFILE"
            );
        }
        None
    }

    /// Counts a connection closed because its first request head (or TLS
    /// handshake) did not arrive in time.
    pub(crate) fn head_timed_out(&self) {
        self.head_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    #[must_use]
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn head_timeouts(&self) -> u64 {
        self.head_timeouts.load(Ordering::Relaxed)
    }
}

impl ConnectionSlot {
    /// The listener this connection counts against.
    #[must_use]
    pub(crate) fn listener(&self) -> &ListenerConnections {
        &self.0
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Says yes at most once per interval, for log lines that an attacker
/// could otherwise repeat at the rate they open connections.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl RateLimit {
    #[must_use]
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
    }

    /// Whether to log now; never blocks (a busy lock means another thread
    /// is deciding, and one of the two is enough).
    pub(crate) fn due(&self) -> bool {
        let Ok(mut last) = self.last.try_lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.interval) {
            return false;
        }
        *last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_admits_up_to_the_limit_and_frees_on_drop() {
        let listener = Arc::new(ListenerConnections::new("127.0.0.1:80".parse().unwrap(), 2));
        let first = listener.admit().expect("first");
        let _second = listener.admit().expect("second");
        assert!(listener.admit().is_none(), "third is over the cap");
        assert_eq!((listener.open(), listener.refused()), (2, 1));
        drop(first);
        assert_eq!(listener.open(), 1);
        let _third = listener.admit().expect("a place was freed");
        assert_eq!((listener.accepted(), listener.refused()), (3, 1));
    }

    #[test]
    fn a_rate_limit_says_yes_once_per_interval() {
        let limit = RateLimit::new(Duration::from_secs(3600));
        assert!(limit.due());
        assert!(!limit.due());
        assert!(RateLimit::new(Duration::ZERO).due());
    }
}
