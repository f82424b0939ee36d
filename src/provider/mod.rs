//! Providers turn plan [`Step`]s into real changes and read real state back.
//!
//! A provider is an edge: it does I/O. The planner (`crate::plan`) is pure
//! and only sees the values defined here: what a provider can do
//! ([`Capabilities`]), what it runs now ([`ObservedState`]), and what to do
//! next ([`Step`]).

pub mod aws;
pub mod embedded;
pub mod placed;

use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::Action;
use crate::spec::kinds::loadbalancer::LoadBalancerSpec;
use crate::spec::kinds::pool::{Algorithm, PoolSpec, Target};
use crate::spec::kinds::Kind;
use crate::spec::units::{Name, TargetAddr};
use crate::spec::{Catalog, Code, Diagnostic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a provider supports, so `validate` can refuse what it cannot do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub name: &'static str,
    pub protocols: &'static [&'static str],
    pub algorithms: &'static [&'static str],
    pub backup_targets: bool,
    pub slow_start: bool,
    pub fixed_responses: bool,
    /// Whether a balancer must list its addresses (the embedded data plane
    /// binds them; a cloud balancer may get its own).
    pub needs_addresses: bool,
}

/// A target's health as the provider sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet (just added).
    Unknown,
    Healthy,
    Unhealthy,
    /// Removed from the config; finishing in-flight requests.
    Draining,
}

/// One target as it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTarget {
    pub address: TargetAddr,
    pub weight: u32,
    pub backup: bool,
    pub health: Health,
}

/// One pool as it runs: its configuration and its targets' health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedPool {
    pub spec: PoolSpec,
    pub targets: Vec<ObservedTarget>,
}

/// One certificate as it runs, known by the SHA-256 of its chain's PEM
/// text (the private key is never read back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedCertificate {
    pub chain_sha256: String,
    pub key: KeyRef,
}

/// Everything a provider runs, by resource name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// The provider's own version of its configuration, if it keeps one.
    pub version: u64,
    pub load_balancers: BTreeMap<Name, LoadBalancerSpec>,
    pub pools: BTreeMap<Name, ObservedPool>,
    pub certificates: BTreeMap<Name, ObservedCertificate>,
}

/// One change, small enough to apply and report on its own. The planner
/// orders steps so that traffic never goes to a target or pool that is not
/// ready (see `crate::plan`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Add or replace a certificate (before any listener uses it).
    PutCertificate {
        name: Name,
        chain_pem: String,
        key: KeyRef,
    },
    /// Create a pool with no traffic pointed at it yet.
    CreatePool {
        name: Name,
        spec: PoolSpec,
    },
    /// Change a pool's algorithm, health check, draining or slow start.
    UpdatePoolSettings {
        name: Name,
        spec: PoolSpec,
    },
    /// Register new targets (as primary or backup) at their weights.
    AddTargets {
        pool: Name,
        targets: Vec<Target>,
        backup: bool,
    },
    /// Block until these targets pass their health check, or time out.
    WaitHealthy {
        pool: Name,
        targets: Vec<TargetAddr>,
        timeout: Duration,
    },
    /// Set the weights of existing targets.
    SetWeights {
        pool: Name,
        weights: Vec<(TargetAddr, u32)>,
    },
    /// Create or change a balancer's addresses, listeners and routes.
    PutLoadBalancer {
        name: Name,
        spec: LoadBalancerSpec,
    },
    /// Stop new requests to targets, let in-flight ones finish.
    DrainTargets {
        pool: Name,
        targets: Vec<TargetAddr>,
        timeout: Duration,
    },
    /// Remove drained targets.
    RemoveTargets {
        pool: Name,
        targets: Vec<TargetAddr>,
    },
    DeleteLoadBalancer {
        name: Name,
    },
    DeletePool {
        name: Name,
    },
    DeleteCertificate {
        name: Name,
    },
}

impl Step {
    /// The resource this step changes.
    #[must_use]
    pub fn resource(&self) -> crate::spec::kinds::ResourceId {
        use crate::spec::kinds::ResourceId;
        match self {
            Step::PutCertificate { name, .. } | Step::DeleteCertificate { name } => {
                ResourceId::new(Kind::Certificate, name.clone())
            }
            Step::CreatePool { name, .. }
            | Step::UpdatePoolSettings { name, .. }
            | Step::DeletePool { name } => ResourceId::new(Kind::Pool, name.clone()),
            Step::AddTargets { pool, .. }
            | Step::WaitHealthy { pool, .. }
            | Step::SetWeights { pool, .. }
            | Step::DrainTargets { pool, .. }
            | Step::RemoveTargets { pool, .. } => ResourceId::new(Kind::Pool, pool.clone()),
            Step::PutLoadBalancer { name, .. } | Step::DeleteLoadBalancer { name } => {
                ResourceId::new(Kind::LoadBalancer, name.clone())
            }
        }
    }
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

/// Everything `catalog` asks that the provider each balancer is placed on
/// cannot do: balancers `aws` places go to [`aws::refusals`], the rest —
/// and the pools only they use — to the embedded data plane's
/// capabilities.
#[must_use]
pub fn refusals(catalog: &Catalog, aws: Option<&aws::AwsConfig>) -> Vec<Diagnostic> {
    let Some(config) = aws else {
        return unsupported(catalog, &embedded::CAPABILITIES);
    };
    let placement = aws::Placement::of(catalog, config);
    let mut local = catalog.clone();
    local
        .load_balancers
        .retain(|name, _| !placement.balancers.contains(name));
    local
        .pools
        .retain(|name, _| !placement.pools.contains_key(name));
    let mut out = unsupported(&local, &embedded::CAPABILITIES);
    out.extend(aws::refusals(catalog, config, &placement));
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}

impl Capabilities {
    fn summary(&self) -> String {
        let mut parts = vec![self.protocols.join("/"), self.algorithms.join("/")];
        for (has, feature) in [
            (self.backup_targets, "backup targets"),
            (self.slow_start, "slow start"),
            (self.fixed_responses, "fixed responses"),
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

/// How one step went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Applied,
    /// Not tried, because an earlier step failed (nothing after a failure
    /// is applied, so traffic never reaches what is not ready).
    Skipped,
    Failed {
        reason: String,
    },
}

/// Why a provider could not be read or written at all.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("{endpoint} refused the request ({status}): {body}")]
    Refused {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint} answered with something that is not its state: {reason}")]
    BadAnswer { endpoint: String, reason: String },
}

/// A place balancers run. `apply` goes step by step and stops at the first
/// failure; the outcome of every step is returned, in order.
#[allow(async_fn_in_trait)]
pub trait Provider {
    fn capabilities(&self) -> Capabilities;
    async fn observe(&self) -> Result<ObservedState, ProviderError>;
    async fn apply(&self, steps: &[Step]) -> Vec<StepOutcome>;

    /// Tells the provider which catalog (of which commit) the next
    /// `apply` is for, when it needs more than the steps (AWS places
    /// balancers and tags resources by it). Nothing by default.
    fn prepare(&self, _catalog: &Catalog, _commit: &str) {}
}

#[cfg(test)]
mod tests;
