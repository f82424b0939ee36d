//! Request counters and the latency histogram, updated lock-free on the
//! request path and rendered by the admin API's `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (Prometheus' usual set).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What the proxy counts.
#[derive(Debug, Default)]
pub struct RequestStats {
    /// Requests whose response head took at most each bucket's bound;
    /// non-cumulative here, summed when rendered.
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Responses by status class: 1xx .. 5xx.
    by_class: [AtomicU64; 5],
    upstream_errors: AtomicU64,
}

impl RequestStats {
    /// Counts one response and the time its head took.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some(class) = usize::from(status / 100).checked_sub(1).filter(|c| *c < 5) {
            self.by_class[class].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a target that could not be reached or broke off.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the Prometheus text for these counters.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP lbops_dataplane_requests_total HTTP responses sent, by status class."
        );
        let _ = writeln!(out, "# TYPE lbops_dataplane_requests_total counter");
        for (i, class) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "lbops_dataplane_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                load(class)
            );
        }
        let _ = writeln!(out, "# HELP lbops_dataplane_upstream_errors_total Requests whose target could not be reached or broke off.");
        let _ = writeln!(out, "# TYPE lbops_dataplane_upstream_errors_total counter");
        let _ = writeln!(
            out,
            "lbops_dataplane_upstream_errors_total {}",
            load(&self.upstream_errors)
        );
        let name = "lbops_dataplane_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's arrival to its response head."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += load(bucket);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = load(&self.count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", load(&self.sum_micros) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
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
        let mut out = String::new();
        stats.render(&mut out);
        for line in [
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
}
