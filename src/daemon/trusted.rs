//! The trusted commit and its catalog, published for readers outside the
//! reconcile loop (the API): the reconciler replaces it when a commit is
//! applied or resumed; a reader loads it without waiting on a reconcile.

use crate::source::CommitId;
use crate::spec::Catalog;
use arc_swap::ArcSwapOption;
use std::sync::Arc;

/// What the balancers run, as the daemon trusts it.
#[derive(Debug)]
pub struct TrustedView {
    /// The applied (trusted) commit.
    pub commit: CommitId,
    /// Its catalog: the resources, and the policy API calls are judged by.
    pub catalog: Arc<Catalog>,
}

/// A read handle on the [`TrustedView`]: cheap to clone, and every clone
/// sees what the reconciler published last.
#[derive(Clone, Debug, Default)]
pub struct Trusted(Arc<ArcSwapOption<TrustedView>>);

impl Trusted {
    /// The view as published last; `None` before the first commit is
    /// applied.
    #[must_use]
    pub fn load(&self) -> Option<Arc<TrustedView>> {
        self.0.load_full()
    }

    /// Publishes `catalog` as the trusted commit's.
    pub(super) fn publish(&self, commit: CommitId, catalog: Arc<Catalog>) {
        self.0
            .store(Some(Arc::new(TrustedView { commit, catalog })));
    }
}
