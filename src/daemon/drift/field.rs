//! Which field of a resource a plan step changes: the unit a drift policy
//! names (`{kind: Pool, field: weights, mode: revert}`).

use crate::model::Step;
use crate::spec::kinds::Kind;
use serde::Serialize;
use std::fmt;

/// A part of a balancer resource that drifts on its own. A step changes
/// exactly one, so a policy can revert some fields of a resource and leave
/// others: each field is whatever steps of its kind a plan makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftField {
    /// The resource is there at all: created by hand, or deleted by hand.
    Existence,
    /// A pool's algorithm, health check, draining and slow start.
    Settings,
    /// Which targets a pool has (added, drained or removed by hand).
    Targets,
    /// The weights of a pool's targets.
    Weights,
    /// A balancer's addresses, listeners, routes and TLS policies: the
    /// provider puts them as one, so they drift and revert as one.
    Listeners,
    /// A certificate's chain and private-key reference.
    Chain,
}

impl DriftField {
    /// The name a config writes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DriftField::Existence => "existence",
            DriftField::Settings => "settings",
            DriftField::Targets => "targets",
            DriftField::Weights => "weights",
            DriftField::Listeners => "listeners",
            DriftField::Chain => "chain",
        }
    }

    /// The fields a kind has, in the order a config documents them; empty
    /// for kinds that no provider runs (they cannot drift).
    #[must_use]
    pub fn of_kind(kind: Kind) -> &'static [DriftField] {
        use DriftField::{Chain, Existence, Listeners, Settings, Targets, Weights};
        match kind {
            Kind::Pool => &[Existence, Settings, Targets, Weights],
            Kind::LoadBalancer => &[Existence, Listeners],
            Kind::Certificate => &[Existence, Chain],
            Kind::AddressPool
            | Kind::Role
            | Kind::User
            | Kind::Group
            | Kind::ServiceAccount
            | Kind::Freeze => &[],
        }
    }

    /// The field of `kind` called `name`, if it has one.
    #[must_use]
    pub fn parse(kind: Kind, name: &str) -> Option<DriftField> {
        Self::of_kind(kind)
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
    }

    /// The field a step changes. No wildcard: a new kind of step does not
    /// compile until someone decides which field it belongs to.
    #[must_use]
    pub fn of_step(step: &Step) -> DriftField {
        match step {
            Step::CreatePool { .. }
            | Step::DeletePool { .. }
            | Step::DeleteLoadBalancer { .. }
            | Step::DeleteCertificate { .. } => DriftField::Existence,
            Step::UpdatePoolSettings { .. } => DriftField::Settings,
            // Waiting belongs to the targets it waits for: reverting
            // weights alone never waits, putting targets back always does.
            Step::AddTargets { .. }
            | Step::WaitHealthy { .. }
            | Step::DrainTargets { .. }
            | Step::RemoveTargets { .. } => DriftField::Targets,
            Step::SetWeights { .. } => DriftField::Weights,
            // A balancer deleted by hand comes back by the same put as one
            // changed by hand; the plan cannot tell them apart, nor can we.
            Step::PutLoadBalancer { .. } => DriftField::Listeners,
            Step::PutCertificate { .. } => DriftField::Chain,
        }
    }
}

impl fmt::Display for DriftField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::kinds::certificate::KeyRef;
    use crate::spec::kinds::loadbalancer::LoadBalancerSpec;
    use crate::spec::kinds::pool::{Algorithm, PoolSpec};
    use crate::spec::units::Dur;
    use std::time::Duration;

    fn pool_spec() -> PoolSpec {
        PoolSpec {
            targets: vec![],
            backup_targets: vec![],
            algorithm: Algorithm::default(),
            health_check: None,
            draining_timeout: Dur(Duration::from_secs(30)),
            slow_start: None,
        }
    }

    /// One step of every variant (the match in `of_step` is exhaustive, so
    /// this list is what a reviewer checks when a variant is added).
    fn every_step() -> Vec<(Step, DriftField)> {
        let name = || "web".parse().unwrap();
        let wait = Duration::from_secs(1);
        vec![
            (
                Step::PutCertificate {
                    name: name(),
                    chain_pem: String::new(),
                    key: KeyRef::Env("KEY".into()),
                },
                DriftField::Chain,
            ),
            (
                Step::CreatePool {
                    name: name(),
                    spec: pool_spec(),
                },
                DriftField::Existence,
            ),
            (
                Step::UpdatePoolSettings {
                    name: name(),
                    spec: pool_spec(),
                },
                DriftField::Settings,
            ),
            (
                Step::AddTargets {
                    pool: name(),
                    targets: vec![],
                    backup: false,
                },
                DriftField::Targets,
            ),
            (
                Step::WaitHealthy {
                    pool: name(),
                    targets: vec![],
                    timeout: wait,
                },
                DriftField::Targets,
            ),
            (
                Step::SetWeights {
                    pool: name(),
                    weights: vec![],
                },
                DriftField::Weights,
            ),
            (
                Step::PutLoadBalancer {
                    name: name(),
                    spec: LoadBalancerSpec {
                        addresses: vec![],
                        listeners: vec![],
                    },
                },
                DriftField::Listeners,
            ),
            (
                Step::DrainTargets {
                    pool: name(),
                    targets: vec![],
                    timeout: wait,
                },
                DriftField::Targets,
            ),
            (
                Step::RemoveTargets {
                    pool: name(),
                    targets: vec![],
                },
                DriftField::Targets,
            ),
            (
                Step::DeleteLoadBalancer { name: name() },
                DriftField::Existence,
            ),
            (Step::DeletePool { name: name() }, DriftField::Existence),
            (
                Step::DeleteCertificate { name: name() },
                DriftField::Existence,
            ),
        ]
    }

    #[test]
    fn every_step_changes_one_field_of_its_own_kind() {
        for (step, field) in every_step() {
            assert_eq!(DriftField::of_step(&step), field, "{step:?}");
            let kind = step.resource().kind;
            assert!(
                DriftField::of_kind(kind).contains(&field),
                "{field} is not a field of {kind}"
            );
        }
    }

    #[test]
    fn fields_parse_by_kind() {
        assert_eq!(
            DriftField::parse(Kind::Pool, "weights"),
            Some(DriftField::Weights)
        );
        assert_eq!(DriftField::parse(Kind::LoadBalancer, "weights"), None);
        assert_eq!(DriftField::parse(Kind::Role, "existence"), None);
        for kind in Kind::ALL {
            for field in DriftField::of_kind(kind) {
                assert_eq!(DriftField::parse(kind, field.as_str()), Some(*field));
            }
        }
    }
}
