//! The routes: the HTML pages, the probes and `/metrics`. Read-only:
//! every route is a GET, and nothing here changes the daemon. With OIDC
//! configured, each goes through the [sign-in gate](super::sign_in).

use super::{render, PagesState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Pages: inline style only, no scripts, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

pub fn router(state: PagesState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/commits/{sha}", get(commit))
        .route("/tokens", get(tokens))
        .route("/estate", get(super::estate::page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::sign_in::gate,
        ))
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn index(State(state): State<PagesState>) -> Html<String> {
    let nodes = state.nodes.borrow().clone();
    let replicas = state
        .cluster
        .as_ref()
        .map(|view| super::replicas::section(&view.replica, &view.facts()));
    Html(render::index(
        &state.journal.recent(crate::daemon::journal::REMEMBERED),
        &nodes,
        replicas.as_deref(),
    ))
}

async fn commit(State(state): State<PagesState>, Path(sha): Path<String>) -> Response {
    match state.journal.get(&sha) {
        Some(record) => Html(render::commit(&record)).into_response(),
        None => (StatusCode::NOT_FOUND, Html(render::not_found(&sha))).into_response(),
    }
}

async fn tokens(State(state): State<PagesState>) -> Html<String> {
    let now = state.clock.unix_seconds();
    let view = state.trusted.load();
    let rows = view.as_ref().map_or_else(Vec::new, |view| {
        let idp = state.idp.snapshot();
        super::tokens::rows(&view.catalog, idp.idp(), &state.metrics.tokens, now)
    });
    let commit = view.as_ref().map(|view| view.commit.to_string());
    Html(render::tokens(&rows, commit.as_deref(), now, state.started))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<PagesState>) -> Response {
    match state.ready.why_not() {
        None => "ready\n".into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<PagesState>) -> Response {
    let now = state.clock.unix_seconds();
    (
        [(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        )],
        state.metrics.render(now) + &crate::daemon::nodes::metrics(&state.nodes.borrow()),
    )
        .into_response()
}
