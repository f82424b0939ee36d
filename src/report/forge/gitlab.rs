//! GitLab commit statuses:
//! <https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit>
//! `POST {api}/projects/{id}/statuses/{sha}`, the id numeric or the
//! URL-encoded path `group%2Fproject`.

use super::http::{ApiRequest, Auth, Core};
use super::last::Posted;
use crate::report::{ContextName, ReportError, Status, StatusSink, StatusState};
use crate::source::CommitId;
use reqwest::StatusCode;
use std::sync::Arc;

pub(super) const SCOPE: &str =
    "the token needs the api scope and at least the Developer role on the project";

/// Commit statuses on GitLab.com or a self-managed GitLab.
#[derive(Clone, Debug)]
pub struct GitLab {
    core: Arc<Core>,
    /// `{api}/projects/{id}/statuses`
    statuses: String,
    names: ContextName,
}

impl GitLab {
    pub(super) fn new(core: Core, api: &str, repository: &[String], names: ContextName) -> Self {
        GitLab {
            core: Arc::new(core),
            // Segments hold only [A-Za-z0-9._-]: joining with an encoded
            // `/` is the whole URL encoding the id needs.
            statuses: format!("{api}/projects/{}/statuses", repository.join("%2F")),
            names,
        }
    }
}

/// GitLab's states are a pipeline's: it has no `error`, so lbops' Error
/// (lbops or a provider at fault) shows as `failed` too; the description
/// says which it was.
fn state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure | StatusState::Error => "failed",
    }
}

/// GitLab answers 400 "Cannot transition status via :… from :…" when a
/// status already has the state posted (e.g. after a daemon restart
/// forgot what it posted): the status is what lbops wants.
fn already_set(status: StatusCode, body: &str) -> bool {
    status == StatusCode::BAD_REQUEST && body.contains("Cannot transition status")
}

impl StatusSink for GitLab {
    fn name(&self) -> &'static str {
        self.core.sink()
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let posted = Posted::of(commit, &self.names, status);
        let body = posted.status_body(state(status.state), "name");
        let request = ApiRequest {
            url: format!("{}/{commit}", self.statuses),
            auth: Auth::PrivateToken,
            headers: &[],
            body,
            already_set,
        };
        self.core.post(posted, request).await
    }
}
