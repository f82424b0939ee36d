//! Linked history: which applied commit last changed each element, read
//! from the daemon's journal (pure). A commit counts once it was applied;
//! a refused or planned one changed nothing that runs.

use super::model::LastChange;
use crate::daemon::journal::CommitRecord;
use crate::spec::kinds::ResourceId;
use std::collections::{BTreeSet, HashMap};

/// The last change of every resource the `records` (newest first) show
/// changing.
#[must_use]
pub fn last_changes(records: &[CommitRecord]) -> HashMap<ResourceId, LastChange> {
    let mut last = HashMap::new();
    for record in records {
        let applied = record.apply.as_ref().is_some_and(|a| a.ok);
        let Some(judgement) = record.judgement.as_ref().filter(|j| j.accepted()) else {
            continue;
        };
        if !applied {
            continue;
        }
        let statuses: Vec<String> = record
            .statuses
            .iter()
            .map(|(context, status)| {
                format!("lbops/{}: {}", context.as_str(), status.state.as_str())
            })
            .collect();
        // Newest commit of the push first: it changed the resource last.
        for commit in judgement.commits.iter().rev() {
            for judged in &commit.changes {
                let Some(resource) = &judged.change.resource else {
                    continue;
                };
                last.entry(resource.clone()).or_insert_with(|| LastChange {
                    commit: commit.id.to_string(),
                    summary: commit.summary.clone(),
                    author: commit.author_email.clone(),
                    statuses: statuses.clone(),
                });
            }
        }
    }
    last
}

/// The balancers and pools a commit's judgement shows it changing, for
/// its page's links to the estate.
#[must_use]
pub fn changed_by(record: &CommitRecord) -> BTreeSet<ResourceId> {
    record
        .judgement
        .iter()
        .flat_map(|j| &j.commits)
        .flat_map(|c| &c.changes)
        .filter_map(|judged| judged.change.resource.clone())
        .collect()
}
