//! GitHub commit statuses:
//! <https://docs.github.com/en/rest/commits/statuses#create-a-commit-status>
//! `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.

use super::http::{Answer, ApiRequest, Auth, Core};
use super::last::Posted;
use crate::report::{ContextName, ReportError, Status, StatusSink, StatusState};
use crate::source::CommitId;
use reqwest::StatusCode;
use std::sync::Arc;

pub(super) const SCOPE: &str = "a fine-grained token needs \"Commit statuses: write\" on the repository, a classic token the repo:status scope (repo for a private repository)";

const HEADERS: &[(&str, &str)] = &[
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
];

/// Commit statuses on GitHub or GitHub Enterprise Server.
#[derive(Clone, Debug)]
pub struct GitHub {
    core: Arc<Core>,
    /// `{api}/repos/{owner}/{repo}/statuses`
    statuses: String,
    names: ContextName,
}

impl GitHub {
    pub(super) fn new(core: Core, api: &str, repository: &[String], names: ContextName) -> Self {
        GitHub {
            core: Arc::new(core),
            statuses: format!("{api}/repos/{}/statuses", repository.join("/")),
            names,
        }
    }
}

/// GitHub has all four of lbops' states, under the same names.
fn state(state: StatusState) -> &'static str {
    state.as_str()
}

/// GitHub keeps at most 1,000 statuses per commit and context and
/// answers 422 "This SHA and context has reached the maximum number of
/// statuses." to the next one.
fn answer(status: StatusCode, body: &str) -> Option<Answer> {
    let full = status == StatusCode::UNPROCESSABLE_ENTITY
        && body.contains("reached the maximum number of statuses");
    full.then(|| {
        Answer::Full(
            "GitHub keeps at most 1,000 statuses per commit and context, and this one has them all (HTTP 422); it cannot change on this commit any more, and lbops stops posting it: the next commit starts afresh".to_owned(),
        )
    })
}

impl StatusSink for GitHub {
    fn name(&self) -> &'static str {
        self.core.sink()
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let posted = Posted::of(commit, &self.names, status);
        let body = posted.status_body(state(status.state), "context");
        let request = ApiRequest {
            url: format!("{}/{commit}", self.statuses),
            auth: Auth::Bearer,
            headers: HEADERS,
            body,
            answer,
        };
        self.core.post(posted, request).await
    }
}
