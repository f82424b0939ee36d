//! A step-by-step replay that refuses plans which would drop traffic.

use super::*;

/// A pool's settings, listed field by field here rather than through the
/// planner's own helper, so that a setting the planner ignores shows.
pub(super) type Settings = (Algorithm, Option<HealthCheck>, Dur, Option<Dur>);

/// What a state serves, whatever the health, order or duplicate reports
/// of its targets: balancers, pool settings and `address → (weight,
/// backup)`, certificates by digest and key.
pub(super) type Serves = (
    BTreeMap<Name, LoadBalancerSpec>,
    BTreeMap<Name, (Settings, BTreeMap<TargetAddr, (u32, bool)>)>,
    BTreeMap<Name, (String, KeyRef)>,
);

pub(super) fn runs(state: &ObservedState) -> Serves {
    let pools = state
        .pools
        .iter()
        .map(|(name, pool)| {
            let spec = &pool.spec;
            let settings = (
                spec.algorithm.clone(),
                spec.health_check.as_ref().map(|h| h.value.clone()),
                spec.draining_timeout,
                spec.slow_start,
            );
            // As the planner reads duplicates: serving over draining, else first.
            let mut targets = BTreeMap::new();
            let serving = pool.targets.iter().filter(|t| t.health != Health::Draining);
            let draining = pool.targets.iter().filter(|t| t.health == Health::Draining);
            for t in serving.chain(draining) {
                targets
                    .entry(t.address.clone())
                    .or_insert((t.weight, t.backup));
            }
            (name.clone(), (settings, targets))
        })
        .collect();
    let certificates = state
        .certificates
        .iter()
        .map(|(name, c)| (name.clone(), (c.chain_sha256.to_lowercase(), c.key.clone())))
        .collect();
    (state.load_balancers.clone(), pools, certificates)
}

/// Replays `steps` on `observed` and fails at the first one that could
/// drop or misroute a request: traffic shifted to targets not yet healthy,
/// a listener naming a certificate or pool that does not run, a target
/// removed without draining, traffic shifted after drains began, or a
/// pool or certificate deleted while a balancer still uses it.
pub(super) fn zero_downtime(observed: &ObservedState, steps: &[Step]) -> Result<(), String> {
    let mut state = observed.clone();
    let mut added: BTreeSet<(Name, TargetAddr)> = BTreeSet::new();
    let mut draining = false;
    for (i, step) in steps.iter().enumerate() {
        let fail = |why: String| {
            Err(format!(
                "step {} {why}:\n{}",
                i + 1,
                Plan {
                    steps: steps.to_vec()
                }
            ))
        };
        match step {
            Step::CreatePool { name, spec } => {
                if state.pools.contains_key(name)
                    || !spec.targets.is_empty()
                    || !spec.backup_targets.is_empty()
                {
                    return fail(format!("creates pool/{name} with targets, or again"));
                }
            }
            Step::AddTargets {
                pool,
                targets,
                backup,
            } => {
                let Some(running) = state.pools.get(pool) else {
                    return fail(format!("adds to pool/{pool} that does not run"));
                };
                for t in targets {
                    let live = running
                        .targets
                        .iter()
                        .any(|r| r.address == t.address.value && r.health != Health::Draining);
                    if live {
                        return fail(format!(
                            "adds {} to pool/{pool} where it runs already",
                            t.address.value
                        ));
                    }
                    if !backup {
                        added.insert((pool.clone(), t.address.value.clone()));
                    }
                }
            }
            Step::WaitHealthy { pool, targets, .. } => {
                let running = state.pools.get(pool).map_or(&[][..], |p| &p.targets);
                if let Some(t) = targets
                    .iter()
                    .find(|t| !running.iter().any(|r| r.address == **t))
                {
                    return fail(format!("waits for {t} that pool/{pool} does not run"));
                }
            }
            Step::SetWeights { .. } | Step::PutLoadBalancer { .. } => {
                if draining {
                    return fail("shifts traffic after a drain began".to_owned());
                }
                for (pool, address) in &added {
                    let health = state
                        .pools
                        .get(pool)
                        .and_then(|p| p.targets.iter().find(|t| t.address == *address))
                        .map(|t| t.health);
                    if health != Some(Health::Healthy) {
                        return fail(format!(
                            "shifts traffic while pool/{pool} {address} is not healthy yet"
                        ));
                    }
                }
                if let Step::PutLoadBalancer { name, spec } = step {
                    if let Some(pool) = forwarded_pools(spec)
                        .into_iter()
                        .find(|p| !state.pools.contains_key(*p))
                    {
                        return fail(format!(
                            "points loadbalancer/{name} at pool/{pool} that does not run"
                        ));
                    }
                    if let Some(c) = named_certificates(spec)
                        .into_iter()
                        .find(|c| !state.certificates.contains_key(*c))
                    {
                        return fail(format!(
                            "names certificate/{c} that does not run in loadbalancer/{name}"
                        ));
                    }
                }
            }
            Step::DrainTargets { .. } => draining = true,
            Step::RemoveTargets { pool, targets } => {
                let running = state.pools.get(pool).map_or(&[][..], |p| &p.targets);
                for t in targets {
                    if !running
                        .iter()
                        .any(|r| r.address == *t && r.health == Health::Draining)
                    {
                        return fail(format!("removes {t} from pool/{pool} without draining it"));
                    }
                }
            }
            Step::DeletePool { name } => {
                if let Some((lb, _)) = state
                    .load_balancers
                    .iter()
                    .find(|(_, spec)| forwarded_pools(spec).contains(&name))
                {
                    return fail(format!(
                        "deletes pool/{name} while loadbalancer/{lb} still forwards to it"
                    ));
                }
            }
            Step::DeleteCertificate { name } => {
                if let Some((lb, _)) = state
                    .load_balancers
                    .iter()
                    .find(|(_, spec)| named_certificates(spec).contains(&name))
                {
                    return fail(format!(
                        "deletes certificate/{name} while loadbalancer/{lb} still names it"
                    ));
                }
            }
            Step::PutCertificate { .. }
            | Step::UpdatePoolSettings { .. }
            | Step::DeleteLoadBalancer { .. } => {}
        }
        state = apply_to(&state, std::slice::from_ref(step));
    }
    Ok(())
}

fn actions(spec: &LoadBalancerSpec) -> impl Iterator<Item = &Action> {
    spec.listeners.iter().flat_map(|l| {
        let routes = l.routes.iter().map(|r| &r.action.value);
        routes.chain(l.default_action.iter().map(|a| &a.value))
    })
}

fn forwarded_pools(spec: &LoadBalancerSpec) -> Vec<&Name> {
    actions(spec)
        .flat_map(|action| match action {
            Action::Forward(forward) => forward.pools.iter().map(|p| &p.pool.value).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn named_certificates(spec: &LoadBalancerSpec) -> Vec<&Name> {
    spec.listeners
        .iter()
        .flat_map(|l| {
            l.tls
                .iter()
                .flat_map(|tls| tls.certificates.iter().map(|c| &c.value))
        })
        .collect()
}
