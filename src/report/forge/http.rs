//! The HTTP core every forge sink posts through: reads the token, sends
//! one status with retries (backoff on network errors and 5xx, waiting
//! out rate limits within [`RetryPolicy::max_wait`]), turns refusals
//! into errors that say what to check, and skips a status that is
//! already the current one. Redirects are never followed: a POST would
//! turn into a GET and lose its token; the refusal names the URL to use.
//!
//! The token travels only in the auth header, marked sensitive; it is
//! scrubbed from every message built from a forge's answer.

use super::last::{LastPosted, Posted};
use super::retry::{rate_limit, Limit, RetryPolicy, SECONDARY_LIMIT_WAIT};
use super::text::snippet;
use crate::report::ReportError;
use crate::source::{CommitId, SecretRef};
use crate::support::backoff::random_seed;
use crate::support::clock::{Clock, Sleeper};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::StatusCode;
use std::collections::HashSet;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

/// How a forge wants its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (GitHub, Bitbucket access tokens).
    Bearer,
    /// `Authorization: Basic base64(<user>:<token>)` (Bitbucket: an
    /// Atlassian API token with the account's email, or an app password
    /// with the username).
    Basic(String),
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
}

impl Auth {
    fn header(&self, token: &str) -> (HeaderName, String) {
        match self {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {token}")),
            Auth::Basic(user) => {
                use base64::Engine as _;
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
                (AUTHORIZATION, format!("Basic {pair}"))
            }
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
    /// What this forge means by an answer the core alone would misread
    /// (`None`: read it the common way).
    pub answer: fn(StatusCode, &str) -> Option<Answer>,
}

/// A forge's own reading of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The status already has the state posted and the forge kept it as
    /// it was, description included (GitLab refuses same-state
    /// transitions): nothing to send, but not what lbops posted either.
    AlreadySet,
    /// The forge is busy with another update of the same status: try
    /// again shortly (GitLab's 409).
    Busy(String),
    /// This commit and context take no more statuses (GitHub keeps 1,000):
    /// posting it again can never work.
    Full(String),
    /// A refusal the forge module words itself.
    Refused(String),
}

/// The answer to [`ApiRequest::answer`] for forges that need no reading
/// of their own.
pub fn common(_: StatusCode, _: &str) -> Option<Answer> {
    None
}

/// How many full (commit, context) pairs are remembered.
const REMEMBERED_FULL: usize = 1_024;

/// What the forge was asked for, to say what to check when it refuses.
#[derive(Clone, Debug)]
pub struct Target {
    pub sink: &'static str,
    /// The API base as configured, to say which one to use instead when
    /// the forge redirects.
    pub api: String,
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
    /// What waits between attempts.
    sleeper: Arc<dyn Sleeper>,
    last: LastPosted,
    /// The (commit, context) pairs the forge takes no more statuses for.
    full: std::sync::Mutex<HashSet<(CommitId, String)>>,
    /// One post at a time: statuses of one context arrive in order, and
    /// a status posted twice at once is sent once.
    posting: tokio::sync::Mutex<()>,
}

enum Outcome {
    Posted,
    /// The forge has the state, and kept its own description.
    AlreadySet,
    Refused(String),
    Full(String),
    Retry {
        reason: String,
        wait: Wait,
    },
}

/// How long to wait before the next attempt.
enum Wait {
    /// The backoff.
    Backoff,
    /// What the forge asked for.
    Asked(Duration),
    /// A secondary rate limit: at least [`SECONDARY_LIMIT_WAIT`], doubled
    /// for each further one in a row.
    Secondary,
}

impl Core {
    pub fn new(
        target: Target,
        client: reqwest::Client,
        token: SecretRef,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Self {
        Core {
            target,
            client,
            token,
            retry,
            clock,
            sleeper,
            last: LastPosted::default(),
            full: std::sync::Mutex::new(HashSet::new()),
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
        if let Some(message) = self.is_full(&posted) {
            return Err(self.permanent(message));
        }
        let token = self
            .token
            .read()
            .map_err(|e| self.permanent(e.to_string()))?;
        let token = token.expose();
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        let mut secondary = 0;
        loop {
            attempt += 1;
            let (reason, asked) = match self.send(&request, token).await {
                Outcome::Posted => {
                    tracing::debug!(sink = self.sink(), commit = %posted.commit, context = %posted.context, state = posted.state.as_str(), "status posted");
                    self.last.remember(posted);
                    return Ok(());
                }
                Outcome::AlreadySet => {
                    // The forge shows the state with its old description:
                    // remembering ours as current would be a lie.
                    tracing::debug!(sink = self.sink(), commit = %posted.commit, context = %posted.context, state = posted.state.as_str(), "the forge has this state already");
                    return Ok(());
                }
                Outcome::Refused(message) => return Err(self.permanent(scrub(message, token))),
                Outcome::Full(message) => {
                    let message = scrub(message, token);
                    let mut full = self.lock_full();
                    // Rare, and only a request is lost by forgetting.
                    if full.len() >= REMEMBERED_FULL {
                        full.clear();
                    }
                    full.insert((posted.commit, posted.context.clone()));
                    return Err(self.permanent(message));
                }
                Outcome::Retry { reason, wait } => (scrub(reason, token), wait),
            };
            if attempt >= self.retry.max_attempts {
                return Err(self.transient(format!(
                    "gave up after {attempt} attempts over {}s: {reason}",
                    waited.as_secs()
                )));
            }
            let wait = match asked {
                Wait::Backoff => self.retry.backoff(attempt, random_seed()),
                Wait::Asked(wait) => wait,
                Wait::Secondary => {
                    secondary += 1;
                    SECONDARY_LIMIT_WAIT.saturating_mul(1 << (secondary - 1).min(10))
                }
            };
            if waited + wait > self.retry.max_wait {
                return Err(self.transient(format!(
                    "{reason}; the next try would be in {}s, past the {}s one post may wait",
                    wait.as_secs_f32().ceil(),
                    self.retry.max_wait.as_secs()
                )));
            }
            tracing::warn!(sink = self.sink(), attempt, wait_ms = wait.as_millis() as u64, %reason, "status not posted, retrying");
            self.sleeper.sleep(wait).await;
            waited += wait;
        }
    }

    /// The refusal of `posted` when its commit and context take no more.
    fn is_full(&self, posted: &Posted) -> Option<String> {
        let key = (posted.commit, posted.context.clone());
        self.lock_full().contains(&key).then(|| {
            format!(
                "{} on {} takes no more statuses (the forge refused one before); not posted",
                posted.context, posted.commit
            )
        })
    }

    fn lock_full(&self) -> std::sync::MutexGuard<'_, HashSet<(CommitId, String)>> {
        // The set is valid after any panic: every change is one call.
        self.full.lock().unwrap_or_else(|e| e.into_inner())
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
                    wait: Wait::Backoff,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Posted;
        }
        if status.is_redirection() {
            return Outcome::Refused(self.redirected(&request.url, status, response.headers()));
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        match (request.answer)(status, &body) {
            Some(Answer::AlreadySet) => return Outcome::AlreadySet,
            Some(Answer::Busy(reason)) => {
                return Outcome::Retry {
                    reason,
                    wait: Wait::Backoff,
                }
            }
            Some(Answer::Full(message)) => return Outcome::Full(message),
            Some(Answer::Refused(message)) => return Outcome::Refused(message),
            None => {}
        }
        if let Some(limit) = rate_limit(status, &headers, &body, self.clock.now()) {
            let code = status.as_u16();
            return match limit {
                Limit::Primary(wait) => Outcome::Retry {
                    reason: format!("rate limited (HTTP {code})"),
                    wait: wait.map_or(Wait::Backoff, Wait::Asked),
                },
                Limit::Secondary => Outcome::Retry {
                    reason: format!("secondary rate limit (HTTP {code})"),
                    wait: Wait::Secondary,
                },
            };
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Outcome::Retry {
                reason: format!("HTTP {}: {}", status.as_u16(), snippet(&body, 200)),
                wait: Wait::Backoff,
            };
        }
        Outcome::Refused(self.refusal(status, &body))
    }

    /// A redirect is not followed (a client would turn the POST into a
    /// GET and drop the token across hosts): it names the URL to use.
    fn redirected(&self, url: &str, status: StatusCode, headers: &HeaderMap) -> String {
        let code = status.as_u16();
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| reqwest::Url::parse(url).ok()?.join(l).ok());
        let Some(location) = location else {
            return format!(
                "{url} answered HTTP {code} (a redirect) without a usable Location; check api_url in the config"
            );
        };
        let api = &self.target.api;
        // The API base the redirect points at: the Location less the
        // part of the request's URL after the configured base.
        let tail = url.strip_prefix(api.as_str()).unwrap_or_default();
        let moved = location.as_str();
        match moved.strip_suffix(tail) {
            Some(base) if !tail.is_empty() && !base.is_empty() => format!(
                "api_url {api} redirects (HTTP {code}) to {base}; set api_url to {base} (statuses are not posted through redirects)"
            ),
            _ => format!(
                "{url} redirects (HTTP {code}) to {moved}; set api_url so that statuses go to that server directly (statuses are not posted through redirects)"
            ),
        }
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
