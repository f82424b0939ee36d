//! The daemon's counters, rendered as Prometheus text exposition for
//! `GET /metrics`: reconciles, decisions by outcome, apply duration,
//! drift, and the age of the last applied commit.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the apply-duration histogram, in seconds.
pub const APPLY_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The outcomes decisions are counted by.
pub const OUTCOMES: [&str; 4] = ["accepted", "refused", "invalid", "rewound"];

#[derive(Debug, Default)]
pub struct Metrics {
    reconciles_ok: AtomicU64,
    reconciles_failed: AtomicU64,
    decisions: [AtomicU64; 4],
    apply_buckets: [AtomicU64; 10],
    apply_count: AtomicU64,
    apply_sum_micros: AtomicU64,
    drift: AtomicU64,
    /// Unix seconds of the last apply; 0 before the first.
    last_applied: AtomicI64,
    /// API calls by token id.
    pub tokens: super::api::TokenUsage,
    /// Replicas on etcd: this replica's name and view; `None` for a
    /// daemon alone.
    cluster: std::sync::OnceLock<std::sync::Arc<super::replica::ClusterView>>,
}

impl Metrics {
    /// Shows this replica's view of the cluster from now on.
    pub fn cluster(&self, view: std::sync::Arc<super::replica::ClusterView>) {
        let _ = self.cluster.set(view);
    }

    pub fn reconciled(&self, ok: bool) {
        let counter = if ok {
            &self.reconciles_ok
        } else {
            &self.reconciles_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a decision; `outcome` is one of [`OUTCOMES`].
    pub fn decided(&self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.decisions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn applied(&self, took: Duration, at_unix: i64) {
        let seconds = took.as_secs_f64();
        for (bucket, bound) in self.apply_buckets.iter().zip(APPLY_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.apply_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.apply_sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.last_applied.store(at_unix, Ordering::Relaxed);
    }

    pub fn drifted(&self) {
        self.drift.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, as of `now_unix`.
    #[must_use]
    pub fn render(&self, now_unix: i64) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lbops_reconciles_total Reconcile passes, by result."
        );
        let _ = writeln!(out, "# TYPE lbops_reconciles_total counter");
        let _ = writeln!(
            out,
            "lbops_reconciles_total{{result=\"ok\"}} {}",
            get(&self.reconciles_ok)
        );
        let _ = writeln!(
            out,
            "lbops_reconciles_total{{result=\"error\"}} {}",
            get(&self.reconciles_failed)
        );
        let _ = writeln!(
            out,
            "# HELP lbops_decisions_total Judged heads of the watched branch, by outcome."
        );
        let _ = writeln!(out, "# TYPE lbops_decisions_total counter");
        for (outcome, counter) in OUTCOMES.iter().zip(&self.decisions) {
            let _ = writeln!(
                out,
                "lbops_decisions_total{{outcome=\"{outcome}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(out, "# HELP lbops_apply_duration_seconds Time to apply an accepted head until the plan is empty.");
        let _ = writeln!(out, "# TYPE lbops_apply_duration_seconds histogram");
        for (bound, bucket) in APPLY_BUCKETS.iter().zip(&self.apply_buckets) {
            let _ = writeln!(
                out,
                "lbops_apply_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.apply_count);
        let _ = writeln!(
            out,
            "lbops_apply_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = get(&self.apply_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "lbops_apply_duration_seconds_sum {sum}");
        let _ = writeln!(out, "lbops_apply_duration_seconds_count {count}");
        let _ = writeln!(out, "# HELP lbops_drift_total Distinct drifts found between the balancers and the applied commit.");
        let _ = writeln!(out, "# TYPE lbops_drift_total counter");
        let _ = writeln!(out, "lbops_drift_total {}", get(&self.drift));
        let last = self.last_applied.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP lbops_last_applied_commit_age_seconds Seconds since the last apply (-1 before the first).");
        let _ = writeln!(out, "# TYPE lbops_last_applied_commit_age_seconds gauge");
        let age = if last == 0 {
            -1
        } else {
            (now_unix - last).max(0)
        };
        let _ = writeln!(out, "lbops_last_applied_commit_age_seconds {age}");
        self.tokens.render(&mut out);
        if let Some(view) = self.cluster.get() {
            render_cluster(&mut out, &view.replica, &view.facts());
        }
        out
    }
}

/// The replica's gauges: leading or not, the epoch, the last takeover,
/// and whether etcd answers.
fn render_cluster(out: &mut String, replica: &str, facts: &super::replica::ClusterFacts) {
    // A replica name is letters, digits, `-`, `.` and `_` (the config check): no escaping.
    let _ = writeln!(
        out,
        "# HELP lbops_replica_leading 1 while this replica holds the leader lease."
    );
    let _ = writeln!(out, "# TYPE lbops_replica_leading gauge");
    let _ = writeln!(
        out,
        "lbops_replica_leading{{replica=\"{replica}\"}} {}",
        u8::from(facts.leading)
    );
    let _ = writeln!(
        out,
        "# HELP lbops_leader_epoch The epoch (fencing token) this replica leads or last led under."
    );
    let _ = writeln!(out, "# TYPE lbops_leader_epoch gauge");
    let _ = writeln!(out, "lbops_leader_epoch {}", facts.epoch.unwrap_or(0));
    let _ = writeln!(out, "# HELP lbops_last_takeover_timestamp_seconds When this replica last became leader (0: never).");
    let _ = writeln!(out, "# TYPE lbops_last_takeover_timestamp_seconds gauge");
    let _ = writeln!(
        out,
        "lbops_last_takeover_timestamp_seconds {}",
        facts.took_over_at.unwrap_or(0)
    );
    let _ = writeln!(out, "# HELP lbops_etcd_up 0 while etcd cannot be asked.");
    let _ = writeln!(out, "# TYPE lbops_etcd_up gauge");
    let _ = writeln!(
        out,
        "lbops_etcd_up {}",
        u8::from(facts.etcd_error.is_none())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_and_render_as_exposition_text() {
        let metrics = Metrics::default();
        assert!(metrics
            .render(100)
            .contains("lbops_last_applied_commit_age_seconds -1"));
        metrics.reconciled(true);
        metrics.decided("refused");
        metrics.applied(Duration::from_millis(30), 90);
        metrics.drifted();
        let text = metrics.render(100);
        for line in [
            "lbops_reconciles_total{result=\"ok\"} 1",
            "lbops_decisions_total{outcome=\"refused\"} 1",
            "lbops_apply_duration_seconds_bucket{le=\"0.025\"} 0",
            "lbops_apply_duration_seconds_bucket{le=\"0.05\"} 1",
            "lbops_apply_duration_seconds_count 1",
            "lbops_drift_total 1",
            "lbops_last_applied_commit_age_seconds 10",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        // Every sample line is `name{labels} value` with a number value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
