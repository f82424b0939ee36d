//! The daemon's API under `/v1/`, on `api.listen` beside the pages: JSON
//! in and out, authenticated with a ServiceAccount's API token
//! (`Authorization: Bearer lbops_…`) checked against the trusted policy.
//!
//! * [`routes`]: the endpoint table the router and the OpenAPI document
//!   share, and the size limits;
//! * [`front_door`](mod@front_door): token, rate limit, audit record and
//!   use counts of every call, refused ones included;
//! * [`reads`]: balancers and pools (`state.read`), with live health;
//! * [`estate`](mod@estate): the whole estate as the page shows it (`state.read`);
//! * [`view`]: the JSON shapes; [`error`]: `{code, message, hint}`;
//! * [`limit`], [`usage`], [`live`]: the token buckets, per-token use,
//!   and the provider's observation the reads show.
//!
//! Writes (a request becomes a signed commit) go through the same front
//! door and answer with the same errors.

pub mod edit;
pub mod error;
mod estate;
mod front_door;
pub mod limit;
pub mod live;
pub mod openapi;
mod reads;
pub mod routes;
pub mod usage;
pub mod view;
pub mod writer;
pub mod writes;

#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use live::{Live, Observe};
pub use routes::{router, Endpoint};
pub use usage::TokenUsage;

use super::metrics::Metrics;
use super::trusted::{Trusted, TrustedView};
use crate::audit::AuditLog;
use crate::authz::{
    authorize, authorize_claimed, authorize_token, holds_action, token_holds_action, Change,
    Denied, Permit,
};
use crate::identity::{Principal, TokenCaller};
use crate::spec::actions::Action;
use crate::spec::units::Name;
use crate::support::clock::Clock;
use limit::RateLimiter;
use std::sync::{Arc, Mutex};

/// What the API works with; cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The trusted commit: its policy judges tokens, its catalog is read.
    pub trusted: Trusted,
    /// What runs, for live health.
    pub live: Arc<Live>,
    /// The daemon's audit log, shared with the reporter (one chain).
    pub audit: Arc<Mutex<AuditLog>>,
    pub limiter: Arc<RateLimiter>,
    /// Where per-token use is counted (`/metrics`).
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// The write endpoints' repository, key and triggers; `None`: reads only.
    pub writer: Option<Arc<writer::Writer>>,
    /// OIDC sign-in: a person's bearer JWT or session cookie; `None`:
    /// API tokens only.
    pub oidc: Option<Arc<crate::daemon::oidc::Oidc>>,
    /// What the identity provider took away: checked on every call.
    pub idp: super::idp::IdpHandle,
    /// The estate's figures and history (`GET /v1/estate`).
    pub estate: super::pages::estate::Sources,
}

/// A person the identity provider vouched for (a bearer JWT or a session
/// cookie) who is a User of the trusted policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonCaller {
    pub user: Name,
    /// The identity provider's `sub`, for the audit record.
    pub subject: String,
    /// The IdP groups the sign-in token claims, for reads
    /// ([`Caller::authorize_read`]).
    pub groups: Vec<String>,
}

/// Who is calling, proven.
#[derive(Clone, Debug)]
pub enum ApiPrincipal {
    /// A ServiceAccount's API token, narrowed by its scopes.
    Token(TokenCaller),
    /// A git User signed in through the identity provider: their roles,
    /// exactly as their own signed commits would be judged.
    Person(PersonCaller),
}

impl ApiPrincipal {
    #[must_use]
    pub fn principal(&self) -> Principal {
        match self {
            ApiPrincipal::Token(token) => token.principal(),
            ApiPrincipal::Person(person) => Principal::User(person.user.clone()),
        }
    }
}

/// An authenticated caller, and the trusted commit it was checked
/// against: the endpoint reads that same commit.
#[derive(Clone, Debug)]
pub struct Caller {
    pub who: ApiPrincipal,
    pub view: Arc<TrustedView>,
    /// The identity provider's directory the call was admitted with; the
    /// endpoint's authorization reads the same one (IdP groups).
    pub idp: super::idp::IdpSnapshot,
}

impl Caller {
    /// May the caller make `change`? A token through its account and
    /// scopes; a person through their User's roles.
    pub fn authorize(&self, change: &Change) -> Result<Permit, Denied> {
        match &self.who {
            ApiPrincipal::Token(token) => {
                authorize_token(&self.view.catalog, self.idp.idp(), token, change)
            }
            ApiPrincipal::Person(person) => authorize(
                &self.view.catalog,
                self.idp.idp(),
                &Principal::User(person.user.clone()),
                change,
            ),
        }
    }

    /// May the caller read as `change` says? As [`Caller::authorize`],
    /// except that a person's sign-in token's `groups` claim counts where
    /// the SCIM directory does not know them: a read happens at once,
    /// while a write is judged again as a commit, without the token.
    pub fn authorize_read(&self, change: &Change) -> Result<Permit, Denied> {
        match &self.who {
            ApiPrincipal::Person(person) => authorize_claimed(
                &self.view.catalog,
                self.idp.idp(),
                &Principal::User(person.user.clone()),
                &person.groups,
                change,
            ),
            ApiPrincipal::Token(_) => self.authorize(change),
        }
    }

    /// May the caller make `action` on anything at all?
    pub fn holds_action(&self, action: &'static Action) -> Result<(), Denied> {
        match &self.who {
            ApiPrincipal::Token(token) => {
                token_holds_action(&self.view.catalog, self.idp.idp(), token, action)
            }
            ApiPrincipal::Person(person) => holds_action(
                &self.view.catalog,
                self.idp.idp(),
                &Principal::User(person.user.clone()),
                action,
            ),
        }
    }

    /// Whom a commit made for this call speaks for (its trailers).
    #[must_use]
    pub fn on_behalf(&self) -> crate::spec::api_commit::OnBehalf {
        use crate::spec::api_commit::OnBehalf;
        match &self.who {
            ApiPrincipal::Token(token) => OnBehalf::Token {
                account: token.account.clone(),
                token: token.id.clone(),
            },
            ApiPrincipal::Person(person) => OnBehalf::User {
                user: person.user.clone(),
            },
        }
    }
}
