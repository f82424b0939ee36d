//! The daemon's API under `/v1/`, on `api.listen` beside the pages: JSON
//! in and out, authenticated with a ServiceAccount's API token
//! (`Authorization: Bearer lbops_…`) checked against the trusted policy.
//!
//! * [`routes`]: the endpoint table the router and the OpenAPI document
//!   share, and the size limits;
//! * [`front_door`](mod@front_door): token, rate limit, audit record and
//!   use counts of every call, refused ones included;
//! * [`reads`]: balancers and pools (`state.read`), with live health;
//! * [`view`]: the JSON shapes; [`error`]: `{code, message, hint}`;
//! * [`limit`], [`usage`], [`live`]: the token buckets, per-token use,
//!   and the provider's observation the reads show.
//!
//! Writes (a request becomes a signed commit) go through the same front
//! door and answer with the same errors.

pub mod edit;
pub mod error;
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
use crate::identity::TokenCaller;
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
    /// What the identity provider took away: checked on every call.
    pub idp: super::idp::IdpHandle,
}

/// An authenticated caller, and the trusted commit it was checked
/// against: the endpoint reads that same commit.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: TokenCaller,
    pub view: Arc<TrustedView>,
    /// The identity provider's directory the call was admitted with; the
    /// endpoint's authorization reads the same one (IdP groups).
    pub idp: super::idp::IdpSnapshot,
}
