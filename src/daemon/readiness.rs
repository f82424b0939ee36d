//! Whether the daemon is ready, and why not: what `/readyz` answers. Not
//! ready until the first reconcile has finished, and again while the
//! daemon waits on a head for a new commit or an operator.

use std::sync::{PoisonError, RwLock};

/// Why a daemon that just started is not ready.
pub const STARTING: &str = "the first reconcile has not finished";

/// Shared between the daemon's loop, which sets it, and its pages.
#[derive(Debug)]
pub struct Readiness {
    /// Why it is not ready; `None` when it is.
    not_ready: RwLock<Option<String>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            not_ready: RwLock::new(Some(STARTING.to_owned())),
        }
    }
}

impl Readiness {
    pub fn ready(&self) {
        *self.write() = None;
    }

    pub fn not_ready(&self, why: impl Into<String>) {
        *self.write() = Some(why.into());
    }

    /// Why it is not ready; `None` when it is.
    #[must_use]
    pub fn why_not(&self) -> Option<String> {
        self.not_ready
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<String>> {
        self.not_ready
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
