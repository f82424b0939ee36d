//! Watching what runs against the trusted commit: drift is reported once
//! per distinct drift, and reverted where the config says `revert` (what
//! drift is, and its revert, is [`crate::daemon::drift`], pure).

use super::{ReconcileError, Reconciler};
use crate::daemon::drift;
use crate::daemon::reporter::ReconcileEvent;
use crate::model::StepOutcome;
use crate::provider::{ApplyContext, Provider};

impl<P: Provider> Reconciler<P> {
    /// Compares what runs with the applied commit; reports drift once per
    /// distinct drift, and reverts it where the config says `revert`.
    pub async fn check_drift(&mut self) -> Result<(), ReconcileError> {
        // A replica whose lease lapsed (paused, cut off) tells nothing.
        self.epoch_for_step()?;
        let (Some(applied), Some(commit)) = (self.applied.clone(), self.state.trusted) else {
            return Ok(());
        };
        let observed = self.deps.provider.observe().await?;
        let config = &self.deps.config;
        let (drifted, revert) = drift::detect(&applied, &observed, |kind| config.drift_mode(kind));
        if drifted.is_empty() {
            // A drift lbops reverted stays on the commit as a failure: it
            // happened, and someone should find out who changed the balancer.
            if let Some((_, false)) = self.last_drift.take() {
                self.report(ReconcileEvent::DriftGone { commit }).await?;
            }
            return Ok(());
        }
        let summary = drift::summary(&drifted);
        let reverting = !revert.is_empty();
        if self.last_drift.as_ref().map(|(s, _)| s) != Some(&summary) {
            self.report(ReconcileEvent::Drifted {
                commit,
                drifted: &drifted,
                summary: &summary,
                reverting,
            })
            .await?;
            self.save().await?;
            self.last_drift = Some((summary, reverting));
        }
        if !revert.is_empty() {
            self.report(ReconcileEvent::Reverting {
                commit,
                steps: &revert,
            })
            .await?;
            self.save().await?;
            let context = ApplyContext {
                catalog: &applied,
                commit,
                epoch: self.epoch_for_step()?,
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
