//! Watching what runs against the trusted commit: drift is reported once
//! per distinct drift, and the fields the config says `revert` for are
//! put back (what drift is, field by field, and its revert, is
//! [`crate::daemon::drift`], pure).

use super::{ReconcileError, Reconciler};
use crate::daemon::drift::{self, DriftMode};
use crate::daemon::reporter::ReconcileEvent;
use crate::model::StepOutcome;
use crate::provider::{ApplyContext, Provider};

impl<P: Provider> Reconciler<P> {
    /// Compares what runs with the applied commit; reports drift once per
    /// distinct drift, and reverts the fields the config says `revert` for.
    pub async fn check_drift(&mut self) -> Result<(), ReconcileError> {
        // A replica whose lease lapsed (paused, cut off) tells nothing.
        self.epoch_for_step()?;
        let (Some(applied), Some(commit)) = (self.applied.clone(), self.state.trusted) else {
            return Ok(());
        };
        let observed = self.deps.provider.observe().await?;
        let policy = &self.deps.config.drift.policy;
        let (drifted, revert) =
            drift::detect(&applied, &observed, |id, field| policy.mode(id, field));
        if drifted.is_empty() {
            // A drift lbops reverted stays on the commit as a failure: it
            // happened, and someone should find out who changed the balancer.
            // Accepted drift never had a failure status to clear.
            if let Some((_, true)) = self.last_drift.take() {
                self.report(ReconcileEvent::DriftGone { commit }).await?;
            }
            return Ok(());
        }
        // Every field in every mode: an accepted drift that changes is
        // recorded again, one that stays is recorded once.
        let seen = [DriftMode::Revert, DriftMode::Report, DriftMode::Accept]
            .map(|mode| drift::summary(&drifted, mode))
            .join(" | ");
        if self.last_drift.as_ref().map(|(s, _)| s) != Some(&seen) {
            self.report(ReconcileEvent::Drifted {
                commit,
                drifted: &drifted,
            })
            .await?;
            self.save().await?;
            let clears =
                drift::any(&drifted, DriftMode::Report) && !drift::any(&drifted, DriftMode::Revert);
            self.last_drift = Some((seen, clears));
        }
        if !revert.is_empty() {
            self.report(ReconcileEvent::Reverting {
                commit,
                steps: &revert,
            })
            .await?;
            self.save().await?;
            let may_start = self.may_start();
            let context = ApplyContext {
                catalog: &applied,
                commit,
                epoch: self.epoch_for_step()?,
                may_start: Some(&may_start),
            };
            let outcomes = self.deps.provider.apply(&revert, context).await;
            if let Some(StepOutcome::Failed { reason }) = outcomes
                .iter()
                .find(|o| matches!(o, StepOutcome::Failed { .. }))
            {
                return Err(ReconcileError::Step {
                    index: 0,
                    reason: reason.clone(),
                });
            }
            tracing::info!(commit = %commit.short(), steps = revert.len(), "drift reverted");
        }
        Ok(())
    }
}
