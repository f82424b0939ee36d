//! Reading and writing notes in a local repository (normal or bare).

use super::error::NotesError;
use git2::{ErrorCode, ObjectType, Oid, Repository, Signature, TreeWalkMode, TreeWalkResult};
use std::collections::BTreeMap;
use std::path::Path;

/// How long a ref lock may be held before it counts as left behind.
pub(super) const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(3);

/// One repository's notes under one ref.
pub(super) struct Store<'a> {
    pub(super) repo: &'a Repository,
    pub(super) notes_ref: &'a str,
}

/// Opens the repository at `path`, a work tree or a bare repository.
pub(super) fn open(path: &Path) -> Result<Repository, NotesError> {
    Repository::open(path).map_err(|e| NotesError::NotARepository {
        path: path.to_path_buf(),
        message: e.message().to_owned(),
    })
}

impl Store<'_> {
    /// The error for a failed git operation: a lock held by someone else,
    /// or anything else the repository refused.
    pub(super) fn error(&self, action: &'static str, e: &git2::Error) -> NotesError {
        match e.code() {
            ErrorCode::Locked => NotesError::Locked {
                notes_ref: self.notes_ref.to_owned(),
                message: e.message().to_owned(),
            },
            _ => NotesError::Git {
                action,
                path: self.repo.path().to_path_buf(),
                message: e.message().to_owned(),
            },
        }
    }

    /// Removes the notes ref's lock file when nobody is writing through
    /// it: one still there after [`STALE_LOCK`] was left by a writer that
    /// died mid-update (a `kill -9` of a daemon), since a live update holds
    /// it for milliseconds. Waits up to that long for a live writer to
    /// finish; true when the ref is free to write again.
    pub(super) fn clear_stale_lock(&self) -> bool {
        let lock = self.repo.path().join(format!("{}.lock", self.notes_ref));
        let deadline = std::time::Instant::now() + STALE_LOCK;
        loop {
            let Ok(meta) = std::fs::metadata(&lock) else {
                return true; // released: the writer finished
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|at| at.elapsed().ok())
                .unwrap_or_default();
            if age >= STALE_LOCK || std::time::Instant::now() >= deadline {
                tracing::warn!(lock = %lock.display(), "removing a stale lock left by a writer that stopped mid-update");
                return std::fs::remove_file(&lock).is_ok();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Fails unless `commit` is a commit of this repository.
    pub(super) fn check_commit(&self, commit: Oid) -> Result<(), NotesError> {
        match self.repo.find_commit(commit) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), ErrorCode::NotFound) => Err(NotesError::UnknownCommit {
                commit: commit.to_string(),
                path: self.repo.path().to_path_buf(),
            }),
            Err(e) => Err(self.error("read the commit", &e)),
        }
    }

    /// The note of `commit`, `None` when it has none.
    pub(super) fn read(&self, commit: Oid) -> Result<Option<String>, NotesError> {
        match self.repo.find_note(Some(self.notes_ref), commit) {
            Ok(note) => Ok(Some(
                String::from_utf8_lossy(note.message_bytes()).into_owned(),
            )),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.error("read the note", &e)),
        }
    }

    /// Sets the note of `commit` to `text` (removes it when `text` is
    /// empty): one new notes commit, or none when the note already says
    /// exactly that. Returns whether anything was written.
    pub(super) fn write(
        &self,
        commit: Oid,
        text: &str,
        author: &Signature<'_>,
    ) -> Result<bool, NotesError> {
        let current = self.read(commit)?;
        if current.as_deref().unwrap_or_default() == text {
            return Ok(false);
        }
        let written = match text.is_empty() {
            true => self
                .repo
                .note_delete(commit, Some(self.notes_ref), author, author),
            false => self
                .repo
                .note(author, author, Some(self.notes_ref), commit, text, true)
                .map(|_| ()),
        };
        written.map_err(|e| self.error("write the note", &e))?;
        Ok(true)
    }

    /// The commit the notes ref points at; `None` before the first note.
    pub(super) fn head(&self) -> Result<Option<Oid>, NotesError> {
        self.ref_target(self.notes_ref)
    }

    /// The commit any ref points at; `None` when there is no such ref.
    pub(super) fn ref_target(&self, name: &str) -> Result<Option<Oid>, NotesError> {
        match self.repo.refname_to_id(name) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.error("read a ref", &e)),
        }
    }

    /// Every note in the notes commit `at` (none for `None`), by the
    /// commit it annotates. Reads the tree directly, so it works for any
    /// notes commit, fanned-out (`ab/cdef…`) or not.
    pub(super) fn notes_at(&self, at: Option<Oid>) -> Result<BTreeMap<Oid, String>, NotesError> {
        let mut notes = BTreeMap::new();
        let Some(at) = at else {
            return Ok(notes);
        };
        let fail = |e: git2::Error| self.error("read a notes commit", &e);
        let tree = self
            .repo
            .find_commit(at)
            .and_then(|c| c.tree())
            .map_err(fail)?;
        let mut failure = None;
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(ObjectType::Blob) {
                return TreeWalkResult::Ok;
            }
            let hex = format!(
                "{}{}",
                dir.replace('/', ""),
                entry.name().unwrap_or_default()
            );
            let Ok(annotated) = Oid::from_str(&hex) else {
                return TreeWalkResult::Ok;
            };
            if hex.len() != 40 {
                return TreeWalkResult::Ok;
            }
            match self.repo.find_blob(entry.id()) {
                Ok(blob) => {
                    let text = String::from_utf8_lossy(blob.content()).into_owned();
                    notes.insert(annotated, text);
                    TreeWalkResult::Ok
                }
                Err(e) => {
                    failure = Some(e);
                    TreeWalkResult::Abort
                }
            }
        })
        .map_err(fail)?;
        match failure {
            Some(e) => Err(fail(e)),
            None => Ok(notes),
        }
    }
}
