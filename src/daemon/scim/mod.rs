//! The SCIM 2.0 endpoints at `/scim/v2` (RFC 7644), the HTTP edge of
//! [`crate::idp::scim`]: the identity provider pushes Users and Groups
//! here with its own bearer token, and lbops keeps them
//! ([`directory`]) for the checks that take access away.
//!
//! * [`call`]: every call — limits, token, the endpoint, one
//!   `scim_call` audit record (no record, no change), one log line;
//! * [`route`]: path and method → what to do;
//! * [`directory`]: the durable directory and its watch.

pub mod call;
pub mod directory;
pub mod route;

pub use directory::{Directory, DirectoryError};

use crate::audit::AuditLog;
use crate::support::clock::Clock;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// Where the endpoints are nested in the daemon's router.
pub const PREFIX: &str = "/scim/v2";

/// The shortest token accepted: a guessable one would let anyone
/// deactivate everyone.
pub const MIN_TOKEN_BYTES: usize = 32;

/// The identity provider's token, as its SHA-256: the token itself is
/// not kept once read.
#[derive(Clone)]
pub struct ScimToken([u8; 32]);

impl std::fmt::Debug for ScimToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScimToken(<sha-256>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "scim: the token is {0} bytes; use at least {MIN_TOKEN_BYTES} random ones, e.g. `openssl rand -hex 32`"
)]
pub struct WeakToken(usize);

impl ScimToken {
    pub fn new(token: &str) -> Result<ScimToken, WeakToken> {
        if token.len() < MIN_TOKEN_BYTES {
            return Err(WeakToken(token.len()));
        }
        Ok(ScimToken(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `presented` is the token, in time that does not depend on
    /// where it differs.
    #[must_use]
    pub fn accepts(&self, presented: &str) -> bool {
        crate::support::constant_time::eq(&self.0, &Sha256::digest(presented.as_bytes()).into())
    }
}

/// What the endpoints work with; cheap to clone.
#[derive(Clone, Debug)]
pub struct ScimState {
    pub token: ScimToken,
    pub directory: Arc<Directory>,
    /// The daemon's audit log (one chain with everything else).
    pub audit: Arc<Mutex<AuditLog>>,
    pub clock: Arc<dyn Clock>,
    /// `scim.url`, else the base is taken from `Host`.
    pub url: Option<String>,
}

/// The endpoints, to be nested under [`PREFIX`]: every path goes to
/// [`call::call`], which routes itself.
pub fn router(state: ScimState) -> axum::Router {
    axum::Router::new().fallback(call::call).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_long_and_compared_by_digest() {
        assert_eq!(ScimToken::new("short").unwrap_err(), WeakToken(5));
        let token = ScimToken::new(&"k".repeat(32)).unwrap();
        assert!(token.accepts(&"k".repeat(32)));
        assert!(!token.accepts(&"k".repeat(33)));
        assert!(!token.accepts(""));
        assert!(!format!("{token:?}").contains("kk"));
    }
}
