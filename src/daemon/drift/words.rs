//! A drifted field in words, for statuses, alerts and the audit log:
//! what was put back and what ran before when reverted ("put back
//! 127.0.0.1:9001 to 10 (was 50)"), else what runs against what git says.

use super::policy::DriftMode;
use crate::model::{ObservedState, Step};
use crate::spec::units::{Name, TargetAddr};

/// What one revert step does, or (left as is) what it would undo.
/// `observed` gives the values that ran before; the step gives git's.
#[must_use]
pub fn words(step: &Step, observed: &ObservedState, mode: DriftMode) -> String {
    let reverted = mode == DriftMode::Revert;
    match step {
        Step::SetWeights { pool, weights } => {
            let each = weights.iter().map(|(address, want)| {
                let was = running_weight(observed, pool, address)
                    .map_or_else(|| "unknown".to_owned(), |w| w.to_string());
                if reverted {
                    format!("put back {address} to {want} (was {was})")
                } else {
                    format!("{address} at {was}, git says {want}")
                }
            });
            each.collect::<Vec<_>>().join(", ")
        }
        Step::AddTargets {
            targets, backup, ..
        } => {
            let role = if *backup { "backup " } else { "" };
            let list = targets
                .iter()
                .map(|t| format!("{} (weight {})", t.address.value, t.weight.value))
                .collect::<Vec<_>>()
                .join(", ");
            if reverted {
                format!("put back {role}{list} (was missing)")
            } else {
                format!("{role}{list} in git, missing")
            }
        }
        Step::DrainTargets { targets, .. } | Step::RemoveTargets { targets, .. } => {
            let list = targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            match (reverted, step) {
                (true, Step::DrainTargets { .. }) => format!("drain {list}, not in git"),
                (true, _) => format!("remove {list}, not in git"),
                (false, _) => format!("{list} running, not in git"),
            }
        }
        Step::CreatePool { .. } if !reverted => "in git, missing".to_owned(),
        Step::DeletePool { .. }
        | Step::DeleteLoadBalancer { .. }
        | Step::DeleteCertificate { .. }
            if !reverted =>
        {
            "running, not in git".to_owned()
        }
        Step::PutCertificate { .. }
        | Step::CreatePool { .. }
        | Step::UpdatePoolSettings { .. }
        | Step::WaitHealthy { .. }
        | Step::PutLoadBalancer { .. }
        | Step::DeletePool { .. }
        | Step::DeleteLoadBalancer { .. }
        | Step::DeleteCertificate { .. } => {
            // The plan's own words after `kind/name: ` say what git has.
            let line = step.to_string();
            let prefix = format!("{}: ", step.resource());
            let what = line.strip_prefix(&prefix).unwrap_or(&line);
            if reverted {
                what.to_owned()
            } else {
                format!("differs from git (a revert would {what})")
            }
        }
    }
}

fn running_weight(observed: &ObservedState, pool: &Name, address: &TargetAddr) -> Option<u32> {
    observed
        .pools
        .get(pool)?
        .targets
        .iter()
        .find(|t| t.address == *address)
        .map(|t| t.weight)
}
