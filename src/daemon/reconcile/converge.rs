//! Bringing the balancers to a catalog: plan, record, apply, observe
//! again, until the plan is empty.

use super::{ReconcileError, Reconciler};
use crate::daemon::reporter::ReconcileEvent;
use crate::model::StepOutcome;
use crate::plan::plan;
use crate::provider::{ApplyContext, Provider};
use crate::source::CommitId;
use crate::spec::Catalog;

/// How many plans one apply may take before the daemon gives up: the
/// first does the work; the next finish what the provider reported only
/// after the first (targets becoming healthy).
const ROUNDS: usize = 3;

/// How an apply ended that reached every place it had to.
#[derive(Debug, Default)]
pub(super) struct Converged {
    /// How many steps it took.
    pub steps: usize,
    /// What was left behind though the apply counts: the data-plane
    /// nodes that missed it (a fleet with `min_nodes` met), in the words
    /// of the step outcome.
    pub behind: Option<String>,
}

impl<P: Provider> Reconciler<P> {
    /// Plans and applies until the provider runs `desired`. Each plan is
    /// in the audit log, and its head in the saved state, before it runs.
    pub(super) async fn converge(
        &mut self,
        desired: &Catalog,
        commit: CommitId,
    ) -> Result<Converged, ReconcileError> {
        let mut total = Converged::default();
        for _ in 0..ROUNDS {
            let observed = self.deps.provider.observe().await?;
            let steps = plan(desired, &observed).steps;
            if steps.is_empty() {
                return Ok(total);
            }
            self.report(ReconcileEvent::Applying {
                commit,
                steps: &steps,
            })
            .await?;
            self.save().await?;
            // Re-checked before each round: a replica whose lease lapsed
            // meanwhile starts nothing.
            let may_start = self.may_start();
            let context = ApplyContext {
                catalog: desired,
                commit,
                epoch: self.epoch_for_step()?,
                may_start: Some(&may_start),
            };
            let outcomes = self.deps.provider.apply(&steps, context).await;
            if let Some((index, StepOutcome::Failed { reason })) = outcomes
                .iter()
                .enumerate()
                .find(|(_, o)| matches!(o, StepOutcome::Failed { .. }))
            {
                return Err(ReconcileError::Step {
                    index: index + 1,
                    reason: reason.clone(),
                });
            }
            total.steps += steps.len();
            if let Some(StepOutcome::Partly { behind }) = outcomes
                .iter()
                .rev()
                .find(|o| matches!(o, StepOutcome::Partly { .. }))
            {
                total.behind = Some(behind.clone());
            }
        }
        Err(ReconcileError::NotConverged(ROUNDS))
    }
}
