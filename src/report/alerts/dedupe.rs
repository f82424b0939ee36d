//! Which alerts were sent lately, so the same one is not sent every tick.
//! Pure: the caller passes the time.
//!
//! The memory is bounded: it keeps the last [`DEFAULT_CAPACITY`] keys
//! (each as a SHA-256 digest, so a long drift summary costs 32 bytes) and
//! forgets the oldest first. By default a key is never re-alerted while
//! the daemon runs; with a re-alert interval it is sent again once that
//! long has passed since it was last sent.

use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many keys are remembered unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1000;

type Key = [u8; 32];

/// The keys of the alerts sent lately, oldest first.
#[derive(Debug)]
pub struct Dedupe {
    sent: VecDeque<(Key, Instant)>,
    capacity: usize,
    realert_after: Option<Duration>,
}

impl Default for Dedupe {
    fn default() -> Self {
        Dedupe::new(DEFAULT_CAPACITY, None)
    }
}

impl Dedupe {
    /// Remembers up to `capacity` keys (at least one); `realert_after`
    /// `None` never sends a key twice while it is remembered.
    #[must_use]
    pub fn new(capacity: usize, realert_after: Option<Duration>) -> Self {
        Dedupe {
            sent: VecDeque::new(),
            capacity: capacity.max(1),
            realert_after,
        }
    }

    /// Whether an alert with `key` should be sent at `now`; if so, it is
    /// remembered as sent at `now`.
    pub fn admit(&mut self, key: &str, now: Instant) -> bool {
        let digest = digest(key);
        if let Some(at) = self.sent.iter().position(|(k, _)| *k == digest) {
            let last = self.sent[at].1;
            let due = self
                .realert_after
                .is_some_and(|interval| now.saturating_duration_since(last) >= interval);
            if !due {
                return false;
            }
            self.sent.remove(at);
        }
        if self.sent.len() == self.capacity {
            self.sent.pop_front();
        }
        self.sent.push_back((digest, now));
        true
    }

    /// Forgets `key`, so that it is sent the next time (for an alert that
    /// reached no sink at all).
    pub fn forget(&mut self, key: &str) {
        let digest = digest(key);
        self.sent.retain(|(k, _)| *k != digest);
    }

    /// How many keys are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

fn digest(key: &str) -> Key {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_admitted_once_and_others_still_pass() {
        let mut memory = Dedupe::default();
        let now = Instant::now();
        assert!(memory.admit("drift\0c1\0pool web", now));
        assert!(!memory.admit("drift\0c1\0pool web", now + Duration::from_secs(3600)));
        assert!(memory.admit("drift\0c1\0pool api", now));
        assert_eq!(memory.len(), 2);
    }

    #[test]
    fn by_default_a_key_is_never_re_alerted() {
        let mut memory = Dedupe::default();
        let now = Instant::now();
        assert!(memory.admit("k", now));
        let much_later = now + Duration::from_secs(365 * 24 * 3600);
        assert!(!memory.admit("k", much_later));
    }

    #[test]
    fn with_an_interval_a_key_is_sent_again_once_it_has_passed() {
        let mut memory = Dedupe::new(10, Some(Duration::from_secs(60)));
        let now = Instant::now();
        assert!(memory.admit("k", now));
        assert!(!memory.admit("k", now + Duration::from_secs(59)));
        assert!(memory.admit("k", now + Duration::from_secs(60)));
        // The interval counts from the last time it was sent.
        assert!(!memory.admit("k", now + Duration::from_secs(100)));
        assert!(memory.admit("k", now + Duration::from_secs(120)));
        assert_eq!(memory.len(), 1);
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_the_oldest_first() {
        let mut memory = Dedupe::new(3, None);
        let now = Instant::now();
        for key in ["a", "b", "c", "d"] {
            assert!(memory.admit(key, now));
        }
        assert_eq!(memory.len(), 3);
        assert!(!memory.admit("d", now));
        assert!(!memory.admit("b", now));
        assert!(memory.admit("a", now), "the oldest key was forgotten");
    }

    #[test]
    fn a_forgotten_key_is_admitted_again() {
        let mut memory = Dedupe::default();
        let now = Instant::now();
        assert!(memory.admit("k", now));
        memory.forget("k");
        assert!(memory.is_empty());
        assert!(memory.admit("k", now));
    }
}
