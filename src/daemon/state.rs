//! What the daemon remembers across restarts: the trusted commit, the
//! audit log's head, and what it decided for recent heads. One JSON file
//! in the state directory, replaced atomically (write, fsync, rename), so
//! a `kill -9` at any point leaves the old state or the new one.

use crate::audit::{Head, HeadParseError};
use crate::fsutil::write_atomically;
use crate::source::CommitId;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// How many judged heads are remembered (for the page and to avoid
/// judging and alerting on the same refused head again).
pub const REMEMBERED_HEADS: usize = 200;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    /// The commit the balancers run and whose policy judges the next ones.
    pub trusted: Option<CommitId>,
    /// The audit log's head after the last record (`SEQ:HASH`), to catch a
    /// log whose tail was cut off: the daemon refuses to start on a log that
    /// does not hold it.
    pub audit_head: Option<String>,
    /// Newest last.
    #[serde(default)]
    pub judged: Vec<JudgedHead>,
    /// The addresses balancers hold from AddressPools, kept across commits
    /// and restarts.
    #[serde(default)]
    pub allocation: crate::spec::alloc::Allocation,
    /// The head whose judgement is under way, saved before it starts: a
    /// daemon that stops while judging the same head again and again (a
    /// crash, an out-of-memory kill) refuses it instead of crash-looping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judging: Option<Judging>,
}

/// A judgement under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judging {
    pub commit: CommitId,
    /// How many judgements of it started, this one included.
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedHead {
    pub commit: CommitId,
    pub outcome: HeadOutcome,
    pub summary: String,
    /// Unix seconds.
    pub at: i64,
}

/// What became of a judged head; saved as `applied`, `refused`,
/// `invalid` or `rewound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadOutcome {
    Applied,
    Refused,
    Invalid,
    Rewound,
}

impl HeadOutcome {
    /// The outcome of a head that was not applied.
    #[must_use]
    pub fn of_rejected(outcome: &crate::judge::Ruling) -> Self {
        match outcome {
            crate::judge::Ruling::Invalid { .. } => HeadOutcome::Invalid,
            crate::judge::Ruling::Rewound => HeadOutcome::Rewound,
            crate::judge::Ruling::Accepted | crate::judge::Ruling::Refused { .. } => {
                HeadOutcome::Refused
            }
        }
    }
}

impl DaemonState {
    /// What was decided for a head, if it was judged.
    #[must_use]
    pub fn judged(&self, commit: CommitId) -> Option<&JudgedHead> {
        self.judged.iter().rev().find(|j| j.commit == commit)
    }

    /// [`DaemonState::audit_head`], parsed.
    pub fn parsed_audit_head(&self) -> Result<Option<Head>, HeadParseError> {
        self.audit_head.as_deref().map(str::parse).transpose()
    }

    pub fn remember(&mut self, head: JudgedHead) {
        self.judged.retain(|j| j.commit != head.commit);
        self.judged.push(head);
        let excess = self.judged.len().saturating_sub(REMEMBERED_HEADS);
        self.judged.drain(..excess);
    }
}

/// The state file.
pub struct StateStore {
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the daemon state {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the daemon state {} is damaged ({reason}); restore it from a backup, or move it away to start over from the configured trust", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write the daemon state {}: {source}; check the state directory's space and permissions", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl StateStore {
    pub const FILE: &'static str = "daemon-state.json";

    #[must_use]
    pub fn in_dir(state_dir: &Path) -> Self {
        StateStore {
            path: state_dir.join(Self::FILE),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or the empty state when there is none yet.
    pub fn load(&self) -> Result<DaemonState, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::Damaged {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DaemonState::default()),
            Err(source) => Err(StateError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub fn save(&self, state: &DaemonState) -> Result<(), StateError> {
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        write_atomically(&self.path, text.as_bytes()).map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(digit: char) -> CommitId {
        CommitId::parse(&digit.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn state_round_trips_and_a_missing_file_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::in_dir(dir.path());
        assert_eq!(store.load().unwrap(), DaemonState::default());
        let mut state = DaemonState {
            trusted: Some(id('a')),
            ..DaemonState::default()
        };
        state.remember(JudgedHead {
            commit: id('b'),
            outcome: HeadOutcome::Refused,
            summary: "user/bob may not …".into(),
            at: 1,
        });
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), state);
        assert_eq!(state.judged(id('b')).unwrap().outcome, HeadOutcome::Refused);
        // Saved as the words earlier versions wrote.
        assert!(std::fs::read_to_string(dir.path().join(StateStore::FILE))
            .unwrap()
            .contains("\"outcome\": \"refused\""));
    }

    #[test]
    fn only_the_newest_heads_are_remembered() {
        let mut state = DaemonState::default();
        for i in 0..REMEMBERED_HEADS + 5 {
            state.remember(JudgedHead {
                commit: CommitId::parse(&format!("{i:040}")).unwrap(),
                outcome: HeadOutcome::Applied,
                summary: String::new(),
                at: 0,
            });
        }
        assert_eq!(state.judged.len(), REMEMBERED_HEADS);
        assert!(state
            .judged(CommitId::parse(&format!("{:040}", 0)).unwrap())
            .is_none());
    }

    #[test]
    fn the_audit_head_is_read_as_seq_and_hash() {
        let mut state = DaemonState::default();
        assert_eq!(state.parsed_audit_head(), Ok(None));
        let head = Head {
            seq: 7,
            hash: "ab".repeat(32),
        };
        state.audit_head = Some(head.to_string());
        assert_eq!(state.parsed_audit_head(), Ok(Some(head)));
        state.audit_head = Some("7:nothex".into());
        assert!(state.parsed_audit_head().is_err());
    }

    #[test]
    fn a_damaged_state_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(StateStore::FILE), "{not json").unwrap();
        let err = StateStore::in_dir(dir.path())
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("damaged") && err.contains("move it away"),
            "{err}"
        );
    }
}
