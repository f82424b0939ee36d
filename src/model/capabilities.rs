//! What a provider can do, and what a catalog asks that it cannot.

use crate::spec::kinds::loadbalancer::Action;
use crate::spec::kinds::pool::Algorithm;
use crate::spec::kinds::Kind;
use crate::spec::units::Name;
use crate::spec::{Catalog, Code, Diagnostic};
use serde::Serialize;

/// What a provider supports, so `validate` can refuse what it cannot do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub name: &'static str,
    pub protocols: &'static [&'static str],
    pub algorithms: &'static [&'static str],
    pub backup_targets: bool,
    pub slow_start: bool,
    pub fixed_responses: bool,
    /// Whether a route may send an idempotent request that a target broke
    /// off to another target (`retries`).
    pub retries: bool,
    /// Whether a balancer must list its addresses (the embedded data plane
    /// binds them; a cloud balancer may get its own).
    pub needs_addresses: bool,
}

/// What `catalog` asks of a provider that `capabilities` says it cannot
/// do, one diagnostic at the place it is asked; empty when it can do all.
#[must_use]
pub fn unsupported(catalog: &Catalog, capabilities: &Capabilities) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let provider = capabilities.name;
    for lb in catalog.load_balancers.values() {
        if lb.spec.addresses.is_empty() && capabilities.needs_addresses {
            out.push(
                Diagnostic::error(
                    &lb.origin.file,
                    lb.origin.pos,
                    Code::MissingField,
                    format!("a LoadBalancer on the {provider} provider needs at least one address"),
                )
                .about(Kind::LoadBalancer, lb.name.as_str())
                .hint("add `addresses:` with an IP (`- 127.0.0.1`) or an AddressPool (`- {pool: public}`)"),
            );
        }
    }
    let mut refuse = |file: &str, pos, kind, name: &Name, what: String| {
        out.push(
            Diagnostic::error(
                file,
                pos,
                Code::UnsupportedByProvider,
                format!("the {provider} provider cannot {what}"),
            )
            .about(kind, name.as_str())
            .hint(format!(
                "change this, or run the balancer on a provider that can ({provider} supports: {})",
                capabilities.summary()
            )),
        );
    };
    for lb in catalog.load_balancers.values() {
        let file = &lb.origin.file;
        for listener in &lb.spec.listeners {
            let protocol = listener.protocol.value.as_str();
            if !capabilities.protocols.contains(&protocol) {
                refuse(
                    file,
                    listener.protocol.pos,
                    Kind::LoadBalancer,
                    &lb.name,
                    format!("serve `{protocol}` listeners"),
                );
            }
            let actions = listener
                .routes
                .iter()
                .map(|r| &r.action)
                .chain(&listener.default_action);
            let retrying = listener.routes.iter().filter_map(|r| r.retries.as_ref());
            for retries in retrying {
                if !capabilities.retries {
                    refuse(
                        file,
                        retries.pos,
                        Kind::LoadBalancer,
                        &lb.name,
                        "retry requests a target broke off (`retries`)".into(),
                    );
                }
            }
            for action in actions {
                if matches!(action.value, Action::FixedResponse(_)) && !capabilities.fixed_responses
                {
                    refuse(
                        file,
                        action.pos,
                        Kind::LoadBalancer,
                        &lb.name,
                        "answer with fixed responses".into(),
                    );
                }
            }
        }
    }
    for pool in catalog.pools.values() {
        let (file, spec) = (&pool.origin.file, &pool.spec);
        let algorithm = algorithm_name(&spec.algorithm);
        if !capabilities.algorithms.contains(&algorithm) {
            refuse(
                file,
                pool.origin.pos,
                Kind::Pool,
                &pool.name,
                format!("balance with `{algorithm}`"),
            );
        }
        if let (Some(backup), false) = (spec.backup_targets.first(), capabilities.backup_targets) {
            refuse(
                file,
                backup.address.pos,
                Kind::Pool,
                &pool.name,
                "keep backup targets".into(),
            );
        }
        if spec.slow_start.is_some() && !capabilities.slow_start {
            refuse(
                file,
                pool.origin.pos,
                Kind::Pool,
                &pool.name,
                "ramp targets up with slow start".into(),
            );
        }
    }
    out
}

impl Capabilities {
    fn summary(&self) -> String {
        let mut parts = vec![self.protocols.join("/"), self.algorithms.join("/")];
        for (has, feature) in [
            (self.backup_targets, "backup targets"),
            (self.slow_start, "slow start"),
            (self.fixed_responses, "fixed responses"),
            (self.retries, "route retries"),
        ] {
            if has {
                parts.push(feature.to_owned());
            }
        }
        parts.join(", ")
    }
}

/// The algorithm's name as capabilities list it.
#[must_use]
pub fn algorithm_name(algorithm: &Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RoundRobin => "round_robin",
        Algorithm::LeastRequests => "least_requests",
        Algorithm::WeightedRandom => "weighted_random",
        Algorithm::ConsistentHash(_) => "consistent_hash",
    }
}
