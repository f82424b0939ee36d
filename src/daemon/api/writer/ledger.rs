//! The Idempotency-Keys a daemon remembers, as plain values: which token
//! (or signed-in person) sent which key with which body, the request id the commit carries, and
//! the commit once it is made.
//!
//! An entry is written *before* its commit is made (an intent) and
//! settled once the branch has moved, so that a daemon stopped in between
//! leaves an intent, which a retry settles from git (the commit carrying
//! its request id) instead of making a second commit. No I/O here:
//! [`super::ledger_file`] keeps the ledger in the state directory.

use crate::model::sha256_hex;
use crate::source::CommitId;
use crate::spec::api_commit::RequestId;
use crate::spec::material::api_token::TokenId;
use crate::spec::units::Name;
use std::collections::VecDeque;
use std::fmt;

/// Whose Idempotency-Keys: each caller has its own, so one cannot replay
/// (or block) another's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOwner {
    /// An API token's, by id.
    Token(TokenId),
    /// A signed-in person's, by git User.
    User(Name),
}

impl fmt::Display for KeyOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOwner::Token(id) => write!(f, "token {}", id.as_str()),
            KeyOwner::User(user) => write!(f, "user/{user}"),
        }
    }
}

/// How many Idempotency-Keys a daemon remembers, all tokens together; a
/// new one makes it forget the oldest.
pub const REMEMBERED_KEYS: usize = 1024;

/// The longest Idempotency-Key.
pub const MAX_KEY_LEN: usize = 255;

/// Whether `key` may be an Idempotency-Key: 1 to [`MAX_KEY_LEN`] visible
/// ASCII characters (spaces included), as an HTTP header carries them.
#[must_use]
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// A request body's SHA-256 in lowercase hex, which a key is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyDigest(String);

impl BodyDigest {
    #[must_use]
    pub fn of(body: &[u8]) -> BodyDigest {
        BodyDigest(sha256_hex(body))
    }

    /// Reads a digest back as [`BodyDigest::as_str`] wrote it.
    #[must_use]
    pub fn parse(hex: &str) -> Option<BodyDigest> {
        let digits = hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (hex.len() == 64 && digits).then(|| BodyDigest(hex.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One remembered key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub owner: KeyOwner,
    pub key: String,
    pub body: BodyDigest,
    /// The request id its commit carries (`Lbops-Request`).
    pub request: RequestId,
    /// The branch head when the intent was written: the commit, if one was
    /// made, comes after it.
    pub since: Option<CommitId>,
    /// The commit, once the branch has moved to it (or git showed it had).
    pub commit: Option<CommitId>,
}

/// What the ledger knows of a token's key with a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not remembered: a new request.
    New,
    /// The key came with another body.
    Reused,
    /// Its commit.
    Made {
        request: RequestId,
        commit: CommitId,
    },
    /// An intent whose commit may or may not have been made: git tells.
    Unsettled {
        request: RequestId,
        since: Option<CommitId>,
    },
}

/// Why entries read back cannot be a ledger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerProblem {
    #[error("{0} keys, over the {REMEMBERED_KEYS} a daemon remembers")]
    TooMany(usize),
    #[error("key {key:?} of {owner} appears twice")]
    Twice { owner: String, key: String },
    #[error("a key that is not 1 to {MAX_KEY_LEN} visible characters")]
    BadKey,
}

/// The remembered keys, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: VecDeque<Entry>,
}

impl Ledger {
    /// The ledger of `entries`, oldest first, as [`Ledger::entries`] gave them.
    pub fn from_entries(entries: Vec<Entry>) -> Result<Ledger, LedgerProblem> {
        if entries.len() > REMEMBERED_KEYS {
            return Err(LedgerProblem::TooMany(entries.len()));
        }
        let mut ledger = Ledger::default();
        for entry in entries {
            if !valid_key(&entry.key) {
                return Err(LedgerProblem::BadKey);
            }
            if ledger.find(&entry.owner, &entry.key).is_some() {
                return Err(LedgerProblem::Twice {
                    owner: entry.owner.to_string(),
                    key: entry.key,
                });
            }
            ledger.entries.push_back(entry);
        }
        Ok(ledger)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// What is known of `token`'s `key` sent with a body of digest `body`.
    #[must_use]
    pub fn seen(&self, owner: &KeyOwner, key: &str, body: &BodyDigest) -> Seen {
        match self.find(owner, key).map(|at| &self.entries[at]) {
            None => Seen::New,
            Some(entry) if &entry.body != body => Seen::Reused,
            Some(entry) => match entry.commit {
                Some(commit) => Seen::Made {
                    request: entry.request.clone(),
                    commit,
                },
                None => Seen::Unsettled {
                    request: entry.request.clone(),
                    since: entry.since,
                },
            },
        }
    }

    /// Remembers `entry` as an intent (its commit not made yet), in place
    /// of what was remembered of its key; past [`REMEMBERED_KEYS`], the
    /// oldest key is forgotten.
    pub fn intend(&mut self, entry: Entry) {
        let entry = Entry {
            commit: None,
            ..entry
        };
        if let Some(at) = self.find(&entry.owner, &entry.key) {
            self.entries.remove(at);
        }
        while self.entries.len() >= REMEMBERED_KEYS {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Records the commit of `token`'s `key`; `false` if it was forgotten
    /// meanwhile.
    pub fn settle(&mut self, owner: &KeyOwner, key: &str, commit: CommitId) -> bool {
        match self.find(owner, key) {
            Some(at) => {
                self.entries[at].commit = Some(commit);
                true
            }
            None => false,
        }
    }

    fn find(&self, owner: &KeyOwner, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| &e.owner == owner && e.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: u8) -> KeyOwner {
        KeyOwner::Token(TokenId::parse(&format!("{n:012}")).unwrap())
    }

    fn entry(t: u8, key: &str, body: &[u8]) -> Entry {
        Entry {
            owner: token(t),
            key: key.to_owned(),
            body: BodyDigest::of(body),
            request: RequestId::parse(&format!("req-{t}-{key}")).unwrap(),
            since: None,
            commit: None,
        }
    }

    fn commit(n: u8) -> CommitId {
        CommitId::parse(&format!("{n:02x}").repeat(20)).unwrap()
    }

    #[test]
    fn a_key_is_an_intent_then_its_commit_and_bound_to_its_body_and_token() {
        let mut ledger = Ledger::default();
        let body = BodyDigest::of(b"{}");
        assert_eq!(ledger.seen(&token(1), "k", &body), Seen::New);
        ledger.intend(entry(1, "k", b"{}"));
        let request = RequestId::parse("req-1-k").unwrap();
        assert_eq!(
            ledger.seen(&token(1), "k", &body),
            Seen::Unsettled {
                request: request.clone(),
                since: None
            }
        );
        assert!(ledger.settle(&token(1), "k", commit(7)));
        assert_eq!(
            ledger.seen(&token(1), "k", &body),
            Seen::Made {
                request,
                commit: commit(7)
            }
        );
        assert_eq!(
            ledger.seen(&token(1), "k", &BodyDigest::of(b"{ }")),
            Seen::Reused
        );
        // Keys are per token: another token's same key is new.
        assert_eq!(ledger.seen(&token(2), "k", &body), Seen::New);
        assert!(!ledger.settle(&token(2), "k", commit(8)));
    }

    #[test]
    fn past_the_bound_the_oldest_key_is_forgotten() {
        let mut ledger = Ledger::default();
        for n in 0..=REMEMBERED_KEYS {
            ledger.intend(entry(1, &format!("key-{n}"), b"{}"));
        }
        assert_eq!(ledger.entries().count(), REMEMBERED_KEYS);
        let body = BodyDigest::of(b"{}");
        assert_eq!(ledger.seen(&token(1), "key-0", &body), Seen::New);
        assert!(matches!(
            ledger.seen(&token(1), "key-1", &body),
            Seen::Unsettled { .. }
        ));
        // An intent made again replaces its entry rather than adding one.
        ledger.intend(entry(1, "key-1", b"{}"));
        assert_eq!(ledger.entries().count(), REMEMBERED_KEYS);
        assert_eq!(ledger.entries().last().unwrap().key, "key-1");
    }

    #[test]
    fn entries_read_back_are_checked() {
        let entries = vec![entry(1, "a", b"x"), entry(2, "a", b"x")];
        let ledger = Ledger::from_entries(entries.clone()).unwrap();
        assert_eq!(ledger.entries().cloned().collect::<Vec<_>>(), entries);
        assert_eq!(
            Ledger::from_entries(vec![entry(1, "a", b"x"), entry(1, "a", b"y")]),
            Err(LedgerProblem::Twice {
                owner: token(1).to_string(),
                key: "a".into()
            })
        );
        let mut bad = entry(1, "a", b"x");
        bad.key = "line\nbreak".into();
        assert_eq!(Ledger::from_entries(vec![bad]), Err(LedgerProblem::BadKey));
        let many = (0..=REMEMBERED_KEYS)
            .map(|n| entry(1, &n.to_string(), b"x"))
            .collect();
        assert_eq!(
            Ledger::from_entries(many),
            Err(LedgerProblem::TooMany(REMEMBERED_KEYS + 1))
        );
        assert!(valid_key("deploy 42") && !valid_key("") && !valid_key(&"k".repeat(256)));
        assert_eq!(
            BodyDigest::parse(BodyDigest::of(b"x").as_str()),
            Some(BodyDigest::of(b"x"))
        );
        assert_eq!(BodyDigest::parse("ABC"), None);
    }
}
