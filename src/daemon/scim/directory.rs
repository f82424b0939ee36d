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
    /// Replicas on etcd: the directory is the replicas' shared one, kept
    /// by the leader (under its fence) and followed by the standbys.
    shared: std::sync::OnceLock<crate::cluster::SharedStore>,
}

/// The name of the replicas' shared SCIM directory in etcd.
pub const SHARED: &str = "scim-directory";

/// Why a change was not kept.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("cannot write the directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "this replica stands by: the identity provider's changes are kept by the leader ({0})"
    )]
    NotLeader(String),
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
            shared: std::sync::OnceLock::new(),
        })
    }

    /// Replicas on etcd: keep the directory in etcd from now on.
    pub fn share(&self, shared: crate::cluster::SharedStore) {
        let _ = self.shared.set(shared);
    }

    /// Replicas on etcd: takes up the shared directory as the leader last
    /// kept it (when it differs from this replica's), on disk too.
    pub async fn follow(&self) -> Result<(), String> {
        let Some(shared) = self.shared.get() else {
            return Ok(());
        };
        let Some(bytes) = shared.read(SHARED).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let mut store = self.lock().await;
        if store.to_json() == bytes {
            return Ok(());
        }
        let taken = Store::from_json(&bytes)
            .map_err(|e| format!("the shared SCIM directory is damaged: {e}"))?;
        let path = self.path.clone();
        let copy = bytes.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &copy))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            .map_err(|e| e.to_string())?;
        *store = taken;
        self.view.send_replace(Arc::new(DirectoryView::of(&store)));
        Ok(())
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
    pub async fn commit(&self, store: &mut Store, delta: &Delta) -> Result<(), CommitError> {
        if delta.is_empty() {
            return Ok(());
        }
        store.apply(delta);
        let bytes = store.to_json();
        if let Some(shared) = self.shared.get() {
            // Under the leader's fence: a standby keeps nothing.
            if let Err(e) = shared.write(SHARED, bytes.clone()).await {
                store.undo(delta);
                return Err(CommitError::NotLeader(e.to_string()));
            }
        }
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
                Err(CommitError::Io(e))
            }
        }
    }
}
