//! A provider in memory for reconcile tests: it runs steps as the
//! planner's own model of a perfect provider says ([`apply_to`]), and can
//! be told to fail the steps on one resource.

use crate::model::{Capabilities, ObservedState, Step, StepOutcome};
use crate::plan::apply_to;
use crate::provider::{embedded, ApplyContext, Provider, ProviderError};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct InMemory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    runs: ObservedState,
    /// Every step applied so far, in order.
    applied: Vec<Step>,
    /// Steps on this resource (`pool/web`) fail with this reason.
    failing: Option<(String, String)>,
}

impl InMemory {
    /// Steps on `resource` (`pool/web`) fail with `reason` from now on.
    pub fn fail(&self, resource: &str, reason: &str) {
        self.inner().failing = Some((resource.to_owned(), reason.to_owned()));
    }

    /// What it runs.
    pub fn runs(&self) -> ObservedState {
        self.inner().runs.clone()
    }

    /// How many steps it applied so far.
    pub fn applied(&self) -> usize {
        self.inner().applied.len()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Provider for InMemory {
    fn capabilities(&self) -> Capabilities {
        embedded::CAPABILITIES
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        Ok(self.runs())
    }

    /// Step by step, stopping at the first failure, as the trait asks.
    async fn apply(&self, steps: &[Step], _context: ApplyContext<'_>) -> Vec<StepOutcome> {
        let mut inner = self.inner();
        let mut outcomes = Vec::with_capacity(steps.len());
        for step in steps {
            if matches!(
                outcomes.last(),
                Some(StepOutcome::Failed { .. } | StepOutcome::Skipped)
            ) {
                outcomes.push(StepOutcome::Skipped);
                continue;
            }
            let resource = step.resource().to_string();
            if let Some((_, reason)) = inner.failing.as_ref().filter(|(r, _)| *r == resource) {
                outcomes.push(StepOutcome::Failed {
                    reason: reason.clone(),
                });
                continue;
            }
            inner.runs = apply_to(&inner.runs, std::slice::from_ref(step));
            inner.applied.push(step.clone());
            outcomes.push(StepOutcome::Applied);
        }
        outcomes
    }
}
