//! Serving one HTTP request: route it, then forward, redirect or answer.

use super::pool::{InFlight, PoolState, TargetState};
use super::retry::{is_idempotent, Attempts, Failure, GiveUp, RequestBody, UpstreamBody};
use super::routing::{RequestHead, Routed};
use super::runtime::{ServedListener, Snapshot};
use super::shards::PerWorker;
use crate::spec::kinds::loadbalancer::{Action, FixedResponse, Forward, Redirect};
use crate::spec::kinds::pool::{Algorithm, HashKey};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Errors a response body can end with: the upstream's, or a drain cut.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = BoxBody<Bytes, BodyError>;
pub type Upstream = Client<HttpConnector, UpstreamBody>;

/// What a request needs besides itself.
pub struct RequestContext<'a> {
    pub snapshot: &'a Snapshot,
    pub listener: &'a ServedListener,
    pub client_addr: SocketAddr,
    pub upstream: &'a Upstream,
    pub tls: bool,
    pub request_ids: &'a RequestIds,
    pub stats: &'a super::stats::RequestStats,
}

/// Request ids: unique per process run, cheap to make.
#[derive(Debug)]
pub struct RequestIds {
    seed: u64,
    /// Each worker counts its own: ids are `count * workers + worker`.
    next: PerWorker<AtomicU64>,
}

impl RequestIds {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: PerWorker::default(),
        }
    }

    fn next(&self) -> String {
        String::from_utf8_lossy(&self.next_bytes()).into_owned()
    }

    /// The next id, `{seed:016x}-{count:08x}`, without formatting machinery.
    #[must_use]
    pub fn next_bytes(&self) -> [u8; 25] {
        let (worker, next) = self.next.here_numbered();
        let mine = next.fetch_add(1, Ordering::Relaxed);
        let count = mine
            .wrapping_mul(self.next.len() as u64)
            .wrapping_add(worker as u64);
        let mut id = [b'-'; 25];
        hex_into(&mut id[..16], self.seed);
        hex_into(&mut id[17..], count & 0xffff_ffff);
        id
    }
}

/// Writes `value`'s low hex digits into `out`, most significant first.
fn hex_into(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1),
/// as names rather than strings: removing by a string parses it first,
/// 16 times a proxied request.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Handles one request end to end; never fails (errors become responses).
pub async fn serve(ctx: RequestContext<'_>, request: Request<Incoming>) -> Response<ProxyBody> {
    let host = request_host(&request);
    let action = {
        let headers = request.headers();
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let head = RequestHead {
            method: request.method().as_str(),
            host: &host,
            path: request.uri().path(),
            header: &lookup,
        };
        ctx.listener.router.route(&head)
    };
    let Some(Routed {
        action,
        retries_after_send,
    }) = action
    else {
        return text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no route matches this request\n",
        );
    };
    match action {
        Action::FixedResponse(fixed) => fixed_response(fixed),
        Action::Redirect(redirect) => redirect_response(redirect, &host, request.uri()),
        Action::Forward(forward) => {
            forward_request(&ctx, forward, retries_after_send, &host, request).await
        }
    }
}

/// The host a request is for, without a port: `Host`, else the URI's.
fn request_host<B>(request: &Request<B>) -> String {
    let raw = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or_default();
    strip_port(raw).to_ascii_lowercase()
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn text(status: StatusCode, content_type: &str, body: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn fixed_response(fixed: &FixedResponse) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(fixed.status.value).unwrap_or(StatusCode::OK);
    text(status, &fixed.content_type, &fixed.body)
}

/// Where a redirect sends a request for `host`, `path` and `query`.
pub fn redirect_location(redirect: &Redirect, host: &str, path: &str, query: &str) -> String {
    redirect
        .to
        .value
        .replace("{host}", host)
        .replace("{path}", path)
        .replace("{query}", query)
}

fn redirect_response(redirect: &Redirect, host: &str, uri: &Uri) -> Response<ProxyBody> {
    let location = redirect_location(redirect, host, uri.path(), uri.query().unwrap_or_default());
    let status = StatusCode::from_u16(redirect.status.value).unwrap_or(StatusCode::FOUND);
    let mut response = text(status, "text/plain; charset=utf-8", "");
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "cannot redirect this request\n",
        ),
    }
}

/// Sends a request to a target of the forward action's pool, and to
/// another one when that one fails it in a way that allows a retry (see
/// `retry`): the response is the first answer a target gives, or a 502.
///
/// The first attempt is the whole of the success path; what a retry
/// needs is kept beside it (the client's head, the body shared rather
/// than copied, and only where there is another target), and the retries
/// run in their own future, allocated only when an attempt failed.
async fn forward_request(
    ctx: &RequestContext<'_>,
    forward: &Forward,
    retries_after_send: u32,
    host: &str,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(pool) = choose_pool(ctx.snapshot, ctx.listener, forward) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "no pool can take this request\n",
        );
    };
    let headers = request.headers();
    let key = hash_key(
        &pool.spec.algorithm,
        |name| headers.get(name).map(HeaderValue::as_bytes),
        ctx.client_addr,
    );
    let Some(target) = pool.pick(key.as_deref()) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "no healthy target\n",
        );
    };
    let guard = target.start_request();
    let path_and_query = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/"));
    // The client's head as it came: hyper's client consumes the request
    // even when it never sends it, and a retry makes the forwarding
    // headers again.
    let can_retry = pool.has_several_targets();
    let spare = can_retry.then(|| SpareHead::of(&request, &path_and_query));
    let Ok(uri) = upstream_uri(&target, path_and_query) else {
        return text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "bad request target\n",
        );
    };
    *request.uri_mut() = uri;
    *request.version_mut() = hyper::Version::HTTP_11;
    let request_id = prepare_upstream_headers(ctx, host, request.headers_mut());
    let after_send = if is_idempotent(request.method()) {
        retries_after_send
    } else {
        0
    };
    let mut body = None;
    let request = request.map(|incoming| {
        let mut shared = RequestBody::new(incoming, can_retry, after_send > 0);
        let first = shared.attempt();
        body = Some(shared);
        first
    });
    let mut drained = target.drained();
    let answer = tokio::select! {
        answer = ctx.upstream.request(request) => answer,
        () = drained.as_mut() => return drain_cut(),
    };
    let error = match answer {
        Ok(response) => {
            target.record_outcome(!response.status().is_server_error());
            guard.answered(response.status().as_u16());
            return forward_response(response, &request_id, drained, guard);
        }
        Err(error) => error,
    };
    guard.answered(StatusCode::BAD_GATEWAY.as_u16());
    drop(guard);
    target.record_outcome(false);
    ctx.stats.upstream_error();
    let (Some(spare), Some(body)) = (spare, body) else {
        return bad_gateway();
    };
    let retrying = Retrying {
        pool: &pool,
        key: key.as_deref(),
        host,
        spare,
        body,
        attempts: Attempts::new(after_send),
        tried: vec![target],
        request_id,
    };
    Box::pin(retrying.run(ctx, Failure::of(&error))).await
}

fn drain_cut() -> Response<ProxyBody> {
    text(
        StatusCode::BAD_GATEWAY,
        "text/plain; charset=utf-8",
        "the target was removed and its draining timeout passed\n",
    )
}

/// A request a target failed, and what it takes to send it again.
struct Retrying<'a> {
    pool: &'a PoolState,
    key: Option<&'a [u8]>,
    host: &'a str,
    spare: SpareHead,
    body: RequestBody,
    attempts: Attempts,
    /// The targets it went to, the one that failed it last.
    tried: Vec<Arc<TargetState>>,
    request_id: String,
}

impl Retrying<'_> {
    /// Tries other targets after `failure`, while the request may go to
    /// one: the first answer, or a 502.
    async fn run(mut self, ctx: &RequestContext<'_>, mut failure: Failure) -> Response<ProxyBody> {
        loop {
            let retry = Retry {
                pool: self.pool,
                key: self.key,
                tried: &self.tried,
            };
            let target = match retry.after(failure, &mut self.attempts, self.body.replayable()) {
                Ok(next) => next,
                Err(NoRetry::BudgetExhausted) => {
                    ctx.stats.retry_budget_exhausted();
                    return bad_gateway();
                }
                Err(NoRetry::GiveUp(why)) => {
                    tracing::debug!(?failure, ?why, "a failed request is not retried");
                    return bad_gateway();
                }
                Err(NoRetry::NoOtherTarget) => return bad_gateway(),
            };
            ctx.stats.retry(failure);
            let guard = target.start_request();
            let Ok(uri) = upstream_uri(&target, self.spare.path_and_query.clone()) else {
                return bad_gateway();
            };
            let mut parts = self.spare.parts(ctx, self.host, &self.request_id);
            parts.uri = uri;
            let request = Request::from_parts(parts, self.body.attempt());
            let mut drained = target.drained();
            let answer = tokio::select! {
                answer = ctx.upstream.request(request) => answer,
                () = drained.as_mut() => return drain_cut(),
            };
            match answer {
                Ok(response) => {
                    target.record_outcome(!response.status().is_server_error());
                    guard.answered(response.status().as_u16());
                    return forward_response(response, &self.request_id, drained, guard);
                }
                Err(error) => {
                    guard.answered(StatusCode::BAD_GATEWAY.as_u16());
                    drop(guard);
                    target.record_outcome(false);
                    ctx.stats.upstream_error();
                    failure = Failure::of(&error);
                    self.tried.push(target);
                }
            }
        }
    }
}

/// Where a request that failed may go next.
pub struct Retry<'a> {
    pub pool: &'a PoolState,
    pub key: Option<&'a [u8]>,
    /// The targets it went to, the one that failed it last.
    pub tried: &'a [Arc<TargetState>],
}

/// Why a failed request ends in a 502.
#[derive(Debug)]
pub enum NoRetry {
    GiveUp(GiveUp),
    /// Every target of the pool was tried, or is ejected or unhealthy.
    NoOtherTarget,
    /// Retries took the pool's whole budget.
    BudgetExhausted,
}

impl Retry<'_> {
    /// The next target, its retry taken from the pool's budget, or why
    /// the request has no next attempt.
    pub fn after(
        &self,
        failure: Failure,
        attempts: &mut Attempts,
        replayable: bool,
    ) -> Result<Arc<TargetState>, NoRetry> {
        attempts
            .retry(failure, replayable)
            .map_err(NoRetry::GiveUp)?;
        let next = self
            .pool
            .pick_other_than(self.key, self.tried)
            .ok_or(NoRetry::NoOtherTarget)?;
        self.pool
            .admit_retry()
            .map_err(|_| NoRetry::BudgetExhausted)?;
        Ok(next)
    }
}

/// A client's request head, kept for a retry as a plain list: one
/// allocation, and each value shared with the request's read buffer
/// rather than copied. The forwarding headers the proxy adds are made
/// again for the retry (copying them would allocate once more each).
struct SpareHead {
    method: hyper::Method,
    path_and_query: hyper::http::uri::PathAndQuery,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SpareHead {
    fn of<B>(request: &Request<B>, path_and_query: &hyper::http::uri::PathAndQuery) -> Self {
        Self {
            method: request.method().clone(),
            path_and_query: path_and_query.clone(),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// The head of a retry, with the first attempt's request id; the URI
    /// is set per target.
    fn parts(
        &self,
        ctx: &RequestContext<'_>,
        host: &str,
        request_id: &str,
    ) -> hyper::http::request::Parts {
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.version = hyper::Version::HTTP_11;
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.entry("x-request-id").or_insert(id);
        }
        prepare_upstream_headers(ctx, host, &mut headers);
        parts.headers = headers;
        parts
    }
}

#[inline]
fn upstream_uri(
    target: &TargetState,
    path_and_query: hyper::http::uri::PathAndQuery,
) -> Result<Uri, hyper::http::Error> {
    Uri::builder()
        .scheme("http")
        .authority(target.authority.clone())
        .path_and_query(path_and_query)
        .build()
}

fn bad_gateway() -> Response<ProxyBody> {
    text(
        StatusCode::BAD_GATEWAY,
        "text/plain; charset=utf-8",
        "the upstream target did not answer\n",
    )
}

/// A target's response as the client gets it: hop-by-hop headers gone,
/// the request id added, the request counted in flight until its body
/// ends.
fn forward_response(
    response: Response<Incoming>,
    request_id: &str,
    drained: super::pool::Drained,
    guard: InFlight,
) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.entry("x-request-id").or_insert(value);
    }
    Response::from_parts(
        parts,
        Tracked {
            inner: body,
            drained,
            _guard: guard,
        }
        .boxed(),
    )
}

/// A 503 with a short reason.
#[must_use]
pub fn unavailable(reason: &str) -> Response<ProxyBody> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        reason,
    )
}

/// Picks a pool of a forward action by weight, taking turns through the
/// listener's counter so that a 3:1 split is exactly 3:1.
pub fn choose_pool(
    snapshot: &Snapshot,
    listener: &ServedListener,
    forward: &Forward,
) -> Option<Arc<super::pool::PoolState>> {
    choose_pool_here(snapshot, listener, forward).cloned()
}

/// [`choose_pool`], borrowed from the snapshot.
pub fn choose_pool_here<'s>(
    snapshot: &'s Snapshot,
    listener: &ServedListener,
    forward: &Forward,
) -> Option<&'s Arc<super::pool::PoolState>> {
    let total: u64 = forward
        .pools
        .iter()
        .map(|p| u64::from(p.weight.value))
        .sum();
    let mut slot = super::pool::interleave(listener.next_turn(), total);
    let chosen = forward.pools.iter().find(|p| {
        let w = u64::from(p.weight.value);
        if slot < w {
            true
        } else {
            slot -= w;
            false
        }
    })?;
    snapshot.pools.get(chosen.pool.value.as_str())
}

/// The consistent-hash key of a request, when its pool's algorithm uses
/// one; `header` looks a request header up by name.
pub fn hash_key<'a>(
    algorithm: &Algorithm,
    header: impl Fn(&str) -> Option<&'a [u8]>,
    client: SocketAddr,
) -> Option<Vec<u8>> {
    match algorithm {
        Algorithm::ConsistentHash(HashKey::Header(name)) => {
            header(name.as_str()).map(<[u8]>::to_vec)
        }
        Algorithm::ConsistentHash(HashKey::SourceIp) => Some(client.ip().to_string().into_bytes()),
        _ => None,
    }
}

/// Strips hop-by-hop headers, adds `X-Forwarded-*` and a request id
/// (kept when the client sent one); returns the id.
fn prepare_upstream_headers(
    ctx: &RequestContext<'_>,
    host: &str,
    headers: &mut HeaderMap,
) -> String {
    strip_hop_by_hop(headers);
    let client_ip = ctx.client_addr.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {client_ip}"),
        None => client_ip,
    };
    let proto = if ctx.tls { "https" } else { "http" };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-forwarded-for", &forwarded_for);
    set("x-forwarded-proto", proto);
    set("x-forwarded-host", host);
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            let id = ctx.request_ids.next();
            if let Ok(value) = HeaderValue::from_str(&id) {
                headers.insert(HeaderName::from_static("x-request-id"), value);
            }
            id
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// A response body that keeps its request counted as in flight until the
/// last byte is sent (least-requests and draining rely on it), and that is
/// cut when its target's draining timeout passes.
struct Tracked {
    inner: Incoming,
    drained: super::pool::Drained,
    _guard: InFlight,
}

/// Why a response stopped early.
#[derive(Debug, thiserror::Error)]
#[error("the target was removed and its draining timeout passed")]
struct DrainTimeout;

impl Body for Tracked {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => match this.drained.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(DrainTimeout)))),
                Poll::Pending => Poll::Pending,
            },
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("www.example.test:8443"), "www.example.test");
        assert_eq!(strip_port("www.example.test"), "www.example.test");
        assert_eq!(strip_port("[::1]:8080"), "::1");
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
    }

    #[test]
    fn request_ids_counted_by_each_worker_never_repeat() {
        let ids = std::sync::Arc::new(RequestIds::new(0xabc));
        let threads: Vec<_> = (0..3)
            .map(|worker| {
                let ids = ids.clone();
                std::thread::spawn(move || {
                    super::super::shards::enter_worker(worker);
                    (0..500).map(|_| ids.next_bytes()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            for id in thread.join().unwrap() {
                let id = String::from_utf8(id.to_vec()).unwrap();
                assert!(id.starts_with("0000000000000abc-"), "{id}");
                assert!(all.insert(id.clone()), "{id} came twice");
            }
        }
        assert_eq!(all.len(), 1500);
    }
}
