//! The SCIM directory kept in the state directory: one JSON file,
//! replaced atomically after every change, read at start (a damaged one
//! stops the daemon: what the identity provider pushed is never silently
//! dropped). It tells of every change through a `watch` of the read
//! view, so that whoever checks access can check again at once.

use crate::fsutil::write_atomically;
use crate::idp::scim::{Delta, Store};
use crate::idp::DirectoryView;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// The file, in the state directory.
pub const FILE: &str = "scim-directory.json";

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "the SCIM directory {} is damaged: {reason}. lbops does not throw away what the identity \
         provider pushed: restore the file from a backup, or move it aside to start from an empty \
         directory and have the identity provider push everything again (a full sync / \
         \"restart provisioning\")",
        path.display()
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot read the SCIM directory {}: {source}; check its permissions", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The directory, its file, and who is told of its changes.
#[derive(Debug)]
pub struct Directory {
    store: Arc<Mutex<Store>>,
    path: PathBuf,
    view: watch::Sender<Arc<DirectoryView>>,
}

impl Directory {
    /// Reads `FILE` in `state_dir`; none yet is an empty directory.
    pub fn open(state_dir: &Path) -> Result<Directory, DirectoryError> {
        let path = state_dir.join(FILE);
        let store = match std::fs::read(&path) {
            Ok(bytes) => Store::from_json(&bytes).map_err(|reason| DirectoryError::Damaged {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Store::default(),
            Err(source) => return Err(DirectoryError::Unreadable { path, source }),
        };
        let view = watch::Sender::new(Arc::new(DirectoryView::of(&store)));
        Ok(Directory {
            store: Arc::new(Mutex::new(store)),
            path,
            view,
        })
    }

    /// What the identity provider has said, as of the last change.
    #[must_use]
    pub fn snapshot(&self) -> Arc<DirectoryView> {
        self.view.borrow().clone()
    }

    /// A receiver that sees every change's view.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Arc<DirectoryView>> {
        self.view.subscribe()
    }

    /// The store, held: one call at a time reads or changes it.
    pub async fn lock(&self) -> OwnedMutexGuard<Store> {
        self.store.clone().lock_owned().await
    }

    /// Applies `delta` to the held store and keeps it on disk; when it
    /// cannot be kept, takes it back and says why.
    pub async fn commit(&self, store: &mut Store, delta: &Delta) -> std::io::Result<()> {
        if delta.is_empty() {
            return Ok(());
        }
        store.apply(delta);
        let bytes = store.to_json();
        let path = self.path.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match written {
            Ok(()) => {
                self.view.send_replace(Arc::new(DirectoryView::of(store)));
                Ok(())
            }
            Err(e) => {
                store.undo(delta);
                Err(e)
            }
        }
    }
}
