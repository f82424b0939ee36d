//! What can go wrong writing status notes, each saying what to do, and
//! which of it is worth retrying.

use crate::report::ReportError;
use crate::source::SecretError;
use std::path::PathBuf;

/// The name the git-notes backend gives itself in logs and errors.
pub(super) const SINK: &str = "git-notes";

#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error("{path} is not a git repository ({message}); point the git-notes backend at the watched repository")]
    NotARepository { path: PathBuf, message: String },
    #[error("commit {commit} is not in {path}; fetch it before reporting on it")]
    UnknownCommit { commit: String, path: PathBuf },
    #[error("`{0}` is not a valid notes ref; give a name like refs/notes/lbops")]
    BadNotesRef(String),
    #[error("the notes author `{name} <{email}>` is not usable ({message}); give a plain name and email address")]
    BadAuthor {
        name: String,
        email: String,
        message: String,
    },
    #[error("{notes_ref} is locked ({message}); another writer holds it — if no git process is running, remove its .lock file")]
    Locked { notes_ref: String, message: String },
    #[error("cannot {action} in {path}: {message}; check the repository's disk and permissions")]
    Git {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("cannot push {notes_ref} to {url}: {message}; check that the remote is reachable and the credentials may push to it")]
    Push {
        notes_ref: String,
        url: String,
        message: String,
    },
    #[error("cannot fetch {notes_ref} from {url} to merge with it: {message}; check that the remote is reachable and the credentials may read it")]
    Fetch {
        notes_ref: String,
        url: String,
        message: String,
    },
    #[error("{url} refused {notes_ref} again after merging its notes ({message}); another writer keeps moving it, or a hook or protection rule refuses refs/notes — check the remote's rules")]
    Rejected {
        notes_ref: String,
        url: String,
        message: String,
    },
    #[error("cannot read the credentials for pushing notes: {0}")]
    Credentials(#[from] SecretError),
    #[error(
        "the notes writer stopped unexpectedly ({0}); this is a bug in lbops, please report it"
    )]
    Worker(String),
}

impl NotesError {
    /// Whether trying again later may succeed without anyone changing
    /// the configuration.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            NotesError::NotARepository { .. }
                | NotesError::UnknownCommit { .. }
                | NotesError::BadNotesRef(_)
                | NotesError::BadAuthor { .. }
        )
    }
}

impl From<NotesError> for ReportError {
    fn from(e: NotesError) -> Self {
        let message = e.to_string();
        match e.is_transient() {
            true => ReportError::Transient {
                sink: SINK,
                message,
            },
            false => ReportError::Permanent {
                sink: SINK,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SecretRef;

    /// Every message, printed so a person can review the wording
    /// (`cargo test -- --nocapture`), and how each is retried.
    #[test]
    fn every_error_says_what_to_do_and_how_it_is_retried() {
        let path = PathBuf::from("/srv/lbops/mirror.git");
        let (notes_ref, url) = (
            "refs/notes/lbops".to_owned(),
            "https://git.example/o/r.git".to_owned(),
        );
        let errors = [
            NotesError::NotARepository {
                path: path.clone(),
                message: "could not find repository".into(),
            },
            NotesError::UnknownCommit {
                commit: "a".repeat(40),
                path: path.clone(),
            },
            NotesError::BadNotesRef("refs/heads/main".into()),
            NotesError::BadAuthor {
                name: "lbops".into(),
                email: "<x>".into(),
                message: "contains angle brackets".into(),
            },
            NotesError::Locked {
                notes_ref: notes_ref.clone(),
                message: "failed to lock file".into(),
            },
            NotesError::Git {
                action: "write the note",
                path,
                message: "No space left on device".into(),
            },
            NotesError::Push {
                notes_ref: notes_ref.clone(),
                url: url.clone(),
                message: "failed to connect".into(),
            },
            NotesError::Fetch {
                notes_ref: notes_ref.clone(),
                url: url.clone(),
                message: "failed to connect".into(),
            },
            NotesError::Rejected {
                notes_ref,
                url,
                message: "pre-receive hook declined".into(),
            },
            NotesError::Credentials(SecretError::Empty(SecretRef::Env("LBOPS_TOKEN".into()))),
            NotesError::Worker("task panicked".into()),
        ];
        let permanent = errors.iter().filter(|e| !e.is_transient()).count();
        assert_eq!(permanent, 4);
        for error in errors {
            let transient = error.is_transient();
            let report = ReportError::from(error);
            println!("{report}");
            assert_eq!(matches!(report, ReportError::Transient { .. }), transient);
        }
    }
}
