//! The daemon's own HTTP pages and API (read-only): `GET /` lists the
//! recent commits with their statuses, decisions and drift;
//! `GET /commits/{sha}` is the page each status links to (who, what
//! changed, allowed or denied and why, the plan and its result);
//! `GET /estate` shows every balancer as it runs, with live figures,
//! drift and the commits that changed it ([`estate`]);
//! `GET /tokens` lists the trusted policy's API tokens with their use,
//! flagging those to look at ([`tokens`]);
//! `GET /healthz`, `GET /readyz` and `GET /metrics` (Prometheus text).
//! With OIDC configured, the pages `oidc.require_sign_in` names need a
//! signed-in person ([`sign_in`]), and every page says who is signed in.

pub mod estate;
pub(crate) mod html;
pub mod render;
mod replicas;
mod routes;
mod sign_in;
pub mod tokens;

pub use routes::{router, CONTENT_SECURITY_POLICY, METRICS_CONTENT_TYPE};

use crate::daemon::journal::Journal;
use crate::daemon::metrics::Metrics;
use crate::daemon::readiness::Readiness;
use crate::daemon::trusted::Trusted;
use crate::support::clock::Clock;
use std::future::Future;
use std::sync::Arc;

/// What the pages read: the daemon's journal and counters, and whether
/// it is ready (`/readyz`).
#[derive(Clone, Debug)]
pub struct PagesState {
    pub journal: Arc<Journal>,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<Readiness>,
    /// What `/metrics` counts ages from, and the tokens page's "now".
    pub clock: Arc<dyn Clock>,
    /// The trusted commit, whose policy's tokens `/tokens` lists.
    pub trusted: Trusted,
    /// Unix seconds the daemon started at: token use is counted from then.
    pub started: i64,
    /// OIDC sign-in; `None`: the pages are open to whoever reaches them.
    pub oidc: Option<Arc<crate::daemon::oidc::Oidc>>,
    /// What the identity provider took away: `/tokens` marks the tokens
    /// of deprovisioned owners.
    pub idp: crate::daemon::idp::IdpHandle,
    /// The data-plane nodes, as the provider last saw them: a table on
    /// the index, and series in `/metrics`.
    pub nodes: tokio::sync::watch::Receiver<crate::provider::embedded::FleetStatus>,
    /// Replicas on etcd: this replica's view; `None` for a daemon alone.
    pub cluster: Option<Arc<crate::daemon::replica::ClusterView>>,
    /// What runs, for the estate page; `None`: no provider to observe.
    pub live: Option<Arc<crate::daemon::api::Live>>,
    /// The estate's figures and history.
    pub estate: estate::Sources,
}

/// Serves `router` (the pages, with the API nested under `/v1`) on
/// `listener` until `shutdown` completes (open connections are then let
/// finish). Handlers see the peer's address (`ConnectInfo`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests;
