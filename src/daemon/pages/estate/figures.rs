//! Live figures: every [`SAMPLE_EVERY`] the daemon reads each target's
//! counters from the data plane, turns the difference from the reading
//! before into one [`Sample`] (requests/s, 5xx ratio, p50/p99, active),
//! and keeps the last [`SAMPLES`] of them per target, pool, route and
//! balancer in a fixed-size ring: 15 minutes, bounded however long the
//! daemon runs. Pools sum their targets' counts (so their percentiles come
//! from the summed histogram), routes their pools', balancers their
//! routes' distinct pools'.
//!
//! Memory per target: one ring of `SAMPLES` × 20-byte samples (1,800
//! bytes) plus the previous reading (16 + 8 × 13 bytes): about 1.9 KiB.

use super::model;
use crate::dataplane::admin::TargetLoad;
use crate::dataplane::stats::LATENCY_BUCKETS;
use crate::spec::kinds::loadbalancer::Action;
use crate::spec::Catalog;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// How often targets are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Samples remembered per element: 15 minutes at [`SAMPLE_EVERY`].
pub const SAMPLES: usize = 90;

/// Latency buckets: one per bound, and one past the last.
const BUCKETS: usize = LATENCY_BUCKETS.len() + 1;

/// Bytes of sparkline memory per target (the ring and the last reading).
pub const BYTES_PER_TARGET: usize = std::mem::size_of::<Ring>()
    + SAMPLES * std::mem::size_of::<Sample>()
    + std::mem::size_of::<Counts>();

/// One element over one sampling interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub requests_per_second: f32,
    pub error_ratio: f32,
    /// NaN without answers.
    pub p50_ms: f32,
    pub p99_ms: f32,
    pub active: u32,
}

/// Counters that add up across targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    answered: u64,
    errors: u64,
    latency: [u64; BUCKETS],
}

impl Counts {
    fn of(load: &TargetLoad) -> Self {
        let mut latency = [0; BUCKETS];
        for (slot, count) in latency.iter_mut().zip(&load.counts.latency) {
            *slot = *count;
        }
        Counts {
            answered: load.counts.answered,
            errors: load.counts.errors_5xx,
            latency,
        }
    }

    /// What happened since `before` (a counter that went back, a target
    /// that rejoined its pool, counts from zero).
    fn since(&self, before: &Counts) -> Counts {
        let sub = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now);
        let mut latency = [0; BUCKETS];
        for (i, slot) in latency.iter_mut().enumerate() {
            *slot = sub(self.latency[i], before.latency[i]);
        }
        Counts {
            answered: sub(self.answered, before.answered),
            errors: sub(self.errors, before.errors),
            latency,
        }
    }

    fn add(&mut self, other: &Counts) {
        self.answered += other.answered;
        self.errors += other.errors;
        for (slot, count) in self.latency.iter_mut().zip(other.latency) {
            *slot += count;
        }
    }
}

/// The upper bound (ms) of the bucket where the `q` quantile falls;
/// past the last bound it is that bound; NaN without answers.
fn quantile_ms(latency: &[u64; BUCKETS], q: f64) -> f32 {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return f32::NAN;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, count) in latency.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = LATENCY_BUCKETS[i.min(LATENCY_BUCKETS.len() - 1)];
            return (bound * 1000.0) as f32;
        }
    }
    (LATENCY_BUCKETS[LATENCY_BUCKETS.len() - 1] * 1000.0) as f32
}

fn sample(delta: &Counts, active: u64, seconds: f64) -> Sample {
    let ratio = if delta.answered == 0 {
        0.0
    } else {
        delta.errors as f32 / delta.answered as f32
    };
    Sample {
        requests_per_second: (delta.answered as f64 / seconds.max(0.001)) as f32,
        error_ratio: ratio,
        p50_ms: quantile_ms(&delta.latency, 0.5),
        p99_ms: quantile_ms(&delta.latency, 0.99),
        active: u32::try_from(active).unwrap_or(u32::MAX),
    }
}

/// A fixed-size ring of samples, oldest overwritten first.
#[derive(Debug)]
struct Ring {
    samples: Box<[Sample; SAMPLES]>,
    /// How many are filled, and where the next one goes.
    len: u16,
    next: u16,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            samples: Box::new([Sample::default(); SAMPLES]),
            len: 0,
            next: 0,
        }
    }
}

impl Ring {
    fn push(&mut self, sample: Sample) {
        self.samples[usize::from(self.next)] = sample;
        self.next = (self.next + 1) % SAMPLES as u16;
        self.len = (self.len + 1).min(SAMPLES as u16);
    }

    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = &Sample> {
        let start = (usize::from(self.next) + SAMPLES - usize::from(self.len)) % SAMPLES;
        (0..usize::from(self.len)).map(move |i| &self.samples[(start + i) % SAMPLES])
    }

    fn figures(&self) -> Option<model::Figures> {
        let last = self.iter().last()?;
        let ms = |v: f32| (!v.is_nan()).then_some(f64::from(v));
        Some(model::Figures {
            requests_per_second: f64::from(last.requests_per_second),
            error_ratio: f64::from(last.error_ratio),
            p50_ms: ms(last.p50_ms),
            p99_ms: ms(last.p99_ms),
            active: u64::from(last.active),
            sparkline: self.iter().map(|s| s.requests_per_second).collect(),
        })
    }
}

/// Which element a ring is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Element {
    Balancer(String),
    Route {
        balancer: String,
        listener: String,
        route: String,
    },
    Pool(String),
    Target {
        pool: String,
        address: String,
    },
}

/// The name a listener's default action goes by as a route.
pub const DEFAULT_ROUTE: &str = "default";

/// The rings of every element, and each target's last reading.
#[derive(Debug, Default)]
pub struct FigureBook {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
pub struct Book {
    rings: HashMap<Element, Ring>,
    last: HashMap<(String, String), Counts>,
}

impl Book {
    /// The figures of `element`, once it has a sample.
    #[must_use]
    pub fn figures(&self, element: &Element) -> Option<model::Figures> {
        self.rings.get(element).and_then(Ring::figures)
    }

    /// Adds one sample per element from `loads`, read `seconds` after the
    /// reading before; `catalog` says which pools each route and balancer
    /// forwards to. Elements that are gone lose their rings.
    pub fn record(&mut self, loads: &[TargetLoad], catalog: &Catalog, seconds: f64) {
        let mut by_pool: HashMap<String, (Counts, u64)> = HashMap::new();
        let mut last = HashMap::with_capacity(loads.len());
        let mut alive: BTreeSet<Element> = BTreeSet::new();
        for load in loads {
            let key = (load.pool.to_string(), load.address.to_string());
            let now = Counts::of(load);
            // The first reading of a target has nothing to compare with yet.
            let delta = self
                .last
                .get(&key)
                .map_or_else(Counts::default, |before| now.since(before));
            let active = load.in_flight as u64;
            let element = Element::Target {
                pool: key.0.clone(),
                address: key.1.clone(),
            };
            self.rings
                .entry(element.clone())
                .or_default()
                .push(sample(&delta, active, seconds));
            alive.insert(element);
            let pool = by_pool.entry(key.0.clone()).or_default();
            pool.0.add(&delta);
            pool.1 += active;
            last.insert(key, now);
        }
        self.last = last;
        for (pool, (counts, active)) in &by_pool {
            let element = Element::Pool(pool.clone());
            self.rings
                .entry(element.clone())
                .or_default()
                .push(sample(counts, *active, seconds));
            alive.insert(element);
        }
        for (name, balancer) in &catalog.load_balancers {
            let mut all = Counts::default();
            let mut all_active = 0;
            let mut counted: BTreeSet<&str> = BTreeSet::new();
            for listener in &balancer.spec.listeners {
                let routes = listener
                    .routes
                    .iter()
                    .map(|r| (r.name.value.to_string(), &r.action.value));
                let default = listener
                    .default_action
                    .iter()
                    .map(|a| (DEFAULT_ROUTE.to_owned(), &a.value));
                for (route, action) in routes.chain(default) {
                    let Action::Forward(forward) = action else {
                        continue;
                    };
                    let mut counts = Counts::default();
                    let mut active = 0;
                    for pool in &forward.pools {
                        let name = pool.pool.value.as_str();
                        if let Some((c, a)) = by_pool.get(name) {
                            counts.add(c);
                            active += a;
                            if counted.insert(name) {
                                all.add(c);
                                all_active += a;
                            }
                        }
                    }
                    let element = Element::Route {
                        balancer: name.to_string(),
                        listener: listener.name.value.to_string(),
                        route,
                    };
                    self.rings
                        .entry(element.clone())
                        .or_default()
                        .push(sample(&counts, active, seconds));
                    alive.insert(element);
                }
            }
            let element = Element::Balancer(name.to_string());
            self.rings
                .entry(element.clone())
                .or_default()
                .push(sample(&all, all_active, seconds));
            alive.insert(element);
        }
        self.rings.retain(|element, _| alive.contains(element));
    }
}

impl FigureBook {
    /// Records a reading (see [`Book::record`]).
    pub fn record(&self, loads: &[TargetLoad], catalog: &Catalog, seconds: f64) {
        self.lock().record(loads, catalog, seconds);
    }

    /// Runs `read` on the book, locked once for a whole page.
    pub fn read<T>(&self, read: impl FnOnce(&Book) -> T) -> T {
        read(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::target_stats::TargetCounts;

    fn load(pool: &str, address: &str, answered: u64, errors: u64, fast: u64) -> TargetLoad {
        let mut latency = vec![0; BUCKETS];
        latency[0] = fast;
        latency[6] = answered - fast;
        TargetLoad {
            pool: pool.parse().unwrap(),
            address: address.parse().unwrap(),
            backup: false,
            draining: false,
            healthy: true,
            in_flight: 2,
            requests: answered,
            weight: 1,
            effective_weight: 1,
            draining_left_ms: None,
            counts: TargetCounts {
                answered,
                errors_5xx: errors,
                latency,
                history: Vec::new(),
            },
        }
    }

    fn catalog() -> Catalog {
        let yaml = "kind: Pool\nname: web\nspec:\n  targets: [{address: '127.0.0.1:9001'}]\n---\n\
                    kind: LoadBalancer\nname: edge\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
                    \x20   - {name: http, protocol: http, port: 8080, default_action: {forward: {pools: [{pool: web}]}}}\n";
        crate::spec::load(
            &[crate::spec::SourceFile::new("r.yaml", yaml)],
            &crate::spec::Options::at(1_800_000_000),
        )
        .unwrap()
        .catalog
    }

    #[test]
    fn rates_ratios_and_percentiles_come_from_the_difference_between_readings() {
        let catalog = catalog();
        let mut book = Book::default();
        book.record(
            &[load("web", "127.0.0.1:9001", 100, 0, 100)],
            &catalog,
            10.0,
        );
        book.record(
            &[load("web", "127.0.0.1:9001", 300, 20, 200)],
            &catalog,
            10.0,
        );
        let target = Element::Target {
            pool: "web".into(),
            address: "127.0.0.1:9001".into(),
        };
        let figures = book.figures(&target).unwrap();
        assert_eq!(figures.requests_per_second, 20.0);
        assert!((figures.error_ratio - 0.1).abs() < 1e-6);
        assert_eq!(figures.p50_ms, Some(1.0), "100 of 200 under 1 ms");
        assert_eq!(figures.p99_ms, Some(100.0), "the rest under 100 ms");
        assert_eq!(figures.active, 2);
        assert_eq!(figures.sparkline, vec![0.0, 20.0]);
        for element in [
            Element::Pool("web".into()),
            Element::Balancer("edge".into()),
            Element::Route {
                balancer: "edge".into(),
                listener: "http".into(),
                route: DEFAULT_ROUTE.into(),
            },
        ] {
            assert_eq!(
                book.figures(&element).unwrap().requests_per_second,
                20.0,
                "{element:?}"
            );
        }
    }

    #[test]
    fn the_ring_keeps_fifteen_minutes_and_gone_targets_leave() {
        let catalog = catalog();
        let mut book = Book::default();
        for i in 0..SAMPLES as u64 + 7 {
            book.record(&[load("web", "127.0.0.1:9001", i, 0, i)], &catalog, 10.0);
        }
        let target = Element::Target {
            pool: "web".into(),
            address: "127.0.0.1:9001".into(),
        };
        assert_eq!(book.figures(&target).unwrap().sparkline.len(), SAMPLES);
        book.record(&[], &catalog, 10.0);
        assert!(book.figures(&target).is_none());
    }
}
