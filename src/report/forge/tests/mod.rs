//! The forge sinks against stand-in forges that enforce each API's
//! published request shape.

mod dedup;
mod gitlab;
mod refusals;
mod retries;
pub mod shapes;
pub mod standin;
mod states;

use super::{build_with, ForgeConfig, ForgeKind, ForgeSink, RetryPolicy};
use crate::report::ContextName;
use crate::source::CommitId;
use crate::support::clock::{Clock, Sleeper, SteppedClock, SystemClock, TokioSleeper};
use standin::{Shape, StandIn};
use std::sync::Arc;
use std::time::Duration;

pub const KINDS: [ForgeKind; 4] = [
    ForgeKind::GitHub,
    ForgeKind::GitLab,
    ForgeKind::Gitea,
    ForgeKind::Bitbucket,
];

/// Short waits, so retry tests take milliseconds.
pub fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_wait: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

pub fn commit() -> CommitId {
    CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap()
}

/// A sink of `kind` posting to its own stand-in.
pub struct Forge {
    pub server: StandIn,
    pub sink: ForgeSink,
    _token_dir: tempfile::TempDir,
}

impl Forge {
    pub async fn start(kind: ForgeKind) -> Self {
        Self::with(kind, ContextName::default(), quick()).await
    }

    pub async fn with(kind: ForgeKind, names: ContextName, retry: RetryPolicy) -> Self {
        Self::built(kind, names, retry, None, |_| {}).await
    }

    /// A sink on a [`SteppedClock`]: its waits take no time.
    pub async fn stepped(kind: ForgeKind, clock: Arc<SteppedClock>) -> Self {
        Self::built(
            kind,
            ContextName::default(),
            RetryPolicy::default(),
            Some(clock),
            |_| {},
        )
        .await
    }

    pub async fn built(
        kind: ForgeKind,
        names: ContextName,
        retry: RetryPolicy,
        clock: Option<Arc<SteppedClock>>,
        edit: impl FnOnce(&mut ForgeConfig),
    ) -> Self {
        let shape: Shape = match kind {
            ForgeKind::GitHub => shapes::github,
            ForgeKind::GitLab => shapes::gitlab,
            ForgeKind::Gitea => shapes::gitea,
            ForgeKind::Bitbucket => shapes::bitbucket,
        };
        let server = StandIn::start(kind, shape).await;
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{}\n", shapes::TOKEN)).unwrap();
        let mut config = config(kind, &server.base, token_file);
        edit(&mut config);
        let (clock, sleeper): (Arc<dyn Clock>, Arc<dyn Sleeper>) = match clock {
            Some(clock) => (clock.clone(), clock),
            None => (Arc::new(SystemClock), Arc::new(TokioSleeper)),
        };
        let sink = build_with(&config, names, retry, clock, sleeper).unwrap();
        Forge {
            server,
            sink,
            _token_dir: dir,
        }
    }
}

pub fn config(kind: ForgeKind, base: &str, token_file: std::path::PathBuf) -> ForgeConfig {
    let (api_url, repository) = match kind {
        ForgeKind::GitLab => (format!("{base}/api/v4"), shapes::GITLAB_PROJECT),
        _ => (base.to_owned(), shapes::OWNER_REPO),
    };
    ForgeConfig {
        kind,
        api_url: Some(api_url),
        repository: repository.to_owned(),
        token_file: Some(token_file),
        token_env: None,
        email: None,
    }
}
