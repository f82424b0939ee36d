//! The deliveries the endpoint acted on lately, so that a repeat is refused.
//!
//! A delivery is remembered by two keys: its delivery id (when the forge
//! sent one) and the SHA-256 of its body. A request matching either is a
//! repeat. Only requests whose signature or token checked out get here, so
//! nobody without the secret can fill or poison the memory.
//!
//! Bounded: the last [`REMEMBERED_DELIVERIES`] deliveries, oldest forgotten
//! first, whatever their age. Keys are stored as 32-byte digests, so the
//! memory does not depend on what a sender puts in a header: a queue slot
//! (80 bytes) and two map entries (48 bytes each, in a table at most half
//! full) per delivery, sized once when the endpoint starts: about 1.1 MiB
//! for 4096, touched only as deliveries arrive. Each request costs two
//! hash-map lookups and at most one eviction; nothing grows or scans.
//! The memory is not kept across restarts: a delivery replayed after a
//! restart is accepted once more, and all it can do is wake a reconcile.

use crate::trigger::{Delivery, DeliveryId};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many deliveries are remembered. GitHub offers to redeliver a
/// delivery for three days; 4096 covers three days of about one push a
/// minute, far above what a repository of balancer configs sees, in about
/// 1.1 MiB. No time window: a replay is refused however late it comes, as
/// long as the delivery is among the last 4096.
pub const REMEMBERED_DELIVERIES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Id([u8; 32]),
    Body([u8; 32]),
}

/// Why a delivery is a repeat: the `409`'s message says which delivery, and
/// that nothing more will happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Repeat {
    /// Its delivery id was seen.
    #[error("delivery {} {} was already received: {NOTHING}", .0.header, .0.value)]
    Id(DeliveryId),
    /// Its body was seen, under another id or none.
    #[error("{}", body_repeat(.id.as_ref()))]
    Body { id: Option<DeliveryId> },
}

const NOTHING: &str = "lbops acts on a delivery once and ignores this copy; \
     to make it look again, push, or wait for its next poll";

fn body_repeat(id: Option<&DeliveryId>) -> String {
    match id {
        Some(id) => format!(
            "delivery {} {} carries the same signed body as one already received \
             (a replay under another id): {NOTHING}",
            id.header, id.value
        ),
        None => format!(
            "a delivery with the same signed body was already received (this one names \
             no delivery id): {NOTHING}"
        ),
    }
}

/// A delivery admitted but not yet acted on: [`Admitted::keep`] it once it
/// was; dropped without that (an error, or the request given up half-way),
/// it is forgotten, so that the forge's retry is taken.
#[derive(Debug)]
#[must_use = "an admitted delivery is forgotten again unless kept"]
pub(super) struct Admitted<'a> {
    deliveries: &'a Deliveries,
    entry: Option<Entry>,
}

impl Admitted<'_> {
    /// The delivery was acted on: a repeat is refused from now on.
    pub(super) fn keep(mut self) {
        self.entry = None;
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            // Its queue slot stays until it is evicted; only its keys go.
            let mut seen = self
                .deliveries
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            seen.remove(&entry);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    serial: u64,
    keys: [Option<Key>; 2],
}

#[derive(Debug)]
struct Seen {
    /// Oldest first.
    order: VecDeque<Entry>,
    /// Each key and the serial of the entry that holds it.
    index: HashMap<Key, u64>,
    next: u64,
}

/// The deliveries acted on lately; shared by every connection.
#[derive(Debug)]
pub(super) struct Deliveries {
    capacity: usize,
    seen: Mutex<Seen>,
}

impl Default for Deliveries {
    fn default() -> Self {
        Deliveries::new(REMEMBERED_DELIVERIES)
    }
}

impl Deliveries {
    pub(super) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Deliveries {
            capacity,
            seen: Mutex::new(Seen {
                order: VecDeque::with_capacity(capacity + 1),
                index: HashMap::with_capacity(2 * capacity),
                next: 0,
            }),
        }
    }

    /// Remembers `delivery`, or says why it is a repeat. Checking and
    /// remembering are one step, so two copies sent at once cannot both
    /// pass.
    pub(super) fn admit(&self, delivery: &Delivery) -> Result<Admitted<'_>, Repeat> {
        let id_key = delivery.id.as_ref().map(id_key);
        let body_key = Key::Body(delivery.body_sha256);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(key), Some(id)) = (&id_key, &delivery.id) {
            if seen.index.contains_key(key) {
                return Err(Repeat::Id(id.clone()));
            }
        }
        if seen.index.contains_key(&body_key) {
            return Err(Repeat::Body {
                id: delivery.id.clone(),
            });
        }
        let serial = seen.next;
        seen.next += 1;
        for key in id_key.iter().chain([&body_key]) {
            seen.index.insert(*key, serial);
        }
        let entry = Entry {
            serial,
            keys: [id_key, Some(body_key)],
        };
        seen.order.push_back(entry);
        if seen.order.len() > self.capacity {
            if let Some(oldest) = seen.order.pop_front() {
                seen.remove(&oldest);
            }
        }
        Ok(Admitted {
            deliveries: self,
            entry: Some(entry),
        })
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.order.len(), seen.index.len())
    }
}

impl Seen {
    /// Drops `entry`'s keys, unless a newer entry holds them since.
    fn remove(&mut self, entry: &Entry) {
        for key in entry.keys.iter().flatten() {
            if self.index.get(key) == Some(&entry.serial) {
                self.index.remove(key);
            }
        }
    }
}

fn id_key(id: &DeliveryId) -> Key {
    let mut hash = Sha256::new();
    hash.update(id.header.to_ascii_lowercase().as_bytes());
    hash.update(b"\0");
    hash.update(id.value.as_bytes());
    Key::Id(hash.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: Option<&str>, body: &[u8]) -> Delivery {
        Delivery {
            id: id.map(|value| DeliveryId {
                header: "X-GitHub-Delivery",
                value: value.to_owned(),
            }),
            body_sha256: Sha256::digest(body).into(),
        }
    }

    #[test]
    fn a_repeat_of_the_id_or_of_the_body_is_refused() {
        let deliveries = Deliveries::default();
        deliveries
            .admit(&delivery(Some("a"), b"one"))
            .unwrap()
            .keep();
        assert!(matches!(
            deliveries.admit(&delivery(Some("a"), b"two")),
            Err(Repeat::Id(id)) if id.value == "a"
        ));
        assert!(matches!(
            deliveries.admit(&delivery(Some("b"), b"one")),
            Err(Repeat::Body { id: Some(id) }) if id.value == "b"
        ));
        assert!(matches!(
            deliveries.admit(&delivery(None, b"one")),
            Err(Repeat::Body { id: None })
        ));
        deliveries
            .admit(&delivery(Some("b"), b"two"))
            .unwrap()
            .keep();
        deliveries.admit(&delivery(None, b"three")).unwrap().keep();
        // The refused ones left nothing behind.
        assert_eq!(deliveries.len(), (3, 5));
    }

    #[test]
    fn the_oldest_is_forgotten_first_and_memory_stays_bounded() {
        let deliveries = Deliveries::new(3);
        for n in 0..10 {
            let id = format!("id-{n}");
            deliveries
                .admit(&delivery(Some(&id), id.as_bytes()))
                .unwrap()
                .keep();
            let (entries, keys) = deliveries.len();
            assert!(entries <= 3 && keys <= 6, "{entries} {keys}");
        }
        // 7, 8, 9 are remembered; 6 is not.
        assert!(deliveries.admit(&delivery(Some("id-9"), b"id-9")).is_err());
        assert!(deliveries.admit(&delivery(Some("id-6"), b"id-6")).is_ok());
    }

    #[test]
    fn a_delivery_that_was_not_acted_on_can_come_again() {
        let deliveries = Deliveries::default();
        drop(deliveries.admit(&delivery(Some("a"), b"one")).unwrap());
        let again = deliveries.admit(&delivery(Some("a"), b"one")).unwrap();
        assert!(deliveries.admit(&delivery(Some("a"), b"one")).is_err());
        drop(again);
        deliveries
            .admit(&delivery(Some("a"), b"one"))
            .unwrap()
            .keep();
        assert!(deliveries.admit(&delivery(Some("a"), b"one")).is_err());
    }

    #[test]
    fn evicting_an_old_slot_keeps_a_newer_holder_of_its_keys() {
        let deliveries = Deliveries::new(2);
        drop(deliveries.admit(&delivery(Some("a"), b"one")).unwrap());
        // The forgotten slot is still queued; "a" is admitted again.
        deliveries
            .admit(&delivery(Some("a"), b"one"))
            .unwrap()
            .keep();
        // This evicts the forgotten slot, which must not free "a".
        deliveries
            .admit(&delivery(Some("b"), b"two"))
            .unwrap()
            .keep();
        assert!(deliveries.admit(&delivery(Some("a"), b"one")).is_err());
    }
}
