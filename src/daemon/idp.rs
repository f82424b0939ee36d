//! The identity provider as the daemon's checks see it: the SCIM
//! directory (when `scim:` is configured) with the `idp:` config, handed
//! as one snapshot to each decision — an API call, a judgement, a page —
//! so that one decision reads one directory, and the next one the
//! directory as the last push left it.

use super::config::IdpConfig;
use super::scim::Directory;
use crate::idp::{DirectoryView, Idp};
use std::sync::Arc;
use tokio::sync::watch;

/// Where the daemon reads what the identity provider pushed; cheap to
/// clone. Without a directory, nobody is deprovisioned and nobody is in
/// an IdP group.
#[derive(Clone, Debug, Default)]
pub struct IdpHandle {
    directory: Option<Arc<Directory>>,
    config: IdpConfig,
}

impl IdpHandle {
    #[must_use]
    pub fn new(directory: Option<Arc<Directory>>, config: IdpConfig) -> Self {
        IdpHandle { directory, config }
    }

    /// The directory as of its last change.
    #[must_use]
    pub fn snapshot(&self) -> IdpSnapshot {
        IdpSnapshot {
            view: self.directory.as_ref().map(|d| d.snapshot()),
            require_known_users: self.config.require_known_users,
        }
    }

    /// A receiver told of every change; `None` without a directory.
    #[must_use]
    pub fn subscribe(&self) -> Option<watch::Receiver<Arc<DirectoryView>>> {
        self.directory.as_ref().map(|d| d.subscribe())
    }
}

/// The directory as of one change, held for one decision.
#[derive(Clone, Debug, Default)]
pub struct IdpSnapshot {
    view: Option<Arc<DirectoryView>>,
    require_known_users: bool,
}

impl IdpSnapshot {
    /// What the pure checks take.
    #[must_use]
    pub fn idp(&self) -> Idp<'_> {
        match &self.view {
            Some(view) => Idp::Pushed {
                view,
                require_known_users: self.require_known_users,
            },
            None => Idp::Absent,
        }
    }
}
