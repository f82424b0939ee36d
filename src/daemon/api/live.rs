//! What the balancers run now, for the read endpoints' live health: the
//! provider observed at most [`MAX_AGE`] ago. Concurrent calls share one
//! observation, so a busy API does not multiply the provider's load.

use crate::dataplane::admin::TargetLoad;
use crate::model::ObservedState;
use crate::provider::placed::Placed;
use crate::provider::{Provider, ProviderError};
use crate::spec::kinds::ResourceId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How old an observation the API may answer with.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// How long the API waits for the provider before answering without it.
pub const OBSERVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Each target's load, as a data plane reports it.
type Loads = Result<Vec<TargetLoad>, ProviderError>;

/// A provider the API may read (only read) the running state from.
pub trait Observe: Send + Sync {
    fn observe(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<ObservedState, ProviderError>> + Send + '_>>;

    /// Each target's counters and health history (the estate's live
    /// figures); none where the provider reports none.
    fn loads(&self) -> Pin<Box<dyn Future<Output = Loads> + Send + '_>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Who runs `resource`: `aws`, or `embedded` and on which nodes.
    fn provider_of(&self, _resource: &ResourceId) -> String {
        "embedded".to_owned()
    }
}

impl Observe for Placed {
    fn observe(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<ObservedState, ProviderError>> + Send + '_>> {
        Box::pin(Provider::observe(self))
    }

    fn loads(&self) -> Pin<Box<dyn Future<Output = Loads> + Send + '_>> {
        Box::pin(Placed::loads(self))
    }

    fn provider_of(&self, resource: &ResourceId) -> String {
        if self.runs_on_aws(resource) {
            "aws".to_owned()
        } else {
            format!("embedded on {}", self.node_names().join(", "))
        }
    }
}

/// The last observation, and the provider to observe again.
pub struct Live {
    provider: Arc<dyn Observe>,
    last: tokio::sync::Mutex<Option<(Instant, Arc<ObservedState>)>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    #[must_use]
    pub fn new(provider: Arc<dyn Observe>) -> Self {
        Live {
            provider,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Each target's load now; empty when the provider cannot say (logged).
    pub async fn loads(&self) -> Vec<TargetLoad> {
        match tokio::time::timeout(OBSERVE_TIMEOUT, self.provider.loads()).await {
            Ok(Ok(loads)) => loads,
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot read the targets' load");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Who runs `resource`: `aws`, or `embedded` and on which nodes.
    #[must_use]
    pub fn provider_of(&self, resource: &ResourceId) -> String {
        self.provider.provider_of(resource)
    }

    /// What runs, observed at most [`MAX_AGE`] ago; `None` when the
    /// provider cannot be read now (logged here; callers answer from git).
    pub async fn observed(&self) -> Option<Arc<ObservedState>> {
        let mut last = self.last.lock().await;
        if let Some((at, state)) = last.as_ref() {
            if at.elapsed() <= MAX_AGE {
                return Some(state.clone());
            }
        }
        match tokio::time::timeout(OBSERVE_TIMEOUT, self.provider.observe()).await {
            Ok(Ok(state)) => {
                let state = Arc::new(state);
                *last = Some((Instant::now(), state.clone()));
                Some(state)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "api: cannot observe the balancers; answering from git only");
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?OBSERVE_TIMEOUT, "api: observing the balancers timed out; answering from git only");
                None
            }
        }
    }
}
