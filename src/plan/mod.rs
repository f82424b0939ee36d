//! The planner: what a provider must change, and in which order, to run the
//! desired [`Catalog`] without dropping a request.
//!
//! Pure: [`plan`] compares two values and returns steps. It reads no clock
//! and does no I/O, so the same inputs always give the same steps in the
//! same order, and a plan can be shown on a pull request before it runs.
//!
//! Only what a provider runs is compared: LoadBalancers, Pools and
//! Certificates. Labels, the access kinds and AddressPools are policy, not
//! provider state (an AddressPool reaches the provider only as the
//! addresses allocated from it).
//!
//! The order follows DESIGN.md ("Providers": create before switch, wait for
//! targets healthy before shifting traffic, drain before removing):
//!
//! 1. new and changed certificates are put, so no listener ever names a
//!    certificate the provider lacks;
//! 2. new pools are created empty, then filled, primary targets before
//!    backups; nothing points at them yet;
//! 3. existing pools get their new settings, then their new targets;
//! 4. the plan waits until every newly added primary target is healthy;
//! 5. only then do target weights change,
//! 6. and balancers are put, whose routes now lead to pools that exist and
//!    answer;
//! 7. targets leaving a pool are drained, then removed. A target that moves
//!    between primary and backup leaves and comes back (providers key
//!    targets by address, so it cannot be in both roles at once); promoted
//!    targets move first and are waited for, so a pool whose primary is
//!    demoted keeps a healthy primary while it happens;
//! 8. balancers are deleted, then the pools no balancer uses any more, then
//!    the certificates no listener uses any more.
//!
//! Within a phase resources go by name and targets by address. A target
//! whose weight alone changes keeps running: it gets a `SetWeights`, never a
//! remove and an add.

mod apply;
mod display;
mod pools;

#[cfg(test)]
pub(crate) mod tests;

pub use apply::{apply_to, observed_from};

use crate::model::{sha256_hex, ObservedState, Step};
use crate::spec::kinds::pool::PoolSpec;
use crate::spec::units::Name;
use crate::spec::Catalog;
use pools::PoolChange;
use std::collections::BTreeMap;
use std::time::Duration;

/// The ordered steps that take a provider from what it runs to what the
/// repository says. Apply them in order: each step may rely on every step
/// before it having finished.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether the provider already runs what the repository says.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// How many times the minimum a new target gets to become healthy: the
/// minimum is one health-check interval per success the check needs, and a
/// process that starts slowly (JIT warm-up, cache fill) needs some more,
/// but a target that never answers must not block a rollout for long.
pub const WAIT_HEALTHY_ROUNDS: u32 = 3;

/// How long to wait for new targets of a pool without a health check: the
/// provider then has nothing to wait on but its own reachability check, so
/// the wait is short and fixed.
pub const DEFAULT_WAIT_HEALTHY: Duration = Duration::from_secs(30);

/// How long a `WaitHealthy` for new targets of this pool may take:
/// `interval × healthy_threshold ×` [`WAIT_HEALTHY_ROUNDS`], or
/// [`DEFAULT_WAIT_HEALTHY`] without a health check.
#[must_use]
pub fn wait_healthy_timeout(spec: &PoolSpec) -> Duration {
    spec.health_check
        .as_ref()
        .map_or(DEFAULT_WAIT_HEALTHY, |check| {
            // A threshold of 0 would make the wait give up at once.
            let successes = check.healthy_threshold.value.max(1);
            check
                .interval
                .value
                .0
                .saturating_mul(successes)
                .saturating_mul(WAIT_HEALTHY_ROUNDS)
        })
}

/// The steps that make `observed` run what `desired` says, ordered so that
/// no request goes to a pool or target that is not ready, and none is cut
/// off by a removal (see the module documentation for the order).
///
/// Applying every step and planning again gives an empty plan.
#[must_use]
pub fn plan(desired: &Catalog, observed: &ObservedState) -> Plan {
    let pools: Vec<PoolChange<'_>> = desired
        .pools
        .iter()
        .map(|(name, pool)| PoolChange::new(name, &pool.spec, observed.pools.get(name)))
        .collect();
    let (new, existing): (Vec<_>, Vec<_>) = pools.iter().partition(|pool| pool.is_new());

    let mut steps = put_certificates(desired, observed);
    steps.extend(new.iter().flat_map(|pool| pool.create()));
    steps.extend(existing.iter().flat_map(|pool| pool.grow()));
    steps.extend(pools.iter().filter_map(PoolChange::wait_for_added));
    steps.extend(pools.iter().filter_map(PoolChange::set_weights));
    steps.extend(put_load_balancers(desired, observed));
    steps.extend(pools.iter().flat_map(PoolChange::retire));
    steps.extend(delete_removed(desired, observed));
    Plan { steps }
}

/// Phase 1: certificates whose chain or key reference differ from what
/// runs. A certificate whose chain was never read (only a catalog built by
/// hand, not by `spec::load`, can hold one) is left as the provider has
/// it: putting an empty chain would break TLS, and deleting it would break
/// the listeners that name it.
fn put_certificates(desired: &Catalog, observed: &ObservedState) -> Vec<Step> {
    desired
        .certificates
        .iter()
        .filter_map(|(name, certificate)| {
            let chain = &certificate.spec.chain.as_ref()?.value;
            let key = &certificate.spec.private_key.value;
            let runs = observed.certificates.get(name).is_some_and(|current| {
                current
                    .chain_sha256
                    .eq_ignore_ascii_case(&sha256_hex(chain))
                    && current.key == *key
            });
            (!runs).then(|| Step::PutCertificate {
                name: name.clone(),
                chain_pem: chain.clone(),
                key: key.clone(),
            })
        })
        .collect()
}

/// Phase 6: balancers that are new or differ, addresses resolved through
/// the catalog's allocation (a forward weight shift is such a difference).
fn put_load_balancers<'a>(
    desired: &'a Catalog,
    observed: &'a ObservedState,
) -> impl Iterator<Item = Step> + 'a {
    desired
        .load_balancers
        .iter()
        .filter_map(|(name, balancer)| {
            let spec = apply::resolved_balancer(name, &balancer.spec, &desired.allocation);
            (observed.load_balancers.get(name) != Some(&spec)).then(|| Step::PutLoadBalancer {
                name: name.clone(),
                spec,
            })
        })
}

/// Phase 8: what runs but is no longer wanted, each kind only once nothing
/// of the kinds before it can still use it — balancers first, then pools
/// (no route points at them any more), then certificates (no listener
/// names them any more).
fn delete_removed(desired: &Catalog, observed: &ObservedState) -> Vec<Step> {
    let balancers = removed(&observed.load_balancers, &desired.load_balancers)
        .map(|name| Step::DeleteLoadBalancer { name });
    let pools = removed(&observed.pools, &desired.pools).map(|name| Step::DeletePool { name });
    let certificates = removed(&observed.certificates, &desired.certificates)
        .map(|name| Step::DeleteCertificate { name });
    balancers.chain(pools).chain(certificates).collect()
}

/// The names `observed` has and `desired` lacks, in name order.
fn removed<'a, A, B>(
    observed: &'a BTreeMap<Name, A>,
    desired: &'a BTreeMap<Name, B>,
) -> impl Iterator<Item = Name> + 'a {
    observed
        .keys()
        .filter(|name| !desired.contains_key(*name))
        .cloned()
}
