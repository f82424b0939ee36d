//! The `lbops/plan` of other refs (pull-request branches): judged and
//! planned against the trusted commit and what runs, never applied.

use super::{ReconcileError, Reconciler};
use crate::admission::{admit, Admission};
use crate::daemon::reporter::ReconcileEvent;
use crate::judge::TrustAnchor;
use crate::plan::plan;
use crate::provider::Provider;

impl<P: Provider> Reconciler<P> {
    /// Judges and plans the heads of other configured refs (pull-request
    /// branches) against the trusted commit and what runs; posts
    /// `lbops/plan`; never applies anything.
    pub async fn plan_other_refs(&mut self) -> Result<(), ReconcileError> {
        // A replica whose lease lapsed (paused, cut off) tells nothing.
        self.epoch_for_step()?;
        let Some(trusted) = self.state.trusted else {
            return Ok(());
        };
        let anchor = TrustAnchor::Commit(trusted);
        let heads = self
            .deps
            .source
            .other_heads(&self.deps.config.repository.plan_refs)?;
        for (git_ref, head) in heads {
            if head == trusted || !self.planned.insert((head, trusted)) {
                continue;
            }
            let judged = self.judge(anchor.clone(), head).await?;
            let (judgement, admission) = admit(judged, &self.placement(), &self.state.allocation);
            let steps = match admission {
                Admission::Apply(catalog) => {
                    let observed = self.deps.provider.observe().await?;
                    Some(plan(&catalog, &observed).steps)
                }
                Admission::Reject => None,
            };
            self.report(ReconcileEvent::Planned {
                git_ref: &git_ref,
                head,
                judgement: &judgement,
                steps: steps.as_deref(),
            })
            .await?;
        }
        Ok(())
    }
}
