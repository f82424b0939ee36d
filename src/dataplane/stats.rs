//! Request counters and the latency histogram, updated lock-free on the
//! request path, and the connection counters of each listening address;
//! rendered by the admin API's `/metrics`.

use super::limits::ListenerConnections;
use super::retry::Failure;
use super::shards::PerWorker;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (Prometheus' usual set).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What the proxy counts: one set of counters per worker, summed when
/// rendered.
#[derive(Debug, Default)]
pub struct RequestStats {
    counters: PerWorker<RequestCounters>,
}

#[derive(Debug, Default)]
struct RequestCounters {
    /// Requests whose response head took at most each bucket's bound;
    /// non-cumulative here, summed when rendered.
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Responses by status class: 1xx .. 5xx.
    by_class: [AtomicU64; 5],
    upstream_errors: AtomicU64,
    /// Requests sent to another target, by how the one before failed
    /// them: not sent, then sent.
    retries: [AtomicU64; 2],
    retry_budget_exhausted: AtomicU64,
}

impl RequestStats {
    /// Counts one response and the time its head took.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let here = self.counters.here();
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            here.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        here.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        here.sum_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(class) = usize::from(status / 100).checked_sub(1).filter(|c| *c < 5) {
            here.by_class[class].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a target that could not be reached or broke off.
    pub fn upstream_error(&self) {
        self.counters
            .here()
            .upstream_errors
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request sent to another target after `failure`.
    pub fn retry(&self, failure: Failure) {
        self.counters.here().retries[retry_index(failure)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that could have been retried, but that its pool's
    /// retry budget had no room for.
    pub fn retry_budget_exhausted(&self) {
        self.counters
            .here()
            .retry_budget_exhausted
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the Prometheus text for these counters.
    pub fn render(&self, out: &mut String) {
        let sum = |field: fn(&RequestCounters) -> &AtomicU64| self.counters.sum(field);
        let _ = writeln!(
            out,
            "# HELP lbops_dataplane_requests_total HTTP responses sent, by status class."
        );
        let _ = writeln!(out, "# TYPE lbops_dataplane_requests_total counter");
        for i in 0..5 {
            let _ = writeln!(
                out,
                "lbops_dataplane_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                self.counters.sum(|c| &c.by_class[i])
            );
        }
        let _ = writeln!(out, "# HELP lbops_dataplane_upstream_errors_total Attempts whose target could not be reached or broke off (a retried request counts each failed attempt).");
        let _ = writeln!(out, "# TYPE lbops_dataplane_upstream_errors_total counter");
        let _ = writeln!(
            out,
            "lbops_dataplane_upstream_errors_total {}",
            sum(|c| &c.upstream_errors)
        );
        let _ = writeln!(out, "# HELP lbops_dataplane_retries_total Requests sent to another target, by how the one before failed: connect-failure (nothing was sent) or reset (sent, then the target broke off).");
        let _ = writeln!(out, "# TYPE lbops_dataplane_retries_total counter");
        for failure in [Failure::NotSent, Failure::Sent] {
            let _ = writeln!(
                out,
                "lbops_dataplane_retries_total{{reason=\"{}\"}} {}",
                failure.label(),
                self.counters.sum(|c| &c.retries[retry_index(failure)])
            );
        }
        let _ = writeln!(out, "# HELP lbops_dataplane_retry_budget_exhausted_total Failed requests not retried because retries already took their pool's budget (20% of its recent requests, plus 10).");
        let _ = writeln!(
            out,
            "# TYPE lbops_dataplane_retry_budget_exhausted_total counter"
        );
        let _ = writeln!(
            out,
            "lbops_dataplane_retry_budget_exhausted_total {}",
            sum(|c| &c.retry_budget_exhausted)
        );
        let name = "lbops_dataplane_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's arrival to its response head."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.counters.sum(|c| &c.buckets[i]);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = sum(|c| &c.count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", sum(|c| &c.sum_micros) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn retry_index(failure: Failure) -> usize {
    match failure {
        Failure::NotSent => 0,
        Failure::Sent => 1,
    }
}

/// The connection counters of every address being listened on; an
/// address leaves when its socket is closed.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    listeners: Mutex<BTreeMap<SocketAddr, Arc<ListenerConnections>>>,
}

impl ConnectionStats {
    /// Starts exporting `listener`'s counters (replacing an earlier socket's
    /// for the same address).
    pub(crate) fn add(&self, listener: Arc<ListenerConnections>) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.insert(listener.address, listener);
        }
    }

    /// Stops exporting the counters of `address`.
    pub(crate) fn remove(&self, address: SocketAddr) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.remove(&address);
        }
    }

    /// The counters of `address`, while it is listened on.
    #[must_use]
    pub fn get(&self, address: SocketAddr) -> Option<Arc<ListenerConnections>> {
        self.listeners.lock().ok()?.get(&address).cloned()
    }

    /// Appends the Prometheus text for these counters, one series per
    /// listening address.
    pub fn render(&self, out: &mut String) {
        let listeners: Vec<Arc<ListenerConnections>> = self
            .listeners
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default();
        type Value = fn(&ListenerConnections) -> u64;
        let families: [(&str, &str, &str, Value); 5] = [
            (
                "lbops_dataplane_connections_open",
                "gauge",
                "Client connections open on the listening address.",
                |l| l.open() as u64,
            ),
            (
                "lbops_dataplane_connections_limit",
                "gauge",
                "Client connections the listening address keeps open at most.",
                |l| l.limit as u64,
            ),
            (
                "lbops_dataplane_connections_accepted_total",
                "counter",
                "Client connections accepted and served.",
                ListenerConnections::accepted,
            ),
            (
                "lbops_dataplane_connections_refused_total",
                "counter",
                "Client connections closed at once because the listening address was at its connection limit.",
                ListenerConnections::refused,
            ),
            (
                "lbops_dataplane_request_head_timeouts_total",
                "counter",
                "Client connections closed because their TLS handshake or first request head did not arrive in time.",
                ListenerConnections::head_timeouts,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for listener in &listeners {
                let _ = writeln!(
                    out,
                    "{name}{{address=\"{}\"}} {}",
                    listener.address,
                    value(listener)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_classes_count() {
        let stats = RequestStats::default();
        stats.record(200, Duration::from_micros(800));
        stats.record(503, Duration::from_millis(30));
        stats.record(200, Duration::from_secs(9));
        stats.upstream_error();
        stats.retry(Failure::NotSent);
        stats.retry(Failure::NotSent);
        stats.retry(Failure::Sent);
        stats.retry_budget_exhausted();
        let mut out = String::new();
        stats.render(&mut out);
        for line in [
            "lbops_dataplane_retries_total{reason=\"connect-failure\"} 2",
            "lbops_dataplane_retries_total{reason=\"reset\"} 1",
            "lbops_dataplane_retry_budget_exhausted_total 1",
            "lbops_dataplane_requests_total{class=\"2xx\"} 2",
            "lbops_dataplane_requests_total{class=\"5xx\"} 1",
            "lbops_dataplane_upstream_errors_total 1",
            "lbops_dataplane_request_duration_seconds_bucket{le=\"0.001\"} 1",
            "lbops_dataplane_request_duration_seconds_bucket{le=\"0.05\"} 2",
            "lbops_dataplane_request_duration_seconds_bucket{le=\"5\"} 2",
            "lbops_dataplane_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "lbops_dataplane_request_duration_seconds_count 3",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
    }

    #[test]
    fn connection_counters_are_per_address_and_leave_with_it() {
        let stats = ConnectionStats::default();
        let address: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let listener = Arc::new(ListenerConnections::new(address, 1));
        stats.add(listener.clone());
        let _slot = listener.admit().expect("first");
        assert!(listener.admit().is_none());
        listener.head_timed_out();
        let mut out = String::new();
        stats.render(&mut out);
        for line in [
            "lbops_dataplane_connections_open{address=\"127.0.0.1:8080\"} 1",
            "lbops_dataplane_connections_limit{address=\"127.0.0.1:8080\"} 1",
            "lbops_dataplane_connections_accepted_total{address=\"127.0.0.1:8080\"} 1",
            "lbops_dataplane_connections_refused_total{address=\"127.0.0.1:8080\"} 1",
            "lbops_dataplane_request_head_timeouts_total{address=\"127.0.0.1:8080\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        stats.remove(address);
        let mut out = String::new();
        stats.render(&mut out);
        assert!(!out.contains("127.0.0.1:8080"), "{out}");
    }
}
