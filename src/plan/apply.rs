//! What a provider observes after steps run, or after a whole catalog has
//! been applied: the model of a perfect provider that tests check plans
//! against, and that providers which push a whole configuration at once
//! build their configuration from.

use super::pools::{running_targets, settings, with_targets};
use crate::model::{
    sha256_hex, Health, ObservedCertificate, ObservedPool, ObservedState, ObservedTarget, Step,
};
use crate::spec::alloc::Allocation;
use crate::spec::kinds::loadbalancer::{AddressSpec, LoadBalancerSpec};
use crate::spec::kinds::pool::{PoolSpec, Target};
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::{Name, TargetAddr};
use crate::spec::Catalog;

/// What a provider that applies every step perfectly would then observe.
/// Used by tests and by providers that apply a whole config at once.
///
/// Added targets start [`Health::Unknown`] and become healthy at the
/// `WaitHealthy` that names them; drained targets are
/// [`Health::Draining`] until removed. A step naming a pool that does not
/// run changes nothing, as a real provider would refuse it. The `version`
/// is the provider's own and is left as it was.
#[must_use]
pub fn apply_to(observed: &ObservedState, steps: &[Step]) -> ObservedState {
    let mut state = observed.clone();
    for step in steps {
        apply_step(&mut state, step);
    }
    state
}

/// Bridge: the state a fresh provider would observe after fully applying
/// `desired` (all targets Healthy).
///
/// Balancer addresses taken from an AddressPool are pinned to the address
/// the catalog's allocation gave them, as [`plan`](super::plan) puts them.
/// A certificate without chain text is left out, as `plan` leaves it alone.
#[must_use]
pub fn observed_from(desired: &Catalog) -> ObservedState {
    let load_balancers = desired
        .load_balancers
        .iter()
        .map(|(name, lb)| {
            let spec = resolved_balancer(name, &lb.spec, &desired.allocation);
            (name.clone(), spec)
        })
        .collect();
    let pools = desired
        .pools
        .iter()
        .map(|(name, pool)| (name.clone(), healthy_pool(&pool.spec)))
        .collect();
    let certificates = desired
        .certificates
        .iter()
        .filter_map(|(name, certificate)| {
            let chain = certificate.spec.chain.as_ref()?;
            let observed = ObservedCertificate {
                chain_sha256: sha256_hex(&chain.value),
                key: certificate.spec.private_key.value.clone(),
            };
            Some((name.clone(), observed))
        })
        .collect();
    ObservedState {
        version: 0,
        load_balancers,
        pools,
        certificates,
    }
}

/// The balancer as a provider should run it: each address taken from an
/// AddressPool pinned to the one the allocation holds for it, so that the
/// provider binds exactly what `spec::alloc` promised (and keeps), and a
/// provider reporting what it was given shows no difference on the next
/// plan. Entries the allocation does not cover are left as written.
pub(super) fn resolved_balancer(
    name: &Name,
    spec: &LoadBalancerSpec,
    allocation: &Allocation,
) -> LoadBalancerSpec {
    let id = ResourceId::new(Kind::LoadBalancer, name.clone()).to_string();
    // The allocation lists one address per entry, in entry order, skipping
    // entries whose AddressPool did not exist.
    let mut assigned = allocation.get(&id).unwrap_or_default().iter().peekable();
    let mut spec = spec.clone();
    for entry in &mut spec.addresses {
        match &mut entry.value {
            AddressSpec::Static(ip) => {
                assigned.next_if(|a| a.pool.is_none() && a.address == *ip);
            }
            AddressSpec::FromPool { pool, address } => {
                let pool_id = ResourceId::new(Kind::AddressPool, pool.value.clone()).to_string();
                if let Some(a) = assigned.next_if(|a| a.pool.as_deref() == Some(pool_id.as_str())) {
                    *address = Some(a.address);
                }
            }
        }
    }
    spec
}

/// A pool running every listed target, all healthy.
fn healthy_pool(spec: &PoolSpec) -> ObservedPool {
    let listed = (spec.targets.iter().map(|t| (t, false)))
        .chain(spec.backup_targets.iter().map(|t| (t, true)));
    let targets = listed
        .map(|(target, backup)| observed_target(target, backup, Health::Healthy))
        .collect();
    ObservedPool {
        spec: spec.clone(),
        targets,
    }
}

fn observed_target(target: &Target, backup: bool, health: Health) -> ObservedTarget {
    ObservedTarget {
        address: target.address.value.clone(),
        weight: target.weight.value,
        backup,
        health,
    }
}

fn apply_step(state: &mut ObservedState, step: &Step) {
    match step {
        Step::PutCertificate {
            name,
            chain_pem,
            key,
        } => {
            let certificate = ObservedCertificate {
                chain_sha256: sha256_hex(chain_pem),
                key: key.clone(),
            };
            state.certificates.insert(name.clone(), certificate);
        }
        Step::CreatePool { name, spec } => {
            let mut pool = healthy_pool(spec);
            set_health(&mut pool.targets, |_| true, Health::Unknown);
            state.pools.insert(name.clone(), pool);
        }
        Step::UpdatePoolSettings { name, spec } => with_pool(state, name, |pool| {
            let targets = running_targets(&pool.targets);
            pool.spec = with_targets(settings(spec), targets);
        }),
        Step::AddTargets {
            pool,
            targets,
            backup,
        } => with_pool(state, pool, |pool| {
            for target in targets {
                pool.targets.retain(|t| t.address != target.address.value);
                let added = observed_target(target, *backup, Health::Unknown);
                pool.targets.push(added);
            }
        }),
        Step::WaitHealthy { pool, targets, .. } => with_pool(state, pool, |pool| {
            let waiting = |t: &ObservedTarget| named(targets, t) && t.health != Health::Draining;
            set_health(&mut pool.targets, waiting, Health::Healthy);
        }),
        Step::SetWeights { pool, weights } => with_pool(state, pool, |pool| {
            for (address, weight) in weights {
                for target in pool.targets.iter_mut().filter(|t| t.address == *address) {
                    target.weight = *weight;
                }
            }
        }),
        Step::PutLoadBalancer { name, spec } => {
            state.load_balancers.insert(name.clone(), spec.clone());
        }
        Step::DrainTargets { pool, targets, .. } => with_pool(state, pool, |pool| {
            set_health(&mut pool.targets, |t| named(targets, t), Health::Draining);
        }),
        Step::RemoveTargets { pool, targets } => with_pool(state, pool, |pool| {
            pool.targets.retain(|t| !named(targets, t));
        }),
        Step::DeleteLoadBalancer { name } => {
            state.load_balancers.remove(name);
        }
        Step::DeletePool { name } => {
            state.pools.remove(name);
        }
        Step::DeleteCertificate { name } => {
            state.certificates.remove(name);
        }
    }
}

/// Runs `change` on a running pool, then brings its spec's target lists
/// in line with its targets, as a provider reporting its configuration would.
fn with_pool(state: &mut ObservedState, name: &Name, change: impl FnOnce(&mut ObservedPool)) {
    if let Some(pool) = state.pools.get_mut(name) {
        change(pool);
        let targets = running_targets(&pool.targets);
        pool.spec = with_targets(settings(&pool.spec), targets);
    }
}

fn set_health(
    targets: &mut [ObservedTarget],
    which: impl Fn(&ObservedTarget) -> bool,
    health: Health,
) {
    for target in targets.iter_mut().filter(|t| which(t)) {
        target.health = health;
    }
}

fn named(addresses: &[TargetAddr], target: &ObservedTarget) -> bool {
    addresses.contains(&target.address)
}
