//! Gitea and Forgejo commit statuses:
//! <https://gitea.com/api/swagger#/repository/repoCreateStatus>,
//! <https://codeberg.org/api/swagger#/repository/repoCreateStatus>
//! `POST {site}/api/v1/repos/{owner}/{repo}/statuses/{sha}`.

use super::http::{common, ApiRequest, Auth, Core};
use super::last::Posted;
use crate::report::{ContextName, ReportError, Status, StatusSink, StatusState};
use crate::source::CommitId;
use std::sync::Arc;

pub(super) const SCOPE: &str =
    "the token needs the write:repository scope and write access to the repository";

/// Commit statuses on Gitea or Forgejo.
#[derive(Clone, Debug)]
pub struct Gitea {
    core: Arc<Core>,
    /// `{site}/api/v1/repos/{owner}/{repo}/statuses`
    statuses: String,
    names: ContextName,
}

impl Gitea {
    /// `api` is the site; an `api_url` given as `…/api/v1` is taken too.
    pub(super) fn new(core: Core, api: &str, repository: &[String], names: ContextName) -> Self {
        let site = api.strip_suffix("/api/v1").unwrap_or(api);
        Gitea {
            core: Arc::new(core),
            statuses: format!("{site}/api/v1/repos/{}/statuses", repository.join("/")),
            names,
        }
    }
}

/// Gitea has all four of lbops' states (and `warning`, unused).
fn state(state: StatusState) -> &'static str {
    state.as_str()
}

impl StatusSink for Gitea {
    fn name(&self) -> &'static str {
        self.core.sink()
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let posted = Posted::of(commit, &self.names, status);
        let body = posted.status_body(state(status.state), "context");
        let request = ApiRequest {
            url: format!("{}/{commit}", self.statuses),
            auth: Auth::Token,
            headers: &[],
            body,
            answer: common,
        };
        self.core.post(posted, request).await
    }
}
