//! Drift: what a provider runs that the last applied commit does not say
//! (pure). A difference is whatever the plan from the applied catalog to
//! the observed state would change — so drift and its revert are the
//! same computation as an apply, and a revert is exactly that plan.

use super::config::DriftMode;
use crate::model::{ObservedState, Step};
use crate::plan::plan;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::Catalog;
use serde::Serialize;

/// One drifted resource and what would put it back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drifted {
    pub resource: ResourceId,
    /// One line per difference, as the plan shows it ("pool/web: set weights …").
    pub fields: Vec<String>,
    pub mode: DriftMode,
}

/// The drift of `observed` from `applied`, by resource, with the mode
/// the config gives each kind; empty when the provider runs what git says.
#[must_use]
pub fn detect(
    applied: &Catalog,
    observed: &ObservedState,
    mode: impl Fn(Kind) -> DriftMode,
) -> (Vec<Drifted>, Vec<Step>) {
    let steps = plan(applied, observed).steps;
    let mut drifted: Vec<Drifted> = Vec::new();
    for step in &steps {
        // Waiting is how a revert is applied safely, not a difference.
        if matches!(step, Step::WaitHealthy { .. }) {
            continue;
        }
        let resource = step.resource();
        let line = step.to_string();
        match drifted.iter_mut().find(|d| d.resource == resource) {
            Some(d) => d.fields.push(line),
            None => drifted.push(Drifted {
                mode: mode(resource.kind),
                resource,
                fields: vec![line],
            }),
        }
    }
    let revert = steps
        .into_iter()
        .filter(|s| mode(s.resource().kind) == DriftMode::Revert)
        .collect();
    (drifted, revert)
}

/// The drift in a few words for a status: "pool/web: set weights of …; …"
/// (each plan line already names its resource).
#[must_use]
pub fn summary(drifted: &[Drifted]) -> String {
    drifted
        .iter()
        .flat_map(|d| d.fields.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{apply_to, observed_from};
    use crate::spec::{load, Options, SourceFile};

    fn catalog(weight: u32) -> Catalog {
        let yaml = format!(
            "kind: Pool\nname: web\nspec:\n  targets: [{{address: 127.0.0.1:9001, weight: {weight}}}, {{address: 127.0.0.1:9002}}]\n---\n\
             kind: LoadBalancer\nname: edge\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
             \x20   - {{name: http, protocol: http, port: 8080, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n"
        );
        load(
            &[SourceFile::new("r.yaml", yaml)],
            &Options::at(1_800_000_000),
        )
        .unwrap()
        .catalog
    }

    #[test]
    fn no_drift_when_the_provider_runs_what_git_says() {
        let applied = catalog(1);
        let (drifted, revert) = detect(&applied, &observed_from(&applied), |_| DriftMode::Revert);
        assert!(drifted.is_empty() && revert.is_empty());
    }

    #[test]
    fn a_hand_changed_weight_is_named_and_reverted_only_where_the_config_says() {
        let applied = catalog(1);
        let by_hand = observed_from(&catalog(7));
        let (drifted, revert) = detect(&applied, &by_hand, |_| DriftMode::Report);
        assert_eq!(drifted.len(), 1);
        assert_eq!(drifted[0].resource.to_string(), "pool/web");
        assert!(
            summary(&drifted).contains("127.0.0.1:9001"),
            "{}",
            summary(&drifted)
        );
        assert!(revert.is_empty(), "report mode reverts nothing");

        let (_, revert) = detect(&applied, &by_hand, |kind| match kind {
            Kind::Pool => DriftMode::Revert,
            _ => DriftMode::Report,
        });
        let reverted = apply_to(&by_hand, &revert);
        assert!(detect(&applied, &reverted, |_| DriftMode::Report)
            .0
            .is_empty());
    }
}
