//! The default status backend: git notes. Each commit's statuses are one
//! note under `refs/notes/lbops` in the watched repository — readable
//! with `git log --notes=lbops` — pushed to the remote when one is
//! configured. See [`format`] for the note's text.
//!
//! A post rewrites only its own context's line, so daemons with
//! different instance prefixes share one note, and writes nothing when
//! the note already says the same: posting a status twice makes no
//! second notes commit.

mod error;
mod format;
mod merge;
mod push;
mod store;

pub use error::NotesError;
pub use format::NoteEntry;

use super::{ContextName, ReportError, Status, StatusSink};
use crate::source::{CommitId, Credentials};
use format::NoteText;
use git2::{Oid, Signature};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::Store;

/// Where notes go unless configured otherwise.
pub const DEFAULT_NOTES_REF: &str = "refs/notes/lbops";
/// The name notes commits are made under unless configured otherwise.
pub const DEFAULT_AUTHOR_NAME: &str = "lbops";
/// The email notes commits are made under unless configured otherwise.
pub const DEFAULT_AUTHOR_EMAIL: &str = "lbops@localhost";

/// Who notes commits are made by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: DEFAULT_AUTHOR_NAME.to_owned(),
            email: DEFAULT_AUTHOR_EMAIL.to_owned(),
        }
    }
}

/// The remote the notes ref is pushed to after each change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushTarget {
    pub url: String,
    pub credentials: Option<Credentials>,
}

/// How a [`GitNotes`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotesConfig {
    /// The watched repository: a work tree or a bare mirror.
    pub repository: PathBuf,
    /// A ref under `refs/notes/`; a bare name `x` means `refs/notes/x`.
    pub notes_ref: String,
    /// The context names this daemon writes (with its instance prefix).
    pub names: ContextName,
    pub author: Author,
    pub push: Option<PushTarget>,
}

impl NotesConfig {
    /// The defaults: [`DEFAULT_NOTES_REF`], [`Author::default`], no push.
    #[must_use]
    pub fn new(repository: impl Into<PathBuf>, names: ContextName) -> Self {
        NotesConfig {
            repository: repository.into(),
            notes_ref: DEFAULT_NOTES_REF.to_owned(),
            names,
            author: Author::default(),
            push: None,
        }
    }
}

/// Commit statuses as git notes.
#[derive(Clone, Debug)]
pub struct GitNotes {
    config: Arc<NotesConfig>,
    /// One post at a time per sink: read, change and write of a note, and
    /// the push after, must not interleave.
    writing: Arc<Mutex<()>>,
}

impl GitNotes {
    /// Checks the notes ref and author; the repository is opened at each
    /// post, so it may appear later (a mirror's first fetch).
    pub fn new(mut config: NotesConfig) -> Result<Self, NotesError> {
        if !config.notes_ref.starts_with("refs/") {
            config.notes_ref = format!("refs/notes/{}", config.notes_ref);
        }
        if !config.notes_ref.starts_with("refs/notes/")
            || !git2::Reference::is_valid_name(&config.notes_ref)
        {
            return Err(NotesError::BadNotesRef(config.notes_ref));
        }
        signature(&config.author)?;
        Ok(GitNotes {
            config: Arc::new(config),
            writing: Arc::new(Mutex::new(())),
        })
    }

    /// The notes ref written to, e.g. `refs/notes/lbops`.
    #[must_use]
    pub fn notes_ref(&self) -> &str {
        &self.config.notes_ref
    }

    /// Every status the note of `commit` holds — of every instance — in
    /// the order the note shows them; empty when it has no note. Reads
    /// the repository on the calling thread: from async code, call it
    /// inside `spawn_blocking`.
    pub fn read(&self, commit: CommitId) -> Result<Vec<NoteEntry>, ReportError> {
        let repo = store::open(&self.config.repository)?;
        let store = Store {
            repo: &repo,
            notes_ref: &self.config.notes_ref,
        };
        let text = store.read(oid(commit))?.unwrap_or_default();
        Ok(NoteText::parse(&text).entries())
    }

    fn post_blocking(&self, commit: CommitId, status: &Status) -> Result<(), NotesError> {
        // A panic while holding the lock leaves no half-state behind that
        // the next post could trip on: git refs update atomically.
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let config = &self.config;
        let repo = store::open(&config.repository)?;
        let store = Store {
            repo: &repo,
            notes_ref: &config.notes_ref,
        };
        let commit = oid(commit);
        store.check_commit(commit)?;
        let author = signature(&config.author)?;
        let mut note = NoteText::parse(&store.read(commit)?.unwrap_or_default());
        note.set(NoteEntry::from_status(&config.names, status));
        let written = match store.write(commit, &note.render(), &author) {
            Err(NotesError::Locked { .. }) if store.clear_stale_lock() => {
                store.write(commit, &note.render(), &author)?
            }
            other => other?,
        };
        if written {
            tracing::debug!(%commit, context = %config.names.of(status.context), "wrote status note");
        }
        match &config.push {
            Some(target) => push::publish(&store, target, &author),
            None => Ok(()),
        }
    }
}

impl StatusSink for GitNotes {
    fn name(&self) -> &'static str {
        error::SINK
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let (sink, status) = (self.clone(), status.clone());
        tokio::task::spawn_blocking(move || sink.post_blocking(commit, &status))
            .await
            .map_err(|e| NotesError::Worker(e.to_string()))??;
        Ok(())
    }
}

fn signature(author: &Author) -> Result<Signature<'static>, NotesError> {
    Signature::now(&author.name, &author.email).map_err(|e| NotesError::BadAuthor {
        name: author.name.clone(),
        email: author.email.clone(),
        message: e.message().to_owned(),
    })
}

/// `CommitId` keeps its `Oid` to itself; its `Display` is the full hex,
/// which always parses back.
fn oid(commit: CommitId) -> Oid {
    Oid::from_str(&commit.to_string()).unwrap_or_else(|_| Oid::zero())
}

#[cfg(test)]
mod tests;
