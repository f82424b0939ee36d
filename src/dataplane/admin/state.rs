//! `GET /v1/state`: what really runs, read from the snapshot being served
//! and the sockets bound, never from what was last asked for.

use crate::dataplane::pool::TargetState;
use crate::dataplane::runtime::Snapshot;
use crate::dataplane::target_stats::TargetCounts;
use crate::dataplane::DrainingTarget;
use crate::model::{Health, ObservedCertificate, ObservedPool, ObservedState, ObservedTarget};
use crate::spec::units::{Name, TargetAddr};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The data plane as it runs: the provider's view of it, plus what only a
/// running process knows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunningState {
    pub observed: ObservedState,
    /// The sockets listening now, sorted.
    pub listeners: Vec<SocketAddr>,
    /// Every target of every pool, pools by name, primaries first, then
    /// the removed targets still draining.
    pub targets: Vec<TargetLoad>,
}

/// One target's health and load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TargetLoad {
    pub pool: Name,
    pub address: TargetAddr,
    pub backup: bool,
    /// Removed from its pool, finishing the requests it had.
    pub draining: bool,
    /// Takes new requests: not marked down by health checks or ejected.
    pub healthy: bool,
    pub in_flight: usize,
    /// Requests (or TCP connections) sent to it since it joined the pool.
    pub requests: u64,
    /// The weight it is configured with, and the weight requests see now
    /// (lower while slow start ramps it up).
    pub weight: u32,
    pub effective_weight: u32,
    /// Milliseconds a draining target may still finish requests in.
    pub draining_left_ms: Option<u64>,
    /// HTTP answers, 5xx, latency histogram and health transitions.
    pub counts: TargetCounts,
}

impl TargetLoad {
    fn new(
        pool: &Name,
        target: &TargetState,
        backup: bool,
        draining: bool,
        slow_start: Option<std::time::Duration>,
    ) -> Self {
        let now = crate::dataplane::pool::now_ms();
        Self {
            pool: pool.clone(),
            address: target.address.clone(),
            backup,
            draining,
            healthy: target.is_healthy(),
            in_flight: target.in_flight(),
            requests: target.requests(),
            weight: target.weight(),
            effective_weight: target.effective_weight(slow_start, now),
            draining_left_ms: target
                .draining_left(now)
                .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            counts: target.stats.read(),
        }
    }
}

impl RunningState {
    /// Reads `snapshot`; `listeners` are the bound sockets and `draining`
    /// the removed targets still finishing requests
    /// ([`Dataplane::bound`](crate::dataplane::Dataplane::bound),
    /// [`Dataplane::draining`](crate::dataplane::Dataplane::draining)).
    #[must_use]
    pub fn of(
        snapshot: &Snapshot,
        listeners: Vec<SocketAddr>,
        draining: &[DrainingTarget],
    ) -> Self {
        let slow_start = |pool: &Name| {
            snapshot
                .config
                .pools
                .get(pool)
                .and_then(|p| p.slow_start.map(|d| d.0))
        };
        let served = served_targets(snapshot).map(|(pool, target, backup)| {
            TargetLoad::new(pool, target, backup, false, slow_start(pool))
        });
        let drained = draining
            .iter()
            .map(|d| TargetLoad::new(&d.pool, &d.target, false, true, None));
        Self {
            observed: observe(snapshot, draining),
            listeners,
            targets: served.chain(drained).collect(),
        }
    }
}

/// What a provider reports for the embedded data plane: the running
/// config with its targets' current weights and health, and the removed
/// targets still draining in the pools that remain.
#[must_use]
pub fn observe(snapshot: &Snapshot, draining: &[DrainingTarget]) -> ObservedState {
    let config = &snapshot.config;
    let mut pools: BTreeMap<Name, ObservedPool> = config
        .pools
        .iter()
        .map(|(name, spec)| {
            let pool = ObservedPool {
                spec: spec.clone(),
                targets: Vec::new(),
            };
            (name.clone(), pool)
        })
        .collect();
    let served = served_targets(snapshot).map(|(pool, t, backup)| (pool, t, backup, t.health()));
    let drained = draining
        .iter()
        .map(|d| (&d.pool, &d.target, false, Health::Draining));
    for (name, target, backup, health) in served.chain(drained) {
        if let Some(pool) = pools.get_mut(name) {
            pool.targets.push(ObservedTarget {
                address: target.address.clone(),
                weight: target.weight(),
                backup,
                health,
            });
        }
    }
    ObservedState {
        version: config.version,
        load_balancers: config
            .load_balancers
            .iter()
            .map(|(name, lb)| (name.clone(), lb.spec.clone()))
            .collect(),
        pools,
        certificates: config
            .certificates
            .iter()
            .map(|(name, cert)| {
                let observed = ObservedCertificate {
                    chain_sha256: crate::model::sha256_hex(&cert.chain_pem),
                    key: cert.key.clone(),
                };
                (name.clone(), observed)
            })
            .collect(),
    }
}

/// Every served target with its pool and whether it is a backup: pools in
/// name order, primaries first, as configured.
fn served_targets(snapshot: &Snapshot) -> impl Iterator<Item = (&Name, &Arc<TargetState>, bool)> {
    snapshot.config.pools.keys().flat_map(move |name| {
        snapshot.pools.get(name).into_iter().flat_map(move |pool| {
            let primaries = pool.primaries.iter().map(move |t| (name, t, false));
            let backups = pool.backups.iter().map(move |t| (name, t, true));
            primaries.chain(backups)
        })
    })
}
