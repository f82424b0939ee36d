//! Where repository trees come from: a directory on disk (`validate`) or
//! the commits of a git repository (the daemon, `authorize`). Both hand
//! `spec` plain `(path, text)` pairs.

pub(crate) mod auth;
pub mod credentials;
pub mod dir;
pub mod git;
mod ignore;

pub use credentials::{Credentials, Secret, SecretError, SecretRef};
pub use dir::{read_tree, ReadError};
pub use git::{
    write_api_commit, ApiCommit, ApiCommitError, ApiSigner, ApiSignerError, CommitId, CommitInfo,
    GitError, GitLocation, GitSource,
};
pub use ignore::IgnoreRules;
