//! Counters written on every request, kept once per worker thread: a
//! worker adds to its own cache line, so two cores serving requests do not
//! pass a shared counter's line back and forth on each one (a transfer
//! costs about as much as the rest of the counting). Readers — the
//! metrics, the state report, least-requests and draining — sum the
//! shards, which is rare next to the writes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Shards past this many would only cost memory: workers beyond it share.
const MAX_SHARDS: usize = 64;

thread_local! {
    /// The shard the current thread writes to; 0 outside the workers.
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// How many shards every [`PerWorker`] has: one per core (the workers'
/// default count), fixed for the process.
fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, MAX_SHARDS)
    })
}

/// Makes the current thread write to the shard of worker `index`.
pub fn enter_worker(index: usize) {
    SHARD.with(|shard| shard.set(index % shard_count()));
}

/// A shard on cache lines of its own (128 bytes: CPUs that fetch lines in
/// pairs would otherwise still share).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// One `T` per worker thread.
#[derive(Debug)]
pub struct PerWorker<T> {
    shards: Box<[Padded<T>]>,
}

impl<T: Default> Default for PerWorker<T> {
    fn default() -> Self {
        Self {
            shards: (0..shard_count()).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> PerWorker<T> {
    /// The current thread's shard.
    #[must_use]
    pub fn here(&self) -> &T {
        self.here_numbered().1
    }

    /// The current thread's shard and its number (below [`Self::len`]).
    #[must_use]
    pub fn here_numbered(&self) -> (usize, &T) {
        let index = SHARD.with(Cell::get);
        // Every PerWorker has shard_count() shards and enter_worker keeps
        // the index below it; the fallback only guards that invariant.
        match self.shards.get(index) {
            Some(shard) => (index, &shard.0),
            None => (0, &self.shards[0].0),
        }
    }

    /// How many shards there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Every shard.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|shard| &shard.0)
    }

    /// The sum over the shards of the counter `field` picks.
    #[must_use]
    pub fn sum(&self, field: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.iter().fold(0, |sum, shard| {
            sum.wrapping_add(field(shard).load(Ordering::Relaxed))
        })
    }

    /// The sum over the shards of a gauge that may go up on one thread
    /// and down on another: each shard wraps, their sum does not.
    #[must_use]
    pub fn sum_gauge(&self, field: impl Fn(&T) -> &AtomicUsize) -> usize {
        self.iter().fold(0, |sum, shard| {
            sum.wrapping_add(field(shard).load(Ordering::Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Counts {
        requests: AtomicU64,
        open: AtomicUsize,
    }

    #[test]
    fn each_thread_writes_its_own_shard_and_the_sum_sees_all() {
        let counts = std::sync::Arc::new(PerWorker::<Counts>::default());
        let threads: Vec<_> = (0..4)
            .map(|worker| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    enter_worker(worker);
                    for _ in 0..1000 {
                        counts.here().requests.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counts.sum(|c| &c.requests), 4000);
        if shard_count() > 1 {
            let written = counts
                .iter()
                .filter(|c| c.requests.load(Ordering::Relaxed) > 0)
                .count();
            assert!(written > 1, "the workers wrote to one shard only");
        }
    }

    #[test]
    fn a_gauge_raised_on_one_thread_and_lowered_on_another_sums_right() {
        let counts = std::sync::Arc::new(PerWorker::<Counts>::default());
        let up = counts.clone();
        std::thread::spawn(move || {
            enter_worker(1);
            up.here().open.fetch_add(3, Ordering::Relaxed);
        })
        .join()
        .unwrap();
        enter_worker(0);
        counts.here().open.fetch_sub(2, Ordering::Relaxed);
        assert_eq!(counts.sum_gauge(|c| &c.open), 1);
    }

    #[test]
    fn shards_sit_on_separate_cache_lines() {
        let counts = PerWorker::<Counts>::default();
        let mut addresses: Vec<usize> = counts
            .iter()
            .map(|c| std::ptr::from_ref(c) as usize)
            .collect();
        addresses.sort_unstable();
        for pair in addresses.windows(2) {
            assert!(pair[1] - pair[0] >= 128, "{pair:?}");
        }
    }
}
