//! Commit statuses on forges: GitHub, GitLab, Gitea/Forgejo and
//! Bitbucket Cloud, one [`StatusSink`] each, all posting through one
//! small HTTP core (retries with backoff and jitter, rate limits waited
//! out up to a bound, refusals that say what to check, the token read
//! at each post and sent only in the auth header, and no post of a
//! status that is already the current one).
//!
//! The daemon builds a sink from its config with [`build`]:
//!
//! ```yaml
//! kind: github            # github | gitlab | gitea (or forgejo) | bitbucket
//! repository: acme/lb-config
//! token_file: /run/credentials/lbops/github-token
//! ```

mod bitbucket;
mod client;
mod config;
mod gitea;
mod github;
mod gitlab;
mod http;
mod last;
mod retry;
mod text;

pub use bitbucket::Bitbucket;
pub use client::install_crypto_provider;
pub use config::{ForgeConfig, ForgeConfigError, ForgeKind};
pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;
pub use retry::RetryPolicy;

use self::http::{Core, Target};
use super::{ContextName, ReportError, Status, StatusSink};
use crate::source::CommitId;
use crate::support::clock::{Clock, Sleeper, TokioSleeper};
use std::sync::Arc;

/// The sink for one forge. An enum rather than `dyn StatusSink`: the
/// trait's async method is not object-safe.
#[derive(Clone, Debug)]
pub enum ForgeSink {
    GitHub(GitHub),
    GitLab(GitLab),
    Gitea(Gitea),
    Bitbucket(Bitbucket),
}

/// The sink `config` describes, with [`RetryPolicy::default`]; `clock`
/// tells how long a rate limit that ends at a given time lasts, and the
/// waits between attempts are slept on tokio's timer.
pub fn build(
    config: &ForgeConfig,
    names: ContextName,
    clock: Arc<dyn Clock>,
) -> Result<ForgeSink, ForgeConfigError> {
    build_with(
        config,
        names,
        RetryPolicy::default(),
        clock,
        Arc::new(TokioSleeper),
    )
}

/// The sink `config` describes, retrying as `retry` says and waiting
/// on `sleeper`.
pub fn build_with(
    config: &ForgeConfig,
    names: ContextName,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
) -> Result<ForgeSink, ForgeConfigError> {
    let kind = config.kind;
    let token = config.token()?;
    let api = config.api()?;
    let repository = config.segments()?;
    let client = client::http_client(&retry).map_err(|e| ForgeConfigError::Client {
        kind,
        message: e.to_string(),
    })?;
    let scope = match kind {
        ForgeKind::GitHub => github::SCOPE,
        ForgeKind::GitLab => gitlab::SCOPE,
        ForgeKind::Gitea => gitea::SCOPE,
        ForgeKind::Bitbucket => bitbucket::SCOPE,
    };
    let target = Target {
        sink: kind.as_str(),
        api: api.clone(),
        repository: repository.join("/"),
        scope,
    };
    let core = Core::new(target, client, token, retry, clock, sleeper);
    Ok(match kind {
        ForgeKind::GitHub => ForgeSink::GitHub(GitHub::new(core, &api, &repository, names)),
        ForgeKind::GitLab => ForgeSink::GitLab(GitLab::new(core, &api, &repository, names)),
        ForgeKind::Gitea => ForgeSink::Gitea(Gitea::new(core, &api, &repository, names)),
        ForgeKind::Bitbucket => ForgeSink::Bitbucket(Bitbucket::new(
            core,
            &api,
            &repository,
            names,
            config.basic_user()?,
        )),
    })
}

impl StatusSink for ForgeSink {
    fn name(&self) -> &'static str {
        match self {
            ForgeSink::GitHub(sink) => sink.name(),
            ForgeSink::GitLab(sink) => sink.name(),
            ForgeSink::Gitea(sink) => sink.name(),
            ForgeSink::Bitbucket(sink) => sink.name(),
        }
    }

    async fn post(&self, commit: CommitId, status: &Status) -> Result<(), ReportError> {
        match self {
            ForgeSink::GitHub(sink) => sink.post(commit, status).await,
            ForgeSink::GitLab(sink) => sink.post(commit, status).await,
            ForgeSink::Gitea(sink) => sink.post(commit, status).await,
            ForgeSink::Bitbucket(sink) => sink.post(commit, status).await,
        }
    }
}

/// The stand-in forges, for the daemon's tests of delivery too.
#[cfg(test)]
pub(crate) mod tests;
