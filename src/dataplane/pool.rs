//! A pool at run time: its targets' weights, health and load, and how the
//! next target is chosen. Target state is shared across config swaps, so a
//! target keeps its health and in-flight count when the config changes.

use super::retry::{BudgetExhausted, RetryBudget};
use crate::spec::kinds::pool::{Algorithm, PoolSpec, Target};
use crate::spec::units::TargetAddr;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
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
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Set once the target was removed and its draining timeout passed.
    drained: watch::Sender<bool>,
    /// When a removed target's draining timeout passes ([`now_ms`]); 0
    /// while it is served.
    drain_deadline_ms: AtomicU64,
    /// Answers, 5xx, latency and health transitions, for the estate page.
    pub stats: super::target_stats::TargetStats,
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
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            drained: watch::channel(false).0,
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

    /// A future that resolves when requests to this target must stop.
    #[must_use]
    pub fn drained(&self) -> Drained {
        let mut rx = self.drained.subscribe();
        Box::pin(async move {
            if rx.wait_for(|drained| *drained).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    /// Turns `true` when requests to this target must stop: a receiver
    /// to wait on beside the request's I/O, without allocating.
    #[must_use]
    pub fn drain_signal(&self) -> watch::Receiver<bool> {
        self.drained.subscribe()
    }

    /// Cuts every request still in flight to this (removed) target.
    pub fn cut_in_flight(&self) {
        self.drained.send_replace(true);
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
        self.health.load(Ordering::Relaxed) != UNHEALTHY
            && self.ejected_until_ms.load(Ordering::Relaxed) <= now_ms()
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
            self.failures.store(0, Ordering::Relaxed);
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
        self.in_flight.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
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
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request in flight to a target, and when it was sent; dropping it
/// ends the request.
#[derive(Debug)]
pub struct InFlight<T: std::ops::Deref<Target = TargetState> = Arc<TargetState>>(T, Instant);

impl<T: std::ops::Deref<Target = TargetState>> InFlight<T> {
    /// Counts the answer this request got (`status`), timed from sending.
    pub fn answered(&self, status: u16) {
        self.0.stats.answer(status, self.1.elapsed());
    }
}

impl<T: std::ops::Deref<Target = TargetState>> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A pool for one config version.
#[derive(Debug)]
pub struct PoolState {
    pub spec: PoolSpec,
    pub primaries: Vec<Arc<TargetState>>,
    pub backups: Vec<Arc<TargetState>>,
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
    pub fn pick_here(&self, key: Option<&[u8]>) -> Option<&Arc<TargetState>> {
        self.choose(key, &[])
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
        self.choose(key, tried).cloned()
    }

    fn choose<'s>(
        &'s self,
        key: Option<&[u8]>,
        tried: &[Arc<TargetState>],
    ) -> Option<&'s Arc<TargetState>> {
        let now = now_ms();
        let slow_start = self.spec.slow_start.map(|d| d.0);
        // Borrowed, not cloned: only the chosen target's count moves
        // (an Arc clone per candidate would bounce every target's count
        // between the worker threads on every request).
        let eligible = |set: &'s [Arc<TargetState>]| -> Vec<Candidate<'s>> {
            set.iter()
                .filter(|t| t.is_healthy() && !tried.iter().any(|x| Arc::ptr_eq(x, t)))
                .map(|t| (t, t.effective_weight(slow_start, now)))
                .filter(|(_, w)| *w > 0)
                .collect()
        };
        let mut candidates = eligible(&self.primaries);
        if candidates.is_empty() {
            candidates = eligible(&self.backups);
        }
        if candidates.is_empty() {
            return None;
        }
        let tick = self.cursor.fetch_add(1, Ordering::Relaxed);
        let chosen = match (&self.spec.algorithm, key) {
            (Algorithm::RoundRobin, _) => {
                weighted_index(&candidates, interleave(tick, total_weight(&candidates)))
            }
            (Algorithm::WeightedRandom, _) => weighted_index(&candidates, mix(tick)),
            (Algorithm::LeastRequests, _) => least_requests(&candidates, tick),
            (Algorithm::ConsistentHash(_), Some(key)) => rendezvous(&candidates, key),
            (Algorithm::ConsistentHash(_), None) => {
                weighted_index(&candidates, interleave(tick, total_weight(&candidates)))
            }
        };
        Some(candidates[chosen].0)
    }
}

/// An eligible target and the weight it has right now.
type Candidate<'a> = (&'a Arc<TargetState>, u32);

/// The target that `n` falls on when targets take `weight` slots each.
fn weighted_index(candidates: &[Candidate<'_>], n: u64) -> usize {
    let mut slot = n % total_weight(candidates).max(1);
    for (i, (_, w)) in candidates.iter().enumerate() {
        let w = u64::from(*w);
        if slot < w {
            return i;
        }
        slot -= w;
    }
    0
}

fn total_weight(candidates: &[Candidate<'_>]) -> u64 {
    candidates.iter().map(|(_, w)| u64::from(*w)).sum()
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
fn least_requests(candidates: &[Candidate<'_>], tick: u64) -> usize {
    let a = weighted_index(candidates, mix(tick));
    let b = weighted_index(candidates, mix(tick ^ 0x9e37_79b9_7f4a_7c15));
    let load = |i: usize| {
        let (target, weight) = &candidates[i];
        target.in_flight() as u64 * 1_000_000 / u64::from(*weight).max(1)
    };
    if load(b) < load(a) {
        b
    } else {
        a
    }
}

/// Weighted rendezvous hashing: the same key picks the same target while
/// it is eligible, and only keys of a removed target move.
fn rendezvous(candidates: &[Candidate<'_>], key: &[u8]) -> usize {
    let score = |(t, weight): &Candidate<'_>| {
        let mut hasher = FIXED_HASHER.build_hasher();
        hasher.write(key);
        hasher.write(t.address.to_string().as_bytes());
        // Map the hash to (0, 1], then -w / ln(u) (larger is better).
        let u = ((hasher.finish() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        f64::from(*weight) / -u.ln().min(-f64::MIN_POSITIVE)
    };
    let mut best = 0;
    let mut best_score = f64::MIN;
    for (i, t) in candidates.iter().enumerate() {
        let s = score(t);
        if s > best_score {
            best = i;
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
