//! Posting one payload to one sink, with retries. The only I/O of the
//! alerts; which answers are retried and how long to wait are pure
//! functions beside it.

use super::alert::AlertKind;
use super::payload::SIGNATURE_HEADER;
use crate::source::Secret;
use crate::support::backoff::{Backoff, Jitter};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode, Url};
use std::time::Duration;

/// How hard a sink is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (at least one).
    pub attempts: u32,
    /// The wait after the first failed try; it doubles after each.
    pub first_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
    /// How long one try may take, connecting included.
    pub timeout: Duration,
}

impl Default for Retry {
    /// 4 tries, 1 s, 2 s and 4 s apart, 10 s each: an alert gives up
    /// within about a minute.
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// The wait before try `attempt + 1`, after `attempt` (1-based) failed.
    #[must_use]
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let backoff = Backoff {
            base: self.first_delay,
            cap: self.max_delay,
        };
        backoff.wait(attempt, Jitter::NONE)
    }
}

/// Why an alert did not reach a sink. Messages name the sink as
/// configured (`webhook 1 (alerts.example.com)`, `slack 1 (url from env
/// $SLACK_URL)`), never a secret, a Slack URL or a webhook URL's path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertError {
    /// The receiver refused it (a 3xx or 4xx): trying again will not help.
    #[error(
        "{sink} refused the {kind} alert with HTTP {status}{body}; \
         check that sink's URL and secret in the alerts config"
    )]
    Refused {
        sink: String,
        kind: AlertKind,
        status: u16,
        /// `: ` and the start of the receiver's answer, or empty.
        body: String,
    },
    /// Every try failed on the network or with a 5xx, 408 or 429.
    #[error(
        "{sink} did not take the {kind} alert after {attempts} tries (last: {last}); \
         is the receiver up and reachable from lbops?"
    )]
    GaveUp {
        sink: String,
        kind: AlertKind,
        attempts: u32,
        last: String,
    },
}

/// What one answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// Worth another try: the receiver is failing or busy.
    Retry,
    /// Will not get better: the request is wrong.
    GiveUp,
}

/// 2xx is delivered; 5xx, 408 (timeout) and 429 (rate limited) are tried
/// again; anything else (redirects included: a signed alert is not sent
/// on to another address) is given up.
#[must_use]
pub fn classify(status: StatusCode) -> Answer {
    if status.is_success() {
        Answer::Delivered
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Answer::Retry
    } else {
        Answer::GiveUp
    }
}

/// One configured destination.
pub(super) struct Sink {
    /// How errors and logs name it.
    pub name: String,
    pub target: Target,
}

pub(super) enum Target {
    /// Generic JSON webhook, signed with the secret.
    Webhook { url: Url, secret: Secret },
    /// Slack-compatible incoming webhook; the URL is the secret.
    Slack { url: Url, url_text: Secret },
}

impl Sink {
    /// `webhook` or `slack`, for logs.
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Webhook { .. } => "webhook",
            Target::Slack { .. } => "slack",
        }
    }

    /// Posts `body` (the payload for this sink's kind), trying again as
    /// `retry` says.
    pub async fn deliver(
        &self,
        client: &Client,
        retry: Retry,
        kind: AlertKind,
        body: &[u8],
    ) -> Result<(), AlertError> {
        let attempts = retry.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(retry.delay_after(attempt - 1)).await;
            }
            match self.post_once(client, retry.timeout, body).await {
                Ok((status, answer)) => match classify(status) {
                    Answer::Delivered => return Ok(()),
                    Answer::Retry => last = format!("HTTP {}", status.as_u16()),
                    Answer::GiveUp => {
                        return Err(AlertError::Refused {
                            sink: self.name.clone(),
                            kind,
                            status: status.as_u16(),
                            body: self.excerpt(&answer),
                        })
                    }
                },
                Err(error) => last = self.redact(&error),
            }
            tracing::debug!(sink = %self.name, alert = %kind, attempt, %last, "alert try failed");
        }
        Err(AlertError::GaveUp {
            sink: self.name.clone(),
            kind,
            attempts,
            last,
        })
    }

    async fn post_once(
        &self,
        client: &Client,
        timeout: Duration,
        body: &[u8],
    ) -> Result<(StatusCode, Vec<u8>), String> {
        let (url, signature) = match &self.target {
            Target::Webhook { url, secret } => (
                url,
                Some(super::payload::signature(secret.expose().as_bytes(), body)),
            ),
            Target::Slack { url, .. } => (url, None),
        };
        let mut request = client
            .post(url.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        // The answer is only shown for a refusal; a receiver that cannot
        // send it is no reason to retry a delivered alert.
        let answer = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Ok((status, answer))
    }

    /// `: ` and the first line of the receiver's answer (Slack says why
    /// there: `invalid_payload`, `no_service`, …), at most 200 characters,
    /// with secrets taken out; empty if there is none.
    fn excerpt(&self, answer: &[u8]) -> String {
        let text = String::from_utf8_lossy(answer);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        match line {
            None => String::new(),
            Some(line) => {
                let mut cut: String = line.chars().take(200).collect();
                if cut.len() < line.len() {
                    cut.push('…');
                }
                format!(": {}", self.redact(&cut))
            }
        }
    }

    /// `text` with this sink's secrets replaced by `<redacted>`: the
    /// webhook secret, the Slack URL and its path, and a webhook URL's
    /// path and query (which may hold a token). Receivers and HTTP errors
    /// sometimes echo the URL back.
    fn redact(&self, text: &str) -> String {
        let mut secrets: Vec<&str> = Vec::new();
        match &self.target {
            Target::Webhook { url, secret } => {
                secrets.push(secret.expose());
                secrets.extend(url.query());
                if url.path() != "/" {
                    secrets.push(url.path());
                }
            }
            Target::Slack { url, url_text } => {
                secrets.push(url_text.expose());
                secrets.push(url.as_str());
                secrets.extend(url.query());
                if url.path() != "/" {
                    secrets.push(url.path());
                }
            }
        }
        // Longest first, so a URL goes before the path inside it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut text = text.to_owned();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret, "<redacted>");
        }
        text
    }
}

/// A network error in words, without the URL reqwest attaches to it.
fn describe(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let error = error.without_url();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SecretRef;

    fn secret(value: &str) -> Secret {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, value).unwrap();
        SecretRef::File(path).read().unwrap()
    }

    #[test]
    fn success_is_delivered_server_trouble_retried_and_the_rest_given_up() {
        assert_eq!(classify(StatusCode::OK), Answer::Delivered);
        assert_eq!(classify(StatusCode::NO_CONTENT), Answer::Delivered);
        for retried in [500, 502, 503, 504, 408, 429] {
            assert_eq!(
                classify(StatusCode::from_u16(retried).unwrap()),
                Answer::Retry,
                "{retried}"
            );
        }
        for refused in [301, 302, 400, 401, 403, 404, 410] {
            assert_eq!(
                classify(StatusCode::from_u16(refused).unwrap()),
                Answer::GiveUp,
                "{refused}"
            );
        }
    }

    #[test]
    fn the_default_waits_are_one_two_and_four_seconds() {
        let retry = Retry::default();
        let waits: Vec<u64> = (1..retry.attempts)
            .map(|a| retry.delay_after(a).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4]);
        assert_eq!(retry.delay_after(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn secrets_and_secret_paths_are_taken_out_of_messages() {
        let url = "https://hooks.slack.example/services/T0/B0/sEcReT";
        let slack = Sink {
            name: "slack 1".into(),
            target: Target::Slack {
                url: Url::parse(url).unwrap(),
                url_text: secret(url),
            },
        };
        let said = slack.excerpt(b"no_service: cannot POST /services/T0/B0/sEcReT\nmore");
        assert_eq!(said, ": no_service: cannot POST <redacted>");
        assert_eq!(
            slack.redact(&format!("error for {url}")),
            "error for <redacted>"
        );

        let webhook = Sink {
            name: "webhook 1 (h)".into(),
            target: Target::Webhook {
                url: Url::parse("https://h/hook/tok3n?key=k3y").unwrap(),
                secret: secret("hmac-s3cret"),
            },
        };
        let said = webhook.redact("echo hmac-s3cret /hook/tok3n key=k3y");
        assert!(!said.contains("s3cret") && !said.contains("tok3n") && !said.contains("k3y"));
        assert_eq!(webhook.excerpt(b"  \n"), "");
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let refused = AlertError::Refused {
            sink: "slack 1 (url from env $SLACK)".into(),
            kind: AlertKind::Drift,
            status: 404,
            body: ": no_service".into(),
        };
        assert_eq!(
            refused.to_string(),
            "slack 1 (url from env $SLACK) refused the drift alert with HTTP 404: no_service; \
             check that sink's URL and secret in the alerts config"
        );
        let gave_up = AlertError::GaveUp {
            sink: "webhook 1 (h)".into(),
            kind: AlertKind::Denial,
            attempts: 4,
            last: "HTTP 503".into(),
        };
        assert!(gave_up
            .to_string()
            .contains("after 4 tries (last: HTTP 503)"));
    }
}
