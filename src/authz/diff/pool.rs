//! Pools: targets, weights, health check, algorithm, settings.
//!
//! | field | action |
//! |---|---|
//! | `targets`, `backup_targets`: a target added, removed, moved between the two lists, or reordered | `pool.targets.update` |
//! | `targets`, `backup_targets`: the weight of a target kept in its list | `pool.weights.update` |
//! | `health_check` (added, removed, any field) | `pool.health_check.update` |
//! | `algorithm` (hash key included) | `pool.algorithm.update` |
//! | `draining_timeout`, `slow_start` | `pool.settings.update` |

use super::text::{dur, opt_dur};
use super::{Classify, Found};
use crate::spec::actions::{self, Action};
use crate::spec::kinds::pool::{
    Algorithm, HashKey, HealthCheck, HttpProbe, PoolSpec, Probe, Target,
};
use crate::spec::kinds::Kind;
use crate::spec::yaml::Spanned;
use std::collections::BTreeMap;

const TARGETS: &Action = &actions::POOL_TARGETS_UPDATE;
const WEIGHTS: &Action = &actions::POOL_WEIGHTS_UPDATE;
const HEALTH: &Action = &actions::POOL_HEALTH_CHECK_UPDATE;
const ALGORITHM: &Action = &actions::POOL_ALGORITHM_UPDATE;
const SETTINGS: &Action = &actions::POOL_SETTINGS_UPDATE;

impl Classify for PoolSpec {
    const KIND: Kind = Kind::Pool;
    const CREATE: &'static Action = &actions::POOL_CREATE;
    const DELETE: &'static Action = &actions::POOL_DELETE;
    const LABELS: &'static Action = &actions::POOL_LABELS_UPDATE;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let PoolSpec {
            targets,
            backup_targets,
            algorithm,
            health_check,
            draining_timeout,
            slow_start,
        } = before;
        if *targets != after.targets || *backup_targets != after.backup_targets {
            diff_targets(
                [targets, backup_targets],
                [&after.targets, &after.backup_targets],
                found,
            );
        }
        if *algorithm != after.algorithm {
            found.note(
                ALGORITHM,
                format!(
                    "algorithm {} → {}",
                    algorithm_text(algorithm),
                    algorithm_text(&after.algorithm)
                ),
            );
        }
        if *health_check != after.health_check {
            diff_health(health_check.as_ref(), after.health_check.as_ref(), found);
        }
        if *draining_timeout != after.draining_timeout {
            found.note(
                SETTINGS,
                format!(
                    "draining timeout {} → {}",
                    dur(*draining_timeout),
                    dur(after.draining_timeout)
                ),
            );
        }
        if *slow_start != after.slow_start {
            found.note(
                SETTINGS,
                format!(
                    "slow start {} → {}",
                    opt_dur(*slow_start),
                    opt_dur(after.slow_start)
                ),
            );
        }
    }

    fn summary(spec: &Self) -> Option<String> {
        let n = spec.targets.len();
        Some(format!("with {n} target{}", if n == 1 { "" } else { "s" }))
    }
}

const LISTS: [&str; 2] = ["target", "backup target"];

/// Targets by address: which list (0 primary, 1 backup) and weight.
fn by_address(lists: [&Vec<Target>; 2]) -> BTreeMap<String, (usize, u32)> {
    let mut map = BTreeMap::new();
    for (list, targets) in lists.into_iter().enumerate() {
        for Target { address, weight } in targets {
            map.entry(address.value.to_string())
                .or_insert((list, weight.value));
        }
    }
    map
}

fn diff_targets(before: [&Vec<Target>; 2], after: [&Vec<Target>; 2], found: &mut Found) {
    let noted = found.len();
    let old = by_address(before);
    let new = by_address(after);
    for (address, &(list, weight)) in &old {
        let Some(&(to, now)) = new.get(address) else {
            found.note(TARGETS, format!("{} {address} removed", LISTS[list]));
            continue;
        };
        if to != list {
            let detail = format!("{} {address} moved to {}s", LISTS[list], LISTS[to]);
            found.note(TARGETS, detail);
        }
        if now != weight {
            found.note(WEIGHTS, format!("weight of {address} {weight} → {now}"));
        }
    }
    for (address, &(list, weight)) in &new {
        if !old.contains_key(address) {
            found.note(
                TARGETS,
                format!("{} {address} added (weight {weight})", LISTS[list]),
            );
        }
    }
    if found.len() == noted {
        // Same addresses and weights: only the order (or a duplicate) differs.
        found.note(TARGETS, "targets reordered");
    }
}

fn algorithm_text(algorithm: &Algorithm) -> String {
    match algorithm {
        Algorithm::RoundRobin => "round_robin".to_owned(),
        Algorithm::LeastRequests => "least_requests".to_owned(),
        Algorithm::WeightedRandom => "weighted_random".to_owned(),
        Algorithm::ConsistentHash(HashKey::Header(h)) => format!("consistent_hash on header {h}"),
        Algorithm::ConsistentHash(HashKey::SourceIp) => "consistent_hash on source_ip".to_owned(),
    }
}

fn probe_text(probe: &Probe) -> String {
    match probe {
        Probe::Http(HttpProbe {
            path,
            expected_codes,
        }) => {
            let codes: Vec<String> = expected_codes.iter().map(|c| c.value.to_string()).collect();
            format!("http {} expecting {}", path.value, codes.join(","))
        }
        Probe::Tcp => "tcp".to_owned(),
    }
}

fn diff_health(
    before: Option<&Spanned<HealthCheck>>,
    after: Option<&Spanned<HealthCheck>>,
    found: &mut Found,
) {
    let (old, new) = match (before, after) {
        (None, None) => return,
        (None, Some(new)) => {
            let detail = format!("health check added ({})", probe_text(&new.probe));
            return found.note(HEALTH, detail);
        }
        (Some(_), None) => return found.note(HEALTH, "health check removed"),
        (Some(old), Some(new)) => (&old.value, &new.value),
    };
    let HealthCheck {
        probe,
        interval,
        timeout,
        healthy_threshold,
        unhealthy_threshold,
    } = old;
    if *probe != new.probe {
        let detail = format!(
            "health check probe {} → {}",
            probe_text(probe),
            probe_text(&new.probe)
        );
        found.note(HEALTH, detail);
    }
    let durations = [
        ("interval", interval, &new.interval),
        ("timeout", timeout, &new.timeout),
    ];
    for (what, old, new) in durations {
        if old != new {
            let detail = format!(
                "health check {what} {} → {}",
                dur(old.value),
                dur(new.value)
            );
            found.note(HEALTH, detail);
        }
    }
    let thresholds = [
        (
            "healthy threshold",
            healthy_threshold,
            &new.healthy_threshold,
        ),
        (
            "unhealthy threshold",
            unhealthy_threshold,
            &new.unhealthy_threshold,
        ),
    ];
    for (what, old, new) in thresholds {
        if old != new {
            let detail = format!("health check {what} {} → {}", old.value, new.value);
            found.note(HEALTH, detail);
        }
    }
}
