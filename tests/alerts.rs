//! Alerts against two real receivers on loopback: a generic webhook that
//! verifies the HMAC signature, and a Slack-shaped incoming webhook that
//! checks the message's structure. A receiver that sees a bad request
//! records it and answers 400, and every test asserts none was recorded.

mod common;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lbops::report::alerts::{
    Alert, AlertError, AlertKind, Alerter, AlertsConfig, Retry, SlackAlertConfig,
    WebhookAlertConfig,
};
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const SECRET: &str = "whsec-3f9a1c7e";
const SLACK_PATH: &str = "/services/T000/B000/slackt0ken";
const C1: &str = "0123456789abcdef0123456789abcdef01234567";
const C2: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// Checks one request; `Err` is a violation of the sink's contract.
type Check = fn(&str, &HeaderMap, &[u8]) -> Result<Value, String>;

#[derive(Default)]
struct Seen {
    /// The body of every well-formed request, answered or not.
    requests: Vec<Value>,
    /// What was wrong with the others.
    violations: Vec<String>,
    /// Answers to give before the default 200 `ok`.
    script: VecDeque<(u16, String)>,
}

struct Receiver {
    address: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
    /// Its port, held after it closes so that nobody else answers there.
    _port: common::Ports,
}

impl Receiver {
    async fn start(check: Check) -> Self {
        let port = common::Ports::default();
        let listener = TcpListener::bind(port.address()).await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            Ok::<_, std::convert::Infallible>(answer(check, &seen, request).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            address,
            seen,
            task,
            _port: port,
        }
    }

    /// Stops listening: once this returns, connections are refused.
    async fn close(&mut self) {
        self.task.abort();
        let _cancelled = (&mut self.task).await;
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The next answers, before the default 200.
    fn answer_with(&self, status: u16, body: &str) {
        let mut seen = self.seen.lock().unwrap();
        seen.script.push_back((status, body.to_owned()));
    }

    fn requests(&self) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        assert!(seen.violations.is_empty(), "{:#?}", seen.violations);
        seen.requests.clone()
    }

    fn violations(&self) -> Vec<String> {
        self.seen.lock().unwrap().violations.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    check: Check,
    seen: &Mutex<Seen>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut seen = seen.lock().unwrap();
    let verdict = if parts.method == hyper::Method::POST {
        check(parts.uri.path(), &parts.headers, &body)
    } else {
        Err(format!("{} instead of POST", parts.method))
    };
    let (status, text) = match verdict {
        Ok(value) => {
            seen.requests.push(value);
            seen.script
                .pop_front()
                .unwrap_or_else(|| (200, "ok".to_owned()))
        }
        Err(violation) => {
            seen.violations.push(violation.clone());
            (400, violation)
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

fn json_content(headers: &HeaderMap) -> Result<(), String> {
    match headers.get("content-type").map(|v| v.to_str()) {
        Some(Ok("application/json")) => Ok(()),
        other => Err(format!("content-type {other:?}")),
    }
}

/// The generic webhook receiver: the signature must verify with
/// [`SECRET`] before the body is even parsed.
fn webhook_check(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    if path != "/hook" {
        return Err(format!("posted to {path}"));
    }
    json_content(headers)?;
    let mut values = headers.get_all("x-lbops-signature-256").iter();
    let signature = values.next().ok_or("no X-Lbops-Signature-256 header")?;
    if values.next().is_some() {
        return Err("two signature headers".into());
    }
    let hex = signature
        .to_str()
        .ok()
        .and_then(|s| s.strip_prefix("sha256="))
        .ok_or("signature not sha256=<hex>")?;
    let bytes = decode_hex(hex).ok_or("signature not 64 hex digits")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&bytes)
        .map_err(|_| "wrong signature".to_owned())?;

    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let object = value.as_object().ok_or("body not an object")?;
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["commit", "details", "kind", "time", "title", "url"] {
        return Err(format!("fields {keys:?}"));
    }
    for text in ["kind", "title", "details", "time"] {
        if !value[text].is_string() {
            return Err(format!("{text} not a string"));
        }
    }
    Ok(value)
}

/// The Slack-shaped receiver: `text` and `blocks` of mrkdwn sections, and
/// nothing else.
fn slack_check(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    if path != SLACK_PATH {
        return Err(format!("posted to {path}"));
    }
    json_content(headers)?;
    if headers.contains_key("x-lbops-signature-256") {
        return Err("a Slack message carries a webhook signature".into());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let object = value.as_object().ok_or("body not an object")?;
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["blocks", "text"] {
        return Err(format!("fields {keys:?}"));
    }
    if value["text"].as_str().is_none_or(str::is_empty) {
        return Err("text is not a non-empty string".into());
    }
    let blocks = value["blocks"].as_array().ok_or("blocks not an array")?;
    if blocks.is_empty() {
        return Err("no blocks".into());
    }
    for block in blocks {
        let block = block.as_object().ok_or("block not an object")?;
        let ok = block.len() == 2
            && block.get("type") == Some(&Value::from("section"))
            && block
                .get("text")
                .and_then(Value::as_object)
                .is_some_and(|t| {
                    t.len() == 2
                        && t.get("type") == Some(&Value::from("mrkdwn"))
                        && t.get("text")
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty() && s.chars().count() <= 3000)
                });
        if !ok {
            return Err(format!("not a mrkdwn section block: {block:?}"));
        }
    }
    Ok(value)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Two receivers and an alerter pointing at them, with the webhook
/// secret `secret` and fast retries.
struct Setup {
    webhook: Receiver,
    slack: Receiver,
    alerter: Alerter,
    _dir: tempfile::TempDir,
}

async fn setup(secret: &str) -> Setup {
    let webhook = Receiver::start(webhook_check).await;
    let slack = Receiver::start(slack_check).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hmac");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let slack_file = dir.path().join("slack-url");
    std::fs::write(&slack_file, slack.url(SLACK_PATH)).unwrap();
    let config = AlertsConfig {
        webhooks: vec![WebhookAlertConfig {
            url: webhook.url("/hook"),
            secret_file: Some(secret_file),
            secret_env: None,
        }],
        slack: vec![SlackAlertConfig {
            url_file: Some(slack_file),
            url_env: None,
        }],
    };
    let alerter = Alerter::from_config(&config).unwrap().with_retry(fast());
    Setup {
        webhook,
        slack,
        alerter,
        _dir: dir,
    }
}

fn fast() -> Retry {
    Retry {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    }
}

fn all_ok(results: &[Result<(), AlertError>]) {
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test]
async fn each_alert_is_one_call_per_sink_and_the_same_drift_is_none() {
    let s = setup(SECRET).await;
    let url = "http://lbops.internal/commits/0123456789ab";

    all_ok(
        &s.alerter
            .send(&Alert::denial(C1, "mallory", "owns no pool web"))
            .await,
    );
    all_ok(
        &s.alerter
            .send(&Alert::drift(C1, "pool web: 2 members, expected 3").with_url(url))
            .await,
    );
    all_ok(
        &s.alerter
            .send(&Alert::rewritten_history("main", C1, C2))
            .await,
    );
    assert_eq!(s.webhook.requests().len(), 3);
    assert_eq!(s.slack.requests().len(), 3);

    // The next tick sees the same drift: nothing is sent.
    let again = s
        .alerter
        .send(&Alert::drift(C1, "pool web: 2 members, expected 3").with_url(url))
        .await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(s.webhook.requests().len(), 3);
    assert_eq!(s.slack.requests().len(), 3);

    // A different drift is a new alert.
    all_ok(
        &s.alerter
            .send(&Alert::drift(C1, "pool web: 1 member, expected 3"))
            .await,
    );

    let webhook = s.webhook.requests();
    let kinds: Vec<_> = webhook
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["denial", "drift", "rewritten_history", "drift"]);
    assert_eq!(webhook[1]["commit"], C1);
    assert_eq!(webhook[1]["url"], url);
    assert_eq!(webhook[2]["commit"], C2);
    assert!(webhook[0]["details"].as_str().unwrap().contains("mallory"));

    let slack = s.slack.requests();
    assert_eq!(slack.len(), 4);
    assert!(slack[1]["text"]
        .as_str()
        .unwrap()
        .starts_with("lbops drift: "));
    let section = slack[1]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains(&format!("<{url}|Open in lbops>")),
        "{section}"
    );
}

#[tokio::test]
async fn a_failing_receiver_is_tried_again_and_the_alert_delivered() {
    let s = setup(SECRET).await;
    s.webhook.answer_with(500, "busy");
    all_ok(
        &s.alerter
            .send(&Alert::apply_failure(C1, "haproxy: reload failed"))
            .await,
    );
    assert_eq!(s.webhook.requests().len(), 2, "one 500, then one 200");
    assert_eq!(s.slack.requests().len(), 1);
    let [first, second] = &s.webhook.requests()[..] else {
        unreachable!()
    };
    assert_eq!(first["kind"], "apply_failure");
    assert_eq!(first, second, "the same body is sent again");
}

// One thread, so that the alerter's tasks log into this test's capture.
#[tokio::test(flavor = "current_thread")]
async fn a_refusal_is_an_error_naming_the_sink_never_its_secrets() {
    let logs = common::logs::capture(tracing::Level::INFO);
    let s = setup(SECRET).await;
    // Receivers that echo what they should not: the path, the secret.
    s.webhook
        .answer_with(404, &format!("no hook here (secret {SECRET})"));
    s.slack
        .answer_with(404, &format!("no_service: POST {SLACK_PATH}"));

    let results = s
        .alerter
        .send(&Alert::bad_config(None, "alerts: bad"))
        .await;
    assert_eq!(results.len(), 2);
    let messages: Vec<String> = results
        .iter()
        .map(|r| r.as_ref().unwrap_err().to_string())
        .collect();
    assert!(matches!(
        results[0],
        Err(AlertError::Refused {
            status: 404,
            kind: AlertKind::BadConfig,
            ..
        })
    ));
    assert!(
        messages[0].starts_with("alerts.webhooks[0] (webhook to 127.0.0.1:"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with("alerts.slack[0] (Slack, URL from file "),
        "{}",
        messages[1]
    );
    assert!(
        messages[1].contains("HTTP 404: no_service: POST <redacted>"),
        "{}",
        messages[1]
    );
    let logged = logs.text();
    assert!(logged.contains("alert not delivered"), "{logged}");
    assert!(logged.contains("alert=bad_config"), "{logged}");
    assert!(
        logged.contains(r#"sink="webhook""#) && logged.contains(r#"sink="slack""#),
        "{logged}"
    );
    for text in messages.iter().chain([&logged]) {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("slackt0ken"), "{text}");
    }
    // Refused, not retried.
    assert_eq!(s.webhook.requests().len(), 1);
    assert_eq!(s.slack.requests().len(), 1);

    // It reached nobody, so it is not remembered: the next time, it goes.
    all_ok(
        &s.alerter
            .send(&Alert::bad_config(None, "alerts: bad"))
            .await,
    );
    assert_eq!(s.webhook.requests().len(), 2);
    assert_eq!(s.slack.requests().len(), 2);
}

#[tokio::test]
async fn an_alert_reaching_one_sink_is_not_sent_again() {
    let s = setup(SECRET).await;
    s.slack.answer_with(410, "channel_is_archived");
    let results = s.alerter.send(&Alert::drift(C1, "x")).await;
    assert!(results[0].is_ok() && results[1].is_err(), "{results:?}");
    assert!(s.alerter.send(&Alert::drift(C1, "x")).await.is_empty());
    assert_eq!(s.webhook.requests().len(), 1);
}

#[tokio::test]
async fn the_receiver_catches_a_wrong_secret() {
    let s = setup("not-the-shared-secret").await;
    let results = s.alerter.send(&Alert::denial(C1, "alice", "x")).await;
    assert!(
        matches!(results[0], Err(AlertError::Refused { status: 400, .. })),
        "{results:?}"
    );
    assert!(results[1].is_ok());
    assert_eq!(s.webhook.violations(), ["wrong signature"]);
}

#[tokio::test]
async fn an_unreachable_sink_is_given_up_after_the_configured_tries() {
    let mut s = setup(SECRET).await;
    s.slack.close().await;
    let results = s.alerter.send(&Alert::drift(C1, "y")).await;
    assert!(results[0].is_ok());
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error, AlertError::GaveUp { attempts: 3, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("after 3 tries (last: could not connect"),
        "{message}"
    );
    assert!(
        !message.contains("slackt0ken") && !message.contains("/services/"),
        "{message}"
    );
}
