//! The HTTP core every forge sink posts through: reads the token, sends
//! one status with retries (backoff on network errors and 5xx, waiting
//! out rate limits within [`RetryPolicy::max_wait`]), turns refusals
//! into errors that say what to check, and skips a status that is
//! already the current one.
//!
//! The token travels only in the auth header, marked sensitive; it is
//! scrubbed from every message built from a forge's answer.

use super::last::{LastPosted, Posted};
use super::retry::{rate_limit, RetryPolicy};
use super::text::snippet;
use crate::report::ReportError;
use crate::source::SecretRef;
use crate::support::backoff::random_seed;
use crate::support::clock::Clock;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

/// How a forge wants its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (GitHub, Bitbucket).
    Bearer,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
}

impl Auth {
    fn header(self, token: &str) -> (HeaderName, String) {
        match self {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {token}")),
            Auth::PrivateToken => (HeaderName::from_static("private-token"), token.to_owned()),
            Auth::Token => (AUTHORIZATION, format!("token {token}")),
        }
    }
}

/// One status as one forge's request.
pub struct ApiRequest {
    pub url: String,
    pub auth: Auth,
    /// Headers the forge asks every client to send.
    pub headers: &'static [(&'static str, &'static str)],
    pub body: serde_json::Value,
    /// Answers that mean "it already has that status" (GitLab refuses to
    /// set a state a status already has).
    pub already_set: fn(StatusCode, &str) -> bool,
}

/// The answer to [`ApiRequest::already_set`] for forges that just
/// overwrite.
pub fn never(_: StatusCode, _: &str) -> bool {
    false
}

/// What the forge was asked for, to say what to check when it refuses.
#[derive(Clone, Debug)]
pub struct Target {
    pub sink: &'static str,
    pub repository: String,
    /// What the token needs, in the forge's words.
    pub scope: &'static str,
}

#[derive(Debug)]
pub struct Core {
    target: Target,
    client: reqwest::Client,
    token: SecretRef,
    retry: RetryPolicy,
    /// What a rate limit's reset time is measured from.
    clock: Arc<dyn Clock>,
    last: LastPosted,
    /// One post at a time: statuses of one context arrive in order, and
    /// a status posted twice at once is sent once.
    posting: tokio::sync::Mutex<()>,
}

enum Outcome {
    Posted,
    Refused(String),
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
}

impl Core {
    pub fn new(
        target: Target,
        client: reqwest::Client,
        token: SecretRef,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Core {
            target,
            client,
            token,
            retry,
            clock,
            last: LastPosted::default(),
            posting: tokio::sync::Mutex::new(()),
        }
    }

    pub fn sink(&self) -> &'static str {
        self.target.sink
    }

    /// Posts `request` unless `posted` is already the current status.
    pub async fn post(&self, posted: Posted, request: ApiRequest) -> Result<(), ReportError> {
        let _one_at_a_time = self.posting.lock().await;
        if self.last.is_current(&posted) {
            tracing::debug!(sink = self.sink(), commit = %posted.commit, context = %posted.context, "status unchanged, not posted");
            return Ok(());
        }
        let token = self
            .token
            .read()
            .map_err(|e| self.permanent(e.to_string()))?;
        let token = token.expose();
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (reason, asked) = match self.send(&request, token).await {
                Outcome::Posted => {
                    tracing::debug!(sink = self.sink(), commit = %posted.commit, context = %posted.context, state = posted.state.as_str(), "status posted");
                    self.last.remember(posted);
                    return Ok(());
                }
                Outcome::Refused(message) => return Err(self.permanent(scrub(message, token))),
                Outcome::Retry { reason, wait } => (scrub(reason, token), wait),
            };
            if attempt >= self.retry.max_attempts {
                return Err(self.transient(format!(
                    "gave up after {attempt} attempts over {}s: {reason}",
                    waited.as_secs()
                )));
            }
            let wait = asked.unwrap_or_else(|| self.retry.backoff(attempt, random_seed()));
            if waited + wait > self.retry.max_wait {
                return Err(self.transient(format!(
                    "{reason}; the next try would be in {}s, past the {}s one post may wait",
                    wait.as_secs_f32().ceil(),
                    self.retry.max_wait.as_secs()
                )));
            }
            tracing::warn!(sink = self.sink(), attempt, wait_ms = wait.as_millis() as u64, %reason, "status not posted, retrying");
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    async fn send(&self, request: &ApiRequest, token: &str) -> Outcome {
        let (name, value) = request.auth.header(token);
        let Ok(mut value) = HeaderValue::from_str(&value) else {
            return Outcome::Refused(format!(
                "the token from {} has characters an HTTP header cannot carry; put only the token in it",
                self.token
            ));
        };
        value.set_sensitive(true);
        let mut builder = self.client.post(&request.url).header(name, value);
        for (name, value) in request.headers {
            builder = builder.header(*name, *value);
        }
        let response = match builder.json(&request.body).send().await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("cannot reach {}: {}", request.url, chain(&e)),
                    wait: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Posted;
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        if (request.already_set)(status, &body) {
            return Outcome::Posted;
        }
        if let Some(wait) = rate_limit(status, &headers, self.clock.now()) {
            return Outcome::Retry {
                reason: format!("rate limited (HTTP {})", status.as_u16()),
                wait,
            };
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Outcome::Retry {
                reason: format!("HTTP {}: {}", status.as_u16(), snippet(&body, 200)),
                wait: None,
            };
        }
        Outcome::Refused(self.refusal(status, &body))
    }

    fn refusal(&self, status: StatusCode, body: &str) -> String {
        let Target {
            repository, scope, ..
        } = &self.target;
        let code = status.as_u16();
        match status {
            StatusCode::UNAUTHORIZED => format!(
                "the token from {} was refused (HTTP 401); check that it holds a valid, unexpired token for this forge",
                self.token
            ),
            StatusCode::FORBIDDEN => format!(
                "the token from {} may not set statuses on {repository} (HTTP 403); check its scope: {scope}",
                self.token
            ),
            StatusCode::NOT_FOUND => format!(
                "repository {repository} or the commit was not found (HTTP 404); check the repository name and api_url in the config, that the commit is pushed there, and that the token from {} can see the repository",
                self.token
            ),
            _ => format!(
                "the status was refused (HTTP {code}: {}); check that the commit is pushed to {repository}; otherwise this is a bug in lbops, please report it",
                snippet(body, 200)
            ),
        }
    }

    fn permanent(&self, message: String) -> ReportError {
        ReportError::Permanent {
            sink: self.sink(),
            message,
        }
    }

    fn transient(&self, message: String) -> ReportError {
        ReportError::Transient {
            sink: self.sink(),
            message,
        }
    }
}

/// An error with its causes: reqwest's own text is only "error sending
/// request".
fn chain(error: &reqwest::Error) -> String {
    let mut text = match error.is_timeout() {
        true => "timed out".to_owned(),
        false => "request failed".to_owned(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `message` with the token blanked out, should a forge echo it back.
fn scrub(message: String, token: &str) -> String {
    match token.len() >= 4 && message.contains(token) {
        true => message.replace(token, "<token>"),
        false => message,
    }
}
