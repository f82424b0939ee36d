//! Bitbucket Cloud build statuses:
//! <https://developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses/#api-repositories-workspace-repo-slug-commit-commit-statuses-build-post>
//! `POST {api}/2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build`;
//! a status with the same `key` is overwritten.

use super::http::{common, ApiRequest, Auth, Core};
use super::last::Posted;
use crate::report::{ContextName, ReportError, Status, StatusSink, StatusState};
use crate::source::CommitId;
use crate::support::hex;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub(super) const SCOPE: &str = "use an access token of the repository (or of its project or workspace) with the Repositories: Write scope, or an Atlassian API token with repository write scope and `email` set to its account's email";

/// The longest `key` lbops sends.
pub const MAX_KEY: usize = 40;

/// Build statuses on Bitbucket Cloud.
#[derive(Clone, Debug)]
pub struct Bitbucket {
    core: Arc<Core>,
    /// `{api}/2.0/repositories/{workspace}/{repo_slug}/commit`
    commits: String,
    /// `https://bitbucket.org/{workspace}/{repo_slug}/commits`
    pages: String,
    names: ContextName,
    auth: Auth,
}

impl Bitbucket {
    /// `api` is the API's host; an `api_url` given as `…/2.0` is taken
    /// too. With `basic_user` (an Atlassian account's email, or an old
    /// app password's username) the token goes as HTTP Basic auth, else
    /// as a Bearer access token.
    pub(super) fn new(
        core: Core,
        api: &str,
        repository: &[String],
        names: ContextName,
        basic_user: Option<String>,
    ) -> Self {
        let api = api.strip_suffix("/2.0").unwrap_or(api);
        let repository = repository.join("/");
        Bitbucket {
            core: Arc::new(core),
            commits: format!("{api}/2.0/repositories/{repository}/commit"),
            pages: format!("https://bitbucket.org/{repository}/commits"),
            names,
            auth: basic_user.map_or(Auth::Bearer, Auth::Basic),
        }
    }
}

/// Bitbucket's states are a build's: it has no `error`, so lbops' Error
/// shows as FAILED too (STOPPED means a build was cancelled, which is not
/// what Error means); the description says which it was.
fn state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "INPROGRESS",
        StatusState::Success => "SUCCESSFUL",
        StatusState::Failure | StatusState::Error => "FAILED",
    }
}

/// The context name as a key: characters outside `[A-Za-z0-9_./-]`
/// become `-`, and a name longer than [`MAX_KEY`] is cut and ends in a
/// hash of the whole name, so two long instance names stay apart.
#[must_use]
pub fn key(context: &str) -> String {
    let plain: String = context
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/') {
                true => c,
                false => '-',
            },
        )
        .collect();
    if plain.len() <= MAX_KEY && plain == context {
        return plain;
    }
    let hash = Sha256::digest(context.as_bytes());
    let tag = hex::encode(&hash[..4]);
    let keep = plain.len().min(MAX_KEY - tag.len() - 1);
    format!("{}-{tag}", &plain[..keep])
}

impl StatusSink for Bitbucket {
    fn name(&self) -> &'static str {
        self.core.sink()
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        let posted = Posted::of(commit, &self.names, status);
        // Bitbucket requires a url; without a page of lbops' own, the
        // status links to the commit on bitbucket.org.
        let url = posted
            .url
            .clone()
            .unwrap_or_else(|| format!("{}/{commit}", self.pages));
        let body = json!({
            "key": key(&posted.context),
            "state": state(status.state),
            "name": posted.context,
            "url": url,
            "description": posted.description,
        });
        let request = ApiRequest {
            url: format!("{}/{commit}/statuses/build", self.commits),
            auth: self.auth.clone(),
            headers: &[],
            body,
            answer: common,
        };
        self.core.post(posted, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_bitbucket() {
        assert_eq!(key("lbops/validate"), "lbops/validate");
        assert_eq!(key("lbops/eu-west.1/apply"), "lbops/eu-west.1/apply");
        let spaced = key("lbops/eu west/apply");
        assert!(spaced.starts_with("lbops/eu-west/apply-"), "{spaced}");
        assert_ne!(spaced, key("lbops/eu+west/apply"));
        let long = key(&format!("lbops/{}/authorize", "x".repeat(60)));
        assert_eq!(long.len(), MAX_KEY);
        assert_ne!(long, key(&format!("lbops/{}/validate", "x".repeat(60))));
    }
}
