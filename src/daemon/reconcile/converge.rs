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

impl<P: Provider> Reconciler<P> {
    /// Plans and applies until the provider runs `desired`; returns how
    /// many steps it took. Each plan is in the audit log, and its head in
    /// the saved state, before it runs.
    pub(super) async fn converge(
        &mut self,
        desired: &Catalog,
        commit: CommitId,
    ) -> Result<usize, ReconcileError> {
        let mut total = 0;
        let context = ApplyContext {
            catalog: desired,
            commit,
            epoch: None,
        };
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
            self.deps.store.save(&self.state)?;
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
            total += steps.len();
        }
        Err(ReconcileError::NotConverged(ROUNDS))
    }
}
