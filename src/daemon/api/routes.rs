//! The endpoints, as one table: the router is built from [`Endpoint::ALL`]
//! and nothing else, and a test holds the OpenAPI document to the same
//! table (paths, methods and status codes), so the two cannot drift.

use super::error::ApiError;
use super::front_door::front_door;
use super::{estate, openapi, reads, writes, ApiState};
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

/// Where the API is nested in the daemon's router.
pub const PREFIX: &str = "/v1";

/// The largest request body the API reads (the write endpoints' JSON).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most request-header bytes (names and values) a call may send.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// One endpoint under `/v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    OpenApi,
    Balancers,
    Balancer,
    Pools,
    Pool,
    /// A pool's targets with live health.
    ListTargets,
    AddTarget,
    RemoveTarget,
    DrainTarget,
    SetWeights,
    /// A route's forward split.
    SetForward,
    /// Every balancer, route, pool and target with live figures.
    Estate,
}

impl Endpoint {
    pub const ALL: [Endpoint; 12] = [
        Endpoint::OpenApi,
        Endpoint::Balancers,
        Endpoint::Balancer,
        Endpoint::Pools,
        Endpoint::Pool,
        Endpoint::ListTargets,
        Endpoint::AddTarget,
        Endpoint::RemoveTarget,
        Endpoint::DrainTarget,
        Endpoint::SetWeights,
        Endpoint::SetForward,
        Endpoint::Estate,
    ];

    /// The path below `/v1`, as the router and the document write it.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::OpenApi => "/openapi.json",
            Endpoint::Balancers => "/balancers",
            Endpoint::Balancer => "/balancers/{name}",
            Endpoint::Pools => "/pools",
            Endpoint::Pool => "/pools/{name}",
            Endpoint::ListTargets | Endpoint::AddTarget => "/pools/{name}/targets",
            Endpoint::RemoveTarget => "/pools/{name}/targets/{address}",
            Endpoint::DrainTarget => "/pools/{name}/targets/{address}/drain",
            Endpoint::SetWeights => "/pools/{name}/weights",
            Endpoint::SetForward => "/balancers/{name}/routes/{route}/forward",
            Endpoint::Estate => "/estate",
        }
    }

    #[must_use]
    pub fn method(self) -> Method {
        match self {
            Endpoint::AddTarget | Endpoint::DrainTarget => Method::POST,
            Endpoint::RemoveTarget => Method::DELETE,
            Endpoint::SetWeights | Endpoint::SetForward => Method::PUT,
            Endpoint::OpenApi
            | Endpoint::Balancers
            | Endpoint::Balancer
            | Endpoint::Pools
            | Endpoint::Pool
            | Endpoint::ListTargets
            | Endpoint::Estate => Method::GET,
        }
    }

    /// Whether it answers without a token (the document only).
    #[must_use]
    pub fn public(self) -> bool {
        self == Endpoint::OpenApi
    }

    /// Every status it answers with (besides 405, 413 and 431, which any
    /// path may answer before an endpoint is reached).
    #[must_use]
    pub fn statuses(self) -> &'static [u16] {
        match self {
            Endpoint::OpenApi => &[200, 429, 503],
            Endpoint::Balancers | Endpoint::Pools | Endpoint::Estate => &[200, 401, 403, 429, 503],
            Endpoint::Balancer | Endpoint::Pool | Endpoint::ListTargets => {
                &[200, 401, 403, 404, 429, 503]
            }
            Endpoint::AddTarget
            | Endpoint::RemoveTarget
            | Endpoint::DrainTarget
            | Endpoint::SetWeights
            | Endpoint::SetForward => &[
                200, 202, 400, 401, 403, 404, 409, 422, 429, 500, 501, 502, 503,
            ],
        }
    }

    fn handler(self) -> MethodRouter<ApiState> {
        match self {
            Endpoint::OpenApi => get(openapi::document),
            Endpoint::Balancers => get(reads::balancers),
            Endpoint::Balancer => get(reads::balancer),
            Endpoint::Pools => get(reads::pools),
            Endpoint::Pool => get(reads::pool),
            Endpoint::ListTargets => get(reads::pool_targets),
            Endpoint::AddTarget => post(writes::add_target_call),
            Endpoint::RemoveTarget => delete(writes::remove_target_call),
            Endpoint::DrainTarget => post(writes::drain_target_call),
            Endpoint::SetWeights => put(writes::set_weights_call),
            Endpoint::SetForward => put(writes::set_forward_call),
            Endpoint::Estate => get(estate::estate),
        }
    }
}

/// The API, to be nested under [`PREFIX`]: every call goes through the
/// [front door](front_door) (limits, token, rate, audit), unknown paths and
/// methods included.
pub fn router(state: ApiState) -> Router {
    Endpoint::ALL
        .iter()
        .fold(Router::new(), |router, e| {
            router.route(e.path(), e.handler())
        })
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            front_door,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::NoRoute
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
