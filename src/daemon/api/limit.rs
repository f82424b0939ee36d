//! The per-caller rate limit: a token bucket per API token, and per peer
//! address for calls that present no valid token (so that a flood of bad
//! tokens cannot spend a real token's budget by naming its public id).

use crate::daemon::config::RateLimitConfig;
use crate::spec::material::api_token::TokenId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many buckets are kept; past it, full (idle) buckets are
/// dropped, which changes nothing for their owners.
pub const MAX_BUCKETS: usize = 10_000;

/// Whose budget a call spends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Spender {
    Token(TokenId),
    Peer(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by [`Spender`].
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Spender, Bucket>>,
}

impl RateLimiter {
    #[must_use]
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimiter {
            per_second: f64::from(config.per_second.get()),
            burst: f64::from(config.burst.get()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `spender`'s bucket at `now`, or says how long
    /// until it holds one.
    pub fn take(&self, spender: &Spender, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(spender) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| refilled(*b, now, per_second, burst) < burst);
        }
        let bucket = buckets.entry(spender.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = refilled(*bucket, now, self.per_second, self.burst);
        *bucket = Bucket { tokens, at: now };
        if tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_second))
        }
    }
}

fn refilled(bucket: Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn a_burst_then_the_rate_then_a_wait_that_says_how_long() {
        let limiter = RateLimiter::new(RateLimitConfig {
            per_second: NonZeroU32::new(2).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        });
        let t0 = Instant::now();
        let me = Spender::Token(TokenId::parse("abcdefghijkl").unwrap());
        let other = Spender::Peer([127, 0, 0, 1].into());
        for _ in 0..3 {
            assert_eq!(limiter.take(&me, t0), Ok(()));
        }
        let wait = limiter.take(&me, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Someone else's budget is their own.
        assert_eq!(limiter.take(&other, t0), Ok(()));
        // Half a second later one call more, and no more.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.take(&me, later), Ok(()));
        assert!(limiter.take(&me, later).is_err());
        // Idle long enough, the bucket is full again, never fuller.
        let idle = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take(&me, idle), Ok(()));
        }
        assert!(limiter.take(&me, idle).is_err());
    }
}
