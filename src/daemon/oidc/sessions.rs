//! Browser sessions and the sign-ins under way, in memory: a session id
//! is 256 random bits the browser holds in an HttpOnly cookie, and only
//! its SHA-256 is kept here, so a memory dump or a log cannot replay one.
//! Both maps are bounded; a session ends at its lifetime, after its idle
//! time, or at sign-out. What a session grants is decided again on every
//! request (the person is mapped to the trusted policy's User each time),
//! so a User removed in git loses access at the next request.

use crate::idp::oidc::{pkce, Person};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The most live sessions; a sign-in beyond it is refused until some end.
pub const MAX_SESSIONS: usize = 10_000;
/// The most sign-ins under way; beyond it the oldest is forgotten.
pub const MAX_PENDING: usize = 1_000;
/// How long a sign-in may take at the identity provider.
pub const PENDING_LIFETIME: i64 = 600;

type Digest32 = [u8; 32];

fn digest(text: &str) -> Digest32 {
    Sha256::digest(text.as_bytes()).into()
}

/// A signed-in person's session.
#[derive(Clone, Debug)]
pub struct Session {
    pub person: Person,
    /// Unix seconds.
    pub created: i64,
    pub last_seen: i64,
}

/// A sign-in under way, found again by its `state`.
#[derive(Clone, Debug)]
pub struct Pending {
    pub nonce: String,
    pub verifier: String,
    /// The page to go back to (a path of this daemon).
    pub return_to: String,
    pub created: i64,
}

/// Why a new session was not made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("lbops holds {MAX_SESSIONS} sessions already; try again when some have ended")]
pub struct Full;

/// The sessions and pending sign-ins of one daemon.
#[derive(Debug)]
pub struct Sessions {
    lifetime: i64,
    idle: i64,
    live: Mutex<HashMap<Digest32, Session>>,
    pending: Mutex<HashMap<Digest32, Pending>>,
}

impl Sessions {
    #[must_use]
    pub fn new(lifetime: Duration, idle: Duration) -> Sessions {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Sessions {
            lifetime: secs(lifetime),
            idle: secs(idle),
            live: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// Starts a session for `person` with the id made from `random`;
    /// returns the id for the cookie (the only copy lbops gives out).
    pub fn open(&self, person: Person, random: &[u8; 32], now: i64) -> Result<String, Full> {
        let id = pkce::value(random);
        let mut live = lock(&self.live);
        if live.len() >= MAX_SESSIONS {
            live.retain(|_, s| self.alive(s, now));
        }
        if live.len() >= MAX_SESSIONS {
            return Err(Full);
        }
        live.insert(
            digest(&id),
            Session {
                person,
                created: now,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// The session of cookie value `id`, if it is alive; its idle time
    /// starts again.
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let mut live = lock(&self.live);
        let key = digest(id);
        let session = live.get_mut(&key)?;
        if !self.alive(session, now) {
            live.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends the session of cookie value `id` (sign-out).
    pub fn close(&self, id: &str) -> bool {
        lock(&self.live).remove(&digest(id)).is_some()
    }

    fn alive(&self, s: &Session, now: i64) -> bool {
        now < s.created.saturating_add(self.lifetime) && now < s.last_seen.saturating_add(self.idle)
    }

    /// Remembers a sign-in under way by its `state`.
    pub fn begin(&self, state: &str, pending: Pending) {
        let mut all = lock(&self.pending);
        let now = pending.created;
        all.retain(|_, p| now < p.created + PENDING_LIFETIME);
        if all.len() >= MAX_PENDING {
            // Anyone may start a sign-in: forgetting the oldest keeps new
            // ones working, where refusing would lock everyone out.
            if let Some(oldest) = all.iter().min_by_key(|(_, p)| p.created).map(|(k, _)| *k) {
                all.remove(&oldest);
            }
        }
        all.insert(digest(state), pending);
    }

    /// The sign-in `state` belongs to, once: a second callback with the
    /// same state finds nothing.
    pub fn finish(&self, state: &str, now: i64) -> Option<Pending> {
        let pending = lock(&self.pending).remove(&digest(state))?;
        (now < pending.created + PENDING_LIFETIME).then_some(pending)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Person {
        Person {
            subject: "s".into(),
            email: Some("ada@example.com".into()),
            claimed: Some("ada@example.com".into()),
            groups: Vec::new(),
        }
    }

    #[test]
    fn a_session_ends_at_its_lifetime_its_idle_time_or_sign_out() {
        let sessions = Sessions::new(Duration::from_secs(100), Duration::from_secs(30));
        let id = sessions.open(ada(), &[1; 32], 0).unwrap();
        assert!(sessions.get(&id, 20).is_some());
        assert!(sessions.get(&id, 45).is_some(), "idle time restarts");
        assert!(sessions.get(&id, 76).is_none(), "idle for 31 s");
        let id = sessions.open(ada(), &[2; 32], 0).unwrap();
        for t in [25, 50, 75] {
            assert!(sessions.get(&id, t).is_some());
        }
        assert!(sessions.get(&id, 100).is_none(), "lifetime over");
        let id = sessions.open(ada(), &[3; 32], 0).unwrap();
        assert!(sessions.close(&id));
        assert!(sessions.get(&id, 1).is_none());
        assert!(sessions.get("forged", 1).is_none());
    }

    #[test]
    fn a_state_is_good_once_and_for_ten_minutes() {
        let sessions = Sessions::new(Duration::from_secs(100), Duration::from_secs(30));
        let pending = |created| Pending {
            nonce: "n".into(),
            verifier: "v".into(),
            return_to: "/".into(),
            created,
        };
        sessions.begin("s1", pending(0));
        assert!(sessions.finish("s1", 10).is_some());
        assert!(sessions.finish("s1", 10).is_none());
        sessions.begin("s2", pending(0));
        assert!(sessions.finish("s2", PENDING_LIFETIME).is_none());
        for i in 0..=MAX_PENDING {
            sessions.begin(&format!("p{i}"), pending(i as i64 % 5));
        }
        assert!(lock(&sessions.pending).len() <= MAX_PENDING);
    }
}
