//! One call, sent until it is answered: a transport error, or a 429/503
//! that carries `Retry-After` (the daemon's word that it is passing), is
//! tried again up to `--retries` times. A write carries the same
//! Idempotency-Key every time, so a call whose answer was lost and is
//! sent again cannot commit twice. With `--wait`, a `202` (not applied
//! within the daemon's longest wait) is asked again, with the same key,
//! until `--timeout` has passed.

use super::connect::endpoint;
use super::report::scrub;
use super::request::Request;
use lbops::spec::material::api_token::ApiToken;
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use std::time::{Duration, Instant};

/// The longest `?timeout=` the daemon honours (`api::writer::MAX_WAIT`);
/// a longer `--timeout` is several waits.
pub const SERVER_MAX_WAIT: Duration = Duration::from_secs(60);

/// How long an answer may take beyond the wait the daemon was asked for.
const ANSWER_SLACK: Duration = Duration::from_secs(30);

/// The first pause after a transport error; doubled each time, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// A `202` to `--wait` is asked again only with at least this much of
/// `--timeout` left.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// The longest pause between tries, `Retry-After` included: a daemon
/// asking for longer is not waited for.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Everything a call needs besides its request.
pub struct Caller<'a> {
    pub client: &'a reqwest::Client,
    pub server: &'a Url,
    pub token: &'a ApiToken,
    /// How many times a call is sent again (not counting the first).
    pub retries: u32,
}

/// The daemon's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The body, when it is JSON (every answer of the API is).
    pub json: Option<serde_json::Value>,
    /// The body as text, for an answer that is not the API's (a proxy's page).
    pub text: String,
}

/// No answer: the daemon could not be reached, or kept answering "later".
#[derive(Debug)]
pub struct NoAnswer {
    pub attempts: u32,
    pub why: String,
}

/// For a write: the key and, with `--wait`, until when to wait.
pub struct Write<'a> {
    pub key: &'a str,
    pub wait_until: Option<Instant>,
}

/// Sends `request` (again while the daemon answers `202` and `--wait`'s
/// deadline has not passed).
pub async fn call(
    caller: &Caller<'_>,
    request: &Request,
    write: Option<&Write<'_>>,
) -> Result<Answer, NoAnswer> {
    let wait_until = write.and_then(|w| w.wait_until);
    loop {
        let wait = wait_until.map(|until| until.saturating_duration_since(Instant::now()));
        let answer = with_retries(caller, request, write.map(|w| w.key), wait).await?;
        let time_left = wait_until.is_some_and(|until| until > Instant::now() + MIN_WAIT);
        if answer.status != StatusCode::ACCEPTED || !time_left {
            return Ok(answer);
        }
    }
}

/// Sends `request` until it is answered with something other than a
/// passing refusal, or `caller.retries` tries more have failed.
async fn with_retries(
    caller: &Caller<'_>,
    request: &Request,
    key: Option<&str>,
    wait: Option<Duration>,
) -> Result<Answer, NoAnswer> {
    let mut attempts = 0;
    let mut pause = FIRST_PAUSE;
    loop {
        attempts += 1;
        let retry = attempts <= caller.retries;
        let (later, why) = match once(caller, request, key, wait).await {
            Ok((answer, headers)) => {
                let passing = matches!(
                    answer.status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                );
                match retry_after(&headers) {
                    Some(later) if passing && retry => {
                        (later, format!("the daemon answered {}", answer.status))
                    }
                    _ => return Ok(answer),
                }
            }
            Err(why) if retry => {
                let later = pause;
                pause = (pause * 2).min(MAX_PAUSE);
                (later, why)
            }
            Err(why) => return Err(NoAnswer { attempts, why }),
        };
        eprintln!(
            "lbops: {}; trying again in {} (try {} of {})",
            scrub(&why, caller.token),
            seconds(later),
            attempts + 1,
            caller.retries + 1
        );
        tokio::time::sleep(later).await;
    }
}

/// One HTTP exchange; a transport error as text (with its causes, never
/// the token: reqwest's errors name the URL only).
async fn once(
    caller: &Caller<'_>,
    request: &Request,
    key: Option<&str>,
    wait: Option<Duration>,
) -> Result<(Answer, HeaderMap), String> {
    let query = wait.map(|w| {
        format!(
            "wait=applied&timeout={}ms",
            w.min(SERVER_MAX_WAIT).as_millis()
        )
    });
    let url = endpoint(caller.server, &request.path, query.as_deref());
    let mut builder = caller
        .client
        .request(request.method.clone(), &url)
        .header(AUTHORIZATION, format!("Bearer {}", caller.token.expose()))
        .timeout(wait.unwrap_or_default().min(SERVER_MAX_WAIT) + ANSWER_SLACK);
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    let response = builder.send().await.map_err(|e| chain(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(|e| chain(&e))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).ok();
    Ok((Answer { status, json, text }, headers))
}

/// `Retry-After` in seconds (the daemon's form), at most [`MAX_PAUSE`];
/// `None` without one: the daemon did not say the refusal passes.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_PAUSE))
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// An error with its causes: reqwest's own text alone is "error sending
/// request", which does not say that the connection was refused.
fn chain(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
