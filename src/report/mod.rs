//! Reporting outcomes back onto commits: commit statuses through a
//! [`StatusSink`]. The default sink writes git notes; forge backends
//! implement the same trait.

pub mod alerts;
pub mod forge;
pub mod notes;
use crate::source::CommitId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest description a status may carry (GitHub's limit; the
/// others allow more, so one rule fits all).
pub const MAX_DESCRIPTION: usize = 140;

/// Which step of lbops' flow a status is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusContext {
    Validate,
    Authorize,
    Apply,
    Drift,
    /// For heads of other refs (pull requests, branches): judged and
    /// planned, never applied.
    Plan,
}

impl StatusContext {
    pub const ALL: [StatusContext; 5] = [
        StatusContext::Validate,
        StatusContext::Authorize,
        StatusContext::Apply,
        StatusContext::Drift,
        StatusContext::Plan,
    ];

    /// `validate`, `authorize`, …: the part after `lbops/`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StatusContext::Validate => "validate",
            StatusContext::Authorize => "authorize",
            StatusContext::Apply => "apply",
            StatusContext::Drift => "drift",
            StatusContext::Plan => "plan",
        }
    }
}

/// Where a status stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    Pending,
    Success,
    /// The commit is at fault (invalid, denied, drifted).
    Failure,
    /// lbops or a provider is at fault (could not apply, could not read).
    Error,
}

impl StatusState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// One status of one commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub context: StatusContext,
    pub state: StatusState,
    /// At most [`MAX_DESCRIPTION`] characters, naming the reason.
    pub description: String,
    /// The daemon's page for this commit.
    pub target_url: Option<String>,
    /// The branch the status is about, for forges that attach statuses to
    /// a branch's pipeline (GitLab's `ref`): `main`, not `refs/heads/main`.
    pub branch: Option<String>,
}

impl Status {
    /// A status; the description is cut to [`MAX_DESCRIPTION`] characters
    /// (ending in `…` when cut) so every backend accepts it.
    #[must_use]
    pub fn new(context: StatusContext, state: StatusState, description: &str) -> Self {
        Status {
            context,
            state,
            description: clip(description),
            target_url: None,
            branch: None,
        }
    }

    /// The status about `git_ref`, a branch given either way (`main` or
    /// `refs/heads/main`); another kind of ref (a tag, a merge request's
    /// head) names no branch.
    #[must_use]
    pub fn on_ref(mut self, git_ref: &str) -> Self {
        self.branch = match git_ref.strip_prefix("refs/heads/") {
            Some(branch) => Some(branch.to_owned()),
            None if git_ref.starts_with("refs/") || git_ref.is_empty() => None,
            None => Some(git_ref.to_owned()),
        };
        self
    }

    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.target_url = Some(url.into());
        self
    }
}

fn clip(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DESCRIPTION {
        return one_line;
    }
    let mut clipped: String = one_line.chars().take(MAX_DESCRIPTION - 1).collect();
    clipped.push('…');
    clipped
}

/// The full context name a sink shows: `lbops/validate`, or with an
/// instance prefix so two daemons on one repository do not overwrite each
/// other, `lbops/staging/validate`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextName {
    instance: Option<String>,
}

impl ContextName {
    #[must_use]
    pub fn new(instance: Option<String>) -> Self {
        ContextName { instance }
    }

    #[must_use]
    pub fn of(&self, context: StatusContext) -> String {
        match &self.instance {
            Some(instance) => format!("lbops/{instance}/{}", context.as_str()),
            None => format!("lbops/{}", context.as_str()),
        }
    }
}

/// Why a status could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Worth trying again later (network, rate limit, a 5xx).
    #[error("{sink}: {message} (will retry)")]
    Transient { sink: &'static str, message: String },
    /// Will not get better by retrying (bad credentials, unknown repository).
    #[error("{sink}: {message}")]
    Permanent { sink: &'static str, message: String },
}

/// Somewhere commit statuses go.
#[allow(async_fn_in_trait)] // used with concrete types, never `dyn`
pub trait StatusSink {
    /// A short name for logs: `git-notes`, `github`, …
    fn name(&self) -> &'static str;
    /// Sets one status of one commit, replacing an earlier status of the
    /// same context. Posting the same status twice is harmless.
    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError>;
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.state.as_str(), self.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_every_forge() {
        let long = "x".repeat(500);
        let status = Status::new(StatusContext::Authorize, StatusState::Failure, &long);
        assert_eq!(status.description.chars().count(), MAX_DESCRIPTION);
        assert!(status.description.ends_with('…'));
        let multi = Status::new(
            StatusContext::Validate,
            StatusState::Success,
            "16 resources\n  valid",
        );
        assert_eq!(multi.description, "16 resources valid");
    }

    #[test]
    fn an_instance_prefix_keeps_two_daemons_apart() {
        assert_eq!(
            ContextName::default().of(StatusContext::Drift),
            "lbops/drift"
        );
        assert_eq!(
            ContextName::new(Some("staging".into())).of(StatusContext::Apply),
            "lbops/staging/apply"
        );
    }
}
