//! The wall clock, passed in: code that needs "now" asks a [`Clock`], so
//! the daemon reads wall time in one place ([`SystemClock`]) and tests can
//! fix it ([`FixedClock`]). Deadlines and timeouts use `Instant`, the
//! monotonic clock, and need none of this.

use std::time::{SystemTime, UNIX_EPOCH};

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
}
