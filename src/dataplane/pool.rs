//! A pool at run time: its targets' weights, health and load, and how the
//! next target is chosen. Target state is shared across config swaps, so a
//! target keeps its health and in-flight count when the config changes.

use super::retry::{BudgetExhausted, RetryBudget};
use super::shards::PerWorker;
use crate::spec::kinds::pool::{Algorithm, PoolSpec, Target};
use crate::spec::units::TargetAddr;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How many failed requests in a row eject a target (passive health).
pub const PASSIVE_EJECT_AFTER: u32 = 5;
/// How long a passively ejected target sits out before it is tried again.
pub const PASSIVE_EJECT_FOR: Duration = Duration::from_secs(10);

const UNKNOWN: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

/// Milliseconds since this process first asked: a monotonic clock that
/// fits in an atomic.
#[must_use]
pub fn now_ms() -> u64 {
    ms_at(Instant::now())
}

/// [`now_ms`] at `at`: for a caller that has just read the clock.
#[must_use]
pub fn ms_at(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| at);
    u64::try_from(at.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// One backend, shared by every config that lists it.
#[derive(Debug)]
pub struct TargetState {
    pub address: TargetAddr,
    /// `address` as a URI authority, made once rather than per request.
    pub authority: hyper::http::uri::Authority,
    weight: AtomicU32,
    /// The active health checks' verdict: unknown until the first one.
    health: AtomicU8,
    /// When it last became eligible (added, or healthy again), for slow start.
    ready_since_ms: AtomicU64,
    /// Failed requests in a row, and until when the target is ejected.
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    /// Requests sent and in flight, counted by each worker apart.
    load: PerWorker<Load>,
    /// Set once the target was removed and its draining timeout passed.
    cut: AtomicBool,
    /// Wakes the requests waiting on the target when `cut` is set: one
    /// per worker, so a request waits on its own worker's.
    cut_wakers: PerWorker<Notify>,
    /// When a removed target's draining timeout passes ([`now_ms`]); 0
    /// while it is served.
    drain_deadline_ms: AtomicU64,
    /// Answers, 5xx, latency and health transitions, for the estate page.
    pub stats: super::target_stats::TargetStats,
}

/// One worker's requests to a target.
#[derive(Debug, Default)]
struct Load {
    /// Up on one thread and down on another, if ever, wraps here; the
    /// sum over the workers does not.
    in_flight: AtomicUsize,
    requests: AtomicU64,
}

/// Resolves when a target's draining timeout has passed.
pub type Drained = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

impl TargetState {
    fn new(target: &Target) -> Self {
        let authority = target
            .address
            .value
            .to_string()
            .parse()
            .unwrap_or_else(|_| hyper::http::uri::Authority::from_static("invalid.target"));
        Self {
            address: target.address.value.clone(),
            authority,
            weight: AtomicU32::new(target.weight.value),
            health: AtomicU8::new(UNKNOWN),
            ready_since_ms: AtomicU64::new(now_ms()),
            failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            load: PerWorker::default(),
            cut: AtomicBool::new(false),
            cut_wakers: PerWorker::default(),
            drain_deadline_ms: AtomicU64::new(0),
            stats: super::target_stats::TargetStats::default(),
        }
    }

    /// Marks a removed target as draining until `timeout` from now.
    pub fn start_draining(&self, timeout: Duration) {
        let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.drain_deadline_ms
            .store(now_ms().saturating_add(timeout).max(1), Ordering::Relaxed);
    }

    /// How long a draining target may still finish its requests; `None`
    /// while it is served.
    #[must_use]
    pub fn draining_left(&self, now_ms: u64) -> Option<Duration> {
        match self.drain_deadline_ms.load(Ordering::Relaxed) {
            0 => None,
            deadline => Some(Duration::from_millis(deadline.saturating_sub(now_ms))),
        }
    }

    /// [`Self::cut_off`], owning its target.
    #[must_use]
    pub fn drained(self: &Arc<Self>) -> Drained {
        let target = self.clone();
        Box::pin(async move { target.cut_off().await })
    }

    /// Resolves when requests to this target must stop: waited on beside
    /// a request's I/O. Until then it waits on the current worker's
    /// waker only, so no lock is shared between the workers.
    pub async fn cut_off(&self) {
        let wakers = self.cut_wakers.here();
        loop {
            let woken = wakers.notified();
            tokio::pin!(woken);
            // Registered before the flag is read, so a cut between the
            // two still wakes it.
            woken.as_mut().enable();
            if self.cut.load(Ordering::SeqCst) {
                return;
            }
            woken.await;
        }
    }

    /// Cuts every request still in flight to this (removed) target.
    pub fn cut_in_flight(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for wakers in self.cut_wakers.iter() {
            wakers.notify_waiters();
        }
    }

    #[must_use]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// The weight requests see now: during slow start it ramps from a
    /// small share up to the configured weight over `window`.
    #[must_use]
    pub fn effective_weight(&self, slow_start: Option<Duration>, now_ms: u64) -> u32 {
        let weight = self.weight();
        let Some(window) = slow_start.filter(|w| !w.is_zero()) else {
            return weight;
        };
        let elapsed = now_ms.saturating_sub(self.ready_since_ms.load(Ordering::Relaxed));
        let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        if elapsed >= window || weight == 0 {
            return weight;
        }
        let ramped = u64::from(weight) * elapsed.max(1) / window;
        u32::try_from(ramped).unwrap_or(weight).max(1)
    }

    /// Eligible for traffic: not marked unhealthy by active checks (unknown
    /// counts as up, so a fresh data plane serves at once) and not ejected.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.is_healthy_at(now_ms())
    }

    /// [`Self::is_healthy`] at `now_ms` (read once per choice).
    fn is_healthy_at(&self, now_ms: u64) -> bool {
        self.health.load(Ordering::Relaxed) != UNHEALTHY
            && self.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// The active checks' verdict, as reported in state.
    #[must_use]
    pub fn health(&self) -> crate::model::Health {
        match self.health.load(Ordering::Relaxed) {
            HEALTHY if self.is_healthy() => crate::model::Health::Healthy,
            UNKNOWN if self.is_healthy() => crate::model::Health::Unknown,
            _ => crate::model::Health::Unhealthy,
        }
    }

    /// Records an active check verdict; returns true when it changed.
    pub fn set_healthy(&self, healthy: bool) -> bool {
        let new = if healthy { HEALTHY } else { UNHEALTHY };
        let old = self.health.swap(new, Ordering::Relaxed);
        if healthy && old == UNHEALTHY {
            self.ready_since_ms.store(now_ms(), Ordering::Relaxed);
        }
        old != new
    }

    /// Records how a proxied request went: a connect error or a 5xx
    /// counts against the target, and enough in a row eject it for a while.
    pub fn record_outcome(&self, ok: bool) {
        if ok {
            // Read first: a store on every answer would move the line
            // between the workers even while it stays 0.
            if self.failures.load(Ordering::Relaxed) != 0 {
                self.failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= PASSIVE_EJECT_AFTER {
            self.failures.store(0, Ordering::Relaxed);
            let until = now_ms() + u64::try_from(PASSIVE_EJECT_FOR.as_millis()).unwrap_or(u64::MAX);
            self.ejected_until_ms.store(until, Ordering::Relaxed);
            self.ready_since_ms.store(until, Ordering::Relaxed);
            self.stats.transition(
                false,
                format!(
                    "ejected for {}s: {PASSIVE_EJECT_AFTER} failed requests in a row",
                    PASSIVE_EJECT_FOR.as_secs()
                ),
            );
        }
    }

    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.load.sum_gauge(|l| &l.in_flight)
    }

    #[must_use]
    pub fn requests(&self) -> u64 {
        self.load.sum(|l| &l.requests)
    }

    /// Counts a request as in flight until the guard drops.
    #[must_use]
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.count_request();
        InFlight(self.clone(), Instant::now())
    }

    /// [`Self::start_request`] for a request that ends before the target
    /// could be dropped: no reference count moves (it would bounce between
    /// the worker threads on every request).
    #[must_use]
    pub fn start_request_here(&self) -> InFlight<&Self> {
        self.count_request();
        InFlight(self, Instant::now())
    }

    fn count_request(&self) {
        let here = self.load.here();
        here.in_flight.fetch_add(1, Ordering::Relaxed);
        here.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request in flight to a target, and when it was sent; dropping it
/// ends the request.
#[derive(Debug)]
pub struct InFlight<T: std::ops::Deref<Target = TargetState> = Arc<TargetState>>(T, Instant);

impl<T: std::ops::Deref<Target = TargetState>> InFlight<T> {
    /// Counts the answer this request got (`status`), timed from sending.
    pub fn answered(&self, status: u16) {
        self.answered_at(status, Instant::now());
    }

    /// [`Self::answered`], with the clock read at the answer.
    pub fn answered_at(&self, status: u16, at: Instant) {
        self.0
            .stats
            .answer(status, at.saturating_duration_since(self.1));
    }

    /// When the request was sent.
    #[must_use]
    pub fn since(&self) -> Instant {
        self.1
    }
}

impl<T: std::ops::Deref<Target = TargetState>> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.0.load.here().in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A pool for one config version.
#[derive(Debug)]
pub struct PoolState {
    pub spec: PoolSpec,
    pub primaries: Vec<Arc<TargetState>>,
    pub backups: Vec<Arc<TargetState>>,
    /// Shared by the workers (one atomic add per choice): round robin
    /// and weights stay exact over all of a pool's requests, not only
    /// per worker.
    cursor: AtomicU64,
    /// Its retries, shared with the pool of the same name in the configs
    /// before and after.
    retry_budget: Arc<RetryBudget>,
}

impl PoolState {
    /// Builds the pool for a new config, reusing the state of targets the
    /// previous config already had (`known`, by address).
    #[must_use]
    pub fn new(spec: &PoolSpec, known: &HashMap<TargetAddr, Arc<TargetState>>) -> Self {
        let reuse = |target: &Target| match known.get(&target.address.value) {
            Some(state) => {
                state.weight.store(target.weight.value, Ordering::Relaxed);
                state.clone()
            }
            None => Arc::new(TargetState::new(target)),
        };
        let primaries: Vec<Arc<TargetState>> = spec.targets.iter().map(reuse).collect();
        let backups: Vec<Arc<TargetState>> = spec.backup_targets.iter().map(reuse).collect();
        let sent = primaries.iter().chain(&backups).map(|t| t.requests()).sum();
        Self {
            spec: spec.clone(),
            primaries,
            backups,
            cursor: AtomicU64::new(0),
            retry_budget: Arc::new(RetryBudget::new(now_ms(), sent)),
        }
    }

    /// Shares `previous`'s retry budget, so that retries in flight across
    /// a config swap still count.
    #[must_use]
    pub fn with_retry_budget_of(mut self, previous: &PoolState) -> Self {
        self.retry_budget = previous.retry_budget.clone();
        self
    }

    /// Takes a retry from the pool's budget now.
    pub fn admit_retry(&self) -> Result<(), BudgetExhausted> {
        let sent = self.targets().map(|t| t.requests()).sum();
        self.retry_budget.admit(now_ms(), sent)
    }

    /// Whether a request has another target to go to should one fail it.
    #[must_use]
    pub fn has_several_targets(&self) -> bool {
        self.primaries.len() + self.backups.len() > 1
    }

    /// Every target of this pool, primaries first.
    pub fn targets(&self) -> impl Iterator<Item = &Arc<TargetState>> {
        self.primaries.iter().chain(&self.backups)
    }

    /// Chooses a target for a request: among healthy primaries with a
    /// weight, else among healthy backups, by the pool's algorithm.
    /// `key` is the consistent-hash key when the algorithm uses one.
    #[must_use]
    pub fn pick(&self, key: Option<&[u8]>) -> Option<Arc<TargetState>> {
        self.pick_other_than(key, &[])
    }

    /// [`Self::pick`], borrowed from the pool.
    #[must_use]
    pub fn pick_here(&self, key: Option<&[u8]>, now: Instant) -> Option<&Arc<TargetState>> {
        self.choose(key, &[], ms_at(now))
    }

    /// Like [`Self::pick`], among the targets not in `tried`: where a
    /// request goes after those failed it. Consistent hashing falls to
    /// the key's next-best target.
    #[must_use]
    pub fn pick_other_than(
        &self,
        key: Option<&[u8]>,
        tried: &[Arc<TargetState>],
    ) -> Option<Arc<TargetState>> {
        self.choose(key, tried, now_ms()).cloned()
    }

    fn choose<'s>(
        &'s self,
        key: Option<&[u8]>,
        tried: &[Arc<TargetState>],
        now: u64,
    ) -> Option<&'s Arc<TargetState>> {
        let slow_start = self.spec.slow_start.map(|d| d.0);
        // Borrowed, not cloned: only the chosen target's count moves
        // (an Arc clone per candidate would bounce every target's count
        // between the worker threads on every request). Walked rather
        // than collected: no allocation per request.
        let eligible = |set: &'s [Arc<TargetState>]| {
            set.iter()
                .filter(move |t| t.is_healthy_at(now) && !tried.iter().any(|x| Arc::ptr_eq(x, t)))
                .map(move |t| (t, t.effective_weight(slow_start, now)))
                .filter(|(_, w)| *w > 0)
        };
        let set = if eligible(&self.primaries).next().is_some() {
            &self.primaries
        } else {
            &self.backups
        };
        let candidates = Candidates {
            all: eligible(set),
            total: total_weight(eligible(set)),
        };
        if candidates.total == 0 {
            return None;
        }
        let tick = self.cursor.fetch_add(1, Ordering::Relaxed);
        let chosen = match (&self.spec.algorithm, key) {
            (Algorithm::RoundRobin, _) | (Algorithm::ConsistentHash(_), None) => {
                candidates.at(interleave(tick, candidates.total))
            }
            (Algorithm::WeightedRandom, _) => candidates.at(mix(tick)),
            (Algorithm::LeastRequests, _) => least_requests(&candidates, tick),
            (Algorithm::ConsistentHash(_), Some(key)) => rendezvous(candidates.all, key),
        };
        chosen.map(|(target, _)| target)
    }
}

/// An eligible target and the weight it has right now.
type Candidate<'a> = (&'a Arc<TargetState>, u32);

/// The eligible targets of a choice, and their weights' sum (not zero).
struct Candidates<I> {
    all: I,
    total: u64,
}

impl<'a, I: Iterator<Item = Candidate<'a>> + Clone> Candidates<I> {
    /// The target that `n` falls on when targets take `weight` slots each.
    fn at(&self, n: u64) -> Option<Candidate<'a>> {
        let mut slot = n % self.total.max(1);
        let mut last = None;
        for (target, weight) in self.all.clone() {
            let w = u64::from(weight);
            if slot < w {
                return Some((target, weight));
            }
            slot -= w;
            last = Some((target, weight));
        }
        // Weights moved (slow start) between the sum and the walk.
        last
    }
}

fn total_weight<'a>(candidates: impl Iterator<Item = Candidate<'a>>) -> u64 {
    candidates.map(|(_, w)| u64::from(w)).sum()
}

/// Steps through the `total` weight slots in an order that visits each
/// slot once per `total` turns but spreads them out, so weights 90:10
/// give one request in ten to the light target rather than ten in a row
/// after ninety. Multiplying by a prime that does not divide `total`
/// permutes `0..total`.
#[must_use]
pub fn interleave(turn: u64, total: u64) -> u64 {
    const STEPS: [u64; 4] = [7_919, 104_729, 1_299_709, 15_485_863];
    let total = total.max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|p| !total.is_multiple_of(*p))
        .unwrap_or(1);
    (turn % total).wrapping_mul(step % total) % total
}

/// Power of two choices: of two weighted picks, the one with fewer
/// requests in flight per unit of weight; on a tie the first, so an idle
/// pool still splits by weight.
fn least_requests<'a, I: Iterator<Item = Candidate<'a>> + Clone>(
    candidates: &Candidates<I>,
    tick: u64,
) -> Option<Candidate<'a>> {
    let a = candidates.at(mix(tick))?;
    let b = candidates.at(mix(tick ^ 0x9e37_79b9_7f4a_7c15))?;
    let load = |(target, weight): Candidate<'_>| {
        target.in_flight() as u64 * 1_000_000 / u64::from(weight).max(1)
    };
    if load(b) < load(a) {
        Some(b)
    } else {
        Some(a)
    }
}

/// Weighted rendezvous hashing: the same key picks the same target while
/// it is eligible, and only keys of a removed target move.
fn rendezvous<'a>(
    candidates: impl Iterator<Item = Candidate<'a>>,
    key: &[u8],
) -> Option<Candidate<'a>> {
    let score = |(t, weight): &Candidate<'_>| {
        let mut hasher = FIXED_HASHER.build_hasher();
        hasher.write(key);
        hasher.write(t.address.to_string().as_bytes());
        // Map the hash to (0, 1], then -w / ln(u) (larger is better).
        let u = ((hasher.finish() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        f64::from(*weight) / -u.ln().min(-f64::MIN_POSITIVE)
    };
    let mut best = None;
    let mut best_score = f64::MIN;
    for candidate in candidates {
        let s = score(&candidate);
        if best.is_none() || s > best_score {
            best = Some(candidate);
            best_score = s;
        }
    }
    best
}

/// A hasher with fixed keys, so that consistent hashing is consistent
/// across restarts and data-plane replicas.
const FIXED_HASHER: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// SplitMix64: spreads a counter into pseudo-random bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
