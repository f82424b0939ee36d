//! Drift: what a provider runs that the last applied commit does not say
//! (pure). A difference is whatever the plan from the applied catalog to
//! the observed state would change — so drift and its revert are the
//! same computation as an apply, and a revert is exactly that plan.

pub mod field;
pub mod policy;
mod words;

pub use field::DriftField;
pub use policy::{DriftMode, DriftPolicy};

use crate::model::{ObservedState, Step};
use crate::plan::plan;
use crate::spec::kinds::ResourceId;
use crate::spec::Catalog;
use serde::Serialize;

/// One drifted resource, field by field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drifted {
    pub resource: ResourceId,
    /// In the plan's order, one per field.
    pub fields: Vec<FieldDrift>,
}

/// One field of a resource that runs otherwise than git says, and what
/// the policy does about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDrift {
    pub field: DriftField,
    pub mode: DriftMode,
    /// One phrase per difference, in words fit for the mode ("put back
    /// 127.0.0.1:9001 to 10 (was 50)" when reverted).
    pub changes: Vec<String>,
}

impl Drifted {
    /// `pool/web weights: put back 127.0.0.1:9001 to 10 (was 50)`, one per
    /// field in `mode`.
    pub fn lines(&self, mode: DriftMode) -> impl Iterator<Item = String> + '_ {
        self.fields
            .iter()
            .filter(move |f| f.mode == mode)
            .map(|f| format!("{} {}: {}", self.resource, f.field, f.changes.join(", ")))
    }
}

/// The drift of `observed` from `applied`, by resource and field, with the
/// mode `mode` gives each field; and the steps that put back exactly the
/// fields in `revert` mode. Empty when the provider runs what git says.
#[must_use]
pub fn detect(
    applied: &Catalog,
    observed: &ObservedState,
    mode: impl Fn(&ResourceId, DriftField) -> DriftMode,
) -> (Vec<Drifted>, Vec<Step>) {
    let steps = plan(applied, observed).steps;
    let mut drifted: Vec<Drifted> = Vec::new();
    let mut revert = Vec::new();
    for step in steps {
        let resource = step.resource();
        let field = DriftField::of_step(&step);
        let mode = mode(&resource, field);
        if mode == DriftMode::Revert {
            revert.push(step.clone());
        }
        // Waiting is how a revert is applied safely, not a difference.
        if matches!(step, Step::WaitHealthy { .. }) {
            continue;
        }
        let change = words::words(&step, observed, mode);
        let index = match drifted.iter().position(|d| d.resource == resource) {
            Some(index) => index,
            None => {
                drifted.push(Drifted {
                    resource,
                    fields: Vec::new(),
                });
                drifted.len() - 1
            }
        };
        let fields = &mut drifted[index].fields;
        match fields.iter_mut().find(|f| f.field == field) {
            // A target drained then removed is one difference when left.
            Some(f) if f.changes.contains(&change) => {}
            Some(f) => f.changes.push(change),
            None => fields.push(FieldDrift {
                field,
                mode,
                changes: vec![change],
            }),
        }
    }
    (drifted, revert)
}

/// The drift in `mode`, in a few words for a status or an alert: each
/// line names its resource and field; empty when nothing is in `mode`.
#[must_use]
pub fn summary(drifted: &[Drifted], mode: DriftMode) -> String {
    drifted
        .iter()
        .flat_map(|d| d.lines(mode))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether any field of `drifted` is in `mode`.
#[must_use]
pub fn any(drifted: &[Drifted], mode: DriftMode) -> bool {
    drifted
        .iter()
        .any(|d| d.fields.iter().any(|f| f.mode == mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{apply_to, observed_from};
    use crate::spec::kinds::Kind;
    use crate::spec::{load, Options, SourceFile};

    /// `web` (9001 at `weight`, 9002; 9003 too when `extra`) behind `edge`.
    fn catalog(weight: u32, extra: bool) -> Catalog {
        let third = if extra {
            ", {address: 127.0.0.1:9003}"
        } else {
            ""
        };
        let yaml = format!(
            "kind: Pool\nname: web\nspec:\n  targets: [{{address: 127.0.0.1:9001, weight: {weight}}}, {{address: 127.0.0.1:9002}}{third}]\n---\n\
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

    fn all(mode: DriftMode) -> impl Fn(&ResourceId, DriftField) -> DriftMode {
        move |_, _| mode
    }

    #[test]
    fn no_drift_when_the_provider_runs_what_git_says() {
        let applied = catalog(1, false);
        let (drifted, revert) = detect(&applied, &observed_from(&applied), all(DriftMode::Revert));
        assert!(drifted.is_empty() && revert.is_empty());
    }

    #[test]
    fn a_hand_changed_weight_names_the_field_and_the_values() {
        let applied = catalog(1, false);
        let by_hand = observed_from(&catalog(7, false));

        let (drifted, revert) = detect(&applied, &by_hand, all(DriftMode::Report));
        assert_eq!(
            summary(&drifted, DriftMode::Report),
            "pool/web weights: 127.0.0.1:9001 at 7, git says 1"
        );
        assert!(revert.is_empty(), "report mode reverts nothing");

        let (drifted, revert) = detect(&applied, &by_hand, all(DriftMode::Revert));
        assert_eq!(
            summary(&drifted, DriftMode::Revert),
            "pool/web weights: put back 127.0.0.1:9001 to 1 (was 7)"
        );
        let reverted = apply_to(&by_hand, &revert);
        assert!(detect(&applied, &reverted, all(DriftMode::Report))
            .0
            .is_empty());
    }

    #[test]
    fn a_resource_with_fields_in_different_modes_gets_only_its_revert_fields_put_back() {
        let applied = catalog(1, false);
        // By hand: 9001's weight to 7, and a third target added.
        let by_hand = observed_from(&catalog(7, true));
        let policy = |id: &ResourceId, field| match (id.kind, field) {
            (Kind::Pool, DriftField::Weights) => DriftMode::Revert,
            (Kind::Pool, DriftField::Targets) => DriftMode::Report,
            _ => DriftMode::Accept,
        };
        let (drifted, revert) = detect(&applied, &by_hand, policy);
        assert_eq!(drifted.len(), 1, "{drifted:?}");
        let fields: Vec<_> = drifted[0]
            .fields
            .iter()
            .map(|f| (f.field, f.mode))
            .collect();
        assert!(
            fields.contains(&(DriftField::Weights, DriftMode::Revert)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&(DriftField::Targets, DriftMode::Report)),
            "{fields:?}"
        );
        assert!(
            revert.iter().all(|s| matches!(s, Step::SetWeights { .. })) && !revert.is_empty(),
            "{revert:?}"
        );
        assert_eq!(
            summary(&drifted, DriftMode::Report),
            "pool/web targets: 127.0.0.1:9003 running, not in git",
            "drained then removed is one difference"
        );

        // Reverted: the weight is git's again; the hand-added target stays.
        let reverted = apply_to(&by_hand, &revert);
        let (drifted, revert) = detect(&applied, &reverted, policy);
        assert!(revert.is_empty(), "{revert:?}");
        assert_eq!(
            summary(&drifted, DriftMode::Report),
            "pool/web targets: 127.0.0.1:9003 running, not in git"
        );
        assert_eq!(summary(&drifted, DriftMode::Revert), "");
    }

    #[test]
    fn accepted_drift_is_found_but_neither_reverted_nor_reported() {
        let applied = catalog(1, false);
        let by_hand = observed_from(&catalog(7, false));
        let (drifted, revert) = detect(&applied, &by_hand, all(DriftMode::Accept));
        assert!(revert.is_empty());
        assert!(any(&drifted, DriftMode::Accept));
        assert!(!any(&drifted, DriftMode::Report) && !any(&drifted, DriftMode::Revert));
        assert_eq!(summary(&drifted, DriftMode::Report), "");
        assert_eq!(
            summary(&drifted, DriftMode::Accept),
            "pool/web weights: 127.0.0.1:9001 at 7, git says 1"
        );
    }

    #[test]
    fn a_target_put_back_is_waited_for_only_when_targets_revert() {
        let applied = catalog(1, true);
        let by_hand = observed_from(&catalog(1, false));
        let (drifted, revert) = detect(&applied, &by_hand, all(DriftMode::Revert));
        assert!(revert.iter().any(|s| matches!(s, Step::WaitHealthy { .. })));
        assert_eq!(
            summary(&drifted, DriftMode::Revert),
            "pool/web targets: put back 127.0.0.1:9003 (weight 1) (was missing)"
        );
        let policy = |_: &ResourceId, field| match field {
            DriftField::Targets => DriftMode::Report,
            _ => DriftMode::Revert,
        };
        assert!(detect(&applied, &by_hand, policy).1.is_empty());
    }
}
