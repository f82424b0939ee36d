//! Alerts: telling people, not commits, that something needs them — a
//! denial, an apply failure, drift, rewritten history, a bad config.
//!
//! An [`Alerter`] sends each [`Alert`] to every configured sink, once:
//! an alert whose [`Alert::dedupe_key`] was sent before is dropped (the
//! same drift seen on every tick is one alert; a different drift is a new
//! one). The memory holds the last 1,000 keys; by default a key is
//! **never re-alerted while the daemon runs** ([`Alerter::with_realert_after`]
//! changes that). An alert that reached no sink at all is forgotten, so
//! it is tried again the next time it happens.
//!
//! # Generic JSON webhook
//!
//! `POST <url>` with `Content-Type: application/json` and the body
//!
//! ```json
//! {"kind": "drift", "commit": "<40 hex>" | null, "title": "one line",
//!  "details": "who, what and why", "url": "<daemon page>" | null,
//!  "time": "2026-03-01T12:00:00Z"}
//! ```
//!
//! `kind` is one of `denial`, `apply_failure`, `drift`,
//! `rewritten_history`, `bad_config`. The header
//! `X-Lbops-Signature-256: sha256=<hex>` carries the lowercase hex
//! HMAC-SHA256 of the exact body bytes, keyed with the shared secret
//! (as GitHub's `X-Hub-Signature-256`). A receiver verifies it by
//! computing the same HMAC over the raw body, before parsing it, and
//! comparing in constant time; anything else is not from lbops.
//!
//! # Slack-compatible incoming webhook
//!
//! `POST <url>` with `{"text": "lbops drift: <title>", "blocks": [{"type":
//! "section", "text": {"type": "mrkdwn", "text": "*<title>*\n<details>\n
//! Commit `<id>` · <url|Open in lbops>"}}]}`, Slack's incoming-webhook
//! format (also taken by Mattermost and Rocket.Chat). The URL is the
//! secret, so it is read from a file or an environment variable.
//!
//! # Delivery
//!
//! The sinks are tried at the same time. A 5xx, 408, 429 or network error
//! is tried again with doubling waits ([`Retry`]: 4 tries, 1 s, 2 s, 4 s
//! apart by default); any other answer, redirects included, is an
//! [`AlertError`] at once. Errors and logs name the sink by its place in
//! the config (`alerts.slack[0] (Slack, URL from env $LBOPS_SLACK_URL)`),
//! never a secret, the Slack URL or a webhook URL's path.

mod alert;
mod config;
mod dedupe;
pub mod payload;
mod sink;

pub use alert::{Alert, AlertKind, MAX_TITLE};
pub use config::{AlertConfigError, AlertsConfig, SlackAlertConfig, WebhookAlertConfig};
pub use dedupe::{Dedupe, DEFAULT_CAPACITY};
pub use sink::{classify, AlertError, Answer, Retry};

use crate::support::clock::{Clock, SystemClock};
use sink::Sink;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::task::JoinSet;

/// The configured sinks and the memory of what was sent.
pub struct Alerter {
    sinks: Vec<Arc<Sink>>,
    client: reqwest::Client,
    retry: Retry,
    memory: Mutex<Dedupe>,
    /// What a webhook payload's `time` is read from.
    clock: Arc<dyn Clock>,
}

impl Alerter {
    /// The sinks `config` describes, with their secrets read now, default
    /// [`Retry`], the [`SystemClock`] and a memory that never re-alerts a
    /// key.
    pub fn from_config(config: &AlertsConfig) -> Result<Alerter, AlertConfigError> {
        let sinks = config::sinks(config)?;
        // reqwest is built without a crypto provider; lbops uses ring. A
        // provider installed earlier (by lbops or a test) is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("lbops/", env!("CARGO_PKG_VERSION")))
            // A signed alert is not sent on to wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AlertConfigError::Client(e.without_url().to_string()))?;
        Ok(Alerter {
            sinks: sinks.into_iter().map(Arc::new).collect(),
            client,
            retry: Retry::default(),
            memory: Mutex::new(Dedupe::default()),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same alerter, stamping payloads with `clock`'s time.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same alerter, trying each sink as `retry` says.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The same alerter, sending an alert again once `interval` has passed
    /// since it was last sent (it starts with an empty memory).
    #[must_use]
    pub fn with_realert_after(mut self, interval: Duration) -> Self {
        self.memory = Mutex::new(Dedupe::new(DEFAULT_CAPACITY, Some(interval)));
        self
    }

    /// How many sinks alerts go to.
    #[must_use]
    pub fn sink_count(&self) -> usize {
        self.sinks.len()
    }

    /// Sends `alert` to every sink, unless an alert with the same
    /// [`Alert::dedupe_key`] was sent already. One result per sink, in
    /// config order (webhooks, then Slack); empty for a duplicate or when
    /// no sink is configured. Failures are also logged as warnings.
    pub async fn send(&self, alert: &Alert) -> Vec<Result<(), AlertError>> {
        if self.sinks.is_empty() {
            return Vec::new();
        }
        if !self.memory().admit(&alert.dedupe_key, Instant::now()) {
            tracing::debug!(alert = %alert.kind, title = %alert.title, "alert already sent");
            return Vec::new();
        }
        let webhook: Arc<[u8]> =
            payload::webhook(alert, OffsetDateTime::from(self.clock.now())).into();
        let slack: Arc<[u8]> = payload::slack(alert).into();
        let mut deliveries = JoinSet::new();
        for (index, sink) in self.sinks.iter().enumerate() {
            let (sink, client, retry, kind) = (
                Arc::clone(sink),
                self.client.clone(),
                self.retry,
                alert.kind,
            );
            let body = match sink.target {
                sink::Target::Slack { .. } => Arc::clone(&slack),
                sink::Target::Webhook { .. } => Arc::clone(&webhook),
            };
            deliveries
                .spawn(async move { (index, sink.deliver(&client, retry, kind, &body).await) });
        }
        let mut results: Vec<Option<Result<(), AlertError>>> =
            (0..self.sinks.len()).map(|_| None).collect();
        while let Some(joined) = deliveries.join_next().await {
            if let Ok((index, result)) = joined {
                results[index] = Some(result);
            }
        }
        let results: Vec<Result<(), AlertError>> = results
            .into_iter()
            .zip(&self.sinks)
            .map(|(result, sink)| {
                result.unwrap_or_else(|| {
                    Err(AlertError::GaveUp {
                        sink: sink.name.clone(),
                        kind: alert.kind,
                        attempts: 0,
                        last: "the delivery task stopped".to_owned(),
                    })
                })
            })
            .collect();
        for (result, sink) in results.iter().zip(&self.sinks) {
            match result {
                Ok(()) => tracing::debug!(sink = %sink.name, alert = %alert.kind, "alert sent"),
                Err(error) => tracing::warn!(
                    sink = sink.kind(),
                    alert = %alert.kind,
                    %error,
                    "alert not delivered"
                ),
            }
        }
        if results.iter().all(Result::is_err) {
            self.memory().forget(&alert.dedupe_key);
        }
        results
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Dedupe> {
        // The memory is consistent after every call; a panic elsewhere
        // does not make it wrong.
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Alerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerter")
            .field(
                "sinks",
                &self
                    .sinks
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}
