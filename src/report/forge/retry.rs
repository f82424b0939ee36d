//! How long to wait before trying a post again: exponential backoff with
//! jitter for failures, and what the forge asks for when it rate-limits.

use crate::support::backoff::{Backoff, Jitter};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How hard one post tries before it gives up with
/// [`ReportError::Transient`](crate::report::ReportError::Transient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per post, the first included.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// No single backoff is longer than this.
    pub max_backoff: Duration,
    /// The most one post spends waiting in all. A rate limit that lifts
    /// later than this is reported at once rather than slept through.
    pub max_wait: Duration,
    /// One request, connecting included.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): the exponential
    /// step, less up to half of it as `jitter_seed` picks, so that several
    /// daemons failing together do not retry together.
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter_seed: u64) -> Duration {
        let backoff = Backoff {
            base: self.first_backoff,
            cap: self.max_backoff,
        };
        backoff.wait(attempt, Jitter::up_to(JITTER_PERCENT, jitter_seed))
    }
}

/// The most of a backoff that jitter takes off, in percent.
const JITTER_PERCENT: u8 = 50;

/// The least a secondary rate limit is waited out (GitHub: "wait for at
/// least one minute before retrying").
pub const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A rate limit, as the answer tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The quota is used up; it lasts this long, if the forge says.
    Primary(Option<Duration>),
    /// GitHub's secondary limit (too many writes, too fast): quota is
    /// left, no time is given; wait at least [`SECONDARY_LIMIT_WAIT`].
    Secondary,
}

/// Whether a response is a rate limit, and if the forge says how long
/// it lasts, for how long.
///
/// A 429 always is. A 403 is with `Retry-After` or a remaining-quota
/// header of 0 (GitHub's primary limit). A 403 or 429 with no
/// `Retry-After` and quota left (`X-RateLimit-Remaining` over 0) is
/// GitHub's secondary limit — but GitHub sends the quota headers on
/// every answer, so a 403 counts only when its message says so ("secondary
/// rate limit", or the older "abuse detection"): anything else is a
/// permission problem.
#[must_use]
pub fn rate_limit(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: SystemTime,
) -> Option<Limit> {
    let retry_after = headers.contains_key("retry-after");
    let remaining = header(headers, "x-ratelimit-remaining")
        .or_else(|| header(headers, "ratelimit-remaining"))
        .and_then(|v| v.parse::<u64>().ok());
    let says_secondary = {
        let body = body.to_ascii_lowercase();
        body.contains("secondary rate limit") || body.contains("abuse detection")
    };
    let primary = |wait| Some(Limit::Primary(wait));
    match (status, retry_after, remaining) {
        (StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN, false, Some(left))
            if left > 0 && (status == StatusCode::TOO_MANY_REQUESTS || says_secondary) =>
        {
            Some(Limit::Secondary)
        }
        (StatusCode::TOO_MANY_REQUESTS, _, _) | (StatusCode::FORBIDDEN, true, _) => {
            primary(requested_wait(headers, unix_seconds(now)))
        }
        (StatusCode::FORBIDDEN, false, Some(0)) => {
            primary(requested_wait(headers, unix_seconds(now)))
        }
        (StatusCode::FORBIDDEN, false, None) if says_secondary => Some(Limit::Secondary),
        _ => None,
    }
}

/// The wait a forge asks for: `Retry-After` (seconds or an HTTP date),
/// else `X-RateLimit-Reset` (GitHub, Gitea: Unix seconds), else
/// `RateLimit-Reset` (GitLab: Unix seconds; the IETF draft: seconds from
/// now — told apart by size).
fn requested_wait(headers: &HeaderMap, now: u64) -> Option<Duration> {
    if let Some(value) = header(headers, "retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(&value) {
            let at = u64::try_from(date.timestamp()).unwrap_or(0);
            return Some(Duration::from_secs(at.saturating_sub(now)));
        }
    }
    let until = |at: u64| Duration::from_secs(at.saturating_sub(now) + 1);
    if let Some(at) = header(headers, "x-ratelimit-reset").and_then(|v| v.parse().ok()) {
        return Some(until(at));
    }
    let reset: u64 = header(headers, "ratelimit-reset")?.parse().ok()?;
    Some(match reset > 1_000_000_000 {
        true => until(reset),
        false => Duration::from_secs(reset),
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    Some(headers.get(name)?.to_str().ok()?.trim().to_owned())
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = RetryPolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for (attempt, step) in [(1, 100), (2, 200), (3, 350), (30, 350)] {
            let step = Duration::from_millis(step);
            assert_eq!(policy.backoff(attempt, 0), step);
            let wait = policy.backoff(attempt, 999);
            assert!(wait >= step / 2 && wait < step, "{attempt}: {wait:?}");
        }
    }

    #[test]
    fn what_counts_as_a_rate_limit() {
        let now = 1_700_000_000;
        let limit = |code: u16, pairs: &[(&'static str, &str)], body: &str| {
            let at = UNIX_EPOCH + Duration::from_secs(now);
            rate_limit(
                StatusCode::from_u16(code).unwrap(),
                &headers(pairs),
                body,
                at,
            )
        };
        let primary = |secs: Option<u64>| Some(Limit::Primary(secs.map(Duration::from_secs)));
        assert_eq!(limit(429, &[], ""), primary(None));
        assert_eq!(limit(429, &[("retry-after", "1")], ""), primary(Some(1)));
        assert_eq!(limit(403, &[("retry-after", "7")], ""), primary(Some(7)));
        // GitHub's primary limit: remaining 0, reset as a Unix time.
        let reset = (now + 4).to_string();
        let wait = limit(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            r#"{"message":"API rate limit exceeded for user ID 1."}"#,
        );
        assert_eq!(wait, primary(Some(5)));
        // GitHub's secondary limit: quota left, no retry-after; at least
        // a minute, whatever the reset header says.
        let reset = reset.as_str();
        let quota_left = [
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", reset),
        ];
        let secondary = r#"{"message":"You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."}"#;
        assert_eq!(limit(403, &quota_left, secondary), Some(Limit::Secondary));
        assert_eq!(limit(429, &quota_left, secondary), Some(Limit::Secondary));
        assert_eq!(limit(429, &quota_left, ""), Some(Limit::Secondary));
        assert_eq!(limit(403, &[], secondary), Some(Limit::Secondary));
        // With retry-after, the forge said how long.
        let told = [("x-ratelimit-remaining", "4999"), ("retry-after", "30")];
        assert_eq!(limit(403, &told, secondary), primary(Some(30)));
        // A plain permission error carries the quota headers too.
        let denied = r#"{"message":"Resource not accessible by personal access token"}"#;
        assert_eq!(limit(403, &quota_left, denied), None);
        assert_eq!(limit(401, &[("retry-after", "1")], ""), None);
        assert_eq!(limit(503, &[], ""), None);
    }

    #[test]
    fn reset_headers_in_each_form() {
        let now = 1_700_000_000;
        let wait = |pairs: &[(&'static str, &str)]| requested_wait(&headers(pairs), now);
        assert_eq!(
            wait(&[("retry-after", "Tue, 14 Nov 2023 22:13:30 GMT")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            wait(&[("ratelimit-reset", "1700000009")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            wait(&[("ratelimit-reset", "30")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(wait(&[("retry-after", "soon")]), None);
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1600000000")]),
            Some(Duration::from_secs(1))
        );
    }
}
