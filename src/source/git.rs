//! Reads a git repository without checking anything out: the commits of
//! a range, each commit's signature and signed bytes, and each commit's
//! tree as `(path, text)` pairs for `spec::load`.

use super::auth::{credential_callbacks, redact_url, redact_userinfo};
use super::credentials::{Credentials, SecretError};
use super::ignore::{IgnoreRules, IGNORE_FILE};
use crate::spec::{Exceeded, Limits, SourceFile, TreeBudget};
use git2::{ErrorCode, ObjectType, Oid, Repository, Sort, TreeWalkMode, TreeWalkResult};
use std::fmt;
use std::path::{Path, PathBuf};

mod api_commit;
mod location;
mod publish;
mod requests;
pub use api_commit::{write_api_commit, ApiCommit, ApiCommitError, ApiSigner, ApiSignerError};
pub use location::GitLocation;

/// A commit id: 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(Oid);

impl CommitId {
    /// Parses a full hex commit id.
    pub fn parse(hex: &str) -> Result<Self, GitError> {
        if hex.len() != 40 {
            return Err(GitError::BadCommitId(hex.to_owned()));
        }
        Oid::from_str(hex)
            .map(CommitId)
            .map_err(|_| GitError::BadCommitId(hex.to_owned()))
    }

    /// The first 12 digits, for people.
    #[must_use]
    pub fn short(&self) -> String {
        self.0.to_string()[..12].to_owned()
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.short())
    }
}

impl serde::Serialize for CommitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CommitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CommitId::parse(&hex).map_err(serde::de::Error::custom)
    }
}

/// What a commit says about itself, and what it signed.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    pub id: CommitId,
    /// All parents, first parent first.
    pub parents: Vec<CommitId>,
    pub author_email: String,
    pub committer_email: String,
    /// The first line of the message.
    pub summary: String,
    /// The committer's date, in Unix seconds (chosen by whoever committed).
    pub time: i64,
    /// The `gpgsig` header's text; `None` when unsigned.
    pub signature: Option<Vec<u8>>,
    /// The commit object without the signature: exactly what was signed.
    pub signed_data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{path} is not a git repository ({message}); give the path of a clone, or a remote URL"
    )]
    NotARepository { path: PathBuf, message: String },
    #[error(
        "`{rev}` names no commit in the repository ({message}); give a branch, tag or commit id"
    )]
    UnknownRevision { rev: String, message: String },
    #[error("`{0}` is not a full commit id (40 hex digits)")]
    BadCommitId(String),
    #[error("branch `{branch}` does not exist in {location}; check the branch name in the config")]
    NoSuchBranch { branch: String, location: String },
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot push to {url}: {message}")]
    Push { url: String, message: String },
    #[error("cannot read the repository credentials: {0}")]
    Credentials(#[from] SecretError),
    #[error(
        "more than {max} commits between the trusted commit and {head}; push fewer at a time, \
         or trust a recent commit (`trust.pinned_commit`) instead of judging the whole history"
    )]
    TooManyCommits { head: String, max: usize },
    #[error("git: {0}")]
    Git(String),
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        GitError::Git(e.message().to_owned())
    }
}

/// Where the watched branch lives.
enum Origin {
    /// A repository on this machine, read in place.
    Local,
    /// A remote fetched into a bare mirror that lbops owns.
    Remote {
        url: String,
        credentials: Option<Credentials>,
    },
}

/// One repository and the branch lbops watches in it.
pub struct GitSource {
    repo: Repository,
    branch: String,
    origin: Origin,
}

impl GitSource {
    /// Opens a repository on this machine and watches `branch` in it.
    pub fn open(path: &Path, branch: &str) -> Result<Self, GitError> {
        let repo = Repository::open(path).map_err(|e| GitError::NotARepository {
            path: path.to_path_buf(),
            message: e.message().to_owned(),
        })?;
        Ok(Self {
            repo,
            branch: branch.to_owned(),
            origin: Origin::Local,
        })
    }

    /// A second handle on the same repository, for reading on another
    /// thread (the daemon judges off its loop). It never fetches.
    pub fn reader(&self) -> Result<Self, GitError> {
        let path = self.repo.path();
        let repo = Repository::open(path).map_err(|e| GitError::NotARepository {
            path: path.to_path_buf(),
            message: e.message().to_owned(),
        })?;
        Ok(Self {
            repo,
            branch: self.branch.clone(),
            origin: Origin::Local,
        })
    }

    /// Opens (or creates) a bare mirror of `url` in `mirror_dir`, for
    /// [`GitSource::fetch`] to keep up to date. Nothing is fetched yet.
    pub fn remote(
        url: &str,
        mirror_dir: &Path,
        branch: &str,
        credentials: Option<Credentials>,
    ) -> Result<Self, GitError> {
        let repo = match Repository::open_bare(mirror_dir) {
            Ok(repo) => repo,
            Err(_) => Repository::init_bare(mirror_dir).map_err(|e| GitError::NotARepository {
                path: mirror_dir.to_path_buf(),
                message: e.message().to_owned(),
            })?,
        };
        Ok(Self {
            repo,
            branch: branch.to_owned(),
            origin: Origin::Remote {
                url: url.to_owned(),
                credentials,
            },
        })
    }

    /// Brings the watched branch up to date with the remote; nothing to do
    /// for a local repository, whose branch moves on its own.
    pub fn fetch(&self) -> Result<(), GitError> {
        let Origin::Remote { url, credentials } = &self.origin else {
            return Ok(());
        };
        let fetch_error = |e: git2::Error| GitError::Fetch {
            url: redact_url(url),
            message: redact_userinfo(e.message(), url),
        };
        let mut secret_error = None;
        let callbacks = credential_callbacks(credentials.as_ref(), &mut secret_error);
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(callbacks);
        let refspec = format!("+refs/heads/{0}:refs/heads/{0}", self.branch);
        let mut remote = self.repo.remote_anonymous(url).map_err(fetch_error)?;
        let fetched = remote.fetch(&[&refspec], Some(&mut options), None);
        drop(options);
        if let Some(e) = secret_error {
            return Err(GitError::Credentials(e));
        }
        fetched.map_err(fetch_error)
    }

    /// The commit the watched branch points at now.
    pub fn head(&self) -> Result<CommitId, GitError> {
        let reference = self
            .repo
            .find_branch(&self.branch, git2::BranchType::Local)
            .map_err(|_| GitError::NoSuchBranch {
                branch: self.branch.clone(),
                location: self.describe(),
            })?;
        let commit = reference.get().peel_to_commit()?;
        Ok(CommitId(commit.id()))
    }

    /// The branches matching `patterns` (globs such as `refs/heads/*`),
    /// except the watched one, with the commits they point at, by name.
    pub fn other_heads(&self, patterns: &[String]) -> Result<Vec<(String, CommitId)>, GitError> {
        let watched = format!("refs/heads/{}", self.branch);
        let mut heads = Vec::new();
        for pattern in patterns {
            for reference in self.repo.references_glob(pattern)? {
                let reference = reference?;
                let Some(name) = reference.name() else {
                    continue;
                };
                if name == watched || heads.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if let Ok(commit) = reference.peel_to_commit() {
                    heads.push((name.to_owned(), CommitId(commit.id())));
                }
            }
        }
        heads.sort();
        Ok(heads)
    }

    /// Resolves a branch, tag, `HEAD~2` or commit id to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        let unknown = |e: git2::Error| GitError::UnknownRevision {
            rev: rev.to_owned(),
            message: e.message().to_owned(),
        };
        let object = self.repo.revparse_single(rev).map_err(unknown)?;
        let commit = object.peel_to_commit().map_err(unknown)?;
        Ok(CommitId(commit.id()))
    }

    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: CommitId, commit: CommitId) -> Result<bool, GitError> {
        Ok(ancestor == commit || self.repo.graph_descendant_of(commit.0, ancestor.0)?)
    }

    /// The best common ancestor of two commits; `None` for unrelated histories.
    pub fn merge_base(&self, a: CommitId, b: CommitId) -> Result<Option<CommitId>, GitError> {
        match self.repo.merge_base(a.0, b.0) {
            Ok(oid) => Ok(Some(CommitId(oid))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every commit reachable from `head` and not from `since` (all of
    /// them when `since` is `None`): merges and the commits of their
    /// second parents too, parents before children.
    ///
    /// At most `max` of them: the ids are counted before any commit is
    /// read, so a push of a million commits costs a walk of the graph,
    /// not a million signature reads.
    pub fn commits_between(
        &self,
        since: Option<CommitId>,
        head: CommitId,
        max: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
        walk.push(head.0)?;
        if let Some(since) = since {
            walk.hide(since.0)?;
        }
        let ids: Vec<git2::Oid> = walk.take(max.saturating_add(1)).collect::<Result<_, _>>()?;
        if ids.len() > max {
            return Err(GitError::TooManyCommits {
                head: head.short(),
                max,
            });
        }
        ids.into_iter()
            .map(|oid| self.commit(CommitId(oid)))
            .collect()
    }

    /// Writes the signed commit for an API call ([`write_api_commit`]) into
    /// this repository; no ref moves.
    pub fn write_api_commit(
        &self,
        commit: &ApiCommit<'_>,
        signer: &ApiSigner,
    ) -> Result<CommitId, ApiCommitError> {
        write_api_commit(&self.repo, commit, signer)
    }

    /// The tree of `parent` with the file at `path` (a `/`-separated path
    /// in the tree) holding `text`, written to the repository; nothing
    /// else of the tree changes. No commit is made and no ref moves.
    pub fn tree_with_file(
        &self,
        parent: CommitId,
        path: &str,
        text: &str,
    ) -> Result<Oid, GitError> {
        let tree = self.repo.find_commit(parent.0)?.tree()?;
        let blob = self.repo.blob(text.as_bytes())?;
        let mode = tree
            .get_path(Path::new(path))
            .ok()
            .map_or(git2::FileMode::Blob, |entry| match entry.filemode() {
                0o100_755 => git2::FileMode::BlobExecutable,
                _ => git2::FileMode::Blob,
            });
        let mut update = git2::build::TreeUpdateBuilder::new();
        update.upsert(path, blob, mode);
        Ok(update.create_updated(&self.repo, &tree)?)
    }

    /// Moves the watched branch from `expected` to `new`, only if it
    /// still points at `expected` (compare-and-swap): `false` when it
    /// moved meanwhile, and then nothing changed.
    pub fn advance_branch(&self, expected: CommitId, new: CommitId) -> Result<bool, GitError> {
        let name = format!("refs/heads/{}", self.branch);
        let message = format!("lbops API: {} -> {}", expected.short(), new.short());
        match self
            .repo
            .reference_matching(&name, new.0, true, expected.0, &message)
        {
            Ok(_) => Ok(true),
            Err(e) if publish::moved(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One commit's metadata, signature and signed bytes.
    pub fn commit(&self, id: CommitId) -> Result<CommitInfo, GitError> {
        let commit = self.repo.find_commit(id.0)?;
        let (signature, signed_data) = match self.repo.extract_signature(&id.0, None) {
            Ok((signature, signed)) => (Some(signature.to_vec()), signed.to_vec()),
            Err(e) if e.code() == ErrorCode::NotFound => {
                let odb = self.repo.odb()?;
                let object = odb.read(id.0)?;
                (None, object.data().to_vec())
            }
            Err(e) => return Err(e.into()),
        };
        let email = |s: &git2::Signature<'_>| String::from_utf8_lossy(s.email_bytes()).into_owned();
        let (author, committer) = (commit.author(), commit.committer());
        Ok(CommitInfo {
            id,
            parents: commit.parent_ids().map(CommitId).collect(),
            author_email: email(&author),
            committer_email: email(&committer),
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
            time: committer.when().seconds(),
            signature,
            signed_data,
        })
    }

    /// [`GitSource::files_at_within`] the limits for a repository.
    pub fn files_at(&self, id: CommitId) -> Result<Vec<SourceFile>, GitError> {
        self.files_at_within(id, &Limits::REPOSITORY)
    }

    /// A commit's tree as `(path, text)` pairs, sorted by path, with what
    /// `.lbopsignore` (of that same tree) names left out. Symlinks and
    /// submodules are skipped: a tree is read as data, never followed
    /// outside the repository.
    ///
    /// Anyone who can push chooses this tree, so sizes are read from the
    /// object headers and checked against `limits` (bytes per file and per
    /// tree, number of files) before any content is loaded: a blob past a
    /// bound is returned unread, as [`SourceFile::refused`], so that `load`
    /// refuses the commit naming the file; listing stops one file past the
    /// number of files.
    pub fn files_at_within(
        &self,
        id: CommitId,
        limits: &Limits,
    ) -> Result<Vec<SourceFile>, GitError> {
        let tree = self.repo.find_commit(id.0)?.tree()?;
        let odb = self.repo.odb()?;
        let rules = match tree.get_name(IGNORE_FILE) {
            // An ignore file past the limit ignores nothing; it is refused
            // below like any other file.
            Some(entry)
                if entry.kind() == Some(ObjectType::Blob)
                    && odb.read_header(entry.id())?.0 as u64 <= limits.file_bytes =>
            {
                let blob = self.repo.find_blob(entry.id())?;
                IgnoreRules::parse(&String::from_utf8_lossy(blob.content()))
            }
            _ => IgnoreRules::default(),
        };
        let mut listed: Vec<(String, Oid)> = Vec::new();
        let mut full = false;
        let walked = tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Some(name) = entry.name() else {
                return TreeWalkResult::Skip;
            };
            let path = format!("{dir}{name}");
            match entry.kind() {
                Some(ObjectType::Tree) if rules.is_ignored(&path, true) => TreeWalkResult::Skip,
                Some(ObjectType::Blob)
                    if entry.filemode() != 0o120000 && !rules.is_ignored(&path, false) =>
                {
                    listed.push((path, entry.id()));
                    full = listed.len() > limits.files;
                    if full {
                        TreeWalkResult::Abort
                    } else {
                        TreeWalkResult::Ok
                    }
                }
                _ => TreeWalkResult::Ok,
            }
        });
        match walked {
            // Stopped on purpose, one file past the limit.
            Err(_) if full => {}
            other => other?,
        }
        listed.sort();
        let mut budget = TreeBudget::new(limits);
        let mut files = Vec::with_capacity(listed.len());
        for (path, oid) in listed {
            let (size, _) = odb.read_header(oid)?;
            match budget.admit(size as u64) {
                Ok(()) => {
                    let blob = self.repo.find_blob(oid)?;
                    let text = String::from_utf8_lossy(blob.content()).into_owned();
                    files.push(SourceFile::new(path, text));
                }
                Err(why) => {
                    let last = matches!(why, Exceeded::Files { .. });
                    files.push(SourceFile::refused(path, why));
                    if last {
                        break;
                    }
                }
            }
        }
        Ok(files)
    }

    fn describe(&self) -> String {
        match &self.origin {
            Origin::Local => self.repo.path().display().to_string(),
            Origin::Remote { url, .. } => redact_url(url),
        }
    }
}

#[cfg(test)]
mod tests;
