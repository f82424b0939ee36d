//! Server errors and rate limits are retried; giving up is transient.

use super::standin::Reply;
use super::{commit, quick, Forge, KINDS};
use crate::report::forge::{build_with, ForgeKind, RetryPolicy};
use crate::report::{ContextName, ReportError, Status, StatusContext, StatusSink, StatusState};
use crate::support::clock::{SteppedClock, SystemClock, TokioSleeper};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn status() -> Status {
    Status::new(
        StatusContext::Authorize,
        StatusState::Pending,
        "judging 3 changes",
    )
}

#[tokio::test]
async fn a_server_error_is_retried_and_posted_once() {
    for kind in KINDS {
        let forge = Forge::start(kind).await;
        forge.server.reply(Reply::status(503));
        forge.server.reply(Reply::status(502));
        forge.sink.post(commit(), &status()).await.unwrap();
        let seen = forge.server.seen();
        assert_eq!(seen.len(), 3, "{kind}");
        assert!(seen.iter().all(|s| s.body == seen[0].body), "{kind}");
        // Posted now: the same status again sends nothing.
        forge.sink.post(commit(), &status()).await.unwrap();
        assert_eq!(forge.server.seen().len(), 3, "{kind}");
    }
}

async fn waits_out_retry_after(kind: ForgeKind) {
    let forge = Forge::start(kind).await;
    forge
        .server
        .reply(Reply::status(429).header("retry-after", "1"));
    forge.sink.post(commit(), &status()).await.unwrap();
    let seen = forge.server.seen();
    assert_eq!(seen.len(), 2, "{kind}");
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "{kind}: {waited:?}");
    assert!(waited < Duration::from_secs(3), "{kind}: {waited:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    tokio::join!(
        waits_out_retry_after(ForgeKind::GitHub),
        waits_out_retry_after(ForgeKind::GitLab),
        waits_out_retry_after(ForgeKind::Gitea),
        waits_out_retry_after(ForgeKind::Bitbucket),
    );
}

#[tokio::test]
async fn githubs_primary_rate_limit_is_a_403_with_a_reset_time() {
    let forge = Forge::start(ForgeKind::GitHub).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    forge.server.reply(
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", now.to_string())
            .body(r#"{"message":"API rate limit exceeded"}"#),
    );
    forge.sink.post(commit(), &status()).await.unwrap();
    let seen = forge.server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(900));
}

#[tokio::test]
async fn giving_up_is_transient() {
    for kind in KINDS {
        let forge = Forge::start(kind).await;
        for _ in 0..quick().max_attempts {
            forge.server.reply(Reply::status(500));
        }
        let error = forge.sink.post(commit(), &status()).await.unwrap_err();
        assert!(
            matches!(error, ReportError::Transient { .. }),
            "{kind}: {error}"
        );
        assert!(
            error.to_string().contains("gave up after 4 attempts"),
            "{error}"
        );
        assert_eq!(forge.server.seen().len(), 4, "{kind}");
    }
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_budget_is_reported_at_once() {
    let forge = Forge::start(ForgeKind::Gitea).await;
    forge
        .server
        .reply(Reply::status(429).header("retry-after", "3600"));
    let started = std::time::Instant::now();
    let error = forge.sink.post(commit(), &status()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(error, ReportError::Transient { .. }), "{error}");
    assert!(
        error.to_string().contains("rate limited (HTTP 429)"),
        "{error}"
    );
    assert_eq!(forge.server.seen().len(), 1);
}

#[tokio::test]
async fn an_unreachable_forge_is_retried_then_transient() {
    // A port bound by a socket that never listens: connections to it are
    // refused, and nobody else can take it while the test holds it.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = held.local_addr().unwrap().as_socket().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, super::shapes::TOKEN).unwrap();
    let config = super::config(
        ForgeKind::GitHub,
        &format!("http://127.0.0.1:{port}"),
        token,
    );
    let retry = RetryPolicy {
        max_attempts: 2,
        ..quick()
    };
    let sink = build_with(
        &config,
        ContextName::default(),
        retry,
        Arc::new(SystemClock),
        Arc::new(TokioSleeper),
    )
    .unwrap();
    let error = sink.post(commit(), &status()).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ReportError::Transient { .. }), "{message}");
    assert!(message.contains("cannot reach"), "{message}");
    assert!(!message.contains(super::shapes::TOKEN));
}

/// GitHub's secondary limit as GitHub sends it: quota left, no
/// `retry-after`, the reset time of the primary quota beside it.
fn secondary_limit(code: u16) -> Reply {
    Reply::status(code)
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "4987")
        .header("x-ratelimit-reset", "1767229200")
        .body(r#"{"message":"You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#)
}

#[tokio::test]
async fn githubs_secondary_rate_limit_is_waited_out_for_a_minute() {
    for code in [403, 429] {
        let clock = Arc::new(SteppedClock::at_unix(1_767_225_600));
        let forge = Forge::stepped(ForgeKind::GitHub, clock.clone()).await;
        forge.server.reply(secondary_limit(code));
        forge.sink.post(commit(), &status()).await.unwrap();
        assert_eq!(forge.server.kept().len(), 1, "{code}");
        assert_eq!(forge.server.seen().len(), 2, "{code}");
        assert_eq!(clock.slept(), [Duration::from_secs(60)], "{code}");
    }
}

#[tokio::test]
async fn a_secondary_limit_with_retry_after_waits_what_it_says() {
    let clock = Arc::new(SteppedClock::at_unix(1_767_225_600));
    let forge = Forge::stepped(ForgeKind::GitHub, clock.clone()).await;
    forge
        .server
        .reply(secondary_limit(403).header("retry-after", "17"));
    forge.sink.post(commit(), &status()).await.unwrap();
    assert_eq!(clock.slept(), [Duration::from_secs(17)]);
}

#[tokio::test]
async fn a_secondary_limit_that_stays_is_transient_not_a_bad_config() {
    let clock = Arc::new(SteppedClock::at_unix(1_767_225_600));
    let forge = Forge::stepped(ForgeKind::GitHub, clock.clone()).await;
    for _ in 0..3 {
        forge.server.reply(secondary_limit(403));
    }
    let error = forge.sink.post(commit(), &status()).await.unwrap_err();
    assert!(matches!(error, ReportError::Transient { .. }), "{error}");
    assert!(
        error.to_string().contains("secondary rate limit"),
        "{error}"
    );
    // A minute, then twice that would pass the two minutes one post may
    // wait: the rest is the outbox's to retry, later.
    assert_eq!(clock.slept(), [Duration::from_secs(60)]);
    assert_eq!(forge.server.seen().len(), 2);
}
