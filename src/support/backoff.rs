//! The one exponential backoff: a wait that doubles after each failure up
//! to a cap, shortened by jitter so that many clients failing together do
//! not retry together. Jitter is drawn from a seed the caller passes, so
//! the same seed gives the same wait and tests can check the bounds.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Waits that start at `base` and double after each further failure, never
/// longer than `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
}

/// How much of a wait jitter may take off, and the seed that picks how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jitter {
    /// The most jitter takes off, in percent of the wait (0: none, 100 at most).
    up_to_percent: u8,
    seed: u64,
}

impl Jitter {
    /// No jitter: every wait is the exponential step itself.
    pub const NONE: Jitter = Jitter {
        up_to_percent: 0,
        seed: 0,
    };

    /// Takes off up to `percent` of each wait (capped at 100), the share
    /// picked by `seed`: seed 0 takes nothing off, and the share grows
    /// with `seed % 1000`.
    #[must_use]
    pub fn up_to(percent: u8, seed: u64) -> Jitter {
        Jitter {
            up_to_percent: percent.min(100),
            seed,
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 is the first; 0
    /// counts as 1): `base · 2^(failures − 1)`, at most `cap`, then less
    /// up to the jitter's share, to the millisecond.
    #[must_use]
    pub fn wait(&self, failures: u32, jitter: Jitter) -> Duration {
        let doublings = failures.saturating_sub(1);
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.cap);
        let share = u128::from(jitter.seed % 1_000) * u128::from(jitter.up_to_percent);
        let cut_ms = step.as_millis() * share / 100_000;
        step.saturating_sub(Duration::from_millis(
            u64::try_from(cut_ms).unwrap_or(u64::MAX),
        ))
    }
}

/// A seed for [`Jitter::up_to`] that differs between calls and processes;
/// it reads no clock.
#[must_use]
pub fn random_seed() -> u64 {
    // Each `RandomState` gets fresh keys (random per thread, then bumped
    // per call), so hashing nothing gives a new number each time.
    RandomState::new().build_hasher().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_wait_doubles_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5),
        };
        let waits: Vec<u64> = (1..=5)
            .map(|n| backoff.wait(n, Jitter::NONE).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert_eq!(backoff.wait(0, Jitter::NONE), Duration::from_secs(1));
        assert_eq!(backoff.wait(u32::MAX, Jitter::NONE), Duration::from_secs(5));
        let huge = Backoff {
            base: Duration::MAX,
            cap: Duration::MAX,
        };
        // Nothing overflows, however large the numbers.
        assert!(huge.wait(40, Jitter::up_to(50, 999)) > Duration::ZERO);
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_its_share() {
        let backoff = Backoff {
            base: ms(100),
            cap: ms(350),
        };
        for (failures, step) in [(1, 100), (2, 200), (3, 350), (30, 350)] {
            let step = ms(step);
            assert_eq!(backoff.wait(failures, Jitter::up_to(50, 0)), step);
            for seed in [1, 499, 500, 999, 1_000, u64::MAX] {
                let wait = backoff.wait(failures, Jitter::up_to(50, seed));
                assert!(
                    wait >= step / 2 && wait <= step,
                    "{failures}/{seed}: {wait:?}"
                );
            }
        }
        // The same seed, the same wait; the share is `seed % 1000`.
        let quarter = |seed| {
            Backoff {
                base: Duration::from_secs(8),
                cap: Duration::from_secs(300),
            }
            .wait(1, Jitter::up_to(25, seed))
        };
        assert_eq!(quarter(999), ms(6_002));
        assert_eq!(quarter(1_999), quarter(999));
        assert_eq!(quarter(500), ms(7_000));
        assert_eq!(
            Backoff {
                base: ms(10),
                cap: ms(10)
            }
            .wait(1, Jitter::up_to(200, 999)),
            ms(1),
            "a share over 100% is 100%"
        );
    }

    #[test]
    fn random_seeds_differ() {
        let seeds: std::collections::BTreeSet<u64> = (0..8).map(|_| random_seed()).collect();
        assert!(seeds.len() > 1);
    }
}
