//! Moving the watched branch to a commit lbops made (an API write), only
//! from the head that commit was made on: a compare-and-swap, never a
//! force, so that a push that landed meanwhile is never lost.
//!
//! * a repository on this machine: its ref moves under git's own lock;
//! * a remote: the commit is pushed from the mirror. Over a network the
//!   push goes ahead only if the remote still advertises the expected
//!   head (`push_negotiation`), and the server applies it only if the ref
//!   is still at that head; a remote that is a path (`file://`) gets the
//!   missing objects copied and its ref swapped under its lock, because
//!   libgit2's local transport would overwrite the ref without comparing.
//!   Off-site redirects are refused, and every error shows the URL without
//!   its credentials.

use super::{CommitId, GitError, GitSource, Origin};
use crate::source::auth::{credential_callbacks, redact_url, redact_userinfo};
use crate::source::credentials::Credentials;
use git2::{AutotagOption, Direction, ErrorCode, ObjectType, Oid, RemoteRedirect, Repository};
use std::path::{Path, PathBuf};

impl GitSource {
    /// The commit a write is made on: the branch head as it is now. For a
    /// remote, the head is asked of the remote and its objects fetched
    /// into the mirror; no ref of the mirror moves (the daemon's own fetch
    /// keeps those, and two fetches updating one ref contend for its lock).
    pub fn latest(&self) -> Result<CommitId, GitError> {
        let Origin::Remote { url, credentials } = &self.origin else {
            return self.head();
        };
        let fetch_error = |e: git2::Error| GitError::Fetch {
            url: redact_url(url),
            message: redact_userinfo(e.message(), url),
        };
        let mut secret_error = None;
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(credential_callbacks(
            credentials.as_ref(),
            &mut secret_error,
        ));
        options.update_fetchhead(false);
        options.download_tags(AutotagOption::None);
        options.follow_redirects(RemoteRedirect::None);
        let mut remote = self.repo.remote_anonymous(url).map_err(fetch_error)?;
        let fetched = remote.fetch(&[&self.branch_ref()], Some(&mut options), None);
        drop(options);
        if let Some(e) = secret_error {
            return Err(GitError::Credentials(e));
        }
        fetched.map_err(fetch_error)?;
        let name = self.branch_ref();
        let head = remote
            .list()
            .map_err(fetch_error)?
            .iter()
            .find(|head| head.name() == name)
            .map(|head| CommitId(head.oid()));
        head.ok_or_else(|| GitError::NoSuchBranch {
            branch: self.branch.clone(),
            location: redact_url(url),
        })
    }

    /// Moves the watched branch from `expected` to `new`, a commit in this
    /// repository whose parent is `expected`, unless the branch moved
    /// meanwhile: then `Ok(false)` and nothing changed. For a remote, the
    /// mirror's branch follows a push that landed.
    pub fn publish(&self, expected: CommitId, new: CommitId) -> Result<bool, GitError> {
        let Origin::Remote { url, credentials } = &self.origin else {
            return self.advance_branch(expected, new);
        };
        let landed = match local_path(url) {
            Some(path) => self.swap_in(&path, url, expected, new)?,
            None => self.push(url, credentials.as_ref(), expected, new)?,
        };
        // The push landed whatever happens to the mirror: its branch
        // catches up at the daemon's next fetch.
        if let Err(error) = landed.then(|| self.follow(new)).transpose() {
            tracing::warn!(%error, commit = %new.short(), "the mirror's branch could not follow a push; the next fetch moves it");
        }
        Ok(landed)
    }

    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// Pushes `new` to the remote's branch, as a non-force push from
    /// `expected` exactly.
    fn push(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        expected: CommitId,
        new: CommitId,
    ) -> Result<bool, GitError> {
        let name = self.branch_ref();
        let mut secret_error = None;
        // What the remote advertised for the branch, and what it said of
        // the update.
        let mut advertised: Option<Oid> = None;
        let mut refused: Option<String> = None;
        let pushed = {
            let mut callbacks = credential_callbacks(credentials, &mut secret_error);
            callbacks.push_negotiation(|updates| {
                let at = updates
                    .iter()
                    .find(|u| u.dst_refname() == Some(name.as_str()))
                    .map_or(Oid::zero(), |u| u.src());
                advertised = Some(at);
                if at == expected.0 {
                    Ok(())
                } else {
                    Err(git2::Error::from_str(
                        "the branch moved since the edit was made",
                    ))
                }
            });
            callbacks.push_update_reference(|_, status| {
                refused = status.map(str::to_owned);
                Ok(())
            });
            let mut options = git2::PushOptions::new();
            options.remote_callbacks(callbacks);
            options.follow_redirects(RemoteRedirect::None);
            let mut remote = self
                .repo
                .remote_anonymous(url)
                .map_err(|e| push_error(url, e.message()))?;
            remote.push(&[format!("{new}:{name}")], Some(&mut options))
        };
        if let Some(e) = secret_error {
            return Err(GitError::Credentials(e));
        }
        if advertised.is_some_and(|at| at != expected.0) {
            return Ok(false);
        }
        pushed.map_err(|e| push_error(url, e.message()))?;
        match refused {
            None => Ok(true),
            // The server compares the ref under its lock; a refusal is
            // either the branch moving between the advertisement and the
            // update, or a hook or a branch protection. Only the branch as
            // it is now tells which.
            Some(status) => match self.advertised(url, credentials)? {
                Some(at) if at == expected => Err(GitError::Push {
                    url: redact_url(url),
                    message: format!(
                        "the remote refused the update of {name} ({}); let the credentials push \
                         to the branch, past any branch protection or hook",
                        redact_userinfo(&status, url)
                    ),
                }),
                _ => Ok(false),
            },
        }
    }

    /// What the remote's branch points at now.
    fn advertised(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<Option<CommitId>, GitError> {
        let mut secret_error = None;
        let listed = {
            let callbacks = credential_callbacks(credentials, &mut secret_error);
            let mut remote = self
                .repo
                .remote_anonymous(url)
                .map_err(|e| push_error(url, e.message()))?;
            remote
                .connect_auth(Direction::Fetch, Some(callbacks), None)
                .and_then(|connection| {
                    let name = self.branch_ref();
                    Ok(connection
                        .list()?
                        .iter()
                        .find(|head| head.name() == name)
                        .map(|head| CommitId(head.oid())))
                })
        };
        if let Some(e) = secret_error {
            return Err(GitError::Credentials(e));
        }
        listed.map_err(|e| push_error(url, e.message()))
    }

    /// Copies what `new` adds to `expected` into the repository at `path`,
    /// then swaps its branch from `expected` to `new` under its lock.
    fn swap_in(
        &self,
        path: &Path,
        url: &str,
        expected: CommitId,
        new: CommitId,
    ) -> Result<bool, GitError> {
        let failed = |e: git2::Error| push_error(url, e.message());
        let target = Repository::open(path).map_err(failed)?;
        copy_objects(&self.repo, &target, expected, new).map_err(failed)?;
        let message = format!("lbops API: {} -> {}", expected.short(), new.short());
        let swapped =
            target.reference_matching(&self.branch_ref(), new.0, true, expected.0, &message);
        match swapped {
            Ok(_) => Ok(true),
            Err(e) if moved(&e) => Ok(false),
            Err(e) => Err(failed(e)),
        }
    }

    /// Moves the mirror's branch forward to `new`, which the remote's
    /// branch now points at; if the daemon's fetch moved it meanwhile,
    /// that fetch knows better and it stays.
    fn follow(&self, new: CommitId) -> Result<(), GitError> {
        let name = self.branch_ref();
        let message = format!("lbops API: pushed {}", new.short());
        let current = match self.repo.refname_to_id(&name) {
            Ok(oid) => oid,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return match self.repo.reference(&name, new.0, false, &message) {
                    Ok(_) => Ok(()),
                    Err(e) if e.code() == ErrorCode::Exists || moved(&e) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        if current == new.0 || !self.repo.graph_descendant_of(new.0, current)? {
            return Ok(());
        }
        match self
            .repo
            .reference_matching(&name, new.0, true, current, &message)
        {
            Ok(_) => Ok(()),
            Err(e) if moved(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether a compare-and-swap of a ref failed because the ref moved.
pub(super) fn moved(e: &git2::Error) -> bool {
    matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked)
        || e.message().contains("old reference value does not match")
}

fn push_error(url: &str, message: &str) -> GitError {
    let advice = if message.contains("redirect") {
        "; lbops sends its credentials to no other host: give the repository's final URL in \
         `repository.url`"
    } else {
        ""
    };
    GitError::Push {
        url: redact_url(url),
        message: format!("{}{advice}", redact_userinfo(message, url)),
    }
}

/// The path of a remote that is a repository on this machine: a
/// `file://` URL or an absolute path.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return rest
            .starts_with('/')
            .then(|| PathBuf::from(percent_decoded(rest)));
    }
    url.starts_with('/').then(|| PathBuf::from(url))
}

/// `%20` and the like decoded, as git reads a `file://` URL.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes into `to` every object of the commits reachable from `new` and
/// not from `expected` that `to` lacks, each after the objects it names,
/// so that what `to` holds is always whole: a tree `to` already has is
/// whole there, and is not walked.
fn copy_objects(
    from: &Repository,
    to: &Repository,
    expected: CommitId,
    new: CommitId,
) -> Result<(), git2::Error> {
    let copy = Copy {
        from,
        source: from.odb()?,
        target: to.odb()?,
    };
    let mut walk = from.revwalk()?;
    walk.push(new.0)?;
    walk.hide(expected.0)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    for commit in walk {
        let commit = commit?;
        if !copy.target.exists(commit) {
            copy.tree(from.find_commit(commit)?.tree_id())?;
            copy.object(commit)?;
        }
    }
    Ok(())
}

struct Copy<'r> {
    from: &'r Repository,
    source: git2::Odb<'r>,
    target: git2::Odb<'r>,
}

impl Copy<'_> {
    fn object(&self, oid: Oid) -> Result<(), git2::Error> {
        let object = self.source.read(oid)?;
        self.target.write(object.kind(), object.data())?;
        Ok(())
    }

    /// A tree after its subtrees and blobs (its depth is the directory
    /// depth of the tree, which git itself bounds by what a path can be).
    fn tree(&self, tree: Oid) -> Result<(), git2::Error> {
        if self.target.exists(tree) {
            return Ok(());
        }
        for entry in self.from.find_tree(tree)?.iter() {
            match entry.kind() {
                Some(ObjectType::Tree) => self.tree(entry.id())?,
                Some(ObjectType::Blob) if !self.target.exists(entry.id()) => {
                    self.object(entry.id())?;
                }
                // Submodules name commits of other repositories.
                _ => {}
            }
        }
        self.object(tree)
    }
}

#[cfg(test)]
mod tests;
