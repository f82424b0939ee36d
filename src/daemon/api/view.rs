//! The JSON the read endpoints answer with, built from the trusted
//! catalog (what git says) and the provider's observation (what runs).
//! These are the API's own shapes, not the repository format: they stay
//! stable when the spec grows.

use crate::model::{Health, ObservedState};
use crate::spec::kinds::loadbalancer::{Action, AddressSpec, LoadBalancerSpec, Protocol};
use crate::spec::kinds::pool::{Algorithm, PoolSpec, Target};
use crate::spec::kinds::{Labels, Resource};
use serde::Serialize;

/// `GET /v1/pools`.
#[derive(Debug, Serialize)]
pub struct Pools {
    /// The applied commit this answer is read from.
    pub commit: String,
    /// Whether live health is in it (the provider answered).
    pub observed: bool,
    pub pools: Vec<Pool>,
}

/// `GET /v1/pools/{name}`, and each item of `GET /v1/pools`.
#[derive(Debug, Serialize)]
pub struct Pool {
    pub name: String,
    pub labels: Labels,
    pub algorithm: Algorithm,
    /// The targets git lists (primary, then backup), with their live
    /// health; then targets that still run but git no longer lists
    /// (draining).
    pub targets: Vec<PoolTarget>,
}

/// A pool with the commit it is read from.
#[derive(Debug, Serialize)]
pub struct PoolAt {
    pub commit: String,
    pub observed: bool,
    pub pool: Pool,
}

/// `GET /v1/pools/{name}/targets`: a pool's targets, as in [`Pool`].
#[derive(Debug, Serialize)]
pub struct PoolTargets {
    pub commit: String,
    pub observed: bool,
    /// The pool's name.
    pub pool: String,
    pub targets: Vec<PoolTarget>,
}

#[derive(Debug, Serialize)]
pub struct PoolTarget {
    pub address: String,
    pub weight: u32,
    pub backup: bool,
    /// `healthy`, `unhealthy`, `draining`, or `unknown` (not checked yet,
    /// or not observed).
    pub health: Health,
    /// False for a target that runs but git no longer lists.
    pub in_git: bool,
}

/// `GET /v1/balancers`.
#[derive(Debug, Serialize)]
pub struct Balancers {
    pub commit: String,
    pub observed: bool,
    pub balancers: Vec<Balancer>,
}

#[derive(Debug, Serialize)]
pub struct BalancerAt {
    pub commit: String,
    pub observed: bool,
    pub balancer: Balancer,
}

/// `GET /v1/balancers/{name}`, and each item of `GET /v1/balancers`.
#[derive(Debug, Serialize)]
pub struct Balancer {
    pub name: String,
    pub labels: Labels,
    /// Static addresses, and `addresspool/NAME` for one taken from a pool.
    pub addresses: Vec<String>,
    pub listeners: Vec<Listener>,
    /// Whether the provider runs it; `null` when not observed.
    pub running: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Listener {
    pub name: String,
    pub protocol: Protocol,
    pub port: u32,
    /// The pools its routes and default action forward to, with the
    /// split's weights, in the order written.
    pub forwards: Vec<Forward>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Forward {
    /// The route's name; `null` for the listener's default action.
    pub route: Option<String>,
    pub pool: String,
    pub weight: u32,
}

/// A pool as git has it, with what runs.
#[must_use]
pub fn pool(resource: &Resource<PoolSpec>, observed: Option<&ObservedState>) -> Pool {
    let running = observed.and_then(|o| o.pools.get(&resource.name));
    let health = |address: &str, backup: bool| {
        running
            .and_then(|p| {
                p.targets
                    .iter()
                    .find(|t| t.backup == backup && t.address.to_string() == address)
            })
            .map_or(Health::Unknown, |t| t.health)
    };
    let listed = |targets: &[Target], backup: bool| -> Vec<PoolTarget> {
        targets
            .iter()
            .map(|t| {
                let address = t.address.value.to_string();
                PoolTarget {
                    health: health(&address, backup),
                    address,
                    weight: t.weight.value,
                    backup,
                    in_git: true,
                }
            })
            .collect()
    };
    let mut targets = listed(&resource.spec.targets, false);
    targets.extend(listed(&resource.spec.backup_targets, true));
    if let Some(running) = running {
        for t in &running.targets {
            let address = t.address.to_string();
            if !targets
                .iter()
                .any(|known| known.backup == t.backup && known.address == address)
            {
                targets.push(PoolTarget {
                    address,
                    weight: t.weight,
                    backup: t.backup,
                    health: t.health,
                    in_git: false,
                });
            }
        }
    }
    Pool {
        name: resource.name.to_string(),
        labels: resource.labels.clone(),
        algorithm: resource.spec.algorithm.clone(),
        targets,
    }
}

/// A balancer as git has it, and whether it runs.
#[must_use]
pub fn balancer(
    resource: &Resource<LoadBalancerSpec>,
    observed: Option<&ObservedState>,
) -> Balancer {
    let addresses = resource
        .spec
        .addresses
        .iter()
        .map(|a| match &a.value {
            AddressSpec::Static(ip) => ip.to_string(),
            AddressSpec::FromPool {
                address: Some(ip), ..
            } => ip.to_string(),
            AddressSpec::FromPool { pool, .. } => format!("addresspool/{}", pool.value),
        })
        .collect();
    let listeners = resource
        .spec
        .listeners
        .iter()
        .map(|l| {
            let routes = l
                .routes
                .iter()
                .map(|r| (Some(r.name.value.to_string()), &r.action.value));
            let default = l.default_action.iter().map(|a| (None, &a.value));
            let forwards = routes
                .chain(default)
                .flat_map(|(route, action)| match action {
                    Action::Forward(forward) => forward
                        .pools
                        .iter()
                        .map(|p| Forward {
                            route: route.clone(),
                            pool: p.pool.value.to_string(),
                            weight: p.weight.value,
                        })
                        .collect(),
                    Action::Redirect(_) | Action::FixedResponse(_) => Vec::new(),
                })
                .collect();
            Listener {
                name: l.name.value.to_string(),
                protocol: l.protocol.value,
                port: l.port.value,
                forwards,
            }
        })
        .collect();
    Balancer {
        name: resource.name.to_string(),
        labels: resource.labels.clone(),
        addresses,
        listeners,
        running: observed.map(|o| o.load_balancers.contains_key(&resource.name)),
    }
}
