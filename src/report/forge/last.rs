//! What a sink last posted for each (commit, context), so that the same
//! status is not posted twice. Bounded: the oldest entries are dropped,
//! and a status forgotten that way is at worst posted once more.

use super::text::fit_description;
use crate::report::{ContextName, Status, StatusState};
use crate::source::CommitId;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many (commit, context) pairs are remembered.
const REMEMBERED: usize = 512;

/// One posted status, as the forge shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub commit: CommitId,
    pub context: String,
    pub state: StatusState,
    pub description: String,
    pub url: Option<String>,
}

impl Posted {
    /// The JSON body GitHub, Gitea and GitLab share: `state`, the context
    /// under `context_field` (`context`, or GitLab's `name`),
    /// `description`, and `target_url` when there is one.
    #[must_use]
    pub fn status_body(&self, state: &str, context_field: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "state": state,
            context_field: self.context,
            "description": self.description,
        });
        if let Some(url) = &self.url {
            body["target_url"] = serde_json::json!(url);
        }
        body
    }

    /// `status` of `commit` as a forge shows it: the full context name
    /// and the description cut to fit.
    #[must_use]
    pub fn of(commit: CommitId, names: &ContextName, status: &Status) -> Self {
        Posted {
            commit,
            context: names.of(status.context),
            state: status.state,
            description: fit_description(&status.description),
            url: status.target_url.clone(),
        }
    }
}

#[derive(Debug, Default)]
pub struct LastPosted {
    entries: Mutex<VecDeque<Posted>>,
}

impl LastPosted {
    /// Whether exactly this was the last status posted for its commit
    /// and context.
    pub fn is_current(&self, posted: &Posted) -> bool {
        self.lock().iter().any(|p| p == posted)
    }

    /// Remembers `posted` as the current status of its commit and context.
    pub fn remember(&self, posted: Posted) {
        let mut entries = self.lock();
        entries.retain(|p| (p.commit, &p.context) != (posted.commit, &posted.context));
        if entries.len() >= REMEMBERED {
            entries.pop_front();
        }
        entries.push_back(posted);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Posted>> {
        // The list is valid after any panic: every change is one call.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(n: usize, state: StatusState) -> Posted {
        Posted {
            commit: CommitId::parse(&format!("{n:040x}")).unwrap(),
            context: "lbops/apply".into(),
            state,
            description: "d".into(),
            url: None,
        }
    }

    #[test]
    fn only_the_latest_of_a_context_counts_and_memory_is_bounded() {
        let last = LastPosted::default();
        last.remember(posted(1, StatusState::Pending));
        assert!(last.is_current(&posted(1, StatusState::Pending)));
        last.remember(posted(1, StatusState::Success));
        assert!(!last.is_current(&posted(1, StatusState::Pending)));
        assert!(last.is_current(&posted(1, StatusState::Success)));
        for n in 2..=REMEMBERED + 1 {
            last.remember(posted(n, StatusState::Success));
        }
        assert!(!last.is_current(&posted(1, StatusState::Success)));
        assert!(last.is_current(&posted(REMEMBERED + 1, StatusState::Success)));
        assert_eq!(last.lock().len(), REMEMBERED);
    }
}
