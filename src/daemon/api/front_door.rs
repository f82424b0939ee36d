//! What every call to `/v1` goes through, answered or refused: size
//! limits, the caller proven (an `lbops_…` API token checked against the
//! trusted policy; with OIDC configured, also the identity provider's JWT
//! as a bearer, or a sign-in session cookie, each mapped to a git User),
//! the rate limit, then the endpoint; and after it, one `api_call` record in the
//! audit log (no record, no answer), the token's use counted, one log
//! line. The token itself is never logged, recorded or echoed: only its
//! public id.

use super::error::{ApiError, Refusal};
use super::limit::Spender;
use super::routes::{Endpoint, MAX_BODY_BYTES, MAX_HEADER_BYTES, PREFIX};
use super::{ApiPrincipal, ApiState, Caller, PersonCaller};
use crate::audit::{AuditEvent, EventKind};
use crate::identity::{authenticate, TokenCaller, TokenRefused};
use crate::spec::material::api_token::TokenId;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Instant;

/// The actor of calls that proved no identity.
pub const ANONYMOUS: &str = "anonymous";

/// How much of a path the audit record and the log keep.
const MAX_RECORDED_PATH: usize = 256;

/// Who called, as far as the front door could tell.
enum Who {
    /// No token was needed, or none usable was given.
    Anonymous,
    /// A token of the policy was presented but refused (wrong secret,
    /// expired): its id, unproven.
    Claimed(TokenId),
    Token(Box<TokenCaller>),
    /// A person the identity provider vouched for, as their git User.
    Person(Box<PersonCaller>),
    /// A person the identity provider vouched for, refused (no git User,
    /// deprovisioned): their subject, for the audit record.
    Refused(String),
}

impl Who {
    fn actor(&self) -> String {
        match self {
            Who::Anonymous => ANONYMOUS.to_owned(),
            Who::Claimed(id) => format!("{ANONYMOUS} (token {id} refused)"),
            Who::Token(caller) => caller.principal().to_string(),
            Who::Person(person) => format!("user/{} (oidc)", person.user),
            Who::Refused(subject) => format!("{ANONYMOUS} (oidc subject {subject} refused)"),
        }
    }

    /// The identity provider's subject of a person, proven or refused.
    fn subject(&self) -> Option<&str> {
        match self {
            Who::Person(person) => Some(&person.subject),
            Who::Refused(subject) => Some(subject),
            Who::Anonymous | Who::Claimed(_) | Who::Token(_) => None,
        }
    }

    fn token_id(&self) -> Option<&TokenId> {
        match self {
            Who::Anonymous | Who::Person(_) | Who::Refused(_) => None,
            Who::Claimed(id) => Some(id),
            Who::Token(caller) => Some(&caller.id),
        }
    }
}

pub(super) async fn front_door(
    State(api): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
    let method = request.method().clone();
    let path = recorded_path(&format!("{PREFIX}{}", request.uri().path()));
    let public = Endpoint::ALL
        .iter()
        .any(|e| e.public() && e.path() == request.uri().path());
    let allow = allowed_methods(request.uri().path());
    let now = api.clock.unix_seconds();
    let (who, mut response) = match admit(&api, request.headers(), public, peer, now).await {
        Err((who, refused)) => (who, refused.into_response()),
        Ok(None) => (Who::Anonymous, next.run(request).await),
        Ok(Some(caller)) => {
            let who = match &caller.who {
                ApiPrincipal::Token(token) => Who::Token(Box::new(token.clone())),
                ApiPrincipal::Person(person) => Who::Person(Box::new(person.clone())),
            };
            request.extensions_mut().insert(caller);
            (who, next.run(request).await)
        }
    };
    let refusal = response.extensions().get::<Refusal>().cloned();
    let commit = response
        .extensions()
        .get::<super::writer::Committed>()
        .map(|c| c.0.clone());
    let status = response.status();
    let event = AuditEvent::new(
        EventKind::ApiCall,
        who.actor(),
        refusal.as_ref().map_or("ok", |r| r.code),
    )
    .with_detail(serde_json::json!({
        "token_id": who.token_id().map(TokenId::as_str),
        "oidc_subject": who.subject(),
        "peer": peer.to_string(),
        "method": method.as_str(),
        "path": path,
        "status": status.as_u16(),
        "reason": refusal.as_ref().map(|r| r.reason.as_str()),
        "commit": commit.as_deref(),
    }));
    let at = time::OffsetDateTime::from(api.clock.now());
    let recorded = crate::daemon::audit_append::append(&api.audit, event, at).await;
    if let Err(error) = recorded {
        tracing::error!(%error, "api: cannot write the audit log; the call is refused");
        response = ApiError::AuditUnavailable.into_response();
    }
    api.metrics.tokens.record(
        who.token_id(),
        status.is_client_error() || status.is_server_error(),
        now,
        peer,
    );
    tracing::info!(
        token_id = who.token_id().map(TokenId::as_str),
        actor = %who.actor(),
        %peer,
        method = method.as_str(),
        path,
        status = response.status().as_u16(),
        outcome = refusal.as_ref().map_or("ok", |r| r.code),
        commit,
        "api call"
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if response.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        if let Ok(allow) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    response
}

/// The methods the endpoints at `path` (below `/v1`) answer, for `Allow`.
fn allowed_methods(path: &str) -> String {
    let matches = |template: &str| {
        let (mut want, mut got) = (template.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w == g || (w.starts_with('{') && !g.is_empty()) => {}
                _ => return false,
            }
        }
    };
    Endpoint::ALL
        .iter()
        .filter(|e| matches(e.path()))
        .map(|e| e.method().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Limits, token and rate: the caller, `None` for a public endpoint, or
/// the refusal and who it is about.
async fn admit(
    api: &ApiState,
    headers: &HeaderMap,
    public: bool,
    peer: SocketAddr,
    now: i64,
) -> Result<Option<Caller>, (Who, ApiError)> {
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err((Who::Anonymous, ApiError::HeadersTooLarge(MAX_HEADER_BYTES)));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
        return Err((Who::Anonymous, ApiError::BodyTooLarge(MAX_BODY_BYTES)));
    }
    let by_peer = || {
        api.limiter
            .take(&Spender::Peer(peer.ip()), Instant::now())
            .map_err(|retry_after| ApiError::RateLimited { retry_after })
    };
    if public {
        by_peer().map_err(|e| (Who::Anonymous, e))?;
        return Ok(None);
    }
    let Some(view) = api.trusted.load() else {
        return Err((Who::Anonymous, ApiError::NotReady));
    };
    let presented = match (bearer(headers), &api.oidc) {
        (Ok(token), _) => token,
        // No bearer: a browser's sign-in session may stand in for one.
        (Err(ApiError::MissingToken), Some(oidc)) => {
            let Some(person) = oidc.session_person(headers, now) else {
                by_peer().map_err(|e| (Who::Anonymous, e))?;
                return Err((Who::Anonymous, ApiError::MissingToken));
            };
            return admit_person(api, oidc, person, view, peer);
        }
        (Err(refused), _) => {
            by_peer().map_err(|e| (Who::Anonymous, e))?;
            return Err((Who::Anonymous, refused));
        }
    };
    if let Some(oidc) = api.oidc.as_ref().filter(|_| !is_lbops_token(presented)) {
        by_peer().map_err(|e| (Who::Anonymous, e))?;
        let claims = oidc
            .provider
            .check(presented, now, None)
            .await
            .map_err(|e| match e {
                crate::daemon::oidc::TokenError::Refused(refused) => {
                    (Who::Anonymous, ApiError::IdpToken(refused))
                }
                crate::daemon::oidc::TokenError::Provider(error) => {
                    tracing::warn!(%error, "api: cannot check an identity provider token");
                    (Who::Anonymous, ApiError::IdpUnavailable)
                }
            })?;
        let person = crate::idp::oidc::Person::of(&claims, &oidc.config().mapping);
        return admit_person(api, oidc, person, view, peer);
    }
    match authenticate(&view.catalog, presented, now) {
        Ok(token) => {
            api.limiter
                .take(&Spender::Token(token.id.clone()), Instant::now())
                .map_err(|retry_after| {
                    (
                        Who::Token(Box::new(token.clone())),
                        ApiError::RateLimited { retry_after },
                    )
                })?;
            // The identity provider takes access away at once: checked on
            // every call against its last push.
            let idp = api.idp.snapshot();
            crate::idp::standing_of(idp.idp(), &view.catalog, &token.principal()).map_err(|d| {
                (
                    Who::Token(Box::new(token.clone())),
                    ApiError::Deprovisioned(Box::new(d)),
                )
            })?;
            Ok(Some(Caller {
                who: ApiPrincipal::Token(token),
                view,
                idp,
            }))
        }
        Err(refused) => {
            // Only ids of the policy are named: an invented one is anonymous.
            let who = match &refused {
                TokenRefused::WrongSecret(id) | TokenRefused::Expired { id, .. } => {
                    Who::Claimed(id.clone())
                }
                TokenRefused::Malformed(_) | TokenRefused::UnknownId(_) => Who::Anonymous,
            };
            if let Err(e) = by_peer() {
                return Err((who, e));
            }
            Err((who, ApiError::Token(refused)))
        }
    }
}

/// Whether a bearer is one of lbops' own API tokens rather than an
/// identity provider's JWT.
fn is_lbops_token(presented: &str) -> bool {
    presented.starts_with(crate::spec::material::api_token::PREFIX)
}

/// A person the identity provider vouched for, as their git User under
/// the trusted policy — or refused: the provider can take access away,
/// never grant it, so a person who is no User (or a disabled or
/// deprovisioned one) gets nothing from the API. Rate-limited per peer.
fn admit_person(
    api: &ApiState,
    oidc: &crate::daemon::oidc::Oidc,
    person: crate::idp::oidc::Person,
    view: std::sync::Arc<crate::daemon::trusted::TrustedView>,
    peer: SocketAddr,
) -> Result<Option<Caller>, (Who, ApiError)> {
    let idp = api.idp.snapshot();
    let user = oidc.judge(&person, &view.catalog, &idp).map_err(|why| {
        (
            Who::Refused(person.subject.clone()),
            ApiError::NotInGit(why),
        )
    })?;
    let caller = PersonCaller {
        user,
        subject: person.subject,
        groups: person.groups,
    };
    api.limiter
        .take(&Spender::Peer(peer.ip()), Instant::now())
        .map_err(|retry_after| {
            (
                Who::Person(Box::new(caller.clone())),
                ApiError::RateLimited { retry_after },
            )
        })?;
    Ok(Some(Caller {
        who: ApiPrincipal::Person(caller),
        view,
        idp,
    }))
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let text = value.to_str().map_err(|_| ApiError::NotBearer)?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(ApiError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::NotBearer);
    }
    Ok(token.trim())
}

/// The path as the audit log and the log keep it: cut to a length, and
/// withheld when it looks like it holds a secret (a token pasted into a
/// URL must not reach the log through the path).
fn recorded_path(path: &str) -> String {
    if path.contains(crate::spec::material::api_token::PREFIX)
        || !crate::spec::material::scan(path).is_empty()
    {
        return "[withheld: the path looks like it holds a secret]".to_owned();
    }
    let mut end = path.len().min(MAX_RECORDED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_holding_a_token_is_withheld_and_a_long_one_cut() {
        let token = crate::spec::material::api_token::ApiToken::generate(|b| b.fill(7));
        let path = format!("/v1/pools/{}", token.expose());
        assert!(!recorded_path(&path).contains(token.expose()));
        assert_eq!(recorded_path("/v1/pools/web"), "/v1/pools/web");
        let long = format!("/v1/{}", "é".repeat(300));
        assert!(recorded_path(&long).len() <= MAX_RECORDED_PATH);
    }

    #[test]
    fn allow_names_the_methods_of_the_path_s_endpoints() {
        assert_eq!(allowed_methods("/pools/web/targets"), "GET, POST");
        assert_eq!(allowed_methods("/pools/web/targets/10.0.0.1:80"), "DELETE");
        assert_eq!(allowed_methods("/pools/web/weights"), "PUT");
        assert_eq!(allowed_methods("/pools/web"), "GET");
        assert_eq!(allowed_methods("/pools"), "GET");
        assert_eq!(allowed_methods("/pools//targets"), "");
    }

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), Err(ApiError::MissingToken));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eDp5"),
        );
        assert_eq!(bearer(&headers), Err(ApiError::NotBearer));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Ok("abc"));
    }
}
