//! What the daemon's pages show: the recent commits it judged, with the
//! judgement, the plan and its result, the statuses, and drift. In memory
//! (the audit log is the durable record); shared with the HTTP page.

use crate::judge::Judgement;
use crate::report::{Status, StatusContext, StatusState};
use crate::source::CommitId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::RwLock;

/// How many commits the pages remember.
pub const REMEMBERED: usize = 100;

/// How applying a commit went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplyResult {
    pub ok: bool,
    pub message: String,
}

/// One status as the daemon last set it, and whether the sink took it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusRecord {
    pub state: StatusState,
    pub description: String,
    /// Set when a status sink refused or failed (e.g. a forge's 401).
    pub sink_error: Option<String>,
}

impl StatusRecord {
    /// Whether this is `status` as the daemon set it.
    fn shows(&self, status: &Status) -> bool {
        self.state == status.state && self.description == status.description
    }
}

/// Everything known about one judged commit.
#[derive(Clone, Debug, Serialize)]
pub struct CommitRecord {
    pub commit: CommitId,
    /// The ref it was judged for: the watched branch, or another (planned) ref.
    pub git_ref: String,
    /// Unix seconds of the latest change to this record.
    pub at: i64,
    pub judgement: Option<Judgement>,
    /// The plan's steps, as applied (watched branch) or as it would apply.
    pub plan: Vec<String>,
    pub apply: Option<ApplyResult>,
    pub statuses: BTreeMap<StatusContext, StatusRecord>,
    pub drift: Option<String>,
    /// The commit's first line and author email, as git has them (the
    /// judgement lists only the commits it judged, so not a pinned head).
    pub written: Option<(String, String)>,
}

impl CommitRecord {
    fn new(commit: CommitId, git_ref: &str, at: i64) -> Self {
        CommitRecord {
            commit,
            git_ref: git_ref.to_owned(),
            at,
            judgement: None,
            plan: Vec::new(),
            apply: None,
            statuses: BTreeMap::new(),
            drift: None,
            written: None,
        }
    }

    /// The head commit's first line and author, when the judgement has them.
    #[must_use]
    pub fn headline(&self) -> Option<(&str, &str)> {
        let judged = self.judgement.as_ref().and_then(|judgement| {
            judgement
                .commits
                .iter()
                .find(|c| c.id == self.commit)
                .map(|c| (c.summary.as_str(), c.author_email.as_str()))
        });
        judged.or_else(|| {
            self.written
                .as_ref()
                .map(|(summary, author)| (summary.as_str(), author.as_str()))
        })
    }
}

/// The recent commits, newest last.
#[derive(Debug, Default)]
pub struct Journal {
    records: RwLock<VecDeque<CommitRecord>>,
}

impl Journal {
    /// Changes (or starts) the record of `commit`.
    pub fn update(
        &self,
        commit: CommitId,
        git_ref: &str,
        at: i64,
        change: impl FnOnce(&mut CommitRecord),
    ) {
        let mut records = self
            .records
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = match records.iter().position(|r| r.commit == commit) {
            Some(index) => index,
            None => {
                records.push_back(CommitRecord::new(commit, git_ref, at));
                if records.len() > REMEMBERED {
                    records.pop_front();
                }
                records.len() - 1
            }
        };
        let record = &mut records[index];
        record.at = at;
        change(record);
    }

    pub fn status(
        &self,
        commit: CommitId,
        git_ref: &str,
        at: i64,
        context: StatusContext,
        status: StatusRecord,
    ) {
        self.update(commit, git_ref, at, |r| {
            r.statuses.insert(context, status);
        });
    }

    /// A sink failed to post `status`: the page shows the error beside
    /// the status — only if that status is still the one the daemon last
    /// set for its context. A failure of an older one (a newer status was
    /// set meanwhile) changes nothing: the page never goes back to it.
    /// A commit the pages no longer hold is not brought back.
    pub fn sink_failed(&self, commit: CommitId, at: i64, status: &Status, error: String) {
        self.existing(commit, |record| {
            if let Some(shown) = record.statuses.get_mut(&status.context) {
                if shown.shows(status) {
                    shown.sink_error = Some(error);
                    record.at = at;
                }
            }
        });
    }

    /// Sink `sink` posted `status`: an error of that sink shown beside
    /// the same status goes away. Nothing else changes.
    pub fn sink_delivered(&self, commit: CommitId, status: &Status, sink: &str) {
        self.existing(commit, |record| {
            if let Some(shown) = record.statuses.get_mut(&status.context) {
                let from_sink = shown
                    .sink_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(&format!("{sink}:")));
                if shown.shows(status) && from_sink {
                    shown.sink_error = None;
                }
            }
        });
    }

    /// Changes the record of `commit`, if the pages still hold it.
    fn existing(&self, commit: CommitId, change: impl FnOnce(&mut CommitRecord)) {
        let mut records = self
            .records
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(record) = records.iter_mut().find(|r| r.commit == commit) {
            change(record);
        }
    }

    /// The newest `n` records, newest first.
    #[must_use]
    pub fn recent(&self, n: usize) -> Vec<CommitRecord> {
        let records = self
            .records
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.iter().rev().take(n).cloned().collect()
    }

    /// The record of a commit, by full id or a unique prefix of at least 7.
    #[must_use]
    pub fn get(&self, prefix: &str) -> Option<CommitRecord> {
        let records = self
            .records
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if prefix.len() < 7 {
            return None;
        }
        let mut matching = records
            .iter()
            .filter(|r| r.commit.to_string().starts_with(prefix));
        let found = matching.next()?;
        matching.next().is_none().then(|| found.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(description: &str) -> StatusRecord {
        StatusRecord {
            state: StatusState::Success,
            description: description.to_owned(),
            sink_error: None,
        }
    }

    #[test]
    fn records_are_found_by_prefix_and_the_oldest_are_forgotten() {
        let journal = Journal::default();
        for i in 0..REMEMBERED + 3 {
            let commit = CommitId::parse(&format!("{i:040x}")).unwrap();
            journal.status(
                commit,
                "main",
                i as i64,
                StatusContext::Apply,
                ok("applied"),
            );
        }
        assert_eq!(journal.recent(1000).len(), REMEMBERED);
        assert!(journal.get(&format!("{:040x}", 0)).is_none());
        let newest = format!("{:040x}", REMEMBERED + 2);
        let newest_id = CommitId::parse(&newest).unwrap();
        assert_eq!(journal.recent(1)[0].commit, newest_id);
        assert_eq!(
            journal.get(&newest).unwrap().statuses[&StatusContext::Apply].description,
            "applied"
        );
        assert!(
            journal.get("0000").is_none(),
            "too short a prefix finds nothing"
        );
    }

    #[test]
    fn updates_keep_one_record_per_commit() {
        let journal = Journal::default();
        let commit = CommitId::parse(&"a".repeat(40)).unwrap();
        journal.status(commit, "main", 1, StatusContext::Validate, ok("valid"));
        journal.update(commit, "main", 2, |r| r.drift = Some("pool/web".into()));
        let records = journal.recent(10);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].at, 2);
        assert_eq!(records[0].drift.as_deref(), Some("pool/web"));
        assert!(records[0].statuses.contains_key(&StatusContext::Validate));
    }

    #[test]
    fn a_failed_post_of_an_older_status_does_not_bring_it_back() {
        let journal = Journal::default();
        let commit = CommitId::parse(&"c".repeat(40)).unwrap();
        let applying = Status::new(StatusContext::Apply, StatusState::Pending, "applying");
        let applied = Status::new(StatusContext::Apply, StatusState::Success, "applied");
        let shown = |j: &Journal| {
            j.get(&commit.to_string()).unwrap().statuses[&StatusContext::Apply].clone()
        };
        journal.status(
            commit,
            "main",
            1,
            StatusContext::Apply,
            StatusRecord {
                state: applying.state,
                description: applying.description.clone(),
                sink_error: None,
            },
        );
        journal.status(commit, "main", 2, StatusContext::Apply, ok("applied"));
        // The forge's post of "applying" fails after "applied" was set.
        journal.sink_failed(commit, 3, &applying, "github: HTTP 503".into());
        assert_eq!(shown(&journal), ok("applied"));
        // A failed post of the status shown is shown beside it …
        journal.sink_failed(commit, 4, &applied, "github: HTTP 503".into());
        let failed = shown(&journal);
        assert_eq!(
            (failed.state, failed.description.as_str()),
            (StatusState::Success, "applied")
        );
        assert_eq!(failed.sink_error.as_deref(), Some("github: HTTP 503"));
        // … until that forge takes it; another sink's success clears nothing.
        journal.sink_delivered(commit, &applied, "gitlab");
        assert!(shown(&journal).sink_error.is_some());
        journal.sink_delivered(commit, &applied, "github");
        assert_eq!(shown(&journal), ok("applied"));
    }

    #[test]
    fn a_head_the_decision_did_not_list_still_has_its_headline() {
        let journal = Journal::default();
        let commit = CommitId::parse(&"b".repeat(40)).unwrap();
        journal.update(commit, "main", 1, |r| {
            r.written = Some(("the estate".into(), "alice@example.test".into()));
        });
        let record = journal.get(&commit.to_string()).unwrap();
        assert_eq!(
            record.headline(),
            Some(("the estate", "alice@example.test"))
        );
    }
}
