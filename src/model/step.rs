//! One change a provider makes, and how it went.

mod display;

use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::LoadBalancerSpec;
use crate::spec::kinds::pool::{PoolSpec, Target};
use crate::spec::kinds::Kind;
use crate::spec::units::{Name, TargetAddr};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

/// How one step went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Applied,
    /// Applied where it counts, not everywhere: on a fleet of data-plane
    /// nodes, at least the configured minimum took it and `behind` names
    /// the others and why (e.g. "applied on 2 of 3 nodes; dp-3 is behind:
    /// connection refused"); they are brought up to date when they answer.
    Partly {
        behind: String,
    },
    /// Not tried, because an earlier step failed (nothing after a failure
    /// is applied, so traffic never reaches what is not ready).
    Skipped,
    Failed {
        reason: String,
    },
}
