//! The estate's view model from values (pure): the trusted catalog (what
//! git says), the provider's observation (what runs, with health), each
//! target's reported load, the figures' rings, and the journal's last
//! changes. Drift is computed here the way the drift check computes it
//! (the plan from git to what runs), and pinned on the element it is
//! about: a balancer, a pool, or the targets a pool's line names.

use super::figures::{Book, Element, DEFAULT_ROUTE};
use super::model::{self, Drift, LastChange};
use crate::daemon::config::DriftMode;
use crate::dataplane::admin::TargetLoad;
use crate::model::{Health, ObservedState};
use crate::spec::kinds::loadbalancer::{
    Action, AddressSpec, Listener, LoadBalancerSpec, PathMatch, RouteMatch,
};
use crate::spec::kinds::pool::{PoolSpec, Probe, Target};
use crate::spec::kinds::{Kind, Labels, Resource, ResourceId};
use crate::spec::units::Name;
use crate::spec::Catalog;
use std::collections::HashMap;

/// What the estate is built from.
pub struct Inputs<'a> {
    /// The trusted commit and its catalog; `None` before the first apply.
    pub trusted: Option<(&'a str, &'a Catalog)>,
    pub observed: Option<&'a ObservedState>,
    /// Each target's load as the data plane reports it (may be empty).
    pub loads: &'a [TargetLoad],
    pub figures: Option<&'a Book>,
    pub changes: &'a HashMap<ResourceId, LastChange>,
    /// Who runs a resource: `aws`, or `embedded` and on which nodes.
    pub provider_of: &'a dyn Fn(&ResourceId) -> String,
    /// Whether the caller may read a resource (`state.read`).
    pub may_read: &'a dyn Fn(Kind, &Name, &Labels) -> bool,
    pub sample_seconds: u32,
}

/// The estate the caller may read.
#[must_use]
pub fn build(inputs: &Inputs<'_>) -> model::Estate {
    let Some((commit, catalog)) = inputs.trusted else {
        return model::Estate {
            commit: None,
            observed: inputs.observed.is_some(),
            sample_seconds: inputs.sample_seconds,
            balancers: Vec::new(),
            pools: Vec::new(),
        };
    };
    let drift = drift_by_resource(catalog, inputs.observed);
    let loads: HashMap<(&str, String), &TargetLoad> = inputs
        .loads
        .iter()
        .map(|l| ((l.pool.as_str(), l.address.to_string()), l))
        .collect();
    let ctx = Context {
        inputs,
        drift: &drift,
        loads: &loads,
    };
    let balancers = catalog
        .load_balancers
        .values()
        .filter(|b| (inputs.may_read)(Kind::LoadBalancer, &b.name, &b.labels))
        .map(|b| ctx.balancer(b))
        .collect();
    // BTreeMap order: sorted by name, as `Estate::pool` expects.
    let pools = catalog
        .pools
        .values()
        .filter(|p| (inputs.may_read)(Kind::Pool, &p.name, &p.labels))
        .map(|p| ctx.pool(p))
        .collect();
    model::Estate {
        commit: Some(commit.to_owned()),
        observed: inputs.observed.is_some(),
        sample_seconds: inputs.sample_seconds,
        balancers,
        pools,
    }
}

/// The drift of what runs from git, by resource (empty when not observed).
fn drift_by_resource(
    catalog: &Catalog,
    observed: Option<&ObservedState>,
) -> HashMap<ResourceId, Vec<String>> {
    let Some(observed) = observed else {
        return HashMap::new();
    };
    let (drifted, _) = crate::daemon::drift::detect(catalog, observed, |_, _| DriftMode::Report);
    drifted
        .iter()
        .map(|d| (d.resource.clone(), d.lines(DriftMode::Report).collect()))
        .collect()
}

struct Context<'a> {
    inputs: &'a Inputs<'a>,
    drift: &'a HashMap<ResourceId, Vec<String>>,
    loads: &'a HashMap<(&'a str, String), &'a TargetLoad>,
}

impl Context<'_> {
    fn figures(&self, element: &Element) -> Option<model::Figures> {
        self.inputs.figures.and_then(|book| book.figures(element))
    }

    fn drift_of(&self, id: &ResourceId) -> Option<Drift> {
        self.drift.get(id).map(|lines| Drift {
            lines: lines.clone(),
        })
    }

    fn balancer(&self, resource: &Resource<LoadBalancerSpec>) -> model::Balancer {
        let id = ResourceId::new(Kind::LoadBalancer, resource.name.clone());
        let name = resource.name.to_string();
        model::Balancer {
            provider: (self.inputs.provider_of)(&id),
            addresses: resource
                .spec
                .addresses
                .iter()
                .map(|a| address(&a.value))
                .collect(),
            running: self
                .inputs
                .observed
                .map(|o| o.load_balancers.contains_key(&resource.name)),
            drift: self.drift_of(&id),
            last_change: self.inputs.changes.get(&id).cloned(),
            figures: self.figures(&Element::Balancer(name.clone())),
            listeners: resource
                .spec
                .listeners
                .iter()
                .map(|l| self.listener(&name, l))
                .collect(),
            name,
        }
    }

    fn listener(&self, balancer: &str, listener: &Listener) -> model::Listener {
        let name = listener.name.value.to_string();
        let routes = listener.routes.iter().map(|r| {
            (
                r.name.value.to_string(),
                false,
                matches(&r.matches),
                &r.action.value,
            )
        });
        let default = listener
            .default_action
            .iter()
            .map(|a| (DEFAULT_ROUTE.to_owned(), true, "*".to_owned(), &a.value));
        let routes = routes
            .chain(default)
            .map(|(route, default, matches, action)| model::Route {
                figures: self.figures(&Element::Route {
                    balancer: balancer.to_owned(),
                    listener: name.clone(),
                    route: route.clone(),
                }),
                name: route,
                default,
                matches,
                action: route_action(action),
            })
            .collect();
        model::Listener {
            protocol: listener.protocol.value.as_str().to_owned(),
            port: listener.port.value,
            routes,
            name,
        }
    }

    fn pool(&self, resource: &Resource<PoolSpec>) -> model::Pool {
        let id = ResourceId::new(Kind::Pool, resource.name.clone());
        let name = resource.name.to_string();
        let spec = &resource.spec;
        let running = self
            .inputs
            .observed
            .and_then(|o| o.pools.get(&resource.name));
        let drift = self.drift.get(&id).map(Vec::as_slice).unwrap_or_default();
        let mut targets: Vec<model::Target> = Vec::new();
        for (list, backup) in [(&spec.targets, false), (&spec.backup_targets, true)] {
            let total: u64 = list.iter().map(|t| u64::from(t.weight.value)).sum();
            for target in list {
                targets.push(self.target(&name, target, backup, total, running, drift));
            }
        }
        // What runs that git no longer lists: draining, or added by hand.
        if let Some(running) = running {
            for t in &running.targets {
                let address = t.address.to_string();
                if targets
                    .iter()
                    .any(|k| k.backup == t.backup && k.address == address)
                {
                    continue;
                }
                let load = self.loads.get(&(name.as_str(), address.clone())).copied();
                targets.push(model::Target {
                    drift: drift_lines(drift, &address),
                    figures: self.target_figures(&name, &address),
                    backup: t.backup,
                    in_git: false,
                    health: t.health,
                    weight: t.weight,
                    running_weight: None,
                    percent: 0.0,
                    ramp_weight: None,
                    draining_left_seconds: load.and_then(draining_left),
                    history: load.map(history).unwrap_or_default(),
                    address,
                });
            }
        }
        model::Pool {
            provider: (self.inputs.provider_of)(&id),
            algorithm: format!("{:?}", spec.algorithm)
                .to_lowercase()
                .replace(' ', ""),
            health_check: spec.health_check.as_ref().map_or_else(
                || "none".to_owned(),
                |check| {
                    let probe = match &check.value.probe {
                        Probe::Tcp => "tcp".to_owned(),
                        Probe::Http(http) => format!("http GET {}", http.path.value),
                    };
                    format!("{probe} every {:?}", check.value.interval.value.0)
                },
            ),
            slow_start_seconds: spec.slow_start.map(|d| d.0.as_secs()),
            drift: self.drift_of(&id),
            last_change: self.inputs.changes.get(&id).cloned(),
            figures: self.figures(&Element::Pool(name.clone())),
            targets,
            name,
        }
    }

    fn target_figures(&self, pool: &str, address: &str) -> Option<model::Figures> {
        self.figures(&Element::Target {
            pool: pool.to_owned(),
            address: address.to_owned(),
        })
    }

    fn target(
        &self,
        pool: &str,
        target: &Target,
        backup: bool,
        total: u64,
        running: Option<&crate::model::ObservedPool>,
        drift: &[String],
    ) -> model::Target {
        let address = target.address.value.to_string();
        let weight = target.weight.value;
        let observed = running.and_then(|p| {
            p.targets
                .iter()
                .find(|t| t.backup == backup && t.address == target.address.value)
        });
        let load = self.loads.get(&(pool, address.clone())).copied();
        model::Target {
            backup,
            in_git: true,
            health: observed.map_or(Health::Unknown, |t| t.health),
            weight,
            running_weight: observed.map(|t| t.weight).filter(|w| *w != weight),
            percent: percent(u64::from(weight), total),
            ramp_weight: load
                .filter(|l| l.effective_weight < l.weight)
                .map(|l| l.effective_weight),
            draining_left_seconds: load.and_then(draining_left),
            history: load.map(history).unwrap_or_default(),
            drift: drift_lines(drift, &address),
            figures: self.target_figures(pool, &address),
            address,
        }
    }
}

fn draining_left(load: &TargetLoad) -> Option<u64> {
    load.draining_left_ms.map(|ms| ms.div_ceil(1000))
}

fn history(load: &TargetLoad) -> Vec<model::Transition> {
    load.counts
        .history
        .iter()
        .map(|t| model::Transition {
            at: t.at,
            healthy: t.healthy,
            why: t.why.clone(),
        })
        .collect()
}

/// The lines of a pool's drift that name `address` (followed by
/// something that cannot continue it, so `:80` is not `:8080`).
fn drift_lines(lines: &[String], address: &str) -> Option<Drift> {
    let names = |line: &String| {
        line.match_indices(address).any(|(at, _)| {
            !line[at + address.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        })
    };
    let lines: Vec<String> = lines.iter().filter(|l| names(l)).cloned().collect();
    (!lines.is_empty()).then_some(Drift { lines })
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

fn address(spec: &AddressSpec) -> String {
    match spec {
        AddressSpec::Static(ip) => ip.to_string(),
        AddressSpec::FromPool {
            address: Some(ip), ..
        } => ip.to_string(),
        AddressSpec::FromPool { pool, .. } => format!("addresspool/{}", pool.value),
    }
}

/// What a route matches, in a few words.
fn matches(m: &RouteMatch) -> String {
    let mut parts = Vec::new();
    if let Some(host) = &m.host {
        parts.push(format!("host={}", host.value));
    }
    if let Some(path) = &m.path {
        parts.push(match &path.value {
            PathMatch::Exact(p) => format!("path={p}"),
            PathMatch::Prefix(p) => format!("path={p}*"),
        });
    }
    for header in &m.headers {
        match &header.value {
            Some(value) => parts.push(format!("{}={value}", header.name.value)),
            None => parts.push(format!("{} present", header.name.value)),
        }
    }
    if !m.methods.is_empty() {
        let methods: Vec<String> = m
            .methods
            .iter()
            .map(|m| format!("{m:?}").to_uppercase())
            .collect();
        parts.push(format!("method={}", methods.join("|")));
    }
    if parts.is_empty() {
        "*".to_owned()
    } else {
        parts.join(" ")
    }
}

fn route_action(action: &Action) -> model::RouteAction {
    match action {
        Action::Forward(forward) => {
            let total: u64 = forward
                .pools
                .iter()
                .map(|p| u64::from(p.weight.value))
                .sum();
            model::RouteAction::Forward {
                split: forward
                    .pools
                    .iter()
                    .map(|p| model::Split {
                        pool: p.pool.value.to_string(),
                        weight: p.weight.value,
                        percent: percent(u64::from(p.weight.value), total),
                    })
                    .collect(),
            }
        }
        Action::Redirect(redirect) => model::RouteAction::Redirect {
            status: redirect.status.value,
            to: redirect.to.value.clone(),
        },
        Action::FixedResponse(fixed) => model::RouteAction::Fixed {
            status: fixed.status.value,
        },
    }
}
