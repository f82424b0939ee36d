//! OIDC sign-in at the daemon's edge: the config, the identity
//! provider's discovery document and keys fetched over HTTP, browser
//! sessions, and the `/auth/…` routes. What is decided about a token or
//! a person is [`crate::idp::oidc`]'s, pure; this is the I/O around it.
//!
//! * [`config`]: the `oidc:` section;
//! * [`provider`]: discovery, keys (refetched on an unknown key id), the
//!   code exchange;
//! * [`sessions`]: browser sessions and sign-ins under way;
//! * [`routes`]: `/auth/login`, `/auth/callback`, `/auth/logout`;
//! * here: [`Oidc`], what the pages and the API ask — who a cookie or a
//!   bearer JWT is in git, if anyone.

pub mod config;
pub mod provider;
pub mod routes;
pub mod sessions;

pub use config::{OidcConfig, Page, SignInRequired};
pub use provider::{Provider, ProviderError, TokenError};
pub use sessions::Sessions;

use crate::idp::oidc::{to_user, NotInGit, Person};
use crate::spec::units::Name;
use crate::spec::Catalog;
use axum::http::{header, HeaderMap};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Arc;

/// The session cookie over TLS: `__Host-` makes browsers insist on
/// `Secure`, `Path=/` and no `Domain`, so no sibling host can set it.
pub const SECURE_COOKIE: &str = "__Host-lbops_session";
/// The session cookie over plain HTTP (loopback, or a test).
pub const PLAIN_COOKIE: &str = "lbops_session";
/// The cookie that ties a sign-in's callback to the browser that began it.
pub const LOGIN_COOKIE: &str = "lbops_login";
/// The longest cookie value lbops reads.
const MAX_COOKIE_VALUE: usize = 256;

/// Who a signed-in person is, as the trusted policy sees them now.
#[derive(Clone, Debug)]
pub enum SignedIn {
    /// A git User: their roles, exactly as for their signed commits.
    User { user: Name, person: Person },
    /// Vouched for by the provider but no User in git: may view the pages
    /// when `oidc.allow_viewers` says so, and change nothing.
    Viewer { person: Person, why: NotInGit },
}

impl SignedIn {
    /// How the pages name them.
    #[must_use]
    pub fn shown(&self) -> String {
        match self {
            SignedIn::User { user, .. } => format!("user/{user}"),
            SignedIn::Viewer { person, .. } => format!("{} (viewer)", person.shown()),
        }
    }
}

/// OIDC sign-in, running.
#[derive(Debug)]
pub struct Oidc {
    pub provider: Provider,
    pub sessions: Sessions,
    /// What the identity provider took away (SCIM): a person it
    /// deprovisioned is refused.
    pub idp: crate::daemon::idp::IdpHandle,
    random: SystemRandom,
}

impl Oidc {
    pub fn new(
        config: OidcConfig,
        idp: crate::daemon::idp::IdpHandle,
    ) -> Result<Oidc, ProviderError> {
        let secret = config
            .client_secret
            .read()
            .map_err(|e| ProviderError::Bad {
                what: "client secret",
                reason: e.to_string(),
            })?;
        let sessions = Sessions::new(config.session_lifetime, config.session_idle);
        Ok(Oidc {
            provider: Provider::new(Arc::new(config), secret)?,
            sessions,
            idp,
            random: SystemRandom::new(),
        })
    }

    #[must_use]
    pub fn config(&self) -> &OidcConfig {
        self.provider.config()
    }

    /// The session cookie's name.
    #[must_use]
    pub fn cookie_name(&self) -> &'static str {
        if self.config().secure() {
            SECURE_COOKIE
        } else {
            PLAIN_COOKIE
        }
    }

    /// 32 bytes from the system's generator.
    pub(crate) fn random(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // The system generator failing is not something to go on from.
        self.random
            .fill(&mut bytes)
            .expect("the system's random generator failed");
        bytes
    }

    /// The person of the request's session cookie, if it names a live one.
    #[must_use]
    pub fn session_person(&self, headers: &HeaderMap, now: i64) -> Option<Person> {
        let id = cookie(headers, self.cookie_name())?;
        self.sessions.get(id, now).map(|s| s.person)
    }

    /// Who `person` is under `policy` (the trusted one), with what the
    /// identity provider took away as of `idp`.
    pub fn judge(
        &self,
        person: &Person,
        policy: &Catalog,
        idp: &crate::daemon::idp::IdpSnapshot,
    ) -> Result<Name, NotInGit> {
        to_user(policy, person, &self.config().mapping, idp.idp())
    }

    /// As [`Oidc::judge`], for the pages: a person who is nobody in git
    /// is a viewer when the config allows viewers — unless git disabled
    /// them or the directory took them away, which refuses everywhere.
    pub fn signed_in(&self, person: Person, policy: &Catalog) -> Result<SignedIn, NotInGit> {
        match self.judge(&person, policy, &self.idp.snapshot()) {
            Ok(user) => Ok(SignedIn::User { user, person }),
            Err(why @ (NotInGit::Disabled(_) | NotInGit::Deprovisioned(_))) => Err(why),
            Err(why) if self.config().allow_viewers => Ok(SignedIn::Viewer { person, why }),
            Err(why) => Err(why),
        }
    }
}

/// The value of cookie `name` in the request, if sent once and short.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let value = found.next()?;
    // Two cookies of one name: one was planted; trust neither.
    (found.next().is_none() && !value.is_empty() && value.len() <= MAX_COOKIE_VALUE)
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_cookie_is_read_once_and_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lbops_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, PLAIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SECURE_COOKIE), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("lbops_session=def"),
        );
        assert_eq!(cookie(&headers, PLAIN_COOKIE), None, "planted twin");
        let long = format!("lbops_session={}", "x".repeat(300));
        headers.insert(header::COOKIE, HeaderValue::from_str(&long).unwrap());
        assert_eq!(cookie(&headers, PLAIN_COOKIE), None);
    }
}
