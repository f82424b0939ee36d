//! Writes the commit an API call becomes: authored as the ServiceAccount
//! (in the fixed form `spec::api_commit` gives), committed by the daemon,
//! the trailers naming account, token and request in its message, and
//! signed with the daemon's API key as `git commit -S` with
//! `gpg.format=ssh` would sign it (`sshsig`, namespace `git`), so that
//! `git verify-commit` and `ssh-keygen -Y verify` accept it.
//!
//! It only writes the commit object: moving a branch to it (and pushing)
//! is the caller's, who must compare-and-swap against the parent.

use super::{CommitId, GitError};
use crate::spec::api_commit::{self, ApiTrailers};
use git2::{Oid, Repository, Signature, Time};
use ssh_key::{HashAlg, LineEnding, PrivateKey};
use std::path::Path;

/// The namespace git signs commits in.
const GIT_NAMESPACE: &str = "git";

/// The daemon's API signing key: an OpenSSH private key, read from a file
/// outside the repository. Its `Debug` shows the fingerprint only.
pub struct ApiSigner {
    key: PrivateKey,
}

impl std::fmt::Debug for ApiSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSigner")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// Why the API signing key cannot be used. None echoes key material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiSignerError {
    #[error("cannot read the API signing key {path}: {error}; check `api.signing_key_file`")]
    Read { path: String, error: String },
    #[error(
        "the API signing key {path} is not an OpenSSH private key; make one with \
         `ssh-keygen -t ed25519 -N '' -f FILE` and name FILE in `api.signing_key_file`"
    )]
    Unparseable { path: String },
    #[error(
        "the API signing key {path} is encrypted; the daemon signs unattended, so give it a key \
         without a passphrase, readable only by the daemon's user"
    )]
    Encrypted { path: String },
    #[error("cannot sign with the API key: {0}")]
    Sign(String),
}

impl ApiSigner {
    /// Reads an OpenSSH private key file.
    pub fn read(path: &Path) -> Result<ApiSigner, ApiSignerError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ApiSignerError::Read {
            path: shown.clone(),
            error: e.kind().to_string(),
        })?;
        let key =
            PrivateKey::from_openssh(text.trim()).map_err(|_| ApiSignerError::Unparseable {
                path: shown.clone(),
            })?;
        ApiSigner::new(key).map_err(|e| match e {
            ApiSignerError::Encrypted { .. } => ApiSignerError::Encrypted { path: shown },
            other => other,
        })
    }

    /// A key already in memory (tests; a key from a secret store).
    pub fn new(key: PrivateKey) -> Result<ApiSigner, ApiSignerError> {
        if key.is_encrypted() {
            return Err(ApiSignerError::Encrypted {
                path: "(in memory)".to_owned(),
            });
        }
        Ok(ApiSigner { key })
    }

    /// The public half: what `lbops authorize --api-key` is given.
    #[must_use]
    pub fn public_key(&self) -> &ssh_key::PublicKey {
        self.key.public_key()
    }

    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// An armored `sshsig` over `data` in the `git` namespace.
    fn sign(&self, data: &[u8]) -> Result<String, ApiSignerError> {
        self.key
            .sign(GIT_NAMESPACE, HashAlg::Sha512, data)
            .and_then(|sig| sig.to_pem(LineEnding::LF))
            .map_err(|e| ApiSignerError::Sign(e.to_string()))
    }
}

/// What a commit for an API call is made of.
#[derive(Clone, Copy, Debug)]
pub struct ApiCommit<'a> {
    /// The commit the edit was made on (the branch head the call saw).
    pub parent: CommitId,
    /// The edited tree, already written to the repository.
    pub tree: Oid,
    /// The first line of the message: what the call did.
    pub summary: &'a str,
    pub trailers: &'a ApiTrailers,
    /// Author and committer time, unix seconds.
    pub time: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiCommitError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Sign(#[from] ApiSignerError),
}

impl From<git2::Error> for ApiCommitError {
    fn from(e: git2::Error) -> Self {
        ApiCommitError::Git(e.into())
    }
}

/// Writes the signed commit object for an API call into `repo` and
/// returns its id; no ref moves.
pub fn write_api_commit(
    repo: &Repository,
    commit: &ApiCommit<'_>,
    signer: &ApiSigner,
) -> Result<CommitId, ApiCommitError> {
    let parent = repo.find_commit(commit.parent.0)?;
    let tree = repo.find_tree(commit.tree)?;
    let time = Time::new(commit.time, 0);
    let on_behalf = &commit.trailers.on_behalf;
    let author = Signature::new(
        on_behalf.author_name().as_str(),
        &on_behalf.author_email(),
        &time,
    )?;
    let committer = Signature::new(
        api_commit::COMMITTER_NAME,
        api_commit::COMMITTER_EMAIL,
        &time,
    )?;
    let message = commit.trailers.message(commit.summary);
    let buffer = repo.commit_create_buffer(&author, &committer, &message, &tree, &[&parent])?;
    let content = std::str::from_utf8(&buffer)
        .map_err(|_| GitError::Git("the commit object is not UTF-8".to_owned()))?;
    let signature = signer.sign(content.as_bytes())?;
    let id = repo.commit_signed(content, &signature, Some("gpgsig"))?;
    Ok(CommitId(id))
}

impl ApiSigner {
    /// Whether `commit` carries a signature this key made over it: a
    /// commit lbops wrote, not one someone pushed claiming its trailers.
    #[must_use]
    pub fn signed(&self, commit: &super::CommitInfo) -> bool {
        let Some(signature) = &commit.signature else {
            return false;
        };
        ssh_key::SshSig::from_pem(signature).is_ok_and(|sig| {
            self.public_key()
                .verify(GIT_NAMESPACE, &commit.signed_data, &sig)
                .is_ok()
        })
    }
}
