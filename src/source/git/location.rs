//! Where the watched branch is written: the API's writer opens a
//! [`GitSource`] of its own for each write, on the repository the daemon
//! reads (a path) or on the daemon's mirror of a remote.

use super::{GitError, GitSource};
use crate::source::auth::redact_url;
use crate::source::credentials::Credentials;
use std::path::PathBuf;

/// A repository to write the watched branch of.
#[derive(Clone)]
pub enum GitLocation {
    /// A repository on this machine: its branch moves in place.
    Local(PathBuf),
    /// A remote, pushed to from the bare mirror the daemon keeps of it.
    Remote {
        url: String,
        mirror: PathBuf,
        credentials: Option<Credentials>,
    },
}

impl GitLocation {
    /// A handle on it watching `branch`.
    pub fn open(&self, branch: &str) -> Result<GitSource, GitError> {
        match self {
            GitLocation::Local(path) => GitSource::open(path, branch),
            GitLocation::Remote {
                url,
                mirror,
                credentials,
            } => GitSource::remote(url, mirror, branch, credentials.clone()),
        }
    }
}

/// The URL without credentials: a `Debug` may reach a log.
impl std::fmt::Debug for GitLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitLocation::Local(path) => f.debug_tuple("Local").field(path).finish(),
            GitLocation::Remote { url, mirror, .. } => f
                .debug_struct("Remote")
                .field("url", &redact_url(url))
                .field("mirror", mirror)
                .finish_non_exhaustive(),
        }
    }
}
