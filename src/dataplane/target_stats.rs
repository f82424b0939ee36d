//! What one target reports beyond its health: answers, 5xx answers and a
//! latency histogram (lock-free counters on the request path), and its
//! last health transitions with the reason, kept in a small bounded list.
//! The daemon's estate page turns successive readings into rates and
//! percentiles; the data plane only counts.

use super::shards::PerWorker;
use super::stats::LATENCY_BUCKETS;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How many health transitions a target remembers: enough to see a
/// flapping target, small enough to report on every state read.
pub const REMEMBERED_TRANSITIONS: usize = 8;

/// One change of a target's health, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Unix seconds.
    pub at: i64,
    pub healthy: bool,
    /// "3 checks failed: connection refused", "ejected: 5 failed requests in a row".
    pub why: String,
}

/// The counters of one target, since it joined its pool.
#[derive(Debug, Default)]
pub struct TargetStats {
    counters: PerWorker<AnswerCounters>,
    history: Mutex<VecDeque<Transition>>,
}

/// One worker's answers from a target.
#[derive(Debug, Default)]
struct AnswerCounters {
    answered: AtomicU64,
    errors_5xx: AtomicU64,
    /// Non-cumulative, one per [`LATENCY_BUCKETS`] bound, then one over
    /// the last bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

/// A reading of [`TargetStats`], as `GET /v1/state` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCounts {
    /// Answers the target gave, or that lbops gave for it (a 502 when it
    /// could not be reached).
    pub answered: u64,
    /// Of those, 5xx.
    pub errors_5xx: u64,
    /// Answers by time to response head: one count per bound of
    /// `latency_bounds` (seconds), then one past the last; not cumulative.
    pub latency: Vec<u64>,
    /// Newest last.
    pub history: Vec<Transition>,
}

impl TargetStats {
    /// Counts one answer (`status`) that took `elapsed` to its head.
    pub fn answer(&self, status: u16, elapsed: Duration) {
        let here = self.counters.here();
        here.answered.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            here.errors_5xx.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        here.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers a health transition (the oldest goes past
    /// [`REMEMBERED_TRANSITIONS`]).
    pub fn transition(&self, healthy: bool, why: String) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if history.len() == REMEMBERED_TRANSITIONS {
            history.pop_front();
        }
        history.push_back(Transition { at, healthy, why });
    }

    #[must_use]
    pub fn read(&self) -> TargetCounts {
        TargetCounts {
            answered: self.counters.sum(|c| &c.answered),
            errors_5xx: self.counters.sum(|c| &c.errors_5xx),
            latency: (0..=LATENCY_BUCKETS.len())
                .map(|i| self.counters.sum(|c| &c.buckets[i]))
                .collect(),
            history: self
                .history
                .lock()
                .map(|h| h.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class_and_latency_and_history_is_bounded() {
        let stats = TargetStats::default();
        stats.answer(200, Duration::from_micros(500));
        stats.answer(503, Duration::from_millis(30));
        stats.answer(200, Duration::from_secs(60));
        for i in 0..REMEMBERED_TRANSITIONS + 2 {
            stats.transition(i % 2 == 0, format!("reason {i}"));
        }
        let counts = stats.read();
        assert_eq!((counts.answered, counts.errors_5xx), (3, 1));
        assert_eq!(counts.latency.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!(counts.latency[0], 1, "0.5 ms is under 1 ms");
        assert_eq!(counts.latency[5], 1, "30 ms is under 50 ms");
        assert_eq!(counts.latency[LATENCY_BUCKETS.len()], 1, "past 5 s");
        assert_eq!(counts.history.len(), REMEMBERED_TRANSITIONS);
        assert_eq!(
            counts.history.last().unwrap().why,
            format!("reason {}", REMEMBERED_TRANSITIONS + 1)
        );
    }
}
