//! The wall clock, passed in: code that needs "now" asks a [`Clock`], so
//! the daemon reads wall time in one place ([`SystemClock`]) and tests can
//! fix it ([`FixedClock`]). Deadlines and timeouts use `Instant`, the
//! monotonic clock, and need none of this.
//!
//! Long waits are passed in the same way: code that waits minutes (a
//! forge's secondary rate limit, an outage) asks a [`Sleeper`], so the
//! daemon sleeps on tokio's timer ([`TokioSleeper`]) and tests step a
//! [`SteppedClock`] forward instead of waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// [`Clock::now`] as [`unix_seconds`].
    fn unix_seconds(&self) -> i64 {
        unix_seconds(self.now())
    }
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always says the same time; for tests.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl FixedClock {
    /// A clock stopped `seconds` after the Unix epoch.
    #[must_use]
    pub fn at_unix(seconds: u64) -> FixedClock {
        FixedClock(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// A wait that ends by itself.
pub type Wait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where waiting happens.
pub trait Sleeper: Send + Sync + std::fmt::Debug {
    /// A future that is ready once `wait` has passed.
    fn sleep(&self, wait: Duration) -> Wait;
}

/// Sleeps on tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, wait: Duration) -> Wait {
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A wall clock that moves only when something sleeps on it, by as long
/// as it sleeps, and returns at once; for tests of waits of minutes.
#[derive(Debug)]
pub struct SteppedClock {
    now: Mutex<SystemTime>,
    slept: Mutex<Vec<Duration>>,
}

impl SteppedClock {
    /// A clock at `seconds` after the Unix epoch.
    #[must_use]
    pub fn at_unix(seconds: u64) -> SteppedClock {
        SteppedClock {
            now: Mutex::new(UNIX_EPOCH + Duration::from_secs(seconds)),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Every wait asked for so far, in order.
    #[must_use]
    pub fn slept(&self) -> Vec<Duration> {
        self.slept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Sleeper for SteppedClock {
    fn sleep(&self, wait: Duration) -> Wait {
        self.advance(wait);
        self.slept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(wait);
        // Still a yield, so a loop that only sleeps lets others run.
        Box::pin(tokio::task::yield_now())
    }
}

/// Whole seconds since the Unix epoch: 0 for a time before it, and
/// `i64::MAX` for one too far after it to count.
#[must_use]
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fixed_clock_stands_still_and_counts_from_the_epoch() {
        let clock = FixedClock::at_unix(1_767_225_600);
        assert_eq!(clock.now(), clock.now());
        assert_eq!(clock.unix_seconds(), 1_767_225_600);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert!(SystemClock.unix_seconds() > 1_700_000_000);
    }

    #[tokio::test]
    async fn a_stepped_clock_moves_by_what_is_slept() {
        let clock = SteppedClock::at_unix(100);
        clock.sleep(Duration::from_secs(60)).await;
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(clock.unix_seconds(), 160);
        assert_eq!(
            clock.slept(),
            [Duration::from_secs(60), Duration::from_millis(500)]
        );
    }
}
