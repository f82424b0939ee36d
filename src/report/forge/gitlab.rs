//! GitLab commit statuses:
//! <https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit>
//! `POST {api}/projects/{id}/statuses/{sha}`, the id numeric or the
//! URL-encoded path `group%2Fproject`.

use super::http::{Answer, ApiRequest, Auth, Core};
use super::last::Posted;
use super::text::snippet;
use crate::report::{ContextName, ReportError, Status, StatusSink, StatusState};
use crate::source::CommitId;
use reqwest::StatusCode;
use std::sync::Arc;

pub(super) const SCOPE: &str =
    "the token needs the api scope, and its user at least the Developer role on the project; on a protected branch the user must also be allowed to push or merge to it (Settings → Repository → Protected branches)";

/// The longest `target_url` GitLab stores; a longer one is refused
/// (400 "target_url is too long"), so it is left out instead.
pub const MAX_TARGET_URL: usize = 255;

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

/// What GitLab means by some answers:
///
/// - 400 "Cannot transition status via :… from :…": the status is
///   pending or running already and cannot move to the same state again
///   (e.g. after a daemon restart forgot what it posted). The state is
///   what lbops wants; the description is GitLab's old one.
/// - 409 "Another update in progress": another request updates the same
///   status; trying again shortly works.
/// - 404 "References for commit": the commit is not on the `ref` sent.
fn answer(status: StatusCode, body: &str) -> Option<Answer> {
    match status {
        StatusCode::BAD_REQUEST if body.contains("Cannot transition status") => {
            Some(Answer::AlreadySet)
        }
        StatusCode::CONFLICT => Some(Answer::Busy(format!(
            "GitLab is updating the same status (HTTP 409: {})",
            snippet(body, 100)
        ))),
        StatusCode::NOT_FOUND if body.contains("References for commit") => Some(Answer::Refused(
            "GitLab found no branch holding the commit (HTTP 404 References for commit): the status names the watched branch as its ref, and the commit is not (or no longer) on it in GitLab; check that the branch in the config is the one pushed to this project, and that the commit was not force-pushed away".to_owned(),
        )),
        _ => None,
    }
}

impl StatusSink for GitLab {
    fn name(&self) -> &'static str {
        self.core.sink()
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let mut posted = Posted::of(commit, &self.names, status);
        if posted
            .url
            .as_ref()
            .is_some_and(|url| url.chars().count() > MAX_TARGET_URL)
        {
            tracing::debug!(commit = %commit.short(), "page_url too long for GitLab's target_url, left out");
            posted.url = None;
        }
        let mut body = posted.status_body(state(status.state), "name");
        // With a ref, GitLab attaches the status to that branch's latest
        // pipeline for the commit rather than to any pipeline of it.
        if let Some(branch) = &status.branch {
            body["ref"] = serde_json::json!(branch);
        }
        let request = ApiRequest {
            url: format!("{}/{commit}", self.statuses),
            auth: Auth::PrivateToken,
            headers: &[],
            body,
            answer,
        };
        self.core.post(posted, request).await
    }
}
