//! Providers turn plan [`Step`]s into real changes and read real state back.
//!
//! A provider is an edge: it does I/O. The planner (`crate::plan`) is pure
//! and only sees the values of [`crate::model`]: what a provider can do
//! ([`Capabilities`]), what it runs now ([`ObservedState`]), and what to do
//! next ([`Step`]).

pub mod aws;
pub mod embedded;
pub mod placed;

use crate::model::{unsupported, Capabilities, ObservedState, Step, StepOutcome};
use crate::source::CommitId;
use crate::spec::{Catalog, Diagnostic};

/// Everything `catalog` asks that the provider each balancer is placed on
/// cannot do: balancers `aws` places go to [`aws::refusals`], the rest —
/// and the pools only they use — to the embedded data plane's
/// capabilities.
#[must_use]
pub fn refusals(catalog: &Catalog, aws: Option<&aws::AwsConfig>) -> Vec<Diagnostic> {
    let Some(config) = aws else {
        return unsupported(catalog, &embedded::CAPABILITIES);
    };
    let placement = aws::Placement::of(catalog, config);
    let mut local = catalog.clone();
    local
        .load_balancers
        .retain(|name, _| !placement.balancers.contains(name));
    local
        .pools
        .retain(|name, _| !placement.pools.contains_key(name));
    let mut out = unsupported(&local, &embedded::CAPABILITIES);
    out.extend(aws::refusals(catalog, config, &placement));
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}

/// Why a provider could not be read or written at all.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("{endpoint} refused the request ({status}): {body}")]
    Refused {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint} answered with something that is not its state: {reason}")]
    BadAnswer { endpoint: String, reason: String },
}

/// What an apply is for, beyond its steps: the catalog they were planned
/// towards, the commit it was read from, and the epoch of the leader
/// applying it. A provider that needs more than the steps reads it here
/// (AWS places balancers and picks each target group's protocol by the
/// catalog, and tags what it creates with the commit; the embedded data
/// plane is fenced by the epoch).
#[derive(Clone, Copy)]
pub struct ApplyContext<'a> {
    pub catalog: &'a Catalog,
    pub commit: CommitId,
    /// The leader's fencing token (the etcd revision of its leader key),
    /// sent with every config so that a data plane refuses a replaced
    /// leader; `None` when the daemon runs alone, with no election.
    pub epoch: Option<u64>,
    /// Whether the leader may still start a step: `false` in the last
    /// part of its lease. AWS, which cannot compare an epoch, asks it
    /// before every call; `None`: always (a daemon alone).
    pub may_start: Option<&'a (dyn Fn() -> bool + Sync)>,
}

/// A place balancers run. `apply` goes step by step and stops at the first
/// failure; the outcome of every step is returned, in order.
#[allow(async_fn_in_trait)]
pub trait Provider {
    fn capabilities(&self) -> Capabilities;
    async fn observe(&self) -> Result<ObservedState, ProviderError>;
    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome>;
}

/// A shared provider is the provider: the daemon's reconciler applies
/// through it while its API observes through another handle.
impl<P: Provider> Provider for std::sync::Arc<P> {
    fn capabilities(&self) -> Capabilities {
        P::capabilities(self)
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        P::observe(self).await
    }

    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome> {
        P::apply(self, steps, context).await
    }
}

#[cfg(test)]
mod tests;
